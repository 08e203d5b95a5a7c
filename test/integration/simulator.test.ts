/** The simulator's own contract: Plaid's request checks, sandbox helpers, control API and faults. */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startSimulator, type Simulator } from '../../src/simulator/server.js';
import { loggedRequests, startTestSimulator } from '../helpers/simulator.js';

let simulator: Simulator;

beforeAll(async () => {
  simulator = await startTestSimulator();
});
afterAll(() => simulator.close());
beforeEach(() => simulator.state.reset());

async function post(path: string, body: unknown, headers: Record<string, string> = {}) {
  const response = await fetch(`${simulator.url}${path}`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'plaid-client-id': simulator.clientId,
      'plaid-secret': simulator.secret,
      'plaid-version': '2020-09-14',
      ...headers,
    },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

async function newItem(institutionId = 'ins_109508', products = ['transactions', 'identity']) {
  const created = await post('/sandbox/public_token/create', { institution_id: institutionId, initial_products: products });
  const exchanged = await post('/item/public_token/exchange', { public_token: created.body.public_token });
  return { accessToken: exchanged.body.access_token as string, itemId: exchanged.body.item_id as string };
}

describe("Plaid's request checks", () => {
  it.each([
    ['no credentials', { 'plaid-client-id': '', 'plaid-secret': '' }, 'INVALID_INPUT', 'INVALID_API_KEYS'],
    ['a wrong secret', { 'plaid-secret': 'nope' }, 'INVALID_INPUT', 'INVALID_API_KEYS'],
    ['a wrong client id', { 'plaid-client-id': 'nope' }, 'INVALID_INPUT', 'INVALID_API_KEYS'],
    ['an unknown Plaid-Version', { 'plaid-version': '2099-01-01' }, 'INVALID_REQUEST', 'INVALID_HEADERS'],
    ['a non-JSON content type', { 'content-type': 'text/plain' }, 'INVALID_REQUEST', 'INVALID_HEADERS'],
  ])('%s -> %s/%s (400)', async (_label, headers, type, code) => {
    const answer = await post('/transactions/refresh', { access_token: 'access-sandbox-x' }, headers);
    expect(answer.status).toBe(400);
    expect(answer.body).toMatchObject({ error_type: type, error_code: code });
  });

  it('accepts credentials in the body too, as Plaid does', async () => {
    const { accessToken } = await newItem();
    const answer = await post(
      '/identity/refresh',
      { access_token: accessToken, client_id: simulator.clientId, secret: simulator.secret },
      { 'plaid-client-id': '', 'plaid-secret': '' },
    );
    expect(answer.status).toBe(200);
  });

  it.each([
    ['/transactions/refresh', {}, 'MISSING_FIELDS', /access_token/],
    ['/cashflow_report/refresh', { access_token: 'access-sandbox-x' }, 'MISSING_FIELDS', /days_requested/],
    ['/user/financial_data/refresh', {}, 'MISSING_FIELDS', /user_id/],
    ['/identity/refresh', { access_token: 'a', extra: 1 }, 'UNKNOWN_FIELDS', /extra/],
    ['/identity/refresh', { access_token: 42 }, 'INVALID_FIELD', /access_token/],
    ['/cashflow_report/refresh', { access_token: 'a', days_requested: '30' }, 'INVALID_FIELD', /days_requested/],
  ])('%s %j -> INVALID_REQUEST/%s', async (path, body, code, message) => {
    const answer = await post(path, body);
    expect(answer.status).toBe(400);
    expect(answer.body).toMatchObject({ error_type: 'INVALID_REQUEST', error_code: code });
    expect(answer.body.error_message).toMatch(message);
  });

  it.each([0, 731, -5])('days_requested %i -> INVALID_FIELD', async (days) => {
    const { accessToken } = await newItem();
    const answer = await post('/cashflow_report/refresh', { access_token: accessToken, days_requested: days });
    expect(answer).toMatchObject({ status: 400, body: { error_type: 'INVALID_REQUEST', error_code: 'INVALID_FIELD' } });
  });

  it('unknown routes and GETs -> 404 NOT_FOUND', async () => {
    expect((await post('/transactions/get_everything', {})).status).toBe(404);
    const get = await fetch(`${simulator.url}/transactions/refresh`);
    expect(get.status).toBe(404);
  });

  it('malformed access tokens and unknown ones are INVALID_ACCESS_TOKEN', async () => {
    for (const token of ['not-a-token', 'access-sandbox-11111111-2222-4333-8444-555555555555']) {
      const answer = await post('/transactions/refresh', { access_token: token });
      expect(answer).toMatchObject({ status: 400, body: { error_type: 'INVALID_INPUT', error_code: 'INVALID_ACCESS_TOKEN' } });
    }
  });

  it('every answer carries a fresh request_id', async () => {
    const ids = new Set<unknown>();
    for (let i = 0; i < 5; i++) ids.add((await post('/user/financial_data/refresh', { user_id: 'usr_nobody' })).body.request_id);
    expect(ids.size).toBe(5);
  });
});

describe('sandbox helpers', () => {
  it('public tokens are single-use', async () => {
    const created = await post('/sandbox/public_token/create', { institution_id: 'ins_109508', initial_products: ['transactions'] });
    expect(created.body.public_token).toMatch(/^public-sandbox-/);
    const first = await post('/item/public_token/exchange', { public_token: created.body.public_token });
    expect(first.body.access_token).toMatch(/^access-sandbox-/);
    const second = await post('/item/public_token/exchange', { public_token: created.body.public_token });
    expect(second).toMatchObject({ status: 400, body: { error_code: 'INVALID_PUBLIC_TOKEN' } });
  });

  it('rejects unknown institutions and products', async () => {
    expect(
      (await post('/sandbox/public_token/create', { institution_id: 'ins_nope', initial_products: ['transactions'] })).body.error_code,
    ).toBe('INVALID_INSTITUTION');
    expect(
      (await post('/sandbox/public_token/create', { institution_id: 'ins_109508', initial_products: ['telepathy'] })).body.error_code,
    ).toBe('INVALID_FIELD');
  });

  it('reset_login puts a non-OAuth Item into ITEM_LOGIN_REQUIRED without a reason code', async () => {
    const { accessToken } = await newItem();
    expect((await post('/sandbox/item/reset_login', { access_token: accessToken })).body.reset_login).toBe(true);
    const answer = await post('/identity/refresh', { access_token: accessToken });
    expect(answer).toMatchObject({ status: 400, body: { error_code: 'ITEM_LOGIN_REQUIRED', error_code_reason: null } });
  });

  it('/user/create returns the same user for the same client_user_id', async () => {
    const a = await post('/user/create', { client_user_id: 'same-person' });
    const b = await post('/user/create', { client_user_id: 'same-person' });
    expect(a.body.user_id).toMatch(/^usr_/);
    expect(b.body.user_id).toBe(a.body.user_id);
  });

  it('a new user with no Items refreshes to an empty results list', async () => {
    const user = await post('/user/create', { client_user_id: 'lonely' });
    const answer = await post('/user/financial_data/refresh', { user_id: user.body.user_id });
    expect(answer).toMatchObject({ status: 200, body: { user_id: user.body.user_id, results: [] } });
  });

  it('sim_error_<CODE> usernames answer that catalogue error with its status', async () => {
    const created = await post('/sandbox/public_token/create', {
      institution_id: 'ins_109508',
      initial_products: ['transactions'],
      options: { override_username: 'sim_error_PLANNED_MAINTENANCE', override_password: 'pass_good' },
    });
    const exchanged = await post('/item/public_token/exchange', { public_token: created.body.public_token });
    const answer = await post('/transactions/refresh', { access_token: exchanged.body.access_token });
    expect(answer).toMatchObject({ status: 503, body: { error_type: 'API_ERROR', error_code: 'PLANNED_MAINTENANCE' } });
  });

  it('the per-client /transactions/refresh limit is TRANSACTIONS_REFRESH_LIMIT too, and rejected calls use no quota', async () => {
    const strict = await startSimulator({ port: 0, rules: { transactionsRefreshPerClient: 2, transactionsRefreshPerItem: 1 } });
    try {
      const call = async (path: string, body: unknown) => {
        const response = await fetch(`${strict.url}${path}`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'plaid-client-id': strict.clientId, 'plaid-secret': strict.secret },
          body: JSON.stringify(body),
        });
        return { status: response.status, body: (await response.json()) as Record<string, unknown> };
      };
      const tokens: string[] = [];
      for (let i = 0; i < 3; i++) {
        const created = await call('/sandbox/public_token/create', { institution_id: 'ins_109508', initial_products: ['transactions'] });
        tokens.push((await call('/item/public_token/exchange', { public_token: created.body.public_token })).body.access_token as string);
      }
      const codes = [];
      for (const token of [tokens[0], tokens[0], tokens[1], tokens[2]]) {
        const answer = await call('/transactions/refresh', { access_token: token });
        codes.push(`${answer.status} ${typeof answer.body.error_code === 'string' ? answer.body.error_code : 'ok'}`);
      }
      expect(codes).toEqual(['200 ok', '429 TRANSACTIONS_REFRESH_LIMIT', '200 ok', '429 TRANSACTIONS_REFRESH_LIMIT']);
    } finally {
      await strict.close();
    }
  });

  it('Unhealthy Platypus Bank - Degraded answers INSTITUTION_NOT_RESPONDING', async () => {
    const { accessToken } = await newItem('ins_132363');
    expect((await post('/identity/refresh', { access_token: accessToken })).body.error_code).toBe('INSTITUTION_NOT_RESPONDING');
  });
});

describe('control API and faults', () => {
  it('an error fault for the next N calls of an endpoint', async () => {
    const { accessToken } = await newItem();
    const added = await fetch(`${simulator.url}/simulator/faults`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        endpoint: '/identity/refresh',
        count: 2,
        effect: { type: 'error', error_code: 'INSTITUTION_NOT_RESPONDING' },
      }),
    });
    expect(added.status).toBe(201);
    const codes = [];
    for (let i = 0; i < 3; i++) codes.push((await post('/identity/refresh', { access_token: accessToken })).body.error_code ?? 'ok');
    expect(codes).toEqual(['INSTITUTION_NOT_RESPONDING', 'INSTITUTION_NOT_RESPONDING', 'ok']);
    // A fault on one endpoint leaves the others alone.
    expect((await post('/transactions/refresh', { access_token: accessToken })).status).toBe(200);
  });

  it('rejects a fault it does not understand, with the reason', async () => {
    const response = await fetch(`${simulator.url}/simulator/faults`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ effect: { type: 'meteor' } }),
    });
    expect(response.status).toBe(400);
    expect(await response.text()).toMatch(/effect/);
  });

  it('faults can be listed and removed', async () => {
    simulator.state.addFault({ effect: { type: 'html_502' } });
    const listed = (await (await fetch(`${simulator.url}/simulator/faults`)).json()) as { faults: { id: string }[] };
    expect(listed.faults).toHaveLength(1);
    const removed = await fetch(`${simulator.url}/simulator/faults/${listed.faults[0]?.id}`, { method: 'DELETE' });
    expect(removed.status).toBe(200);
    expect(simulator.state.listFaults()).toHaveLength(0);
  });

  it('the request log records path, Item, status and fault, and filters', async () => {
    const a = await newItem();
    await post('/transactions/refresh', { access_token: a.accessToken });
    simulator.state.addFault({ item_id: a.itemId, count: 1, effect: { type: 'error', error_code: 'INTERNAL_SERVER_ERROR' } });
    await post('/identity/refresh', { access_token: a.accessToken });
    const log = await loggedRequests(simulator, `?item_id=${a.itemId}`);
    expect(log.map((e) => [e.path, e.status, e.error_code, e.fault])).toEqual([
      ['/transactions/refresh', 200, null, null],
      ['/identity/refresh', 500, 'INTERNAL_SERVER_ERROR', 'error'],
    ]);
    expect(await loggedRequests(simulator, '?path=/identity/refresh')).toHaveLength(1);
    await fetch(`${simulator.url}/simulator/requests`, { method: 'DELETE' });
    expect(await loggedRequests(simulator)).toHaveLength(0);
  });

  it('the control API does not exist unless it is switched on', async () => {
    const plain = await startSimulator({ port: 0 });
    try {
      const response = await fetch(`${plain.url}/simulator/requests`);
      expect(response.status).toBe(404);
      expect(await response.json()).toMatchObject({ error_code: 'NOT_FOUND' });
      const fault = await fetch(`${plain.url}/simulator/faults`, { method: 'POST', body: '{"effect":{"type":"html_502"}}' });
      expect(fault.status).toBe(404);
      expect(plain.state.listFaults()).toHaveLength(0);
    } finally {
      await plain.close();
    }
  });
});

// ---- Link tokens and Plaid Link (l14) --------------------------------------------------------

const LINK_BASE = { client_name: 'Tests', language: 'en', country_codes: ['US'], user: { client_user_id: 'viewer-1' } };

async function complete(body: Record<string, unknown>) {
  const response = await fetch(`${simulator.url}/simulator/link/complete`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

describe('/link/token/create and Link completed by the control API', () => {
  it.each([
    ['no client_name', { ...LINK_BASE, client_name: undefined, products: ['transactions'] }, 'MISSING_FIELDS', /client_name/],
    ['no language', { ...LINK_BASE, language: undefined, products: ['transactions'] }, 'MISSING_FIELDS', /language/],
    ['no country_codes', { ...LINK_BASE, country_codes: undefined, products: ['transactions'] }, 'MISSING_FIELDS', /country_codes/],
    ['no user', { ...LINK_BASE, user: undefined, products: ['transactions'] }, 'MISSING_FIELDS', /user\.client_user_id/],
    ['a user without client_user_id', { ...LINK_BASE, user: {}, products: ['transactions'] }, 'MISSING_FIELDS', /user\.client_user_id/],
    ['no products outside update mode', LINK_BASE, 'MISSING_FIELDS', /products/],
    ['empty products', { ...LINK_BASE, products: [] }, 'INVALID_FIELD', /at least one/],
    ['balance among the products', { ...LINK_BASE, products: ['balance'] }, 'INVALID_FIELD', /balance/],
    ['an unknown language', { ...LINK_BASE, language: 'xx', products: ['transactions'] }, 'INVALID_FIELD', /language/],
    ['an unknown country', { ...LINK_BASE, country_codes: ['ZZ'], products: ['transactions'] }, 'INVALID_FIELD', /country_codes/],
    ['a webhook that is no URL', { ...LINK_BASE, products: ['transactions'], webhook: 'nope' }, 'INVALID_FIELD', /webhook/],
    ['an unknown field', { ...LINK_BASE, products: ['transactions'], surprise: 1 }, 'UNKNOWN_FIELDS', /surprise/],
    ['a malformed user_id', { ...LINK_BASE, products: ['transactions'], user_id: 'nope' }, 'INVALID_USER_ID', /./],
    ['an unknown user_id', { ...LINK_BASE, products: ['transactions'], user_id: 'usr_nobody' }, 'USER_NOT_FOUND', /./],
    [
      'an unknown access_token',
      { ...LINK_BASE, access_token: 'access-sandbox-00000000-0000-4000-8000-000000000000' },
      'INVALID_ACCESS_TOKEN',
      /./,
    ],
  ])('%s -> %s', async (_label, body, code, message) => {
    const answer = await post('/link/token/create', body);
    expect(answer.status).toBe(400);
    expect(answer.body).toMatchObject({ error_code: code });
    expect(answer.body.error_message).toMatch(message);
  });

  it('a new Item: link_token (4 hours), Link completed with the chosen bank and test user, the token’s webhook and user on the Item', async () => {
    const user = await post('/user/create', { client_user_id: 'viewer-link' });
    const created = await post('/link/token/create', {
      ...LINK_BASE,
      products: ['transactions'],
      user_id: user.body.user_id,
      webhook: 'https://hooks.example.com/plaid',
    });
    expect(created.status).toBe(200);
    expect(created.body).toMatchObject({
      link_token: expect.stringMatching(/^link-sandbox-/) as unknown,
      request_id: expect.any(String) as unknown,
    });
    const hours = (Date.parse(created.body.expiration as string) - Date.now()) / 3_600_000;
    expect(hours).toBeGreaterThan(3.9);
    expect(hours).toBeLessThanOrEqual(4);

    const done = await complete({ link_token: created.body.link_token, institution_id: 'ins_109509' });
    expect(done).toMatchObject({ status: 200, body: { item_id: null, update_mode: false } });
    const exchanged = await post('/item/public_token/exchange', { public_token: done.body.public_token });
    const item = simulator.state.items.get(exchanged.body.item_id as string);
    expect(item).toMatchObject({
      institutionId: 'ins_109509',
      username: 'user_good',
      userId: user.body.user_id,
      webhook: 'https://hooks.example.com/plaid',
    });
    expect([...(item?.products ?? [])]).toEqual(['transactions']);
    expect(simulator.state.users.get(user.body.user_id as string)?.itemIds).toEqual([exchanged.body.item_id]);

    // One Link session per token.
    expect(await complete({ link_token: created.body.link_token })).toMatchObject({
      status: 400,
      body: { error_code: 'INVALID_LINK_TOKEN' },
    });
  });

  it('update mode: no products needed, 30 minutes; Link repairs the Item and gives a public token of that same Item', async () => {
    const { accessToken, itemId } = await newItem();
    await post('/sandbox/item/reset_login', { access_token: accessToken });
    expect((await post('/identity/refresh', { access_token: accessToken })).body).toMatchObject({ error_code: 'ITEM_LOGIN_REQUIRED' });

    const created = await post('/link/token/create', { ...LINK_BASE, access_token: accessToken });
    expect(created.status).toBe(200);
    const minutes = (Date.parse(created.body.expiration as string) - Date.now()) / 60_000;
    expect(minutes).toBeGreaterThan(29);
    expect(minutes).toBeLessThanOrEqual(30);
    expect((await loggedRequests(simulator, '?path=/link/token/create'))[0]).toMatchObject({ item_id: itemId, status: 200 });

    const done = await complete({ link_token: created.body.link_token });
    expect(done).toMatchObject({ status: 200, body: { item_id: itemId, update_mode: true } });
    expect((await post('/identity/refresh', { access_token: accessToken })).status).toBe(200);
    // The exchange is not needed after update mode; made anyway, it answers the same Item and token.
    const exchanged = await post('/item/public_token/exchange', { public_token: done.body.public_token });
    expect(exchanged.body).toMatchObject({ item_id: itemId, access_token: accessToken });
    expect((await post('/item/public_token/exchange', { public_token: done.body.public_token })).body).toMatchObject({
      error_code: 'INVALID_PUBLIC_TOKEN',
    });
  });

  it('completing Link: unknown tokens, unknown banks and removed Items are refused with Link’s error code', async () => {
    expect(await complete({ link_token: 'link-sandbox-nope' })).toMatchObject({ status: 400, body: { error_code: 'INVALID_LINK_TOKEN' } });
    const created = await post('/link/token/create', { ...LINK_BASE, products: ['identity'] });
    expect(await complete({ link_token: created.body.link_token, institution_id: 'ins_nope' })).toMatchObject({
      status: 400,
      body: { error_code: 'INVALID_INSTITUTION' },
    });
    const { accessToken } = await newItem();
    const update = await post('/link/token/create', { ...LINK_BASE, access_token: accessToken });
    await post('/item/remove', { access_token: accessToken });
    expect(await complete({ link_token: update.body.link_token })).toMatchObject({ status: 400, body: { error_code: 'ITEM_NOT_FOUND' } });
    expect(await complete({})).toMatchObject({ status: 400 });
  });

  it('/item/remove ends the Item: its access token answers INVALID_ACCESS_TOKEN from then on', async () => {
    const { accessToken, itemId } = await newItem();
    expect((await post('/item/remove', { access_token: accessToken })).status).toBe(200);
    expect(simulator.state.removed.has(itemId)).toBe(true);
    expect((await post('/item/remove', { access_token: accessToken })).body).toMatchObject({ error_code: 'INVALID_ACCESS_TOKEN' });
    expect((await post('/transactions/refresh', { access_token: accessToken })).body).toMatchObject({ error_code: 'INVALID_ACCESS_TOKEN' });
  });
});
