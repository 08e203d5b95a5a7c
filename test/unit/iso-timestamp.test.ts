import { describe, expect, it } from 'vitest';
import { isoTimestamp } from '../../src/util/iso-timestamp.js';

/** What isoTimestamp must equal: toISOString's string, or the error it throws. */
function expected(value: unknown): { ok: string } | { throws: string } {
  try {
    return { ok: (value as Date).toISOString() };
  } catch (error) {
    return { throws: `${(error as Error).name}: ${(error as Error).message}` };
  }
}

function actual(value: unknown): { ok: string } | { throws: string } {
  try {
    return { ok: isoTimestamp(value as Date) };
  } catch (error) {
    return { throws: `${(error as Error).name}: ${(error as Error).message}` };
  }
}

describe('isoTimestamp', () => {
  it('answers as toISOString at the edges of its range, the leap days and the epoch', () => {
    const times = [
      0,
      -1,
      1,
      999,
      -999,
      86_399_999,
      86_400_000,
      -62_167_219_200_000,
      -62_167_219_200_001,
      -62_167_219_199_999, // 0000-01-01, the last millisecond before, the first after
      253_402_300_799_999,
      253_402_300_800_000, // 9999-12-31T23:59:59.999Z and the first millisecond of 10000
      Date.UTC(2000, 1, 29),
      Date.UTC(1900, 1, 28, 23, 59, 59, 999),
      Date.UTC(2100, 2, 1),
      Date.UTC(2024, 1, 29, 12, 30, 5, 7),
      -30_610_224_000_000, // 1000-01-01
      -30_610_224_000_001, // 0999-12-31T23:59:59.999Z
      8.64e15,
      -8.64e15, // the ends of the Date range (years ±275760)
    ];
    for (const time of times) expect(actual(new Date(time)), String(time)).toEqual(expected(new Date(time)));
  });

  it('answers as toISOString for a million random times of years 0000–9999 and of this century', () => {
    // A fixed linear congruential sequence: the same times every run, spread over the range.
    let seed = 16;
    const next = () => (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31;
    for (let i = 0; i < 1_000_000; i++) {
      const time =
        i % 2 === 0
          ? Math.floor(-62_167_219_200_000 + next() * (253_402_300_799_999 + 62_167_219_200_000))
          : Math.floor(946_684_800_000 + next() * 3_155_760_000_000);
      const date = new Date(time);
      const got = isoTimestamp(date);
      if (got !== date.toISOString()) expect(got, String(time)).toBe(date.toISOString());
    }
  });

  it('throws what toISOString throws for an invalid date and a value that is not a Date', () => {
    for (const value of [
      new Date(Number.NaN),
      new Date('not a date'),
      '2026-12-02T17:00:00.000Z',
      1_700_000_000_000,
      null,
      undefined,
      {},
    ]) {
      const want = expected(value);
      expect('throws' in want).toBe(true);
      expect(actual(value)).toEqual(want);
    }
  });

  it('uses the toISOString of a non-Date value and of a Date subclass, as the scalar did', () => {
    expect(isoTimestamp({ toISOString: () => 'stamped' } as unknown as Date)).toBe('stamped');
    class Stamp extends Date {
      override toISOString(): string {
        return 'subclass';
      }
    }
    expect(isoTimestamp(new Stamp(0))).toBe('subclass');
  });
});
