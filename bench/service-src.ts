/**
 * The modules of src/ the service child uses, imported statically so that esbuild can bundle the
 * child with them (bench/service-bundle.ts): the bench then runs the service as production does,
 * one file under plain node, without tsx's loader thread and ~1,300 modules. `../src/` is resolved
 * to BENCH_SRC's copy when the bundle is made for another revision. The simulator is loaded only
 * when the child runs it in process, as the runtime loads it only in embedded mode.
 */
export { loadConfig } from '../src/config.js';
export { seedDemoViewer, signViewerToken } from '../src/demo/seed.js';
export { createRuntime } from '../src/runtime.js';
export { listen } from '../src/http/listen.js';
export { callerFor } from '../src/services/caller.js';
export const loadSimulator = () => import('../src/simulator/server.js');
