/**
 * 3. Single flight: many concurrent refreshes of one Item share one Plaid call. The Plaid call is
 * slowed (a latency fault on that Item) so that every request arrives while it is in flight; the
 * simulator's request log counts what reached "Plaid".
 */
import { Pool } from 'undici';
import type { ServiceChild } from '../children.js';
import { graphqlHeaders, refreshBody } from '../requests.js';
import { addFault, clearFaults, clearRequests, countRequests } from '../simulator-control.js';

export interface SingleFlightOptions {
  readonly requests: number;
  readonly latencyMs: number;
}

export interface SingleFlightResult {
  readonly options: SingleFlightOptions;
  readonly upstreamCalls: number;
  readonly successes: number;
  /** Successes that say `joinedInFlight: true`. */
  readonly joined: number;
  /** Distinct Plaid request_ids among the successes (1 when everyone shared the call). */
  readonly requestIds: number;
  readonly wallMs: number;
}

export async function singleFlight(service: ServiceChild, options: SingleFlightOptions): Promise<SingleFlightResult> {
  const { ready } = service;
  // Any Item will do: quotas are unlimited in the bench and nothing is in flight between scenarios.
  const item = ready.items.at(-1);
  if (!item) throw new Error('no Items');
  await clearRequests(ready.simulatorUrl);
  await addFault(ready.simulatorUrl, {
    endpoint: '/transactions/refresh',
    item_id: item.id,
    effect: { type: 'latency', ms: options.latencyMs },
  });
  const client = new Pool(ready.url, { connections: options.requests });
  const headers = graphqlHeaders(ready.token);
  try {
    const started = performance.now();
    const answers = await Promise.all(
      Array.from({ length: options.requests }, async () => {
        const response = await client.request({ path: '/graphql', method: 'POST', headers, body: refreshBody(item.id) });
        return (await response.body.json()) as {
          data?: { refreshTransactions?: { __typename: string; requestId?: string; joinedInFlight?: boolean } | null };
        };
      }),
    );
    const wallMs = performance.now() - started;
    const successes = answers.map((a) => a.data?.refreshTransactions).filter((r) => r?.__typename === 'RefreshTransactionsSuccess');
    return {
      options,
      upstreamCalls: await countRequests(ready.simulatorUrl, { path: '/transactions/refresh', itemId: item.id }),
      successes: successes.length,
      joined: successes.filter((r) => r?.joinedInFlight === true).length,
      requestIds: new Set(successes.map((r) => r?.requestId)).size,
      wallMs,
    };
  } finally {
    await client.close();
    await clearFaults(ready.simulatorUrl);
  }
}
