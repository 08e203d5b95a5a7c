/**
 * bench/service-child.ts as one esbuild bundle, the way scripts/bundle.mjs builds the service for
 * production (`node dist/main.js`): the in-flight scenario measures memory, and under tsx the child
 * held ~65 MB more RSS than the bundled service does (tsx's loader thread, ~1,300 modules loaded
 * one by one). With `srcDir` (an older revision's src/, see BENCH_SRC) that copy is bundled.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Plugin } from 'esbuild';
import { CHEAP_NAME_HELPER, ESBUILD_NAME_HELPER, bundle } from '../scripts/bundle.mjs';
import { ROOT } from './children.js';

/**
 * `esbuildNames`: esbuild's own keepNames helper, as bundles were before
 * `namesOfClassesAndFunctions` (scripts/bundle.mjs), so that a base revision is bundled as it was.
 */
export async function bundleServiceChild(name: string, srcDir?: string, esbuildNames = false): Promise<string> {
  const outdir = join(ROOT, '.local', 'bench-bundles', name);
  const plugins: Plugin[] = [];
  if (srcDir) {
    const base = resolve(srcDir);
    plugins.push({
      name: 'bench-src',
      setup(build) {
        build.onResolve({ filter: /^\.\.\/src\// }, (args) =>
          args.importer.endsWith(join('bench', 'service-src.ts'))
            ? { path: join(base, args.path.slice('../src/'.length).replace(/\.js$/, '.ts')) }
            : undefined,
        );
      },
    });
  }
  await bundle({ entryPoints: ['bench/service-child.ts'], outdir, entryNames: '[name]', plugins });
  const file = join(outdir, 'service-child.js');
  if (esbuildNames) writeFileSync(file, readFileSync(file, 'utf8').replace(CHEAP_NAME_HELPER, ESBUILD_NAME_HELPER));
  return file;
}
