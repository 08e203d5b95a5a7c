/**
 * Every dependency fault under load, against the real process in production shape (PostgreSQL
 * vault, Redis guard, Plaid simulator), each dependency behind a TCP fault proxy: drop, blackhole,
 * latency and flap, then kill -9 and SIGTERM of the service itself. No crash is not the bar; the
 * counts are:
 * - Items exchanged at Plaid = Items in the vault + Items removed at Plaid + Items in the link spool
 *   (plus, where Plaid's own answer was lost on the way, the links that answered "may have run");
 * - refreshes Plaid accepted (billed) <= refreshes answered as success + answers with mayHaveRun;
 * - no request waits longer than REQUEST_TIMEOUT_MS (plus a margin for the machine);
 * - no "Unexpected error.", no "unexpected error" and no "unhandled rejection" log line;
 * - after each fault the service recovers by itself.
 * Needs DATABASE_URL and REDIS_URL (CI sets both).
 */
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signViewerToken } from '../../src/demo/seed.js';
import type { PlaidClient } from '../../src/plaid/client.js';
import type { Simulator } from '../../src/simulator/server.js';
import { startFaultProxy, type FaultMode, type FaultProxy } from '../helpers/fault-proxy.js';
import { startServiceProcess, type ServiceProcess } from '../helpers/service-process.js';
import { clientFor, startTestSimulator } from '../helpers/simulator.js';
import { needs } from '../helpers/needs.js';

const databaseUrl = process.env.DATABASE_URL;
const redisUrl = process.env.REDIS_URL;

const SECRET = `faults-${randomBytes(24).toString('hex')}`;
const KEY = randomBytes(32).toString('base64');
const SCHEMA = `faults_${randomBytes(5).toString('hex')}`;
const REQUEST_TIMEOUT_MS = 6_000;
/** What a loaded 2-core machine may add to the deadline before an answer is on the wire. */
const DEADLINE_MARGIN_MS = 1_500;
const FAULT_MS = 3_000;
/** Short, so that a flight whose outcome a Redis fault kept from being published ends soon. */
const FLIGHT_LOCK_TTL_MS = 1_000;
const WORKERS = 6;
const VIEWERS = ['ana', 'bo', 'cy'];
const ITEMS_PER_VIEWER = 6;

const SERVICE_ENV = {
  NODE_ENV: 'production',
  HOST: '127.0.0.1',
  PORT: '0',
  LOG_LEVEL: 'info',
  AUTH_JWT_SECRET: SECRET,
  TOKEN_ENCRYPTION_KEY: KEY,
  DATABASE_SCHEMA: SCHEMA,
  REDIS_KEY_PREFIX: `${SCHEMA}:`,
  REQUEST_TIMEOUT_MS: String(REQUEST_TIMEOUT_MS),
  PLAID_TIMEOUT_MS: '1000',
  PLAID_RETRY_BASE_DELAY_MS: '20',
  PLAID_RETRY_MAX_DELAY_MS: '100',
  DATABASE_CONNECT_TIMEOUT_MS: '500',
  DATABASE_STATEMENT_TIMEOUT_MS: '1000',
  REDIS_CONNECT_TIMEOUT_MS: '500',
  REDIS_COMMAND_TIMEOUT_MS: '500',
  FLIGHT_LOCK_TTL_MS: String(FLIGHT_LOCK_TTL_MS),
  SHUTDOWN_DRAIN_MS: '300',
  LINK_SPOOL_REPLAY_MS: '300',
  SHUTDOWN_TIMEOUT_MS: '2000',
  QUOTA_IDENTITY_PER_ITEM: '10000',
  QUOTA_IDENTITY_PER_CLIENT: '100000',
  QUOTA_PER_VIEWER: '100000',
  LINK_PER_VIEWER_PER_HOUR: '100000',
  LINK_PER_CLIENT_PER_MINUTE: '100000',
};

type Dependency = 'PostgreSQL' | 'Redis' | 'Plaid';

interface Answer {
  readonly op: 'refresh' | 'link' | 'viewer';
  readonly ms: number;
  readonly status: number | 'transport error';
  readonly typename: string | null;
  readonly mayHaveRun: boolean;
  readonly joined: boolean;
  readonly errorCodes: readonly string[];
  readonly text: string;
}

const REFRESH = `mutation ($itemId: ID!) { refreshIdentity(itemId: $itemId) {
  __typename
  ... on RefreshIdentitySuccess { joinedInFlight }
  ... on PlaidUnavailableError { mayHaveRun }
  ... on DependencyUnavailableError { mayHaveRun dependency }
} }`;
const LINK = `mutation ($publicToken: String!) { linkItem(publicToken: $publicToken) {
  __typename
  ... on LinkItemSuccess { item { id } }
  ... on PlaidUnavailableError { mayHaveRun }
  ... on DependencyUnavailableError { mayHaveRun dependency }
  ... on LinkNotSavedError { outcome }
} }`;
const VIEWER = '{ viewer { items { id } } }';

describe('dependency faults under load', needs('DATABASE_URL', 'REDIS_URL'), () => {
  let simulator: Simulator;
  let plaid: PlaidClient;
  let proxies: Record<Dependency, FaultProxy>;
  let service: ServiceProcess | undefined;
  let spoolDir: string;
  let admin: pg.Client;
  const tokens = new Map<string, string>();
  /** Exchanges whose answer Plaid sent but the service never read (lost on the way), over all scenarios so far. */
  let lostInTransit = 0;
  const items: { viewer: string; id: string }[] = [];

  async function startService(): Promise<ServiceProcess> {
    const started = await startServiceProcess({
      ...process.env,
      ...SERVICE_ENV,
      PLAID_BASE_URL: proxies.Plaid.url(simulator.url),
      PLAID_CLIENT_ID: simulator.clientId,
      PLAID_SECRET: simulator.secret,
      DATABASE_URL: proxies.PostgreSQL.url(databaseUrl ?? ''),
      REDIS_URL: proxies.Redis.url(redisUrl ?? ''),
      LINK_SPOOL_DIR: spoolDir,
    });
    return started;
  }

  async function graphql(op: Answer['op'], viewer: string, query: string, variables: Record<string, unknown> = {}): Promise<Answer> {
    const started = performance.now();
    try {
      const response = await fetch(`${running().url}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${tokens.get(viewer) ?? ''}` },
        body: JSON.stringify({ query, variables }),
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS * 3),
      });
      const text = await response.text();
      const body = JSON.parse(text) as {
        data?: Record<string, Record<string, unknown> | null> | null;
        errors?: { extensions?: { code?: string } }[];
      };
      const field = body.data ? Object.values(body.data)[0] : null;
      return {
        op,
        ms: performance.now() - started,
        status: response.status,
        typename: typeof field?.__typename === 'string' ? field.__typename : null,
        mayHaveRun: field?.mayHaveRun === true,
        joined: field?.joinedInFlight === true,
        errorCodes: (body.errors ?? []).map((e) => e.extensions?.code ?? 'NO_CODE'),
        text,
      };
    } catch {
      return {
        op,
        ms: performance.now() - started,
        status: 'transport error',
        typename: null,
        mayHaveRun: false,
        joined: false,
        errorCodes: [],
        text: '',
      };
    }
  }

  async function link(viewer: string): Promise<Answer> {
    const { publicToken } = await plaid.createSandboxPublicToken({
      institutionId: 'ins_109508',
      initialProducts: ['transactions', 'identity'],
    });
    return graphql('link', viewer, LINK, { publicToken });
  }

  /** WORKERS loops of refreshes (most), links and viewer queries until stopped. */
  function startLoad(): { stop(): Promise<Answer[]> } {
    const answers: Answer[] = [];
    let running = true;
    const worker = async (w: number) => {
      for (let i = 0; running; i++) {
        const pick = (w * 7 + i) % 10;
        const target = items[(w * 5 + i) % items.length] ?? { viewer: 'ana', id: 'none' };
        if (pick < 7) answers.push(await graphql('refresh', target.viewer, REFRESH, { itemId: target.id }));
        else if (pick < 9) answers.push(await link(VIEWERS[i % VIEWERS.length] ?? 'ana'));
        else answers.push(await graphql('viewer', target.viewer, VIEWER));
      }
    };
    const workers = Array.from({ length: WORKERS }, (_, w) => worker(w));
    return {
      stop: async () => {
        running = false;
        await Promise.all(workers);
        return answers;
      },
    };
  }

  const exchanged = () => simulator.state.requests({ path: '/item/public_token/exchange' }).filter((r) => r.status === 200).length;
  const billedRefreshes = () => simulator.state.requests({ path: '/identity/refresh' }).filter((r) => r.status === 200).length;
  const spooled = () => readdirSync(spoolDir).filter((name) => name.endsWith('.item')).length;
  const vaultItems = async () => Number((await admin.query<{ n: string }>(`select count(*) as n from ${SCHEMA}.vault_items`)).rows[0]?.n);
  const running = () => {
    if (!service) throw new Error('the service is not running');
    return service;
  };
  const logLines = (from: number) =>
    running()
      .output()
      .slice(from)
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as { level: string; msg: string });

  /** Polls until a refresh and a link succeed again, as a client would; the time it took. */
  async function recovery(): Promise<number> {
    const started = Date.now();
    const item = items[0] ?? { viewer: 'ana', id: 'none' };
    for (;;) {
      const refresh = await graphql('refresh', item.viewer, REFRESH, { itemId: item.id });
      const linked = refresh.typename === 'RefreshIdentitySuccess' ? await link(item.viewer) : null;
      if (linked?.typename === 'LinkItemSuccess') {
        items.push({
          viewer: item.viewer,
          id: (JSON.parse(linked.text) as { data: { linkItem: { item: { id: string } } } }).data.linkItem.item.id,
        });
        return Date.now() - started;
      }
      if (Date.now() - started > 15_000) throw new Error(`no recovery: ${refresh.text} ${linked?.text ?? ''}`);
      await sleep(200);
    }
  }

  beforeAll(async () => {
    simulator = await startTestSimulator();
    plaid = clientFor(simulator);
    spoolDir = mkdtempSync(join(tmpdir(), 'faults-spool-'));
    admin = new pg.Client({ connectionString: databaseUrl });
    await admin.connect();
    const pgUrl = new URL(databaseUrl ?? '');
    const redis = new URL(redisUrl ?? '');
    const simulatorUrl = new URL(simulator.url);
    proxies = {
      PostgreSQL: await startFaultProxy({ target: { host: pgUrl.hostname, port: Number(pgUrl.port || 5432) } }),
      Redis: await startFaultProxy({ target: { host: redis.hostname, port: Number(redis.port || 6379) } }),
      Plaid: await startFaultProxy({ target: { host: simulatorUrl.hostname, port: Number(simulatorUrl.port) } }),
    };
    for (const viewer of VIEWERS) tokens.set(viewer, await signViewerToken(SECRET, viewer, { expiresIn: '1h' }));
    service = await startService();
    for (const viewer of VIEWERS) {
      for (let i = 0; i < ITEMS_PER_VIEWER; i++) {
        const answer = await link(viewer);
        expect(answer.typename).toBe('LinkItemSuccess');
        items.push({ viewer, id: (JSON.parse(answer.text) as { data: { linkItem: { item: { id: string } } } }).data.linkItem.item.id });
      }
    }
  }, 60_000);

  afterAll(async () => {
    if (service?.child.exitCode === null) service.child.kill('SIGKILL');
    for (const proxy of Object.values(proxies ?? {})) await proxy.close();
    await plaid.close();
    await simulator.close();
    await admin.query(`drop schema if exists ${SCHEMA} cascade`);
    await admin.end();
    const redis = new Redis(redisUrl ?? '');
    const keys = await redis.keys(`${SCHEMA}:*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
    rmSync(spoolDir, { recursive: true, force: true });
  }, 30_000);

  /**
   * Waits out the flight locks an earlier scenario left: a leader whose outcome a Redis fault kept
   * from being published leaves its lock to expire (FLIGHT_LOCK_TTL_MS), and a refresh of that Item
   * meanwhile hears COORDINATION "may have run", which is that earlier fault's answer, not this one's.
   */
  async function noFlightLocks(): Promise<void> {
    const redis = new Redis(redisUrl ?? '');
    try {
      const until = Date.now() + FLIGHT_LOCK_TTL_MS * 3;
      while ((await redis.keys(`${SCHEMA}:flight:lock:*`)).length > 0) {
        if (Date.now() > until) throw new Error(`flight locks still held ${FLIGHT_LOCK_TTL_MS * 3} ms later`);
        await sleep(50);
      }
    } finally {
      redis.disconnect();
    }
  }

  /** The invariants of every scenario, from the answers and the counts at its start. */
  async function expectHonest(answers: readonly Answer[], start: { billed: number; logFrom: number }, billedAtStop: number) {
    // The service stayed up and answered every request within its deadline, never with a bug's answer.
    expect(answers.filter((a) => a.status === 'transport error')).toEqual([]);
    expect(answers.filter((a) => a.status !== 200).map((a) => a.text)).toEqual([]);
    expect(Math.max(...answers.map((a) => a.ms))).toBeLessThan(REQUEST_TIMEOUT_MS + DEADLINE_MARGIN_MS);
    expect(answers.filter((a) => a.text.includes('Unexpected error.')).map((a) => a.text)).toEqual([]);
    // Mutations answer a union member; a query may answer a coded GraphQL error.
    expect(answers.filter((a) => a.op !== 'viewer' && a.typename === null).map((a) => a.text)).toEqual([]);
    expect(answers.flatMap((a) => a.errorCodes).filter((code) => code !== 'DEPENDENCY_UNAVAILABLE')).toEqual([]);
    const lines = logLines(start.logFrom);
    expect(lines.filter((l) => l.msg === 'unexpected error' || l.msg === 'unhandled rejection')).toEqual([]);

    // Billed refreshes were all reported as success or as "may have run".
    const billed = billedAtStop - start.billed;
    const reported = answers.filter(
      (a) => a.op === 'refresh' && ((a.typename === 'RefreshIdentitySuccess' && !a.joined) || a.mayHaveRun),
    ).length;
    expect(billed).toBeLessThanOrEqual(reported);

    // Every exchanged Item is held somewhere (or Plaid's own answer to the exchange was lost).
    lostInTransit += answers.filter((a) => a.op === 'link' && a.typename === 'PlaidUnavailableError' && a.mayHaveRun).length;
    // The spool is offered to the vault every 300 ms here: once it is empty, every kept Item is in the vault or removed.
    for (let i = 0; i < 50 && spooled() > 0; i++) await sleep(100);
    expect(spooled()).toBe(0);
    // No Item is both: a vault row whose token Plaid no longer honours would be a dead Item.
    const removed = [...simulator.state.removed];
    const zombies = await admin.query(`select item_id from ${SCHEMA}.vault_items where item_id = any($1::text[])`, [removed]);
    expect(zombies.rows).toEqual([]);
    const kept = (await vaultItems()) + removed.length;
    expect(exchanged()).toBeGreaterThanOrEqual(kept);
    expect(exchanged() - kept).toBeLessThanOrEqual(lostInTransit);
  }

  const SCENARIOS: readonly (readonly [Dependency, FaultMode, number?])[] = [
    ['PostgreSQL', { kind: 'drop' }],
    // Longer than a link's save retries (half of REQUEST_TIMEOUT_MS): exchanged Items are removed at Plaid.
    ['PostgreSQL', { kind: 'drop' }, REQUEST_TIMEOUT_MS],
    ['PostgreSQL', { kind: 'blackhole' }],
    ['PostgreSQL', { kind: 'flap', upMs: 300, downMs: 300 }],
    ['PostgreSQL', { kind: 'latency', ms: 150 }],
    ['Redis', { kind: 'drop' }],
    ['Redis', { kind: 'blackhole' }],
    ['Redis', { kind: 'flap', upMs: 300, downMs: 300 }],
    ['Plaid', { kind: 'drop' }],
    ['Plaid', { kind: 'blackhole' }],
    ['Plaid', { kind: 'flap', upMs: 300, downMs: 300 }],
  ];

  it.each(
    SCENARIOS.map(([dependency, mode, ms = FAULT_MS]) => [`${dependency} ${mode.kind} for ${ms / 1000} s`, dependency, mode, ms] as const),
  )(
    '%s under load: nothing lost, nothing frozen, typed answers, recovers by itself',
    async (_name, dependency, mode, faultMs) => {
      await noFlightLocks();
      const start = { billed: billedRefreshes(), logFrom: running().output().length };
      const load = startLoad();
      await sleep(300);
      await proxies[dependency].setMode(mode);
      await sleep(faultMs);
      await proxies[dependency].setMode({ kind: 'pass' });
      await sleep(500);
      const answers = await load.stop();
      const billedAtStop = billedRefreshes();
      const recoveredInMs = await recovery();
      await expectHonest(answers, start, billedAtStop);
      // The fault was felt (a latency only slows), and answered with the types made for it.
      const failed = answers.filter((a) => !['RefreshIdentitySuccess', 'LinkItemSuccess', null].includes(a.typename));
      if (mode.kind !== 'latency') expect(failed.length).toBeGreaterThan(0);
      const expectedTypes: Record<Dependency, readonly string[]> = {
        PostgreSQL: ['DependencyUnavailableError', 'LinkNotSavedError'],
        Redis: ['DependencyUnavailableError'],
        Plaid: ['PlaidUnavailableError'],
      };
      expect(failed.filter((a) => !expectedTypes[dependency].includes(a.typename ?? ''))).toEqual([]);
      expect(recoveredInMs).toBeLessThan(10_000);
      if (faultMs > FAULT_MS) expect(answers.filter((a) => a.text.includes('REMOVED_AT_PLAID')).length).toBeGreaterThan(0);
      if (process.env.FAULTS_REPORT) {
        const byType = new Map<string, number>();
        for (const a of answers)
          byType.set(
            `${a.op}:${a.typename ?? a.errorCodes.join('+')}`,
            (byType.get(`${a.op}:${a.typename ?? a.errorCodes.join('+')}`) ?? 0) + 1,
          );
        const p99 = [...answers.map((a) => a.ms)].sort((x, y) => x - y)[Math.floor(answers.length * 0.99)] ?? 0;
        console.info(
          `${dependency} ${mode.kind}: ${answers.length} requests, max ${Math.round(Math.max(...answers.map((a) => a.ms)))} ms, p99 ${Math.round(p99)} ms, recovered in ${recoveredInMs} ms`,
          Object.fromEntries(byType),
        );
      }
    },
    40_000,
  );

  it('kill -9 under load, then a restart: every Item Plaid exchanged is held, bar links in flight at the kill', async () => {
    const load = startLoad();
    await sleep(1_000);
    running().child.kill('SIGKILL');
    await once(running().child, 'exit');
    const answers = await load.stop();
    const unanswered = answers.filter((a) => a.status === 'transport error');
    service = await startService();
    await recovery();
    const lost = exchanged() - ((await vaultItems()) + simulator.state.removed.size + spooled()) - lostInTransit;
    // A link whose exchange Plaid answered just before the kill could not be saved: at most one per worker.
    expect(lost).toBeLessThanOrEqual(unanswered.filter((a) => a.op === 'link').length);
    expect(lost).toBeLessThanOrEqual(WORKERS);
    lostInTransit += lost;
  }, 40_000);

  it('SIGTERM while PostgreSQL is blackholed and requests hang on it: drains, exits 0 within its bound', async () => {
    const load = startLoad();
    await sleep(300);
    await proxies.PostgreSQL.setMode({ kind: 'blackhole' });
    await sleep(300);
    const signalled = Date.now();
    running().child.kill('SIGTERM');
    const [code] = (await once(running().child, 'exit')) as [number | null];
    const tookMs = Date.now() - signalled;
    await load.stop();
    await proxies.PostgreSQL.setMode({ kind: 'pass' });
    expect(code).toBe(0);
    // Drain 300 ms + grace 2 s + bounded close steps; nowhere near "never".
    expect(tookMs).toBeLessThan(8_000);
    service = await startService();
    await recovery();
  }, 40_000);
});
