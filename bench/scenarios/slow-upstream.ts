/**
 * 2. Slow upstream: every Plaid call takes 5 s and 1,000 mutations arrive at once, each for its own
 * Item (so single flight cannot merge them: 1,000 calls must be in flight together). All must
 * succeed; the service's peak RSS and event-loop delay are sampled in its process.
 */
import { Pool } from 'undici';
import type { ChildStats } from '../protocol.js';
import type { ServiceChild } from '../children.js';
import { percentile } from '../load.js';
import { graphqlHeaders, isRefreshSuccess, refreshBody } from '../requests.js';
import { addFault, clearFaults, clearRequests, countRequests } from '../simulator-control.js';

export interface SlowUpstreamOptions {
  readonly requests: number;
  readonly latencyMs: number;
}

export interface SlowUpstreamResult {
  readonly options: SlowUpstreamOptions;
  readonly successes: number;
  /** __typename (or transport error) -> count, for whatever did not succeed. */
  readonly failures: Record<string, number>;
  readonly upstreamCalls: number;
  readonly wallMs: number;
  readonly latencyP50Ms: number;
  readonly latencyP99Ms: number;
  /** The service process before the burst (idle) and over it. */
  readonly before: ChildStats;
  readonly during: ChildStats;
}

export async function slowUpstream(service: ServiceChild, options: SlowUpstreamOptions): Promise<SlowUpstreamResult> {
  const { ready } = service;
  if (ready.items.length < options.requests)
    throw new Error(`slow upstream needs ${options.requests} Items, the service has ${ready.items.length}`);
  await clearRequests(ready.simulatorUrl);
  await addFault(ready.simulatorUrl, { endpoint: '/transactions/refresh', effect: { type: 'latency', ms: options.latencyMs } });
  // The load side must not queue either: one connection per request.
  const client = new Pool(ready.url, { connections: options.requests, headersTimeout: 0, bodyTimeout: 0 });
  const headers = graphqlHeaders(ready.token);
  try {
    // A quiet second first, so the idle figures are not the previous scenario's tail.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const before = await service.stats(true);
    const started = performance.now();
    const latencies: number[] = [];
    const failures: Record<string, number> = {};
    const outcomes = await Promise.all(
      ready.items.slice(0, options.requests).map(async (item) => {
        const sent = performance.now();
        try {
          const response = await client.request({ path: '/graphql', method: 'POST', headers, body: refreshBody(item.id) });
          const text = await response.body.text();
          latencies.push(performance.now() - sent);
          if (response.statusCode === 200 && isRefreshSuccess(text)) return true;
          const typename = /"__typename":"(\w+)"/.exec(text)?.[1] ?? `HTTP ${response.statusCode}`;
          failures[typename] = (failures[typename] ?? 0) + 1;
        } catch (error) {
          // undici's code (UND_ERR_SOCKET, ECONNRESET, ...) says more than the class name.
          const code = (error as { code?: unknown } | null)?.code;
          const name = typeof code === 'string' ? code : error instanceof Error ? error.name : 'error';
          failures[name] = (failures[name] ?? 0) + 1;
        }
        return false;
      }),
    );
    const wallMs = performance.now() - started;
    const during = await service.stats(true);
    return {
      options,
      successes: outcomes.filter(Boolean).length,
      failures,
      upstreamCalls: await countRequests(ready.simulatorUrl, { path: '/transactions/refresh' }),
      wallMs,
      latencyP50Ms: percentile(latencies, 50),
      latencyP99Ms: percentile(latencies, 99),
      before,
      during,
    };
  } finally {
    await client.close();
    await clearFaults(ready.simulatorUrl);
  }
}
