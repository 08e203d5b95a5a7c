/**
 * Why the service did not start, as the one line main.ts prints: known causes (configuration, the
 * vault's keys and database, the listen address) are named with the variable to fix; anything
 * else is a bug or an unforeseen fault and keeps its stack. Nothing printed holds a secret.
 */
import { ConfigError } from './config.js';
import { createScrubber } from './observability/logger.js';
import { databasePassword } from './vault/database-url.js';
import { VaultConfigError, VaultKeyMismatchError, VaultUnreachableError } from './vault/open-errors.js';

/** The listener could not be opened on HOST:PORT. */
export class ListenError extends Error {
  override name = 'ListenError';
}

/** A listen failure with a known cause as a ListenError, else null. */
export function listenFailure(error: unknown, host: string, port: number): ListenError | null {
  const code = error instanceof Error ? (error as { code?: unknown }).code : undefined;
  const where = `${host.includes(':') ? `[${host}]` : host}:${port}`;
  const message: Record<string, string> = {
    EADDRINUSE: `cannot listen on ${where}: the port is already in use (PORT)`,
    EACCES: `cannot listen on ${where}: permission denied, ports below 1024 need privileges (PORT)`,
    EADDRNOTAVAIL: `cannot listen on ${where}: the address is not one of this machine's (HOST)`,
    ENOTFOUND: `cannot listen on ${where}: the host name does not resolve (HOST)`,
    EAI_AGAIN: `cannot listen on ${where}: the host name does not resolve (HOST)`,
  };
  const text = typeof code === 'string' ? message[code] : undefined;
  return text === undefined ? null : new ListenError(text, { cause: error });
}

/** Redis (REDIS_URL) did not answer at start. */
export class RedisUnreachableError extends Error {
  override name = 'RedisUnreachableError';
}

/** A Redis connect failure at start as one line naming the target (never its password). */
export function redisFailure(error: unknown, redisUrl: string): RedisUnreachableError {
  let target = 'REDIS_URL';
  try {
    const url = new URL(redisUrl);
    target = `${url.hostname}:${url.port || '6379'}`;
  } catch {
    // config.ts validated it; keep the generic name.
  }
  const code = error instanceof Error ? (error as { code?: unknown }).code : undefined;
  const why =
    typeof code === 'string'
      ? code
      : error instanceof Error && /timeout|timed out/i.test(error.message)
        ? 'no answer in time'
        : 'no answer';
  return new RedisUnreachableError(`cannot connect to Redis at ${target}: ${why} (REDIS_URL)`, { cause: error });
}

/** One line for a failure whose cause is known, or null. */
export function describeStartupFailure(error: unknown): string | null {
  if (error instanceof ConfigError) return `invalid configuration: ${error.problems.join('; ')}`;
  if (
    error instanceof VaultConfigError ||
    error instanceof VaultKeyMismatchError ||
    error instanceof VaultUnreachableError ||
    error instanceof RedisUnreachableError ||
    error instanceof ListenError
  ) {
    return error.message;
  }
  return null;
}

/**
 * What main.ts writes to stderr: `start-up failed: <cause>`, one line for a known cause; for an
 * unexpected error the stack follows, scrubbed of the configured secrets.
 */
export function startupFailureText(error: unknown, secrets: readonly (string | null | undefined)[] = []): string {
  const known = describeStartupFailure(error);
  if (known !== null) return `start-up failed: ${known}`;
  const scrub = createScrubber(secrets);
  const detail = error instanceof Error ? (error.stack ?? `${error.name}: ${error.message}`) : String(error);
  return `start-up failed (unexpected error): ${String(scrub(detail))}`;
}

/** The secrets a start-up message must not show, from the environment (the config may not have loaded). */
export function startupSecrets(env: NodeJS.ProcessEnv): string[] {
  const values = [
    env.PLAID_SECRET,
    env.AUTH_JWT_SECRET,
    env.TOKEN_ENCRYPTION_KEY,
    env.DATABASE_URL,
    databasePassword(env.DATABASE_URL ?? ''),
    env.REDIS_URL,
    urlPassword(env.REDIS_URL),
  ];
  for (const key of (env.TOKEN_ENCRYPTION_PREVIOUS_KEYS ?? '').split(',')) values.push(key.trim());
  return values.filter((value): value is string => typeof value === 'string' && value.trim() !== '');
}

function urlPassword(text: string | undefined): string | null {
  try {
    return text ? decodeURIComponent(new URL(text).password) || null : null;
  } catch {
    return null;
  }
}
