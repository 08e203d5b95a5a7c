/**
 * The service under test, in its own process: the real runtime (createRuntime + listen, as main.ts
 * does) with a known JWT secret and many seeded Items, reporting over IPC what a benchmark needs
 * (URL, token, Item ids) and, on request, RSS and event-loop delay. Bench-only: nothing here is
 * added to the production app.
 *
 * Env: BENCH_SIMULATOR_URL / _CLIENT_ID / _SECRET (a simulator-child); without them the simulator
 * runs in this process, as in embedded mode. BENCH_ITEMS: healthy Items for viewer `bench`.
 * BENCH_DATABASE_URL: the vault in PostgreSQL (a schema of its own, dropped at the end) instead of
 * the embedded PGlite. BENCH_SRC: another copy of src/ (an older commit), for before/after runs.
 * BENCH_FAKE_PLAID_URL: Plaid is bench/anchors/fake-plaid.ts instead of a simulator (the anchors
 * scenario): Items are written to the vault directly, since that Plaid links nothing.
 */
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { Session } from 'node:inspector/promises';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { getHeapSpaceStatistics, writeHeapSnapshot } from 'node:v8';
import pg from 'pg';
import type * as ConfigModule from '../src/config.js';
import type { AppConfig } from '../src/config.js';
import type * as SeedModule from '../src/demo/seed.js';
import type * as CallerModule from '../src/services/caller.js';
import type { TokenVault } from '../src/vault/vault.js';
import type { GuardedEndpoint } from '../src/guard/refresh-guard.js';
import type * as ListenModule from '../src/http/listen.js';
import type * as RuntimeModule from '../src/runtime.js';
import type * as SimulatorModule from '../src/simulator/server.js';
import type { BenchItem, ChildStats, ParentMessage, ServiceReady } from './protocol.js';

// BENCH_BUNDLED: this file runs as one esbuild bundle with src/ in it (bench/service-bundle.ts), as
// production runs the service; otherwise under tsx, loaded from BENCH_SRC when given, so bench/ab.ts
// can run an older src/ under the same harness.
const bundled = process.env.BENCH_BUNDLED === '1' ? await import('./service-src.js') : null;
const src = process.env.BENCH_SRC ? pathToFileURL(`${process.env.BENCH_SRC.replace(/\/+$/, '')}/`) : new URL('../src/', import.meta.url);
const { loadConfig } = bundled ?? ((await import(new URL('config.ts', src).href)) as typeof ConfigModule);
const { seedDemoViewer, signViewerToken } = bundled ?? ((await import(new URL('demo/seed.ts', src).href)) as typeof SeedModule);
const runtimeModule = bundled ?? ((await import(new URL('runtime.ts', src).href)) as typeof RuntimeModule & Partial<typeof ListenModule>);
const { createRuntime } = runtimeModule;
// Older revisions (bench:ab) kept listen() in runtime.ts.
const listen = runtimeModule.listen ?? ((await import(new URL('http/listen.ts', src).href)) as typeof ListenModule).listen;
const loadSimulator = async () =>
  bundled ? await bundled.loadSimulator() : ((await import(new URL('simulator/server.ts', src).href)) as typeof SimulatorModule);
// Older revisions (bench:ab) took the viewer id where services now take a Caller.
const callerModule = bundled ?? ((await import(new URL('services/caller.ts', src).href).catch(() => null)) as typeof CallerModule | null);
const callerFor = (viewerId: string) => (callerModule ? callerModule.callerFor(viewerId) : viewerId) as CallerModule.Caller;

const JWT_SECRET = 'bench-secret-that-is-long-enough-for-hs256';
const VIEWER = 'bench';
const UNLIMITED = Number.MAX_SAFE_INTEGER;

// The histogram holds intervals between ticks of a RESOLUTION_MS timer: the delay is what exceeds it.
const RESOLUTION_MS = 10;
const eventLoop = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
const delayMs = (ns: number) => Math.max(0, ns / 1e6 - RESOLUTION_MS);
eventLoop.enable();
let peakRss = process.memoryUsage.rss();
// Every 50 ms: often enough for a burst of several seconds, rarely enough not to show in a profile.
// Reading RSS opens /proc/self/stat: with every descriptor in use (EMFILE) that sample is skipped,
// not thrown out of the timer (which would end the process and the benchmark with it).
setInterval(() => {
  try {
    peakRss = Math.max(peakRss, process.memoryUsage.rss());
  } catch {
    // Sampled again in 50 ms.
  }
}, 50).unref();

const fakePlaidUrl = process.env.BENCH_FAKE_PLAID_URL ?? '';
let simulator = fakePlaidUrl
  ? { url: fakePlaidUrl, clientId: 'bench_client', secret: 'bench_secret' }
  : process.env.BENCH_SIMULATOR_URL
    ? {
        url: process.env.BENCH_SIMULATOR_URL,
        clientId: process.env.BENCH_SIMULATOR_CLIENT_ID ?? '',
        secret: process.env.BENCH_SIMULATOR_SECRET ?? '',
      }
    : null;
let closeSimulator = () => Promise.resolve();
if (!simulator) {
  const { startSimulator } = await loadSimulator();
  const started = await startSimulator({
    host: '127.0.0.1',
    port: 0,
    controlApi: true,
    rules: { transactionsRefreshPerItem: Number.POSITIVE_INFINITY, transactionsRefreshPerClient: Number.POSITIVE_INFINITY },
  });
  simulator = started;
  closeSimulator = () => started.close();
}

const databaseUrl = process.env.BENCH_DATABASE_URL;
const schema = `bench_${randomBytes(5).toString('hex')}`;
const vaultEnv = databaseUrl
  ? { DATABASE_URL: databaseUrl, DATABASE_SCHEMA: schema, TOKEN_ENCRYPTION_KEY: randomBytes(32).toString('base64') }
  : {};

const loaded = loadConfig({
  ...vaultEnv,
  NODE_ENV: 'benchmark',
  HOST: '127.0.0.1',
  PORT: '0',
  PLAID_BASE_URL: simulator.url,
  PLAID_CLIENT_ID: simulator.clientId,
  PLAID_SECRET: simulator.secret,
  AUTH_JWT_SECRET: JWT_SECRET,
  GRAPHIQL: 'false',
  ...(process.env.PLAID_MAX_CONNECTIONS ? { PLAID_MAX_CONNECTIONS: process.env.PLAID_MAX_CONNECTIONS } : {}),
});
// The cost guard stays in the path, but its windows are wider than any run: a benchmark that hit
// the per-minute quotas (at most 100 000 per client through the environment) would measure
// RefreshThrottledError instead of refreshes.
const unlimited = { perTarget: UNLIMITED, perViewer: UNLIMITED, perClient: UNLIMITED };
// Older revisions (bench:ab) keyed the quotas by endpoint directly.
const loadedQuotas = loaded.quotas as unknown as Record<string, unknown>;
const quotas =
  'endpoints' in loadedQuotas
    ? {
        endpoints: Object.fromEntries(Object.keys(loaded.quotas.endpoints).map((endpoint) => [endpoint, unlimited])) as Record<
          GuardedEndpoint,
          typeof unlimited
        >,
        link: { perViewerPerHour: UNLIMITED, perClientPerMinute: UNLIMITED },
      }
    : Object.fromEntries(Object.keys(loadedQuotas).map((endpoint) => [endpoint, unlimited]));
const config = { ...loaded, quotas } as AppConfig;

const runtime = await createRuntime(config);
// Older revisions (bench:ab) kept the vault in `services` and counted statements on it.
const legacy = runtime as unknown as {
  services: { vault?: TokenVault & { queryCount?: number } };
  vault?: TokenVault;
  metrics: { vaultStatements?: () => number };
};
const vault = (legacy.vault ?? legacy.services.vault) as TokenVault;
const vaultStatements = () => legacy.metrics.vaultStatements?.() ?? legacy.services.vault?.queryCount ?? 0;
const http = await listen(runtime.app, config.host, config.port);

const count = Number(process.env.BENCH_ITEMS ?? '100');
const items = fakePlaidUrl ? await saveItems(count) : await seedItems(count);
const demo = fakePlaidUrl ? { items: {} } : await seedDemoViewer({ plaid: runtime.plaid, vault, link: runtime.services.link });
const ready: ServiceReady = {
  type: 'ready',
  url: http.url,
  simulatorUrl: simulator.url,
  plaid: { clientId: simulator.clientId, secret: simulator.secret },
  token: await signViewerToken(JWT_SECRET, VIEWER),
  items,
  demoToken: await signViewerToken(JWT_SECRET, 'demo'),
  demoItems: Object.fromEntries(Object.entries(demo.items).map(([key, item]) => [key, item.itemId])),
};
process.send?.(ready);

/** CPU time of the process, in ms (the stats message's own handling included: the same for every revision). */
const cpuMs = () => {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
};

let snapshots = 0;
// Connected when a profile is asked for: a run without one carries no inspector session.
let inspector: Session | null = null;

process.on('message', (message: ParentMessage) => {
  if (message.type === 'profile') {
    void profile(message.action, message.path).then(
      () => process.send?.({ type: 'profile', id: message.id, error: null }),
      (error: unknown) => process.send?.({ type: 'profile', id: message.id, error: String(error) }),
    );
    return;
  }
  if (message.gc) (globalThis as { gc?: () => void }).gc?.();
  // BENCH_HEAP_SNAPSHOTS=<dir>: a heap snapshot at every collected stats (idle, all open), to diff by constructor.
  if (message.gc && process.env.BENCH_HEAP_SNAPSHOTS)
    writeHeapSnapshot(`${process.env.BENCH_HEAP_SNAPSHOTS}/service-${++snapshots}.heapsnapshot`);
  const memory = process.memoryUsage();
  const stats: ChildStats = {
    rssBytes: memory.rss,
    peakRssBytes: Math.max(peakRss, memory.rss),
    heapUsedBytes: memory.heapUsed,
    heapTotalBytes: memory.heapTotal,
    externalBytes: memory.external,
    heapSpaces: Object.fromEntries(getHeapSpaceStatistics().map((space) => [space.space_name, space.space_size])),
    inFlightRequests: http.inFlight(),
    eventLoop: {
      p50Ms: delayMs(eventLoop.percentile(50)),
      p99Ms: delayMs(eventLoop.percentile(99)),
      maxMs: delayMs(eventLoop.max),
      meanMs: delayMs(eventLoop.mean),
    },
    vaultQueries: vaultStatements(),
    cpuMs: cpuMs(),
  };
  if (message.reset) {
    eventLoop.reset();
    peakRss = process.memoryUsage.rss();
  }
  process.send?.({ type: 'stats', id: message.id, stats });
});

// The runner closing the channel (or dying) ends the child; exiting normally writes --cpu-prof.
process.on('disconnect', () => {
  void (async () => {
    await http.close();
    await runtime.close();
    await closeSimulator();
    if (databaseUrl) await dropSchema(databaseUrl);
    process.exit(0);
  })();
});

/** The V8 CPU profiler, so a profile covers the load only, not start-up and seeding. */
async function profile(action: 'start' | 'stop', path: string | undefined): Promise<void> {
  if (action === 'start') {
    if (!inspector) {
      inspector = new Session();
      inspector.connect();
    }
    await inspector.post('Profiler.enable');
    await inspector.post('Profiler.start');
    return;
  }
  if (!inspector) throw new Error('no profile was started');
  const { profile: data } = await inspector.post('Profiler.stop');
  inspector.disconnect();
  inspector = null;
  if (path) await writeFile(path, JSON.stringify(data));
}

/**
 * Links `n` Items for the bench viewer through the same Link flow clients use, BENCH_SEED_BATCH
 * (default 20) at a time: the in-flight scenario's 10,000 Items take minutes 20 at a time.
 */
async function seedItems(n: number): Promise<BenchItem[]> {
  const out: BenchItem[] = [];
  const size = Number(process.env.BENCH_SEED_BATCH ?? '20');
  for (let start = 0; start < n; start += size) {
    const batch = Array.from({ length: Math.min(size, n - start) }, async () => {
      const { publicToken } = await runtime.plaid.createSandboxPublicToken({
        institutionId: 'ins_109508',
        initialProducts: ['transactions', 'identity'],
      });
      const item = await runtime.services.link.linkItem(callerFor(VIEWER), publicToken);
      const accessToken = await vault.getAccessToken(VIEWER, item.id);
      if (accessToken === null) throw new Error('a seeded Item was not stored');
      return { id: item.id, accessToken };
    });
    out.push(...(await Promise.all(batch)));
  }
  return out;
}

/** `n` Items for the bench viewer straight into the vault (a fake Plaid links nothing). */
async function saveItems(n: number): Promise<BenchItem[]> {
  const out = Array.from({ length: n }, (_, i) => ({
    id: `bench_item_${i.toString().padStart(5, '0')}_${randomBytes(6).toString('hex')}`,
    accessToken: `access-sandbox-${randomBytes(16).toString('hex')}`,
  }));
  await vault.saveItems(
    out.map((item) => ({
      viewerId: VIEWER,
      itemId: item.id,
      accessToken: item.accessToken,
      institutionId: 'ins_109508',
      institutionName: 'First Platypus Bank',
      products: ['transactions', 'identity'],
    })),
  );
  return out;
}

async function dropSchema(url: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(`drop schema if exists ${schema} cascade`);
  } finally {
    await client.end();
  }
}
