/**
 * The cost guard across replicas: two service processes on one Redis, one PostgreSQL vault and one
 * Plaid simulator. Needs REDIS_URL and DATABASE_URL (CI sets both).
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signViewerToken } from '../../src/demo/seed.js';
import type { PlaidClient } from '../../src/plaid/client.js';
import type { Simulator } from '../../src/simulator/server.js';
import { openVault } from '../../src/vault/open-vault.js';
import type { TokenVault } from '../../src/vault/vault.js';
import { startServiceProcess, type ServiceProcess } from '../helpers/service-process.js';
import { clientFor, injectFault, startTestSimulator } from '../helpers/simulator.js';
import { needs } from '../helpers/needs.js';

const redisUrl = process.env.REDIS_URL;
const databaseUrl = process.env.DATABASE_URL;
const SECRET = `replicas-${randomBytes(24).toString('hex')}`;
const KEY = randomBytes(32).toString('base64');
const SCHEMA = `replicas_${randomBytes(5).toString('hex')}`;
const LOCK_TTL_MS = 2_000; // FLIGHT_LOCK_TTL_MS: short, renewed while its holder calls Plaid

type Replica = ServiceProcess;

function startReplica(simulator: Simulator): Promise<Replica> {
  return startServiceProcess({
    ...process.env,
    NODE_ENV: 'test',
    HOST: '127.0.0.1',
    PORT: '0',
    PLAID_BASE_URL: simulator.url,
    PLAID_CLIENT_ID: simulator.clientId,
    PLAID_SECRET: simulator.secret,
    PLAID_TIMEOUT_MS: '3000',
    PLAID_MAX_ATTEMPTS: '1',
    PLAID_RETRY_MAX_ELAPSED_MS: '0',
    AUTH_JWT_SECRET: SECRET,
    TOKEN_ENCRYPTION_KEY: KEY,
    DATABASE_URL: databaseUrl,
    DATABASE_SCHEMA: SCHEMA,
    REDIS_URL: redisUrl,
    REDIS_KEY_PREFIX: `${SCHEMA}:`,
    FLIGHT_LOCK_TTL_MS: String(LOCK_TTL_MS),
  });
}

const REFRESH = `mutation ($itemId: ID!) { refreshTransactions(itemId: $itemId) {
  __typename
  ... on RefreshTransactionsSuccess { requestId joinedInFlight }
  ... on RefreshThrottledError { scope retryAfterSeconds }
  ... on DependencyUnavailableError { dependency mayHaveRun }
  ... on BaseError { message }
} }`;

type Answer = {
  __typename: string;
  requestId?: string;
  joinedInFlight?: boolean;
  retryAfterSeconds?: number;
  message?: string;
  dependency?: string;
  mayHaveRun?: boolean;
};

async function refresh(replica: Replica, token: string, itemId: string): Promise<Answer> {
  const response = await fetch(`${replica.url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query: REFRESH, variables: { itemId } }),
  });
  const body = (await response.json()) as { data?: { refreshTransactions: Answer | null }; errors?: unknown };
  if (!body.data?.refreshTransactions) throw new Error(`no answer: ${JSON.stringify(body)}`);
  return body.data.refreshTransactions;
}

describe('two replicas on one Redis', needs('REDIS_URL', 'DATABASE_URL'), () => {
  let simulator: Simulator;
  let plaid: PlaidClient;
  let vault: TokenVault;
  let replicas: Replica[] = [];
  let token: string;

  /** A new Item of viewer v1, linked at the simulator and stored in the shared vault. */
  async function newItem(): Promise<string> {
    const { publicToken } = await plaid.createSandboxPublicToken({ institutionId: 'ins_109508', initialProducts: ['transactions'] });
    const { accessToken, itemId } = await plaid.exchangePublicToken(publicToken);
    await vault.saveItem({
      viewerId: 'v1',
      itemId,
      accessToken,
      institutionId: 'ins_109508',
      institutionName: 'First Platypus Bank',
      products: ['transactions'],
    });
    return itemId;
  }

  const plaidCalls = (itemId: string) => simulator.state.requests({ path: '/transactions/refresh', itemId }).length;

  beforeAll(async () => {
    simulator = await startTestSimulator();
    plaid = clientFor(simulator);
    const admin = new pg.Client({ connectionString: databaseUrl });
    await admin.connect();
    await admin.query(`create schema if not exists ${SCHEMA}`);
    await admin.end();
    vault = await openVault({ databaseUrl: databaseUrl ?? null, encryptionKey: KEY, schema: SCHEMA });
    token = await signViewerToken(SECRET, 'v1');
    replicas = await Promise.all([startReplica(simulator), startReplica(simulator)]);
  }, 60_000);

  afterAll(async () => {
    for (const replica of replicas) replica.child.kill('SIGTERM');
    await vault?.close();
    await plaid?.close();
    await simulator?.close();
    const admin = new pg.Client({ connectionString: databaseUrl });
    await admin.connect();
    await admin.query(`drop schema if exists ${SCHEMA} cascade`);
    await admin.end();
  }, 30_000);

  it('a subscriber on replica B hears of a refresh made on replica A (Redis pub/sub), with its stored status', async () => {
    const itemId = await newItem();
    const [a, b] = replicas as [Replica, Replica];
    const controller = new AbortController();
    const response = await fetch(`${b.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'text/event-stream', authorization: `Bearer ${token}` },
      body: JSON.stringify({
        query: `subscription ($itemIds: [ID!]) { refreshEvents(itemIds: $itemIds) { item { id } refreshes { id status } } }`,
        variables: { itemIds: [itemId] },
      }),
      signal: controller.signal,
    });
    const reader = response.body?.getReader();
    if (!reader) throw new Error('no body');
    let text = '';
    const heard = (async () => {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return text;
        text += new TextDecoder().decode(value);
        if (text.includes('"PENDING"')) return text;
      }
    })();
    // The subscription is registered once its first bytes (headers) are out.
    await new Promise((r) => setTimeout(r, 300));
    const answer = await refresh(a, token, itemId);
    expect(answer.__typename).toBe('RefreshTransactionsSuccess');
    const received = await Promise.race([heard, new Promise<string>((r) => setTimeout(() => r('timeout'), 5_000))]);
    controller.abort();
    expect(received).toContain(itemId);
    expect(received).toContain('"PENDING"');
  }, 30_000);

  it('200 concurrent identical refreshes across both replicas: one Plaid call, 200 successes', async () => {
    const itemId = await newItem();
    await injectFault(simulator, { item_id: itemId, count: 1, effect: { type: 'latency', ms: 1_000 } });
    const answers = await Promise.all(Array.from({ length: 200 }, (_, i) => refresh(replicas[i % 2] as Replica, token, itemId)));
    expect(answers.filter((a) => a.__typename !== 'RefreshTransactionsSuccess')).toEqual([]);
    expect(new Set(answers.map((a) => a.requestId)).size).toBe(1);
    expect(answers.filter((a) => !a.joinedInFlight)).toHaveLength(1);
    expect(plaidCalls(itemId)).toBe(1);
  }, 60_000);

  it('5 sequential refreshes of one Item within a minute: 2 reach Plaid, 3 throttled with retryAfterSeconds', async () => {
    const itemId = await newItem();
    const answers: Answer[] = [];
    for (let i = 0; i < 5; i++) answers.push(await refresh(replicas[i % 2] as Replica, token, itemId));
    expect(answers.map((a) => a.__typename)).toEqual([
      'RefreshTransactionsSuccess',
      'RefreshTransactionsSuccess',
      'RefreshThrottledError',
      'RefreshThrottledError',
      'RefreshThrottledError',
    ]);
    for (const throttled of answers.slice(2)) {
      expect(throttled.retryAfterSeconds).toBeGreaterThan(50);
      expect(throttled.retryAfterSeconds).toBeLessThanOrEqual(60);
    }
    expect(plaidCalls(itemId)).toBe(2);
  }, 60_000);

  it('a replica killed (kill -9) while holding the lock: a waiting refresh gives up within one short lock TTL, "may have run"; the next one calls Plaid', async () => {
    const itemId = await newItem();
    await injectFault(simulator, { item_id: itemId, count: 1, effect: { type: 'latency', ms: 10_000 } });
    const [doomed, survivor] = replicas as [Replica, Replica];
    void refresh(doomed, token, itemId).catch(() => {});
    // Wait until the doomed replica's call reached Plaid (it holds the lock now), then kill it.
    for (let i = 0; i < 200 && plaidCalls(itemId) === 0; i++) await new Promise((r) => setTimeout(r, 25));
    expect(plaidCalls(itemId)).toBe(1);
    doomed.child.kill('SIGKILL');
    const started = Date.now();
    const answer = await refresh(survivor, token, itemId);
    // The dead replica may have been billed: no second call behind the caller's back, and no 5-minute wait.
    expect(answer).toMatchObject({ __typename: 'DependencyUnavailableError', dependency: 'COORDINATION', mayHaveRun: true });
    expect(Date.now() - started).toBeLessThan(LOCK_TTL_MS + 1_500);
    expect(plaidCalls(itemId)).toBe(1);
    const next = await refresh(survivor, token, itemId);
    expect(next).toMatchObject({ __typename: 'RefreshTransactionsSuccess', joinedInFlight: false });
    expect(plaidCalls(itemId)).toBe(2);
  }, 60_000);
});
