// @ts-check
/**
 * One esbuild bundle per program, its dependencies included: what `npm run build` writes to dist/
 * (the container runs dist/main.js) and what `npm start` runs (scripts/start.mjs).
 *
 * Why: Node pays for every module it resolves, reads, wraps and links, CommonJS and ESM alike, and
 * the service loads ~1,300 of them (its ~170 files, graphql, federation, yoga, undici, zod, ...);
 * loaded as one file, a compiled start takes ~40% less CPU and ~15 MB less memory
 * (docs/benchmarks.md, targets 5 and 6). Whitespace and syntax are minified (names are kept): V8
 * holds a script's whole source text for as long as it runs, and scans all of it at load.
 *
 * `npm start` gets one self-contained file (replaced with one rename; it loads the simulator and
 * the demo anyway). `npm run build` splits: what only a dynamic import reaches (the simulator, the
 * demo, PGlite's scratch cluster, ioredis) goes to dist/chunks/ and is never read by a process that
 * does not use it, and what several programs share is one chunk. An entry's own code stays in its
 * file, so `import.meta.url` there is the program's (the CLIs compare it with argv[1]).
 */
import { build } from 'esbuild';
import { Buffer } from 'node:buffer';
import { createHash } from 'node:crypto';
import { mkdirSync, realpathSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { decode, encode } from '@jridgewell/sourcemap-codec';
import { URL, fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));

/**
 * Where `npm start` keeps its bundle: under node_modules/.cache/, one directory per checkout, since
 * git worktrees may share one node_modules (a symlink) while their sources differ.
 */
export const START_CACHE = join(
  ROOT,
  'node_modules',
  '.cache',
  'plaid-refresh-graphql',
  `start-${createHash('sha256').update(realpathSync(ROOT)).digest('hex').slice(0, 12)}`,
);

/**
 * Loaded from node_modules as they are, at run time:
 * - PGlite finds its WASM and data files beside its own module (import.meta.url);
 * - GraphiQL's bundle is ~10 MB of strings, loaded only when GraphiQL is on and asked for;
 * - pg-native is pg's optional native driver, never installed here (pg asks for it only on request).
 */
export const EXTERNAL = ['@electric-sql/pglite', '@graphql-yoga/render-graphiql', 'pg-native'];

/**
 * Imports resolved to another file than the package's `exports` give an ES module:
 * - graphql-jit's ESM entry re-exports its CommonJS files, so its compiled queries use
 *   dist/runtime.js; src/http/compiled-execution.ts mends that runtime object, and must get the
 *   same one (its `exports` would give the ESM copy, dist/runtime.mjs, which nothing uses).
 */
const ALIAS = { 'graphql-jit/dist/runtime.js': './node_modules/graphql-jit/dist/runtime.js' };

/**
 * CommonJS dependencies call require() and read __filename/__dirname; an ES module has none of
 * them, so the bundle defines them for itself (a dependency's __dirname is then the bundle's
 * directory: only used by them for stack traces, and by pino's transports, which are not used).
 */
const COMMONJS_GLOBALS = [
  "import { createRequire as __bundleRequire } from 'node:module';",
  "import { fileURLToPath as __bundlePath } from 'node:url';",
  "import { dirname as __bundleDirname } from 'node:path';",
  'const require = __bundleRequire(import.meta.url);',
  'const __filename = __bundlePath(import.meta.url);',
  'const __dirname = __bundleDirname(__filename);',
].join(' ');

/**
 * Bundles `entryPoints` (paths under src/) into `outdir`, keeping their paths below src/ unless
 * `entryNames` (esbuild's pattern) says otherwise. With `write: false` the files are returned and
 * the caller writes them; the metafile lists every input read. `splitting`: shared and lazily
 * imported code in `outdir`/chunks/. `plugins`: esbuild's (the bench maps src/ to another
 * revision's copy with one).
 * @param {{ entryPoints: string[], outdir: string, write?: boolean, entryNames?: string, splitting?: boolean, plugins?: import('esbuild').Plugin[] }} options
 * @returns {Promise<{ outputFiles: { path: string, contents: Uint8Array }[], metafile: import('esbuild').Metafile }>}
 */
export async function bundle({ entryPoints, outdir, write = true, entryNames = '[dir]/[name]', splitting = false, plugins = [] }) {
  const result = await build({
    absWorkingDir: ROOT,
    entryPoints,
    outdir,
    outbase: 'src',
    entryNames,
    ...(splitting ? { splitting: true, chunkNames: 'chunks/[name]-[hash]' } : {}),
    bundle: true,
    external: EXTERNAL,
    alias: ALIAS,
    platform: 'node',
    format: 'esm',
    // The oldest Node line package.json's engines accept.
    target: 'node20.19',
    banner: { js: COMMONJS_GLOBALS },
    // Stack traces name src/ files and lines (node --enable-source-maps, as the image sets, or
    // process.setSourceMapsEnabled); the sources themselves stay out of the map.
    sourcemap: 'linked',
    sourcesContent: false,
    // Smaller source text (7.4 -> 5.0 MB for the service): less to scan at load and to keep in memory.
    minifyWhitespace: true,
    minifySyntax: true,
    // Class and function names stay as written: logs, errors and Pothos' type names use them.
    keepNames: true,
    metafile: true,
    plugins,
    write: false,
    logLevel: 'warning',
  });
  const outputFiles = result.outputFiles.map((file) =>
    file.path.endsWith('.map')
      ? { path: file.path, contents: Buffer.from(ownCodeOnly(file.text, dirname(file.path))) }
      : file.path.endsWith('.js')
        ? { path: file.path, contents: Buffer.from(namesOfClassesAndFunctions(file.text)) }
        : file,
  );
  if (write)
    for (const file of outputFiles) {
      mkdirSync(dirname(file.path), { recursive: true });
      writeFileSync(file.path, file.contents);
    }
  return { outputFiles, metafile: result.metafile };
}

/** esbuild's keepNames helper, as esbuild 0.28 writes it with whitespace minified (inside a `var` list). */
export const ESBUILD_NAME_HELPER = '__name=(target,value)=>__defProp(target,"name",{value,configurable:!0})';

/**
 * What the helper calls instead, naming only what has a `prototype`: classes and `function`
 * functions (error classes, Pothos' refs and the constructors libraries compare by name), no
 * longer every arrow, async function and method. keepNames calls it wherever such a function is
 * created, so also for every closure a request makes (ours, yoga's, envelop's, undici's, ...), and
 * defining `name` puts that function's properties in dictionary mode: +257 bytes and ~1.6 µs each
 * (issue #16, target 2: ~3.4 KiB of each refresh in flight). An arrow keeps the name V8 gives it
 * (its variable's, or none when esbuild wrote it as `__name(() => ..., "x")`): stack traces still
 * name its file and line through the source map.
 */
export const CHEAP_NAME_FUNCTION =
  'function __nameIfConstructor(target,value){return target.prototype===void 0?target:__defProp(target,"name",{value,configurable:!0})}';

/**
 * The helper, rewritten to call CHEAP_NAME_FUNCTION, padded to its length: code follows it on the
 * same line (minified), and every column after it must stay where the source map says it is.
 */
export const CHEAP_NAME_HELPER = '__name=(t,v)=>__nameIfConstructor(t,v)'.padEnd(ESBUILD_NAME_HELPER.length, ' ');

/** @param {string} text a bundled script */
export function namesOfClassesAndFunctions(text) {
  const at = text.indexOf(ESBUILD_NAME_HELPER);
  if (at === -1) {
    // Another esbuild may write it otherwise: fail rather than lose this quietly.
    if (/\b__name\s*=\s*\(/.test(text)) throw new Error("esbuild's keepNames helper changed: see namesOfClassesAndFunctions");
    return text;
  }
  if (text.indexOf(ESBUILD_NAME_HELPER, at + 1) !== -1) throw new Error('two keepNames helpers in one bundle');
  // The function goes after all code (hoisted, so defined before any call), before the map's comment.
  const mapComment = text.lastIndexOf('\n//# sourceMappingURL=');
  const codeEnd = mapComment === -1 ? text.length : mapComment;
  return `${text.slice(0, at)}${CHEAP_NAME_HELPER}${text.slice(at + ESBUILD_NAME_HELPER.length, codeEnd)}\n${CHEAP_NAME_FUNCTION}${text.slice(codeEnd)}`;
}

/**
 * The source map with mappings into src/ only, one per line of source. Node parses a script's
 * whole map (by its first stack trace, and keeps it), and the dependencies' mappings were nine
 * tenths of it: ~150 ms and ~35 MB of a process. A stack frame inside a dependency then names the
 * bundle's line, one in src/ its own. Each run of generated code that came from node_modules
 * becomes one unmapped segment, so that it is not taken for the src/ code before it. Of the
 * segments esbuild writes for one source line (one per token, ~4 a line), only the first is kept:
 * a frame still names its file and line, its column is where that line's code starts; the map
 * Node holds is a quarter of the size (~44,000 -> ~11,000 segments for `npm start`'s bundle).
 * @param {string} text the map as esbuild wrote it
 * @param {string} directory where the map is written: its sources are relative to it
 */
export function ownCodeOnly(text, directory) {
  const map = JSON.parse(text);
  // Resolved, not as written: from `npm start`'s bundle under node_modules/.cache/ a dependency is
  // `../../../graphql/...`, with no node_modules/ in it.
  /** @type {boolean[]} */
  const own = map.sources.map(
    (/** @type {string} */ source) =>
      !relative(ROOT, resolve(directory, map.sourceRoot ?? '', source))
        .split(sep)
        .includes('node_modules'),
  );
  const lines = decode(map.mappings).map((line) => {
    /** @type {typeof line} */
    const kept = [];
    for (const segment of line) {
      const last = kept.at(-1);
      if (segment.length > 1 && own[/** @type {number} */ (segment[1])]) {
        // The same source line as the segment before: a lookup lands on that one, the same line.
        if (last && last.length > 1 && last[1] === segment[1] && last[2] === segment[2]) continue;
        kept.push(segment);
      } else if ((last?.length ?? 2) > 1) kept.push([segment[0]]);
    }
    return kept;
  });
  return JSON.stringify({ ...map, mappings: encode(lines) });
}
