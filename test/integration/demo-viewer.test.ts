/**
 * Embedded mode's demo viewer is the same on every start: the same Item ids and Plaid user (a
 * GraphiQL tab or a script that names a demo Item keeps working after a restart), while Items
 * linked later get new ids as at Plaid; the banner lists each demo Item with its institution and
 * what a refresh answers.
 */
import { describe, expect, it } from 'vitest';
import { describeDemoItems } from '../../src/demo/seed.js';
import { callerFor } from '../../src/services/caller.js';
import type { Runtime } from '../../src/runtime.js';
import { FIXTURE_ITEMS } from '../../src/simulator/fixtures.js';
import { INSTITUTIONS } from '../../src/simulator/institutions.js';
import { startTestService } from '../helpers/service.js';

async function demoOf(runtime: Runtime) {
  try {
    if (!runtime.demo) throw new Error('embedded mode has a demo viewer');
    const ids = Object.fromEntries(Object.entries(runtime.demo.fixtures.items).map(([key, item]) => [key, item.itemId]));
    const stored = (await runtime.vault.listItems('demo')).map((item) => item.id).sort();
    // An Item linked later is Plaid-like: a new id every time (a persistent vault may hold the old one for someone else).
    const { publicToken } = await runtime.plaid.createSandboxPublicToken({
      institutionId: 'ins_109508',
      initialProducts: ['transactions'],
    });
    const later = (await runtime.services.link.linkItem(callerFor('alice'), publicToken)).id;
    return { ids, userId: runtime.demo.fixtures.userId, stored, later, fixtures: runtime.demo.fixtures };
  } finally {
    await runtime.close();
  }
}

describe('the demo viewer', () => {
  it('gets the same Items, ids and Plaid user on every start, and the banner lists them', async () => {
    const first = await demoOf((await startTestService()).runtime);
    const second = await demoOf((await startTestService()).runtime);
    expect(second.ids).toEqual(first.ids);
    expect(second.userId).toBe(first.userId);
    expect(second.later).not.toBe(first.later);
    expect(first.stored).toEqual(Object.values(first.ids).sort());
    expect(new Set(Object.values(first.ids)).size).toBe(FIXTURE_ITEMS.length);

    const lines = describeDemoItems(first.fixtures);
    for (const fixture of FIXTURE_ITEMS) {
      const line = lines.find((l) => l.includes(first.fixtures.items[fixture.key].itemId));
      expect(line, fixture.key).toContain(INSTITUTIONS.get(fixture.institutionId)?.name);
      expect(line, fixture.key).toContain(fixture.answers);
      expect(line?.length, fixture.key).toBeLessThanOrEqual(150);
    }
  });
});
