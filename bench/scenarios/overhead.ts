/**
 * 1. Overhead: refreshTransactions through the whole service (JWT, vault, guard, Plaid call, zod,
 * union, log line, metrics) against its ceiling, the same Plaid call POSTed straight to the same
 * simulator with the same load generator at the same concurrency. Rounds are interleaved
 * (service, direct, service, ...) and summarised by medians.
 *
 * With `upstreamLatencyMs` 0 both sides are CPU-bound, so the ratio compares the layer's work per
 * refresh with the simulator's; with a latency fault on the simulator it shows what the layer costs
 * when Plaid, not CPU, sets the pace (Plaid's refreshes take seconds).
 */
import type { ServiceChild } from '../children.js';
import { median, runLoad, type LoadResult } from '../load.js';
import { directTarget, serviceTarget } from '../requests.js';
import { addFault, clearFaults } from '../simulator-control.js';

export interface OverheadOptions {
  readonly rounds: number;
  readonly connections: number;
  readonly durationSec: number;
  readonly warmupSec: number;
  /** Added by the simulator to every /transactions/refresh (0: none). */
  readonly upstreamLatencyMs: number;
  /** Seconds per one-connection latency round (each request's own time, no queueing); 0 skips them. */
  readonly latencyDurationSec: number;
}

export interface OverheadResult {
  readonly options: OverheadOptions;
  readonly throughput: { readonly service: LoadResult; readonly direct: LoadResult }[];
  readonly latency: { readonly service: LoadResult; readonly direct: LoadResult }[];
  readonly summary: {
    readonly serviceRps: number;
    readonly directRps: number;
    /** Median of the per-round ratios, so a noisy round moves it little. */
    readonly ratio: number;
    readonly serviceSuccess: number;
    readonly directSuccess: number;
    /** Under load (C connections): includes queueing. */
    readonly loaded: { readonly serviceP50: number; readonly serviceP99: number; readonly directP50: number; readonly directP99: number };
    /** One connection: the layer's own time per request (NaN when not measured). */
    readonly addedP50: number;
    readonly addedP99: number;
    readonly serviceP50: number;
    readonly serviceP99: number;
    readonly directP50: number;
    readonly directP99: number;
  };
}

export async function overhead(service: ServiceChild, options: OverheadOptions): Promise<OverheadResult> {
  const viaService = serviceTarget(service.ready);
  const direct = directTarget(service.ready);
  const { simulatorUrl } = service.ready;
  if (options.upstreamLatencyMs > 0) {
    await addFault(simulatorUrl, { endpoint: '/transactions/refresh', effect: { type: 'latency', ms: options.upstreamLatencyMs } });
  }
  try {
    // Warm-up: JIT, keep-alive pools, vault pages; not measured.
    await runLoad({ ...viaService, connections: options.connections, durationSec: options.warmupSec });
    await runLoad({ ...direct, connections: options.connections, durationSec: options.warmupSec });

    const throughput: OverheadResult['throughput'] = [];
    for (let round = 0; round < options.rounds; round++) {
      const s = await runLoad({ ...viaService, connections: options.connections, durationSec: options.durationSec });
      const d = await runLoad({ ...direct, connections: options.connections, durationSec: options.durationSec });
      throughput.push({ service: s, direct: d });
    }
    const latency: OverheadResult['latency'] = [];
    for (let round = 0; options.latencyDurationSec > 0 && round < options.rounds; round++) {
      const s = await runLoad({ ...viaService, connections: 1, durationSec: options.latencyDurationSec });
      const d = await runLoad({ ...direct, connections: 1, durationSec: options.latencyDurationSec });
      latency.push({ service: s, direct: d });
    }
    return { options, throughput, latency, summary: summarise(throughput, latency) };
  } finally {
    if (options.upstreamLatencyMs > 0) await clearFaults(simulatorUrl);
  }
}

function summarise(throughput: OverheadResult['throughput'], latency: OverheadResult['latency']): OverheadResult['summary'] {
  const success = (runs: LoadResult[]) =>
    runs.reduce((a, r) => a + r.successes, 0) /
    Math.max(
      1,
      runs.reduce((a, r) => a + r.requests, 0),
    );
  const all = [...throughput, ...latency];
  return {
    serviceRps: median(throughput.map((r) => r.service.rps)),
    directRps: median(throughput.map((r) => r.direct.rps)),
    ratio: median(throughput.map((r) => r.service.rps / r.direct.rps)),
    serviceSuccess: success(all.map((r) => r.service)),
    directSuccess: success(all.map((r) => r.direct)),
    loaded: {
      serviceP50: median(throughput.map((r) => r.service.latency.p50)),
      serviceP99: median(throughput.map((r) => r.service.latency.p99)),
      directP50: median(throughput.map((r) => r.direct.latency.p50)),
      directP99: median(throughput.map((r) => r.direct.latency.p99)),
    },
    addedP50: median(latency.map((r) => r.service.latency.p50 - r.direct.latency.p50)),
    addedP99: median(latency.map((r) => r.service.latency.p99 - r.direct.latency.p99)),
    serviceP50: median(latency.map((r) => r.service.latency.p50)),
    serviceP99: median(latency.map((r) => r.service.latency.p99)),
    directP50: median(latency.map((r) => r.direct.latency.p50)),
    directP99: median(latency.map((r) => r.direct.latency.p99)),
  };
}
