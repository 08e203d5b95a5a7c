/** The Plaid client against the simulator over real HTTP: successes, typed errors, faults, retries. */
import { createServer } from 'node:net';
import { MockAgent } from 'undici';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { PlaidClient, type PlaidAttemptEvent } from '../../src/plaid/client.js';
import {
  PlaidApiError,
  PlaidConnectionFailedError,
  PlaidConnectionResetError,
  PlaidInstitutionError,
  PlaidInvalidInputError,
  PlaidInvalidRequestError,
  PlaidItemError,
  PlaidMalformedResponseError,
  PlaidNonJsonResponseError,
  PlaidRateLimitExceededError,
  PlaidTimeoutError,
  PlaidUnknownTypeError,
  PlaidUserError,
  type PlaidClientError,
} from '../../src/plaid/errors.js';
import { linkFixtures, type LinkedFixtures } from '../../src/demo/link-fixtures.js';
import type { Simulator } from '../../src/simulator/server.js';
import { clientFor, injectFault, loggedRequests, startTestSimulator } from '../helpers/simulator.js';
import { itemProduct } from '../../src/catalogue/refresh-products.js';

let simulator: Simulator;
let client: PlaidClient;
let fixtures: LinkedFixtures;

beforeAll(async () => {
  simulator = await startTestSimulator();
  client = clientFor(simulator);
  fixtures = await linkFixtures(client);
});
afterAll(async () => {
  await client.close();
  await simulator.close();
});
beforeEach(() => simulator.state.reset());

/** A new healthy Item, so per-Item rate limits of other tests do not interfere. */
async function freshItem(products = ['transactions', 'identity']) {
  const { publicToken } = await client.createSandboxPublicToken({ institutionId: 'ins_109508', initialProducts: products });
  return client.exchangePublicToken(publicToken);
}

async function failure(promise: Promise<unknown>): Promise<PlaidClientError> {
  try {
    await promise;
  } catch (error) {
    return error as PlaidClientError;
  }
  throw new Error('expected the call to fail');
}

describe('the four refreshes succeed', () => {
  it('transactions, identity and cashflow return Plaid request ids', async () => {
    const item = await freshItem();
    const receipts = [
      await client.refreshItem(itemProduct('transactions'), item.accessToken),
      await client.refreshItem(itemProduct('identity'), item.accessToken),
      await client.refreshItem(itemProduct('cashflow_report'), item.accessToken, { days: 365 }),
      await client.refreshItem(itemProduct('cashflow_report'), item.accessToken, { days: 1 }),
      await client.refreshItem(itemProduct('cashflow_report'), item.accessToken, { days: 730 }),
    ];
    const ids = receipts.map((r) => r.requestId);
    expect(new Set(ids).size).toBe(ids.length);
    const log = await loggedRequests(simulator, `?item_id=${item.itemId}`);
    expect(log.map((e) => [e.path, e.status])).toEqual([
      ['/transactions/refresh', 200],
      ['/identity/refresh', 200],
      ['/cashflow_report/refresh', 200],
      ['/cashflow_report/refresh', 200],
      ['/cashflow_report/refresh', 200],
    ]);
  });

  it('the user bundle mixes successes and per-Item errors, as data (one Item failing is an answer, not a throw)', async () => {
    const receipt = await client.refreshUserFinancialData(fixtures.userId);
    expect(receipt.userId).toBe(fixtures.userId);
    const byItem = new Map(receipt.results.map((r) => [r.itemId, r]));
    expect(byItem.size).toBe(3);
    expect(byItem.get(fixtures.items.healthy.itemId)?.error).toBeNull();
    const login = byItem.get(fixtures.items.oauthLoginRequired.itemId)?.error;
    expect(login).not.toBeInstanceOf(Error);
    expect(login).toMatchObject({
      errorType: 'ITEM_ERROR',
      errorCode: 'ITEM_LOGIN_REQUIRED',
      errorCodeReason: 'OAUTH_INVALID_TOKEN',
      status: 400,
    });
    expect(byItem.get(fixtures.items.institutionDown.itemId)?.error).toMatchObject({
      errorType: 'INSTITUTION_ERROR',
      errorCode: 'INSTITUTION_DOWN',
    });
    expect(receipt.results.every((r) => r.product === 'transactions')).toBe(true);
  });

  it('refuses days outside 1..730 before anything is sent', async () => {
    for (const days of [0, 731, 1.5]) {
      await expect(
        client.refreshItem(itemProduct('cashflow_report'), fixtures.items.healthy.accessToken, { days: days }),
      ).rejects.toBeInstanceOf(RangeError);
    }
    expect(await loggedRequests(simulator)).toEqual([]);
  });
});

const METHOD_PRODUCT = {
  refreshTransactions: 'transactions',
  refreshIdentity: 'identity',
  refreshCashflowReport: 'cashflow_report',
} as const;

describe('fixture Items answer typed Plaid errors', () => {
  it.each([
    ['oauthLoginRequired', 'refreshTransactions', PlaidItemError, 'ITEM_LOGIN_REQUIRED', 400],
    ['capitalOneCredit', 'refreshTransactions', PlaidItemError, 'PRODUCTS_NOT_SUPPORTED', 400],
    ['capitalOneCredit', 'refreshCashflowReport', PlaidItemError, 'PRODUCTS_NOT_SUPPORTED', 400],
    ['transactionsOnly', 'refreshIdentity', PlaidItemError, 'PRODUCT_NOT_ENABLED', 400],
    ['institutionDown', 'refreshIdentity', PlaidInstitutionError, 'INSTITUTION_DOWN', 400],
    ['internalError', 'refreshIdentity', PlaidApiError, 'INTERNAL_SERVER_ERROR', 500],
    ['invalidProduct', 'refreshTransactions', PlaidInvalidInputError, 'INVALID_PRODUCT', 400],
    ['refreshLimit', 'refreshIdentity', PlaidRateLimitExceededError, 'TRANSACTIONS_REFRESH_LIMIT', 429],
  ] as const)('%s %s -> %o %s', async (key, method, Class, code, status) => {
    const token = fixtures.items[key].accessToken;
    const call = client.refreshItem(itemProduct(METHOD_PRODUCT[method]), token);
    const error = await failure(call);
    expect(error).toBeInstanceOf(Class);
    expect(error).toMatchObject({ errorCode: code, status, endpoint: expect.stringMatching(/refresh$/) as unknown });
    expect((error as PlaidItemError).requestId).toMatch(/^\w{15}$/);
  });

  it('capital one identity still succeeds', async () => {
    await expect(client.refreshItem(itemProduct('identity'), fixtures.items.capitalOneCredit.accessToken)).resolves.toHaveProperty(
      'requestId',
    );
  });

  it('unknown access token -> INVALID_ACCESS_TOKEN; unknown user -> USER_NOT_FOUND', async () => {
    expect(
      await failure(client.refreshItem(itemProduct('transactions'), 'access-sandbox-00000000-0000-4000-8000-000000000000')),
    ).toBeInstanceOf(PlaidInvalidInputError);
    expect(await failure(client.refreshUserFinancialData('usr_unknown'))).toBeInstanceOf(PlaidUserError);
  });

  it('bad credentials -> INVALID_API_KEYS', async () => {
    const wrong = clientFor(simulator, { secret: 'not-the-secret' });
    const error = await failure(wrong.refreshItem(itemProduct('transactions'), fixtures.items.healthy.accessToken));
    expect(error).toMatchObject({ errorType: 'INVALID_INPUT', errorCode: 'INVALID_API_KEYS', status: 400 });
    await wrong.close();
  });

  it("Plaid's 2-per-Item-per-minute /transactions/refresh limit", async () => {
    const item = await freshItem();
    await client.refreshItem(itemProduct('transactions'), item.accessToken);
    await client.refreshItem(itemProduct('transactions'), item.accessToken);
    const noRetry = clientFor(simulator, { retry: { maxAttempts: 1 } });
    const error = await failure(noRetry.refreshItem(itemProduct('transactions'), item.accessToken));
    expect(error).toMatchObject({ errorCode: 'TRANSACTIONS_REFRESH_LIMIT', status: 429 });
    await noRetry.close();
  });
});

describe('faults are normalised into transport errors', () => {
  it('latency past the timeout -> PlaidTimeoutError, may have run, never re-sent', async () => {
    const item = await freshItem();
    await injectFault(simulator, { item_id: item.itemId, effect: { type: 'latency', ms: 1_000 } });
    const quick = clientFor(simulator, { timeoutMs: 150 });
    const error = await failure(quick.refreshItem(itemProduct('identity'), item.accessToken));
    expect(error).toBeInstanceOf(PlaidTimeoutError);
    expect((error as PlaidTimeoutError).mayHaveRun).toBe(true);
    expect(await loggedRequests(simulator, `?item_id=${item.itemId}`)).toHaveLength(1);
    await quick.close();
  });

  it.each([
    ['connection_reset', PlaidConnectionResetError],
    ['html_502', PlaidNonJsonResponseError],
    ['malformed_json', PlaidNonJsonResponseError],
    ['wrong_shape', PlaidMalformedResponseError],
  ] as const)('%s -> %o, may have run, sent once', async (type, Class) => {
    const item = await freshItem();
    await injectFault(simulator, { item_id: item.itemId, count: 1, effect: { type } });
    const error = await failure(client.refreshItem(itemProduct('identity'), item.accessToken));
    expect(error).toBeInstanceOf(Class);
    expect(error).toMatchObject({ mayHaveRun: true });
    expect(await loggedRequests(simulator, `?item_id=${item.itemId}`)).toHaveLength(1);
    // The fault was for one call: the next one succeeds.
    await expect(client.refreshItem(itemProduct('identity'), item.accessToken)).resolves.toHaveProperty('requestId');
  });

  it('an HTML 502 keeps a short snippet of the body for the log', async () => {
    const item = await freshItem();
    await injectFault(simulator, { item_id: item.itemId, count: 1, effect: { type: 'html_502' } });
    const error = (await failure(client.refreshItem(itemProduct('identity'), item.accessToken))) as PlaidNonJsonResponseError;
    expect(error).toMatchObject({ status: 502, contentType: 'text/html' });
    expect(error.bodySnippet).toContain('502 Bad Gateway');
  });

  it('a user bundle 200 without results is malformed, not "zero Items"', async () => {
    await injectFault(simulator, { endpoint: '/user/financial_data/refresh', count: 1, effect: { type: 'wrong_shape' } });
    expect(await failure(client.refreshUserFinancialData(fixtures.userId))).toBeInstanceOf(PlaidMalformedResponseError);
  });

  it('an error code Plaid adds tomorrow still parses into a typed error', async () => {
    const item = await freshItem();
    await injectFault(simulator, {
      item_id: item.itemId,
      count: 1,
      effect: { type: 'error', error_type: 'REFRESH_ERROR', error_code: 'BRAND_NEW_CODE', http_status: 400 },
    });
    const error = await failure(client.refreshItem(itemProduct('identity'), item.accessToken));
    expect(error).toBeInstanceOf(PlaidUnknownTypeError);
    expect(error).toMatchObject({ errorType: 'REFRESH_ERROR', errorCode: 'BRAND_NEW_CODE' });
  });
});

describe('retries over HTTP', () => {
  it('INTERNAL_SERVER_ERROR then success: retried, two calls reach Plaid', async () => {
    const item = await freshItem();
    await injectFault(simulator, { item_id: item.itemId, count: 1, effect: { type: 'error', error_code: 'INTERNAL_SERVER_ERROR' } });
    const events: PlaidAttemptEvent[] = [];
    const observed = clientFor(simulator, { onAttempt: (e) => events.push(e) });
    await expect(observed.refreshItem(itemProduct('identity'), item.accessToken)).resolves.toHaveProperty('requestId');
    expect(events.map((e) => [e.attempt, e.status, e.errorCode, e.decision?.retry ?? null])).toEqual([
      [1, 500, 'INTERNAL_SERVER_ERROR', true],
      [2, 200, null, null],
    ]);
    expect(await loggedRequests(simulator, `?item_id=${item.itemId}`)).toHaveLength(2);
    await observed.close();
  });

  it('INSTITUTION_DOWN (a 400) on a billed refresh is not re-sent: the outage lasts minutes, the caller gets retryAfterSeconds', async () => {
    const error = await failure(client.refreshItem(itemProduct('identity'), fixtures.items.institutionDown.accessToken));
    expect(error).toBeInstanceOf(PlaidInstitutionError);
    expect(await loggedRequests(simulator, `?item_id=${fixtures.items.institutionDown.itemId}`)).toHaveLength(1);
  });

  it("a re-send that the caller's quota refuses is not made, and the caller gets the error Plaid gave", async () => {
    const item = await freshItem();
    await injectFault(simulator, { item_id: item.itemId, effect: { type: 'error', error_code: 'INTERNAL_SERVER_ERROR' } });
    let asked = 0;
    const error = await failure(
      client.refreshItem(
        itemProduct('transactions'),
        item.accessToken,
        {},
        {
          beforeResend: () => {
            asked++;
            return Promise.resolve(false);
          },
        },
      ),
    );
    expect(error).toBeInstanceOf(PlaidApiError);
    expect((error as PlaidApiError).errorCode).toBe('INTERNAL_SERVER_ERROR');
    expect(asked).toBe(1);
    expect(await loggedRequests(simulator, `?item_id=${item.itemId}`)).toHaveLength(1);
  });

  it('no attempt outlives the deadline: the timeout shrinks to what is left', async () => {
    const item = await freshItem();
    await injectFault(simulator, { item_id: item.itemId, effect: { type: 'latency', ms: 3_000 } });
    const started = Date.now();
    const error = await failure(client.refreshItem(itemProduct('transactions'), item.accessToken, {}, { deadline: Date.now() + 300 }));
    expect(error).toBeInstanceOf(PlaidTimeoutError);
    expect(Date.now() - started).toBeLessThan(1_500);
  });

  it('ITEM_LOGIN_REQUIRED is not retried', async () => {
    await failure(client.refreshItem(itemProduct('identity'), fixtures.items.oauthLoginRequired.accessToken));
    expect(await loggedRequests(simulator, `?item_id=${fixtures.items.oauthLoginRequired.itemId}`)).toHaveLength(1);
  });

  it('a connection reset is never re-sent', async () => {
    const item = await freshItem();
    await injectFault(simulator, { item_id: item.itemId, effect: { type: 'connection_reset' } });
    await failure(client.refreshItem(itemProduct('transactions'), item.accessToken));
    expect(await loggedRequests(simulator, `?item_id=${item.itemId}`)).toHaveLength(1);
  });

  it('connection refused: retried, then PlaidConnectionFailedError that did not run', async () => {
    const port = await closedPort();
    const events: PlaidAttemptEvent[] = [];
    const nowhere = new PlaidClient({
      baseUrl: `http://127.0.0.1:${port}`,
      clientId: 'id',
      secret: 'secret',
      sleep: () => Promise.resolve(),
      onAttempt: (e) => events.push(e),
    });
    const error = await failure(nowhere.refreshItem(itemProduct('transactions'), 'access-sandbox-x'));
    expect(error).toBeInstanceOf(PlaidConnectionFailedError);
    expect((error as PlaidConnectionFailedError).mayHaveRun).toBe(false);
    expect(events).toHaveLength(3);
    await nowhere.close();
  });

  it('invalid request errors are not retried', async () => {
    const error = await failure(client.refreshUserFinancialData('not-a-user-id'));
    expect(error).toBeInstanceOf(PlaidInvalidInputError);
    expect(error).toMatchObject({ errorCode: 'INVALID_USER_ID' });
    expect(await loggedRequests(simulator)).toHaveLength(1);
  });
});

describe('the wire format the client sends', () => {
  it('POST JSON with credentials and Plaid-Version in headers, never in the body', async () => {
    const agent = new MockAgent();
    agent.disableNetConnect();
    const seen: { headers: Record<string, string>; body: string }[] = [];
    agent
      .get('https://sandbox.plaid.com')
      .intercept({ path: '/transactions/refresh', method: 'POST' })
      .reply((options) => {
        seen.push({ headers: options.headers as Record<string, string>, body: typeof options.body === 'string' ? options.body : '' });
        return {
          statusCode: 200,
          data: { request_id: 'mock-request' },
          responseOptions: { headers: { 'content-type': 'application/json' } },
        };
      });
    const mocked = new PlaidClient({ baseUrl: 'sandbox', clientId: 'cid', secret: 'shh', dispatcher: agent });
    await expect(mocked.refreshItem(itemProduct('transactions'), 'access-sandbox-abc')).resolves.toEqual({ requestId: 'mock-request' });
    agent.assertNoPendingInterceptors();
    expect(seen[0]?.headers).toMatchObject({
      'content-type': 'application/json',
      'plaid-version': '2020-09-14',
      'plaid-client-id': 'cid',
      'plaid-secret': 'shh',
    });
    expect(JSON.parse(seen[0]?.body ?? '')).toEqual({ access_token: 'access-sandbox-abc' });
    await agent.close();
  });

  it('resolves environments to Plaid hosts', async () => {
    const { resolvePlaidBaseUrl } = await import('../../src/plaid/client.js');
    expect(resolvePlaidBaseUrl('sandbox')).toBe('https://sandbox.plaid.com');
    expect(resolvePlaidBaseUrl('production')).toBe('https://production.plaid.com');
    expect(resolvePlaidBaseUrl('http://127.0.0.1:4010/')).toBe('http://127.0.0.1:4010');
    expect(() => resolvePlaidBaseUrl('development')).toThrow();
  });

  it('malformed bodies reach the simulator as INVALID_REQUEST errors', async () => {
    const response = await fetch(`${simulator.url}/identity/refresh`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'plaid-client-id': simulator.clientId, 'plaid-secret': simulator.secret },
      body: '{"access_token": ',
    });
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ error_type: 'INVALID_REQUEST', error_code: 'INVALID_BODY' });
    void PlaidInvalidRequestError;
  });
});

/** A port with nothing listening: bind one, then close it. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
