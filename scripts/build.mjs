// @ts-check
/**
 * `npm run build`: dist/ for the container. One bundle per program: the service (dist/main.js), the
 * standalone simulator (dist/simulator/main.js) and each CLI (dist/cli/<name>.js), with the code
 * they share or load only when used in dist/chunks/. Types are not
 * checked here; `npm run typecheck` does that (CI runs both).
 */
import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, bundle } from './bundle.mjs';

const cli = readdirSync(join(ROOT, 'src/cli'))
  .filter((name) => name.endsWith('.ts') && name !== 'is-entry-point.ts')
  .map((name) => `src/cli/${name}`);
const outdir = join(ROOT, 'dist');
rmSync(outdir, { recursive: true, force: true });
await bundle({ entryPoints: ['src/main.ts', 'src/simulator/main.ts', ...cli], outdir, splitting: true });
