/**
 * The read path of `viewer { items }`: the Items and their latest refreshes come from ONE vault
 * query (issue #16), and answer the same as the per-field DataLoaders do (what `_entities` uses).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Runtime } from '../../src/runtime.js';
import { callerFor } from '../../src/services/caller.js';
import { startTestService, tokenFor } from '../helpers/service.js';

let runtime: Runtime;
let readerToken: string;
let otherToken: string;
const readerItems: string[] = [];

async function gql(query: string, token: string, variables: Record<string, unknown> = {}) {
  const response = await runtime.app.fetch('http://localhost/graphql', {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query, variables }),
  });
  return (await response.json()) as { data?: Record<string, unknown>; errors?: { message: string }[] };
}

async function link(viewerId: string): Promise<string> {
  const { publicToken } = await runtime.plaid.createSandboxPublicToken({
    institutionId: 'ins_109508',
    initialProducts: ['transactions', 'identity'],
  });
  return (await runtime.services.link.linkItem(callerFor(viewerId), publicToken)).id;
}

const REFRESH_IDENTITY = /* GraphQL */ `
  mutation ($itemId: ID!) {
    refreshIdentity(itemId: $itemId) {
      __typename
    }
  }
`;

const REFRESH_FIELDS = /* GraphQL */ `
  id
  institutionName
  latestRefreshes {
    id
    product
    status
    requestedAt
  }
  identity: latestRefresh(product: IDENTITY) {
    id
  }
  lastRefreshes {
    product
    requestId
    refreshedAt
  }
`;

/** Counts the vault statements of one request. */
async function counted(query: string, token: string, variables: Record<string, unknown> = {}) {
  const before = runtime.metrics.vaultStatements();
  const answer = await gql(query, token, variables);
  return { ...answer, queries: runtime.metrics.vaultStatements() - before };
}

beforeAll(async () => {
  ({ runtime } = await startTestService());
  readerToken = await tokenFor('reader');
  otherToken = await tokenFor('reader-other');
  for (let i = 0; i < 4; i++) readerItems.push(await link('reader'));
  // Three of the four refreshed, the first twice (its latest is the second); one never.
  for (const itemId of [readerItems[0], readerItems[0], readerItems[1], readerItems[2]]) {
    const { data } = await gql(REFRESH_IDENTITY, readerToken, { itemId });
    expect(data?.refreshIdentity).toEqual({ __typename: 'RefreshIdentitySuccess' });
  }
  // Another viewer's Item with a refresh of its own, which the reader must never see.
  const foreign = await link('reader-other');
  expect((await gql(REFRESH_IDENTITY, otherToken, { itemId: foreign })).data?.refreshIdentity).toEqual({
    __typename: 'RefreshIdentitySuccess',
  });
}, 60_000);
afterAll(() => runtime.close());

describe('viewer { items } with their latest refreshes', () => {
  it('is ONE vault query, and answers as the per-Item loaders do', async () => {
    const { data, errors, queries } = await counted(`{ viewer { items { ${REFRESH_FIELDS} } } }`, readerToken);
    expect(errors).toBeUndefined();
    expect(queries).toBe(1);
    const items = (data?.viewer as { items: { id: string; latestRefreshes: { id: string }[] }[] }).items;
    expect(items.map((item) => item.id)).toEqual(readerItems);
    expect(items.map((item) => item.latestRefreshes.length)).toEqual([1, 1, 1, 0]);

    // The same Items through _entities, whose fields go through the DataLoaders: the Items, the latest
    // refreshes and the last refreshes, a query each.
    const representations = readerItems.map((id) => ({ __typename: 'PlaidItem', id }));
    const viaLoaders = await counted(
      `query ($representations: [_Any!]!) { _entities(representations: $representations) { ... on PlaidItem { ${REFRESH_FIELDS} } } }`,
      readerToken,
      { representations },
    );
    expect(viaLoaders.queries).toBe(3);
    expect(viaLoaders.data?._entities).toEqual(items);
  });

  it('is the latest refresh of each product: the second refresh of the first Item, not the first', async () => {
    const { data } = await gql(`{ viewer { items { id latestRefreshes { id requestedAt } } } }`, readerToken);
    const [first] = (data?.viewer as { items: { latestRefreshes: { id: string; requestedAt: string }[] }[] }).items;
    const runs = await runtime.vault.refreshLog.latest([readerItems[0] ?? '']);
    expect(first?.latestRefreshes.map((run) => run.id)).toEqual(runs.map((run) => run.id));
  });

  it('is ONE vault query through a named fragment too, and without refresh fields', async () => {
    const viaFragment = await counted(
      `{ viewer { items { ...withRefresh } } } fragment withRefresh on PlaidItem { id latestRefreshes { id } }`,
      readerToken,
    );
    expect(viaFragment.errors).toBeUndefined();
    expect(viaFragment.queries).toBe(1);
    const plain = await counted('{ viewer { items { id institutionName } } }', readerToken);
    expect(plain.queries).toBe(1);
  });

  it("shows only the caller's Items and refreshes", async () => {
    const { data } = await gql(`{ viewer { items { id latestRefreshes { id } } } }`, otherToken);
    const items = (data?.viewer as { items: { id: string; latestRefreshes: { id: string }[] }[] }).items;
    expect(items).toHaveLength(1);
    expect(readerItems).not.toContain(items[0]?.id);
    expect(items[0]?.latestRefreshes).toHaveLength(1);
  });
});
