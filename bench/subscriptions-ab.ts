/**
 * Before/after for the subscriptions scenario's fan-out: the service on src/ as of <rev> (A) and on
 * the working tree (B), one whole scenario run each in turn (A, B, A, B, ...), so the noise of a
 * shared machine falls on both alike. Prints every round, the medians of the rounds' p50 and p99, and the ingest figures.
 *
 *   node --import tsx bench/subscriptions-ab.ts --base main --runs 4 [--subscriptions 10000 --items 10 --ingest 200 --concurrency 100 --backend postgres|pglite]
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ROOT } from './children.js';
import { median } from './load.js';
import { subscriptions, type FanOutRound } from './scenarios/subscriptions.js';

const { values } = parseArgs({
  options: {
    base: { type: 'string', default: 'HEAD' },
    runs: { type: 'string', default: '4' },
    subscriptions: { type: 'string', default: '10000' },
    items: { type: 'string', default: '10' },
    ingest: { type: 'string', default: '200' },
    concurrency: { type: 'string', default: '100' },
    backend: { type: 'string', default: 'postgres' },
  },
});

// src/ of the base revision, inside the repository so its imports resolve to our node_modules.
const baseDir = join(ROOT, '.local', 'subscriptions-ab-base');
rmSync(baseDir, { recursive: true, force: true });
mkdirSync(baseDir, { recursive: true });
const archive = execFileSync('git', ['archive', '--format=tar', values.base, 'src'], { cwd: ROOT, maxBuffer: 1 << 28 });
execFileSync('tar', ['-x', '-C', baseDir], { input: archive });

const databaseUrl =
  values.backend === 'postgres' ? (process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test') : undefined;
const sides = [
  { name: `A (${values.base})`, src: join(baseDir, 'src') },
  { name: 'B (working tree)', src: undefined },
] as const;
const rounds = new Map<string, FanOutRound[]>(sides.map((side) => [side.name, []]));
const ingest = new Map<string, { perSecond: number; processedMs: number }[]>(sides.map((side) => [side.name, []]));
const fmt = (n: number) => n.toFixed(1);

for (let run = 0; run < Number(values.runs); run++) {
  for (const side of sides) {
    const result = await subscriptions({
      subscriptions: Number(values.subscriptions),
      items: Number(values.items),
      ingestWebhooks: Number(values.ingest),
      ingestConcurrency: Number(values.concurrency),
      ...(databaseUrl ? { databaseUrl } : {}),
      ...(side.src ? { src: side.src } : {}),
    });
    rounds.get(side.name)?.push(...result.rounds);
    ingest.get(side.name)?.push({ perSecond: result.ingest.perSecond, processedMs: result.ingest.processedMs });
    const all = result.rounds.every((round) => round.received === round.subscribers);
    console.log(
      `run ${run + 1} ${side.name}: p99 ${result.rounds.map((r) => fmt(r.p99Ms)).join(' ')} ms; ` +
        `median round p99 ${fmt(result.fanOut.p99Ms)} ms${all ? '' : ' (NOT all received)'}; RSS all open ${(result.allOpen.rssBytes / 2 ** 20).toFixed(0)} MB; ` +
        `ingest ${result.ingest.perSecond.toFixed(0)}/s, ${result.ingest.processed}/${result.ingest.accepted} processed ${fmt(result.ingest.processedMs)} ms after`,
    );
  }
}

const [a, b] = sides.map((side) => rounds.get(side.name) ?? []);
const p50 = (list: readonly FanOutRound[] = []) => median(list.map((r) => r.p50Ms));
const p99 = (list: readonly FanOutRound[] = []) => median(list.map((r) => r.p99Ms));
console.log(`\nmedian over ${a?.length ?? 0} rounds each: p50 ${fmt(p50(a))} → ${fmt(p50(b))} ms, p99 ${fmt(p99(a))} → ${fmt(p99(b))} ms`);
console.log(`B/A: p50 ×${(p50(b) / p50(a)).toFixed(2)}, p99 ×${(p99(b) / p99(a)).toFixed(2)}`);
const ingestOf = (name: string) => ingest.get(name) ?? [];
const [ia, ib] = sides.map((side) => ingestOf(side.name));
console.log(
  `ingest median: ${median((ia ?? []).map((i) => i.perSecond)).toFixed(0)} → ${median((ib ?? []).map((i) => i.perSecond)).toFixed(0)}/s, ` +
    `processed ${fmt(median((ia ?? []).map((i) => i.processedMs)))} → ${fmt(median((ib ?? []).map((i) => i.processedMs)))} ms after the last store`,
);
