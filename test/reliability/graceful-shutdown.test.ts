/**
 * SIGTERM on the real process (`src/main.ts`): readiness goes 503 while requests are still served
 * for SHUTDOWN_DRAIN_MS, then the listener stops accepting, an in-flight refresh finishes and is
 * answered, everything closes and the process exits 0. With a refresh slower than
 * SHUTDOWN_TIMEOUT_MS, the process still exits on time.
 */
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { startServiceProcess, type ServiceProcess } from '../helpers/service-process.js';
import { injectFault } from '../helpers/simulator.js';

interface Started extends ServiceProcess {
  simulatorUrl: string;
  token: string;
  itemId: string;
}

let children: ChildProcess[] = [];
afterEach(() => {
  for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
  children = [];
});

async function start(env: Record<string, string>): Promise<Started> {
  const service = await startServiceProcess(
    { ...process.env, PORT: '0', LOG_LEVEL: 'info', DATABASE_URL: '', REDIS_URL: '', ...env },
    { alsoWaitFor: /Demo token:\s+\S+/ },
  );
  children.push(service.child);
  const text = service.output();
  const simulatorUrl = /Plaid simulator:\s+(\S+)/.exec(text)?.[1];
  const token = /Demo token:\s+(\S+)/.exec(text)?.[1];
  if (!simulatorUrl || !token) throw new Error(`unexpected start output:\n${text}`);
  const viewer = (await (
    await fetch(`${service.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ query: '{ viewer { items { id institutionName } } }' }),
    })
  ).json()) as { data: { viewer: { items: { id: string; institutionName: string }[] } } };
  const itemId = viewer.data.viewer.items.find((i) => i.institutionName === 'First Platypus Bank')?.id ?? '';
  return { ...service, simulatorUrl, token, itemId };
}

async function slowDownIdentity(simulatorUrl: string, ms: number): Promise<void> {
  await injectFault({ url: simulatorUrl }, { endpoint: '/identity/refresh', effect: { type: 'latency', ms } });
}

function refreshIdentity(service: Started): Promise<Response> {
  return fetch(`${service.url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${service.token}` },
    body: JSON.stringify({ query: `mutation { refreshIdentity(itemId: "${service.itemId}") { __typename } }` }),
  });
}

const logLines = (output: string) =>
  output
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>);

describe('graceful shutdown', () => {
  it('drains (readiness 503, still serving), then lets an in-flight refresh finish, refuses new connections, closes and exits 0', async () => {
    const service = await start({ SHUTDOWN_TIMEOUT_MS: '10000', SHUTDOWN_DRAIN_MS: '1000' });
    await slowDownIdentity(service.simulatorUrl, 2_500);
    const inFlight = refreshIdentity(service);
    await new Promise((resolve) => setTimeout(resolve, 400));
    const signalledAt = Date.now();
    service.child.kill('SIGTERM');
    await new Promise((resolve) => setTimeout(resolve, 200));
    // Draining: the load balancer sees 503 on readiness, but requests sent meanwhile are served.
    expect((await fetch(`${service.url}/readiness`)).status).toBe(503);
    const during = await fetch(`${service.url}/health`);
    expect(during.status).toBe(200);
    expect(during.headers.get('connection')).toBe('close');
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    // Drained: a new connection is refused while the old request is still running.
    await expect(fetch(`${service.url}/health`)).rejects.toThrow();
    const response = await inFlight;
    expect(response.status).toBe(200);
    expect(await response.text()).toContain('RefreshIdentitySuccess');
    const [code] = (await once(service.child, 'exit')) as [number | null];
    expect(code).toBe(0);
    expect(Date.now() - signalledAt).toBeLessThan(5_000);
    const lines = logLines(service.output());
    expect(lines.find((l) => l.msg === 'shutting down')).toMatchObject({ signal: 'SIGTERM', inFlight: 1 });
    expect(lines.find((l) => l.msg === 'closed')).toMatchObject({ cutRequests: 0 });
  });

  it('cuts what is still running after SHUTDOWN_TIMEOUT_MS and exits anyway', async () => {
    const service = await start({ SHUTDOWN_TIMEOUT_MS: '500', SHUTDOWN_DRAIN_MS: '0' });
    await slowDownIdentity(service.simulatorUrl, 20_000);
    const inFlight = refreshIdentity(service).then(
      (r) => r.status,
      () => 'cut',
    );
    await new Promise((resolve) => setTimeout(resolve, 300));
    const signalledAt = Date.now();
    service.child.kill('SIGTERM');
    const [code] = (await once(service.child, 'exit')) as [number | null];
    const tookMs = Date.now() - signalledAt;
    expect(code).toBe(0);
    expect(tookMs).toBeLessThan(5_000);
    expect(await inFlight).toBe('cut');
    expect(logLines(service.output()).find((l) => l.msg === 'closed')).toMatchObject({ cutRequests: 1 });
  });
});
