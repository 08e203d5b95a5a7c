/**
 * `npm run bench:ab -- --base <git rev>`: before/after for one change. Two service children, one on
 * src/ as of <rev> and one on the working tree, share one simulator and take turns (A, B, A, B, ...),
 * so the noise of a shared machine falls on both alike; prints medians and B/A.
 *
 *   npm run bench:ab -- --base HEAD~1 --rounds 6 --duration 8
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ROOT, startServiceChild, startSimulatorChild, type ServiceChild } from './children.js';
import { median, runLoad, type LoadResult } from './load.js';
import { serviceTarget } from './requests.js';

const { values } = parseArgs({
  options: {
    base: { type: 'string', default: 'HEAD' },
    rounds: { type: 'string', default: '6' },
    duration: { type: 'string', default: '8' },
    connections: { type: 'string', default: '50' },
    items: { type: 'string', default: '500' },
  },
});
const rounds = Number(values.rounds);
const durationSec = Number(values.duration);
const connections = Number(values.connections);

// src/ of the base revision, inside the repository so its imports resolve to our node_modules.
const baseDir = join(ROOT, '.local', 'ab-base');
rmSync(baseDir, { recursive: true, force: true });
mkdirSync(baseDir, { recursive: true });
const archive = execFileSync('git', ['archive', '--format=tar', values.base, 'src'], { cwd: ROOT, maxBuffer: 1 << 28 });
execFileSync('tar', ['-x', '-C', baseDir], { input: archive });

const databaseUrl = process.env.BENCH_DATABASE_URL;
const simulator = await startSimulatorChild();
const start = (env: Record<string, string>) =>
  startServiceChild({ simulator, items: Number(values.items), env, ...(databaseUrl ? { databaseUrl } : {}) });
const children: [string, ServiceChild][] = [
  [`A (${values.base})`, await start({ BENCH_SRC: join(baseDir, 'src') })],
  ['B (working tree)', await start({})],
];
try {
  for (const [, child] of children) await runLoad({ ...serviceTarget(child.ready), connections, durationSec: 2 });
  const results = new Map<string, { loaded: LoadResult[]; single: LoadResult[] }>(
    children.map(([name]) => [name, { loaded: [], single: [] }]),
  );
  for (let round = 0; round < rounds; round++) {
    // Alternate who goes first, so neither always follows the other's garbage collection.
    const order = round % 2 === 0 ? children : [...children].reverse();
    for (const [name, child] of order) {
      const target = serviceTarget(child.ready);
      results.get(name)?.loaded.push(await runLoad({ ...target, connections, durationSec }));
      results.get(name)?.single.push(await runLoad({ ...target, connections: 1, durationSec: durationSec / 2 }));
    }
  }
  const summary = [...results].map(([name, r]) => ({
    name,
    rps: median(r.loaded.map((x) => x.rps)),
    p50: median(r.single.map((x) => x.latency.p50)),
    p99: median(r.single.map((x) => x.latency.p99)),
    success: r.loaded.reduce((a, x) => a + x.successes, 0) / r.loaded.reduce((a, x) => a + x.requests, 0),
    rounds: r.loaded.map((x) => x.rps.toFixed(0)).join(' '),
  }));
  for (const s of summary) {
    console.log(
      `${s.name.padEnd(22)} ${s.rps.toFixed(0).padStart(6)}/s (${s.rounds})  1 conn p50 ${s.p50.toFixed(2)} ms p99 ${s.p99.toFixed(2)} ms  success ${(s.success * 100).toFixed(1)}%`,
    );
  }
  const [a, b] = summary;
  if (a && b) console.log(`B/A throughput ${((b.rps / a.rps) * 100).toFixed(1)}%, 1-connection p50 ${(b.p50 - a.p50).toFixed(2)} ms`);
} finally {
  for (const [, child] of children) await child.close();
  await simulator.close();
}
