/** The bounded wait behind shutdown and readiness. */
import { describe, expect, it } from 'vitest';
import { settlesWithin } from '../../src/util/settles-within.js';

const after = <T>(ms: number, value: T) => new Promise<T>((resolve) => setTimeout(() => resolve(value), ms));

describe('settlesWithin', () => {
  it('is true when the promise fulfils in time', async () => {
    expect(await settlesWithin(after(5, 'x'), 1_000)).toBe(true);
  });

  it('is false when the time runs out first', async () => {
    expect(await settlesWithin(after(1_000, 'x'), 20)).toBe(false);
  });

  it('passes on a rejection that comes in time', async () => {
    await expect(settlesWithin(Promise.reject(new Error('down')), 1_000)).rejects.toThrow('down');
  });
});
