/**
 * `npm start` (scripts/start.mjs): the service runs from one bundle of src/main.ts and its
 * dependencies, kept under node_modules/.cache/ with a stamp of its inputs, and made again only when
 * an input changed. Other test files start the same script at the same time (test/helpers/
 * service-process.ts), so every case here reads the stamp as it finds it rather than removing it.
 */
import { readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { decode } from '@jridgewell/sourcemap-codec';
import { afterEach, describe, expect, it } from 'vitest';
import { START_CACHE } from '../../scripts/bundle.mjs';
import { startServiceProcess, type ServiceProcess } from '../helpers/service-process.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CACHE = START_CACHE;
const STAMP = join(CACHE, 'main.json');

interface Stamp {
  readonly script: string;
  readonly inputs: Record<string, [number, number]>;
}

const readStamp = (): Stamp => JSON.parse(readFileSync(STAMP, 'utf8')) as Stamp;

let running: ServiceProcess | undefined;

async function stop(): Promise<void> {
  const child = running?.child;
  running = undefined;
  if (!child || child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await exited;
}
afterEach(stop);

/** Embedded mode, as `npm start` runs without Plaid credentials. */
async function start(alsoWaitFor?: RegExp): Promise<ServiceProcess> {
  running = await startServiceProcess(
    { ...process.env, PORT: '0', DATABASE_URL: '', REDIS_URL: '', SHUTDOWN_DRAIN_MS: '0' },
    alsoWaitFor ? { alsoWaitFor } : {},
  );
  return running;
}

describe('npm start (scripts/start.mjs)', () => {
  it('runs a bundle that lists its inputs, the service sources and their dependencies among them', async () => {
    await start();
    const stamp = readStamp();
    expect(stamp.script).toMatch(/^main-\w+\.js$/);
    const inputs = Object.keys(stamp.inputs);
    for (const input of ['src/main.ts', 'src/app.ts', 'package-lock.json', 'tsconfig.json', 'scripts/bundle.mjs'])
      expect(inputs).toContain(input);
    expect(inputs.some((input) => input.startsWith('node_modules/graphql/'))).toBe(true);
    // PGlite stays outside: it loads its WASM and data files from beside its own module.
    expect(inputs.some((input) => input.startsWith('node_modules/@electric-sql/pglite/'))).toBe(false);
    // Its source map maps into src/ only: Node parses a loaded script's whole map, and the
    // dependencies' mappings were nine tenths of it (~150 ms and ~35 MB of a start).
    const map = JSON.parse(readFileSync(join(CACHE, `${stamp.script}.map`), 'utf8')) as { sources: string[]; mappings: string };
    const segments = decode(map.mappings).flat();
    // Sources are relative to the map, itself under node_modules/: a dependency is `../../../graphql/...`.
    const sourceOf = (segment: number[]) =>
      segment.length > 1 ? relative(ROOT, resolve(CACHE, map.sources[segment[1] ?? -1] ?? '')) : undefined;
    expect(segments.some((segment) => sourceOf(segment)?.startsWith(`src${sep}`))).toBe(true);
    expect(segments.filter((segment) => sourceOf(segment)?.split(sep).includes('node_modules'))).toEqual([]);
    expect(map.sources.some((source) => relative(ROOT, resolve(CACHE, source)).startsWith(`node_modules${sep}graphql${sep}`))).toBe(true);
    const [size, mtime] = stamp.inputs['src/app.ts'] ?? [];
    expect([size, mtime]).toEqual([statSync(join(ROOT, 'src/app.ts')).size, statSync(join(ROOT, 'src/app.ts')).mtimeMs]);
  }, 120_000);

  it('reuses the bundle while no input changed, and bundles again when one did', async () => {
    await start();
    await stop();
    const first = readStamp();
    const script = join(CACHE, first.script);
    const written = statSync(script).mtimeMs;
    await start();
    expect(readStamp()).toEqual(first);
    expect(statSync(script).mtimeMs).toBe(written);
    await stop();

    // As if src/app.ts had been edited since: its recorded size no longer matches.
    const [size = 0, mtime = 0] = first.inputs['src/app.ts'] ?? [];
    writeFileSync(STAMP, JSON.stringify({ ...first, inputs: { ...first.inputs, 'src/app.ts': [size + 1, mtime] } }));
    await start();
    // Bundled again (by this start, or by another test file's start of the same moment): the same
    // sources make the same file, and the stamp has the file's real fingerprint again.
    const again = readStamp();
    expect(again.inputs['src/app.ts']).toEqual([size, mtime]);
    expect(again.script).toBe(first.script);
    await stop();

    // A file saved just before or while a start bundles may have been read before its last save:
    // it is recorded so as never to match, and the start after that bundles again.
    const appTs = join(ROOT, 'src/app.ts');
    const now = new Date();
    utimesSync(appTs, now, now);
    const touched = statSync(appTs).mtimeMs;
    await start();
    expect(readStamp().inputs['src/app.ts']).toEqual([-1, touched]);
    await stop();
    await start();
    expect(readStamp().inputs['src/app.ts']).toEqual([size, touched]);
  }, 180_000);

  it('answers from the bundle with compiled execution, a bad representation first keeping its index', async () => {
    // The banner is written after the ready line; wait for the token too.
    const service = await start(/Demo token: +\S+/);
    const output = service.output();
    const token = /Demo token: +(\S+)/.exec(output)?.[1] ?? '';
    const itemId = /^ {4}(\w{20,}) {2}/m.exec(output)?.[1] ?? '';
    expect(itemId).not.toBe('');
    const response = await fetch(`${service.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({
        query: 'query ($r: [_Any!]!) { _entities(representations: $r) { __typename ... on PlaidItem { id } } }',
        variables: { r: [{ __typename: 'User' }, { __typename: 'PlaidItem', id: itemId }] },
      }),
    });
    const body = (await response.json()) as { data: { _entities: ({ id?: string } | null)[] }; errors: { path: unknown[] }[] };
    // graphql-jit alone put the failed item last ([item, null]); src/http/compiled-execution.ts patches its runtime, bundled here.
    expect(body.data._entities).toEqual([null, { __typename: 'PlaidItem', id: itemId }]);
    expect(body.errors.map((error) => error.path)).toEqual([['_entities', 0]]);
    const metrics = await (await fetch(`${service.url}/metrics`)).text();
    expect(metrics).toMatch(/graphql_executions_total\{executor="compiled"\} [1-9]/);
  }, 120_000);

  it('serves GraphiQL on the example operations, found from the bundle under node_modules/.cache', async () => {
    const service = await start();
    const response = await fetch(`${service.url}/graphql`, { headers: { accept: 'text/html' } });
    expect(response.status).toBe(200);
    const html = await response.text();
    for (const operation of ['mutation LinkItem', 'subscription RefreshEvents']) expect(html).toContain(operation);
  }, 120_000);
});
