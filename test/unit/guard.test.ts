import { describe, expect, it } from 'vitest';
import { MemoryQuotaLimiter } from '../../src/guard/quota.js';
import { SingleFlight } from '../../src/util/single-flight.js';
import { SlidingWindow } from '../../src/guard/sliding-window.js';

describe('SingleFlight', () => {
  it('concurrent calls with one key share one execution; later calls start anew', async () => {
    const flight = new SingleFlight();
    let runs = 0;
    let release: (v: string) => void = () => {};
    const work = () => {
      runs++;
      return new Promise<string>((resolve) => (release = resolve));
    };
    const calls = Promise.all([flight.run('a', work), flight.run('a', work), flight.run('a', work)]);
    release('done');
    const results = await calls;
    expect(runs).toBe(1);
    expect(results.map((r) => [r.value, r.joined])).toEqual([
      ['done', false],
      ['done', true],
      ['done', true],
    ]);
    expect(flight.size).toBe(0);
    const again = flight.run('a', () => Promise.resolve('second'));
    expect((await again).joined).toBe(false);
  });

  it('shares failures too, and other keys run on their own', async () => {
    const flight = new SingleFlight();
    const boom = new Error('boom');
    const failing = () => Promise.reject(boom);
    const [a, b] = await Promise.allSettled([flight.run('x', failing), flight.run('x', failing)]);
    expect(a).toEqual({ status: 'rejected', reason: boom });
    expect(b).toEqual({ status: 'rejected', reason: boom });
    await expect(flight.run('y', () => Promise.resolve(1))).resolves.toEqual({ value: 1, joined: false });
  });

  it('a call that throws at once rejects, as an async one would, and leaves no flight behind', async () => {
    const flight = new SingleFlight();
    const boom = new Error('at once');
    const result = flight.run('z', () => {
      throw boom;
    });
    expect(flight.size).toBe(0);
    await expect(result).rejects.toBe(boom);
    await expect(flight.run('z', () => Promise.resolve(2))).resolves.toEqual({ value: 2, joined: false });
  });
});

describe('MemoryQuotaLimiter', () => {
  it('2 per minute: the third waits until the first ages out', async () => {
    let now = 1_000_000;
    const limiter = new MemoryQuotaLimiter(() => now);
    const rule = [{ key: 'item:1', limit: 2, windowMs: 60_000 }];
    expect(await limiter.take(rule)).toEqual({ allowed: true });
    now += 10_000;
    expect(await limiter.take(rule)).toEqual({ allowed: true });
    now += 5_000;
    expect(await limiter.take(rule)).toEqual({ allowed: false, retryAfterMs: 45_000, key: 'item:1' });
    now += 45_001;
    expect(await limiter.take(rule)).toEqual({ allowed: true });
  });

  it('records nothing unless every rule has room', async () => {
    const now = 0;
    const limiter = new MemoryQuotaLimiter(() => now);
    const item = { key: 'item:1', limit: 5, windowMs: 60_000 };
    const client = { key: 'client', limit: 1, windowMs: 60_000 };
    expect((await limiter.take([item, client])).allowed).toBe(true);
    expect((await limiter.take([item, client])).allowed).toBe(false);
    // The refused call did not use item quota: 4 more fit under the item rule alone.
    for (let i = 0; i < 4; i++) expect((await limiter.take([item])).allowed).toBe(true);
    expect((await limiter.take([item])).allowed).toBe(false);
  });

  it('a 429 from Plaid blocks the key until the given time', async () => {
    let now = 0;
    const limiter = new MemoryQuotaLimiter(() => now);
    await limiter.block('item:1', 60_000);
    expect(await limiter.take([{ key: 'item:1', limit: 2, windowMs: 60_000 }])).toEqual({
      allowed: false,
      retryAfterMs: 60_000,
      key: 'item:1',
    });
    now = 60_001;
    expect((await limiter.take([{ key: 'item:1', limit: 2, windowMs: 60_000 }])).allowed).toBe(true);
  });
});

describe('SlidingWindow', () => {
  it('keeps the calls after now - window, oldest first, across compactions of its array', () => {
    const window = new SlidingWindow();
    for (let t = 1; t <= 5_000; t++) window.push(t);
    // Drops 1..3000 (at or before 5000 - 2000): past the compaction threshold.
    expect(window.prune(5_000, 2_000)).toBe(2_000);
    expect([window.at(0), window.at(1_999), window.at(2_000)]).toEqual([3_001, 5_000, undefined]);
    window.push(5_001);
    expect(window.prune(5_001, 2_000)).toBe(2_000);
    expect(window.at(0)).toBe(3_002);
    expect(window.prune(10_000, 1_000)).toBe(0);
    window.push(10_000);
    expect([window.size, window.at(0)]).toEqual([1, 10_000]);
  });

  it('a limiter with a high per-client limit still counts exactly', async () => {
    let now = 0;
    const limiter = new MemoryQuotaLimiter(() => now);
    const rule = { key: 'client:/x', limit: 3_000, windowMs: 60_000 };
    for (let i = 0; i < 3_000; i++) {
      now = i;
      expect((await limiter.take([rule])).allowed).toBe(true);
    }
    now = 3_000;
    expect(await limiter.take([rule])).toEqual({ allowed: false, retryAfterMs: 57_000, key: 'client:/x' });
    now = 60_000;
    expect((await limiter.take([rule])).allowed).toBe(true);
  });
});
