/**
 * No webhook is lost to a dead process: the real service in production shape (PostgreSQL inbox),
 * Plaid's part played by the simulator, which signs each webhook and retries as Plaid does (scaled
 * down). Under a stream of webhooks the service is killed with SIGKILL, then started again on the
 * same port. The counts:
 * - every webhook the simulator sent got its 200 in the end (none given up);
 * - every distinct body answered 200 is in the inbox, once (re-sends after a lost 200 are duplicates);
 * - every inbox row is processed after the restart, including the ones the dead process had claimed
 *   (their lease runs out), and each applied exactly once (one event per webhook);
 * - the Item webhooks' effect on health is there (USER_PERMISSION_REVOKED fired last on one Item).
 * Needs DATABASE_URL.
 */
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signViewerToken } from '../../src/demo/seed.js';
import type { PlaidClient } from '../../src/plaid/client.js';
import type { Simulator } from '../../src/simulator/server.js';
import { payloads } from '../../src/simulator/webhook-payloads.js';
import { needs } from '../helpers/needs.js';
import { startServiceProcess, type ServiceProcess } from '../helpers/service-process.js';
import { clientFor, plaidPost, startTestSimulator } from '../helpers/simulator.js';

const databaseUrl = process.env.DATABASE_URL;
const SECRET = `durability-${randomBytes(24).toString('hex')}`;
const SCHEMA = `webhooks_${randomBytes(5).toString('hex')}`;
const ITEMS = 8;
const WEBHOOKS = 160;
const LEASE_MS = 2_000;
const CODES = ['DEFAULT_UPDATE', 'SYNC_UPDATES_AVAILABLE', 'NEW_ACCOUNTS_AVAILABLE', 'RECURRING_TRANSACTIONS_UPDATE'];

async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  server.close();
  await once(server, 'close');
  return port;
}

describe('webhooks across kill -9', needs('DATABASE_URL'), () => {
  let simulator: Simulator;
  let plaid: PlaidClient;
  let admin: pg.Client;
  let service: ServiceProcess | undefined;
  let port: number;
  let viewerToken: string;
  const items: { id: string; accessToken: string }[] = [];

  const start = () =>
    startServiceProcess({
      ...process.env,
      NODE_ENV: 'production',
      HOST: '127.0.0.1',
      PORT: String(port),
      LOG_LEVEL: 'info',
      AUTH_JWT_SECRET: SECRET,
      TOKEN_ENCRYPTION_KEY: randomKey,
      DATABASE_URL: databaseUrl,
      DATABASE_SCHEMA: SCHEMA,
      REDIS_URL: '',
      PLAID_BASE_URL: simulator.url,
      PLAID_CLIENT_ID: simulator.clientId,
      PLAID_SECRET: simulator.secret,
      PLAID_WEBHOOK_LEASE_MS: String(LEASE_MS),
      PLAID_WEBHOOK_POLL_MS: '200',
      SHUTDOWN_TIMEOUT_MS: '2000',
      QUOTA_PER_VIEWER: '100000',
      LINK_PER_VIEWER_PER_HOUR: '100000',
      LINK_PER_CLIENT_PER_MINUTE: '100000',
    });
  const randomKey = randomBytes(32).toString('base64');
  const webhookUrl = () => `http://127.0.0.1:${port}/webhooks/plaid`;

  const fireWebhook = async (body: unknown) => (await plaidPost(simulator, '/sandbox/item/fire_webhook', body)).status;

  const inbox = async () =>
    (
      await admin.query<{ id: string; body_sha256: string; processed: boolean; events: string }>(
        `select w.id, w.body_sha256, w.processed_at is not null as processed,
           (select count(*) from ${SCHEMA}.vault_refresh_events e where e.inbox_id = w.id::text) as events
         from ${SCHEMA}.vault_webhooks w`,
      )
    ).rows;

  beforeAll(async () => {
    // Retries 1000 times faster than Plaid's: 30 ms, 120 ms, 480 ms, 1.9 s, 7.7 s, 30.7 s.
    simulator = await startTestSimulator({ webhookDelayMs: 0, webhookRetryScale: 0.001 });
    plaid = clientFor(simulator);
    admin = new pg.Client({ connectionString: databaseUrl });
    await admin.connect();
    port = await freePort();
    viewerToken = await signViewerToken(SECRET, 'durable-viewer', { expiresIn: '1h' });
    service = await start();
    for (let i = 0; i < ITEMS; i++) {
      const { publicToken } = await plaid.createSandboxPublicToken({ institutionId: 'ins_109508', initialProducts: ['transactions'] });
      const response = await fetch(`${service.url}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${viewerToken}` },
        body: JSON.stringify({
          query: 'mutation ($p: String!) { linkItem(publicToken: $p) { __typename ... on LinkItemSuccess { item { id } } } }',
          variables: { p: publicToken },
        }),
      });
      const body = (await response.json()) as { data: { linkItem: { __typename: string; item?: { id: string } } } };
      const id = body.data.linkItem.item?.id;
      if (!id) throw new Error(`not linked: ${JSON.stringify(body)}`);
      const accessToken = simulator.state.items.get(id)?.accessToken ?? '';
      // What `npm run items:update-webhook` does for Items linked before PLAID_WEBHOOK_URL was set.
      await plaid.updateItemWebhook(accessToken, webhookUrl());
      items.push({ id, accessToken });
    }
    await simulator.webhooks.idle();
  }, 60_000);

  afterAll(async () => {
    if (service?.child.exitCode === null) service.child.kill('SIGKILL');
    await plaid?.close();
    await simulator?.close();
    await admin?.query(`drop schema if exists ${SCHEMA} cascade`);
    await admin?.end();
  }, 30_000);

  it('SIGKILL under a stream of webhooks, then a restart: none lost, none applied twice', async () => {
    const firstDelivery = simulator.webhooks.deliveries().length;
    let fired = 0;
    const fire = async (n: number) => {
      for (let i = 0; i < n; i++, fired++) {
        const item = items[fired % items.length] ?? { id: '', accessToken: '' };
        if (fired === WEBHOOKS - items.length) {
          // The last webhook of Item 0 revokes it; its health must show that after the restart.
          expect(await fireWebhook({ access_token: item.accessToken, webhook_code: 'USER_PERMISSION_REVOKED' })).toBe(200);
        } else if (fired % 2 === 0) {
          // Sandbox's own call: the same code for the same Item is the same body (a re-send, to the inbox).
          const code = CODES[Math.floor(fired / items.length) % CODES.length] ?? 'DEFAULT_UPDATE';
          expect(await fireWebhook({ access_token: item.accessToken, webhook_code: code })).toBe(200);
        } else {
          // What the simulator sends after a refresh that removed transactions: random ids, a distinct body each time.
          const simItem = simulator.state.items.get(item.id);
          if (!simItem) throw new Error('no such Item at the simulator');
          simulator.webhooks.send(simItem, [payloads.transactionsRemoved(simItem)]);
        }
      }
    };
    // Handling is held up (its event inserts wait on a table lock), storing is not: the first half is
    // stored and answered 200, and still unprocessed when the process dies.
    const locker = new pg.Client({ connectionString: databaseUrl });
    await locker.connect();
    await locker.query('begin');
    await locker.query(`lock table ${SCHEMA}.vault_refresh_events in exclusive mode`);
    await fire(WEBHOOKS / 2);
    await simulator.webhooks.idle();
    const unprocessedAtKill = (await inbox()).filter((r) => !r.processed).map((r) => r.id);
    const running = service;
    if (!running) throw new Error('not running');
    running.child.kill('SIGKILL');
    await once(running.child, 'exit');
    await locker.query('rollback');
    await locker.end();
    // Plaid keeps sending while the service is down (refused connections: retried later).
    await fire(WEBHOOKS / 2);
    const downAt = Date.now();
    service = await start();
    const restartMs = Date.now() - downAt;

    // Every webhook got its 200 in the end: the simulator has nothing left to send.
    await Promise.race([
      simulator.webhooks.idle(),
      sleep(45_000).then(() => {
        throw new Error(`${simulator.webhooks.pendingCount} webhooks still pending`);
      }),
    ]);
    const deliveries = simulator.webhooks.deliveries().slice(firstDelivery);
    const byWebhook = new Map<string, (typeof deliveries)[number][]>();
    for (const d of deliveries) byWebhook.set(d.id, [...(byWebhook.get(d.id) ?? []), d]);
    expect(byWebhook.size).toBe(WEBHOOKS);
    const unanswered = [...byWebhook.values()].filter((attempts) => !attempts.some((a) => a.status === 200));
    expect(unanswered).toEqual([]);
    const retried = [...byWebhook.values()].filter((attempts) => attempts.length > 1).length;
    expect(retried).toBeGreaterThan(0);

    // Every distinct body answered 200 is in the inbox; all of them processed, each applied once.
    const answered = new Set(deliveries.filter((d) => d.status === 200).map((d) => createHash('sha256').update(d.body).digest('hex')));
    const deadline = Date.now() + LEASE_MS * 5 + 10_000;
    let rows = await inbox();
    while (rows.some((r) => !r.processed) && Date.now() < deadline) {
      await sleep(100);
      rows = await inbox();
    }
    const stored = new Set(rows.map((r) => r.body_sha256));
    expect([...answered].filter((sha) => !stored.has(sha))).toEqual([]);
    expect(rows.filter((r) => !r.processed)).toEqual([]);
    expect(rows.filter((r) => Number(r.events) !== 1)).toEqual([]);
    expect(rows.length).toBeGreaterThan(WEBHOOKS / 2);
    // Stored by the dead process and never handled there (claimed ones too, once their lease ran out).
    expect(unprocessedAtKill.length).toBeGreaterThan(WEBHOOKS / 4);
    const processedIds = new Set(rows.filter((r) => r.processed).map((r) => r.id));
    expect(unprocessedAtKill.filter((id) => !processedIds.has(id))).toEqual([]);

    // The effect of the Item webhooks is there: Item 0 was revoked by its last webhook.
    const response = await fetch(`${service.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${viewerToken}` },
      body: JSON.stringify({ query: '{ viewer { items { id health { status source error { errorCode } } } } }' }),
    });
    const viewer = (await response.json()) as {
      data: { viewer: { items: { id: string; health: { status: string; source: string; error: { errorCode: string } | null } }[] } };
    };
    const revoked = viewer.data.viewer.items.find((i) => i.id === items[0]?.id);
    expect(revoked?.health).toEqual({ status: 'ERROR', source: 'WEBHOOK', error: { errorCode: 'USER_PERMISSION_REVOKED' } });
    console.info(
      `webhooks across kill -9: ${WEBHOOKS} sent, ${deliveries.length} attempts (${retried} retried), ${rows.length} inbox rows (${unprocessedAtKill.length} stored but unprocessed at the kill), all processed once; restart ${restartMs} ms`,
    );
  }, 90_000);
});
