/**
 * The subscriptions scenario alone with counts of one's choosing, printed (nothing written):
 *   node --import tsx bench/subscriptions-run.ts [subscriptions] [items] [ingest webhooks] [ingest concurrency] [pglite|postgres]
 * BENCH_SRC=<dir>/src runs the service from another copy of src/ (e.g. `git archive` of an older commit), for before/after.
 */
import { renderSubscriptions, subscriptions } from './scenarios/subscriptions.js';

const [subs = '10000', items = '10', ingest = '5000', concurrency = '100', backend = 'pglite'] = process.argv.slice(2);
const databaseUrl = backend === 'postgres' ? (process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test') : undefined;
const result = await subscriptions({
  subscriptions: Number(subs),
  items: Number(items),
  ingestWebhooks: Number(ingest),
  ingestConcurrency: Number(concurrency),
  ...(databaseUrl ? { databaseUrl } : {}),
  ...(process.env.BENCH_SRC ? { src: process.env.BENCH_SRC } : {}),
});
console.log(renderSubscriptions(backend, result));
console.log(JSON.stringify({ idle: result.idle, allOpen: result.allOpen }));
