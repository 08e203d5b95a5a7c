/**
 * The container. The Dockerfile is checked as text everywhere; the compiled service it runs
 * (`npm run build`, then plain `node dist/main.js` in production mode) is started against a
 * simulator everywhere; the image itself is built and run only where a Docker engine answers
 * (`docker info`), which this team's CI machines do not have.
 */
import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signViewerToken } from '../../src/demo/seed.js';
import type { Simulator } from '../../src/simulator/server.js';
import { clientFor, startTestSimulator } from '../helpers/simulator.js';
import { needs } from '../helpers/needs.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const run = promisify(execFile);
const JWT_SECRET = 'container-test-secret-long-enough-for-hs256';

/** LTS lines the image may use: supported by `engines` and tested by .ci/run. */
const SUPPORTED_IMAGE_LINES = ['22', '24', '26'];

/** Production-mode environment against `simulator`; nothing inherited (CI's DATABASE_URL, REDIS_URL stay out). */
function productionEnv(simulator: Simulator, port: number): Record<string, string> {
  return {
    NODE_ENV: 'production',
    HOST: '127.0.0.1',
    PORT: String(port),
    PLAID_CLIENT_ID: simulator.clientId,
    PLAID_SECRET: simulator.secret,
    PLAID_BASE_URL: simulator.url,
    AUTH_JWT_SECRET: JWT_SECRET,
    TOKEN_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
    // Production refuses an in-memory vault; an embedded PGlite directory stands in for PostgreSQL.
    VAULT_DATA_DIR: mkdtempSync(join(tmpdir(), 'vault-')),
  };
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

async function waitForHealth(baseUrl: string, alive: () => boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!alive()) throw new Error('the service exited before it was healthy');
    const ok = await fetch(`${baseUrl}/health`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) return;
    await sleep(200);
  }
  throw new Error(`${baseUrl}/health did not answer within ${timeoutMs} ms`);
}

async function graphql(baseUrl: string, token: string, query: string, variables: Record<string, unknown> = {}) {
  const response = await fetch(`${baseUrl}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query, variables }),
  });
  return {
    status: response.status,
    body: (await response.json()) as { data?: Record<string, Record<string, unknown>>; errors?: unknown[] },
  };
}

const LINK =
  'mutation ($publicToken: String!) { linkItem(publicToken: $publicToken) { __typename ... on LinkItemSuccess { item { id } } } }';
const REFRESH =
  'mutation ($itemId: ID!) { refreshTransactions(itemId: $itemId) { __typename ... on RefreshTransactionsSuccess { requestId } } }';

/** What a deployment does first: link an Item through the API, then refresh it. */
async function linkAndRefresh(baseUrl: string, simulator: Simulator): Promise<void> {
  const token = await signViewerToken(JWT_SECRET, 'container-viewer');
  const plaid = clientFor(simulator);
  const { publicToken } = await plaid.createSandboxPublicToken({ institutionId: 'ins_109508', initialProducts: ['transactions'] });
  await plaid.close();
  const linked = await graphql(baseUrl, token, LINK, { publicToken });
  expect(linked.status).toBe(200);
  expect(linked.body.data?.linkItem?.__typename).toBe('LinkItemSuccess');
  const itemId = (linked.body.data?.linkItem?.item as { id: string }).id;
  const refreshed = await graphql(baseUrl, token, REFRESH, { itemId });
  expect(refreshed.body.errors).toBeUndefined();
  expect(refreshed.body.data?.refreshTransactions).toMatchObject({ __typename: 'RefreshTransactionsSuccess' });
  const requestId = refreshed.body.data?.refreshTransactions?.requestId;
  expect(simulator.state.requests({ path: '/transactions/refresh' }).map((r) => r.requestId)).toContain(requestId);
}

/** The Dockerfile's instructions, continuation lines joined, comments dropped. */
const instructions = readFileSync(`${ROOT}Dockerfile`, 'utf8')
  .replace(/\\\r?\n/g, ' ')
  .split(/\r?\n/)
  .map((line) => line.trim())
  .filter((line) => line !== '' && !line.startsWith('#'));
const runtimeStage = instructions.slice(instructions.findLastIndex((line) => /^FROM\s/i.test(line)));

/**
 * Whether .dockerignore leaves `path` in the build context: the last pattern that matches it
 * decides, `!` putting it back (Docker's rule). A pattern matches the path itself or a directory
 * above it; `*` is any run of characters within one path segment.
 */
function inBuildContext(path: string): boolean {
  let kept = true;
  for (const raw of readFileSync(`${ROOT}.dockerignore`, 'utf8').split(/\r?\n/)) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const exception = line.startsWith('!');
    const pattern = (exception ? line.slice(1) : line).replace(/\/$/, '');
    const glob = new RegExp(`^${pattern.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*')}(/.*)?$`);
    if (glob.test(path.replace(/^\.\//, ''))) kept = exception;
  }
  return kept;
}

/** The HEALTHCHECK's exec-form command. Docker runs JSON it cannot parse as a shell command instead, silently. */
function healthcheckCommand(): string[] {
  const json = /^HEALTHCHECK\s.*?\bCMD\s+(\[.*\])$/.exec(runtimeStage.find((line) => line.startsWith('HEALTHCHECK')) ?? '')?.[1];
  const command: unknown = JSON.parse(json ?? 'null');
  if (!Array.isArray(command) || !command.every((part) => typeof part === 'string'))
    throw new Error('HEALTHCHECK CMD is not an exec-form array');
  return command;
}

describe('Dockerfile', () => {
  it('is multi-stage: a build stage, and a runtime stage on the same supported LTS line that takes only dist/ from it', () => {
    expect(instructions.filter((line) => /^FROM\s/i.test(line)).length).toBeGreaterThanOrEqual(2);
    // A line CI tests (scripts/test-node-lines.sh) and that is not past its end of life (20 is, since April 2026).
    const buildLine = /^FROM\s+node:(\d+)[\w.-]*\s+AS\s+build$/i.exec(instructions.find((line) => /\sAS\s+build$/i.test(line)) ?? '')?.[1];
    const runtimeLine = /^FROM\s+node:(\d+)[\w.-]*/i.exec(runtimeStage[0] ?? '')?.[1];
    expect(SUPPORTED_IMAGE_LINES).toContain(buildLine);
    expect(runtimeLine).toBe(buildLine);
    expect(runtimeStage).toContainEqual(expect.stringMatching(/^RUN\s+npm ci\b.*--omit=dev/));
    expect(runtimeStage).toContainEqual(expect.stringMatching(/^COPY\s+--from=build\s+\S*dist\s/));
  });

  it('runs as a non-root user, in production mode, with a HEALTHCHECK on /health and node dist/main.js', () => {
    const users = runtimeStage.filter((line) => /^USER\s/i.test(line));
    expect(users.length).toBeGreaterThan(0);
    expect(users.at(-1)).not.toMatch(/^USER\s+(root|0)(:|\s|$)/i);
    expect(runtimeStage).toContainEqual(expect.stringMatching(/NODE_ENV=production/));
    expect(healthcheckCommand()[0]).toBe('node');
    expect(healthcheckCommand().join(' ')).toContain('/health');
    expect(runtimeStage).toContainEqual(expect.stringMatching(/^EXPOSE\s+4000$/));
    expect(runtimeStage.at(-1)).toBe('CMD ["node", "dist/main.js"]');
  });

  it('.dockerignore keeps dependencies, git history, builds and secrets out of the context', () => {
    const ignored = readFileSync(`${ROOT}.dockerignore`, 'utf8').split(/\r?\n/);
    for (const entry of ['node_modules', '.git', 'dist', 'test', '.env']) expect(ignored).toContain(entry);
  });

  it('.dockerignore leaves in the context every file a COPY takes from it', () => {
    const sources = instructions
      .filter((line) => /^COPY\s/i.test(line) && !/--from=/i.test(line))
      .flatMap((line) => line.split(/\s+/).slice(1, -1));
    expect(sources).toContain('scripts/build.mjs');
    for (const source of sources) expect(inBuildContext(source), source).toBe(true);
  });
});

describe('the compiled service (what the image runs): node dist/main.js in production mode', () => {
  let simulator: Simulator;

  beforeAll(async () => {
    simulator = await startTestSimulator();
    await run('npm', ['run', 'build'], { cwd: ROOT, timeout: 120_000 });
  }, 150_000);
  afterAll(() => simulator.close());

  it('starts, answers /health, the image HEALTHCHECK and a link + refresh, serves no GraphiQL, and exits 0 on SIGTERM', async () => {
    const port = await freePort();
    const baseUrl = `http://127.0.0.1:${port}`;
    const child = spawn(process.execPath, ['dist/main.js'], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', ...productionEnv(simulator, port) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      await waitForHealth(baseUrl, () => child.exitCode === null).catch((error: Error) => {
        throw new Error(`${error.message}\n${output}`);
      });
      await linkAndRefresh(baseUrl, simulator);
      // The image's HEALTHCHECK command, as Docker would run it inside the container.
      const [command = '', ...args] = healthcheckCommand();
      const check = (env: Record<string, string>) =>
        spawnSync(command, args, { env: { PATH: process.env.PATH ?? '', ...env }, timeout: 10_000 }).status;
      expect(check({ PORT: String(port) })).toBe(0);
      expect(check({ PORT: String(await freePort()) })).toBe(1);
      // Production mode is on: GraphiQL is off by default there.
      const page = await fetch(`${baseUrl}/graphql`, { headers: { accept: 'text/html' } });
      expect(page.headers.get('content-type') ?? '').not.toContain('text/html');
    } finally {
      stop(child);
    }
    const code = await exitWithin(exited, 10_000);
    if (code === 'timeout') child.kill('SIGKILL');
    expect(code).toBe(0);
  }, 60_000);

  it('refuses to start in production without TOKEN_ENCRYPTION_KEY, naming it', async () => {
    const { TOKEN_ENCRYPTION_KEY: _omitted, ...env } = productionEnv(simulator, await freePort());
    const result = spawnSync(process.execPath, ['dist/main.js'], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', ...env },
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('TOKEN_ENCRYPTION_KEY');
  });
});

describe('the image (built and run only where `docker info` works: skipped on machines without a Docker engine)', needs('docker'), () => {
  const tag = `plaid-refresh-graphql:test-${randomBytes(4).toString('hex')}`;
  let simulator: Simulator;
  let containerId: string | null = null;

  beforeAll(async () => {
    // On the host network the container reaches the test's simulator on loopback.
    simulator = await startTestSimulator();
    await run('docker', ['build', '--tag', tag, ROOT], { timeout: 600_000, maxBuffer: 64 * 1024 * 1024 });
  }, 660_000);
  afterAll(async () => {
    if (containerId) await run('docker', ['rm', '--force', containerId]).catch(() => {});
    await run('docker', ['image', 'rm', '--force', tag]).catch(() => {});
    await simulator.close();
  });

  it('runs as a non-root user, becomes healthy, serves a link + refresh, and stops with exit code 0 on SIGTERM', async () => {
    const { stdout: user } = await run('docker', ['image', 'inspect', '--format', '{{.Config.User}}', tag]);
    expect(user.trim()).not.toMatch(/^(|root|0)$/);

    const port = await freePort();
    // HOST left to the image (0.0.0.0), as a deployment would.
    const { HOST: _host, ...env } = productionEnv(simulator, port);
    const args = ['run', '--detach', '--network', 'host', '--health-interval', '1s', '--health-start-period', '30s'];
    for (const [name, value] of Object.entries(env)) args.push('--env', `${name}=${value}`);
    containerId = (await run('docker', [...args, tag])).stdout.trim();

    const deadline = Date.now() + 60_000;
    let health = '';
    while (Date.now() < deadline && health !== 'healthy') {
      health = (await run('docker', ['inspect', '--format', '{{.State.Health.Status}}', containerId])).stdout.trim();
      if (health === 'unhealthy') break;
      await sleep(500);
    }
    expect(health).toBe('healthy');
    await linkAndRefresh(`http://127.0.0.1:${port}`, simulator);

    await run('docker', ['stop', '--time', '10', containerId]); // SIGTERM, then SIGKILL after 10 s
    const { stdout: exitCode } = await run('docker', ['inspect', '--format', '{{.State.ExitCode}}', containerId]);
    expect(exitCode.trim()).toBe('0');
  }, 120_000);
});

function stop(child: ChildProcess): void {
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
}

async function exitWithin(exited: Promise<number | null>, ms: number): Promise<number | null | 'timeout'> {
  return Promise.race([exited, sleep(ms).then(() => 'timeout' as const)]);
}
