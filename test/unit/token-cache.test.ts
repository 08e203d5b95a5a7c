import { describe, expect, it } from 'vitest';
import { VerifiedTokenCache } from '../../src/auth/token-cache.js';

describe('VerifiedTokenCache', () => {
  const make = (now: { t: number }, maxEntries = 3) => new VerifiedTokenCache<string>({ maxEntries, maxAgeMs: 60_000, now: () => now.t });

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
    const now = { t: 0 };
    const cache = make(now);
    cache.set('no-exp', 'v1', undefined);
    cache.set('long', 'v2', 10 * 60_000);
    now.t = 59_999;
    expect([cache.get('no-exp'), cache.get('long')]).toEqual(['v1', 'v2']);
    now.t = 60_000;
    expect([cache.get('no-exp'), cache.get('long')]).toEqual([undefined, undefined]);
  });

  it('does not keep a token that is already expired', () => {
    const now = { t: 10_000 };
    const cache = make(now);
    cache.set('old', 'v', 10_000);
    expect(cache.get('old')).toBeUndefined();
    expect(cache.size).toBe(0);
  });

  it('holds at most maxEntries, dropping the oldest', () => {
    const now = { t: 0 };
    const cache = make(now, 2);
    cache.set('a', 'A', 50_000);
    cache.set('b', 'B', 50_000);
    cache.set('c', 'C', 50_000);
    expect([cache.get('a'), cache.get('b'), cache.get('c'), cache.size]).toEqual([undefined, 'B', 'C', 2]);
  });
});
