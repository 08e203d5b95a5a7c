/**
 * `npm run bench:profile`: the overhead load against a service child, with V8's CPU profiler on in
 * the child for the measured load only, then a summary of where the service spent its time (self
 * time by package and by function).
 *
 *   npm run bench:profile -- --duration 15 --connections 50 --top 40
 *
 * The .cpuprofile stays in .local/profiles/ (Chrome DevTools or speedscope draw it as a flame
 * graph). BENCH_DATABASE_URL profiles with the vault in PostgreSQL. `--anchor` profiles the
 * anchors' load instead (refreshIdentity against bench/anchors/fake-plaid.ts, answering at once).
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { anchorBodies, isAnchorSuccess } from './anchors/document.js';
import { ROOT, startServiceChild, startSimulatorChild, startUrlChild, type SimulatorChild } from './children.js';
import { formatSummary, summarise } from './cpuprofile.js';
import { runLoad } from './load.js';
import { graphqlHeaders, serviceTarget } from './requests.js';

const { values } = parseArgs({
  options: {
    duration: { type: 'string', default: '10' },
    connections: { type: 'string', default: '50' },
    items: { type: 'string', default: '500' },
    top: { type: 'string', default: '30' },
    anchor: { type: 'boolean', default: false },
  },
});
const dir = join(ROOT, '.local', 'profiles');
mkdirSync(dir, { recursive: true });
const file = join(dir, `service-${new Date().toISOString().replace(/[:.]/g, '-')}.cpuprofile`);

const upstream = values.anchor ? await startUrlChild('bench/anchors/fake-plaid.ts') : await startSimulatorChild();
const databaseUrl = process.env.BENCH_DATABASE_URL;
const service = await startServiceChild({
  ...(values.anchor ? { env: { BENCH_FAKE_PLAID_URL: upstream.ready.url } } : { simulator: upstream as SimulatorChild }),
  items: Number(values.items),
  ...(databaseUrl ? { databaseUrl } : {}),
});
try {
  const target = values.anchor
    ? {
        url: `${service.ready.url}/graphql`,
        headers: graphqlHeaders(service.ready.token),
        bodies: anchorBodies(service.ready.items),
        isSuccess: isAnchorSuccess,
      }
    : serviceTarget(service.ready);
  const connections = Number(values.connections);
  await runLoad({ ...target, connections, durationSec: 2 });
  await service.profile('start');
  const result = await runLoad({ ...target, connections, durationSec: Number(values.duration) });
  await service.profile('stop', file);
  console.log(
    `${result.rps.toFixed(0)} requests/s, ${result.successes}/${result.requests} successes, p50 ${result.latency.p50.toFixed(1)} ms`,
  );
} finally {
  await service.close();
  await upstream.close();
}
console.log(formatSummary(summarise(JSON.parse(readFileSync(file, 'utf8')) as Parameters<typeof summarise>[0], Number(values.top))));
console.log(`\nprofile: ${file}`);
