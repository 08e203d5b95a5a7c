import { describe, expect, it } from 'vitest';
import { SimulatorState } from '../../src/simulator/state.js';

describe('SimulatorState request log', () => {
  it('keeps the newest calls, trimmed in steps: at least 50 000, never more than 55 000', () => {
    const state = new SimulatorState(() => 0);
    const entry = (i: number) => ({ path: '/x', status: 200, requestId: `r${i}`, itemId: null, userId: null, errorCode: null, fault: null });
    for (let i = 1; i <= 60_000; i++) {
      state.record(entry(i));
      if (i % 500 === 0 && state.requests().length > 55_000) throw new Error(`log grew past 55 000 at call ${i}`);
    }
    const log = state.requests();
    expect(log.length).toBeGreaterThanOrEqual(50_000);
    expect(log.at(-1)?.requestId).toBe('r60000');
    expect(log.at(0)?.seq).toBe(60_000 - log.length + 1);
  });

  it('a rule without a limit keeps no window and always admits', () => {
    const state = new SimulatorState(() => 0);
    for (let i = 0; i < 1_000; i++) expect(state.takeFromWindows([['client:/x', Number.POSITIVE_INFINITY], ['item:a', 1_000]])).toBe(true);
    expect(state.takeFromWindows([['client:/x', Number.POSITIVE_INFINITY], ['item:a', 1_000]])).toBe('item:a');
  });
});
