/**
 * `npm run bench:read`: the read path alone (4. entities, 6. viewer items), in about a minute, without
 * touching docs/benchmarks.md. With `--base <rev>` a second service child runs src/ as of <rev>;
 * the two take turns request by request, so before and after share the machine's noise.
 * Each request's service CPU time (the child's process.cpuUsage around it) is printed beside its
 * wall time: on a shared machine it moves far less than the wall time.
 * `--profile` writes a CPU profile of the working tree's child over the measured requests and
 * prints its summary.
 *
 *   npm run bench:read -- --items 1000 --rounds 15 --base HEAD~1 [--only entities|viewer-items] [--profile]
 *
 * `--b-env NAME=value` (repeatable) sets environment variables for the working tree's child only;
 * without `--base`, A is then the working tree without them (e.g. `--b-env NODE_ENV=production`).
 *
 * BENCH_DATABASE_URL=postgres://... runs it again with the vault in PostgreSQL; `--vault postgres` (or `pglite`)
 * runs that one alone.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ROOT, startServiceChild, startSimulatorChild, type ServiceChild } from './children.js';
import { formatSummary, summarise } from './cpuprofile.js';
import { median } from './load.js';
import { entities } from './scenarios/entities.js';
import { viewerItems } from './scenarios/viewer-items.js';

const { values } = parseArgs({
  options: {
    items: { type: 'string', default: '1000' },
    rounds: { type: 'string', default: '9' },
    base: { type: 'string' },
    only: { type: 'string' },
    profile: { type: 'boolean', default: false },
    top: { type: 'string', default: '30' },
    'b-env': { type: 'string', multiple: true, default: [] },
    vault: { type: 'string' },
  },
});
const items = Number(values.items);
const rounds = Number(values.rounds);
const scenarios = values.only ? [values.only] : ['entities', 'viewer-items'];
for (const name of scenarios)
  if (name !== 'entities' && name !== 'viewer-items') throw new Error(`--only: entities or viewer-items, not ${name}`);

let baseSrc: string | null = null;
if (values.base) {
  // src/ of the base revision, inside the repository so its imports resolve to our node_modules.
  const baseDir = join(ROOT, '.local', 'read-base');
  rmSync(baseDir, { recursive: true, force: true });
  mkdirSync(baseDir, { recursive: true });
  execFileSync('tar', ['-x', '-C', baseDir], {
    input: execFileSync('git', ['archive', '--format=tar', values.base, 'src'], { cwd: ROOT, maxBuffer: 1 << 28 }),
  });
  baseSrc = join(baseDir, 'src');
}

/** One measured request of a scenario: its time, the service's CPU time for it, and its vault queries. */
interface Run {
  readonly ms: number;
  readonly cpuMs: number;
  readonly queries: number;
  readonly check: string;
}

async function once(name: string, child: ServiceChild): Promise<Run> {
  if (name === 'entities') {
    const r = await entities(child, { representations: items, rounds: 1 });
    return { ms: r.medianMs, cpuMs: r.cpuMs[0] ?? Number.NaN, queries: r.vaultQueries[0] ?? Number.NaN, check: `${r.resolved} resolved` };
  }
  const r = await viewerItems(child, { rounds: 1 });
  return {
    ms: r.medianMs,
    cpuMs: r.cpuMs[0] ?? Number.NaN,
    queries: r.vaultQueries[0] ?? Number.NaN,
    check: `${r.withRefresh}/${r.items} with a refresh`,
  };
}

const bEnv = Object.fromEntries(
  values['b-env'].map((pair) => {
    const at = pair.indexOf('=');
    if (at < 1) throw new Error(`--b-env NAME=value, not ${pair}`);
    return [pair.slice(0, at), pair.slice(at + 1)];
  }),
);
const databaseUrl = process.env.BENCH_DATABASE_URL;
if (values.vault !== undefined && values.vault !== 'pglite' && values.vault !== 'postgres')
  throw new Error(`--vault: pglite or postgres, not ${values.vault}`);
if (values.vault === 'postgres' && !databaseUrl) throw new Error('--vault postgres needs BENCH_DATABASE_URL');
const backends = [
  ...(values.vault !== 'postgres' ? [{ name: 'PGlite', databaseUrl: undefined }] : []),
  ...(databaseUrl && values.vault !== 'pglite' ? [{ name: 'PostgreSQL', databaseUrl }] : []),
];
for (const backend of backends) {
  const simulator = await startSimulatorChild();
  const start = (env: Record<string, string>) =>
    startServiceChild({ simulator, items, env, ...(backend.databaseUrl ? { databaseUrl: backend.databaseUrl } : {}) });
  const children: [string, ServiceChild][] = [];
  try {
    if (baseSrc) children.push([`A (${values.base})`, await start({ BENCH_SRC: baseSrc })]);
    else if (values['b-env'].length > 0) children.push(['A (working tree)', await start({})]);
    children.push([`B (working tree${values['b-env'].length ? `, ${values['b-env'].join(' ')}` : ''})`, await start(bEnv)]);
    const profiled = children.at(-1)?.[1];
    for (const name of scenarios) {
      for (const [, child] of children) await once(name, child);
      const file = join(ROOT, '.local', 'profiles', `read-${name}-${backend.name}-${Date.now()}.cpuprofile`);
      if (values.profile) {
        mkdirSync(join(ROOT, '.local', 'profiles'), { recursive: true });
        await profiled?.profile('start');
      }
      const results = new Map(children.map(([label]) => [label, [] as Run[]]));
      for (let round = 0; round < rounds; round++) {
        // Alternate who goes first, so neither always follows the other's garbage collection.
        for (const [label, child] of round % 2 === 0 ? children : [...children].reverse())
          results.get(label)?.push(await once(name, child));
      }
      if (values.profile) await profiled?.profile('stop', file);
      console.log(`\n${backend.name}, ${name}, ${items} Items, ${rounds} rounds:`);
      const medians: number[] = [];
      const cpuMedians: number[] = [];
      for (const [label, runs] of results) {
        const m = median(runs.map((r) => r.ms));
        const cpu = median(runs.map((r) => r.cpuMs));
        medians.push(m);
        cpuMedians.push(cpu);
        console.log(
          `  ${label}: median ${m.toFixed(1)} ms (${runs.map((r) => r.ms.toFixed(1)).join(', ')}); vault queries ${[...new Set(runs.map((r) => r.queries))].join('/')}; ${runs[0]?.check ?? ''}`,
        );
        // The service's CPU time per request: steadier than wall time when other work shares the cores.
        console.log(`    service CPU per request: median ${cpu.toFixed(1)} ms (${runs.map((r) => r.cpuMs.toFixed(1)).join(', ')})`);
      }
      if (medians.length === 2 && medians[0] && medians[1]) console.log(`  B/A ${(medians[1] / medians[0]).toFixed(2)}`);
      if (cpuMedians.length === 2 && cpuMedians[0] && cpuMedians[1])
        console.log(`  B/A service CPU ${(cpuMedians[1] / cpuMedians[0]).toFixed(2)}`);
      if (values.profile) {
        console.log(
          formatSummary(summarise(JSON.parse(readFileSync(file, 'utf8')) as Parameters<typeof summarise>[0], Number(values.top))),
        );
        console.log(`profile: ${file}`);
      }
    }
  } finally {
    for (const [, child] of children) await child.close();
    await simulator.close();
  }
}
