// @ts-check
/**
 * Imported first by scripts/start.mjs, for its side effect: runs this node again with
 * `--liftoff-only` when baselineWasmRelaunch says so (see scripts/baseline-wasm.mjs).
 */
import process from 'node:process';
import { baselineWasmRelaunch } from './baseline-wasm.mjs';

const again = baselineWasmRelaunch({
  nodeMajor: Number(process.versions.node.split('.')[0]),
  env: process.env,
  execArgv: process.execArgv,
  argv: process.argv,
  execPath: process.execPath,
});
// process.execve: Node 22.15 and 23.11 on; typed here, as @types/node of Node 20 lacks it.
const exec = /** @type {{ execve?: (file: string, args: string[], env: NodeJS.ProcessEnv) => never }} */ (/** @type {unknown} */ (process));
if (again && typeof exec.execve === 'function') {
  try {
    exec.execve(process.execPath, again, process.env);
  } catch {
    // Not replaced (an exec refused by the system): start as is, with the optimizing tier.
  }
}
