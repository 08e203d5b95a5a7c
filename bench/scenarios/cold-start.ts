/**
 * 5. Cold start: from spawning the service to its first 200 on /health, and its RSS once idle.
 * Embedded mode (simulator, demo viewer, PGlite vault) three ways: `node scripts/start.mjs` (what
 * `npm start` runs: one bundle, scripts/bundle.mjs), `node --import tsx src/main.ts` (the sources
 * file by file through tsx's loader, what `npm start` ran before) and the compiled
 * `node dist/main.js` of `npm run build` (what the container runs). With `databaseUrl`, also
 * `node dist/main.js` in production mode (PostgreSQL vault, JWT, Plaid credentials for a Plaid that
 * is never called before /health).
 */
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { defaultTemplateDir } from '../../src/vault/pglite-scratch.js';
import { ROOT } from '../children.js';
import { median } from '../load.js';

export interface ColdStartOptions {
  readonly rounds: number;
  /** Build dist/ (npm run build) and time `node dist/main.js` too. */
  readonly compiled: boolean;
  /** Also time the first start after an install (no saved PGlite cluster). */
  readonly firstStart: boolean;
  /** PostgreSQL for the production-mode start (compiled only); none: not measured. */
  readonly databaseUrl?: string;
}

/** One way to start, over the rounds. */
export interface StartSeries {
  readonly ms: readonly number[];
  /** RSS after /health answered and the process sat idle for IDLE_MS. */
  readonly idleRssBytes: readonly number[];
  /** The most RSS seen from IDLE_MS to REST_MS after /health (see REST_MS). */
  readonly restRssBytes: readonly number[];
  readonly medianMs: number;
  readonly medianIdleRssBytes: number;
  readonly medianRestRssBytes: number;
}

export interface ColdStartResult {
  readonly options: Omit<ColdStartOptions, 'databaseUrl'> & { readonly production: boolean };
  /** `node scripts/start.mjs`, what `npm start` runs. */
  readonly npmStart: StartSeries;
  /** `node --import tsx src/main.ts`. */
  readonly tsx: StartSeries;
  /** `node dist/main.js`, embedded mode (empty when not measured). */
  readonly compiled: StartSeries;
  /** `node dist/main.js`, production mode on PostgreSQL (empty when not measured). */
  readonly production: StartSeries;
  /** The first start after an install, which saves PGlite's template cluster for the others (NaN: not timed). */
  readonly firstStartMs: number;
}

const START_TIMEOUT_MS = 60_000;
/** How long a started process sits before its RSS is read: start-up's garbage is collected by then. */
const IDLE_MS = 3_000;
/**
 * Until when RSS is watched after that (every 100 ms, the highest kept): a process at rest still
 * does things a few seconds in. Idle keep-alive sockets time out after 4 s (undici's default) with
 * an error whose stack trace, with source maps on, makes Node parse the bundle's map: before
 * scripts/bundle.mjs judged `npm start`'s map by resolved paths, that was +60 MB a process kept,
 * seen only after the 3 s reading.
 */
const REST_MS = 10_000;

interface Start {
  readonly ms: number;
  readonly idleRssBytes: number;
  readonly restRssBytes: number;
}

function series(starts: readonly Start[]): StartSeries {
  return {
    ms: starts.map((s) => s.ms),
    idleRssBytes: starts.map((s) => s.idleRssBytes),
    restRssBytes: starts.map((s) => s.restRssBytes),
    medianMs: median(starts.map((s) => s.ms)),
    medianIdleRssBytes: median(starts.map((s) => s.idleRssBytes)),
    medianRestRssBytes: median(starts.map((s) => s.restRssBytes)),
  };
}

export async function coldStart(options: ColdStartOptions): Promise<ColdStartResult> {
  const npmStart: Start[] = [];
  const tsx: Start[] = [];
  const compiled: Start[] = [];
  const production: Start[] = [];
  if (options.compiled) execFileSync(process.execPath, ['scripts/build.mjs'], { cwd: ROOT, stdio: 'inherit' });
  const productionEnv = options.databaseUrl && options.compiled ? productionEnvironment(options.databaseUrl) : null;
  // The first start after an install runs initdb and keeps the cluster as a template (src/vault/pglite-scratch.ts);
  // timed in full runs only, since it costs seconds.
  let firstStartMs = Number.NaN;
  if (options.firstStart) {
    const template = await defaultTemplateDir();
    if (template) rmSync(template, { recursive: true, force: true });
    firstStartMs = (await startOnce([process.execPath, 'scripts/start.mjs'], EMBEDDED)).ms;
  }
  for (let round = 0; round < options.rounds; round++) {
    npmStart.push(await startOnce([process.execPath, 'scripts/start.mjs'], EMBEDDED));
    tsx.push(await startOnce([process.execPath, '--import', 'tsx', 'src/main.ts'], EMBEDDED));
    if (options.compiled) compiled.push(await startOnce([process.execPath, 'dist/main.js'], EMBEDDED));
    if (productionEnv) production.push(await startOnce([process.execPath, 'dist/main.js'], productionEnv));
  }
  const { databaseUrl: _secret, ...shown } = options;
  return {
    options: { ...shown, production: productionEnv !== null },
    npmStart: series(npmStart),
    tsx: series(tsx),
    compiled: series(compiled),
    production: series(production),
    firstStartMs,
  };
}

/** Embedded mode as `npm start` runs it: no Plaid credentials, no database, no Redis. */
const EMBEDDED: Record<string, string> = {};

function productionEnvironment(databaseUrl: string): Record<string, string> {
  return {
    NODE_ENV: 'production',
    PLAID_CLIENT_ID: 'bench-client',
    PLAID_SECRET: 'bench-secret',
    // Not called before /health answers.
    PLAID_BASE_URL: 'http://127.0.0.1:9',
    AUTH_JWT_SECRET: randomBytes(32).toString('hex'),
    TOKEN_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
    DATABASE_URL: databaseUrl,
  };
}

async function startOnce(command: readonly string[], mode: Record<string, string>): Promise<Start> {
  const port = await freePort();
  const env = Object.fromEntries(
    Object.entries(process.env).filter(([key]) => !/^(PLAID_|DATABASE_|REDIS_|AUTH_|QUOTA_|VAULT_|TOKEN_|NODE_ENV$)/.test(key)),
  );
  const [executable, ...args] = command;
  if (!executable) throw new Error('no command');
  const started = performance.now();
  const child = spawn(executable, args, {
    cwd: ROOT,
    env: { ...env, ...mode, PORT: String(port), HOST: '127.0.0.1', SHUTDOWN_DRAIN_MS: '0' },
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
      if (await healthy(port)) break;
      await sleep(5);
    }
    const ms = performance.now() - started;
    await sleep(IDLE_MS);
    const idleRssBytes = rssBytes(child.pid);
    let restRssBytes = idleRssBytes;
    for (let at = IDLE_MS; at < REST_MS; at += 100) {
      await sleep(100);
      restRssBytes = Math.max(restRssBytes, rssBytes(child.pid));
    }
    return { ms, idleRssBytes, restRssBytes };
  } finally {
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(timer);
  }
}

/** Resident set of a process, from /proc (Linux); NaN elsewhere. */
function rssBytes(pid: number | undefined): number {
  try {
    const kib = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return kib ? Number(kib) * 1024 : Number.NaN;
  } catch {
    return Number.NaN;
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
