import { describe, expect, it } from 'vitest';
import { GroupBatcher } from '../../src/vault/group-batcher.js';

describe('GroupBatcher', () => {
  it('groups the calls of one turn, then those made while that batch runs', async () => {
    const batches: number[][] = [];
    let release: () => void = () => {};
    let started: () => void = () => {};
    const firstStarted = new Promise<void>((resolve) => (started = resolve));
    const batcher = new GroupBatcher<number, number>(async (inputs) => {
      batches.push([...inputs]);
      if (batches.length === 1) {
        started();
        await new Promise<void>((resolve) => (release = resolve));
      }
      return inputs.map((n) => n * 10);
    });
    const turn = [batcher.call(1), batcher.call(2)];
    expect(batches).toEqual([]);
    await firstStarted;
    const during = [batcher.call(3), batcher.call(4), batcher.call(5)];
    release();
    expect(await Promise.all([...turn, ...during])).toEqual([10, 20, 30, 40, 50]);
    expect(batches).toEqual([
      [1, 2],
      [3, 4, 5],
    ]);
  });

  it('resumes a large batch a slice at a time, so its callers do not all run in one turn', async () => {
    const batcher = new GroupBatcher<number, number>((inputs) => Promise.resolve(inputs.map((n) => n + 1)));
    const resolved: number[] = [];
    const calls = Array.from({ length: 100 }, (_, n) => batcher.call(n).then((out) => resolved.push(out)));
    await calls[0];
    // The first slice is out; the rest wait for later turns of the event loop.
    expect(resolved.length).toBeGreaterThan(0);
    expect(resolved.length).toBeLessThan(100);
    await Promise.all(calls);
    expect(resolved).toEqual(Array.from({ length: 100 }, (_, n) => n + 1));
  });

  it('a lone call runs on its own, without waiting for company', async () => {
    const batches: number[][] = [];
    const batcher = new GroupBatcher<number, number>((inputs) => {
      batches.push([...inputs]);
      return Promise.resolve(inputs);
    });
    expect(await batcher.call(7)).toBe(7);
    expect(await batcher.call(8)).toBe(8);
    expect(batches).toEqual([[7], [8]]);
  });

  it('a failing batch rejects every call in it; the next batch runs', async () => {
    let calls = 0;
    const batcher = new GroupBatcher<string, string>(async (inputs) => {
      calls++;
      await Promise.resolve();
      if (calls === 1) throw new Error('database down');
      return inputs.map((s) => s.toUpperCase());
    });
    const failed = [batcher.call('a'), batcher.call('b')];
    await expect(Promise.allSettled(failed)).resolves.toEqual([
      { status: 'rejected', reason: new Error('database down') },
      { status: 'rejected', reason: new Error('database down') },
    ]);
    await expect(batcher.call('c')).resolves.toBe('C');
  });

  it('splits a long queue into batches of at most maxBatch', async () => {
    const sizes: number[] = [];
    const batcher = new GroupBatcher<number, number>(
      async (inputs) => {
        sizes.push(inputs.length);
        await Promise.resolve();
        return inputs;
      },
      { maxBatch: 3 },
    );
    await Promise.all(Array.from({ length: 8 }, (_, i) => batcher.call(i)));
    expect(sizes).toEqual([3, 3, 2]);
  });

  it('a failed batch is re-run one input at a time when told: one bad input fails only its own call', async () => {
    const runs: string[][] = [];
    const batcher = new GroupBatcher<string, string>(
      (inputs) => {
        runs.push([...inputs]);
        if (inputs.includes('bad\u0000')) return Promise.reject(new Error('invalid byte sequence'));
        return Promise.resolve(inputs.map((s) => s.toUpperCase()));
      },
      { retrySingly: (error) => error instanceof Error && error.message.startsWith('invalid') },
    );
    const results = await Promise.allSettled(['a', 'bad\u0000', 'b'].map((s) => batcher.call(s)));
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(runs[0]).toEqual(['a', 'bad\u0000', 'b']);
    expect(runs).toHaveLength(4);
  });

  it('an outage fails the whole batch at once (no re-run per input)', async () => {
    let runs = 0;
    const batcher = new GroupBatcher<number, number>(
      () => {
        runs++;
        return Promise.reject(new Error('down'));
      },
      { retrySingly: () => false },
    );
    const results = await Promise.allSettled([1, 2, 3].map((n) => batcher.call(n)));
    expect(results.every((r) => r.status === 'rejected')).toBe(true);
    expect(runs).toBe(1);
  });
});
