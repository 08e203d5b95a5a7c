/**
 * Builds everything the service runs on from a Config, in one place, and closes it in one place:
 * the vault, the Plaid client (and in embedded mode the simulator and demo viewer), the services
 * and the yoga app. main.ts adds the listener; tests use this with port 0.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createApp, type App } from './app.js';
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
import { settlesWithin } from './util/settles-within.js';
import { openVault } from './vault/open-vault.js';
import type { DestinationStream } from 'pino';
import { createLogger, type Logger } from './observability/logger.js';
import { createMetrics, type Metrics } from './observability/metrics.js';
import type { PlaidAttemptEvent } from './plaid/client.js';

export interface Runtime {
  readonly app: App;
  readonly services: Services;
  readonly plaid: PlaidClient;
  /** Embedded mode only. */
  readonly simulator: Simulator | null;
  readonly demo: { readonly token: string; readonly fixtures: LinkedFixtures } | null;
  readonly logger: Logger;
  readonly metrics: Metrics;
  /** Readiness answers 503 from now on, so load balancers stop sending (first step of shutdown). */
  drain(): void;
  close(): Promise<void>;
}

export interface RuntimeOptions {
  /** Default: pino on stdout at LOG_LEVEL, scrubbing the configured secrets. */
  readonly logger?: Logger;
  /** Where the default logger writes (tests read the production logger's lines with it). */
  readonly logDestination?: DestinationStream;
  readonly metrics?: Metrics;
}

/** A dependency that does not answer a readiness probe within this is reported down. */
const READINESS_TIMEOUT_MS = 2_000;

export async function createRuntime(config: AppConfig, options: RuntimeOptions = {}): Promise<Runtime> {
  const logger =
    options.logger ??
    createLogger({
      level: config.logLevel,
      secrets: [config.plaid.credentials?.secret, config.auth.jwtSecret, config.vault.encryptionKey, ...config.vault.previousEncryptionKeys],
      ...(options.logDestination ? { destination: options.logDestination } : {}),
    });
  const metrics = options.metrics ?? createMetrics();
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
      onAttempt: (event) => {
        metrics.plaidAttempt(event);
        logPlaidAttempt(logger, event);
      },
    });
    closers.push(() => plaid.close());
    const vault = await openVault(config.vault);
    closers.push(() => vault.close());

    let quota: QuotaLimiter = new MemoryQuotaLimiter();
    let distributed: RedisFlight | null = null;
    let redisClient: Redis | null = null;
    if (config.redis) {
      const redis = new Redis(config.redis.url, { maxRetriesPerRequest: 2, enableOfflineQueue: true });
      // Without a listener ioredis prints every reconnect failure to stderr; /readiness reports the outage.
      let lastRedisError = '';
      redis.on('error', (error: Error) => {
        if (error.message !== lastRedisError) logger.warn({ err: error }, 'redis connection error');
        lastRedisError = error.message;
      });
      redis.on('ready', () => {
        lastRedisError = '';
      });
      closers.push(async () => {
        await redis.quit();
      });
      await redis.ping();
      redisClient = redis;
      quota = new RedisQuotaLimiter(redis, `${config.redis.keyPrefix}quota:`);
      // The lock outlives the slowest Plaid call with its retries, so a dead replica frees it in time.
      const { timeoutMs, retry } = config.plaid;
      const lockTtlMs = timeoutMs * retry.maxAttempts + retry.maxElapsedMs + 5_000;
      distributed = new RedisFlight(redis, { lockTtlMs, prefix: `${config.redis.keyPrefix}flight:` });
    }
    const guard = new RefreshGuard(quota, config.quotas, distributed, {
      joined: (endpoint) => metrics.flightJoined(endpoint),
      throttled: (endpoint, scope) => metrics.throttled(endpoint, scope),
    });
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
    let draining = false;
    const readiness = async () => {
      if (draining) throw new Error('shutting down');
      await probe('vault', () => vault.ping(), logger);
      const redis = redisClient;
      if (redis) await probe('redis', () => redis.ping(), logger);
    };
    const app = createApp({
      services,
      authenticate,
      logger,
      metrics,
      exposeMetrics: config.metrics,
      readiness,
      introspection: config.introspection,
      csrfPrevention: config.http.csrfPrevention,
      maxBodyBytes: config.http.maxBodyBytes,
      limits: config.limits,
      graphiql: {
        enabled: config.graphiql,
        headers: demo ? { Authorization: `Bearer ${demo.token}` } : {},
        variables: demo ? { itemId: demo.fixtures.items.healthy.itemId, days: 365, publicToken: '' } : {},
      },
    });
    const drain = () => {
      draining = true;
    };
    return { app, services, plaid, simulator, demo, logger, metrics, drain, close };
  } catch (error) {
    await close();
    throw error;
  }
}

/** Reports a dependency down (with a reason safe to show) when it fails or does not answer in time. */
async function probe(name: string, check: () => Promise<unknown>, logger: Logger): Promise<void> {
  try {
    if (!(await settlesWithin(check(), READINESS_TIMEOUT_MS))) throw new Error(`no answer within ${READINESS_TIMEOUT_MS} ms`);
  } catch (error) {
    logger.warn({ dependency: name, err: error }, 'readiness: dependency down');
    throw new Error(`${name} unreachable`, { cause: error });
  }
}

/** Attempts at debug level; retries at warn, since each one may cost a Plaid call. */
function logPlaidAttempt(logger: Logger, event: PlaidAttemptEvent): void {
  const fields = {
    endpoint: event.endpoint,
    attempt: event.attempt,
    durationMs: Math.round(event.durationMs),
    status: event.status,
    plaidRequestId: event.requestId,
    errorCode: event.errorCode,
    ...(event.error ? { error: event.error.name, errorMessage: event.error.message } : {}),
    ...(event.decision ? { retry: event.decision.retry, reason: event.decision.reason } : {}),
  };
  if (event.decision?.retry) logger.warn(fields, 'plaid call retried');
  else logger.debug(fields, 'plaid attempt');
}

export interface HttpListener {
  readonly server: Server;
  readonly url: string;
  /** Requests being served right now. */
  inFlight(): number;
  /**
   * Stops accepting connections, lets in-flight requests finish for up to `graceMs`, then cuts
   * what is left. Resolves with the number of requests that had to be cut.
   */
  close(graceMs?: number): Promise<number>;
}

/** Serves the app over HTTP (port 0 picks a free one). */
export async function listen(app: App, host: string, port: number): Promise<HttpListener> {
  let active = 0;
  let closing = false;
  let settled: (() => void) | null = null;
  const server = createServer((req, res) => {
    active += 1;
    res.once('close', () => {
      active -= 1;
      // While closing, a finished keep-alive connection is idle: let it go now.
      if (closing) server.closeIdleConnections();
      if (closing && active === 0) settled?.();
    });
    void app(req, res);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const address = server.address() as AddressInfo;
  const hostPart = address.address.includes(':') ? `[${address.address}]` : address.address;
  return {
    server,
    url: `http://${hostPart === '0.0.0.0' ? '127.0.0.1' : hostPart}:${address.port}`,
    inFlight: () => active,
    close: async (graceMs = 10_000) => {
      closing = true;
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      let cut = 0;
      if (active > 0) {
        const drained = new Promise<void>((resolve) => {
          settled = resolve;
        });
        if (!(await settlesWithin(drained, graceMs))) {
          cut = active;
          server.closeAllConnections();
        }
      }
      server.closeIdleConnections();
      await closed;
      return cut;
    },
  };
}
