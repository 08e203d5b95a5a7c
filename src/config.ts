/**
 * The environment, parsed once with zod into a frozen Config. Every variable is listed in
 * docs/operations.md's configuration table and in .env.example; a bad value stops start-up with a message naming the variable.
 */
import { z } from 'zod';
import { AUTH_DEFAULTS } from './auth/authenticate.js';
import { REFRESH_PRODUCTS } from './catalogue/refresh-products.js';
import { DEFAULT_LINK_TOKEN_LIMITS, type GuardLimits } from './guard/refresh-guard.js';
import { LOG_LEVELS, type LogLevel } from './observability/logger.js';
import { resolvePlaidBaseUrl } from './plaid/client.js';
import { parseEncryptionKey, splitKeyList } from './vault/crypto.js';
import { DATABASE_URL_FORMAT, isPostgresUrl } from './vault/database-url.js';

const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
const optionalString = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === '' ? undefined : v));

/** A 32-byte key as base64 or hex; the message (parseEncryptionKey's) never quotes the value. */
function encryptionKey() {
  return z.string().superRefine((value, ctx) => {
    try {
      parseEncryptionKey(value);
    } catch (error) {
      ctx.addIssue({ code: 'custom', message: (error as Error).message });
    }
  });
}

/** Plaid Link's languages and countries, as /link/token/create takes them (plaid-node 47). */
const LINK_LANGUAGES = ['da', 'nl', 'en', 'et', 'fr', 'de', 'hi', 'it', 'lv', 'lt', 'no', 'pl', 'pt', 'ro', 'es', 'sv', 'vi'] as const;
const LINK_COUNTRIES = new Set([
  'US',
  'GB',
  'ES',
  'NL',
  'FR',
  'IE',
  'CA',
  'DE',
  'IT',
  'PL',
  'DK',
  'NO',
  'SE',
  'EE',
  'LT',
  'LV',
  'PT',
  'BE',
  'AT',
  'FI',
]);

const PlaidEnv = z.object({
  PLAID_ENV: z.enum(['sandbox', 'production']).default('sandbox'),
  PLAID_BASE_URL: optionalString.pipe(z.url().optional()),
  PLAID_CLIENT_ID: optionalString,
  PLAID_SECRET: optionalString,
  PLAID_TIMEOUT_MS: int(1_000, 600_000).default(90_000),
  PLAID_MAX_ATTEMPTS: int(1, 10).default(3),
  PLAID_RETRY_MAX_ELAPSED_MS: int(0, 600_000).default(30_000),
  PLAID_RETRY_BASE_DELAY_MS: int(1, 60_000).default(500),
  PLAID_RETRY_MAX_DELAY_MS: int(1, 300_000).default(8_000),
  PLAID_MAX_CONNECTIONS: z.preprocess(
    (v) => (v === undefined || v === '' ? undefined : Number(v)),
    z.number().int().min(1).max(10_000).optional(),
  ),
  // The public URL Plaid posts webhooks to (this service's /webhooks/plaid behind your ingress).
  PLAID_WEBHOOK_URL: optionalString.pipe(z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }).optional()),
  PLAID_WEBHOOK_KEY_TIMEOUT_MS: int(100, 30_000).default(2_000),
  PLAID_WEBHOOK_DEDUPE_SECONDS: int(0, 86_400).default(900),
  PLAID_WEBHOOK_LEASE_MS: int(1_000, 3_600_000).default(60_000),
  PLAID_WEBHOOK_POLL_MS: int(100, 600_000).default(5_000),
  // Link shows at most 30 characters of the name (Plaid shows "This Application" instead).
  PLAID_LINK_CLIENT_NAME: z.string().trim().min(1).max(30).default('plaid-refresh-graphql'),
  PLAID_LINK_LANGUAGE: z.enum(LINK_LANGUAGES).default('en'),
  PLAID_LINK_COUNTRY_CODES: z
    .string()
    .default('US')
    .transform((v) => v.split(',').map((code) => code.trim().toUpperCase()))
    .pipe(
      z
        .array(z.string().refine((code) => LINK_COUNTRIES.has(code), 'each code must be a country Plaid Link serves (US, CA, GB, ...)'))
        .min(1),
    ),
  PLAID_LINK_REDIRECT_URI: optionalString.pipe(z.url({ protocol: /^https?$/ }).optional()),
});

/** The two quota variables of every refresh product in the catalogue, with its defaults. */
const QuotaEnv = z.object(
  Object.fromEntries(
    REFRESH_PRODUCTS.flatMap(({ quota }) => [
      [quota.perTargetVariable, int(1, 10_000).default(quota.perTarget)],
      [quota.perClientVariable, int(1, 100_000).default(quota.perClient)],
    ]),
  ),
);

const AppEnv = z.object({
  NODE_ENV: z.string().optional(),
  HOST: optionalString,
  PORT: int(0, 65_535).default(4000),
  AUTH_JWT_SECRET: optionalString,
  AUTH_JWKS_URL: optionalString.pipe(z.url().optional()),
  AUTH_ISSUER: optionalString,
  AUTH_AUDIENCE: optionalString,
  AUTH_JWKS_TIMEOUT_MS: int(100, 30_000).default(AUTH_DEFAULTS.jwksTimeoutMs),
  AUTH_CLOCK_SKEW_SECONDS: int(0, 600).default(AUTH_DEFAULTS.clockSkewSeconds),
  AUTH_MAX_TOKEN_LIFETIME_SECONDS: int(60, 31_536_000).default(AUTH_DEFAULTS.maxTokenLifetimeSeconds),
  AUTH_TOKEN_CACHE_MAX_BYTES: int(65_536, 1_073_741_824).default(AUTH_DEFAULTS.tokenCacheMaxBytes),
  TOKEN_ENCRYPTION_KEY: optionalString.pipe(encryptionKey().optional()),
  TOKEN_ENCRYPTION_PREVIOUS_KEYS: optionalString.transform(splitKeyList).pipe(z.array(encryptionKey())),
  DATABASE_URL: optionalString.pipe(z.string().refine(isPostgresUrl, DATABASE_URL_FORMAT).optional()),
  DATABASE_SCHEMA: optionalString.pipe(
    z
      .string()
      .regex(/^[a-z_][a-z0-9_]*$/, 'lower-case SQL identifier')
      .optional(),
  ),
  VAULT_DATA_DIR: optionalString,
  GRAPHIQL: z.enum(['true', 'false']).optional(),
  INTROSPECTION: z.enum(['true', 'false']).optional(),
  COMPILED_EXECUTION: z.enum(['true', 'false']).default('true'),
  LOG_LEVEL: z.enum(LOG_LEVELS).default('info'),
  METRICS: z.enum(['true', 'false']).default('true'),
  CSRF_PREVENTION: z.enum(['true', 'false']).default('true'),
  MAX_BODY_BYTES: int(1_024, 64 * 1_048_576).default(1_048_576),
  GRAPHQL_MAX_DEPTH: int(2, 100).default(10),
  GRAPHQL_MAX_ALIASES: int(0, 1_000).default(15),
  GRAPHQL_MAX_TOKENS: int(50, 100_000).default(1_000),
  GRAPHQL_MAX_COST: int(10, 1_000_000).default(5_000),
  SHUTDOWN_TIMEOUT_MS: int(0, 600_000).default(25_000),
  SHUTDOWN_DRAIN_MS: int(0, 600_000).default(5_000),
  REQUEST_TIMEOUT_MS: int(1_000, 600_000).default(120_000),
  DATABASE_CONNECT_TIMEOUT_MS: int(100, 600_000).default(2_000),
  DATABASE_STATEMENT_TIMEOUT_MS: int(100, 600_000).default(5_000),
  DATABASE_POOL_SIZE: int(1, 1_000).default(10),
  REFRESH_QUIET_WINDOW_MS: int(1_000, 86_400_000).default(300_000),
  REFRESH_QUIET_SWEEP_MS: int(100, 3_600_000).default(15_000),
  LINK_SPOOL_DIR: optionalString,
  LINK_SPOOL_REPLAY_MS: int(100, 3_600_000).default(15_000),
  REDIS_URL: optionalString.pipe(z.url().optional()),
  REDIS_KEY_PREFIX: z.string().min(1).default('plaid-refresh:'),
  REDIS_CONNECT_TIMEOUT_MS: int(100, 600_000).default(2_000),
  REDIS_COMMAND_TIMEOUT_MS: int(100, 600_000).default(2_000),
  FLIGHT_LOCK_TTL_MS: int(300, 600_000).default(6_000),
  // QUOTA_<product>_PER_ITEM / _PER_USER / _PER_CLIENT: one pair per catalogue entry (QuotaEnv below).
  QUOTA_PER_VIEWER: int(1, 100_000).default(20),
  LINK_PER_VIEWER_PER_HOUR: int(1, 100_000).default(10),
  LINK_PER_CLIENT_PER_MINUTE: int(1, 100_000).default(100),
  LINK_TOKEN_PER_VIEWER_PER_HOUR: int(1, 100_000).default(DEFAULT_LINK_TOKEN_LIMITS.perViewerPerHour),
  LINK_TOKEN_PER_CLIENT_PER_MINUTE: int(1, 100_000).default(DEFAULT_LINK_TOKEN_LIMITS.perClientPerMinute),
});

export interface PlaidConfig {
  /** null in embedded mode: no credentials, so the service talks to its own simulator. */
  readonly credentials: { readonly clientId: string; readonly secret: string } | null;
  readonly baseUrl: string;
  readonly timeoutMs: number;
  readonly retry: {
    readonly maxAttempts: number;
    readonly maxElapsedMs: number;
    readonly baseDelayMs: number;
    readonly maxDelayMs: number;
  };
  readonly maxConnections: number | null;
  readonly webhooks: {
    /** Where Plaid should post webhooks (registered on Items); null: the receiver works, nothing registers Items. */
    readonly url: string | null;
    /** One /webhook_verification_key/get gives up after this long; the webhook is then answered 503 (Plaid retries). */
    readonly keyTimeoutMs: number;
    /** An identical body within this long of the stored one is a re-send, not a new webhook. */
    readonly dedupeWindowSeconds: number;
    /** How long a claimed webhook is one processor's alone: a process killed mid-handle leaves it this long. */
    readonly leaseMs: number;
    /** The inbox is also read this often (work a dead process left, retries due), besides each store's wake-up. */
    readonly pollMs: number;
  };
  /** What /link/token/create is told about the application. */
  readonly link: {
    readonly clientName: string;
    readonly language: string;
    readonly countryCodes: readonly string[];
    readonly redirectUri: string | null;
  };
}

/** Per-operation limits (graphql-armor), tuned so gateway `_entities` batches pass. */
export interface GraphQLLimits {
  readonly maxDepth: number;
  readonly maxAliases: number;
  readonly maxTokens: number;
  readonly maxCost: number;
}

/** A bad environment; `problems` name the variables (one per line in the message), never a secret value. */
export class ConfigError extends Error {
  override name = 'ConfigError';

  constructor(readonly problems: readonly string[]) {
    super(`invalid configuration:\n${problems.map((problem) => `  ${problem}`).join('\n')}`);
  }
}

function parse<T extends z.ZodType>(schema: T, env: NodeJS.ProcessEnv): z.infer<T> {
  const result = schema.safeParse(env);
  if (result.success) return result.data;
  throw new ConfigError(result.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`));
}

export function loadPlaidConfig(env: NodeJS.ProcessEnv = process.env): PlaidConfig {
  const e = parse(PlaidEnv, env);
  if ((e.PLAID_CLIENT_ID === undefined) !== (e.PLAID_SECRET === undefined)) {
    throw new ConfigError(['PLAID_CLIENT_ID and PLAID_SECRET must be set together']);
  }
  return Object.freeze({
    credentials: e.PLAID_CLIENT_ID && e.PLAID_SECRET ? { clientId: e.PLAID_CLIENT_ID, secret: e.PLAID_SECRET } : null,
    baseUrl: resolvePlaidBaseUrl(e.PLAID_BASE_URL ?? e.PLAID_ENV),
    timeoutMs: e.PLAID_TIMEOUT_MS,
    retry: {
      maxAttempts: e.PLAID_MAX_ATTEMPTS,
      maxElapsedMs: e.PLAID_RETRY_MAX_ELAPSED_MS,
      baseDelayMs: e.PLAID_RETRY_BASE_DELAY_MS,
      maxDelayMs: e.PLAID_RETRY_MAX_DELAY_MS,
    },
    maxConnections: e.PLAID_MAX_CONNECTIONS ?? null,
    webhooks: {
      url: e.PLAID_WEBHOOK_URL ?? null,
      keyTimeoutMs: e.PLAID_WEBHOOK_KEY_TIMEOUT_MS,
      dedupeWindowSeconds: e.PLAID_WEBHOOK_DEDUPE_SECONDS,
      leaseMs: e.PLAID_WEBHOOK_LEASE_MS,
      pollMs: e.PLAID_WEBHOOK_POLL_MS,
    },
    link: Object.freeze({
      clientName: e.PLAID_LINK_CLIENT_NAME,
      language: e.PLAID_LINK_LANGUAGE,
      countryCodes: Object.freeze(e.PLAID_LINK_COUNTRY_CODES),
      redirectUri: e.PLAID_LINK_REDIRECT_URI ?? null,
    }),
  });
}

export interface AppConfig {
  readonly production: boolean;
  /** No Plaid credentials: the service runs its own simulator and a demo viewer. Never in production. */
  readonly embedded: boolean;
  readonly host: string;
  readonly port: number;
  readonly plaid: PlaidConfig;
  readonly auth: {
    readonly jwtSecret: string | null;
    readonly jwksUrl: string | null;
    readonly issuer: string | null;
    readonly audience: string | null;
    /** One JWKS fetch gives up after this long; the client then gets a retryable 503. */
    readonly jwksTimeoutMs: number;
    readonly clockSkewSeconds: number;
    readonly maxTokenLifetimeSeconds: number;
    /** Bytes the verified-token cache may hold. */
    readonly tokenCacheMaxBytes: number;
  };
  readonly vault: {
    readonly databaseUrl: string | null;
    /** PostgreSQL schema for the vault's tables (default: the connection's search_path). */
    readonly schema?: string;
    readonly dataDir: string | null;
    /** The current key: new values are written under it. */
    readonly encryptionKey: string | null;
    /** PostgreSQL: connecting (and waiting for a pooled connection), and each statement, give up after these. */
    readonly connectTimeoutMs: number;
    readonly statementTimeoutMs: number;
    readonly poolSize: number;
    /** Where an exchanged Item goes when the vault cannot store it (see link-spool.ts), and how often it is offered again. */
    readonly linkSpoolDir: string | null;
    readonly linkSpoolReplayMs: number;
    /** Older keys still read (key rotation); nothing new is written under them. */
    readonly previousEncryptionKeys: readonly string[];
  };
  readonly graphiql: boolean;
  /** Schema introspection (__schema, __type); off by default in production. Federation needs none. */
  readonly introspection: boolean;
  /** Queries and mutations run compiled (graphql-jit); false: all on yoga's executor. */
  readonly compiledExecution: boolean;
  readonly logLevel: LogLevel;
  /** GET /metrics for Prometheus. */
  readonly metrics: boolean;
  readonly http: {
    readonly csrfPrevention: boolean;
    readonly maxBodyBytes: number;
    /** On SIGTERM, how long in-flight requests may take to finish before connections are cut. */
    readonly shutdownTimeoutMs: number;
    /** On SIGTERM, how long readiness says 503 while requests are still served, so load balancers stop sending. */
    readonly drainMs: number;
    /** Every request is answered within this; the waits inside it (Plaid, single flight, retries) end by then. */
    readonly requestTimeoutMs: number;
  };
  readonly limits: GraphQLLimits;
  /** With Redis, the cost guard's state is shared by every replica; without, it is per process. */
  readonly redis: {
    readonly url: string;
    readonly keyPrefix: string;
    readonly connectTimeoutMs: number;
    readonly commandTimeoutMs: number;
    /** The single-flight lock's lifetime, renewed while its holder calls Plaid. */
    readonly lockTtlMs: number;
  } | null;
  /** How long a refresh waits for a webhook before it is QUIET, and how often that is checked. */
  readonly refreshLifecycle: { readonly quietWindowMs: number; readonly sweepMs: number };
  /** Calls per minute allowed before calling Plaid, per endpoint (per Item or user, per viewer, per client), and links. */
  readonly quotas: GuardLimits;
}

/** HS256 keys shorter than the hash are brute-forceable; RFC 7518 asks for at least 256 bits. */
const MIN_JWT_SECRET_LENGTH = 32;

export function loadConfig(env: NodeJS.ProcessEnv = process.env): AppConfig {
  const e = parse(AppEnv, env);
  const quotas = parse(QuotaEnv, env) as Record<string, number>;
  const plaid = loadPlaidConfig(env);
  const production = e.NODE_ENV === 'production';
  const embedded = plaid.credentials === null;
  const problems: string[] = [];
  if (production && embedded)
    problems.push('PLAID_CLIENT_ID and PLAID_SECRET are required in production (embedded mode is for development)');
  if (production && !e.TOKEN_ENCRYPTION_KEY) problems.push('TOKEN_ENCRYPTION_KEY is required in production (openssl rand -base64 32)');
  if (production && !e.DATABASE_URL && !e.VAULT_DATA_DIR) {
    problems.push('DATABASE_URL (or VAULT_DATA_DIR) is required in production: an in-memory vault loses every linked Item on restart');
  }
  if (!embedded && !e.AUTH_JWT_SECRET && !e.AUTH_JWKS_URL)
    problems.push('AUTH_JWT_SECRET or AUTH_JWKS_URL is required with Plaid credentials');
  if (e.AUTH_JWT_SECRET && e.AUTH_JWT_SECRET.length < MIN_JWT_SECRET_LENGTH) {
    problems.push(`AUTH_JWT_SECRET must be at least ${MIN_JWT_SECRET_LENGTH} characters`);
  }
  if (e.GRAPHIQL === 'true' && e.INTROSPECTION === 'false')
    problems.push('GRAPHIQL=true needs INTROSPECTION (GraphiQL reads the schema by introspection)');
  if (e.TOKEN_ENCRYPTION_PREVIOUS_KEYS.length > 0 && !e.TOKEN_ENCRYPTION_KEY) {
    problems.push('TOKEN_ENCRYPTION_PREVIOUS_KEYS needs TOKEN_ENCRYPTION_KEY (the current key, for new writes)');
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return Object.freeze({
    production,
    embedded,
    // The embedded demo prints a ready token, so it listens on loopback only unless told otherwise.
    host: e.HOST ?? (embedded ? '127.0.0.1' : '0.0.0.0'),
    port: e.PORT,
    plaid,
    auth: {
      jwtSecret: e.AUTH_JWT_SECRET ?? null,
      jwksUrl: e.AUTH_JWKS_URL ?? null,
      issuer: e.AUTH_ISSUER ?? null,
      audience: e.AUTH_AUDIENCE ?? null,
      jwksTimeoutMs: e.AUTH_JWKS_TIMEOUT_MS,
      clockSkewSeconds: e.AUTH_CLOCK_SKEW_SECONDS,
      maxTokenLifetimeSeconds: e.AUTH_MAX_TOKEN_LIFETIME_SECONDS,
      tokenCacheMaxBytes: e.AUTH_TOKEN_CACHE_MAX_BYTES,
    },
    vault: {
      databaseUrl: e.DATABASE_URL ?? null,
      ...(e.DATABASE_SCHEMA ? { schema: e.DATABASE_SCHEMA } : {}),
      dataDir: e.VAULT_DATA_DIR ?? null,
      encryptionKey: e.TOKEN_ENCRYPTION_KEY ?? null,
      connectTimeoutMs: e.DATABASE_CONNECT_TIMEOUT_MS,
      statementTimeoutMs: e.DATABASE_STATEMENT_TIMEOUT_MS,
      poolSize: e.DATABASE_POOL_SIZE,
      linkSpoolDir: e.LINK_SPOOL_DIR ?? null,
      linkSpoolReplayMs: e.LINK_SPOOL_REPLAY_MS,
      previousEncryptionKeys: e.TOKEN_ENCRYPTION_PREVIOUS_KEYS,
    },
    graphiql: e.GRAPHIQL === undefined ? !production : e.GRAPHIQL === 'true',
    introspection: e.INTROSPECTION === undefined ? !production || e.GRAPHIQL === 'true' : e.INTROSPECTION === 'true',
    compiledExecution: e.COMPILED_EXECUTION === 'true',
    logLevel: e.LOG_LEVEL,
    metrics: e.METRICS === 'true',
    http: {
      csrfPrevention: e.CSRF_PREVENTION === 'true',
      maxBodyBytes: e.MAX_BODY_BYTES,
      shutdownTimeoutMs: e.SHUTDOWN_TIMEOUT_MS,
      drainMs: e.SHUTDOWN_DRAIN_MS,
      requestTimeoutMs: e.REQUEST_TIMEOUT_MS,
    },
    limits: {
      maxDepth: e.GRAPHQL_MAX_DEPTH,
      maxAliases: e.GRAPHQL_MAX_ALIASES,
      maxTokens: e.GRAPHQL_MAX_TOKENS,
      maxCost: e.GRAPHQL_MAX_COST,
    },
    redis: e.REDIS_URL
      ? {
          url: e.REDIS_URL,
          keyPrefix: e.REDIS_KEY_PREFIX,
          connectTimeoutMs: e.REDIS_CONNECT_TIMEOUT_MS,
          commandTimeoutMs: e.REDIS_COMMAND_TIMEOUT_MS,
          lockTtlMs: e.FLIGHT_LOCK_TTL_MS,
        }
      : null,
    refreshLifecycle: { quietWindowMs: e.REFRESH_QUIET_WINDOW_MS, sweepMs: e.REFRESH_QUIET_SWEEP_MS },
    quotas: {
      endpoints: Object.fromEntries(
        REFRESH_PRODUCTS.map(({ endpoint, quota }) => [
          endpoint,
          {
            perTarget: quotas[quota.perTargetVariable] ?? quota.perTarget,
            perViewer: e.QUOTA_PER_VIEWER,
            perClient: quotas[quota.perClientVariable] ?? quota.perClient,
          },
        ]),
      ) as GuardLimits['endpoints'],
      link: { perViewerPerHour: e.LINK_PER_VIEWER_PER_HOUR, perClientPerMinute: e.LINK_PER_CLIENT_PER_MINUTE },
      linkToken: { perViewerPerHour: e.LINK_TOKEN_PER_VIEWER_PER_HOUR, perClientPerMinute: e.LINK_TOKEN_PER_CLIENT_PER_MINUTE },
    },
  });
}

/** The schemas themselves, for checks that every variable is documented (test/unit/env-example.test.ts). */
export { AppEnv, PlaidEnv, QuotaEnv };
