/**
 * The environment, parsed once with zod into a frozen Config. Every variable is listed in the
 * README's configuration table; a bad value stops start-up with a message naming the variable.
 */
import { z } from 'zod';
import { resolvePlaidBaseUrl } from './plaid/client.js';

const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
const optionalString = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === '' ? undefined : v));

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
});

const SimulatorEnv = z.object({
  SIMULATOR_HOST: z.string().default('127.0.0.1'),
  SIMULATOR_PORT: int(0, 65_535).default(4010),
  SIMULATOR_LATENCY_MS: int(0, 600_000).default(0),
  SIMULATOR_CONTROL_API: z.enum(['true', 'false']).default('true').transform((v) => v === 'true'),
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
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

function parse<T extends z.ZodType>(schema: T, env: NodeJS.ProcessEnv): z.infer<T> {
  const result = schema.safeParse(env);
  if (result.success) return result.data;
  const lines = result.error.issues.map((issue) => `  ${issue.path.join('.')}: ${issue.message}`);
  throw new ConfigError(`invalid configuration:\n${lines.join('\n')}`);
}

export function loadPlaidConfig(env: NodeJS.ProcessEnv = process.env): PlaidConfig {
  const e = parse(PlaidEnv, env);
  if ((e.PLAID_CLIENT_ID === undefined) !== (e.PLAID_SECRET === undefined)) {
    throw new ConfigError('invalid configuration:\n  PLAID_CLIENT_ID and PLAID_SECRET must be set together');
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
  });
}

export function loadSimulatorConfig(env: NodeJS.ProcessEnv = process.env) {
  const e = parse(SimulatorEnv, env);
  return Object.freeze({
    host: e.SIMULATOR_HOST,
    port: e.SIMULATOR_PORT,
    latencyMs: e.SIMULATOR_LATENCY_MS,
    controlApi: e.SIMULATOR_CONTROL_API,
  });
}
