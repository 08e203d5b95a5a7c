/**
 * `npm run bench`: every scenario of issue #7 in one run, written to docs/benchmarks.md.
 *
 *   npm run bench                      full run (about 10 minutes)
 *   npm run bench:quick                tiny counts, for CI: proves the harness works, figures meaningless
 *                                      (written to .local/benchmarks-quick.md)
 *   npm run bench -- --out /tmp/b.md   another output file
 *   npm run bench -- --only subscriptions   that scenario alone, printed (docs/benchmarks.md untouched)
 *
 * BENCH_DATABASE_URL=postgres://... adds a second column: the same scenarios with the vault in
 * PostgreSQL (as in production) instead of the embedded PGlite.
 */
import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { ROOT, startServiceChild, startSimulatorChild } from './children.js';
import { machineLoad, renderReport, writeReport, type BackendResults } from './report.js';
import { coldStart, type ColdStartOptions } from './scenarios/cold-start.js';
import { inFlight, type InFlightOptions } from './scenarios/in-flight.js';
import { bundleServiceChild } from './service-bundle.js';
import { entities, type EntitiesOptions } from './scenarios/entities.js';
import { overhead, type OverheadOptions } from './scenarios/overhead.js';
import { singleFlight, type SingleFlightOptions } from './scenarios/single-flight.js';
import { slowUpstream, type SlowUpstreamOptions } from './scenarios/slow-upstream.js';
import { renderSubscriptions, subscriptions, type SubscriptionsOptions } from './scenarios/subscriptions.js';
import { viewerItems, type ViewerItemsOptions } from './scenarios/viewer-items.js';

interface Plan {
  readonly items: number;
  readonly overhead: OverheadOptions;
  /** The same with a slow (but still far quicker than real) Plaid. */
  readonly overheadSlowPlaid: OverheadOptions;
  readonly slowUpstream: SlowUpstreamOptions;
  readonly singleFlight: SingleFlightOptions;
  readonly entities: EntitiesOptions;
  readonly viewerItems: ViewerItemsOptions;
  readonly coldStart: ColdStartOptions;
  readonly subscriptions: SubscriptionsOptions;
  readonly inFlight: InFlightOptions;
}

const FULL: Plan = {
  items: 1_000,
  overhead: { rounds: 5, connections: 50, durationSec: 10, latencyDurationSec: 5, warmupSec: 3, upstreamLatencyMs: 0 },
  overheadSlowPlaid: { rounds: 5, connections: 50, durationSec: 10, latencyDurationSec: 0, warmupSec: 2, upstreamLatencyMs: 50 },
  slowUpstream: { requests: 1_000, latencyMs: 5_000 },
  singleFlight: { requests: 500, latencyMs: 1_000 },
  entities: { representations: 1_000, rounds: 5 },
  viewerItems: { rounds: 5 },
  coldStart: { rounds: 5, compiled: true, firstStart: true },
  subscriptions: { subscriptions: 10_000, items: 10, ingestWebhooks: 5_000, ingestConcurrency: 100 },
  inFlight: { requests: 10_000, latencyMs: 30_000, seedBatch: 250, plaidMaxConnections: 9_900, probeHeap: true },
};

const QUICK: Plan = {
  items: 50,
  overhead: { rounds: 2, connections: 10, durationSec: 1, latencyDurationSec: 0.5, warmupSec: 0.5, upstreamLatencyMs: 0 },
  overheadSlowPlaid: { rounds: 1, connections: 10, durationSec: 1, latencyDurationSec: 0, warmupSec: 0.5, upstreamLatencyMs: 50 },
  slowUpstream: { requests: 50, latencyMs: 500 },
  singleFlight: { requests: 50, latencyMs: 300 },
  entities: { representations: 50, rounds: 2 },
  viewerItems: { rounds: 2 },
  coldStart: { rounds: 1, compiled: false, firstStart: false },
  subscriptions: { subscriptions: 40, items: 2, ingestWebhooks: 50, ingestConcurrency: 10 },
  inFlight: { requests: 50, latencyMs: 500, seedBatch: 25, plaidMaxConnections: null, probeHeap: true },
};

const { values } = parseArgs({
  options: { quick: { type: 'boolean', default: false }, out: { type: 'string' }, only: { type: 'string' } },
});
const quick = values.quick || process.env.BENCH_QUICK === '1';
const plan = quick ? QUICK : FULL;
// Quick figures mean nothing, so they never overwrite the real ones unless asked to.
const out = resolve(ROOT, values.out ?? process.env.BENCH_OUT ?? (quick ? '.local/benchmarks-quick.md' : 'docs/benchmarks.md'));
mkdirSync(dirname(out), { recursive: true });
const log = (message: string) => console.log(`[bench ${((performance.now() - t0) / 1000).toFixed(0).padStart(4)} s] ${message}`);
const t0 = performance.now();
const startedAt = new Date();
const loadAtStart = machineLoad();

const backends: BackendResults[] = [];
const databaseUrl = process.env.BENCH_DATABASE_URL;
for (const backend of [
  { name: 'PGlite vault (embedded)', databaseUrl: undefined },
  ...(databaseUrl ? [{ name: 'PostgreSQL vault', databaseUrl }] : []),
]) {
  // On a process of its own (its RSS is the subscriptions', not earlier scenarios' garbage).
  log(`${backend.name}: 7. subscriptions`);
  const subs = await subscriptions({ ...plan.subscriptions, ...(backend.databaseUrl ? { databaseUrl: backend.databaseUrl } : {}) });
  if (values.only === 'subscriptions') {
    console.log(renderSubscriptions(backend.name, subs));
    continue;
  }
  log(`${backend.name}: starting the simulator and the service (${plan.items} Items)`);
  const simulator = await startSimulatorChild();
  const service = await startServiceChild({
    simulator,
    items: plan.items,
    ...(backend.databaseUrl ? { databaseUrl: backend.databaseUrl } : {}),
  });
  try {
    // First, on a fresh process: its peak RSS is then the burst's, not an earlier scenario's garbage.
    log('2. slow upstream');
    const slow = await slowUpstream(service, plan.slowUpstream);
    log('1. overhead, Plaid answering at once');
    const over = await overhead(service, plan.overhead);
    log(`1. overhead, Plaid taking ${plan.overheadSlowPlaid.upstreamLatencyMs} ms`);
    const overSlow = await overhead(service, plan.overheadSlowPlaid);
    log('3. single flight');
    const flight = await singleFlight(service, plan.singleFlight);
    log('4. entities');
    const ents = await entities(service, plan.entities);
    log('8. viewer items');
    const items = await viewerItems(service, plan.viewerItems);
    backends.push({
      name: backend.name,
      overhead: over,
      overheadSlowPlaid: overSlow,
      slowUpstream: slow,
      singleFlight: flight,
      entities: ents,
      subscriptions: subs,
      viewerItems: items,
    });
  } finally {
    await service.close();
    await simulator.close();
  }
}
if (values.only) process.exit(0);
log('5. cold start');
const cold = await coldStart({ ...plan.coldStart, ...(databaseUrl ? { databaseUrl } : {}) });
log('6. refreshes in flight');
// As production runs the service: one bundle under plain node (bench/service-bundle.ts).
const flight6 = await inFlight({
  ...plan.inFlight,
  bundle: await bundleServiceChild('run-in-flight'),
  ...(databaseUrl ? { databaseUrl } : {}),
});

const report = renderReport({
  quick,
  startedAt,
  durationSec: (performance.now() - t0) / 1000,
  loadAtStart,
  backends,
  coldStart: cold,
  inFlight: flight6,
});
writeReport(out, report);
log(`written to ${out}`);
console.log(report);
