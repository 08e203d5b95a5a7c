/**
 * Builds everything the service runs on from a Config, in one place, and closes it in one place:
 * the vault, the Plaid client (and in embedded mode the simulator and demo viewer), the services
 * and the yoga app. main.ts adds the listener; tests use this with port 0.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createApp, type App, type Logger } from './app.js';
import { createAuthenticator } from './auth/authenticate.js';
import type { AppConfig } from './config.js';
import type { Services } from './context.js';
import { DEMO_VIEWER_ID, seedDemoViewer, signViewerToken } from './demo/seed.js';
import { Redis } from 'ioredis';
import { MemoryQuotaLimiter, type QuotaLimiter } from './guard/quota.js';
import { RedisFlight } from './guard/redis-flight.js';
import { RedisQuotaLimiter } from './guard/redis-quota.js';
import { RefreshGuard } from './guard/refresh-guard.js';
import { PlaidClient } from './plaid/client.js';
import { LinkService } from './services/link-service.js';
import { RefreshService } from './services/refresh-service.js';
import type { LinkedFixtures } from './simulator/fixtures.js';
import { startSimulator, type Simulator } from './simulator/server.js';
import { openVault } from './vault/open-vault.js';

export interface Runtime {
  readonly app: App;
  readonly services: Services;
  readonly plaid: PlaidClient;
  /** Embedded mode only. */
  readonly simulator: Simulator | null;
  readonly demo: { readonly token: string; readonly fixtures: LinkedFixtures } | null;
  close(): Promise<void>;
}

export async function createRuntime(config: AppConfig, options: { logger?: Logger } = {}): Promise<Runtime> {
  const closers: (() => Promise<void>)[] = [];
  const close = async () => {
    for (const closeOne of closers.reverse()) await closeOne().catch(() => {});
  };
  try {
    let simulator: Simulator | null = null;
    let plaidTarget = { baseUrl: config.plaid.baseUrl, clientId: '', secret: '' };
    if (config.plaid.credentials) {
      plaidTarget = { baseUrl: config.plaid.baseUrl, ...config.plaid.credentials };
    } else {
      // Embedded mode: our own Plaid on loopback, with fault injection for trying error paths.
      const started = await startSimulator({ host: '127.0.0.1', port: 0, controlApi: true });
      simulator = started;
      closers.push(() => started.close());
      plaidTarget = { baseUrl: started.url, clientId: started.clientId, secret: started.secret };
    }
    const plaid = new PlaidClient({
      ...plaidTarget,
      timeoutMs: config.plaid.timeoutMs,
      retry: config.plaid.retry,
      maxConnections: config.plaid.maxConnections,
    });
    closers.push(() => plaid.close());
    const vault = await openVault(config.vault);
    closers.push(() => vault.close());

    let quota: QuotaLimiter = new MemoryQuotaLimiter();
    let distributed: RedisFlight | null = null;
    if (config.redis) {
      const redis = new Redis(config.redis.url, { maxRetriesPerRequest: 2, enableOfflineQueue: true });
      closers.push(async () => {
        await redis.quit();
      });
      await redis.ping();
      quota = new RedisQuotaLimiter(redis, `${config.redis.keyPrefix}quota:`);
      // The lock outlives the slowest Plaid call with its retries, so a dead replica frees it in time.
      const { timeoutMs, retry } = config.plaid;
      const lockTtlMs = timeoutMs * retry.maxAttempts + retry.maxElapsedMs + 5_000;
      distributed = new RedisFlight(redis, { lockTtlMs, prefix: `${config.redis.keyPrefix}flight:` });
    }
    const guard = new RefreshGuard(quota, config.quotas, distributed);
    const services: Services = { vault, refresh: new RefreshService({ vault, plaid, guard }), link: new LinkService({ vault, plaid }) };
    // Embedded mode without a configured secret signs demo tokens with a random one.
    const jwtSecret = config.auth.jwtSecret ?? (config.embedded && !config.auth.jwksUrl ? randomBytes(32).toString('base64url') : null);
    const authenticate = createAuthenticator({ ...config.auth, jwtSecret });

    let demo: Runtime['demo'] = null;
    if (simulator && jwtSecret) {
      const fixtures = await seedDemoViewer({ plaid, vault, link: services.link });
      const token = await signViewerToken(jwtSecret, DEMO_VIEWER_ID, config.auth);
      demo = { token, fixtures };
    }
    const app = createApp({
      services,
      authenticate,
      graphiql: {
        enabled: config.graphiql,
        headers: demo ? { Authorization: `Bearer ${demo.token}` } : {},
        variables: demo ? { itemId: demo.fixtures.items.healthy.itemId, days: 365, publicToken: '' } : {},
      },
      ...(options.logger ? { logger: options.logger } : {}),
    });
    return { app, services, plaid, simulator, demo, close };
  } catch (error) {
    await close();
    throw error;
  }
}

/** Serves the app over HTTP (port 0 picks a free one); `close` stops accepting and waits for requests. */
export async function listen(app: App, host: string, port: number): Promise<{ server: Server; url: string; close(): Promise<void> }> {
  const server = createServer((req, res) => void app(req, res));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const address = server.address() as AddressInfo;
  const hostPart = address.address.includes(':') ? `[${address.address}]` : address.address;
  return {
    server,
    url: `http://${hostPart === '0.0.0.0' ? '127.0.0.1' : hostPart}:${address.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      }),
  };
}
