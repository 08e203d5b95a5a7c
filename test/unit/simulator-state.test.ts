import { describe, expect, it } from 'vitest';
import { SimulatorState } from '../../src/simulator/state.js';

describe('SimulatorState request log', () => {
  it('keeps the newest calls, trimmed in steps: at least 50 000, never more than 55 000', () => {
    const state = new SimulatorState(() => 0);
    const entry = (i: number) => ({
      path: '/x',
      status: 200,
      requestId: `r${i}`,
      itemId: null,
      userId: null,
      errorCode: null,
      fault: null,
    });
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
    for (let i = 0; i < 1_000; i++)
      expect(
        state.takeFromWindows([
          ['client:/x', Number.POSITIVE_INFINITY],
          ['item:a', 1_000],
        ]),
      ).toBe(true);
    expect(
      state.takeFromWindows([
        ['client:/x', Number.POSITIVE_INFINITY],
        ['item:a', 1_000],
      ]),
    ).toBe('item:a');
  });
});

describe('SimulatorState ids', () => {
  const item = (institutionId: string, userId: string | null = null) => ({
    institutionId,
    products: new Set(['transactions', 'identity']),
    username: 'user_good',
    userId,
    loginRequired: false,
  });
  const link = (state: SimulatorState, recipe: ReturnType<typeof item>) => {
    const linked = state.exchangePublicToken(state.createPublicToken(recipe));
    if (!linked) throw new Error('exchange failed');
    return linked;
  };

  it('with a seed: the same links get the same Plaid-shaped ids in every run; relinking gets new ones', () => {
    const runs = [1, 2].map(() => {
      const state = new SimulatorState(Date.now, { seed: 'seed-a' });
      const user = state.createUser('demo');
      const first = link(state, item('ins_109508', user.userId));
      const second = link(state, item('ins_109509'));
      const again = link(state, item('ins_109508', user.userId));
      return { userId: user.userId, ids: [first, second, again].map((i) => [i.itemId, i.accessToken]) };
    });
    expect(runs[1]).toEqual(runs[0]);
    const [run] = runs;
    expect(run?.userId).toMatch(/^usr_[0-9A-Za-z]{14}$/);
    for (const [itemId, accessToken] of run?.ids ?? []) {
      expect(itemId).toMatch(/^[0-9A-Za-z]{37}$/);
      expect(accessToken).toMatch(/^access-sandbox-[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    }
    expect(new Set(run?.ids.flat()).size).toBe(6);

    const other = new SimulatorState(Date.now, { seed: 'seed-b' });
    expect(link(other, item('ins_109509')).itemId).not.toBe(run?.ids[1]?.[0]);
  });

  it('after stopSeeding: random ids again', () => {
    const [a, b] = [new SimulatorState(Date.now, { seed: 'seed-a' }), new SimulatorState(Date.now, { seed: 'seed-a' })];
    expect(link(a, item('ins_109508')).itemId).toBe(link(b, item('ins_109508')).itemId);
    a.stopSeeding();
    b.stopSeeding();
    expect(link(a, item('ins_109508')).itemId).not.toBe(link(b, item('ins_109508')).itemId);
    expect(a.createUser('later').userId).not.toBe(b.createUser('later').userId);
  });

  it('without a seed (the default): random ids, as Plaid mints them', () => {
    const [a, b] = [new SimulatorState(), new SimulatorState()];
    expect(link(a, item('ins_109508')).itemId).not.toBe(link(b, item('ins_109508')).itemId);
    expect(a.createUser('demo').userId).not.toBe(b.createUser('demo').userId);
  });
});
