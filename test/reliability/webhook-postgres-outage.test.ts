/**
 * PostgreSQL cut under a stream of webhooks: the service in process on a PostgreSQL vault behind a
 * TCP fault proxy, listening on a port, and the simulator as Plaid (it signs each webhook, and
 * retries anything but a 200 on Plaid's schedule, scaled down). Distinct webhooks go out in bursts,
 * so the receiver's grouped inbox stores carry several at once, while PostgreSQL is dropped (RST,
 * then refused connections) and then blackholed (nothing answers), and each time restored. The counts:
 * - every delivery attempt got an HTTP answer, and within a bound (no request hangs on the vault);
 * - every webhook answered 200 is in the inbox once, processed, its effect applied exactly once;
 * - every webhook answered otherwise was re-sent and then is in the inbox once, processed once,
 *   or is absent (the sender gave up without a 200 and nothing was stored);
 * - no inbox row the stream did not send, none applied twice.
 * Needs DATABASE_URL.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LinkItemDocument } from '../../operations/generated/graphql.js';
import { loadConfig } from '../../src/config.js';
import type { PlaidClient } from '../../src/plaid/client.js';
import { createRuntime, type Runtime } from '../../src/runtime.js';
import { createPlaidWebhookHandler } from '../../src/services/plaid-webhook-handler.js';
import type { Simulator } from '../../src/simulator/server.js';
import type { SimItem } from '../../src/simulator/state.js';
import type { WebhookDelivery } from '../../src/simulator/webhook-delivery.js';
import { payloads } from '../../src/simulator/webhook-payloads.js';
import type { InboxWebhook } from '../../src/vault/webhook-inbox.js';
import type { WebhookHandler } from '../../src/webhooks/processor.js';
import { DEFAULT_STORE_TIMEOUT_MS } from '../../src/webhooks/receiver.js';
import { startFaultProxy, type FaultMode, type FaultProxy } from '../helpers/fault-proxy.js';
import { memoryLogger } from '../helpers/logs.js';
import { needs } from '../helpers/needs.js';
import { execute, TEST_JWT_SECRET, tokenFor } from '../helpers/service.js';
import { clientFor, startTestSimulator } from '../helpers/simulator.js';

const databaseUrl = process.env.DATABASE_URL ?? '';
const SCHEMA = `webhook_outage_${randomBytes(5).toString('hex')}`;
const ITEMS = 4;
const BURSTS = 60;
const PER_BURST = 5;
const BURST_EVERY_MS = 60;
/** Burst index -> the fault that begins there; the stream ends on `pass`. */
const PHASES: readonly { readonly at: number; readonly mode: FaultMode }[] = [
  { at: 10, mode: { kind: 'drop' } },
  { at: 25, mode: { kind: 'pass' } },
  { at: 35, mode: { kind: 'blackhole' } },
  { at: 50, mode: { kind: 'pass' } },
];
/**
 * The receiver's own bound on a store plus a loaded machine's margin, under Plaid's 10 s: the
 * simulator gives up on an attempt after this, so an attempt without a status is one that hung.
 */
const ANSWER_BOUND_MS = DEFAULT_STORE_TIMEOUT_MS + 3_000;
const STATEMENT_TIMEOUT_MS = 1_000;

describe('webhooks while PostgreSQL is cut', needs('DATABASE_URL'), () => {
  let simulator: Simulator;
  let plaid: PlaidClient;
  let proxy: FaultProxy;
  let runtime: Runtime;
  let server: Server;
  let webhookUrl: string;
  let admin: pg.Client;
  const items: SimItem[] = [];
  /** Inbox ids handed to the handler, once per call. */
  const handled: number[] = [];
  /** Server-side time from request to the end of the answer, per request. */
  const answerMs: number[] = [];

  beforeAll(async () => {
    // Plaid's retries 100 times faster: 300 ms, 1.2 s, 4.8 s, 19.2 s, ...
    simulator = await startTestSimulator({ webhookDelayMs: 0, webhookRetryScale: 0.01, webhookTimeoutMs: ANSWER_BOUND_MS });
    plaid = clientFor(simulator);
    const target = new URL(databaseUrl);
    proxy = await startFaultProxy({ target: { host: target.hostname, port: Number(target.port || 5432) } });
    admin = new pg.Client({ connectionString: databaseUrl });
    await admin.connect();
    let realHandler: WebhookHandler | null = null;
    runtime = await createRuntime(
      loadConfig({
        NODE_ENV: 'test',
        AUTH_JWT_SECRET: TEST_JWT_SECRET,
        TOKEN_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
        DATABASE_URL: proxy.url(databaseUrl),
        DATABASE_SCHEMA: SCHEMA,
        DATABASE_CONNECT_TIMEOUT_MS: '500',
        DATABASE_STATEMENT_TIMEOUT_MS: String(STATEMENT_TIMEOUT_MS),
        PLAID_BASE_URL: simulator.url,
        PLAID_CLIENT_ID: simulator.clientId,
        PLAID_SECRET: simulator.secret,
        PLAID_WEBHOOK_POLL_MS: '200',
        // A webhook handled but not marked processed (the cut came between) is handled again soon.
        PLAID_WEBHOOK_LEASE_MS: '2000',
      }),
      {
        logger: memoryLogger({ level: 'warn' }).logger,
        // The service's own handler, counted: its effects (one refresh event per inbox row) are what must happen once.
        handleWebhook: (webhook: InboxWebhook, signal: AbortSignal) => {
          if (!realHandler) return Promise.reject(new Error('handler not ready'));
          handled.push(webhook.id);
          return realHandler(webhook, signal);
        },
      },
    );
    realHandler = createPlaidWebhookHandler({ lifecycle: runtime.lifecycle, items: runtime.services.items });
    server = createServer((req, res) => {
      const started = performance.now();
      res.once('close', () => answerMs.push(performance.now() - started));
      void runtime.app(req, res);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    webhookUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/webhooks/plaid`;

    const token = await tokenFor('outage-viewer');
    for (let i = 0; i < ITEMS; i++) {
      const { publicToken } = await plaid.createSandboxPublicToken({ institutionId: 'ins_109508', initialProducts: ['transactions'] });
      const linked = (await execute(runtime, LinkItemDocument, { publicToken }, token)).data?.linkItem;
      if (linked?.__typename !== 'LinkItemSuccess') throw new Error(`not linked: ${linked?.__typename}`);
      const item = simulator.state.items.get(linked.item.id);
      if (!item) throw new Error('no such Item at the simulator');
      items.push(item);
    }
  }, 30_000);

  afterAll(async () => {
    server?.closeAllConnections();
    await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)));
    await runtime?.close();
    await proxy?.close();
    await simulator?.close();
    await plaid?.close();
    await admin?.query(`drop schema if exists ${SCHEMA} cascade`);
    await admin?.end();
  }, 30_000);

  const inbox = async () =>
    (
      await admin.query<{ id: string; body_sha256: string; received_at: Date; processed: boolean; events: string }>(
        `select w.id, w.body_sha256, w.received_at, w.processed_at is not null as processed,
           (select count(*) from ${SCHEMA}.vault_refresh_events e where e.inbox_id = w.id::text) as events
         from ${SCHEMA}.vault_webhooks w`,
      )
    ).rows;

  const sha = (body: string) => createHash('sha256').update(body).digest('hex');

  it('drop and blackhole under a stream of webhooks: each answered in time, each stored and applied once or absent', async () => {
    const firstDelivery = simulator.webhooks.deliveries().length;
    const phases = [...PHASES];
    /** Body SHA-256 -> the fault it was first sent in. */
    const sentIn = new Map<string, FaultMode['kind']>();
    let mode: FaultMode['kind'] = 'pass';
    for (let burst = 0; burst < BURSTS; burst++) {
      const next = phases[0]?.at === burst ? phases.shift() : undefined;
      if (next) {
        await proxy.setMode(next.mode);
        mode = next.mode.kind;
      }
      // One turn: the simulator's attempts start together, so their stores share inbox statements.
      for (let i = 0; i < PER_BURST; i++) {
        const item = items[(burst * PER_BURST + i) % items.length] as SimItem;
        // Fresh transaction ids in each: every body distinct.
        const payload = payloads.transactionsRemoved(item);
        // The simulator sends JSON.stringify(payload, null, 2), as Plaid does.
        sentIn.set(sha(JSON.stringify(payload, null, 2)), mode);
        simulator.webhooks.send(item, [payload], webhookUrl);
      }
      await sleep(BURST_EVERY_MS);
    }

    // The sender is done once each webhook got its 200 or was given up on.
    await Promise.race([
      simulator.webhooks.idle(),
      sleep(20_000).then(() => {
        throw new Error(`${simulator.webhooks.pendingCount} webhooks still being sent`);
      }),
    ]);
    const deliveries = simulator.webhooks.deliveries().slice(firstDelivery);
    const byWebhook = new Map<string, WebhookDelivery[]>();
    for (const d of deliveries) byWebhook.set(d.id, [...(byWebhook.get(d.id) ?? []), d]);
    expect(byWebhook.size).toBe(BURSTS * PER_BURST);

    // Every attempt was answered, within the bound: none hung on the cut vault.
    expect(deliveries.filter((d) => d.status === null).map((d) => d.error)).toEqual([]);
    expect(answerMs.length).toBeGreaterThanOrEqual(deliveries.length);
    expect(Math.max(...answerMs)).toBeLessThan(ANSWER_BOUND_MS);
    // The cut was felt: refusals while it lasted, each re-sent.
    const refused = [...byWebhook.values()].filter((attempts) => attempts.some((a) => a.status !== 200));
    const refusedIn = (kind: FaultMode['kind']) =>
      refused.filter((attempts) => sentIn.get(sha((attempts[0] as WebhookDelivery).body)) === kind).length;
    expect(refusedIn('drop')).toBeGreaterThan(0);
    // A blackhole held the vault's connections for ~0.9 s, under the receiver's 5 s bound, and
    // reset them at its end: the stores caught there are refused, or retried into a 200 (seen once
    // on Node 26 in CI, every one a 200). Either way each was answered, stored and applied once
    // (below); only a refusal in the drop is certain, so only that one is required.
    expect(deliveries.filter((d) => d.status !== null && d.status !== 200 && d.status !== 503)).toEqual([]);

    const deadline = Date.now() + 15_000;
    let rows = await inbox();
    while (rows.some((r) => !r.processed) && Date.now() < deadline) {
      await sleep(100);
      rows = await inbox();
    }
    const bySha = new Map<string, typeof rows>();
    for (const row of rows) bySha.set(row.body_sha256, [...(bySha.get(row.body_sha256) ?? []), row]);

    const answered = [...byWebhook.values()].filter((attempts) => attempts.some((a) => a.status === 200));
    const givenUp = [...byWebhook.values()].filter((attempts) => !attempts.some((a) => a.status === 200));
    // Answered 200: stored once, processed, applied once.
    const wrong = answered
      .map((attempts) => ({ attempts: attempts.length, rows: bySha.get(sha((attempts[0] as WebhookDelivery).body)) ?? [] }))
      .filter(({ rows: found }) => found.length !== 1 || !found[0]?.processed || Number(found[0].events) !== 1);
    expect(wrong).toEqual([]);
    // Refused at first: re-sent; then either answered 200 (above) or, never answered 200, absent or applied once.
    expect(refused.filter((attempts) => attempts.length < 2)).toEqual([]);
    for (const attempts of givenUp) {
      const found = bySha.get(sha((attempts[0] as WebhookDelivery).body)) ?? [];
      expect(found.length === 0 || (found.length === 1 && found[0]?.processed === true && Number(found[0].events) === 1)).toBe(true);
    }
    // Nothing the stream did not send, nothing applied twice; every row was handed to the handler.
    const sent = new Set([...byWebhook.values()].map((attempts) => sha((attempts[0] as WebhookDelivery).body)));
    expect(rows.filter((r) => !sent.has(r.body_sha256))).toEqual([]);
    expect(rows.filter((r) => Number(r.events) !== 1)).toEqual([]);
    const handledIds = new Set(handled);
    expect(rows.filter((r) => !handledIds.has(Number(r.id)))).toEqual([]);
    // Grouped stores were in play: rows written by one statement share its transaction's now() (to the microsecond).
    const grouping = (
      await admin.query<{ rows: string; statements: string }>(
        `select count(*) as rows, count(distinct received_at) as statements from ${SCHEMA}.vault_webhooks`,
      )
    ).rows[0];
    expect(Number(grouping?.statements)).toBeLessThan(Number(grouping?.rows));
  }, 60_000);
});
