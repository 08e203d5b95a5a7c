/**
 * An in-memory PGlite begins with initdb in WASM: about 3 of the 4 seconds embedded mode took to
 * start. The empty cluster it makes is the same every time for one PGlite version, so the first
 * start saves it (before migrations or data) under node_modules/.cache and later starts load it
 * instead. Anything wrong with the file (missing, unreadable, another version) means plain initdb.
 */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join, sep } from 'node:path';
import { PGlite } from '@electric-sql/pglite';

/**
 * PGlite's default shared_buffers (128 MB) lives inside its WASM memory and grew the process by
 * about 125 MB RSS; the vault's working set is a few small tables, so 16 MB is ample.
 */
export const PGLITE_CONF = ['shared_buffers=16MB'];

/** `snapshot`: where the saved cluster lives (tests name their own); null never saves or loads one. */
export async function openMemoryPglite(options: { snapshot?: string | null } = {}): Promise<PGlite> {
  const file = options.snapshot === undefined ? await defaultSnapshotFile() : options.snapshot;
  if (file) {
    const saved = await readFile(file).catch(() => null);
    if (saved) {
      try {
        const db = new PGlite({ loadDataDir: new Blob([saved]), postgresqlconf: PGLITE_CONF });
        await db.waitReady;
        return db;
      } catch {
        // A file from an interrupted or foreign write: start from scratch and replace it.
      }
    }
  }
  const db = new PGlite({ postgresqlconf: PGLITE_CONF });
  await db.waitReady;
  if (file) await save(db, file).catch(() => {});
  return db;
}

/** `<node_modules>/.cache/plaid-refresh-graphql/pglite-<version>.tar`, or null if it cannot be named. */
export async function defaultSnapshotFile(): Promise<string | null> {
  try {
    const entry = createRequire(import.meta.url).resolve('@electric-sql/pglite');
    const marker = `${sep}node_modules${sep}`;
    const at = entry.lastIndexOf(marker);
    if (at < 0) return null;
    const nodeModules = entry.slice(0, at + marker.length - 1);
    const packageJson = join(nodeModules, '@electric-sql', 'pglite', 'package.json');
    const { version } = JSON.parse(await readFile(packageJson, 'utf8')) as { version?: unknown };
    if (typeof version !== 'string' || !/^[\w.-]+$/.test(version)) return null;
    return join(nodeModules, '.cache', 'plaid-refresh-graphql', `pglite-${version}.tar`);
  } catch {
    return null;
  }
}

/** Written to a temporary name and renamed, so a reader never sees half a file. */
async function save(db: PGlite, file: string): Promise<void> {
  const dump = await db.dumpDataDir('none');
  await mkdir(dirname(file), { recursive: true });
  const temporary = `${file}.${process.pid}.tmp`;
  await writeFile(temporary, new Uint8Array(await dump.arrayBuffer()));
  await rename(temporary, file);
}
