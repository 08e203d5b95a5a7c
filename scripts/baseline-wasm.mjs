// @ts-check
/**
 * When `npm start` runs itself again with `--liftoff-only` (scripts/baseline-wasm-relaunch.mjs,
 * imported first by scripts/start.mjs): on Node 24 and later, for a start that will open the
 * embedded vault (no DATABASE_URL), in the same process (process.execve), before anything else is
 * loaded.
 *
 * PGlite's postgres without V8's optimizing WASM tier takes ~70 MB less memory and ~1.2 s less CPU
 * per start (issue #16, docs/benchmarks.md). On Node 20 and 22 the vault sets the flag itself as it
 * opens PGlite (src/vault/pglite-scratch.ts, startPglite); Node 24 and later freeze V8's flags once
 * started, so there it has to be on the command line. A node given WASM tiering flags of its own
 * (`--no-liftoff-only`, say) is left as it was.
 */

/** The same test as startPglite's: flags the caller chose about WASM tiers are theirs. */
const OWN_WASM_FLAGS = /--(no-)?(liftoff|wasm-tier|wasm-dynamic-tiering|wasm-lazy)/;

/**
 * The argv to run again with, or null to carry on as is.
 * @param {{ nodeMajor: number, env: Record<string, string | undefined>, execArgv: readonly string[], argv: readonly string[], execPath: string }} self
 * @returns {string[] | null}
 */
export function baselineWasmRelaunch({ nodeMajor, env, execArgv, argv, execPath }) {
  // Node 20 and 22: startPglite sets it at run time.
  if (nodeMajor < 24) return null;
  // PostgreSQL: no PGlite, and undici's HTTP parser (WASM too) keeps its optimizing tier.
  if (env.DATABASE_URL) return null;
  if (OWN_WASM_FLAGS.test([...execArgv, env.NODE_OPTIONS ?? ''].join(' '))) return null;
  // argv[1] is the script; without one (node -e) there is nothing to run again.
  if (argv.length < 2) return null;
  return [execPath, '--liftoff-only', ...execArgv, ...argv.slice(1)];
}
