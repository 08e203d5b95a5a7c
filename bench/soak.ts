/**
 * `npm run soak`: minutes of mixed load against the service in embedded mode (the simulator in the
 * service's process), with faults injected into the simulator as it goes. Prints, every minute and
 * at the end: requests, answers by field and `__typename` (or error code), and the service's RSS and
 * heap (after a full GC), so a leak shows up as heap that keeps growing.
 *
 *   npm run soak                        10 minutes
 *   npm run soak -- --minutes 1         or SOAK_MINUTES=1
 *   npm run soak -- --connections 20
 */
import { parseArgs } from 'node:util';
import { print } from 'graphql';
import autocannon from 'autocannon';
import {
  RefreshCashflowReportDocument,
  RefreshIdentityDocument,
  RefreshTransactionsDocument,
  RefreshUserFinancialDataDocument,
  ViewerDocument,
} from '../operations/generated/graphql.js';
import type { FaultInput } from '../src/simulator/state.js';
import { startServiceChild } from './children.js';
import type { ChildStats, ServiceReady } from './protocol.js';
import { addFault, clearFaults } from './simulator-control.js';

const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: process.env.SOAK_MINUTES ?? '10' },
    connections: { type: 'string', default: '20' },
    items: { type: 'string', default: '200' },
  },
});
const minutes = Number(values.minutes);
const connections = Number(values.connections);
if (!(minutes > 0) || !(connections > 0)) throw new Error('--minutes and --connections must be positive numbers');

const documents = {
  transactions: print(RefreshTransactionsDocument),
  identity: print(RefreshIdentityDocument),
  cashflow: print(RefreshCashflowReportDocument),
  user: print(RefreshUserFinancialDataDocument),
  viewer: print(ViewerDocument),
};

interface Call {
  readonly token: string;
  readonly query: string;
  readonly variables: Record<string, unknown>;
}

const pick = <T>(list: readonly T[]): T => {
  const value = list[Math.floor(Math.random() * list.length)];
  if (value === undefined) throw new Error('empty list');
  return value;
};

/** One request of the mix: mostly refreshes of healthy Items, some of fixture Items that fail, the bundle, viewer, bad input and bad tokens. */
function nextCall(ready: ServiceReady): Call {
  const healthy = () => pick(ready.items).id;
  const fixture = () => pick(Object.values(ready.demoItems));
  const r = Math.random();
  if (r < 0.35) return { token: ready.token, query: documents.transactions, variables: { itemId: healthy() } };
  if (r < 0.5) return { token: ready.token, query: documents.identity, variables: { itemId: healthy() } };
  if (r < 0.62)
    return { token: ready.token, query: documents.cashflow, variables: { itemId: healthy(), days: 1 + Math.floor(Math.random() * 730) } };
  if (r < 0.72)
    return { token: ready.demoToken, query: pick([documents.transactions, documents.identity]), variables: { itemId: fixture() } };
  if (r < 0.8) return { token: ready.demoToken, query: documents.user, variables: {} };
  if (r < 0.95) return { token: pick([ready.token, ready.demoToken]), query: documents.viewer, variables: {} };
  if (r < 0.97) return { token: ready.token, query: documents.cashflow, variables: { itemId: healthy(), days: 0 } };
  if (r < 0.98) return { token: ready.token, query: documents.transactions, variables: { itemId: 'no-such-item' } };
  return { token: 'not-a-jwt', query: documents.viewer, variables: {} };
}

/** What came back, as `field: __typename` (or the GraphQL error code, or the HTTP status). */
function classify(status: number, body: string): string[] {
  let json: { data?: Record<string, unknown> | null; errors?: { extensions?: { code?: unknown } }[] };
  try {
    json = JSON.parse(body) as typeof json;
  } catch {
    return [`HTTP ${status} (not JSON)`];
  }
  const out: string[] = [];
  for (const [field, value] of Object.entries(json.data ?? {})) {
    const typename = (value as { __typename?: unknown } | null)?.__typename;
    out.push(`${field}: ${typeof typename === 'string' ? typename : value === null ? 'null' : 'Viewer'}`);
    // The bundle's per-Item errors are data too.
    const results = (value as { results?: { error?: { __typename?: string } | null }[] } | null)?.results ?? [];
    for (const result of results) out.push(`${field}.results: ${result.error?.__typename ?? 'ok'}`);
  }
  for (const error of json.errors ?? [])
    out.push(`error: ${typeof error.extensions?.code === 'string' ? error.extensions.code : 'no code'}`);
  return out.length > 0 ? out : [`HTTP ${status}`];
}

/** A fault for the next few matching calls, picked at random: Plaid being slow, failing or unreadable. */
function randomFault(ready: ServiceReady): FaultInput {
  const item = pick(ready.items).id;
  return pick<FaultInput>([
    { endpoint: '/transactions/refresh', count: 50, effect: { type: 'latency', min_ms: 50, max_ms: 800 } },
    { endpoint: '/identity/refresh', count: 20, effect: { type: 'error', error_code: 'INTERNAL_SERVER_ERROR' } },
    { endpoint: '/cashflow_report/refresh', count: 10, effect: { type: 'error', error_code: 'ITEM_LOGIN_REQUIRED' } },
    { endpoint: '/transactions/refresh', count: 5, effect: { type: 'connection_reset' } },
    { endpoint: '/identity/refresh', count: 5, effect: { type: 'html_502' } },
    { endpoint: '/cashflow_report/refresh', count: 5, effect: { type: 'malformed_json' } },
    { endpoint: '/transactions/refresh', item_id: item, count: 3, effect: { type: 'error', error_code: 'TRANSACTIONS_REFRESH_LIMIT' } },
    { endpoint: '/user/financial_data/refresh', count: 5, effect: { type: 'error', error_code: 'PLANNED_MAINTENANCE' } },
  ]);
}

const mb = (bytes: number) => `${(bytes / 2 ** 20).toFixed(0)} MB`;
const memory = (s: ChildStats) => `RSS ${mb(s.rssBytes)}, heap ${mb(s.heapUsedBytes)} (after GC)`;
const t0 = performance.now();
const elapsed = () => `${((performance.now() - t0) / 60_000).toFixed(1)} min`;

console.log(`soak: ${minutes} min, ${connections} connections, starting the service (embedded simulator, ${values.items} Items)`);
const service = await startServiceChild({ items: Number(values.items), execArgv: ['--expose-gc'] });
const { ready } = service;
const start = await service.stats(true, true);
console.log(`start: ${memory(start)}`);

const counts = new Map<string, number>();
let requests = 0;
let transportErrors = 0;
let lastRequests = 0;
let faults = 0;

const faultTimer = setInterval(() => {
  void addFault(ready.simulatorUrl, randomFault(ready)).then(
    () => faults++,
    (error: unknown) => console.error(`fault not added: ${String(error)}`),
  );
}, 5_000);

const report = async () => {
  const stats = await service.stats(true, true);
  const rate = (requests - lastRequests) / 60;
  lastRequests = requests;
  const failing = [...counts].filter(([k]) => !/Success|: Viewer|results: ok/.test(k)).reduce((a, [, n]) => a + n, 0);
  console.log(
    `[${elapsed()}] ${requests} requests (${rate.toFixed(0)}/s last minute), ${failing} error answers, ${transportErrors} transport errors; ` +
      `${memory(stats)}; event-loop delay p99 ${stats.eventLoop.p99Ms.toFixed(1)} ms`,
  );
};
const reportTimer = setInterval(() => void report(), 60_000);

const result = await new Promise<autocannon.Result>((resolve, reject) => {
  const instance = autocannon(
    {
      url: `${ready.url}/graphql`,
      method: 'POST',
      connections,
      duration: minutes * 60,
      requests: [
        {
          setupRequest: (request) => {
            const call = nextCall(ready);
            return {
              ...request,
              headers: { 'content-type': 'application/json', authorization: `Bearer ${call.token}` },
              body: JSON.stringify({ query: call.query, variables: call.variables }),
            };
          },
          onResponse: (status, body) => {
            requests++;
            for (const key of classify(status, body)) counts.set(key, (counts.get(key) ?? 0) + 1);
          },
        },
      ],
    },
    (error: unknown, done: autocannon.Result) => {
      if (error) reject(error instanceof Error ? error : new Error(`autocannon failed: ${JSON.stringify(error)}`));
      else resolve(done);
    },
  );
  instance.on('reqError', () => transportErrors++);
});
clearInterval(faultTimer);
clearInterval(reportTimer);
await clearFaults(ready.simulatorUrl);

const end = await service.stats(false, true);
await service.close();

console.log(
  `\nsoak done after ${elapsed()}: ${requests} requests (${(requests / (minutes * 60)).toFixed(0)}/s), ${transportErrors} transport errors, ${result.timeouts} timeouts, ${faults} faults injected`,
);
console.log('answers by field and __typename:');
for (const [key, n] of [...counts].sort((a, b) => a[0].localeCompare(b[0]))) console.log(`  ${String(n).padStart(8)}  ${key}`);
console.log(`memory: start ${memory(start)}; end ${memory(end)}; heap growth ${mb(end.heapUsedBytes - start.heapUsedBytes)}`);
