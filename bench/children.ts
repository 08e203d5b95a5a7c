/** Starts the bench's child processes (simulator, service) and talks to them over IPC. */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { ChildMessage, ChildStats, ParentMessage, ServiceReady, SimulatorReady } from './protocol.js';

export const ROOT = fileURLToPath(new URL('../', import.meta.url));
const READY_TIMEOUT_MS = 120_000;

interface Started<T> {
  readonly ready: T;
  readonly child: ChildProcess;
  /** The child's stdout and stderr so far, for error messages. */
  output(): string;
  close(): Promise<void>;
}

/** `script` runs under tsx, unless it is already JavaScript (a bundle). */
function start<T>(script: string, env: Record<string, string>, execArgv: readonly string[] = []): Promise<Started<T>> {
  const child = fork(script, [], {
    cwd: ROOT,
    // As the image runs (Dockerfile): graphql-js, for one, skips its development-only checks. The
    // service's own settings come from the environment its child passes to loadConfig, not from this.
    env: { ...process.env, NODE_ENV: 'production', ...env },
    execArgv: [...(script.endsWith('.ts') ? ['--import', 'tsx'] : []), ...execArgv],
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  // Always drained (a full pipe would block the child), kept for error messages.
  let output = '';
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-20_000);
    if (process.env.BENCH_VERBOSE) process.stderr.write(chunk);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${script} did not get ready:\n${output}`));
    }, READY_TIMEOUT_MS);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${script} exited with ${code} before it was ready:\n${output}`));
    });
    child.once('message', (message: T) => {
      clearTimeout(timer);
      resolve({
        ready: message,
        child,
        output: () => output,
        close: async () => {
          if (child.exitCode !== null || child.signalCode !== null) return;
          // Closing IPC lets the child shut down cleanly (and write its --cpu-prof); kill if it hangs.
          child.disconnect();
          const timeout = setTimeout(() => child.kill('SIGKILL'), 10_000);
          await exited;
          clearTimeout(timeout);
        },
      });
    });
  });
}

/** A child that only reports its URL when ready (bench/anchors/*). */
export type UrlChild = Started<{ readonly type: 'ready'; readonly url: string }>;

export function startUrlChild(script: string, env: Record<string, string> = {}): Promise<UrlChild> {
  return start<{ readonly type: 'ready'; readonly url: string }>(script, env);
}

export type SimulatorChild = Started<SimulatorReady>;

export function startSimulatorChild(): Promise<SimulatorChild> {
  return start<SimulatorReady>('bench/simulator-child.ts', {});
}

export interface ServiceChild extends Started<ServiceReady> {
  /** RSS, event-loop delay and vault queries; `reset` starts a new measuring window. */
  stats(reset?: boolean, gc?: boolean): Promise<ChildStats>;
  /** Starts the CPU profiler in the child, or stops it and writes the profile to `path`. */
  profile(action: 'start' | 'stop', path?: string): Promise<void>;
}

export interface ServiceChildOptions {
  readonly simulator?: SimulatorChild;
  readonly items: number;
  /** The vault in PostgreSQL; without it, the embedded PGlite. */
  readonly databaseUrl?: string;
  readonly execArgv?: readonly string[];
  readonly env?: Record<string, string>;
  /**
   * The child as one bundle (bench/service-bundle.ts) run by plain node with source maps on, as the
   * image runs the service; without it, bench/service-child.ts under tsx.
   */
  readonly bundle?: string;
}

export async function startServiceChild(options: ServiceChildOptions): Promise<ServiceChild> {
  // Set or emptied here, never inherited: the runner's own BENCH_DATABASE_URL (which asks for a
  // PostgreSQL column) must not turn the PGlite child into a PostgreSQL one.
  const env: Record<string, string> = {
    BENCH_ITEMS: String(options.items),
    BENCH_DATABASE_URL: options.databaseUrl ?? '',
    BENCH_SIMULATOR_URL: options.simulator?.ready.url ?? '',
    BENCH_SIMULATOR_CLIENT_ID: options.simulator?.ready.clientId ?? '',
    BENCH_SIMULATOR_SECRET: options.simulator?.ready.secret ?? '',
    BENCH_SRC: '',
    BENCH_BUNDLED: '',
    ...options.env,
  };
  const started = options.bundle
    ? await start<ServiceReady>(options.bundle, { ...env, BENCH_BUNDLED: '1' }, ['--enable-source-maps', ...(options.execArgv ?? [])])
    : await start<ServiceReady>('bench/service-child.ts', env, options.execArgv);
  let nextId = 0;
  /** Sends a request and resolves with the child's answer of the same type and id. */
  const ask = <T>(request: ParentMessage, answer: (message: ChildMessage) => T | undefined) =>
    new Promise<T>((resolve, reject) => {
      const onMessage = (message: ChildMessage) => {
        if (message.type !== request.type || !('id' in message) || message.id !== request.id) return;
        started.child.off('message', onMessage);
        const value = answer(message);
        if (value === undefined) reject(new Error(`${request.type} failed in the service child`));
        else resolve(value);
      };
      started.child.on('message', onMessage);
      started.child.send(request, (error) => {
        if (error) reject(error);
      });
    });
  return {
    ...started,
    stats: (reset = false, gc = false) =>
      ask({ type: 'stats', id: ++nextId, reset, gc }, (m) => (m.type === 'stats' ? m.stats : undefined)),
    profile: async (action, path) => {
      const request: ParentMessage = { type: 'profile', id: ++nextId, action, ...(path ? { path } : {}) };
      const error = await ask(request, (m) => (m.type === 'profile' ? (m.error ?? '') : undefined));
      if (error !== '') throw new Error(`profiler: ${error}`);
    },
  };
}
