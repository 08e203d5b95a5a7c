/**
 * The GraphQL API end to end in process: typed operations (codegen) through yoga.fetch, the real
 * services and vault, and the Plaid simulator over HTTP.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  CreateLinkTokenDocument,
  LinkItemDocument,
  UnlinkItemDocument,
  RefreshCashflowReportDocument,
  RefreshIdentityDocument,
  RefreshTransactionsDocument,
  RefreshUserFinancialDataDocument,
  ViewerDocument,
} from '../../operations/generated/graphql.js';
import type { Runtime } from '../../src/runtime.js';
import type { FixtureKey } from '../../src/simulator/fixtures.js';
import { completeLink, injectFault } from '../helpers/simulator.js';
import { execute, startTestService, tokenFor, type GraphQLResponse, type LogLine } from '../helpers/service.js';

let runtime: Runtime;
let logs: LogLine[];
let demoToken: string;
const seen: string[] = [];

beforeAll(async () => {
  ({ runtime, logs } = await startTestService({ PLAID_TIMEOUT_MS: '1000' }));
  demoToken = await tokenFor('demo');
});
afterAll(() => runtime.close());
beforeEach(() => runtime.simulator?.state.reset());

const sim = () => {
  if (!runtime.simulator) throw new Error('embedded mode expected');
  return runtime.simulator;
};
const item = (key: FixtureKey) => {
  if (!runtime.demo) throw new Error('demo expected');
  return runtime.demo.fixtures.items[key];
};
const plaidCalls = (path?: string) => sim().state.requests(path ? { path } : {}).length;

/** Every response body is kept, to prove afterwards that no access token ever reached a client. */
async function run<TData, TVars>(...args: Parameters<typeof execute<TData, TVars>>): Promise<GraphQLResponse<TData>> {
  const response = await execute(...args);
  seen.push(response.text);
  return response;
}

describe('who is calling', () => {
  it('lists the demo viewer and its Items', async () => {
    const { data } = await run(runtime, ViewerDocument, {}, demoToken);
    expect(data?.viewer.id).toBe('demo');
    expect(data?.viewer.hasPlaidUser).toBe(true);
    expect(data?.viewer.items.map((i) => i.institutionName)).toContain('First Platypus Bank');
    expect(data?.viewer.items).toHaveLength(8);
  });

  it.each([
    ['no token', null],
    ['a forged token', 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJkZW1vIn0.c2lnbmF0dXJlLWZvcmdlZA'],
    ['garbage', 'not-a-jwt'],
  ])('%s: UNAUTHENTICATED and no call to Plaid', async (_label, token) => {
    const response = await run(runtime, RefreshTransactionsDocument, { itemId: item('healthy').itemId }, token);
    expect(response.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    expect(response.data?.refreshTransactions ?? null).toBeNull();
    expect(plaidCalls()).toBe(0);
  });

  it('an expired token says so', async () => {
    const expired = await tokenFor('demo', { expiresIn: '-1m' });
    const response = await run(runtime, ViewerDocument, {}, expired);
    expect(response.errors?.[0]).toMatchObject({ message: 'the token has expired', extensions: { code: 'UNAUTHENTICATED' } });
  });

  it("another viewer's Item answers exactly like an unknown one, and nothing reaches Plaid", async () => {
    const mallory = await tokenFor('mallory');
    const theirs = await run(runtime, RefreshIdentityDocument, { itemId: item('healthy').itemId }, mallory);
    const unknown = await run(runtime, RefreshIdentityDocument, { itemId: 'no-such-item' }, mallory);
    expect(theirs.data?.refreshIdentity).toMatchObject({ __typename: 'ItemNotFoundError', nextAction: 'FIX_REQUEST' });
    const strip = (r: typeof theirs) => JSON.stringify(r.data).replace(/"itemId":"[^"]*"/, '');
    expect(strip(theirs)).toBe(strip(unknown));
    expect(plaidCalls()).toBe(0);
  });
});

describe('the four mutations', () => {
  it('refreshTransactions succeeds with requestId, item and time', async () => {
    const { data } = await run(runtime, RefreshTransactionsDocument, { itemId: item('healthy').itemId }, demoToken);
    const result = data?.refreshTransactions;
    if (result?.__typename !== 'RefreshTransactionsSuccess') throw new Error(`unexpected ${result?.__typename}`);
    expect(result.requestId).toBe(sim().state.requests({ path: '/transactions/refresh' })[0]?.requestId);
    expect(result.item).toMatchObject({ id: item('healthy').itemId, institutionName: 'First Platypus Bank' });
    expect(Date.parse(result.requestedAt)).toBeGreaterThan(Date.now() - 60_000);
  });

  it('PlaidItem.lastRefreshes says when each product was refreshed and by which Plaid request', async () => {
    const { data } = await run(runtime, RefreshIdentityDocument, { itemId: item('transactionsOnly').itemId }, demoToken);
    void data;
    const cashflow = await run(runtime, RefreshCashflowReportDocument, { itemId: item('transactionsOnly').itemId, days: 30 }, demoToken);
    const requestId =
      cashflow.data?.refreshCashflowReport && 'requestId' in cashflow.data.refreshCashflowReport
        ? cashflow.data.refreshCashflowReport.requestId
        : null;
    const response = await runtime.app.fetch('http://localhost/graphql', {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${demoToken}` },
      body: JSON.stringify({ query: '{ viewer { items { id lastRefreshes { product requestId refreshedAt } } } }' }),
    });
    const body = (await response.json()) as {
      data: { viewer: { items: { id: string; lastRefreshes: { product: string; requestId: string }[] }[] } };
    };
    const refreshed = body.data.viewer.items.find((i) => i.id === item('transactionsOnly').itemId);
    expect(refreshed?.lastRefreshes).toEqual([expect.objectContaining({ product: 'cashflow_report', requestId })]);
  });

  it('refreshIdentity succeeds', async () => {
    const { data } = await run(runtime, RefreshIdentityDocument, { itemId: item('capitalOneCredit').itemId }, demoToken);
    expect(data?.refreshIdentity?.__typename).toBe('RefreshIdentitySuccess');
  });

  it.each([
    [undefined, 'RefreshCashflowReportSuccess', 365],
    [1, 'RefreshCashflowReportSuccess', 1],
    [365, 'RefreshCashflowReportSuccess', 365],
    [730, 'RefreshCashflowReportSuccess', 730],
  ])('refreshCashflowReport days=%s -> %s (%i days)', async (days, typename, expected) => {
    const variables = days === undefined ? { itemId: item('healthy').itemId } : { itemId: item('healthy').itemId, days };
    const { data } = await run(runtime, RefreshCashflowReportDocument, variables, demoToken);
    expect(data?.refreshCashflowReport).toMatchObject({ __typename: typename, daysRequested: expected });
    expect(plaidCalls('/cashflow_report/refresh')).toBe(1);
  });

  it.each([0, 731, -1])('refreshCashflowReport days=%i -> InputValidationError, and no call reaches Plaid', async (days) => {
    const { data } = await run(runtime, RefreshCashflowReportDocument, { itemId: item('healthy').itemId, days }, demoToken);
    expect(data?.refreshCashflowReport).toMatchObject({ __typename: 'InputValidationError', field: 'days', nextAction: 'FIX_REQUEST' });
    expect(plaidCalls()).toBe(0);
  });

  it('a refresh costs two vault queries: the Item with its token, and the accepted refresh', async () => {
    const before = runtime.metrics.vaultStatements();
    const { data } = await run(runtime, RefreshIdentityDocument, { itemId: item('healthy').itemId }, demoToken);
    expect(data?.refreshIdentity).toMatchObject({
      __typename: 'RefreshIdentitySuccess',
      item: { id: item('healthy').itemId, institutionName: 'First Platypus Bank' },
    });
    expect(runtime.metrics.vaultStatements() - before).toBe(2);
  });

  it('refreshUserFinancialData: mixed results, every entry item from ONE batched vault query', async () => {
    const before = runtime.metrics.vaultStatements();
    const { data } = await run(runtime, RefreshUserFinancialDataDocument, {}, demoToken);
    const queries = runtime.metrics.vaultStatements() - before;
    const result = data?.refreshUserFinancialData;
    if (result?.__typename !== 'RefreshUserFinancialDataSuccess') throw new Error(`unexpected ${result?.__typename}`);
    const byItem = new Map(result.results.map((r) => [r.itemId, r]));
    expect(byItem.size).toBe(3);
    expect(byItem.get(item('healthy').itemId)?.error).toBeNull();
    expect(byItem.get(item('oauthLoginRequired').itemId)?.error).toMatchObject({
      __typename: 'PlaidItemError',
      errorCode: 'ITEM_LOGIN_REQUIRED',
      errorCodeReason: 'OAUTH_INVALID_TOKEN',
      nextAction: 'UPDATE_LOGIN_WITH_LINK',
    });
    expect(byItem.get(item('institutionDown').itemId)?.error).toMatchObject({
      __typename: 'PlaidInstitutionError',
      nextAction: 'RETRY_LATER',
    });
    expect(result.results.every((r) => r.item?.id === r.itemId)).toBe(true);
    // The service: the viewer's Plaid user id, which result Items are ours, the one success recorded,
    // the three Items' health (one statement). The GraphQL layer: ONE batched look-up for every
    // entry's item, however many entries.
    expect(queries).toBe(5);
  });

  it('a viewer without a Plaid user gets NoPlaidUserError: link an Item (createLinkToken) to get one', async () => {
    const { data } = await run(runtime, RefreshUserFinancialDataDocument, {}, await tokenFor('newcomer'));
    expect(data?.refreshUserFinancialData).toMatchObject({ __typename: 'NoPlaidUserError', nextAction: 'RELINK_ITEM' });
    expect(plaidCalls()).toBe(0);
  });
});

describe("one viewer's bad input never fails another viewer's requests", () => {
  it('a NUL byte in an itemId is an InputValidationError for its sender; 20 refreshes of another viewer sent with it all succeed', async () => {
    const mallory = await tokenFor('mallory');
    const answers = await Promise.all([
      ...Array.from({ length: 20 }, () => run(runtime, RefreshIdentityDocument, { itemId: item('healthy').itemId }, demoToken)),
      run(runtime, RefreshIdentityDocument, { itemId: 'item\u0000x' }, mallory),
    ]);
    expect(answers.slice(0, 20).map((a) => a.data?.refreshIdentity?.__typename)).toEqual(
      Array.from({ length: 20 }, () => 'RefreshIdentitySuccess'),
    );
    expect(answers[20]?.data?.refreshIdentity).toMatchObject({ __typename: 'InputValidationError', nextAction: 'FIX_REQUEST' });
    expect(answers.flatMap((a) => a.errors ?? [])).toEqual([]);
  });
});

describe('every error member the simulator can produce', () => {
  it.each([
    ['oauthLoginRequired', 'PlaidItemError', 'ITEM_LOGIN_REQUIRED', 'UPDATE_LOGIN_WITH_LINK', null],
    ['institutionDown', 'PlaidInstitutionError', 'INSTITUTION_DOWN', 'RETRY_LATER', null],
    ['internalError', 'PlaidApiError', 'INTERNAL_SERVER_ERROR', 'RETRY_LATER', null],
    ['invalidProduct', 'PlaidInvalidInputError', 'INVALID_PRODUCT', 'CONTACT_SUPPORT', null],
    ['refreshLimit', 'PlaidRateLimitExceededError', 'TRANSACTIONS_REFRESH_LIMIT', 'RETRY_LATER', 60],
  ] as const)('%s -> %s %s (%s)', async (key, typename, code, nextAction, retryAfterSeconds) => {
    // Transactions, the endpoint with Plaid's 2-per-Item limit: whatever the client re-sends must
    // still leave the caller with the error Plaid gave, not TRANSACTIONS_REFRESH_LIMIT of its own making.
    const { data } = await run(runtime, RefreshTransactionsDocument, { itemId: item(key).itemId }, demoToken);
    expect(data?.refreshTransactions).toMatchObject({ __typename: typename, errorCode: code, nextAction, retryAfterSeconds });
    const result = data?.refreshTransactions;
    if (result && 'plaidRequestId' in result) expect(result.plaidRequestId).toMatch(/^\w{15}$/);
  });

  it('transactions at Capital One (credit cards only) -> PlaidItemError PRODUCTS_NOT_SUPPORTED', async () => {
    const { data } = await run(runtime, RefreshTransactionsDocument, { itemId: item('capitalOneCredit').itemId }, demoToken);
    expect(data?.refreshTransactions).toMatchObject({
      __typename: 'PlaidItemError',
      errorCode: 'PRODUCTS_NOT_SUPPORTED',
      nextAction: 'NOT_SUPPORTED',
    });
  });

  it('identity on a transactions-only Item -> PlaidItemError PRODUCT_NOT_ENABLED', async () => {
    const { data } = await run(runtime, RefreshIdentityDocument, { itemId: item('transactionsOnly').itemId }, demoToken);
    expect(data?.refreshIdentity).toMatchObject({ __typename: 'PlaidItemError', errorCode: 'PRODUCT_NOT_ENABLED' });
  });

  it('the third refreshTransactions of an Item in a minute is throttled before Plaid, with retryAfterSeconds', async () => {
    const answers = [];
    for (let i = 0; i < 3; i++) {
      const { data } = await run(runtime, RefreshTransactionsDocument, { itemId: item('transactionsOnly').itemId }, demoToken);
      answers.push(data?.refreshTransactions);
    }
    expect(answers.map((a) => a?.__typename)).toEqual([
      'RefreshTransactionsSuccess',
      'RefreshTransactionsSuccess',
      'RefreshThrottledError',
    ]);
    expect(answers[2]).toMatchObject({ scope: 'ITEM', nextAction: 'RETRY_LATER' });
    const retryAfter = answers[2] && 'retryAfterSeconds' in answers[2] ? answers[2].retryAfterSeconds : null;
    expect(retryAfter).toBeGreaterThan(55);
    expect(retryAfter).toBeLessThanOrEqual(60);
    expect(plaidCalls('/transactions/refresh')).toBe(2);
  });

  it('concurrent identical refreshes share one Plaid call; every caller gets the same success', async () => {
    await injectFault(sim(), { item_id: item('capitalOneCredit').itemId, count: 1, effect: { type: 'latency', ms: 200 } });
    const answers = await Promise.all(
      Array.from({ length: 20 }, () => run(runtime, RefreshIdentityDocument, { itemId: item('capitalOneCredit').itemId }, demoToken)),
    );
    const results = answers.map((a) => a.data?.refreshIdentity);
    expect(results.every((r) => r?.__typename === 'RefreshIdentitySuccess')).toBe(true);
    expect(new Set(results.map((r) => (r && 'requestId' in r ? r.requestId : null))).size).toBe(1);
    expect(results.filter((r) => r && 'joinedInFlight' in r && r.joinedInFlight)).toHaveLength(19);
    expect(plaidCalls('/identity/refresh')).toBe(1);
  });

  it('an error_type Plaid adds later -> PlaidUnknownError, still a PlaidError', async () => {
    await injectFault(sim(), {
      item_id: item('healthy').itemId,
      count: 1,
      effect: { type: 'error', error_type: 'FUTURE_ERROR', error_code: 'SOMETHING_NEW', http_status: 400 },
    });
    const { data } = await run(runtime, RefreshIdentityDocument, { itemId: item('healthy').itemId }, demoToken);
    expect(data?.refreshIdentity).toMatchObject({
      __typename: 'PlaidUnknownError',
      errorType: 'FUTURE_ERROR',
      nextAction: 'CONTACT_SUPPORT',
    });
  });

  it.each([
    ['latency', { type: 'latency', ms: 1_500 }, 'TIMEOUT', true],
    ['connection_reset', { type: 'connection_reset' }, 'CONNECTION_RESET', true],
    ['html_502', { type: 'html_502' }, 'BAD_RESPONSE', true],
    ['wrong_shape', { type: 'wrong_shape' }, 'BAD_RESPONSE', true],
  ] as const)('%s -> PlaidUnavailableError %s, mayHaveRun %s, sent once', async (_label, effect, kind, mayHaveRun) => {
    await injectFault(sim(), { item_id: item('healthy').itemId, count: 1, effect });
    const { data } = await run(runtime, RefreshIdentityDocument, { itemId: item('healthy').itemId }, demoToken);
    expect(data?.refreshIdentity).toMatchObject({ __typename: 'PlaidUnavailableError', kind, mayHaveRun, nextAction: 'RETRY_LATER' });
    expect(plaidCalls('/identity/refresh')).toBe(1);
  });
});

describe('linkItem', () => {
  it('exchanges a public token, keeps the access token server-side, returns the Item', async () => {
    const alice = await tokenFor('alice');
    const { publicToken } = await runtime.plaid.createSandboxPublicToken({
      institutionId: 'ins_109511',
      initialProducts: ['transactions'],
    });
    const { data } = await run(runtime, LinkItemDocument, { publicToken }, alice);
    const result = data?.linkItem;
    if (result?.__typename !== 'LinkItemSuccess') throw new Error(`unexpected ${result?.__typename}`);
    expect(result.item).toMatchObject({ institutionId: 'ins_109511', institutionName: 'Tartan Bank', products: ['transactions'] });
    const viewer = await run(runtime, ViewerDocument, {}, alice);
    expect(viewer.data?.viewer.items.map((i) => i.id)).toEqual([result.item.id]);
    // The public token is single-use at Plaid.
    const again = await run(runtime, LinkItemDocument, { publicToken }, alice);
    expect(again.data?.linkItem).toMatchObject({ __typename: 'PlaidInvalidInputError', errorCode: 'INVALID_PUBLIC_TOKEN' });
  });

  it('a malformed public token is an InputValidationError and reaches nobody', async () => {
    const { data } = await run(runtime, LinkItemDocument, { publicToken: 'access-sandbox-oops' }, demoToken);
    expect(data?.linkItem).toMatchObject({ __typename: 'InputValidationError', field: 'publicToken' });
    expect(plaidCalls()).toBe(0);
  });
});

describe('the Item life cycle: link tokens, update mode, Plaid users, removal, health', () => {
  /** A new Item linked the way a frontend does it: createLinkToken, Plaid Link (the simulator's control call), linkItem. */
  async function linkThroughApi(token: string, choice: { institution_id?: string; username?: string } = {}) {
    const created = await run(runtime, CreateLinkTokenDocument, {}, token);
    const result = created.data?.createLinkToken;
    if (result?.__typename !== 'CreateLinkTokenSuccess') throw new Error(`unexpected ${result?.__typename}`);
    const { public_token } = await completeLink(sim(), result.linkToken, choice);
    const linked = await run(runtime, LinkItemDocument, { publicToken: public_token }, token);
    const item = linked.data?.linkItem;
    if (item?.__typename !== 'LinkItemSuccess') throw new Error(`unexpected ${item?.__typename}`);
    return { linkToken: result, item: item.item };
  }

  const healthOf = async (token: string, itemId: string) =>
    (await run(runtime, ViewerDocument, {}, token)).data?.viewer.items.find((i) => i.id === itemId)?.health;

  it('ITEM_LOGIN_REQUIRED -> createLinkToken(itemId) -> Link in update mode -> the next refresh succeeds and the Item is healthy', async () => {
    const token = await tokenFor('loop-viewer');
    const { item: linked } = await linkThroughApi(token, { institution_id: 'ins_127287' });
    expect(await healthOf(token, linked.id)).toMatchObject({ status: 'HEALTHY', source: 'LINK', error: null, nextAction: null });
    // The bank asks the user to sign in again (Sandbox's reset_login).
    const accessToken = await runtime.vault.getAccessToken('loop-viewer', linked.id);
    if (accessToken === null) throw new Error('the Item was not stored');
    await runtime.plaid.resetSandboxItemLogin(accessToken);

    const failed = await run(runtime, RefreshTransactionsDocument, { itemId: linked.id }, token);
    expect(failed.data?.refreshTransactions).toMatchObject({
      __typename: 'PlaidItemError',
      errorCode: 'ITEM_LOGIN_REQUIRED',
      nextAction: 'UPDATE_LOGIN_WITH_LINK',
    });
    expect(await healthOf(token, linked.id)).toMatchObject({
      status: 'ERROR',
      source: 'REFRESH',
      nextAction: 'UPDATE_LOGIN_WITH_LINK',
      error: { __typename: 'PlaidItemError', errorCode: 'ITEM_LOGIN_REQUIRED', errorCodeReason: 'OAUTH_INVALID_TOKEN' },
    });

    // What nextAction says: a link token for update mode of this Item.
    const update = await run(runtime, CreateLinkTokenDocument, { itemId: linked.id }, token);
    const linkToken = update.data?.createLinkToken;
    if (linkToken?.__typename !== 'CreateLinkTokenSuccess') throw new Error(`unexpected ${linkToken?.__typename}`);
    expect(linkToken).toMatchObject({ mode: 'UPDATE', products: [], joinsUserBundle: false, item: { id: linked.id } });
    expect(linkToken.linkToken).toMatch(/^link-sandbox-/);
    const minutes = (Date.parse(linkToken.expiration) - Date.now()) / 60_000;
    expect(minutes).toBeGreaterThan(25);
    expect(minutes).toBeLessThanOrEqual(30);
    expect(sim().state.requests({ path: '/link/token/create', itemId: linked.id })).toHaveLength(1);

    // The user goes through Link in update mode: the same Item comes back, repaired.
    const done = await completeLink(sim(), linkToken.linkToken);
    expect(done).toMatchObject({ item_id: linked.id, update_mode: true });

    const again = await run(runtime, RefreshTransactionsDocument, { itemId: linked.id }, token);
    expect(again.data?.refreshTransactions).toMatchObject({ __typename: 'RefreshTransactionsSuccess', item: { id: linked.id } });
    expect(await healthOf(token, linked.id)).toMatchObject({ status: 'HEALTHY', source: 'REFRESH', error: null, nextAction: null });
  });

  it("linkItem with update mode's public token answers the same Item, healthy at once", async () => {
    const token = await tokenFor('update-linker');
    const { item: linked } = await linkThroughApi(token);
    const accessToken = (await runtime.vault.getAccessToken('update-linker', linked.id)) ?? '';
    await runtime.plaid.resetSandboxItemLogin(accessToken);
    await run(runtime, RefreshIdentityDocument, { itemId: linked.id }, token);
    expect((await healthOf(token, linked.id))?.status).toBe('ERROR');

    const update = await run(runtime, CreateLinkTokenDocument, { itemId: linked.id }, token);
    const linkToken = update.data?.createLinkToken;
    if (linkToken?.__typename !== 'CreateLinkTokenSuccess') throw new Error(`unexpected ${linkToken?.__typename}`);
    const { public_token } = await completeLink(sim(), linkToken.linkToken);
    const relinked = await run(runtime, LinkItemDocument, { publicToken: public_token }, token);
    expect(relinked.data?.linkItem).toMatchObject({
      __typename: 'LinkItemSuccess',
      item: { id: linked.id, health: { status: 'HEALTHY' } },
    });
    expect(await healthOf(token, linked.id)).toMatchObject({ status: 'HEALTHY', source: 'LINK' });
    // Still one Item, with the same access token.
    expect((await run(runtime, ViewerDocument, {}, token)).data?.viewer.items).toHaveLength(1);
    expect(await runtime.vault.getAccessToken('update-linker', linked.id)).toBe(accessToken);
  });

  it('a viewer who came in through the API gets a Plaid user with its first Item, once, and refreshes its bundle', async () => {
    const token = await tokenFor('api-newcomer');
    const before = await run(runtime, RefreshUserFinancialDataDocument, {}, token);
    expect(before.data?.refreshUserFinancialData).toMatchObject({ __typename: 'NoPlaidUserError', nextAction: 'RELINK_ITEM' });

    const { linkToken, item: linked } = await linkThroughApi(token);
    expect(linkToken).toMatchObject({ mode: 'NEW_ITEM', products: ['transactions', 'identity'], joinsUserBundle: true, item: null });
    expect(sim().state.requests({ path: '/user/create' })).toHaveLength(1);
    expect((await run(runtime, ViewerDocument, {}, token)).data?.viewer.hasPlaidUser).toBe(true);

    const bundle = await run(runtime, RefreshUserFinancialDataDocument, {}, token);
    const result = bundle.data?.refreshUserFinancialData;
    if (result?.__typename !== 'RefreshUserFinancialDataSuccess') throw new Error(`unexpected ${result?.__typename}`);
    expect(result.results).toHaveLength(1);
    expect(result.results[0]).toMatchObject({ itemId: linked.id, error: null, item: { id: linked.id } });

    // A second Item joins the same user; no second /user/create.
    const second = await linkThroughApi(token);
    expect(sim().state.requests({ path: '/user/create' })).toHaveLength(1);
    const both = await run(runtime, RefreshUserFinancialDataDocument, {}, token);
    const refreshed = both.data?.refreshUserFinancialData;
    expect(refreshed && 'results' in refreshed ? refreshed.results.map((r) => r.itemId) : []).toEqual([linked.id, second.item.id]);
  });

  it("a new Item with products outside the bundle needs no Plaid user; products are checked against Plaid's", async () => {
    const token = await tokenFor('identity-only');
    const { data } = await run(runtime, CreateLinkTokenDocument, { products: ['identity'] }, token);
    expect(data?.createLinkToken).toMatchObject({ __typename: 'CreateLinkTokenSuccess', products: ['identity'], joinsUserBundle: false });
    expect(sim().state.requests({ path: '/user/create' })).toHaveLength(0);
    const refusals: [{ itemId?: string; products: string[] }, RegExp][] = [
      [{ products: ['balance'] }, /balance/],
      [{ products: ['no_such_product'] }, /not Plaid products: no_such_product/],
      [{ products: [] }, /1 to 20/],
      [{ itemId: item('healthy').itemId, products: ['transactions'] }, /not with itemId/],
    ];
    for (const [variables, reason] of refusals) {
      const refused = await run(runtime, CreateLinkTokenDocument, variables, demoToken);
      expect(refused.data?.createLinkToken).toMatchObject({ __typename: 'InputValidationError', nextAction: 'FIX_REQUEST', reason });
    }
    expect(sim().state.requests({ path: '/link/token/create' })).toHaveLength(1);
  });

  it('unlinkItem removes the Item at Plaid, then deletes its token, refresh records and health; again: ItemNotFoundError', async () => {
    const token = await tokenFor('unlinker');
    const { item: linked } = await linkThroughApi(token);
    await run(runtime, RefreshIdentityDocument, { itemId: linked.id }, token);
    expect(await runtime.vault.getRefreshes([linked.id])).toHaveLength(1);

    const { data } = await run(runtime, UnlinkItemDocument, { itemId: linked.id }, token);
    expect(data?.unlinkItem).toEqual({ __typename: 'UnlinkItemSuccess', itemId: linked.id, alreadyGoneAtPlaid: false });
    expect(sim().state.removed.has(linked.id)).toBe(true);
    expect(sim().state.requests({ path: '/item/remove', itemId: linked.id })).toHaveLength(1);
    expect(await runtime.vault.getAccessToken('unlinker', linked.id)).toBeNull();
    expect(await runtime.vault.getItems([linked.id])).toEqual([]);
    expect(await runtime.vault.getRefreshes([linked.id])).toEqual([]);
    expect(await runtime.vault.getItemHealth([linked.id])).toEqual([]);
    expect((await run(runtime, ViewerDocument, {}, token)).data?.viewer.items).toEqual([]);

    const again = await run(runtime, UnlinkItemDocument, { itemId: linked.id }, token);
    expect(again.data?.unlinkItem).toMatchObject({ __typename: 'ItemNotFoundError', itemId: linked.id, nextAction: 'FIX_REQUEST' });
    expect(sim().state.requests({ path: '/item/remove' })).toHaveLength(1);
  });

  it('an Item Plaid no longer knows (removed by its user) is unlinked all the same', async () => {
    const token = await tokenFor('unlinker-2');
    const { item: linked } = await linkThroughApi(token);
    await runtime.plaid.removeItem((await runtime.vault.getAccessToken('unlinker-2', linked.id)) ?? '');
    const refresh = await run(runtime, RefreshIdentityDocument, { itemId: linked.id }, token);
    expect(refresh.data?.refreshIdentity).toMatchObject({ errorCode: 'INVALID_ACCESS_TOKEN', nextAction: 'RELINK_ITEM' });
    expect(await healthOf(token, linked.id)).toMatchObject({ status: 'ERROR', nextAction: 'RELINK_ITEM' });

    const { data } = await run(runtime, UnlinkItemDocument, { itemId: linked.id }, token);
    expect(data?.unlinkItem).toEqual({ __typename: 'UnlinkItemSuccess', itemId: linked.id, alreadyGoneAtPlaid: true });
    expect(await runtime.vault.getItems([linked.id])).toEqual([]);
  });

  it("nobody can create a link token for, or unlink, another viewer's Item: the answer of an unknown id, and nothing reaches Plaid", async () => {
    const mallory = await tokenFor('mallory');
    const strip = (r: GraphQLResponse<unknown>) => JSON.stringify(r.data).replace(/"itemId":"[^"]*"/, '');
    const theirs = await run(runtime, CreateLinkTokenDocument, { itemId: item('healthy').itemId }, mallory);
    const unknown = await run(runtime, CreateLinkTokenDocument, { itemId: 'no-such-item' }, mallory);
    expect(theirs.data?.createLinkToken).toMatchObject({ __typename: 'ItemNotFoundError', nextAction: 'FIX_REQUEST' });
    expect(strip(theirs)).toBe(strip(unknown));
    const unlinkTheirs = await run(runtime, UnlinkItemDocument, { itemId: item('healthy').itemId }, mallory);
    const unlinkUnknown = await run(runtime, UnlinkItemDocument, { itemId: 'no-such-item' }, mallory);
    expect(unlinkTheirs.data?.unlinkItem).toMatchObject({ __typename: 'ItemNotFoundError', nextAction: 'FIX_REQUEST' });
    expect(strip(unlinkTheirs)).toBe(strip(unlinkUnknown));
    expect(plaidCalls()).toBe(0);
    expect(await runtime.vault.getItems([item('healthy').itemId])).toHaveLength(1);
  });
});

describe('secrets', () => {
  it('no response and no log line ever held an access token', () => {
    const tokens = Object.values(runtime.demo?.fixtures.items ?? {}).map((i) => i.accessToken);
    expect(tokens.length).toBeGreaterThan(0);
    const everything = [...seen, ...logs.map((l) => JSON.stringify(l))].join('\n');
    expect(seen.length).toBeGreaterThan(20);
    for (const token of tokens) expect(everything).not.toContain(token);
    expect(everything).not.toMatch(/access-sandbox-[0-9a-f]{8}-/);
  });
});
