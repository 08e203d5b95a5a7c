/**
 * Builds everything the service runs on from a Config, in one place, and closes it in one place:
 * the vault, the Plaid client (and in embedded mode the simulator and demo viewer), the services,
 * the webhook receiver and inbox processor, and the yoga app. main.ts adds the listener; tests use
 * this with port 0.
 */
import { createHash, randomBytes } from 'node:crypto';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createApp, type App } from './app.js';
import { createAuthenticator } from './auth/authenticate.js';
import type { AppConfig } from './config.js';
import type { Services } from './context.js';
import type { Redis } from 'ioredis';
import { keyedHash } from './guard/key-hash.js';
import { MemoryQuotaLimiter, type QuotaLimiter } from './guard/quota.js';
import { RedisFlight } from './guard/redis-flight.js';
import { RedisQuotaLimiter } from './guard/redis-quota.js';
import { RefreshGuard } from './guard/refresh-guard.js';
import { PlaidClient } from './plaid/client.js';
import { createNoticeBus } from './pubsub/notice-bus.js';
import { ItemService } from './services/item-service.js';
import { RefreshLifecycle } from './services/refresh-lifecycle.js';
import { LinkService } from './services/link-service.js';
import { RefreshService } from './services/refresh-service.js';
import type { LinkedFixtures } from './demo/link-fixtures.js';
import type { Simulator } from './simulator/server.js';
import { redisFailure } from './startup-failure.js';
import { settlesWithin } from './util/settles-within.js';
import { LinkSpool } from './vault/link-spool.js';
import { openVault } from './vault/open-vault.js';
import type { TokenVault } from './vault/vault.js';
import type { DestinationStream } from 'pino';
import { createLogger, type Logger } from './observability/logger.js';
import { createMetrics, type Metrics } from './observability/metrics.js';
import type { PlaidAttemptEvent } from './plaid/client.js';
import { WebhookProcessor, type WebhookHandler } from './webhooks/processor.js';
import { createPlaidWebhookHandler } from './services/plaid-webhook-handler.js';
import { WebhookReceiver } from './webhooks/receiver.js';
import { WebhookVerifier, plaidKeySource, type WebhookKeySource } from './webhooks/verification.js';

export interface Runtime {
  readonly app: App;
  readonly services: Services;
  /** The token vault behind the services (the demo seed, tests and tools read it directly). */
  readonly vault: TokenVault;
  /** Webhooks into refresh status, the quiet window, notices. */
  readonly lifecycle: RefreshLifecycle;
  readonly plaid: PlaidClient;
  /** Embedded mode only. */
  readonly simulator: Simulator | null;
  readonly demo: { readonly token: string; readonly fixtures: LinkedFixtures } | null;
  readonly logger: Logger;
  readonly metrics: Metrics;
  /** POST /webhooks/plaid's verification and inbox, and the processor that drains the inbox. */
  readonly webhooks: { readonly receiver: WebhookReceiver; readonly processor: WebhookProcessor };
  /**
   * Embedded mode without PLAID_WEBHOOK_URL: once the service listens, its own POST /webhooks/plaid
   * becomes the webhook of new Items and of the demo Items, so the simulator's webhooks come back
   * here and refreshes reach DATA_AVAILABLE. A no-op with a configured URL or against Plaid.
   */
  useOwnWebhookUrl(url: string): Promise<void>;
  /** Readiness answers 503 from now on, so load balancers stop sending (first step of shutdown). */
  drain(): void;
  /** Ends open subscriptions, so that the listener can close (their clients reconnect elsewhere). */
  endStreams(): void;
  close(): Promise<void>;
}

export interface RuntimeOptions {
  /** Default: pino on stdout at LOG_LEVEL, scrubbing the configured secrets. */
  readonly logger?: Logger;
  /** Where the default logger writes (tests read the production logger's lines with it). */
  readonly logDestination?: DestinationStream;
  readonly metrics?: Metrics;
  /** What the inbox processor does with each stored webhook; default: logs it at debug. */
  readonly handleWebhook?: WebhookHandler;
  /** Where webhook verification keys come from; default: Plaid's /webhook_verification_key/get (tests serve their own). */
  readonly webhookKeySource?: WebhookKeySource;
}

/** A dependency that does not answer a readiness probe within this is reported down. */
const READINESS_TIMEOUT_MS = 2_000;
/** Each close step (Plaid pool, vault, Redis, simulator) gets this long; a hung dependency must not hold shutdown. */
const CLOSE_STEP_MS = 3_000;
/** Keys Redis names in development when there is no encryption key to derive them from. */
const DEVELOPMENT_KEY_NAME_SECRET = 'plaid-refresh-graphql development key names';

export async function createRuntime(config: AppConfig, options: RuntimeOptions = {}): Promise<Runtime> {
  const logger =
    options.logger ??
    createLogger({
      level: config.logLevel,
      secrets: [
        config.plaid.credentials?.secret,
        config.auth.jwtSecret,
        config.vault.encryptionKey,
        ...config.vault.previousEncryptionKeys,
      ],
      ...(options.logDestination ? { destination: options.logDestination } : {}),
    });
  const metrics = options.metrics ?? createMetrics();
  const closers: (() => Promise<void>)[] = [];
  const close = async () => {
    // Each step bounded: a blackholed database or Redis must not keep the process from exiting.
    for (const closeOne of closers.reverse()) await settlesWithin(closeOne(), CLOSE_STEP_MS).catch(() => false);
    closers.length = 0;
  };
  try {
    let simulator: Simulator | null = null;
    let plaidTarget = { baseUrl: config.plaid.baseUrl, clientId: '', secret: '' };
    if (config.plaid.credentials) {
      plaidTarget = { baseUrl: config.plaid.baseUrl, ...config.plaid.credentials };
    } else {
      // Embedded mode: our own Plaid on loopback, with fault injection for trying error paths,
      // seeded so the demo Items keep their ids from one start to the next. Loaded only here, as
      // the demo is below: a production process never holds the simulator's code (issue #16: memory).
      const { startSimulator } = await import('./simulator/server.js');
      const { DEMO_SIMULATOR_SEED } = await import('./demo/seed.js');
      const started = await startSimulator({ host: '127.0.0.1', port: 0, controlApi: true, seed: DEMO_SIMULATOR_SEED });
      simulator = started;
      closers.push(() => started.close());
      plaidTarget = { baseUrl: started.url, clientId: started.clientId, secret: started.secret };
    }
    // Embedded mode without a configured secret signs demo tokens with a random one.
    const jwtSecret = config.auth.jwtSecret ?? (config.embedded && !config.auth.jwksUrl ? randomBytes(32).toString('base64url') : null);
    const plaid = new PlaidClient({
      ...plaidTarget,
      // Plaid's error text reaches clients; the client scrubs its own secret, and these.
      scrubSecrets: [jwtSecret, config.vault.encryptionKey],
      timeoutMs: config.plaid.timeoutMs,
      retry: config.plaid.retry,
      maxConnections: config.plaid.maxConnections,
      onAttempt: (event) => {
        metrics.plaidAttempt(event);
        logPlaidAttempt(logger, event);
      },
    });
    closers.push(() => plaid.close());
    const vault = await openVault({
      ...config.vault,
      connectTimeoutMs: config.vault.connectTimeoutMs,
      statementTimeoutMs: config.vault.statementTimeoutMs,
      poolSize: config.vault.poolSize,
      onStatement: () => metrics.vaultStatement(),
    });
    closers.push(() => vault.close());
    const spool = linkSpoolFor(config, vault);
    if (spool) closers.push(replaySpoolEvery(spool, config.vault.linkSpoolReplayMs, logger));

    let quota: QuotaLimiter = new MemoryQuotaLimiter();
    let distributed: RedisFlight | null = null;
    let redisClient: Redis | null = null;
    const keyHash = keyedHash(config.vault.encryptionKey ?? DEVELOPMENT_KEY_NAME_SECRET);
    if (config.redis) {
      // Loaded only when configured: one replica without Redis never holds ioredis.
      const { Redis } = await import('ioredis');
      const redis = new Redis(config.redis.url, {
        lazyConnect: true,
        connectTimeout: config.redis.connectTimeoutMs,
        commandTimeout: config.redis.commandTimeoutMs,
        // Fail fast while disconnected instead of queueing requests for the whole outage, and never
        // re-send a command whose reply was lost (a re-sent quota take would count twice).
        enableOfflineQueue: false,
        autoResendUnfulfilledCommands: false,
        maxRetriesPerRequest: 1,
        retryStrategy: (times) => Math.min(100 * times, 1_000),
      });
      // Without a listener ioredis prints every reconnect failure to stderr; /readiness reports the outage.
      let lastRedisError = '';
      let lastRedisFailure: Error | null = null;
      redis.on('error', (error: Error) => {
        if (error.message !== lastRedisError) logger.warn({ err: error }, 'redis connection error');
        lastRedisError = error.message;
        lastRedisFailure = error;
      });
      redis.on('ready', () => {
        lastRedisError = '';
      });
      closers.push(async () => {
        // quit() waits for Redis to answer; a hung Redis gets a hard disconnect.
        if (!(await settlesWithin(redis.quit(), 1_000).catch(() => false))) redis.disconnect();
      });
      try {
        await redis.connect();
        await redis.ping();
      } catch (error) {
        // connect() rejects with "Connection is closed."; the socket's own error says why.
        redis.disconnect();
        throw redisFailure(lastRedisFailure ?? error, config.redis.url);
      }
      redisClient = redis;
      quota = new RedisQuotaLimiter(redis, `${config.redis.keyPrefix}quota:`);
      // Short-lived and renewed while its holder runs: a replica that dies frees it within one TTL.
      distributed = new RedisFlight(redis, {
        lockTtlMs: config.redis.lockTtlMs,
        prefix: `${config.redis.keyPrefix}flight:`,
        owner: `${hostname()}:${process.pid}`,
        onPublishFailed: (error) => logger.warn({ err: error }, 'single flight: outcome not published to Redis'),
      });
    }
    const guard = new RefreshGuard(quota, config.quotas, {
      distributed,
      keyHash,
      observer: {
        joined: (endpoint) => metrics.flightJoined(endpoint),
        throttled: (endpoint, scope) => metrics.throttled(endpoint, scope),
      },
    });
    const notices = createNoticeBus({
      redis: redisClient,
      channelPrefix: config.redis?.keyPrefix ?? '',
      logger,
      onPublished: () => metrics.noticePublished(),
      onDelivered: (latencyMs) => metrics.noticeDelivered(latencyMs),
    });
    metrics.watchSubscriptions(() => notices.subscriptions());
    closers.push(() => notices.close());
    const lifecycle = new RefreshLifecycle({
      log: vault.refreshLog,
      announce: notices.announce,
      quietWindowMs: config.refreshLifecycle.quietWindowMs,
      logger,
    });
    closers.push(sweepQuietEvery(lifecycle, config.refreshLifecycle.sweepMs, logger));
    const services: Services = {
      items: new ItemService(vault),
      refresh: new RefreshService({ vault, plaid, guard, logger, lifecycle, onRecordDropped: () => metrics.refreshRecordDropped() }),
      link: new LinkService({
        vault,
        plaid,
        guard,
        spool,
        logger,
        onNotSaved: (outcome) => metrics.linkNotSaved(outcome),
        settings: { ...config.plaid.link, webhookUrl: config.plaid.webhooks.url },
      }),
      notices,
    };
    const authenticate = createAuthenticator({ ...config.auth, jwtSecret });

    // Closed before the vault (closers run in reverse): the batch in hand finishes or is released.
    const processor = new WebhookProcessor({
      inbox: vault,
      logger,
      metrics,
      leaseMs: config.plaid.webhooks.leaseMs,
      pollMs: config.plaid.webhooks.pollMs,
      handle: options.handleWebhook ?? createPlaidWebhookHandler({ lifecycle, items: services.items, logger }),
    });
    processor.start();
    closers.push(() => processor.stop());
    const receiver = new WebhookReceiver({
      verifier: new WebhookVerifier({
        keySource: options.webhookKeySource ?? plaidKeySource(plaid),
        keyTimeoutMs: config.plaid.webhooks.keyTimeoutMs,
      }),
      inbox: vault,
      metrics,
      logger,
      dedupeWindowMs: config.plaid.webhooks.dedupeWindowSeconds * 1_000,
      onStored: () => processor.wake(),
    });

    let demo: Runtime['demo'] = null;
    if (simulator && jwtSecret) {
      const { DEMO_VIEWER_ID, seedDemoViewer, signViewerToken } = await import('./demo/seed.js');
      const fixtures = await seedDemoViewer({ plaid, vault, link: services.link });
      // 12 hours, unless AUTH_MAX_TOKEN_LIFETIME_SECONDS allows less (the demo token must pass it).
      const lifetimeSeconds = Math.min(12 * 3_600, config.auth.maxTokenLifetimeSeconds);
      const token = await signViewerToken(jwtSecret, DEMO_VIEWER_ID, { ...config.auth, expiresIn: `${lifetimeSeconds}s` });
      demo = { token, fixtures };
    }
    // Only the demo Items keep their ids across starts; what is linked from here on gets Plaid-like random ids.
    simulator?.state.stopSeeding();
    let draining = false;
    const readiness = async () => {
      if (draining) throw new Error('shutting down');
      await probe('vault', () => vault.ping(), logger);
      const redis = redisClient;
      if (redis) await probe('redis', () => redis.ping(), logger);
      // Fetches the JWKS only when the last fetch failed or is older than a few seconds (see probe()).
      const identityProvider = authenticate.identityProvider;
      if (identityProvider) await probe('identity provider', () => identityProvider.probe(), logger);
    };
    const app = createApp({
      services,
      authenticate,
      logger,
      metrics,
      exposeMetrics: config.metrics,
      readiness,
      introspection: config.introspection,
      compiledExecution: config.compiledExecution,
      csrfPrevention: config.http.csrfPrevention,
      maxBodyBytes: config.http.maxBodyBytes,
      requestTimeoutMs: config.http.requestTimeoutMs,
      limits: config.limits,
      webhooks: receiver,
      graphiql: {
        enabled: config.graphiql,
        headers: demo ? { Authorization: `Bearer ${demo.token}` } : {},
        variables: demo ? { itemId: demo.fixtures.items.healthy.itemId, days: 365, publicToken: '' } : {},
      },
    });
    const drain = () => {
      draining = true;
    };
    const useOwnWebhookUrl = async (url: string) => {
      if (!simulator || config.plaid.webhooks.url !== null) return;
      services.link.useWebhookUrl(url);
      for (const item of Object.values(demo?.fixtures.items ?? {})) {
        // A demo Item that keeps its old webhook only misses its webhooks; the service runs on.
        await plaid
          .updateItemWebhook(item.accessToken, url)
          .catch((error: unknown) => logger.warn({ err: error }, 'demo Item webhook not updated'));
      }
      logger.info({ url }, 'embedded mode: Items send their webhooks to this service');
    };
    return {
      app,
      services,
      vault,
      lifecycle,
      plaid,
      simulator,
      demo,
      logger,
      metrics,
      webhooks: { receiver, processor },
      drain,
      useOwnWebhookUrl,
      endStreams: () => notices.endSubscriptions(),
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}

/**
 * The link spool's directory: LINK_SPOOL_DIR, else beside an on-disk PGlite, else a directory in
 * the temp dir named after the database (so two deployments on one machine keep theirs apart).
 * None for the in-memory vault, which loses everything with the process anyway.
 */
function linkSpoolFor(config: AppConfig, vault: TokenVault): LinkSpool | null {
  const { linkSpoolDir, dataDir, databaseUrl, schema } = config.vault;
  if (linkSpoolDir) return new LinkSpool(linkSpoolDir, vault);
  if (dataDir) return new LinkSpool(join(dataDir, 'link-spool'), vault);
  if (!databaseUrl) return null;
  const name = createHash('sha256')
    .update(`${databaseUrl}\n${schema ?? ''}`)
    .digest('hex')
    .slice(0, 16);
  return new LinkSpool(join(tmpdir(), `plaid-refresh-graphql-link-spool-${name}`), vault);
}

/** Offers spooled Items to the vault now and every `everyMs`; returns the step that stops it. */
function replaySpoolEvery(spool: LinkSpool, everyMs: number, logger: Logger): () => Promise<void> {
  let running: Promise<void> = Promise.resolve();
  const replay = () => {
    running = spool
      .replay()
      .then((result) => {
        if (result.saved > 0) logger.info({ saved: result.saved, left: result.left }, 'link spool: Items saved to the vault');
        if (result.unreadable + result.refused > 0) {
          logger.error(
            { unreadable: result.unreadable, refused: result.refused, directory: spool.directory },
            'link spool: Items that cannot be saved',
          );
        }
      })
      .catch((error: unknown) => logger.warn({ err: error }, 'link spool: replay failed'));
  };
  replay();
  const timer = setInterval(() => {
    // One replay at a time: a slow vault must not stack them up.
    void running.then(replay);
  }, everyMs);
  timer.unref();
  return async () => {
    clearInterval(timer);
    await running;
  };
}

/** Turns refreshes past their quiet window QUIET every `everyMs`; returns the step that stops it. */
function sweepQuietEvery(lifecycle: RefreshLifecycle, everyMs: number, logger: Logger): () => Promise<void> {
  let running: Promise<void> = Promise.resolve();
  const sweep = () => {
    running = lifecycle
      .sweepQuiet()
      .then(() => undefined)
      .catch((error: unknown) => logger.warn({ err: error }, 'quiet-window sweep failed; the next one tries again'));
  };
  const timer = setInterval(() => void running.then(sweep), everyMs);
  timer.unref();
  return async () => {
    clearInterval(timer);
    await running;
  };
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
