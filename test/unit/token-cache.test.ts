import { describe, expect, it } from 'vitest';
import { TOKEN_CACHE_ENTRY_OVERHEAD_BYTES, VerifiedTokenCache } from '../../src/auth/token-cache.js';

describe('VerifiedTokenCache', () => {
  const make = (now: { t: number }, maxBytes = 1_048_576) =>
    new VerifiedTokenCache<string>({ maxBytes, maxAgeMs: 60_000, now: () => now.t });
  /** A token-like string of `length` characters, distinct per `n`. */
  const token = (n: number, length: number) => `${n}.`.padEnd(length, 'x');

  it('serves a token until its exp, then forgets it', () => {
    const now = { t: 1_000_000 };
    const cache = make(now);
    cache.set('a', 'viewer-a', now.t + 5_000);
    expect(cache.get('a')).toBe('viewer-a');
    now.t += 4_999;
    expect(cache.get('a')).toBe('viewer-a');
    now.t += 1;
    expect(cache.get('a')).toBeUndefined();
    expect(cache.size).toBe(0);
  });

  it('keeps a token without exp (or a long-lived one) for maxAgeMs only', () => {
    // Not 0: lru-cache takes an entry started at time 0 for one without a TTL.
    const now = { t: 1_000_000 };
    const cache = make(now);
    cache.set('no-exp', 'v1', undefined);
    cache.set('long', 'v2', now.t + 10 * 60_000);
    now.t += 59_999;
    expect([cache.get('no-exp'), cache.get('long')]).toEqual(['v1', 'v2']);
    now.t += 1;
    expect([cache.get('no-exp'), cache.get('long')]).toEqual([undefined, undefined]);
  });

  it('does not keep a token that is already expired', () => {
    const now = { t: 10_000 };
    const cache = make(now);
    cache.set('old', 'v', 10_000);
    expect(cache.get('old')).toBeUndefined();
    expect(cache.size).toBe(0);
  });

  it('is bounded by bytes: 10,000 tokens of 14 KB stay within maxBytes', () => {
    const now = { t: 1_000_000 };
    const maxBytes = 16 * 1_048_576;
    const cache = make(now, maxBytes);
    const length = 14 * 1_024;
    for (let n = 0; n < 10_000; n += 1) cache.set(token(n, length), `viewer-${n}`, now.t + 50_000);
    expect(cache.bytes).toBeLessThanOrEqual(maxBytes);
    // As many as fit, and the newest are the ones kept.
    const fit = Math.floor(maxBytes / (length + TOKEN_CACHE_ENTRY_OVERHEAD_BYTES));
    expect(cache.size).toBe(fit);
    expect(cache.get(token(9_999, length))).toBe('viewer-9999');
    expect(cache.get(token(0, length))).toBeUndefined();
  });

  it('counts each entry as its token length plus a fixed overhead, so small tokens are bounded too', () => {
    const now = { t: 1_000_000 };
    const cache = make(now, 10 * (100 + TOKEN_CACHE_ENTRY_OVERHEAD_BYTES));
    for (let n = 0; n < 50; n += 1) cache.set(token(n, 100), 'v', now.t + 50_000);
    expect(cache.size).toBe(10);
    expect(cache.bytes).toBe(10 * (100 + TOKEN_CACHE_ENTRY_OVERHEAD_BYTES));
  });

  it('drops the least recently used first: a token in use stays', () => {
    const now = { t: 1_000_000 };
    const cache = make(now, 2 * (1 + TOKEN_CACHE_ENTRY_OVERHEAD_BYTES));
    cache.set('a', 'A', now.t + 50_000);
    cache.set('b', 'B', now.t + 50_000);
    expect(cache.get('a')).toBe('A');
    cache.set('c', 'C', now.t + 50_000);
    expect([cache.get('a'), cache.get('b'), cache.get('c'), cache.size]).toEqual(['A', undefined, 'C', 2]);
  });
});
