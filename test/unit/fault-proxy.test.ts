/**
 * The TCP fault proxy behind the fault-injection tests: every mode against a local echo server,
 * and, where DATABASE_URL / REDIS_URL are set, against the real PostgreSQL (pg) and Redis (ioredis).
 */
import { spawn } from 'node:child_process';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { Redis } from 'ioredis';
import pg from 'pg';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { startFaultProxy, type FaultProxy } from '../helpers/fault-proxy.js';
import { needs } from '../helpers/needs.js';

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

async function waitFor(condition: () => boolean, ms = 1_000): Promise<void> {
  const deadline = performance.now() + ms;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(`condition not met within ${ms} ms`);
    await sleep(5);
  }
}

/** Echoes what it reads and ends when the client does; counts what reached it. */
async function startEcho(): Promise<{ port: number; bytesIn: () => number; connections: () => number; close: () => Promise<void> }> {
  let bytesIn = 0;
  let connections = 0;
  const sockets = new Set<Socket>();
  const server: Server = createServer({ allowHalfOpen: true }, (socket) => {
    connections += 1;
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => sockets.delete(socket));
    socket.on('data', (chunk: Buffer) => {
      bytesIn += chunk.length;
      socket.write(chunk);
    });
    socket.on('end', () => socket.end());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    bytesIn: () => bytesIn,
    connections: () => connections,
    close: () => {
      for (const socket of sockets) socket.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A client connection and everything that happened to it. */
interface Probe {
  readonly socket: Socket;
  data: string;
  error: string | null;
  ended: boolean;
  closed: boolean;
}

function probe(port: number): Probe {
  const socket = connect({ host: '127.0.0.1', port });
  const state: Probe = { socket, data: '', error: null, ended: false, closed: false };
  socket.on('data', (chunk: Buffer) => void (state.data += chunk.toString()));
  socket.on('error', (error: NodeJS.ErrnoException) => void (state.error = error.code ?? error.message));
  socket.on('end', () => void (state.ended = true));
  socket.on('close', () => void (state.closed = true));
  return state;
}

/** Resolves with the probe once connected; rejects with the error code when the connect fails. */
async function connected(port: number): Promise<Probe> {
  const p = probe(port);
  await new Promise<void>((resolve, reject) => {
    p.socket.once('connect', resolve);
    p.socket.once('error', (error: NodeJS.ErrnoException) => reject(new Error(error.code ?? error.message)));
  });
  return p;
}

/** Connects, sends `text` and waits for the echo: the round trip works. */
async function roundTrip(port: number, text = 'ping'): Promise<void> {
  const p = await connected(port);
  p.socket.write(text);
  await waitFor(() => p.data === text || p.error !== null);
  p.socket.destroy();
  if (p.error) throw new Error(p.error);
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function setup(): Promise<{ proxy: FaultProxy; echo: Awaited<ReturnType<typeof startEcho>> }> {
  const echo = await startEcho();
  cleanups.push(echo.close);
  const proxy = await startFaultProxy({ target: { host: '127.0.0.1', port: echo.port } });
  cleanups.push(() => proxy.close());
  return { proxy, echo };
}

describe('fault proxy against an echo server', () => {
  it('pass forwards both ways, half-closes in order and counts', async () => {
    const { proxy, echo } = await setup();
    const p = await connected(proxy.port);
    p.socket.write('hello');
    await waitFor(() => p.data === 'hello');
    expect(proxy.connections()).toBe(1);
    p.socket.end();
    await waitFor(() => p.ended && p.closed);
    await waitFor(() => proxy.connections() === 0);
    expect(echo.bytesIn()).toBe(5);
    expect(proxy.stats()).toEqual({ accepted: 1, refused: 0, bytesUp: 5, bytesDown: 5, resets: 0 });
  });

  it('url() puts the proxy in place of host and port, keeping the rest', async () => {
    const { proxy } = await setup();
    const at = `127.0.0.1:${proxy.port}`;
    expect(proxy.url('postgres://postgres@HOST:PORT/test')).toBe(`postgres://postgres@${at}/test`);
    expect(proxy.url('redis://127.0.0.1:6379')).toBe(`redis://${at}`);
    expect(proxy.url('http://u:p@ss@[::1]:80/a/b?c=1#d')).toBe(`http://u:p@ss@${at}/a/b?c=1#d`);
    expect(() => proxy.url('not a url')).toThrow(/scheme/);
  });

  it('drop resets open connections and refuses new ones at the TCP level; pass reopens the same port', async () => {
    const { proxy } = await setup();
    const port = proxy.port;
    const open = await connected(port);
    await proxy.setMode({ kind: 'drop' });
    await waitFor(() => open.closed, 500);
    expect(open.error).toBe('ECONNRESET');
    await expect(connected(port)).rejects.toThrow('ECONNREFUSED');
    expect(proxy.connections()).toBe(0);
    await proxy.setMode({ kind: 'pass' });
    expect(proxy.port).toBe(port);
    await roundTrip(port);
    expect(proxy.stats()).toMatchObject({ accepted: 2, resets: 1 });
  });

  it("drop with newConnections: 'reset' accepts and resets each new connection", async () => {
    const { proxy, echo } = await setup();
    await proxy.setMode({ kind: 'drop', newConnections: 'reset' });
    const p = probe(proxy.port);
    await waitFor(() => p.closed, 500);
    expect(p.error).toBe('ECONNRESET');
    expect(proxy.stats()).toMatchObject({ accepted: 0, refused: 1 });
    expect(echo.connections()).toBe(0);
  });

  it('blackhole holds old and new connections (nothing flows, nothing closes); pass then resets them', async () => {
    const { proxy, echo } = await setup();
    const before = await connected(proxy.port);
    await proxy.setMode({ kind: 'blackhole' });
    before.socket.write('lost');
    const during = await connected(proxy.port); // accepted, then silence
    during.socket.write('lost too');
    await sleep(200);
    for (const p of [before, during]) expect(p).toMatchObject({ data: '', error: null, closed: false });
    expect(echo.bytesIn()).toBe(0);
    expect(echo.connections()).toBe(1); // the blackholed newcomer never reached the target
    expect(proxy.connections()).toBe(2);

    await proxy.setMode({ kind: 'pass' });
    await waitFor(() => before.closed && during.closed, 500);
    expect([before.error, during.error]).toEqual(['ECONNRESET', 'ECONNRESET']);
    expect(echo.bytesIn()).toBe(0);
    await roundTrip(proxy.port);
    expect(proxy.stats().resets).toBe(2);
  });

  it("blackhole with onExit: 'resume' lets held connections carry on", async () => {
    const { proxy } = await setup();
    const before = await connected(proxy.port);
    await proxy.setMode({ kind: 'blackhole', onExit: 'resume' });
    before.socket.write('one');
    const during = await connected(proxy.port);
    during.socket.write('two');
    await sleep(100);
    expect(before.data + during.data).toBe('');
    await proxy.setMode({ kind: 'pass' });
    await waitFor(() => before.data === 'one' && during.data === 'two');
    expect(proxy.stats().resets).toBe(0);
  });

  it('latency delays each direction by ms', async () => {
    const { proxy } = await setup();
    const p = await connected(proxy.port);
    await proxy.setMode({ kind: 'latency', ms: 100 });
    const start = performance.now();
    p.socket.write('slow');
    await waitFor(() => p.data === 'slow');
    const elapsed = performance.now() - start;
    expect(elapsed).toBeGreaterThanOrEqual(195); // 100 ms up, 100 ms down
    expect(elapsed).toBeLessThan(1_000);
  });

  it('chunks delayed across mode changes arrive complete and in order, FIN last', async () => {
    const { proxy } = await setup();
    const p = await connected(proxy.port);
    await proxy.setMode({ kind: 'latency', ms: 150 });
    const start = performance.now();
    let firstDataAfter = 0;
    p.socket.once('data', () => void (firstDataAfter = performance.now() - start));
    let sent = '';
    const send = (text: string) => {
      sent += text;
      p.socket.write(text);
    };
    for (let i = 0; i < 20; i++) send(`[slow ${i}]`);
    await sleep(30);
    await proxy.setMode({ kind: 'latency', ms: 5 });
    for (let i = 0; i < 20; i++) send(`[fast ${i}]`);
    await proxy.setMode({ kind: 'pass' });
    for (let i = 0; i < 20; i++) send(`[none ${i}]`);
    send('x'.repeat(256 * 1024)); // several chunks' worth
    p.socket.end();
    await waitFor(() => p.ended, 2_000);
    // Nothing overtook the first 150 ms chunks on the way up (the replies came back under pass).
    expect(firstDataAfter).toBeGreaterThanOrEqual(148);
    expect(p.data).toBe(sent);
    expect(proxy.stats()).toMatchObject({ bytesUp: sent.length, bytesDown: sent.length, resets: 0 });
  });

  it('flap alternates pass and drop until the next mode', async () => {
    const { proxy } = await setup();
    await proxy.setMode({ kind: 'flap', upMs: 120, downMs: 120 });
    const early = await connected(proxy.port); // in the first up phase
    const outcomes = new Set<string>();
    const deadline = performance.now() + 600;
    while (performance.now() < deadline) {
      outcomes.add(
        await roundTrip(proxy.port).then(
          () => 'up',
          (error: Error) => error.message,
        ),
      );
      await sleep(15);
    }
    // A round trip straddling an up-to-down edge is reset; nothing else may happen.
    expect(outcomes).toContain('up');
    expect(outcomes).toContain('ECONNREFUSED');
    expect([...outcomes].filter((outcome) => !['up', 'ECONNREFUSED', 'ECONNRESET'].includes(outcome))).toEqual([]);
    expect(early.error).toBe('ECONNRESET'); // the first down phase cut it
    await proxy.setMode({ kind: 'pass' });
    for (let i = 0; i < 6; i++) {
      await roundTrip(proxy.port); // steady now: no phase change comes
      await sleep(40);
    }
  });

  it('a target that refuses, and a client that resets, are passed on as resets without an error escaping', async () => {
    const dead = await startFaultProxy({ target: { host: '127.0.0.1', port: 1 } });
    cleanups.push(() => dead.close());
    const p = probe(dead.port);
    await waitFor(() => p.closed, 500);
    expect(p.error).toBe('ECONNRESET');
    expect(dead.stats().resets).toBe(1);

    const { proxy, echo } = await setup();
    const rude = await connected(proxy.port);
    rude.socket.write('y'.repeat(512 * 1024)); // the echo is still writing back when the RST comes
    await waitFor(() => rude.data.length > 0);
    rude.socket.resetAndDestroy();
    await waitFor(() => proxy.connections() === 0, 500);
    expect(proxy.stats().resets).toBe(1);
    expect(echo.bytesIn()).toBeGreaterThan(0);
    await roundTrip(proxy.port);
  });

  it('close() is bounded in any state and leaves the port refusing', async () => {
    const { proxy } = await setup();
    const port = proxy.port;
    const held = await connected(port);
    await proxy.setMode({ kind: 'latency', ms: 5_000 });
    const queued = await connected(port);
    queued.socket.write('never');
    await proxy.setMode({ kind: 'blackhole' });
    const start = performance.now();
    await proxy.close();
    expect(performance.now() - start).toBeLessThan(1_200);
    await waitFor(() => held.closed && queued.closed, 500);
    await expect(connected(port)).rejects.toThrow('ECONNREFUSED');
    await expect(proxy.setMode({ kind: 'pass' })).rejects.toThrow(/closed/);
    await proxy.close(); // twice is fine
  });
});

/** Leaves a connection with data queued under latency, a flap timer and a blackhole behind, then closes. */
const LINGER_SCRIPT = `
import { connect, createServer } from 'node:net';
const { startFaultProxy } = await import(process.argv[1]);
const echo = createServer((s) => s.pipe(s).on('error', () => {}));
await new Promise((r) => echo.listen(0, '127.0.0.1', r));
const proxy = await startFaultProxy({ target: { host: '127.0.0.1', port: echo.address().port } });
await proxy.setMode({ kind: 'latency', ms: 60000 });
const socket = connect(proxy.port, '127.0.0.1').on('error', () => {});
await new Promise((r) => socket.once('connect', r));
socket.write('queued for a minute');
await proxy.setMode({ kind: 'flap', upMs: 50, downMs: 60000 });
await proxy.setMode({ kind: 'blackhole' });
await proxy.close();
echo.close();
`;

describe('fault proxy and the process', () => {
  it('does not keep the process alive after close()', async () => {
    const helper = fileURLToPath(new URL('../helpers/fault-proxy.ts', import.meta.url));
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', LINGER_SCRIPT, helper], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => void (stderr += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    const code = await new Promise<number | null>((resolve) => child.once('exit', (exitCode) => resolve(exitCode)));
    clearTimeout(timer);
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
  });
});

/** `{ host, port }` of a service URL, with the scheme's default port. */
function targetOf(url: string, defaultPort: number): { host: string; port: number } {
  const parsed = new URL(url);
  return { host: parsed.hostname, port: Number(parsed.port || defaultPort) };
}

const databaseUrl = process.env.DATABASE_URL;
const redisUrl = process.env.REDIS_URL;

describe('fault proxy in front of PostgreSQL (DATABASE_URL)', needs('DATABASE_URL'), () => {
  it('passes queries; drop fails them at once; blackhole makes them time out; pass connects again', async () => {
    const proxy = await startFaultProxy({ target: targetOf(databaseUrl ?? '', 5432) });
    cleanups.push(() => proxy.close());
    const clients: pg.Client[] = [];
    cleanups.push(async () => void (await Promise.allSettled(clients.map((c) => c.end()))));
    const errors = new Map<pg.Client, string[]>();
    const client = async (config: pg.ClientConfig = {}) => {
      const c = new pg.Client({ connectionString: proxy.url(databaseUrl ?? ''), ...config });
      // A reset arrives as an 'error' event besides the failed query.
      errors.set(c, []);
      c.on('error', (error: NodeJS.ErrnoException) => void errors.get(c)?.push(error.code ?? error.message));
      clients.push(c);
      await c.connect();
      return c;
    };

    const first = await client();
    expect((await first.query<{ one: number }>('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);

    const slow = first.query('SELECT pg_sleep(2)');
    await sleep(50);
    let start = performance.now();
    await proxy.setMode({ kind: 'drop' });
    await expect(slow).rejects.toThrow();
    expect(performance.now() - start).toBeLessThan(1_000); // not the 2 s of pg_sleep
    await expect(client()).rejects.toMatchObject({ code: 'ECONNREFUSED' });

    await proxy.setMode({ kind: 'pass' });
    const second = await client({ query_timeout: 300 });
    await second.query('SELECT 1');
    await proxy.setMode({ kind: 'blackhole' });
    start = performance.now();
    await expect(second.query('SELECT 1')).rejects.toThrow(/timeout/i);
    expect(performance.now() - start).toBeGreaterThanOrEqual(280);
    await expect(client({ connectionTimeoutMillis: 200 })).rejects.toThrow(/timeout/i);

    await proxy.setMode({ kind: 'pass' });
    await waitFor(() => errors.get(second)?.includes('ECONNRESET') ?? false); // held through the blackhole, then reset
    const third = await client();
    expect((await third.query<{ one: number }>('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
  });
});

describe('fault proxy in front of Redis (REDIS_URL)', needs('REDIS_URL'), () => {
  it('passes commands; drop fails them at once; blackhole makes them time out; pass reconnects', async () => {
    const proxy = await startFaultProxy({ target: targetOf(redisUrl ?? '', 6379) });
    cleanups.push(() => proxy.close());
    // No retries and no offline queue, so a failure shows at once; reconnects come every 20 ms.
    const redis = new Redis(proxy.url(redisUrl ?? ''), {
      maxRetriesPerRequest: 0,
      enableOfflineQueue: false,
      commandTimeout: 300,
      retryStrategy: () => 20,
    });
    const errors: string[] = [];
    redis.on('error', (error: NodeJS.ErrnoException) => void errors.push(error.code ?? error.message));
    cleanups.push(() => Promise.resolve(redis.disconnect()));
    await waitFor(() => redis.status === 'ready');
    expect(await redis.ping()).toBe('PONG');

    const blocked = redis.blpop(`fault-proxy:${process.pid}:${Date.now()}`, 0.25);
    await sleep(30);
    const start = performance.now();
    await proxy.setMode({ kind: 'drop' });
    await expect(blocked).rejects.toThrow(/max retries/i); // its connection was reset
    expect(performance.now() - start).toBeLessThan(250); // before BLPOP's own 250 ms
    await expect(redis.ping()).rejects.toThrow();
    await waitFor(() => errors.includes('ECONNREFUSED')); // reconnects are refused

    await proxy.setMode({ kind: 'pass' });
    await waitFor(() => redis.status === 'ready');
    expect(await redis.ping()).toBe('PONG');

    await proxy.setMode({ kind: 'blackhole' });
    await expect(redis.ping()).rejects.toThrow(/timed out/i);

    await proxy.setMode({ kind: 'pass' });
    await waitFor(() => redis.status !== 'ready'); // the held connection was reset
    await waitFor(() => redis.status === 'ready');
    expect(await redis.ping()).toBe('PONG');
  });
});
