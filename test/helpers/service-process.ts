/**
 * The real process as `npm start` runs it (`node scripts/start.mjs`, one bundle of src/main.ts and
 * its dependencies), on the port it is given (0 picks one). Ready means its "ready" log line (which names the GraphQL URL) arrived, plus `alsoWaitFor` when given:
 * the embedded-mode banner goes to stdout synchronously while pino writes asynchronously, so they
 * can arrive in either order. A process that exits or takes too long is killed and reported with
 * its output.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const READY_LINE = /"url":"(http:\/\/[^"]+)\/graphql"/;

export interface ServiceProcess {
  readonly child: ChildProcess;
  /** Base URL, without /graphql. */
  readonly url: string;
  /** Everything it wrote to stdout and stderr so far. */
  output(): string;
}

export async function startServiceProcess(
  env: NodeJS.ProcessEnv,
  options: { readonly alsoWaitFor?: RegExp; readonly timeoutMs?: number } = {},
): Promise<ServiceProcess> {
  const child = spawn(process.execPath, ['scripts/start.mjs'], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const url = await new Promise<string>((resolve, reject) => {
    const fail = (why: string) => {
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(new Error(`service ${why}:\n${output}`));
    };
    const timer = setTimeout(() => fail('did not start'), options.timeoutMs ?? 30_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const ready = READY_LINE.exec(output)?.[1];
      if (ready && (!options.alsoWaitFor || options.alsoWaitFor.test(output))) {
        clearTimeout(timer);
        resolve(ready);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('exit', (code) => fail(`exited (${code})`));
  });
  return { child, url, output: () => output };
}

export interface ExitedService {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * The real process for a start that is meant to fail: resolves with its exit code and output once
 * it exits. One that becomes ready (or runs past the timeout) instead is killed and rejected.
 */
export async function runServiceUntilExit(env: NodeJS.ProcessEnv, options: { readonly timeoutMs?: number } = {}): Promise<ExitedService> {
  const child = spawn(process.execPath, ['scripts/start.mjs'], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  return new Promise<ExitedService>((resolve, reject) => {
    const fail = (why: string) => {
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(new Error(`service ${why} instead of refusing to start:\n${stdout}${stderr}`));
    };
    const timer = setTimeout(() => fail('did not exit'), options.timeoutMs ?? 30_000);
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      if (READY_LINE.test(stdout)) fail('became ready');
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}
