/**
 * POST /webhooks/plaid through app.fetch: a verified webhook is in the inbox before the 200; a
 * re-send is answered 200 without a second row; every refusal has its status and writes nothing;
 * an unreachable vault or key is a 503 (Plaid retries). Then the runtime's wiring (the processor
 * handles what the endpoint stored, once; the metrics), and PostgreSQL really going away.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createApp, type App } from '../../src/app.js';
import { createAuthenticator } from '../../src/auth/authenticate.js';
import { loadConfig } from '../../src/config.js';
import { MemoryQuotaLimiter } from '../../src/guard/quota.js';
import { RefreshGuard } from '../../src/guard/refresh-guard.js';
import { createMetrics, type Metrics } from '../../src/observability/metrics.js';
import { PlaidClient } from '../../src/plaid/client.js';
import { createRuntime, type Runtime } from '../../src/runtime.js';
import { ItemService } from '../../src/services/item-service.js';
import { LinkService } from '../../src/services/link-service.js';
import { RefreshService } from '../../src/services/refresh-service.js';
import { TokenCipher } from '../../src/vault/crypto.js';
import { VaultUnavailableError } from '../../src/vault/errors.js';
import { openPglite, openPostgres, type SqlExecutor } from '../../src/vault/sql.js';
import { SqlTokenVault, type TokenVault } from '../../src/vault/vault.js';
import type { InboxWebhook, StoreWebhookResult, WebhookInbox } from '../../src/vault/webhook-inbox.js';
import { WebhookReceiver } from '../../src/webhooks/receiver.js';
import { WebhookVerifier } from '../../src/webhooks/verification.js';
import { startFaultProxy, type FaultProxy } from '../helpers/fault-proxy.js';
import { memoryLogger, type LogLine } from '../helpers/logs.js';
import { needs } from '../helpers/needs.js';
import { b64url, fakeKeySource, sha256Hex, signWebhook, signingKey, webhookBody, type SigningKey } from '../helpers/plaid-webhooks.js';
import { TEST_JWT_SECRET } from '../helpers/service.js';

const URL_ = 'http://localhost/webhooks/plaid';

let key: SigningKey;
beforeAll(async () => {
  key = await signingKey();
});

async function post(app: App, body: string, headers: Record<string, string>): Promise<{ status: number; json: unknown }> {
  const response = await app.fetch(URL_, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
  const text = await response.text();
  return { status: response.status, json: text === '' ? null : (JSON.parse(text) as unknown) };
}

const signed = async (body: string, options: Parameters<typeof signWebhook>[2] = {}) => ({
  'plaid-verification': await signWebhook(key, body, options),
});

describe('POST /webhooks/plaid (the app, with an inbox on PGlite)', () => {
  let db: SqlExecutor;
  let vault: TokenVault;
  let app: App;
  let metrics: Metrics;
  let logs: LogLine[];
  const inbox = { down: false, hang: false };
  const source = fakeKeySource();

  beforeAll(async () => {
    source.serve(key.kid, key.jwk);
    source.serve('down-kid', 'down');
    db = await openPglite();
    vault = await SqlTokenVault.open(unclosable(db), TokenCipher.ephemeral());
    metrics = createMetrics({ defaultMetrics: false });
    const logged = memoryLogger({ level: 'info' });
    logs = logged.lines;
    const flaky: Pick<WebhookInbox, 'storeWebhook'> = {
      storeWebhook: (input, options) => {
        if (inbox.hang) return new Promise(() => {});
        if (inbox.down)
          return Promise.reject(new VaultUnavailableError({ cause: new Error('connect ECONNREFUSED'), mayHaveWritten: false }));
        return vault.storeWebhook(input, options);
      },
    };
    const receiver = new WebhookReceiver({
      verifier: new WebhookVerifier({ keySource: source, keyTimeoutMs: 200 }),
      inbox: flaky,
      metrics,
      logger: logged.logger,
      storeTimeoutMs: 300,
    });
    const config = loadConfig({ NODE_ENV: 'test' });
    const plaid = new PlaidClient({ baseUrl: 'http://127.0.0.1:1', clientId: 'unused', secret: 'unused' });
    const guard = new RefreshGuard(new MemoryQuotaLimiter(), config.quotas);
    app = createApp({
      services: {
        items: new ItemService(vault),
        refresh: new RefreshService({ vault, plaid, guard }),
        link: new LinkService({ vault, plaid, guard }),
        notices: { subscribe: () => ({ [Symbol.asyncIterator]: () => ({ next: () => new Promise(() => {}) }) }), delivered: () => {} },
      },
      authenticate: createAuthenticator({ jwtSecret: TEST_JWT_SECRET, jwksUrl: null, issuer: null, audience: null }),
      metrics,
      logger: logged.logger,
      maxBodyBytes: 4_096,
      webhooks: receiver,
    });
  });
  afterAll(async () => {
    await vault?.close();
    await db?.close();
  });
  afterEach(() => {
    inbox.down = false;
    inbox.hang = false;
  });

  const rowsFor = async (body: string) =>
    (await db.query<{ n: number }>('select count(*)::int as n from vault_webhooks where body_sha256 = $1', [sha256Hex(body)])).rows[0]?.n;
  const allRows = async () => (await db.query<{ n: number }>('select count(*)::int as n from vault_webhooks')).rows[0]?.n ?? 0;

  it('a verified webhook: 200 once it is in the inbox, with its type, code and Item', async () => {
    const body = webhookBody({ item_id: 'item-good' });
    expect(await post(app, body, await signed(body))).toEqual({ status: 200, json: { received: true, duplicate: false } });
    const { rows } = await db.query<{
      body: string;
      webhook_type: string;
      webhook_code: string;
      item_id: string;
      processed_at: Date | null;
    }>('select body, webhook_type, webhook_code, item_id, processed_at from vault_webhooks where body_sha256 = $1', [sha256Hex(body)]);
    expect(rows).toEqual([
      { body, webhook_type: 'TRANSACTIONS', webhook_code: 'SYNC_UPDATES_AVAILABLE', item_id: 'item-good', processed_at: null },
    ]);
  });

  it('a re-send of the same body (new JWT, same bytes): 200, and still one row', async () => {
    const body = webhookBody({ item_id: 'item-resent' });
    expect((await post(app, body, await signed(body))).status).toBe(200);
    const again = await post(app, body, await signed(body, { iat: Math.floor(Date.now() / 1000) - 30 }));
    expect(again).toEqual({ status: 200, json: { received: true, duplicate: true } });
    expect(await rowsFor(body)).toBe(1);
  });

  interface Refusal {
    readonly headers: Record<string, string>;
    readonly sent?: string;
  }
  const REFUSALS: readonly {
    name: string;
    status: number;
    reason: string;
    make: (body: string) => Refusal | Promise<Refusal>;
  }[] = [
    { name: 'no Plaid-Verification header', status: 400, reason: 'MISSING_HEADER', make: () => ({ headers: {} }) },
    {
      name: 'a header that is not a JWT',
      status: 400,
      reason: 'MALFORMED_TOKEN',
      make: () => ({ headers: { 'plaid-verification': 'x' } }),
    },
    {
      name: 'alg none',
      status: 400,
      reason: 'WRONG_ALGORITHM',
      make: (body) => ({
        headers: {
          'plaid-verification': `${b64url({ alg: 'none', kid: key.kid })}.${b64url({ iat: Math.floor(Date.now() / 1000), request_body_sha256: sha256Hex(body) })}.`,
        },
      }),
    },
    {
      name: 'an unknown kid',
      status: 400,
      reason: 'UNKNOWN_KEY',
      make: async (body) => ({ headers: await signed(body, { kid: 'nobody' }) }),
    },
    {
      name: 'a forged signature',
      status: 400,
      reason: 'BAD_SIGNATURE',
      make: async (body) => ({ headers: { 'plaid-verification': await signWebhook(await signingKey({ kid: key.kid }), body) } }),
    },
    {
      name: 'a replay older than 5 minutes',
      status: 400,
      reason: 'STALE',
      make: async (body) => ({ headers: await signed(body, { iat: Math.floor(Date.now() / 1000) - 600 }) }),
    },
    {
      name: 'an iat in the future',
      status: 400,
      reason: 'FUTURE_IAT',
      make: async (body) => ({ headers: await signed(body, { iat: Math.floor(Date.now() / 1000) + 600 }) }),
    },
    {
      name: 'a body changed on the way',
      status: 400,
      reason: 'BODY_MISMATCH',
      make: async (body) => ({ headers: await signed(body), sent: body.replace('"sandbox"', '"production"') }),
    },
    {
      name: 'a signed body that is no webhook',
      status: 400,
      reason: 'MALFORMED_BODY',
      make: async () => ({ headers: await signed('{"hello": "world"}'), sent: '{"hello": "world"}' }),
    },
    {
      name: 'the key cannot be fetched',
      status: 503,
      reason: 'KEY_UNAVAILABLE',
      make: async (body) => ({ headers: await signed(body, { kid: 'down-kid' }) }),
    },
  ];

  it.each(REFUSALS)('$name: $status $reason, nothing stored', async (row) => {
    const body = webhookBody({ item_id: `item-${row.reason}` });
    const before = await allRows();
    const { headers, sent } = await row.make(body);
    const answer = await post(app, sent ?? body, headers);
    expect(answer.status).toBe(row.status);
    expect(answer.json).toMatchObject({ reason: row.reason });
    expect(await allRows()).toBe(before);
    expect(await rowsFor(sent ?? body)).toBe(0);
    expect(await metrics.registry.getSingleMetricAsString('plaid_webhooks_refused_total')).toContain(`reason="${row.reason}"`);
  });

  it('the vault unavailable: 503 (Plaid retries), nothing stored; the retry once it is back is stored', async () => {
    const body = webhookBody({ item_id: 'item-vault-down' });
    inbox.down = true;
    expect(await post(app, body, await signed(body))).toEqual({ status: 503, json: { error: 'STORAGE_UNAVAILABLE' } });
    inbox.down = false;
    inbox.hang = true;
    const started = performance.now();
    expect((await post(app, body, await signed(body))).status).toBe(503);
    expect(performance.now() - started).toBeLessThan(2_000);
    expect(await rowsFor(body)).toBe(0);
    inbox.hang = false;
    expect((await post(app, body, await signed(body))).status).toBe(200);
    expect(await rowsFor(body)).toBe(1);
    expect(logs.some((line) => line.level === 'warn' && line.msg === 'plaid webhook not stored: vault unavailable')).toBe(true);
  });

  it('bodies over the limit are refused before they are read whole (413), declared or chunked', async () => {
    const big = webhookBody({ item_id: 'item-big', padding: 'x'.repeat(5_000) });
    expect((await post(app, big, await signed(big))).status).toBe(413);
    const chunks = new TextEncoder().encode(big);
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let i = 0; i < chunks.length; i += 1_000) controller.enqueue(chunks.slice(i, i + 1_000));
        controller.close();
      },
    });
    const response = await app.fetch(URL_, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(await signed(big)) },
      body: stream,
      duplex: 'half',
    } as RequestInit);
    expect(response.status).toBe(413);
    expect(await rowsFor(big)).toBe(0);
  });

  it('only POST; no CSRF header, GraphQL or authentication involved', async () => {
    const response = await app.fetch(URL_, { method: 'GET' });
    expect(response.status).toBe(405);
    expect(response.headers.get('allow')).toBe('POST');
    // A text/plain POST would need a CSRF header on /graphql; Plaid sends none and needs none.
    const body = webhookBody({ item_id: 'item-text-plain' });
    const answer = await app.fetch(URL_, { method: 'POST', headers: { 'content-type': 'text/plain', ...(await signed(body)) }, body });
    expect(answer.status).toBe(200);
  });

  it('logs the type and code at info, the body only at debug, never the JWT', async () => {
    const body = webhookBody({ item_id: 'item-logged', marker: 'only-in-the-body' });
    const headers = await signed(body);
    await post(app, body, headers);
    const text = JSON.stringify(logs);
    expect(text).not.toContain('only-in-the-body');
    expect(text).not.toContain(headers['plaid-verification']);
    expect(logs).toContainEqual(
      expect.objectContaining({
        level: 'info',
        msg: 'plaid webhook received',
        webhookType: 'TRANSACTIONS',
        itemId: 'item-logged',
        inbox: 'stored',
      }),
    );
  });

  it('counts what it received, verified, refused and saw twice, and times the ingest', async () => {
    const text = await metrics.registry.metrics();
    for (const name of [
      'plaid_webhooks_received_total',
      'plaid_webhooks_verified_total',
      'plaid_webhooks_refused_total',
      'plaid_webhooks_duplicate_total',
      'plaid_webhook_ingest_seconds_count',
    ]) {
      expect(text).toMatch(new RegExp(`^${name}(\\{[^}]*\\})? [1-9]`, 'm'));
    }
  });
});

describe('a store that outlives the answer', () => {
  /** An inbox whose stores settle when the test says: slower than the receiver's bound. */
  function gatedInbox() {
    const settle: ((outcome: StoreWebhookResult | Error) => void)[] = [];
    const inbox: Pick<WebhookInbox, 'storeWebhook'> = {
      storeWebhook: () =>
        new Promise<StoreWebhookResult>((resolve, reject) => {
          settle.push((outcome) => (outcome instanceof Error ? reject(outcome) : resolve(outcome)));
        }),
    };
    return { inbox, settle };
  }

  async function receiveLate(outcome: StoreWebhookResult | Error): Promise<{ status: number; wakes: number }> {
    const { inbox, settle } = gatedInbox();
    let wakes = 0;
    const receiver = new WebhookReceiver({
      verifier: new WebhookVerifier({ keySource: fakeKeySource(key) }),
      inbox,
      metrics: createMetrics({ defaultMetrics: false }),
      logger: memoryLogger().logger,
      storeTimeoutMs: 50,
      onStored: () => {
        wakes += 1;
      },
    });
    const body = webhookBody({ item_id: 'item-late-store' });
    const answer = await receiver.receive({
      headers: new Headers(await signed(body)),
      readBody: () => Promise.resolve(new TextEncoder().encode(body)),
      startedAt: performance.now(),
      requestId: 'req-late-store',
    });
    // Answered before the store settled; now it lands (or fails) after all.
    expect(wakes).toBe(0);
    settle[0]?.(outcome);
    await new Promise((resolve) => setImmediate(resolve));
    return { status: answer.status, wakes };
  }

  it('answered 503, then stored after all: the processor is woken, not left to its next poll', async () => {
    expect(await receiveLate('stored')).toEqual({ status: 503, wakes: 1 });
  });

  it('answered 503, then a duplicate or a failure: nobody is woken', async () => {
    expect(await receiveLate('duplicate')).toEqual({ status: 503, wakes: 0 });
    expect(await receiveLate(new VaultUnavailableError({ cause: new Error('connection reset'), mayHaveWritten: true }))).toEqual({
      status: 503,
      wakes: 0,
    });
  });
});

describe('the runtime: the endpoint stores, the processor handles once', () => {
  let runtime: Runtime;
  const handled: InboxWebhook[] = [];
  beforeAll(async () => {
    const source = fakeKeySource(key);
    runtime = await createRuntime(loadConfig({ NODE_ENV: 'test', AUTH_JWT_SECRET: TEST_JWT_SECRET }), {
      logger: memoryLogger().logger,
      webhookKeySource: source,
      handleWebhook: (webhook) => {
        handled.push(webhook);
        return Promise.resolve();
      },
    });
  });
  afterAll(async () => {
    await runtime?.close();
  });

  it('a webhook and its re-send: 200 twice, handled once, soon after the first 200', async () => {
    const body = webhookBody({ webhook_type: 'ITEM', webhook_code: 'ERROR', item_id: 'item-runtime', error: null });
    expect((await post(runtime.app, body, await signed(body))).status).toBe(200);
    await until(() => handled.some((w) => w.itemId === 'item-runtime'));
    expect((await post(runtime.app, body, await signed(body))).json).toEqual({ received: true, duplicate: true });
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(handled.filter((w) => w.itemId === 'item-runtime').map((w) => [w.webhookType, w.webhookCode, w.body])).toEqual([
      ['ITEM', 'ERROR', body],
    ]);
    const metricsText = await (await runtime.app.fetch('http://localhost/metrics')).text();
    expect(metricsText).toMatch(/^plaid_webhooks_processed_total\{result="handled"\} [1-9]/m);
    expect(metricsText).toMatch(/^plaid_webhooks_duplicate_total [1-9]/m);
  });
});

describe('PostgreSQL going away under the endpoint', needs('DATABASE_URL'), () => {
  let proxy: FaultProxy;
  let runtime: Runtime;
  let raw: SqlExecutor;
  const schema = `webhook_faults_${randomBytes(5).toString('hex')}`;

  beforeAll(async () => {
    const databaseUrl = process.env.DATABASE_URL ?? '';
    const target = new URL(databaseUrl);
    proxy = await startFaultProxy({ target: { host: target.hostname, port: Number(target.port || 5432) } });
    runtime = await createRuntime(
      loadConfig({
        NODE_ENV: 'test',
        AUTH_JWT_SECRET: TEST_JWT_SECRET,
        DATABASE_URL: proxy.url(databaseUrl),
        DATABASE_SCHEMA: schema,
        TOKEN_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
        DATABASE_CONNECT_TIMEOUT_MS: '500',
        DATABASE_STATEMENT_TIMEOUT_MS: '1000',
      }),
      { logger: memoryLogger().logger, webhookKeySource: fakeKeySource(key) },
    );
    raw = await openPostgres(databaseUrl, { schema });
  });
  afterAll(async () => {
    await runtime?.close();
    await proxy?.close();
    await raw?.query(`drop schema if exists ${schema} cascade`);
    await raw?.close();
  });

  it('answers 503 while the database refuses, stores nothing, and 200 for the retry once it is back', async () => {
    const body = webhookBody({ item_id: 'item-pg-down' });
    await proxy.setMode({ kind: 'drop' });
    const started = performance.now();
    const down = await post(runtime.app, body, await signed(body));
    expect(down).toEqual({ status: 503, json: { error: 'STORAGE_UNAVAILABLE' } });
    expect(performance.now() - started).toBeLessThan(9_000);
    await proxy.setMode({ kind: 'pass' });
    expect((await raw.query('select 1 from vault_webhooks where body_sha256 = $1', [sha256Hex(body)])).rows).toHaveLength(0);
    expect((await post(runtime.app, body, await signed(body))).status).toBe(200);
    expect((await raw.query('select 1 from vault_webhooks where body_sha256 = $1', [sha256Hex(body)])).rows).toHaveLength(1);
  });
});

async function until(condition: () => boolean, timeoutMs = 5_000): Promise<void> {
  const started = Date.now();
  while (!condition()) {
    if (Date.now() - started > timeoutMs) throw new Error('timed out waiting');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

function unclosable(db: SqlExecutor): SqlExecutor {
  return {
    query: <R>(text: string, params?: unknown[]) => db.query<R>(text, params),
    transaction: <T>(fn: (tx: SqlExecutor) => Promise<T>) => db.transaction(fn),
    close: async () => {},
  };
}
