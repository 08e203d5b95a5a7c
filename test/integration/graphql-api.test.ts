/**
 * The GraphQL API end to end in process: typed operations (codegen) through yoga.fetch, the real
 * services and vault, and the Plaid simulator over HTTP.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  LinkItemDocument,
  RefreshCashflowReportDocument,
  RefreshIdentityDocument,
  RefreshTransactionsDocument,
  RefreshUserFinancialDataDocument,
  ViewerDocument,
} from '../../operations/generated/graphql.js';
import type { Runtime } from '../../src/runtime.js';
import type { FixtureKey } from '../../src/simulator/fixtures.js';
import { injectFault } from '../helpers/simulator.js';
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
    // The service: the viewer's Plaid user id, which result Items are ours, the one success recorded.
    // The GraphQL layer: ONE batched look-up for every entry's item, however many entries.
    expect(queries).toBe(4);
  });

  it('a viewer without a Plaid user gets NoPlaidUserError', async () => {
    const { data } = await run(runtime, RefreshUserFinancialDataDocument, {}, await tokenFor('newcomer'));
    expect(data?.refreshUserFinancialData).toMatchObject({ __typename: 'NoPlaidUserError', nextAction: 'NOT_SUPPORTED' });
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
