/**
 * Why a vault could not be opened, as typed errors whose message is one line that names the cause
 * and the variable to fix. No message holds a key, a token or a connection string's password.
 */
import pg from 'pg';
import { databasePassword, databaseTarget } from './database-url.js';
import { VaultUnavailableError } from './errors.js';

/** The vault's settings are unusable: a missing or malformed key, a malformed DATABASE_URL. */
export class VaultConfigError extends Error {
  override name = 'VaultConfigError';
}

/**
 * The configured keys do not fit the data in the vault: it holds values written under a key that
 * is not configured, or a configured key does not decrypt its canary. Refusing to start beats
 * failing every refresh and writing new values under the wrong key.
 */
export class VaultKeyMismatchError extends Error {
  override name = 'VaultKeyMismatchError';
}

/** At start: the vault's database cannot be reached or refuses the connection. */
export class VaultUnreachableError extends Error {
  override name = 'VaultUnreachableError';

  constructor(
    message: string,
    /** The variable that points at it. */
    readonly variable: 'DATABASE_URL' | 'VAULT_DATA_DIR',
    options?: ErrorOptions,
  ) {
    super(`${message} (${variable})`, options);
  }
}

// SQLSTATEs whose server message is already the whole story (and holds no secret).
const SELF_EXPLAINING_SQLSTATES = new Set([
  '3D000', // invalid_catalog_name: database "x" does not exist
  '28P01', // invalid_password: password authentication failed for user "x"
  '28000', // invalid_authorization_specification: no pg_hba.conf entry, role does not exist
  '42501', // insufficient_privilege: permission denied for schema x
  '53300', // too_many_connections
  '57P03', // cannot_connect_now: the database system is starting up
]);

// Connection exception, invalid authorization, insufficient resources, server shutting down or starting.
const CONNECTION_SQLSTATE_CLASSES = ['08', '28', '53', '57P'];

const UNREACHABLE_CODES: Readonly<Record<string, string>> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  ETIMEDOUT: 'connection timed out',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
};

/**
 * A PostgreSQL failure while opening the vault as a VaultUnreachableError, or null when it is
 * none of the known causes (the caller rethrows it as it is).
 */
export function classifyPostgresFailure(error: unknown, databaseUrl: string): VaultUnreachableError | null {
  const target = databaseTarget(databaseUrl);
  const cause = rootCause(error);
  const make = (message: string) => new VaultUnreachableError(scrub(message, databaseUrl), 'DATABASE_URL', { cause: error });
  if (cause instanceof pg.DatabaseError && cause.code !== undefined) {
    if (SELF_EXPLAINING_SQLSTATES.has(cause.code)) return make(cause.message);
    if (CONNECTION_SQLSTATE_CLASSES.some((prefix) => cause.code?.startsWith(prefix))) {
      return make(`the database at ${target} refused the connection: ${cause.message} (SQLSTATE ${cause.code})`);
    }
    // Anything else (a failing migration, say) is not about reaching the database: the caller shows it whole.
    return null;
  }
  const code = systemCode(cause);
  if (code !== null) {
    if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return make(`cannot connect to the database at ${target}: host not found`);
    const why = UNREACHABLE_CODES[code];
    if (why) return make(`cannot connect to the database at ${target}: ${why}`);
  }
  if (cause instanceof Error && /timeout|timed out/i.test(cause.message)) {
    return make(`cannot connect to the database at ${target}: no answer in time`);
  }
  if (cause instanceof Error && /terminated unexpectedly/i.test(cause.message)) {
    return make(`the database at ${target} closed the connection while it was opened`);
  }
  return null;
}

/** A PGlite data directory that cannot be opened (missing permissions, a file in the way, a full disk). */
export function classifyPgliteFailure(error: unknown, dataDir: string): VaultUnreachableError | null {
  const code = systemCode(rootCause(error));
  if (code === null) return null;
  return new VaultUnreachableError(`cannot open the embedded vault in ${dataDir}: ${code}`, 'VAULT_DATA_DIR', { cause: error });
}

function rootCause(error: unknown): unknown {
  // The executor wraps outages it meets at run time; what went wrong is its cause.
  if (error instanceof VaultUnavailableError && error.cause !== undefined) return rootCause(error.cause);
  // Node reports a host with several addresses as an AggregateError of one error per address.
  if (error instanceof AggregateError && error.errors.length > 0 && systemCode(error) === null) return error.errors[0] as unknown;
  return error;
}

function systemCode(error: unknown): string | null {
  if (!(error instanceof Error)) return null;
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' && /^E[A-Z_]+$/.test(code) ? code : null;
}

function firstLine(text: string): string {
  return text.split('\n', 1)[0] ?? '';
}

// Belt and braces: servers do not echo passwords, but a message is printed, so make sure.
function scrub(message: string, databaseUrl: string): string {
  const password = databasePassword(databaseUrl);
  const oneLine = firstLine(message);
  return password !== null && password.length > 0 ? oneLine.split(password).join('[REDACTED]') : oneLine;
}
