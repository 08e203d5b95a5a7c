/** The scratch cluster behind the vault without DATABASE_URL or VAULT_DATA_DIR, and its template. */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PGlite } from '@electric-sql/pglite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openScratchPglite, SCRATCH_PREFIX } from '../../src/vault/pglite-scratch.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pglite-scratch-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

async function sharedBuffers(db: PGlite): Promise<string | undefined> {
  return (await db.query<{ shared_buffers: string }>('show shared_buffers')).rows[0]?.shared_buffers;
}

const scratchDirs = async (parent: string) => (await readdir(parent)).filter((name) => name.startsWith(SCRATCH_PREFIX));

describe('openScratchPglite', () => {
  it('makes the template once; later databases are copies of it, fresh each time, and gone when disposed', async () => {
    const template = join(dir, 'template');
    const parent = join(dir, 'scratch-a');
    const first = await openScratchPglite({ template, parent });
    await first.db.query('create table leftover (id int)');
    // The small buffer pool (RSS, docs/benchmarks.md) holds for the template's copies too.
    expect(await sharedBuffers(first.db)).toBe('16MB');
    const made = await stat(join(template, 'PG_VERSION'));

    const second = await openScratchPglite({ template, parent });
    expect(second.dir).not.toBe(first.dir);
    // Nothing of the first database: the template was taken before any of it.
    const { rows } = await second.db.query<{ n: number }>("select count(*)::int as n from pg_tables where tablename = 'leftover'");
    expect(rows[0]?.n).toBe(0);
    expect(await sharedBuffers(second.db)).toBe('16MB');
    expect(await scratchDirs(parent)).toHaveLength(2);

    await first.dispose();
    await first.dispose();
    expect(first.db.closed).toBe(true);
    expect(existsSync(first.dir)).toBe(false);
    await second.dispose();
    expect(await scratchDirs(parent)).toEqual([]);
    // The template was made once, not rewritten by the second open.
    expect((await stat(join(template, 'PG_VERSION'))).mtimeMs).toBe(made.mtimeMs);
  }, 60_000);

  it('a prepared template: every copy holds what `prepare` made; the templates it supersedes are removed', async () => {
    const templates = join(dir, 'templates');
    await mkdir(join(templates, 'pglite-9.9-vault-old'), { recursive: true });
    await writeFile(join(templates, 'pglite-9.9.tar'), 'the in-memory cluster of before');
    await mkdir(join(templates, 'pglite-9.9-empty'), { recursive: true });
    let prepared = 0;
    const open = () =>
      openScratchPglite({
        template: join(templates, 'pglite-9.9-vault-new'),
        parent: join(dir, 'scratch-p'),
        prepare: async (db) => {
          prepared++;
          await db.exec('create table migrated (id int)');
        },
      });
    for (let i = 0; i < 2; i++) {
      const scratch = await open();
      const { rows } = await scratch.db.query<{ n: number }>("select count(*)::int as n from pg_tables where tablename = 'migrated'");
      expect(rows[0]?.n).toBe(1);
      // Only the database PGlite uses is left: the copy is a third of initdb's files.
      expect((await scratch.db.query<{ datname: string }>('select datname from pg_database')).rows).toEqual([{ datname: 'postgres' }]);
      await scratch.dispose();
    }
    expect(prepared).toBe(1);
    expect((await readdir(templates)).sort()).toEqual(['pglite-9.9-empty', 'pglite-9.9-vault-new']);
  }, 60_000);

  it('a damaged template means initdb, and is replaced by a good one', async () => {
    const template = join(dir, 'damaged');
    await mkdir(template, { recursive: true });
    await writeFile(join(template, 'PG_VERSION'), 'not a cluster');
    const scratch = await openScratchPglite({ template, parent: join(dir, 'scratch-b') });
    expect((await scratch.db.query<{ one: number }>('select 1 as one')).rows).toEqual([{ one: 1 }]);
    await scratch.dispose();
    expect((await stat(join(template, 'global', 'pg_control'))).size).toBeGreaterThan(0);
  }, 60_000);

  it('without a template it still opens (initdb in the scratch directory)', async () => {
    const parent = join(dir, 'scratch-c');
    const scratch = await openScratchPglite({ template: null, parent });
    expect((await scratch.db.query<{ one: number }>('select 1 as one')).rows).toEqual([{ one: 1 }]);
    await scratch.dispose();
    expect(await scratchDirs(parent)).toEqual([]);
  }, 60_000);

  it('a temp dir it cannot write: PGlite in memory instead, prepared the same way', async () => {
    // Under a regular file nothing can be made, not even by root (tests may run as root, where modes do not bind).
    const file = join(dir, 'a-file');
    await writeFile(file, '');
    const scratch = await openScratchPglite({
      template: null,
      parent: join(file, 'tmp'),
      prepare: (db) => db.exec('create table migrated (id int)').then(() => {}),
    });
    expect(scratch.dir).toBe('memory://');
    const { rows } = await scratch.db.query<{ n: number }>("select count(*)::int as n from pg_tables where tablename = 'migrated'");
    expect(rows[0]?.n).toBe(1);
    await scratch.dispose();
    expect(scratch.db.closed).toBe(true);
  }, 60_000);

  it('a process that exits without disposing leaves nothing; one killed leaves a directory the next process removes', async () => {
    const template = join(dir, 'template');
    const parent = join(dir, 'scratch-d');
    const module = new URL('../../src/vault/pglite-scratch.ts', import.meta.url).pathname;
    const child = (exit: string) =>
      spawnSync(
        process.execPath,
        [
          '--import',
          'tsx',
          '--input-type=module',
          '-e',
          `const { openScratchPglite } = await import(${JSON.stringify(module)});
           const s = await openScratchPglite({ template: ${JSON.stringify(template)}, parent: ${JSON.stringify(parent)} });
           await s.db.query('select 1');
           ${exit}`,
        ],
        { encoding: 'utf8', timeout: 30_000 },
      );

    const exited = child('process.exit(0);');
    expect(exited.status, exited.stderr).toBe(0);
    expect(await scratchDirs(parent)).toEqual([]);

    const killed = child("process.kill(process.pid, 'SIGKILL');");
    expect(killed.signal).toBe('SIGKILL');
    const left = await scratchDirs(parent);
    expect(left).toHaveLength(1);

    // The next process to open one there (a restart after the kill) removes the orphan.
    const next = child('await s.dispose();');
    expect(next.status, next.stderr).toBe(0);
    expect(await scratchDirs(parent)).toEqual([]);
  }, 90_000);

  /** Whether WASM compiled before, during and after a startPglite in a fresh node tiers up to V8's optimizing compiler. */
  function tiersAroundAnOpen(nodeFlags: readonly string[], dataDir: string): { before: boolean; during: boolean; after: boolean } {
    const module = new URL('../../src/vault/pglite-scratch.ts', import.meta.url).pathname;
    // A module with one exported `add`; the custom section's byte makes each probe's bytes its own
    // (V8 shares one compiled module among equal bytes). Hot enough, V8 optimises `add` in the background.
    const probe = `let probes = 0;
      async function tiersUp() {
        const bytes = new Uint8Array([0,97,115,109,1,0,0,0,1,7,1,96,2,127,127,1,127,3,2,1,0,7,7,1,3,97,100,100,0,0,10,9,1,7,0,32,0,32,1,106,11,0,2,1,probes++]);
        const { add } = new WebAssembly.Instance(new WebAssembly.Module(bytes)).exports;
        const optimized = new Function('f', 'return %IsTurboFanFunction(f)');
        for (let round = 0; round < 20 && !optimized(add); round++) {
          for (let i = 0, s = 0; i < 1e6; i++) s = add(s, i);
          await new Promise((resolve) => setTimeout(resolve, 25));
        }
        return optimized(add);
      }`;
    const run = spawnSync(
      process.execPath,
      [
        ...nodeFlags,
        '--allow-natives-syntax',
        '--import',
        'tsx',
        '--input-type=module',
        '-e',
        `${probe}
         const { startPglite } = await import(${JSON.stringify(module)});
         const before = await tiersUp();
         const opening = startPglite({ dataDir: ${JSON.stringify(dataDir)} });
         // Compiled while the open is under way, as PGlite's module is, and after it.
         const during = tiersUp();
         const db = await opening;
         const after = await tiersUp();
         await db.query('select 1');
         console.log(JSON.stringify({ before, during: await during, after }));
         await db.close();`,
      ],
      { encoding: 'utf8', timeout: 60_000 },
    );
    expect(run.status, run.stderr).toBe(0);
    return JSON.parse(run.stdout) as { before: boolean; during: boolean; after: boolean };
  }

  it("once a PGlite opens, WASM runs on V8's baseline compiler only (Node 20 and 22)", () => {
    // Node 24 and later freeze V8's flags after start: there the open cannot change them.
    const frozen = Number(process.versions.node.split('.')[0]) >= 24;
    expect(tiersAroundAnOpen([], join(dir, 'baseline'))).toEqual({ before: true, during: frozen, after: frozen });
  }, 90_000);

  it('a node started with a WASM tiering flag of its own keeps it', () => {
    expect(tiersAroundAnOpen(['--no-liftoff-only'], join(dir, 'own-flags'))).toEqual({ before: true, during: true, after: true });
  }, 90_000);
});
