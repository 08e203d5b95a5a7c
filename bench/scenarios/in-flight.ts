/**
 * 6. Refreshes in flight (issue #16, target 2): 10,000 mutations at once, one per Item (single
 * flight merges nothing), one client connection each, every Plaid call taking 30 s, the vault in
 * PostgreSQL. Unlike scenario 2 it starts its own simulator and service (10,000 Items, seeded
 * through the Link flow in large batches), so its figures are the burst's alone. Midway through the
 * burst, with every request in flight, it asks the service for its live heap (after a full GC): that
 * minus the idle heap, per request, is what one in-flight refresh holds.
 */
import { startServiceChild, startSimulatorChild } from '../children.js';
import type { ChildStats } from '../protocol.js';
import { slowUpstream, type SlowUpstreamResult } from './slow-upstream.js';

export interface InFlightOptions {
  readonly requests: number;
  readonly latencyMs: number;
  /**
   * PLAID_MAX_CONNECTIONS for the service, or null for none. 10,000 client connections and 10,000
   * to Plaid (HTTP/1.1: one per call in flight) do not fit in 20,000 descriptors with the rest
   * (PostgreSQL, the listener, IPC): without a cap the last connects fail with EMFILE.
   */
  readonly plaidMaxConnections: number | null;
  /** Items linked concurrently while seeding. */
  readonly seedBatch: number;
  /** The vault in PostgreSQL (the target's); without it, the embedded PGlite. */
  readonly databaseUrl?: string;
  /** More environment for the service child (BENCH_SRC for a before/after run). */
  readonly env?: Record<string, string>;
  /** Take the live heap midway (a full GC, which shows in the loop's max, not its p99). */
  readonly probeHeap: boolean;
  /** Write heap snapshots (idle, and midway through the burst) into the child's working directory, to see what each request holds. */
  readonly heapSnapshots?: boolean;
  /** Write a CPU profile of the service over the burst here. */
  readonly cpuProfilePath?: string;
  /** The service child as one bundle (bench/service-bundle.ts), as production runs it; without it, under tsx. */
  readonly bundle?: string;
  /**
   * Rest after seeding, before the burst: the Link flow's 10,000 Items leave V8's heap grown and
   * malloc'd memory that a process at rest gives back (its memory reducer runs after seconds
   * without work), so "idle" is measured after this long.
   */
  readonly restMs?: number;
}

export interface InFlightResult extends SlowUpstreamResult {
  readonly vault: 'PostgreSQL' | 'PGlite';
  readonly seedMs: number;
  /** The service ran as one bundle under node (as in production), not under tsx. */
  readonly bundled?: boolean;
  readonly plaidMaxConnections: number | null;
  /** Live heap after a full GC: idle before the burst, and midway with every request in flight. */
  readonly idleLiveHeapBytes: number | null;
  readonly midway: ChildStats | null;
}

export const IN_FLIGHT_TARGET = { peakRssBytes: 300 * 2 ** 20, eventLoopP99Ms: 20 } as const;

export async function inFlight(options: InFlightOptions): Promise<InFlightResult> {
  const simulator = await startSimulatorChild();
  const seedStarted = performance.now();
  const service = await startServiceChild({
    simulator,
    items: options.requests,
    execArgv: ['--expose-gc', ...(options.heapSnapshots ? ['--heapsnapshot-signal=SIGUSR2'] : [])],
    env: {
      BENCH_SEED_BATCH: String(options.seedBatch),
      ...(options.plaidMaxConnections === null ? {} : { PLAID_MAX_CONNECTIONS: String(options.plaidMaxConnections) }),
      ...options.env,
    },
    ...(options.databaseUrl ? { databaseUrl: options.databaseUrl } : {}),
    ...(options.bundle ? { bundle: options.bundle } : {}),
  });
  const seedMs = performance.now() - seedStarted;
  try {
    if (options.restMs) await new Promise((resolve) => setTimeout(resolve, options.restMs));
    const idleLiveHeapBytes = options.probeHeap ? (await service.stats(false, true)).heapUsedBytes : null;
    if (options.heapSnapshots) service.child.kill('SIGUSR2');
    let midway: ChildStats | null = null;
    // Midway: once every request has reached the service (2 s later, so they wait on Plaid by
    // then), and at the latest half-way through the latency. On a busy machine the clients connect
    // over many seconds, and a probe at a fixed time would count the ones not yet there.
    const burstStarted = performance.now() + 1_000;
    let probing = false;
    const probe = options.probeHeap
      ? setInterval(() => {
          if (probing || midway) return;
          probing = true;
          void service.stats(false, false).then(async (now) => {
            const late = performance.now() - burstStarted > options.latencyMs / 2;
            if ((now.inFlightRequests ?? 0) >= options.requests || late) {
              if (!late) await new Promise((resolve) => setTimeout(resolve, 2_000));
              midway = await service.stats(false, true);
              if (options.heapSnapshots) service.child.kill('SIGUSR2');
            }
            probing = false;
          });
        }, 500)
      : null;
    if (options.cpuProfilePath) await service.profile('start');
    const result = await slowUpstream(service, { requests: options.requests, latencyMs: options.latencyMs });
    if (probe) clearInterval(probe);
    if (options.cpuProfilePath) await service.profile('stop', options.cpuProfilePath);
    return {
      ...result,
      vault: options.databaseUrl ? 'PostgreSQL' : 'PGlite',
      seedMs,
      bundled: options.bundle !== undefined,
      plaidMaxConnections: options.plaidMaxConnections,
      idleLiveHeapBytes,
      midway,
    };
  } finally {
    await service.close();
    await simulator.close();
  }
}

const ms = (n: number) => (Number.isFinite(n) ? `${n.toFixed(n < 10 ? 2 : n < 100 ? 1 : 0)} ms` : 'n/a');
const mb = (bytes: number) => `${(bytes / 2 ** 20).toFixed(0)} MB`;
const verdict = (ok: boolean) => (ok ? 'met' : '**missed**');

/** Bytes of live heap one in-flight refresh holds (midway minus idle, per request), or null without the probe. */
export function heapPerRequest(r: InFlightResult): number | null {
  const midway: ChildStats | null = r.midway;
  // Per request in flight when it was taken (all of them, unless the machine was too slow).
  const inFlight = midway?.inFlightRequests ?? r.options.requests;
  return midway && r.idleLiveHeapBytes !== null && inFlight > 0 ? (midway.heapUsedBytes - r.idleLiveHeapBytes) / inFlight : null;
}

export function renderInFlight(r: InFlightResult): string {
  const failures = Object.entries(r.failures);
  const perRequest = heapPerRequest(r);
  const midway: ChildStats | null = r.midway;
  return [
    '### 6. Refreshes in flight',
    '',
    `${r.options.requests} \`refreshTransactions\` at once, one per Item and one connection each, every \`/transactions/refresh\` taking ${r.options.latencyMs} ms; ` +
      `${r.vault} vault, a service of its own (${r.bundled ? 'one bundle under node, as production runs it; ' : ''}${r.options.requests} Items seeded through the Link flow in ${ms(r.seedMs)}), ` +
      `${r.plaidMaxConnections === null ? 'no cap on connections to Plaid' : `at most ${r.plaidMaxConnections} connections to Plaid (PLAID_MAX_CONNECTIONS; the rest wait for one)`}.`,
    '',
    '| Figure | Target | Measured |',
    '|---|---|---|',
    `| Successes | all | ${r.successes}/${r.options.requests}${failures.length ? ` (failed: ${failures.map(([k, v]) => `${k} ${v}`).join(', ')})` : ''} ${verdict(r.successes === r.options.requests)} |`,
    `| Peak RSS (idle before) | < ${mb(IN_FLIGHT_TARGET.peakRssBytes)} | ${mb(r.during.peakRssBytes)} (${mb(r.before.rssBytes)}) ${verdict(r.during.peakRssBytes < IN_FLIGHT_TARGET.peakRssBytes)} |`,
    `| Event-loop delay p99 (p50, max) | < ${IN_FLIGHT_TARGET.eventLoopP99Ms} ms | ${ms(r.during.eventLoop.p99Ms)} (${ms(r.during.eventLoop.p50Ms)}, ${ms(r.during.eventLoop.maxMs)}) ${verdict(r.during.eventLoop.p99Ms < IN_FLIGHT_TARGET.eventLoopP99Ms)} |`,
    '',
    `Wall time ${ms(r.wallMs)} (latency p50 ${ms(r.latencyP50Ms)}, p99 ${ms(r.latencyP99Ms)}); the simulator received ${r.upstreamCalls} calls. ` +
      `Heap used at the end ${mb(r.during.heapUsedBytes)}` +
      (midway && perRequest !== null && r.idleLiveHeapBytes !== null
        ? `; live heap idle ${mb(r.idleLiveHeapBytes)}, midway ${mb(midway.heapUsedBytes)} (RSS ${mb(midway.rssBytes)}, ${midway.inFlightRequests ?? r.options.requests} in flight): ${(perRequest / 1024).toFixed(1)} KiB per request in flight.`
        : '.'),
    '',
  ].join('\n');
}
