/**
 * Conformance: Plaid's official Node client (npm `plaid@47.0.0`, axios-based), unchanged, pointed at
 * our simulator. Whatever it sends must be accepted as Plaid's wire format, and whatever we answer
 * must come back through it as Plaid's answers do: success bodies with the documented fields, and
 * errors as axios rejections whose `response.data` is a PlaidError (spec schema `PlaidError`).
 */
import { randomUUID } from 'node:crypto';
import { isAxiosError } from 'axios';
import {
  Configuration,
  CountryCode,
  PlaidApi,
  Products,
  SandboxItemFireWebhookRequestWebhookCodeEnum,
  WebhookType,
  type LinkTokenCreateRequest,
} from 'plaid';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Simulator } from '../../src/simulator/server.js';
import { completeLink, loggedRequests, startTestSimulator, type LoggedRequest } from '../helpers/simulator.js';

// ---- PlaidError schema (written from the spec's components.schemas.PlaidError) ----------------

/** PlaidError as the spec declares it; `additionalProperties: true`, so extra fields are allowed. */
interface PlaidErrorBody {
  error_type: string;
  error_code: string;
  error_message: string;
  display_message: string | null;
  error_code_reason?: string | null;
  request_id?: string;
  causes?: unknown[];
  status?: number | null;
  documentation_url?: string;
  suggested_action?: string | null;
  required_account_subtypes?: string[];
  provided_account_subtypes?: string[];
}

type Check = (value: unknown) => boolean;
const isString: Check = (v) => typeof v === 'string';
const isArray: Check = (v) => Array.isArray(v);
const isInteger: Check = (v) => Number.isInteger(v);
const isStringArray: Check = (v) => Array.isArray(v) && v.every((x) => typeof x === 'string');
const orNull =
  (check: Check): Check =>
  (v) =>
    v === null || check(v);

/** Field name -> [type as the spec writes it, check]. */
const REQUIRED_FIELDS: Readonly<Record<string, readonly [string, Check]>> = {
  error_type: ['string', isString],
  error_code: ['string', isString],
  error_message: ['string', isString],
  display_message: ['string | null', orNull(isString)],
};
const OPTIONAL_FIELDS: Readonly<Record<string, readonly [string, Check]>> = {
  error_code_reason: ['string | null', orNull(isString)],
  request_id: ['string', isString],
  causes: ['array', isArray],
  status: ['integer | null', orNull(isInteger)],
  documentation_url: ['string', isString],
  suggested_action: ['string | null', orNull(isString)],
  required_account_subtypes: ['string[]', isStringArray],
  provided_account_subtypes: ['string[]', isStringArray],
};

/** Every way `value` departs from Plaid's PlaidError schema; empty when it conforms. */
function plaidErrorViolations(value: unknown): string[] {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return [`not a JSON object: ${JSON.stringify(value)}`];
  const body = value as Record<string, unknown>;
  const problems: string[] = [];
  for (const [name, [type, check]] of Object.entries(REQUIRED_FIELDS)) {
    if (!Object.hasOwn(body, name)) problems.push(`missing required ${name}`);
    else if (!check(body[name])) problems.push(`${name} must be ${type}, got ${JSON.stringify(body[name])}`);
  }
  for (const [name, [type, check]] of Object.entries(OPTIONAL_FIELDS)) {
    if (Object.hasOwn(body, name) && !check(body[name])) problems.push(`${name} must be ${type}, got ${JSON.stringify(body[name])}`);
  }
  return problems;
}

/** Every error body checked in this file, so request_id uniqueness can be checked at the end. */
const checkedErrors: PlaidErrorBody[] = [];

function expectPlaidError(value: unknown): PlaidErrorBody {
  expect(plaidErrorViolations(value)).toEqual([]);
  const body = value as PlaidErrorBody;
  checkedErrors.push(body);
  return body;
}

// ---- the official client against the simulator ------------------------------------------

let simulator: Simulator;
let plaid: PlaidApi;

function officialClient(secret: string): PlaidApi {
  const configuration = new Configuration({
    basePath: simulator.url,
    baseOptions: {
      headers: { 'PLAID-CLIENT-ID': simulator.clientId, 'PLAID-SECRET': secret },
      timeout: 10_000,
    },
  });
  return new PlaidApi(configuration);
}

beforeAll(async () => {
  simulator = await startTestSimulator({ port: 0 });
  plaid = officialClient(simulator.secret);
});
afterAll(async () => {
  await simulator.close();
});

interface Linked {
  readonly accessToken: string;
  readonly itemId: string;
}

/** A new Item linked through the Sandbox flow, so per-Item rate limits of other tests do not interfere. */
async function linkItem(institutionId = 'ins_109508', userId?: string): Promise<Linked> {
  const created = await plaid.sandboxPublicTokenCreate({
    institution_id: institutionId,
    initial_products: [Products.Transactions, Products.Identity],
    ...(userId === undefined ? {} : { user_id: userId }),
  });
  const exchanged = await plaid.itemPublicTokenExchange({ public_token: created.data.public_token });
  return { accessToken: exchanged.data.access_token, itemId: exchanged.data.item_id };
}

interface PlaidFailure {
  readonly status: number;
  readonly error: PlaidErrorBody;
}

/** Runs a call that must fail, the way plaid-node documents it: an AxiosError with `response`. */
async function plaidFailure(call: () => Promise<unknown>): Promise<PlaidFailure> {
  let caught: unknown = undefined;
  let rejected = false;
  try {
    await call();
  } catch (error) {
    caught = error;
    rejected = true;
  }
  if (!rejected) throw new Error('expected the official client to reject');
  if (!isAxiosError<unknown>(caught)) throw new Error(`expected an AxiosError, got ${String(caught)}`);
  const response = caught.response;
  if (response === undefined) throw new Error(`AxiosError without a response (code ${caught.code ?? 'none'})`);
  return { status: response.status, error: expectPlaidError(response.data) };
}

function expectRequestId(value: unknown): string {
  expect(typeof value).toBe('string');
  expect(value).not.toBe('');
  return value as string;
}

// ---- 1. Sandbox helpers ------------------------------------------------------------------

describe('Sandbox helpers through the official client', () => {
  it('userCreate, sandboxPublicTokenCreate, itemPublicTokenExchange and sandboxItemResetLogin answer Plaid-shaped bodies', async () => {
    const requestIds: string[] = [];

    const user = await plaid.userCreate({ client_user_id: `conformance-${randomUUID()}` });
    expect(user.status).toBe(200);
    expect(user.data.user_id).toMatch(/^usr_\w+$/);
    requestIds.push(expectRequestId(user.data.request_id));

    const created = await plaid.sandboxPublicTokenCreate({
      institution_id: 'ins_109508',
      initial_products: [Products.Transactions, Products.Identity],
    });
    expect(created.status).toBe(200);
    expect(created.data.public_token.startsWith('public-sandbox-')).toBe(true);
    requestIds.push(expectRequestId(created.data.request_id));

    const withUser = await plaid.sandboxPublicTokenCreate({
      institution_id: 'ins_109508',
      initial_products: [Products.Transactions, Products.Identity],
      user_id: user.data.user_id,
    });
    expect(withUser.status).toBe(200);
    expect(withUser.data.public_token.startsWith('public-sandbox-')).toBe(true);
    expect(withUser.data.public_token).not.toBe(created.data.public_token);
    requestIds.push(expectRequestId(withUser.data.request_id));

    const exchanged = await plaid.itemPublicTokenExchange({ public_token: created.data.public_token });
    expect(exchanged.status).toBe(200);
    expect(exchanged.data.access_token.startsWith('access-sandbox-')).toBe(true);
    expect(typeof exchanged.data.item_id).toBe('string');
    expect(exchanged.data.item_id).not.toBe('');
    requestIds.push(expectRequestId(exchanged.data.request_id));

    const exchangedWithUser = await plaid.itemPublicTokenExchange({ public_token: withUser.data.public_token });
    expect(exchangedWithUser.data.access_token.startsWith('access-sandbox-')).toBe(true);
    expect(exchangedWithUser.data.item_id).not.toBe(exchanged.data.item_id);
    expect(exchangedWithUser.data.access_token).not.toBe(exchanged.data.access_token);
    requestIds.push(expectRequestId(exchangedWithUser.data.request_id));

    const reset = await plaid.sandboxItemResetLogin({ access_token: exchanged.data.access_token });
    expect(reset.status).toBe(200);
    expect(reset.data.reset_login).toBe(true);
    requestIds.push(expectRequestId(reset.data.request_id));

    expect(new Set(requestIds).size).toBe(requestIds.length);
  });
});

// ---- 2. The four refreshes ---------------------------------------------------------------

describe('the four refreshes succeed through the official client', () => {
  it('transactionsRefresh and identityRefresh answer a request_id', async () => {
    const item = await linkItem();
    const transactions = await plaid.transactionsRefresh({ access_token: item.accessToken });
    const identity = await plaid.identityRefresh({ access_token: item.accessToken });
    expect(transactions.status).toBe(200);
    expect(identity.status).toBe(200);
    expect(expectRequestId(transactions.data.request_id)).not.toBe(expectRequestId(identity.data.request_id));
  });

  it.each([365, 1, 730])('cashflowReportRefresh accepts days_requested %i', async (days) => {
    const item = await linkItem();
    const response = await plaid.cashflowReportRefresh({ access_token: item.accessToken, days_requested: days });
    expect(response.status).toBe(200);
    expectRequestId(response.data.request_id);
  });

  it('userFinancialDataRefresh mixes a success entry without `error` and an ITEM_LOGIN_REQUIRED entry with status 400', async () => {
    const user = await plaid.userCreate({ client_user_id: `bundle-${randomUUID()}` });
    const userId = user.data.user_id;
    const healthy = await linkItem('ins_109508', userId);
    const broken = await linkItem('ins_109508', userId);
    await plaid.sandboxItemResetLogin({ access_token: broken.accessToken });

    const response = await plaid.userFinancialDataRefresh({ user_id: userId });
    expect(response.status).toBe(200);
    expectRequestId(response.data.request_id);
    expect(response.data.user_id).toBe(userId);
    const results = response.data.results ?? [];
    expect(results).toHaveLength(2);

    const ok = results.find((r) => r.item_id === healthy.itemId);
    expect(ok).toBeDefined();
    expect(ok?.product).toBe('transactions');
    expect(ok !== undefined && Object.hasOwn(ok, 'error')).toBe(false);

    const failed = results.find((r) => r.item_id === broken.itemId);
    expect(failed).toBeDefined();
    expect(typeof failed?.product).toBe('string');
    const error = expectPlaidError(failed?.error);
    expect(error.error_type).toBe('ITEM_ERROR');
    expect(error.error_code).toBe('ITEM_LOGIN_REQUIRED');
    expect(error.status).toBe(400);
    // A non-OAuth institution: Plaid sends no reason (null or absent).
    expect(error.error_code_reason ?? null).toBeNull();
  });
});

// ---- 3 and 4. Errors, each body checked against PlaidError -----------------------------------

describe('errors through the official client are PlaidErrors in error.response.data', () => {
  it('a wrong secret is 400 INVALID_INPUT / INVALID_API_KEYS', async () => {
    const item = await linkItem();
    const wrong = officialClient(`${simulator.secret}-wrong`);
    const { status, error } = await plaidFailure(() => wrong.transactionsRefresh({ access_token: item.accessToken }));
    expect(status).toBe(400);
    expect(error.error_type).toBe('INVALID_INPUT');
    expect(error.error_code).toBe('INVALID_API_KEYS');
  });

  it.each([
    ['transactionsRefresh', (token: string) => plaid.transactionsRefresh({ access_token: token })],
    ['identityRefresh', (token: string) => plaid.identityRefresh({ access_token: token })],
    ['cashflowReportRefresh', (token: string) => plaid.cashflowReportRefresh({ access_token: token, days_requested: 365 })],
  ] as const)('%s with an unknown, well-formed access token is 400 INVALID_INPUT / INVALID_ACCESS_TOKEN', async (_name, call) => {
    const { status, error } = await plaidFailure(() => call(`access-sandbox-${randomUUID()}`));
    expect(status).toBe(400);
    expect(error.error_type).toBe('INVALID_INPUT');
    expect(error.error_code).toBe('INVALID_ACCESS_TOKEN');
  });

  it.each([0, 731])('cashflowReportRefresh with days_requested %i is 400 INVALID_REQUEST / INVALID_FIELD', async (days) => {
    const item = await linkItem();
    const { status, error } = await plaidFailure(() =>
      plaid.cashflowReportRefresh({ access_token: item.accessToken, days_requested: days }),
    );
    expect(status).toBe(400);
    expect(error.error_type).toBe('INVALID_REQUEST');
    expect(error.error_code).toBe('INVALID_FIELD');
  });

  it('userFinancialDataRefresh for an unknown user is 400 USER_ERROR / USER_NOT_FOUND', async () => {
    const { status, error } = await plaidFailure(() => plaid.userFinancialDataRefresh({ user_id: 'usr_doesnotexist' }));
    expect(status).toBe(400);
    expect(error.error_type).toBe('USER_ERROR');
    expect(error.error_code).toBe('USER_NOT_FOUND');
  });

  it('the third transactionsRefresh of one Item within a minute is 429 RATE_LIMIT_EXCEEDED / TRANSACTIONS_REFRESH_LIMIT', async () => {
    const item = await linkItem();
    expect((await plaid.transactionsRefresh({ access_token: item.accessToken })).status).toBe(200);
    expect((await plaid.transactionsRefresh({ access_token: item.accessToken })).status).toBe(200);
    const { status, error } = await plaidFailure(() => plaid.transactionsRefresh({ access_token: item.accessToken }));
    expect(status).toBe(429);
    expect(error.error_type).toBe('RATE_LIMIT_EXCEEDED');
    expect(error.error_code).toBe('TRANSACTIONS_REFRESH_LIMIT');
    // The limit is per Item: another Item is still refreshed.
    const other = await linkItem();
    expect((await plaid.transactionsRefresh({ access_token: other.accessToken })).status).toBe(200);
  });

  it.each([
    ['transactionsRefresh', (token: string) => plaid.transactionsRefresh({ access_token: token })],
    ['identityRefresh', (token: string) => plaid.identityRefresh({ access_token: token })],
    ['cashflowReportRefresh', (token: string) => plaid.cashflowReportRefresh({ access_token: token, days_requested: 365 })],
  ] as const)(
    '%s of an OAuth Item (ins_127287) after reset_login is 400 ITEM_LOGIN_REQUIRED / OAUTH_INVALID_TOKEN',
    async (_name, call) => {
      const item = await linkItem('ins_127287');
      await plaid.sandboxItemResetLogin({ access_token: item.accessToken });
      const { status, error } = await plaidFailure(() => call(item.accessToken));
      expect(status).toBe(400);
      expect(error.error_type).toBe('ITEM_ERROR');
      expect(error.error_code).toBe('ITEM_LOGIN_REQUIRED');
      expect(error.error_code_reason).toBe('OAUTH_INVALID_TOKEN');
    },
  );

  it('Capital One (ins_128026): transactions and cashflow refresh are PRODUCTS_NOT_SUPPORTED, identity refresh succeeds', async () => {
    const item = await linkItem('ins_128026');
    const transactions = await plaidFailure(() => plaid.transactionsRefresh({ access_token: item.accessToken }));
    expect(transactions.status).toBe(400);
    expect(transactions.error.error_type).toBe('ITEM_ERROR');
    expect(transactions.error.error_code).toBe('PRODUCTS_NOT_SUPPORTED');
    const cashflow = await plaidFailure(() => plaid.cashflowReportRefresh({ access_token: item.accessToken, days_requested: 365 }));
    expect(cashflow.status).toBe(400);
    expect(cashflow.error.error_code).toBe('PRODUCTS_NOT_SUPPORTED');
    expect((await plaid.identityRefresh({ access_token: item.accessToken })).status).toBe(200);
  });
});

// ---- 3b. Webhooks: keys, an Item's URL, test webhooks ---------------------------------------------

describe('webhook endpoints through the official client', () => {
  /** Nobody listens here: deliveries fail and wait for retries, which close() drops. */
  const nowhere = 'http://127.0.0.1:9/plaid-webhooks';

  it('webhookVerificationKeyGet answers the JWK of a kid, and an unknown kid is 400 INVALID_WEBHOOK_VERIFICATION_KEY_ID', async () => {
    const kid = simulator.webhooks.keys.currentKid;
    const answer = await plaid.webhookVerificationKeyGet({ key_id: kid });
    expect(answer.status).toBe(200);
    expectRequestId(answer.data.request_id);
    expect(answer.data.key).toMatchObject({ alg: 'ES256', crv: 'P-256', kty: 'EC', use: 'sig', kid, expired_at: null });
    expect(typeof answer.data.key.x).toBe('string');
    expect(typeof answer.data.key.created_at).toBe('number');
    const { status, error } = await plaidFailure(() => plaid.webhookVerificationKeyGet({ key_id: randomUUID() }));
    expect(status).toBe(400);
    expect(error.error_type).toBe('INVALID_INPUT');
    expect(error.error_code).toBe('INVALID_WEBHOOK_VERIFICATION_KEY_ID');
  });

  it('itemWebhookUpdate sets the URL and answers the Item', async () => {
    const item = await linkItem();
    const answer = await plaid.itemWebhookUpdate({ access_token: item.accessToken, webhook: nowhere });
    expect(answer.status).toBe(200);
    expectRequestId(answer.data.request_id);
    expect(answer.data.item.item_id).toBe(item.itemId);
    expect(answer.data.item.webhook).toBe(nowhere);
    expect((await plaid.itemGet({ access_token: item.accessToken })).data.item.webhook).toBe(nowhere);
  });

  it('sandboxItemFireWebhook answers webhook_fired, and SANDBOX_WEBHOOK_INVALID for an Item without a URL', async () => {
    const item = await linkItem();
    const { status, error } = await plaidFailure(() =>
      plaid.sandboxItemFireWebhook({
        access_token: item.accessToken,
        webhook_code: SandboxItemFireWebhookRequestWebhookCodeEnum.DefaultUpdate,
      }),
    );
    expect(status).toBe(400);
    expect(error.error_type).toBe('SANDBOX_ERROR');
    expect(error.error_code).toBe('SANDBOX_WEBHOOK_INVALID');
    await plaid.itemWebhookUpdate({ access_token: item.accessToken, webhook: nowhere });
    const fired = await plaid.sandboxItemFireWebhook({
      access_token: item.accessToken,
      webhook_type: WebhookType.Transactions,
      webhook_code: SandboxItemFireWebhookRequestWebhookCodeEnum.DefaultUpdate,
    });
    expect(fired.status).toBe(200);
    expect(fired.data.webhook_fired).toBe(true);
    expectRequestId(fired.data.request_id);
  });
});

// ---- 4b. The Item life cycle: link tokens, update mode, removal ---------------------------------

describe('linkTokenCreate, update mode and itemRemove through the official client', () => {
  const base = { client_name: 'Conformance', language: 'en', country_codes: [CountryCode.Us] };

  it('linkTokenCreate for a new Item answers link_token, expiration and request_id; Link completed, the Item is in the user bundle', async () => {
    const user = await plaid.userCreate({ client_user_id: `life-${randomUUID()}` });
    const created = await plaid.linkTokenCreate({
      ...base,
      user: { client_user_id: user.data.user_id },
      user_id: user.data.user_id,
      products: [Products.Transactions, Products.Identity],
      webhook: 'https://hooks.example.com/plaid',
    });
    expect(created.status).toBe(200);
    expect(created.data.link_token).toMatch(/^link-sandbox-/);
    expect(Number.isNaN(Date.parse(created.data.expiration))).toBe(false);
    expectRequestId(created.data.request_id);

    const { public_token } = await completeLink(simulator, created.data.link_token);
    const exchanged = await plaid.itemPublicTokenExchange({ public_token });
    const bundle = await plaid.userFinancialDataRefresh({ user_id: user.data.user_id });
    expect(bundle.data.results?.map((r) => r.item_id)).toEqual([exchanged.data.item_id]);
    expect(simulator.state.items.get(exchanged.data.item_id)?.webhook).toBe('https://hooks.example.com/plaid');
  });

  it('update mode: linkTokenCreate with access_token and no products; Link repairs ITEM_LOGIN_REQUIRED', async () => {
    const item = await linkItem();
    await plaid.sandboxItemResetLogin({ access_token: item.accessToken });
    const broken = await plaidFailure(() => plaid.transactionsRefresh({ access_token: item.accessToken }));
    expect(broken.error.error_code).toBe('ITEM_LOGIN_REQUIRED');

    const created = await plaid.linkTokenCreate({ ...base, user: { client_user_id: 'conformance-user' }, access_token: item.accessToken });
    expect(created.status).toBe(200);
    const done = await completeLink(simulator, created.data.link_token);
    expect(done).toMatchObject({ item_id: item.itemId, update_mode: true });
    expect((await plaid.transactionsRefresh({ access_token: item.accessToken })).status).toBe(200);
  });

  it.each<[string, LinkTokenCreateRequest, string]>([
    ['without products outside update mode', { ...base, user: { client_user_id: 'u' } }, 'MISSING_FIELDS'],
    ['without a user', { ...base, products: [Products.Transactions] }, 'MISSING_FIELDS'],
    ['with balance as a product', { ...base, user: { client_user_id: 'u' }, products: [Products.Balance] }, 'INVALID_FIELD'],
    [
      'with an unknown access_token',
      { ...base, user: { client_user_id: 'u' }, access_token: `access-sandbox-${randomUUID()}` },
      'INVALID_ACCESS_TOKEN',
    ],
  ])('linkTokenCreate %s is a 400 PlaidError (%s)', async (_label, request, code) => {
    const { status, error } = await plaidFailure(() => plaid.linkTokenCreate(request));
    expect(status).toBe(400);
    expect(error.error_code).toBe(code);
  });

  it('itemRemove answers a request_id; the access token is dead afterwards (INVALID_ACCESS_TOKEN)', async () => {
    const item = await linkItem();
    const removed = await plaid.itemRemove({ access_token: item.accessToken });
    expect(removed.status).toBe(200);
    expectRequestId(removed.data.request_id);
    const { status, error } = await plaidFailure(() => plaid.itemRemove({ access_token: item.accessToken }));
    expect(status).toBe(400);
    expect(error.error_code).toBe('INVALID_ACCESS_TOKEN');
  });
});

describe('the PlaidError checker itself', () => {
  it('rejects bodies that break the schema', () => {
    expect(plaidErrorViolations({ error_type: 'ITEM_ERROR', error_code: 'X', error_message: 'm' })).toEqual([
      'missing required display_message',
    ]);
    expect(
      plaidErrorViolations({ error_type: 'A', error_code: 'B', error_message: 'c', display_message: null, status: '400' }),
    ).toHaveLength(1);
    expect(plaidErrorViolations({ error_type: 'A', error_code: 'B', error_message: 'c', display_message: null, extra: 1 })).toEqual([]);
    expect(plaidErrorViolations('<html>')).toHaveLength(1);
  });
});

// ---- 5. What the official client sends is accepted as Plaid's wire format -----------------------

async function logFor(query: Record<string, string>): Promise<LoggedRequest[]> {
  return loggedRequests(simulator, `?${new URLSearchParams(query).toString()}`);
}

describe("the official client's requests are accepted as Plaid's wire format", () => {
  it('logs each refresh with its path, item_id and the request_id it answered', async () => {
    const item = await linkItem();
    const answers = {
      '/transactions/refresh': (await plaid.transactionsRefresh({ access_token: item.accessToken })).data.request_id,
      '/identity/refresh': (await plaid.identityRefresh({ access_token: item.accessToken })).data.request_id,
      '/cashflow_report/refresh': (await plaid.cashflowReportRefresh({ access_token: item.accessToken, days_requested: 365 })).data
        .request_id,
      '/sandbox/item/reset_login': (await plaid.sandboxItemResetLogin({ access_token: item.accessToken })).data.request_id,
    };
    const logged = await logFor({ item_id: item.itemId });
    expect(logged.map((r) => r.path)).toEqual(Object.keys(answers));
    for (const [path, requestId] of Object.entries(answers)) {
      const entry = logged.find((r) => r.path === path);
      expect(entry).toMatchObject({ path, item_id: item.itemId, status: 200, request_id: requestId, error_code: null, fault: null });
    }
    const byPath = await logFor({ path: '/transactions/refresh', item_id: item.itemId });
    expect(byPath).toHaveLength(1);
  });

  it('logs userFinancialDataRefresh with its user_id, and rejected calls with their error_code', async () => {
    const user = await plaid.userCreate({ client_user_id: `wire-${randomUUID()}` });
    await linkItem('ins_109508', user.data.user_id);
    const refreshed = await plaid.userFinancialDataRefresh({ user_id: user.data.user_id });
    const logged = await logFor({ path: '/user/financial_data/refresh', user_id: user.data.user_id });
    expect(logged).toHaveLength(1);
    expect(logged[0]).toMatchObject({ status: 200, user_id: user.data.user_id, request_id: refreshed.data.request_id });

    const { error } = await plaidFailure(() => plaid.identityRefresh({ access_token: `access-sandbox-${randomUUID()}` }));
    const rejected = (await logFor({ path: '/identity/refresh' })).find((r) => r.request_id === error.request_id);
    expect(rejected).toMatchObject({ path: '/identity/refresh', status: 400, item_id: null, error_code: 'INVALID_ACCESS_TOKEN' });
  });
});

describe('error request ids', () => {
  it('every error checked above carries a non-empty request_id, unique across the suite', () => {
    expect(checkedErrors.length).toBeGreaterThanOrEqual(15);
    const ids = checkedErrors.map((e) => e.request_id);
    for (const id of ids) {
      expect(typeof id).toBe('string');
      expect(id).not.toBe('');
    }
    expect(new Set(ids).size).toBe(ids.length);
  });
});
