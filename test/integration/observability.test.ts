/**
 * What operators see: one log line per operation, Prometheus metrics for operations, Plaid calls,
 * retries, single-flight joins and throttles, /health and /readiness, and production defaults.
 */
import { Socket, createServer, type Server } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RefreshIdentityDocument, RefreshTransactionsDocument, ViewerDocument } from '../../operations/generated/graphql.js';
import { loadConfig } from '../../src/config.js';
import type { Runtime } from '../../src/runtime.js';
import { injectFault } from '../helpers/simulator.js';
import { execute, startTestService, tokenFor, type LogLine } from '../helpers/service.js';
import { needs } from '../helpers/needs.js';

let runtime: Runtime;
let logs: LogLine[];
let token: string;

beforeAll(async () => {
  ({ runtime, logs } = await startTestService({ PLAID_RETRY_BASE_DELAY_MS: '1', PLAID_RETRY_MAX_DELAY_MS: '5' }));
  token = await tokenFor('demo');
});
afterAll(() => runtime.close());

const items = () => {
  if (!runtime.demo || !runtime.simulator) throw new Error('embedded demo expected');
  return runtime.demo.fixtures.items;
};
const get = (path: string) => runtime.app.fetch(`http://localhost${path}`);
const metricsText = async () => (await get('/metrics')).text();
/** The value of one sample, e.g. sample(text, 'plaid_requests_total', { endpoint: '/identity/refresh' }). */
function sample(text: string, name: string, labels: Record<string, string>): number {
  const lines = text.split('\n').filter((line) => line.startsWith(`${name}{`) || line.startsWith(`${name} `));
  const match = lines.find((line) => Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`)));
  return match ? Number(match.slice(match.lastIndexOf(' ') + 1)) : 0;
}
const requestLines = () => logs.filter((line) => line.msg === 'graphql request');

describe('the log line of an operation', () => {
  it('names the operation, what each field resolved to, the Plaid request_id and the duration', async () => {
    const { data } = await execute(runtime, RefreshTransactionsDocument, { itemId: items().healthy.itemId }, token);
    const result = data?.refreshTransactions;
    if (result?.__typename !== 'RefreshTransactionsSuccess') throw new Error(`unexpected ${result?.__typename}`);
    const line = requestLines().at(-1);
    expect(line).toMatchObject({
      level: 'info',
      operation: 'RefreshTransactions',
      operationType: 'mutation',
      status: 200,
      fields: [{ field: 'refreshTransactions', result: 'RefreshTransactionsSuccess' }],
      plaidRequestIds: [result.requestId],
    });
    expect(line?.durationMs).toEqual(expect.any(Number));
    expect(line?.requestId).toEqual(expect.any(String));
    // At debug level, the Plaid attempt itself, with its request_id and no token.
    expect(logs.find((l) => l.msg === 'plaid attempt' && l.plaidRequestId === result.requestId)).toMatchObject({
      level: 'debug',
      endpoint: '/transactions/refresh',
      status: 200,
      attempt: 1,
    });
  });

  it('names the typed error member when Plaid refuses, with the request_id Plaid gave', async () => {
    const { data } = await execute(runtime, RefreshTransactionsDocument, { itemId: items().oauthLoginRequired.itemId }, token);
    const result = data?.refreshTransactions;
    if (result?.__typename !== 'PlaidItemError') throw new Error(`unexpected ${result?.__typename}`);
    expect(requestLines().at(-1)).toMatchObject({
      fields: [{ field: 'refreshTransactions', result: 'PlaidItemError' }],
      plaidRequestIds: [result.plaidRequestId],
    });
  });

  it('echoes the caller’s X-Request-Id and logs under it', async () => {
    const response = await runtime.app.fetch('http://localhost/graphql', {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}`, 'x-request-id': 'trace-123' },
      body: JSON.stringify({ query: '{ viewer { id } }' }),
    });
    expect(response.headers.get('x-request-id')).toBe('trace-123');
    expect(requestLines().at(-1)).toMatchObject({ requestId: 'trace-123', fields: [{ field: 'viewer', result: 'Viewer' }] });
  });
});

describe('/metrics', () => {
  it('counts operations by field and result type', async () => {
    await execute(runtime, ViewerDocument, {}, token);
    const text = await metricsText();
    expect(sample(text, 'graphql_operations_total', { operation: 'viewer', result: 'Viewer' })).toBeGreaterThanOrEqual(1);
    expect(sample(text, 'graphql_operations_total', { operation: 'refreshTransactions', result: 'PlaidItemError' })).toBe(1);
    expect(sample(text, 'graphql_operation_duration_seconds_count', { operation: 'refreshTransactions' })).toBeGreaterThanOrEqual(2);
  });

  it('counts Plaid calls by endpoint, status and error_code, with a latency histogram', async () => {
    const text = await metricsText();
    expect(
      sample(text, 'plaid_requests_total', { endpoint: '/transactions/refresh', status: '200', error_code: '' }),
    ).toBeGreaterThanOrEqual(1);
    expect(
      sample(text, 'plaid_requests_total', { endpoint: '/transactions/refresh', status: '400', error_code: 'ITEM_LOGIN_REQUIRED' }),
    ).toBe(1);
    expect(sample(text, 'plaid_request_duration_seconds_count', { endpoint: '/transactions/refresh' })).toBeGreaterThanOrEqual(2);
  });

  it('counts retries with their cause, and logs each retry at warn', async () => {
    const sim = runtime.simulator;
    if (!sim) throw new Error('simulator expected');
    await injectFault(sim, { endpoint: '/identity/refresh', count: 1, effect: { type: 'error', error_code: 'INTERNAL_SERVER_ERROR' } });
    const { data } = await execute(runtime, RefreshIdentityDocument, { itemId: items().healthy.itemId }, token);
    expect(data?.refreshIdentity?.__typename).toBe('RefreshIdentitySuccess');
    const text = await metricsText();
    expect(sample(text, 'plaid_retries_total', { endpoint: '/identity/refresh', cause: 'INTERNAL_SERVER_ERROR' })).toBe(1);
    expect(
      sample(text, 'plaid_requests_total', { endpoint: '/identity/refresh', status: '500', error_code: 'INTERNAL_SERVER_ERROR' }),
    ).toBe(1);
    expect(logs.find((l) => l.msg === 'plaid call retried')).toMatchObject({
      level: 'warn',
      endpoint: '/identity/refresh',
      errorCode: 'INTERNAL_SERVER_ERROR',
    });
  });

  it('counts single-flight joins and throttles', async () => {
    const sim = runtime.simulator;
    if (!sim) throw new Error('simulator expected');
    await injectFault(sim, { endpoint: '/identity/refresh', count: 1, effect: { type: 'latency', ms: 300 } });
    const itemId = items().capitalOneCredit.itemId;
    const five = await Promise.all(Array.from({ length: 5 }, () => execute(runtime, RefreshIdentityDocument, { itemId }, token)));
    expect(five.map((r) => r.data?.refreshIdentity?.__typename)).toEqual(Array(5).fill('RefreshIdentitySuccess'));
    // /transactions/refresh keeps Plaid's 2 per Item per minute: the third is throttled here.
    const txItem = items().transactionsOnly.itemId;
    for (let i = 0; i < 3; i += 1) await execute(runtime, RefreshTransactionsDocument, { itemId: txItem }, token);
    const text = await metricsText();
    expect(sample(text, 'refresh_single_flight_joins_total', { endpoint: '/identity/refresh' })).toBe(4);
    expect(sample(text, 'refresh_throttled_total', { endpoint: '/transactions/refresh', scope: 'ITEM' })).toBe(1);
    expect(sample(text, 'graphql_operations_total', { operation: 'refreshTransactions', result: 'RefreshThrottledError' })).toBe(1);
  });

  it('has the runtime metrics, event-loop delay among them', async () => {
    const text = await metricsText();
    expect(text).toMatch(/^nodejs_eventloop_lag_p99_seconds \d/m);
    expect(text).toMatch(/^process_resident_memory_bytes \d/m);
    expect(sample(text, 'graphql_http_responses_total', { status: '200' })).toBeGreaterThan(0);
  });
});

describe('/health and /readiness', () => {
  it('/health says the process is alive; /readiness that the vault (and Redis) answer', async () => {
    expect((await get('/health')).status).toBe(200);
    expect((await get('/readiness')).status).toBe(200);
  });

  it('/readiness is 503 with the reason when the vault is gone, and while draining', async () => {
    const { runtime: other } = await startTestService();
    try {
      expect((await other.app.fetch('http://localhost/readiness')).status).toBe(200);
      other.drain();
      const draining = await other.app.fetch('http://localhost/readiness');
      expect(draining.status).toBe(503);
      expect(await draining.text()).toBe('shutting down');
      // /health stays 200: the process is alive, it just should not get new work.
      expect((await other.app.fetch('http://localhost/health')).status).toBe(200);
    } finally {
      await other.close();
    }
    const { runtime: third, logs: thirdLogs } = await startTestService();
    await third.vault.close();
    const down = await third.app.fetch('http://localhost/readiness');
    expect(down.status).toBe(503);
    expect(await down.text()).toBe('vault unreachable');
    expect(thirdLogs.find((l) => l.msg === 'readiness: dependency down')).toMatchObject({ level: 'warn', dependency: 'vault' });
    await third.close();
  });

  it('/readiness is 503 when Redis stops answering (REDIS_URL)', needs('REDIS_URL'), async () => {
    // A TCP relay in front of Redis that the test can cut.
    const target = new URL(process.env.REDIS_URL ?? '');
    const sockets = new Set<Socket>();
    const relay: Server = createServer((client) => {
      const upstream = new Socket();
      upstream.connect(Number(target.port || 6379), target.hostname);
      client.pipe(upstream).pipe(client);
      sockets.add(client).add(upstream);
      client.on('error', () => upstream.destroy());
      upstream.on('error', () => client.destroy());
    });
    await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
    const port = (relay.address() as { port: number }).port;
    const { runtime: withRedis } = await startTestService({ REDIS_URL: `redis://127.0.0.1:${port}` });
    try {
      expect((await withRedis.app.fetch('http://localhost/readiness')).status).toBe(200);
      relay.close();
      for (const socket of sockets) socket.destroy();
      const down = await withRedis.app.fetch('http://localhost/readiness');
      expect(down.status).toBe(503);
      expect(await down.text()).toBe('redis unreachable');
    } finally {
      await withRedis.close();
    }
  });
});

describe('production defaults', () => {
  const production = {
    NODE_ENV: 'production',
    PLAID_CLIENT_ID: 'client',
    PLAID_SECRET: 'secret-secret-secret',
    TOKEN_ENCRYPTION_KEY: Buffer.alloc(32, 7).toString('base64'),
    AUTH_JWT_SECRET: 'x'.repeat(40),
    DATABASE_URL: 'postgres://vault.internal/plaid',
  };

  it('turn GraphiQL and introspection off, and keep limits, CSRF prevention and metrics on', () => {
    const config = loadConfig(production);
    expect(config).toMatchObject({
      graphiql: false,
      introspection: false,
      metrics: true,
      logLevel: 'info',
      http: { csrfPrevention: true, maxBodyBytes: 1_048_576, shutdownTimeoutMs: 25_000 },
      limits: { maxDepth: 10, maxAliases: 15, maxTokens: 1_000, maxCost: 5_000 },
    });
    expect(loadConfig({ ...production, GRAPHIQL: 'true' }).introspection).toBe(true);
    expect(() => loadConfig({ ...production, GRAPHIQL: 'true', INTROSPECTION: 'false' })).toThrow(/GRAPHIQL=true needs INTROSPECTION/);
    expect(() => loadConfig({ ...production, LOG_LEVEL: 'loud' })).toThrow(/LOG_LEVEL/);
  });

  it('without introspection: __schema is refused, field suggestions are not given, federation still works', async () => {
    const { runtime: closed } = await startTestService({ INTROSPECTION: 'false', GRAPHIQL: 'false' });
    try {
      const post = (query: string) =>
        closed.app.fetch('http://localhost/graphql', {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
          body: JSON.stringify({ query }),
        });
      const introspection = await (await post('{ __schema { types { name } } }')).text();
      expect(introspection).toMatch(/introspection/i);
      expect(introspection).not.toContain('"types"');
      const typo = await (await post('{ viewr { id } }')).text();
      expect(typo).toContain('Cannot query field');
      expect(typo).not.toContain('Did you mean');
      const sdl = (await (await post('{ _service { sdl } }')).json()) as { data: { _service: { sdl: string } } };
      expect(sdl.data._service.sdl).toContain('type PlaidItem');
      expect((await closed.app.fetch('http://localhost/graphql', { headers: { accept: 'text/html' } })).status).not.toBe(200);
    } finally {
      await closed.close();
    }
  });
});
