/**
 * The vault without DATABASE_URL or VAULT_DATA_DIR: a throwaway PGlite cluster that lives as long
 * as the process. It sits in a scratch directory on disk, not in PGlite's in-memory file system:
 * in memory, the cluster's files (38.5 MB, loaded from a tarball) and the file system's copies of
 * them took ~310 MB RSS; on disk they are the kernel's page cache and opening adds ~110 MB
 * (issue #16, docs/benchmarks.md). initdb runs in WASM and takes ~3 s, so the first start leaves
 * the empty cluster as a template under node_modules/.cache and later starts copy it (~75 ms).
 * The scratch directory is removed when the database is closed or the process exits; one left by
 * a process that was killed is removed by the next process that opens one.
 */
import { constants, cpSync, rmSync } from 'node:fs';
import { access, mkdir, mkdtemp, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, sep } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { PGlite, type PGliteOptions } from '@electric-sql/pglite';

/**
 * PGlite's default shared_buffers (128 MB) lives inside its WASM memory and grew the process by
 * about 125 MB RSS; the vault's working set is a few small tables, so 16 MB is ample.
 */
export const PGLITE_CONF = ['shared_buffers=16MB'];

/**
 * A started PGlite with the vault's settings. Its postgres (~8 MB of WASM) runs on V8's baseline
 * compiler only. By default V8's optimizing tier recompiles, in the background, what start-up and
 * the demo's seeding made hot: ~70 MB more RSS and ~1.2 s more CPU per embedded start, for ~10% more
 * refresh throughput in embedded mode (issue #16, docs/benchmarks.md). V8 reads the flag when a
 * function would tier up, not when its module compiles, so it stays set once a PGlite opens: other
 * WASM (undici's llhttp) runs on the baseline tier too, in embedded mode only. Node 24 and later
 * freeze V8's flags once started and ignore this (`node --liftoff-only` does it there); a node
 * started with WASM tiering flags of its own is left as it was.
 */
export async function startPglite(options: Omit<PGliteOptions, 'postgresqlconf'> = {}): Promise<PGlite> {
  if (!ownWasmFlags()) setFlagsFromString('--liftoff-only');
  const db = new PGlite({ ...options, postgresqlconf: PGLITE_CONF });
  try {
    await db.waitReady;
    return db;
  } catch (error) {
    if (!db.closed) await db.close().catch(() => {});
    throw error;
  }
}

function ownWasmFlags(): boolean {
  const given = [...process.execArgv, process.env.NODE_OPTIONS ?? ''].join(' ');
  return /--(no-)?(liftoff|wasm-tier|wasm-dynamic-tiering|wasm-lazy)/.test(given);
}

/** Scratch directories are named `<prefix><pid>-<random>` so a later process can tell whose they are. */
export const SCRATCH_PREFIX = 'plaid-refresh-graphql-scratch-';

export interface ScratchPglite {
  readonly db: PGlite;
  /** Where the cluster lives until `dispose`. */
  readonly dir: string;
  /** Closes the database and removes its directory; safe to call twice. */
  readonly dispose: () => Promise<void>;
}

export interface ScratchOptions {
  /** The template cluster's directory (tests name their own); null: initdb into the scratch directory every time. */
  readonly template?: string | null;
  /**
   * Run once on a new template before it is saved (the vault's migrations: they cost ~150 ms per
   * start on PGlite); `variant` then names what it did, so the default template dir differs per variant.
   */
  readonly prepare?: (db: PGlite) => Promise<void>;
  readonly variant?: string;
  /** Where scratch directories go; the OS temp dir by default. */
  readonly parent?: string;
}

/** Scratch directories of this process, removed at exit if nobody disposed of them. */
const live = new Set<string>();
let exitHook = false;
/** Parent directories already swept for abandoned scratch directories (once per process each). */
const swept = new Set<string>();

/** A fresh, empty cluster in a new scratch directory. */
export async function openScratchPglite(options: ScratchOptions = {}): Promise<ScratchPglite> {
  const parent = options.parent ?? tmpdir();
  if (!(await writable(parent))) return openInMemory(options.prepare);
  if (!swept.has(parent)) {
    swept.add(parent);
    await sweepAbandoned(parent);
  }
  const template = options.template === undefined ? await defaultTemplateDir(options.variant ?? 'empty') : options.template;
  if (template !== null) {
    if (!(await isCluster(template))) await makeTemplate(template, options.prepare).catch(() => {});
    if (await isCluster(template)) {
      const scratch = await newScratchDir(parent);
      try {
        cpSync(template, scratch.dir, { recursive: true });
        return await scratch.open();
      } catch {
        // A template damaged since it was made: drop it (the next start makes a new one) and initdb below.
        await scratch.remove();
        await rm(template, { recursive: true, force: true }).catch(() => {});
      }
    }
  }
  // No template (none wanted, node_modules read-only, or a damaged one): initdb into the scratch directory.
  const scratch = await (await newScratchDir(parent)).open();
  try {
    await options.prepare?.(scratch.db);
  } catch (error) {
    await scratch.dispose();
    throw error;
  }
  return scratch;
}

/** A temp dir that cannot be written (a read-only container): PGlite's in-memory file system, slower to start and larger. */
async function openInMemory(prepare: ScratchOptions['prepare']): Promise<ScratchPglite> {
  const db = await startPglite();
  const dispose = async () => {
    if (!db.closed) await db.close();
  };
  try {
    await prepare?.(db);
  } catch (error) {
    await dispose();
    throw error;
  }
  return { db, dir: 'memory://', dispose };
}

async function writable(parent: string): Promise<boolean> {
  try {
    await mkdir(parent, { recursive: true });
    await access(parent, constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

async function newScratchDir(parent: string): Promise<{ dir: string; open(): Promise<ScratchPglite>; remove(): Promise<void> }> {
  await mkdir(parent, { recursive: true });
  const dir = await mkdtemp(join(parent, `${SCRATCH_PREFIX}${process.pid}-`));
  track(dir);
  const remove = async () => {
    live.delete(dir);
    await rm(dir, { recursive: true, force: true });
  };
  const open = async (): Promise<ScratchPglite> => {
    let db: PGlite;
    try {
      db = await startPglite({ dataDir: dir });
    } catch (error) {
      await remove();
      throw error;
    }
    let disposed: Promise<void> | null = null;
    const dispose = () => {
      disposed ??= (async () => {
        try {
          if (!db.closed) await db.close();
        } finally {
          await remove();
        }
      })();
      return disposed;
    };
    return { db, dir, dispose };
  };
  return { dir, open, remove };
}

function track(dir: string): void {
  live.add(dir);
  if (exitHook) return;
  exitHook = true;
  process.once('exit', () => {
    for (const left of live) rmSync(left, { recursive: true, force: true });
  });
}

/**
 * initdb into a temporary directory beside `template`, closed (its files at rest), then renamed:
 * a reader never sees half a template. Losing the race to another process that made one first is
 * fine: theirs is as good.
 */
async function makeTemplate(template: string, prepare: ScratchOptions['prepare']): Promise<void> {
  await mkdir(dirname(template), { recursive: true });
  const temporary = await mkdtemp(`${template}.${process.pid}-`);
  try {
    const db = await startPglite({ dataDir: temporary });
    try {
      // PGlite uses the database "postgres"; the two template databases are two thirds of the
      // cluster's files, and every start copies the files (~250 -> ~130 ms).
      await db.exec(`update pg_database set datistemplate = false where datname in ('template0', 'template1')`);
      await db.exec('drop database template0');
      await db.exec('drop database template1');
      await prepare?.(db);
      await db.exec('checkpoint');
    } finally {
      await db.close();
    }
    // A damaged template that is not a cluster would make the rename fail forever.
    if (!(await isCluster(template))) await rm(template, { recursive: true, force: true });
    await rename(temporary, template);
    await dropSuperseded(template);
  } finally {
    await rm(temporary, { recursive: true, force: true });
  }
}

/**
 * Templates this one replaces (the same variant family after a migration changed, e.g.
 * `pglite-0.5.16-vault-<old digest>`) and the tarballs of the in-memory cluster that came before
 * scratch directories: each is tens of MB nobody reads any more.
 */
async function dropSuperseded(template: string): Promise<void> {
  const parent = dirname(template);
  const name = template.slice(parent.length + 1);
  const family = name.slice(0, name.lastIndexOf('-') + 1);
  const names = await readdir(parent).catch(() => [] as string[]);
  await Promise.all(
    names
      .filter((other) => other !== name && /^pglite-/.test(other))
      .filter(
        (other) =>
          other.endsWith('.tar') || (family.includes('-vault-') && other.startsWith(family) && !other.slice(family.length).includes('.')),
      )
      .map((other) => rm(join(parent, other), { recursive: true, force: true }).catch(() => {})),
  );
}

/** A template that looks whole: PG_VERSION and the catalogue directories are there. */
async function isCluster(dir: string): Promise<boolean> {
  try {
    const [version, base, global] = await Promise.all([
      readFile(join(dir, 'PG_VERSION'), 'utf8'),
      stat(join(dir, 'base')),
      stat(join(dir, 'global', 'pg_control')),
    ]);
    return /^\d+\s*$/.test(version) && base.isDirectory() && global.isFile();
  } catch {
    return false;
  }
}

/** Scratch directories whose process is gone (killed before it could remove them). */
async function sweepAbandoned(parent: string): Promise<void> {
  let names: string[];
  try {
    names = await readdir(parent);
  } catch {
    return;
  }
  await Promise.all(
    names.map(async (name) => {
      if (!name.startsWith(SCRATCH_PREFIX)) return;
      const pid = Number(name.slice(SCRATCH_PREFIX.length).split('-')[0]);
      if (!Number.isInteger(pid) || pid <= 0 || pid === process.pid || isAlive(pid)) return;
      await rm(join(parent, name), { recursive: true, force: true }).catch(() => {});
    }),
  );
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: alive, someone else's.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** `<node_modules>/.cache/plaid-refresh-graphql/pglite-<version>-<variant>`, or null if it cannot be named. */
export async function defaultTemplateDir(variant = 'empty'): Promise<string | null> {
  try {
    const entry = createRequire(import.meta.url).resolve('@electric-sql/pglite');
    const marker = `${sep}node_modules${sep}`;
    const at = entry.lastIndexOf(marker);
    if (at < 0) return null;
    const nodeModules = entry.slice(0, at + marker.length - 1);
    const packageJson = join(nodeModules, '@electric-sql', 'pglite', 'package.json');
    const { version } = JSON.parse(await readFile(packageJson, 'utf8')) as { version?: unknown };
    if (typeof version !== 'string' || !/^[\w.-]+$/.test(version)) return null;
    return join(nodeModules, '.cache', 'plaid-refresh-graphql', `pglite-${version}-${variant}`);
  } catch {
    return null;
  }
}
