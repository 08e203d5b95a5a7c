// @ts-check
/**
 * `npm start`: runs the service from one bundle of src/main.ts and its dependencies
 * (scripts/bundle.mjs), made again only when one of the files it was made from changed.
 *
 * The bundle lives under node_modules/.cache/, beside a stamp that lists every input with its size
 * and modification time (esbuild's metafile). A start that finds them all unchanged runs the saved
 * bundle (checking ~1,300 files takes ~10 ms); otherwise it bundles again (~1 s). Files are named
 * after their content and written as a temporary file renamed into place, so two starts at once (two
 * terminals, parallel tests, a checkout switched between them) never run a half-written file or each
 * other's; bundles no stamp names are removed once they are a day old. Stack traces point into src/
 * through the source map.
 */
// First: on Node 24 and later an embedded start runs itself again with `--liftoff-only` (see there).
import './baseline-wasm-relaunch.mjs';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import module from 'node:module';
import process from 'node:process';
import { pathToFileURL } from 'node:url';
import { ROOT, START_CACHE, bundle } from './bundle.mjs';

const CACHE = START_CACHE;
const STAMP = join(CACHE, 'main.json');
const STALE_MS = 24 * 60 * 60 * 1000;
/** Read by esbuild without being an input in the metafile, or deciding what the inputs are. */
const SETTINGS = ['package.json', 'package-lock.json', 'tsconfig.json', 'scripts/bundle.mjs'];

/** @typedef {{ script: string, inputs: Record<string, [number, number]> }} Stamp */

/** @param {string} path relative to ROOT @returns {[number, number] | null} size and mtime */
function fingerprint(path) {
  const stats = statSync(join(ROOT, path), { throwIfNoEntry: false });
  return stats ? [stats.size, stats.mtimeMs] : null;
}

/** The saved bundle's path when every input is as it was when it was made, else null. */
function savedBundle() {
  /** @type {Stamp} */
  let stamp;
  try {
    stamp = JSON.parse(readFileSync(STAMP, 'utf8'));
  } catch {
    return null;
  }
  for (const [path, [size, mtime]] of Object.entries(stamp.inputs)) {
    const now = fingerprint(path);
    if (!now || now[0] !== size || now[1] !== mtime) return null;
  }
  const script = join(CACHE, stamp.script);
  return existsSync(script) ? script : null;
}

/** @param {string} path @param {string | Uint8Array} contents */
function writeAtomically(path, contents) {
  const temporary = join(CACHE, `.${basename(path)}.${process.pid}.tmp`);
  writeFileSync(temporary, contents);
  renameSync(temporary, path);
}

async function freshBundle() {
  // Anything modified from a second before this point on may have been read half-saved or before
  // its last save: its fingerprint is recorded so that it never matches, and the next start bundles again.
  const since = Date.now() - 1_000;
  const settings = Object.fromEntries(SETTINGS.map((path) => [path, fingerprint(path)]));
  const { outputFiles, metafile } = await bundle({
    entryPoints: ['src/main.ts'],
    outdir: CACHE,
    write: false,
    entryNames: '[name]-[hash]',
  });
  mkdirSync(CACHE, { recursive: true });
  // The map first, so a script never names a map that is not there yet.
  const files = [...outputFiles].sort((a, b) => Number(b.path.endsWith('.map')) - Number(a.path.endsWith('.map')));
  for (const file of files) writeAtomically(file.path, file.contents);
  const script = files.find((file) => file.path.endsWith('.js'));
  if (!script) throw new Error('esbuild wrote no script for src/main.ts');
  /** @type {Stamp['inputs']} */
  const inputs = {};
  // The settings' fingerprints from before bundling win over the metafile's.
  const fingerprints = { ...Object.fromEntries(Object.keys(metafile.inputs).map((path) => [path, fingerprint(path)])), ...settings };
  for (const [path, value] of Object.entries(fingerprints)) if (value) inputs[path] = value[1] >= since ? [-1, value[1]] : value;
  writeAtomically(STAMP, JSON.stringify({ script: basename(script.path), inputs }));
  removeStale(new Set(files.map((file) => basename(file.path))));
  return script.path;
}

/** @param {Set<string>} current */
function removeStale(current) {
  for (const name of readdirSync(CACHE)) {
    if (current.has(name) || name === basename(STAMP)) continue;
    const path = join(CACHE, name);
    const modified = statSync(path, { throwIfNoEntry: false })?.mtimeMs ?? Date.now();
    if (Date.now() - modified > STALE_MS) rmSync(path, { force: true });
  }
}

const script = savedBundle() ?? (await freshBundle());
// Node >= 22.1 keeps V8's compiled code of the bundle for the next start (~0.1-0.2 s); Node 20 has
// no such cache. Keyed by the file's content, so a new bundle is compiled afresh.
/** @type {{ enableCompileCache?: (directory: string) => unknown }} */ (module).enableCompileCache?.(join(CACHE, '..', 'compile-cache'));
process.setSourceMapsEnabled(true);
await import(pathToFileURL(script).href);
