/** autocannon, driven from TypeScript: one load run, its throughput, exact latencies and success count. */
import autocannon from 'autocannon';

export interface LoadOptions {
  readonly url: string;
  readonly connections: number;
  /** Seconds of load; or `amount` requests in all. */
  readonly durationSec?: number;
  readonly amount?: number;
  readonly headers: Record<string, string>;
  /** Request bodies, sent in turn (so consecutive requests name different Items). */
  readonly bodies: readonly string[];
  /** Whether a 2xx body is the answer wanted (a GraphQL success member, a Plaid 200). */
  readonly isSuccess: (body: string) => boolean;
}

export interface LoadResult {
  readonly requests: number;
  readonly successes: number;
  readonly rps: number;
  /** Milliseconds, from every response (autocannon's own histogram keeps whole ms of 2xx only). */
  readonly latency: { readonly p50: number; readonly p99: number; readonly mean: number };
  readonly errors: number;
}

export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  let next = 0;
  let successes = 0;
  const latencies: number[] = [];
  const bodies = options.bodies;
  if (bodies.length === 0) throw new Error('no request bodies');
  const instanceOptions: autocannon.Options = {
    url: options.url,
    method: 'POST',
    connections: options.connections,
    pipelining: 1,
    headers: options.headers,
    ...(options.amount !== undefined ? { amount: options.amount } : { duration: options.durationSec ?? 5 }),
    requests: [
      {
        setupRequest: (request) => ({ ...request, body: bodies[next++ % bodies.length] }),
        // A 200 counts only when it holds the wanted answer (GraphQL errors are 200s too).
        onResponse: (status, body) => {
          if (status === 200 && options.isSuccess(body)) successes++;
        },
      },
    ],
  };
  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    const instance = autocannon(instanceOptions, (error: unknown, done: autocannon.Result) => {
      if (error) reject(error instanceof Error ? error : new Error(`autocannon failed: ${JSON.stringify(error)}`));
      else resolve(done);
    });
    instance.on('response', (_client, _status, _bytes, responseTime) => {
      latencies.push(responseTime);
    });
  });
  const requests = latencies.length;
  return {
    requests,
    successes,
    rps: requests / (result.duration || 1),
    latency: { p50: percentile(latencies, 50), p99: percentile(latencies, 99), mean: mean(latencies) },
    errors: result.errors + result.timeouts,
  };
}

export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index] ?? Number.NaN;
}

export function median(values: readonly number[]): number {
  return percentile(values, 50);
}

function mean(values: readonly number[]): number {
  return values.length === 0 ? Number.NaN : values.reduce((a, b) => a + b, 0) / values.length;
}
