/**
 * 8. Viewer items: `viewer { items { ... latestRefreshes { ... } } }` for every Item of the bench
 * viewer, each with a refresh recorded first (so the latest refresh is there to read). Issue #16's
 * target is one vault query per request for the Items and their latest refreshes; counted in the
 * service process, and the time is the median of the rounds.
 */
import type { ServiceChild } from '../children.js';
import { median } from '../load.js';
import { graphql, graphqlHeaders, isRefreshSuccess, refreshBody } from '../requests.js';

export interface ViewerItemsOptions {
  readonly rounds: number;
}

export interface ViewerItemsResult {
  readonly options: ViewerItemsOptions;
  /** Items in the answer, and how many of them came with their latest refresh. */
  readonly items: number;
  readonly withRefresh: number;
  /** Vault queries per request (every round). */
  readonly vaultQueries: readonly number[];
  readonly medianMs: number;
  /** The service's CPU time per request (ms), where its child reports it. */
  readonly cpuMs: readonly number[];
  readonly timesMs: readonly number[];
}

export const VIEWER_ITEMS_QUERY = /* GraphQL */ `
  query ViewerItems {
    viewer {
      items {
        id
        institutionName
        products
        linkedAt
        latestRefreshes {
          id
          product
          status
          requestedAt
        }
      }
    }
  }
`;

interface Answer {
  viewer: { items: { id: string; latestRefreshes: { id: string }[] }[] };
}

// Services whose Items were refreshed already (bench/read.ts measures one service in many turns).
const prepared = new WeakSet<ServiceChild>();

export async function viewerItems(service: ServiceChild, options: ViewerItemsOptions): Promise<ViewerItemsResult> {
  const { ready } = service;
  if (!prepared.has(service)) await refreshEveryItem(service);
  prepared.add(service);
  const timesMs: number[] = [];
  const cpuMs: number[] = [];
  const vaultQueries: number[] = [];
  let items = 0;
  let withRefresh = 0;
  // One unmeasured round first (JIT, vault pages).
  for (let round = -1; round < options.rounds; round++) {
    const statsBefore = await service.stats();
    const before = statsBefore.vaultQueries;
    const started = performance.now();
    const answer = await graphql<Answer>(ready.url, ready.token, VIEWER_ITEMS_QUERY);
    const elapsed = performance.now() - started;
    const statsAfter = await service.stats();
    const after = statsAfter.vaultQueries;
    if (answer.errors?.length) throw new Error(`viewer items failed: ${answer.errors.map((e) => e.message).join('; ')}`);
    if (round < 0) continue;
    timesMs.push(elapsed);
    if (statsBefore.cpuMs !== undefined && statsAfter.cpuMs !== undefined) cpuMs.push(statsAfter.cpuMs - statsBefore.cpuMs);
    vaultQueries.push(after - before);
    items = answer.data?.viewer.items.length ?? 0;
    withRefresh = answer.data?.viewer.items.filter((item) => item.latestRefreshes.length > 0).length ?? 0;
  }
  return { options, items, withRefresh, vaultQueries, medianMs: median(timesMs), timesMs, cpuMs };
}

/** One refreshTransactions per Item (20 at a time), so that every Item has a latest refresh to read. */
async function refreshEveryItem(service: ServiceChild): Promise<void> {
  const { ready } = service;
  for (let start = 0; start < ready.items.length; start += 20) {
    await Promise.all(
      ready.items.slice(start, start + 20).map(async (item) => {
        const response = await fetch(`${ready.url}/graphql`, {
          method: 'POST',
          headers: graphqlHeaders(ready.token),
          body: refreshBody(item.id),
        });
        const body = await response.text();
        if (!isRefreshSuccess(body)) throw new Error(`refreshing ${item.id} before viewer items failed: ${body.slice(0, 300)}`);
      }),
    );
  }
}

const ms = (n: number) => `${n.toFixed(n < 10 ? 2 : n < 100 ? 1 : 0)} ms`;

/** The scenario's paragraph in a backend's section of docs/benchmarks.md. */
function describeQueries(queries: readonly number[]): string {
  const distinct = [...new Set(queries)];
  return distinct.length === 1 ? `${distinct[0]} vault ${distinct[0] === 1 ? 'query' : 'queries'}` : `${queries.join('/')} vault queries`;
}

export function renderViewerItems(result: ViewerItemsResult): string {
  const queries = describeQueries(result.vaultQueries);
  return [
    '#### 8. Viewer items',
    '',
    `\`viewer { items { ... latestRefreshes { ... } } }\`: ${result.items} Items, ${result.withRefresh} with their latest refresh; ${queries} per request; ` +
      `${result.options.rounds} rounds: ${result.timesMs.map(ms).join(', ')} (median ${ms(result.medianMs)}).`,
    '',
  ].join('\n');
}

/** Its row in the summary table (target: one vault query for the Items and their latest refreshes). */
export function viewerItemsSummary(result: ViewerItemsResult): string {
  const met = result.vaultQueries.every((q) => q === 1) && result.withRefresh === result.items;
  return `${describeQueries(result.vaultQueries)}, ${ms(result.medianMs)} ${met ? 'met' : '**missed**'}`;
}
