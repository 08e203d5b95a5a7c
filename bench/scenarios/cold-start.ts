/**
 * 5. Cold start: from spawning the service in embedded mode (simulator, demo viewer, PGlite vault)
 * to its first 200 on /health. Three ways to start it: `node --import tsx` (one process, what
 * `npm start` runs), the tsx CLI (which spawns node itself), and the compiled `node dist/main.js` of
 * `npm run build` (what the container runs).
 */
import { execFileSync, spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { defaultTemplateDir } from '../../src/vault/pglite-scratch.js';
import { ROOT } from '../children.js';
import { median } from '../load.js';

export interface ColdStartOptions {
  readonly rounds: number;
  /** Build dist/ (npm run build) and time `node dist/main.js` too. */
  readonly compiled: boolean;
  /** Also time the first start after an install (no saved PGlite cluster). */
  readonly firstStart: boolean;
}

export interface ColdStartResult {
  readonly options: ColdStartOptions;
  readonly nodeImportMs: readonly number[];
  readonly tsxCliMs: readonly number[];
  readonly compiledMs: readonly number[];
  readonly nodeImportMedianMs: number;
  readonly tsxCliMedianMs: number;
  /** NaN when not measured. */
  readonly compiledMedianMs: number;
  /** The first start after an install, which saves PGlite's empty cluster for the others (NaN: not timed). */
  readonly firstStartMs: number;
}

const START_TIMEOUT_MS = 60_000;

export async function coldStart(options: ColdStartOptions): Promise<ColdStartResult> {
  const nodeImportMs: number[] = [];
  const tsxCliMs: number[] = [];
  const compiledMs: number[] = [];
  if (options.compiled)
    execFileSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.build.json'], { cwd: ROOT, stdio: 'inherit' });
  // The first start after an install runs initdb and keeps the cluster as a template (src/vault/pglite-scratch.ts);
  // timed in full runs only, since it costs seconds.
  let firstStartMs = Number.NaN;
  if (options.firstStart) {
    const template = await defaultTemplateDir();
    if (template) rmSync(template, { recursive: true, force: true });
    firstStartMs = await timeToHealthy([process.execPath, '--import', 'tsx', 'src/main.ts']);
  }
  for (let round = 0; round < options.rounds; round++) {
    nodeImportMs.push(await timeToHealthy([process.execPath, '--import', 'tsx', 'src/main.ts']));
    tsxCliMs.push(await timeToHealthy([process.execPath, 'node_modules/tsx/dist/cli.mjs', 'src/main.ts']));
    if (options.compiled) compiledMs.push(await timeToHealthy([process.execPath, 'dist/main.js']));
  }
  return {
    options,
    nodeImportMs,
    tsxCliMs,
    compiledMs,
    nodeImportMedianMs: median(nodeImportMs),
    tsxCliMedianMs: median(tsxCliMs),
    compiledMedianMs: median(compiledMs),
    firstStartMs,
  };
}

async function timeToHealthy(command: readonly string[]): Promise<number> {
  const port = await freePort();
  // Embedded mode as `npm start` runs it: no Plaid credentials, no database, no Redis.
  const env = Object.fromEntries(
    Object.entries(process.env).filter(([key]) => !/^(PLAID_|DATABASE_|REDIS_|AUTH_|QUOTA_|VAULT_|TOKEN_)/.test(key)),
  );
  const [executable, ...args] = command;
  if (!executable) throw new Error('no command');
  const started = performance.now();
  const child = spawn(executable, args, {
    cwd: ROOT,
    env: { ...env, PORT: String(port), HOST: '127.0.0.1', SHUTDOWN_DRAIN_MS: '0' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  try {
    for (;;) {
      if (child.exitCode !== null) throw new Error(`${command.join(' ')} exited with ${child.exitCode}:\n${output}`);
      if (performance.now() - started > START_TIMEOUT_MS)
        throw new Error(`${command.join(' ')} not healthy after ${START_TIMEOUT_MS} ms:\n${output}`);
      if (await healthy(port)) return performance.now() - started;
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  } finally {
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(timer);
  }
}

async function healthy(port: number): Promise<boolean> {
  try {
    const response = await fetch(`http://127.0.0.1:${port}/health`, { signal: AbortSignal.timeout(1_000) });
    await response.arrayBuffer();
    return response.status === 200;
  } catch {
    return false;
  }
}

/** A port nobody listens on now (the service is given it, so no output has to be parsed). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}
