/**
 * The simulator plays Plaid's part in webhooks: it signs them as Plaid does, serves the keys, sends
 * what each refresh leads to (per fixture user), retries like Plaid, fires test webhooks, and injects
 * delivery faults. A small receiver here verifies every webhook exactly as Plaid's docs say
 * (plaid.com/docs/api/webhooks/webhook-verification/); the service's own verifier is not used.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { compactVerify, decodeProtectedHeader, importJWK, type JWK } from 'jose';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Simulator, SimulatorOptions } from '../../src/simulator/server.js';
import { plaidPost, startTestSimulator } from '../helpers/simulator.js';

// ---- Plaid's verification, as its docs describe it --------------------------------------------

type Verdict = { ok: true; iat: number; kid: string } | { ok: false; reason: string };

const MAX_AGE_SECONDS = 5 * 60;

/** Verifies one webhook: the JWT header (ES256 only), the key by kid, the signature, iat, and the body's SHA-256. */
async function verifyWebhook(simulator: Simulator, raw: Buffer, headers: IncomingHttpHeaders): Promise<Verdict> {
  const token = headers['plaid-verification'];
  if (typeof token !== 'string' || token === '') return { ok: false, reason: 'no Plaid-Verification header' };
  let kid: string;
  try {
    const header = decodeProtectedHeader(token);
    if (header.alg !== 'ES256') return { ok: false, reason: `alg ${String(header.alg)}` };
    if (typeof header.kid !== 'string') return { ok: false, reason: 'no kid' };
    kid = header.kid;
  } catch {
    return { ok: false, reason: 'malformed JWT' };
  }
  const answer = await plaidPost(simulator, '/webhook_verification_key/get', { key_id: kid });
  if (answer.status !== 200) return { ok: false, reason: `key ${kid}: ${String(answer.body.error_code)}` };
  let claims: { iat?: unknown; request_body_sha256?: unknown };
  try {
    const key = await importJWK(answer.body.key as JWK, 'ES256');
    const { payload } = await compactVerify(token, key);
    claims = JSON.parse(new TextDecoder().decode(payload)) as typeof claims;
  } catch {
    return { ok: false, reason: 'signature' };
  }
  if (typeof claims.iat !== 'number' || Date.now() / 1000 - claims.iat > MAX_AGE_SECONDS) return { ok: false, reason: 'iat' };
  const actual = Buffer.from(createHash('sha256').update(raw).digest('hex'));
  const claimed = Buffer.from(typeof claims.request_body_sha256 === 'string' ? claims.request_body_sha256 : '');
  if (actual.length !== claimed.length || !timingSafeEqual(actual, claimed)) return { ok: false, reason: 'body hash' };
  return { ok: true, iat: claims.iat, kid };
}

// ---- a receiver on port 0 ---------------------------------------------------------------------

interface Received {
  readonly at: number;
  readonly headers: IncomingHttpHeaders;
  readonly raw: Buffer;
  readonly body: Record<string, unknown>;
  readonly verdict: Verdict;
  readonly answered: number;
}

class Receiver {
  readonly received: Received[] = [];
  /** The status to answer; by default 200 for a verified webhook, 400 otherwise. */
  answer: (verdict: Verdict, index: number) => number | 'hang' = (verdict) => (verdict.ok ? 200 : 400);
  private server: Server | null = null;
  url = '';
  /** The simulator whose keys verify what arrives (the one the test sends from). */
  keysFrom: Simulator;

  constructor(simulator: Simulator) {
    this.keysFrom = simulator;
  }

  async start(): Promise<this> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        const raw = Buffer.concat(chunks);
        void verifyWebhook(this.keysFrom, raw, req.headers).then((verdict) => {
          const answered = this.answer(verdict, this.received.length);
          this.received.push({
            at: Date.now(),
            headers: req.headers,
            raw,
            body: JSON.parse(raw.toString('utf8')) as Record<string, unknown>,
            verdict,
            answered: answered === 'hang' ? 0 : answered,
          });
          if (answered !== 'hang') res.writeHead(answered, { 'content-type': 'text/plain' }).end('ok');
        });
      });
    });
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/webhooks/plaid`;
    return this;
  }

  codes(): string[] {
    return this.received.map((r) => `${String(r.body.webhook_type)}/${String(r.body.webhook_code)}`);
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }
}

// ---- shared simulator ---------------------------------------------------------------------------

let simulator: Simulator;
let receiver: Receiver;

async function startWith(options: SimulatorOptions = {}): Promise<Simulator> {
  return startTestSimulator({ webhookDelayMs: 10, webhookRetryScale: 0.001, ...options });
}

beforeAll(async () => {
  simulator = await startWith();
});
afterAll(() => simulator.close());
beforeEach(async () => {
  simulator.webhooks.reset();
  receiver = await new Receiver(simulator).start();
});
afterEach(() => receiver.stop());

const post = (path: string, body: unknown) => plaidPost(simulator, path, body);

interface LinkOptions {
  readonly username?: string;
  readonly products?: readonly string[];
  readonly webhook?: string | null;
  readonly userId?: string;
  readonly institutionId?: string;
}

async function link(options: LinkOptions = {}, on: Simulator = simulator) {
  const created = await plaidPost(on, '/sandbox/public_token/create', {
    institution_id: options.institutionId ?? 'ins_109508',
    initial_products: options.products ?? ['transactions', 'identity'],
    options: {
      override_username: options.username ?? 'user_good',
      override_password: 'pass_good',
      ...(options.webhook === null ? {} : { webhook: options.webhook ?? receiver.url }),
    },
    ...(options.userId ? { user_id: options.userId } : {}),
  });
  expect(created.status).toBe(200);
  const exchanged = await plaidPost(on, '/item/public_token/exchange', { public_token: created.body.public_token });
  return { accessToken: exchanged.body.access_token as string, itemId: exchanged.body.item_id as string };
}

/** Waits until every webhook queued so far was delivered (or given up on). */
const settled = (on: Simulator = simulator) => on.webhooks.idle();

function expectAllVerified() {
  expect(receiver.received.map((r) => r.verdict)).toEqual(receiver.received.map(() => expect.objectContaining({ ok: true }) as unknown));
}

// ---- keys -------------------------------------------------------------------------------------

describe('/webhook_verification_key/get', () => {
  it("answers the current key as Plaid's JWKPublicKey", async () => {
    const answer = await post('/webhook_verification_key/get', { key_id: simulator.webhooks.keys.currentKid });
    expect(answer.status).toBe(200);
    expect(answer.body).toEqual({
      key: {
        alg: 'ES256',
        crv: 'P-256',
        kty: 'EC',
        use: 'sig',
        kid: simulator.webhooks.keys.currentKid,
        x: expect.stringMatching(/^[\w-]{43}$/) as unknown,
        y: expect.stringMatching(/^[\w-]{43}$/) as unknown,
        created_at: expect.any(Number) as unknown,
        expired_at: null,
      },
      request_id: expect.any(String) as unknown,
    });
  });

  it('an unknown kid is 400 INVALID_INPUT / INVALID_WEBHOOK_VERIFICATION_KEY_ID; credentials and fields are checked as anywhere', async () => {
    const unknown = await post('/webhook_verification_key/get', { key_id: 'bfbd5111-8e33-4643-8ced-b2e642a72f3c' });
    expect(unknown).toMatchObject({
      status: 400,
      body: { error_type: 'INVALID_INPUT', error_code: 'INVALID_WEBHOOK_VERIFICATION_KEY_ID' },
    });
    expect((await post('/webhook_verification_key/get', {})).body.error_code).toBe('MISSING_FIELDS');
    const wrongSecret = await fetch(`${simulator.url}/webhook_verification_key/get`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'plaid-client-id': simulator.clientId, 'plaid-secret': 'nope' },
      body: JSON.stringify({ key_id: simulator.webhooks.keys.currentKid }),
    });
    expect(wrongSecret.status).toBe(400);
    expect(((await wrongSecret.json()) as { error_code: string }).error_code).toBe('INVALID_API_KEYS');
  });

  it('rotation: a new current key, the old one still served with expired_at; webhooks after it use the new kid', async () => {
    const item = await link();
    await post('/sandbox/item/fire_webhook', { access_token: item.accessToken, webhook_code: 'DEFAULT_UPDATE' });
    await settled();
    const before = simulator.webhooks.keys.currentKid;
    const rotated = await fetch(`${simulator.url}/simulator/webhook-keys/rotate`, { method: 'POST' });
    expect(rotated.status).toBe(201);
    const { key } = (await rotated.json()) as { key: { kid: string; expired_at: number | null } };
    expect(key.kid).not.toBe(before);
    expect(key.expired_at).toBeNull();

    const old = await post('/webhook_verification_key/get', { key_id: before });
    expect(old.status).toBe(200);
    expect((old.body.key as { expired_at: unknown }).expired_at).toEqual(expect.any(Number) as unknown);
    const listed = (await (await fetch(`${simulator.url}/simulator/webhook-keys`)).json()) as {
      current_kid: string;
      keys: { kid: string }[];
    };
    expect(listed.current_kid).toBe(key.kid);
    expect(listed.keys.map((k) => k.kid)).toEqual(expect.arrayContaining([before, key.kid]) as unknown);

    await post('/sandbox/item/fire_webhook', { access_token: item.accessToken, webhook_code: 'DEFAULT_UPDATE' });
    await settled();
    expectAllVerified();
    expect(receiver.received.map((r) => (r.verdict.ok ? r.verdict.kid : null))).toEqual([before, key.kid]);
  });

  it('webhookKeyRotationMs rotates on its own', async () => {
    const rotating = await startWith({ webhookKeyRotationMs: 20 });
    try {
      const first = rotating.webhooks.keys.currentKid;
      await sleep(150);
      expect(rotating.webhooks.keys.currentKid).not.toBe(first);
      const keys = rotating.webhooks.keys.list();
      expect(keys.length).toBeGreaterThanOrEqual(2);
      expect(keys.filter((k) => k.expired_at === null)).toHaveLength(1);
    } finally {
      await rotating.close();
    }
  });
});

// ---- what each refresh sends ----------------------------------------------------------------

describe('what a refresh sends, signed as Plaid signs', () => {
  it('user_good, /transactions/refresh: DEFAULT_UPDATE with new_transactions, then SYNC_UPDATES_AVAILABLE', async () => {
    const item = await link();
    expect((await post('/transactions/refresh', { access_token: item.accessToken })).status).toBe(200);
    await settled();
    expect(receiver.codes()).toEqual(['TRANSACTIONS/DEFAULT_UPDATE', 'TRANSACTIONS/SYNC_UPDATES_AVAILABLE']);
    expectAllVerified();
    const [update, sync] = receiver.received;
    expect(update?.body).toEqual({
      webhook_type: 'TRANSACTIONS',
      webhook_code: 'DEFAULT_UPDATE',
      item_id: item.itemId,
      error: null,
      new_transactions: 3,
      environment: 'sandbox',
    });
    expect(sync?.body).toEqual({
      webhook_type: 'TRANSACTIONS',
      webhook_code: 'SYNC_UPDATES_AVAILABLE',
      item_id: item.itemId,
      initial_update_complete: true,
      historical_update_complete: true,
      environment: 'sandbox',
    });
    // The exact bytes: 2-space indentation, as Plaid serialises, and JSON's content type.
    expect(update?.raw.toString('utf8')).toBe(JSON.stringify(update?.body, null, 2));
    expect(update?.headers['content-type']).toBe('application/json');
    const [header] = (update?.headers['plaid-verification'] as string).split('.');
    expect(JSON.parse(Buffer.from(header ?? '', 'base64url').toString('utf8'))).toEqual({
      alg: 'ES256',
      kid: simulator.webhooks.keys.currentKid,
      typ: 'JWT',
    });
  });

  it('sim_webhook_removed: TRANSACTIONS_REMOVED with the removed ids', async () => {
    const item = await link({ username: 'sim_webhook_removed' });
    await post('/transactions/refresh', { access_token: item.accessToken });
    await settled();
    expect(receiver.codes()).toEqual(['TRANSACTIONS/TRANSACTIONS_REMOVED', 'TRANSACTIONS/SYNC_UPDATES_AVAILABLE']);
    expect(receiver.received[0]?.body).toMatchObject({
      item_id: item.itemId,
      removed_transactions: [expect.any(String) as unknown, expect.any(String) as unknown],
      error: null,
      environment: 'sandbox',
    });
    expectAllVerified();
  });

  it('sim_webhook_quiet: refreshes are accepted and nothing is sent (nothing pending, nothing within a window)', async () => {
    const item = await link({ username: 'sim_webhook_quiet' });
    expect((await post('/transactions/refresh', { access_token: item.accessToken })).status).toBe(200);
    expect((await post('/identity/refresh', { access_token: item.accessToken })).status).toBe(200);
    expect((await post('/cashflow_report/refresh', { access_token: item.accessToken, days_requested: 30 })).status).toBe(200);
    const listed = (await (await fetch(`${simulator.url}/simulator/webhooks?item_id=${item.itemId}`)).json()) as {
      deliveries: unknown[];
      pending: number;
    };
    expect(listed).toEqual({ deliveries: [], pending: 0 });
    await sleep(250);
    expect(receiver.received).toEqual([]);
  });

  it('user_good, /identity/refresh: no change, no webhook; sim_webhook_identity: IDENTITY / DEFAULT_UPDATE', async () => {
    const good = await link();
    await post('/identity/refresh', { access_token: good.accessToken });
    const changed = await link({ username: 'sim_webhook_identity' });
    await post('/identity/refresh', { access_token: changed.accessToken });
    await settled();
    expect(receiver.codes()).toEqual(['IDENTITY/DEFAULT_UPDATE']);
    const body = receiver.received[0]?.body ?? {};
    expect(body).toMatchObject({ item_id: changed.itemId, error: null, environment: 'sandbox' });
    const updated = body.account_ids_with_updated_identity as Record<string, string[]>;
    expect(Object.keys(updated)).toHaveLength(2);
    for (const kinds of Object.values(updated)) {
      for (const kind of kinds) expect(['PHONES', 'ADDRESSES', 'EMAILS', 'NAMES']).toContain(kind);
    }
    expectAllVerified();
  });

  it('/cashflow_report/refresh: CASHFLOW_REPORT_READY (invented payload), with the error for sim_webhook_cashflow_failed', async () => {
    const ready = await link();
    await post('/cashflow_report/refresh', { access_token: ready.accessToken, days_requested: 365 });
    await settled();
    const failed = await link({ username: 'sim_webhook_cashflow_failed' });
    await post('/cashflow_report/refresh', { access_token: failed.accessToken, days_requested: 365 });
    await settled();
    expect(receiver.received.map((r) => r.body)).toEqual([
      {
        webhook_type: 'CASHFLOW_REPORT',
        webhook_code: 'CASHFLOW_REPORT_READY',
        item_id: ready.itemId,
        error: null,
        environment: 'sandbox',
      },
      {
        webhook_type: 'CASHFLOW_REPORT',
        webhook_code: 'CASHFLOW_REPORT_READY',
        item_id: failed.itemId,
        error: expect.objectContaining({
          error_type: 'INSTITUTION_ERROR',
          error_code: 'INSTITUTION_NOT_RESPONDING',
          status: 400,
        }) as unknown,
        environment: 'sandbox',
      },
    ]);
    expectAllVerified();
  });

  it('sim_webhook_item_error: the refresh is accepted, then ITEM / ERROR ITEM_LOGIN_REQUIRED; the next refresh answers the error and sends nothing', async () => {
    const item = await link({ username: 'sim_webhook_item_error' });
    expect((await post('/transactions/refresh', { access_token: item.accessToken })).status).toBe(200);
    await settled();
    expect(receiver.codes()).toEqual(['ITEM/ERROR']);
    const error = receiver.received[0]?.body.error as Record<string, unknown>;
    expect(error).toMatchObject({ error_type: 'ITEM_ERROR', error_code: 'ITEM_LOGIN_REQUIRED', error_code_reason: null, status: 400 });
    // Plaid: request_id "will be omitted in errors provided by webhooks".
    expect(error).not.toHaveProperty('request_id');
    const again = await post('/identity/refresh', { access_token: item.accessToken });
    expect(again).toMatchObject({ status: 400, body: { error_code: 'ITEM_LOGIN_REQUIRED' } });
    expect((await post('/item/get', { access_token: item.accessToken })).body.item).toMatchObject({
      error: { error_code: 'ITEM_LOGIN_REQUIRED' },
    });
    await sleep(100);
    expect(receiver.received).toHaveLength(1);
    expectAllVerified();
  });

  it('/sandbox/item/reset_login sends ITEM / ERROR (OAuth: with the reason); a refresh of that Item answers the error, no webhook', async () => {
    const item = await link({ institutionId: 'ins_127287' });
    await post('/sandbox/item/reset_login', { access_token: item.accessToken });
    await settled();
    expect(receiver.codes()).toEqual(['ITEM/ERROR']);
    expect(receiver.received[0]?.body.error).toMatchObject({ error_code: 'ITEM_LOGIN_REQUIRED', error_code_reason: 'OAUTH_INVALID_TOKEN' });
    expect((await post('/transactions/refresh', { access_token: item.accessToken })).status).toBe(400);
    await sleep(100);
    expect(receiver.received).toHaveLength(1);
  });

  it('an Item without a webhook URL gets nothing; errors answered synchronously send nothing', async () => {
    const silent = await link({ webhook: null });
    await post('/transactions/refresh', { access_token: silent.accessToken });
    const down = await link({ institutionId: 'ins_132361' });
    expect((await post('/transactions/refresh', { access_token: down.accessToken })).body.error_code).toBe('INSTITUTION_DOWN');
    const forced = await link({ username: 'sim_error_INTERNAL_SERVER_ERROR' });
    expect((await post('/identity/refresh', { access_token: forced.accessToken })).status).toBe(500);
    expect(simulator.webhooks.pendingCount).toBe(0);
    await sleep(100);
    expect(receiver.received).toEqual([]);
  });

  it("/user/financial_data/refresh: each successful Item's product webhooks, with user_id; Items in error send nothing", async () => {
    const user = await post('/user/create', { client_user_id: `bundle-${Date.now()}` });
    const userId = user.body.user_id as string;
    const full = await link({ userId, products: ['transactions', 'investments', 'liabilities'] });
    const broken = await link({ userId, webhook: null });
    await post('/sandbox/item/reset_login', { access_token: broken.accessToken });
    const removed = await link({ userId, username: 'sim_webhook_removed' });
    const failing = await link({ userId, username: 'sim_webhook_item_error' });
    const answer = await post('/user/financial_data/refresh', { user_id: userId });
    expect(answer.status).toBe(200);
    await settled();
    const byItem = (itemId: string) =>
      receiver.received
        .filter((r) => r.body.item_id === itemId)
        .map((r) => `${String(r.body.webhook_type)}/${String(r.body.webhook_code)}`);
    expect(byItem(full.itemId)).toEqual([
      'TRANSACTIONS/DEFAULT_UPDATE',
      'TRANSACTIONS/SYNC_UPDATES_AVAILABLE',
      'INVESTMENTS_TRANSACTIONS/DEFAULT_UPDATE',
      'HOLDINGS/DEFAULT_UPDATE',
      'LIABILITIES/DEFAULT_UPDATE',
    ]);
    expect(byItem(removed.itemId)).toEqual(['TRANSACTIONS/TRANSACTIONS_REMOVED', 'TRANSACTIONS/SYNC_UPDATES_AVAILABLE']);
    expect(byItem(failing.itemId)).toEqual(['ITEM/ERROR']);
    expect(byItem(broken.itemId)).toEqual([]);
    for (const r of receiver.received) expect(r.body.user_id).toBe(userId);
    expect(receiver.received.find((r) => r.body.webhook_type === 'HOLDINGS')?.body).toMatchObject({ new_holdings: 1, updated_holdings: 2 });
    expect(receiver.received.find((r) => r.body.webhook_type === 'INVESTMENTS_TRANSACTIONS')?.body).toMatchObject({
      new_investments_transactions: 2,
      cancelled_investments_transactions: 0,
    });
    expect(receiver.received.find((r) => r.body.webhook_type === 'LIABILITIES')?.body).toMatchObject({
      account_ids_with_new_liabilities: [],
      account_ids_with_updated_liabilities: expect.any(Object) as unknown,
    });
    expectAllVerified();
  });
});

// ---- delivery: retries, failures, close -------------------------------------------------------

describe("delivery as Plaid's: retries on anything but 200", () => {
  it('a receiver answering 500 gets 7 attempts, 30 s then ×4 each (scaled), then the simulator gives up', async () => {
    const fast = await startWith({ webhookRetryScale: 0.0001 });
    receiver.keysFrom = fast;
    try {
      receiver.answer = () => 500;
      const item = await link({}, fast);
      await plaidPost(fast, '/sandbox/item/fire_webhook', { access_token: item.accessToken, webhook_code: 'SYNC_UPDATES_AVAILABLE' });
      await fast.webhooks.idle();
      const deliveries = fast.webhooks.deliveries({ itemId: item.itemId });
      expect(deliveries.map((d) => [d.attempt, d.status])).toEqual([1, 2, 3, 4, 5, 6, 7].map((n) => [n, 500]));
      // Plaid's waits, ×0.0001: 30 s, 2 min, 8 min, 32 min, 128 min, 512 min (the next would pass 24 h).
      expect(deliveries.map((d) => d.retryInMs)).toEqual([3, 12, 48, 192, 768, 3072, null]);
      const gaps = receiver.received.slice(1).map((r, i) => r.at - (receiver.received[i]?.at ?? 0));
      [3, 12, 48, 192, 768, 3072].forEach((wait, i) => expect(gaps[i]).toBeGreaterThanOrEqual(wait - 2));
      expect(new Set(receiver.received.map((r) => r.raw.toString('utf8'))).size).toBe(1);
      expect(receiver.received.every((r) => r.verdict.ok)).toBe(true);
      expect(fast.webhooks.pendingCount).toBe(0);
    } finally {
      await fast.close();
    }
  });

  it('a 500 and then a 200: one retry, and no more', async () => {
    receiver.answer = (_verdict, index) => (index === 0 ? 500 : 200);
    const item = await link();
    await post('/sandbox/item/fire_webhook', { access_token: item.accessToken, webhook_code: 'DEFAULT_UPDATE' });
    await settled();
    expect(simulator.webhooks.deliveries({ itemId: item.itemId }).map((d) => [d.attempt, d.status, d.retryInMs])).toEqual([
      [1, 500, 30],
      [2, 200, null],
    ]);
  });

  it('a refused connection and a receiver slower than the timeout are retried; the simulator carries on', async () => {
    const timing = await startWith({ webhookTimeoutMs: 100, webhookRetryScale: 0.00003 });
    receiver.keysFrom = timing;
    try {
      receiver.answer = (_verdict, index) => (index === 0 ? 'hang' : 200);
      const slow = await link({}, timing);
      await plaidPost(timing, '/sandbox/item/fire_webhook', { access_token: slow.accessToken, webhook_code: 'DEFAULT_UPDATE' });
      const dead = await link({ webhook: 'http://127.0.0.1:9/nobody-listens' }, timing);
      await plaidPost(timing, '/sandbox/item/fire_webhook', { access_token: dead.accessToken, webhook_code: 'DEFAULT_UPDATE' });
      // The simulator still answers while deliveries fail.
      expect((await plaidPost(timing, '/item/get', { access_token: slow.accessToken })).status).toBe(200);
      await timing.webhooks.idle();
      expect(timing.webhooks.deliveries({ itemId: slow.itemId }).map((d) => [d.status, d.error])).toEqual([
        [null, 'timeout'],
        [200, null],
      ]);
      const refused = timing.webhooks.deliveries({ itemId: dead.itemId });
      expect(refused).toHaveLength(7);
      expect(refused.every((d) => d.status === null && d.error === 'ECONNREFUSED')).toBe(true);
    } finally {
      await timing.close();
    }
  });

  it('close() stops pending deliveries and retries, promptly, even with a receiver that hangs', async () => {
    const closing = await startWith({ webhookRetryScale: 1 });
    receiver.keysFrom = closing;
    receiver.answer = () => 'hang';
    const item = await link({}, closing);
    await plaidPost(closing, '/transactions/refresh', { access_token: item.accessToken });
    const other = await link({ username: 'sim_webhook_removed' }, closing);
    await plaidPost(closing, '/transactions/refresh', { access_token: other.accessToken });
    await sleep(100);
    expect(closing.webhooks.pendingCount).toBe(4);
    const started = Date.now();
    await closing.close();
    expect(Date.now() - started).toBeLessThan(1_500);
    expect(closing.webhooks.pendingCount).toBe(0);
    const seen = receiver.received.length;
    await sleep(100);
    expect(receiver.received.length).toBe(seen);
  });

  it('POST /simulator/reset drops pending deliveries and the log', async () => {
    // A delay long enough that the reset surely comes first, even on a loaded machine.
    const resetting = await startWith({ webhookDelayMs: 2_000 });
    try {
      const item = await link({}, resetting);
      await plaidPost(resetting, '/transactions/refresh', { access_token: item.accessToken });
      expect(resetting.webhooks.pendingCount).toBe(2);
      await fetch(`${resetting.url}/simulator/reset`, { method: 'POST' });
      expect(resetting.webhooks.pendingCount).toBe(0);
      await sleep(2_200);
      expect(receiver.received).toEqual([]);
      expect(resetting.webhooks.deliveries()).toEqual([]);
    } finally {
      await resetting.close();
    }
  });
});

// ---- the delivery log -----------------------------------------------------------------------

describe('GET /simulator/webhooks', () => {
  it('lists every attempt with url, body, signature, status, attempt and time, filtered by Item and code', async () => {
    const item = await link();
    await post('/transactions/refresh', { access_token: item.accessToken });
    await settled();
    const response = await fetch(`${simulator.url}/simulator/webhooks?item_id=${item.itemId}&webhook_code=DEFAULT_UPDATE`);
    const listed = (await response.json()) as { deliveries: Record<string, unknown>[]; pending: number };
    expect(listed.pending).toBe(0);
    expect(listed.deliveries).toEqual([
      {
        seq: expect.any(Number) as unknown,
        id: expect.stringMatching(/^whk_/) as unknown,
        at: expect.any(String) as unknown,
        url: receiver.url,
        item_id: item.itemId,
        webhook_type: 'TRANSACTIONS',
        webhook_code: 'DEFAULT_UPDATE',
        body: receiver.received[0]?.raw.toString('utf8'),
        plaid_verification: receiver.received[0]?.headers['plaid-verification'],
        attempt: 1,
        status: 200,
        error: null,
        fault: null,
        retry_in_ms: null,
      },
    ]);
    await fetch(`${simulator.url}/simulator/webhooks`, { method: 'DELETE' });
    expect(simulator.webhooks.deliveries()).toEqual([]);
  });
});

// ---- /item/webhook/update -----------------------------------------------------------------------

describe('/item/webhook/update', () => {
  it('sets the URL, answers the Item as /item/get does, and sends WEBHOOK_UPDATE_ACKNOWLEDGED to the new URL', async () => {
    const item = await link({ webhook: null });
    const answer = await post('/item/webhook/update', { access_token: item.accessToken, webhook: receiver.url });
    expect(answer.status).toBe(200);
    const got = await post('/item/get', { access_token: item.accessToken });
    expect(answer.body.item).toEqual(got.body.item);
    expect(answer.body.item).toMatchObject({ item_id: item.itemId, webhook: receiver.url });
    await settled();
    expect(receiver.received.map((r) => r.body)).toEqual([
      {
        webhook_type: 'ITEM',
        webhook_code: 'WEBHOOK_UPDATE_ACKNOWLEDGED',
        item_id: item.itemId,
        new_webhook_url: receiver.url,
        error: null,
        environment: 'sandbox',
      },
    ]);
    await post('/transactions/refresh', { access_token: item.accessToken });
    await settled();
    expect(receiver.codes()).toHaveLength(3);
    expectAllVerified();
  });

  it('null removes the webhook (nothing is sent after); a malformed URL is INVALID_FIELD', async () => {
    const item = await link();
    const removed = await post('/item/webhook/update', { access_token: item.accessToken, webhook: null });
    expect(removed.status).toBe(200);
    expect((removed.body.item as { webhook: string }).webhook).toBe('');
    await post('/transactions/refresh', { access_token: item.accessToken });
    await sleep(100);
    expect(receiver.received).toEqual([]);
    const bad = await post('/item/webhook/update', { access_token: item.accessToken, webhook: 'not a url' });
    expect(bad).toMatchObject({ status: 400, body: { error_type: 'INVALID_REQUEST', error_code: 'INVALID_FIELD' } });
    const badLink = await post('/sandbox/public_token/create', {
      institution_id: 'ins_109508',
      initial_products: ['transactions'],
      options: { webhook: 'ftp://example.com' },
    });
    expect(badLink.body.error_code).toBe('INVALID_FIELD');
  });
});

// ---- /sandbox/item/fire_webhook ---------------------------------------------------------------

describe('/sandbox/item/fire_webhook', () => {
  it.each([
    [undefined, 'DEFAULT_UPDATE', 'TRANSACTIONS/DEFAULT_UPDATE'],
    ['IDENTITY', 'DEFAULT_UPDATE', 'IDENTITY/DEFAULT_UPDATE'],
    ['TRANSACTIONS', 'SYNC_UPDATES_AVAILABLE', 'TRANSACTIONS/SYNC_UPDATES_AVAILABLE'],
    [undefined, 'RECURRING_TRANSACTIONS_UPDATE', 'TRANSACTIONS/RECURRING_TRANSACTIONS_UPDATE'],
    [undefined, 'NEW_ACCOUNTS_AVAILABLE', 'ITEM/NEW_ACCOUNTS_AVAILABLE'],
    [undefined, 'LOGIN_REPAIRED', 'ITEM/LOGIN_REPAIRED'],
    [undefined, 'PENDING_DISCONNECT', 'ITEM/PENDING_DISCONNECT'],
    ['ITEM', 'USER_PERMISSION_REVOKED', 'ITEM/USER_PERMISSION_REVOKED'],
    [undefined, 'USER_ACCOUNT_REVOKED', 'ITEM/USER_ACCOUNT_REVOKED'],
  ])('webhook_type %s, webhook_code %s: answers webhook_fired and sends %s', async (type, code, sent) => {
    const item = await link();
    const answer = await post('/sandbox/item/fire_webhook', {
      access_token: item.accessToken,
      webhook_code: code,
      ...(type ? { webhook_type: type } : {}),
    });
    expect(answer).toEqual({ status: 200, body: { webhook_fired: true, request_id: expect.any(String) as unknown } });
    await settled();
    expect(receiver.codes()).toEqual([sent]);
    expect(receiver.received[0]?.body).toMatchObject({ item_id: item.itemId, environment: 'sandbox' });
    expectAllVerified();
  });

  it("answers Plaid's errors: unknown code or type, no webhook URL, a product the Item lacks", async () => {
    const item = await link({ products: ['transactions'] });
    const unknown = await post('/sandbox/item/fire_webhook', { access_token: item.accessToken, webhook_code: 'TELEPATHY' });
    expect(unknown).toMatchObject({ status: 400, body: { error_type: 'INVALID_REQUEST', error_code: 'INVALID_FIELD' } });
    const mismatched = await post('/sandbox/item/fire_webhook', {
      access_token: item.accessToken,
      webhook_type: 'ITEM',
      webhook_code: 'DEFAULT_UPDATE',
    });
    expect(mismatched.body.error_code).toBe('INVALID_FIELD');
    const lacking = await post('/sandbox/item/fire_webhook', {
      access_token: item.accessToken,
      webhook_type: 'LIABILITIES',
      webhook_code: 'DEFAULT_UPDATE',
    });
    expect(lacking).toMatchObject({ status: 400, body: { error_type: 'SANDBOX_ERROR', error_code: 'SANDBOX_PRODUCT_NOT_ENABLED' } });
    const noUrl = await link({ webhook: null });
    const invalid = await post('/sandbox/item/fire_webhook', { access_token: noUrl.accessToken, webhook_code: 'DEFAULT_UPDATE' });
    expect(invalid).toMatchObject({ status: 400, body: { error_type: 'SANDBOX_ERROR', error_code: 'SANDBOX_WEBHOOK_INVALID' } });
    const missing = await post('/sandbox/item/fire_webhook', { access_token: item.accessToken });
    expect(missing.body.error_code).toBe('MISSING_FIELDS');
    await sleep(50);
    expect(receiver.received).toEqual([]);
  });
});

// ---- faults -----------------------------------------------------------------------------------

async function addWebhookFault(fault: unknown): Promise<{ id: string }> {
  const response = await fetch(`${simulator.url}/simulator/webhook-faults`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(fault),
  });
  expect(response.status).toBe(201);
  return ((await response.json()) as { fault: { id: string } }).fault;
}

describe('webhook faults (POST /simulator/webhook-faults)', () => {
  it('duplicate: the same body twice, each validly signed', async () => {
    const item = await link();
    await addWebhookFault({ item_id: item.itemId, webhook_code: 'DEFAULT_UPDATE', count: 1, effect: { type: 'duplicate' } });
    await post('/transactions/refresh', { access_token: item.accessToken });
    await settled();
    expect(receiver.codes()).toEqual(['TRANSACTIONS/DEFAULT_UPDATE', 'TRANSACTIONS/DEFAULT_UPDATE', 'TRANSACTIONS/SYNC_UPDATES_AVAILABLE']);
    expect(receiver.received[0]?.raw.equals(receiver.received[1]?.raw ?? Buffer.alloc(0))).toBe(true);
    expectAllVerified();
    expect(simulator.webhooks.deliveries({ itemId: item.itemId }).map((d) => d.fault)).toEqual([null, 'duplicate', null]);
    expect(simulator.webhooks.listFaults()).toEqual([]);
  });

  it("out_of_order: a refresh's webhooks in reverse", async () => {
    const item = await link();
    await addWebhookFault({ item_id: item.itemId, count: 1, effect: { type: 'out_of_order' } });
    await post('/transactions/refresh', { access_token: item.accessToken });
    await settled();
    expect(receiver.codes()).toEqual(['TRANSACTIONS/SYNC_UPDATES_AVAILABLE', 'TRANSACTIONS/DEFAULT_UPDATE']);
    expectAllVerified();
  });

  it('delay: the delayed webhook arrives that much later, after the others', async () => {
    const item = await link();
    await addWebhookFault({ item_id: item.itemId, webhook_code: 'DEFAULT_UPDATE', effect: { type: 'delay', ms: 150 } });
    const refreshed = Date.now();
    await post('/transactions/refresh', { access_token: item.accessToken });
    await settled();
    expect(receiver.codes()).toEqual(['TRANSACTIONS/SYNC_UPDATES_AVAILABLE', 'TRANSACTIONS/DEFAULT_UPDATE']);
    expect((receiver.received[1]?.at ?? 0) - refreshed).toBeGreaterThanOrEqual(150);
    expect(simulator.webhooks.deliveries({ webhookCode: 'DEFAULT_UPDATE' })[0]?.fault).toBe('delay');
  });

  it.each([
    [{ type: 'bad_signature' }, 'signature', 'bad_signature:foreign_key'],
    [{ type: 'bad_signature', mode: 'tampered_body' }, 'body hash', 'bad_signature:tampered_body'],
    [{ type: 'stale_iat' }, 'iat', 'stale_iat'],
  ])('%j: the receiver rejects the first attempt (%s); the retry is genuine and accepted', async (effect, reason, fault) => {
    const item = await link();
    await addWebhookFault({ item_id: item.itemId, count: 1, effect });
    await post('/sandbox/item/fire_webhook', { access_token: item.accessToken, webhook_code: 'DEFAULT_UPDATE' });
    await settled();
    expect(receiver.received.map((r) => r.verdict)).toEqual([{ ok: false, reason }, expect.objectContaining({ ok: true }) as unknown]);
    expect(simulator.webhooks.deliveries({ itemId: item.itemId }).map((d) => [d.attempt, d.status, d.fault])).toEqual([
      [1, 400, fault],
      [2, 200, null],
    ]);
  });

  it('a foreign-key signature carries the real kid; a stale iat is older than 5 minutes', async () => {
    const item = await link();
    for (const effect of [{ type: 'bad_signature' }, { type: 'stale_iat', age_seconds: 3600 }]) {
      await addWebhookFault({ item_id: item.itemId, count: 1, effect });
      await post('/sandbox/item/fire_webhook', { access_token: item.accessToken, webhook_code: 'DEFAULT_UPDATE' });
      await settled();
    }
    const [forged, stale] = simulator.webhooks.deliveries({ itemId: item.itemId }).filter((d) => d.attempt === 1);
    const part = (jws: string | undefined, n: number) =>
      JSON.parse(Buffer.from((jws ?? '').split('.')[n] ?? '', 'base64url').toString('utf8')) as Record<string, unknown>;
    expect(part(forged?.plaidVerification, 0).kid).toBe(simulator.webhooks.keys.currentKid);
    expect(Date.now() / 1000 - (part(stale?.plaidVerification, 1).iat as number)).toBeGreaterThanOrEqual(3600);
  });

  it('faults are listed, removed, and rejected when malformed', async () => {
    const fault = await addWebhookFault({ effect: { type: 'duplicate' } });
    const listed = (await (await fetch(`${simulator.url}/simulator/webhook-faults`)).json()) as { faults: { id: string }[] };
    expect(listed.faults.map((f) => f.id)).toEqual([fault.id]);
    expect((await fetch(`${simulator.url}/simulator/webhook-faults/${fault.id}`, { method: 'DELETE' })).status).toBe(200);
    expect((await fetch(`${simulator.url}/simulator/webhook-faults/${fault.id}`, { method: 'DELETE' })).status).toBe(404);
    const bad = await fetch(`${simulator.url}/simulator/webhook-faults`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ effect: { type: 'meteor' } }),
    });
    expect(bad.status).toBe(400);
    expect(simulator.webhooks.listFaults()).toEqual([]);
  });
});
