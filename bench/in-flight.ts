/**
 * `npm run bench:in-flight`: scenario 6 alone (10,000 refreshes in flight against a 30 s Plaid),
 * without the rest of `npm run bench`. With `--base <rev>` it is a before/after run: the base
 * revision's src/ and the working tree take turns, one service at a time (two bursts of 10,000 at
 * once would measure each other), and the figures of each round are printed side by side.
 *
 *   BENCH_DATABASE_URL=postgres://... npm run bench:in-flight -- --requests 10000 --latency 30000
 *   BENCH_DATABASE_URL=postgres://... npm run bench:in-flight -- --base HEAD~1 --rounds 2
 *   ... --base HEAD~2 --tree HEAD~1        two revisions, neither the working tree
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ROOT } from './children.js';
import { bundleServiceChild } from './service-bundle.js';
import { median } from './load.js';
import { heapPerRequest, inFlight, renderInFlight, type InFlightResult } from './scenarios/in-flight.js';

const { values } = parseArgs({
  options: {
    requests: { type: 'string', default: '10000' },
    latency: { type: 'string', default: '30000' },
    'seed-batch': { type: 'string', default: '250' },
    // 20,000 descriptors (ulimit -n) less 10,000 clients and some to spare; 0 = no cap.
    'plaid-connections': { type: 'string', default: '9900' },
    base: { type: 'string' },
    tree: { type: 'string' },
    rounds: { type: 'string', default: '1' },
    'no-probe': { type: 'boolean', default: false },
    'heap-snapshots': { type: 'boolean', default: false },
    'cpu-profile': { type: 'string' },
    // The service child under tsx instead of as one bundle (production runs the bundle).
    tsx: { type: 'boolean', default: false },
    // Seconds of rest between seeding and the burst (see InFlightOptions.restMs).
    rest: { type: 'string', default: '0' },
  },
});
const databaseUrl = process.env.BENCH_DATABASE_URL || undefined;
const options = {
  requests: Number(values.requests),
  latencyMs: Number(values.latency),
  seedBatch: Number(values['seed-batch']),
  plaidMaxConnections: Number(values['plaid-connections']) || null,
  probeHeap: !values['no-probe'],
  heapSnapshots: values['heap-snapshots'],
  restMs: Number(values.rest) * 1000,
  ...(values['cpu-profile'] ? { cpuProfilePath: values['cpu-profile'] } : {}),
  ...(databaseUrl ? { databaseUrl } : {}),
};

/** src/ of a revision, inside the repository so its imports resolve to our node_modules. */
function extract(rev: string, name: string): Record<string, string> {
  const dir = join(ROOT, '.local', name);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const archive = execFileSync('git', ['archive', '--format=tar', rev, 'src'], { cwd: ROOT, maxBuffer: 1 << 28 });
  execFileSync('tar', ['-x', '-C', dir], { input: archive });
  return { BENCH_SRC: join(dir, 'src') };
}

// --tree <rev> measures a revision instead of the working tree, so src/ can change during a long run.
const variants: [string, Record<string, string>][] = [
  values.tree ? [`after (${values.tree})`, extract(values.tree, 'in-flight-after')] : ['working tree', {}],
];
if (values.base) variants.unshift([`base (${values.base})`, extract(values.base, 'in-flight-base')]);

const mb = (bytes: number) => (bytes / 2 ** 20).toFixed(0);
const line = (name: string, r: InFlightResult) => {
  const perRequest = heapPerRequest(r);
  return (
    `${name.padEnd(24)} ok ${r.successes}/${r.options.requests} fail ${JSON.stringify(r.failures)} wall ${(r.wallMs / 1000).toFixed(1)} s ` +
    `rss idle ${mb(r.before.rssBytes)} peak ${mb(r.during.peakRssBytes)} MB  loop p50 ${r.during.eventLoop.p50Ms.toFixed(1)} ` +
    `p99 ${r.during.eventLoop.p99Ms.toFixed(1)} max ${r.during.eventLoop.maxMs.toFixed(0)} ms` +
    (r.midway && r.idleLiveHeapBytes !== null && perRequest !== null
      ? `  live heap idle ${mb(r.idleLiveHeapBytes)} midway ${mb(r.midway.heapUsedBytes)} MB (${(perRequest / 1024).toFixed(1)} KiB/req of ${r.midway.inFlightRequests ?? '?'} in flight, rss ${mb(r.midway.rssBytes)})`
      : '') +
    `  seed ${(r.seedMs / 1000).toFixed(0)} s`
  );
};

// Each variant bundled once, before any round (its src/ is fixed by now).
const bundles = new Map<string, string>();
if (!values.tsx)
  for (const [index, [name, env]] of variants.entries()) {
    // Bundled as its revision bundled: with esbuild's own names helper before scripts/bundle.mjs had its own.
    const rev = name === 'working tree' ? null : name.startsWith('base') ? values.base : values.tree;
    const esbuildNames =
      rev !== null &&
      rev !== undefined &&
      !execFileSync('git', ['show', `${rev}:scripts/bundle.mjs`], { cwd: ROOT })
        .toString()
        .includes('CHEAP_NAME_HELPER');
    bundles.set(name, await bundleServiceChild(`in-flight-${index}`, env.BENCH_SRC, esbuildNames));
  }

const results = new Map<string, InFlightResult[]>(variants.map(([name]) => [name, []]));
for (let round = 0; round < Number(values.rounds); round++) {
  // Alternate who goes first, so neither always runs on the busier half of a shared machine.
  for (const [name, env] of round % 2 === 0 ? variants : [...variants].reverse()) {
    const bundle = bundles.get(name);
    const result = await inFlight({ ...options, env, ...(bundle ? { bundle } : {}) });
    results.get(name)?.push(result);
    console.log(line(name, result));
  }
}
for (const [name, runs] of results) {
  const last = runs.at(-1);
  if (last) console.log(`\n## ${name}\n\n${renderInFlight(last)}`);
  if (runs.length > 1) {
    console.log(
      `${name}: median peak RSS ${mb(median(runs.map((r) => r.during.peakRssBytes)))} MB, ` +
        `loop p99 ${median(runs.map((r) => r.during.eventLoop.p99Ms)).toFixed(1)} ms, ` +
        `${(median(runs.map((r) => heapPerRequest(r) ?? Number.NaN)) / 1024).toFixed(1)} KiB per request in flight over ${runs.length} rounds`,
    );
  }
}
