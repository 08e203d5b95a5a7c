/** The saved empty cluster that spares an in-memory PGlite its initdb. */
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PGlite } from '@electric-sql/pglite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openMemoryPglite } from '../../src/vault/pglite-snapshot.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pglite-snapshot-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

async function sharedBuffers(db: PGlite): Promise<string | undefined> {
  return (await db.query<{ shared_buffers: string }>('show shared_buffers')).rows[0]?.shared_buffers;
}

describe('openMemoryPglite', () => {
  it('saves the empty cluster once; later databases start from it, fresh each time', async () => {
    const snapshot = join(dir, 'cluster.tar');
    const first = await openMemoryPglite({ snapshot });
    await first.query('create table leftover (id int)');
    // Both the initdb'd and the loaded cluster run with the small buffer pool (RSS, docs/benchmarks.md).
    expect(await sharedBuffers(first)).toBe('16MB');
    await first.close();
    const saved = await stat(snapshot);
    expect(saved.size).toBeGreaterThan(1_000_000);

    const second = await openMemoryPglite({ snapshot });
    // Nothing of the first database's data: the snapshot was taken before any of it.
    const { rows } = await second.query<{ n: number }>("select count(*)::int as n from pg_tables where tablename = 'leftover'");
    expect(rows[0]?.n).toBe(0);
    expect(await sharedBuffers(second)).toBe('16MB');
    await second.close();
    expect((await stat(snapshot)).mtimeMs).toBe(saved.mtimeMs);
  }, 60_000);

  it('a damaged snapshot means initdb, and is replaced by a good one', async () => {
    const snapshot = join(dir, 'damaged.tar');
    await writeFile(snapshot, 'not a tarball');
    const db = await openMemoryPglite({ snapshot });
    expect((await db.query<{ one: number }>('select 1 as one')).rows).toEqual([{ one: 1 }]);
    await db.close();
    expect((await readFile(snapshot)).length).toBeGreaterThan(1_000_000);
  }, 60_000);
});
