/**
 * Errors of the vault's storage. A database that is down, unreachable or too slow is an outage the
 * caller can be told about (VaultUnavailableError); anything else the database says is a bug.
 */
import pg from 'pg';

/** Raised when the vault's database could not answer in time (down, unreachable, timed out, overloaded). */
export class VaultUnavailableError extends Error {
  override name = 'VaultUnavailableError';
  constructor(options?: ErrorOptions) {
    super('the vault database is unavailable', options);
  }
}

// SQLSTATE classes of an outage, not of a statement: connection exception, insufficient resources,
// operator intervention (statement timeout, admin shutdown, starting up), system error.
const OUTAGE_CLASSES = new Set(['08', '53', '57', '58']);
// What pg and the socket say when no server answers; the pool's own acquire/connect timeouts included.
const OUTAGE_MESSAGE = /timeout|timed out|terminated|connection|ECONNREFUSED|ECONNRESET|EPIPE|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|ENOTFOUND|EAI_AGAIN/i;

/** Whether a database failure is an outage (the same statement could work later) rather than a bug. */
export function isOutage(error: unknown): boolean {
  if (error instanceof VaultUnavailableError) return true;
  if (error instanceof pg.DatabaseError) return OUTAGE_CLASSES.has((error.code ?? '').slice(0, 2));
  if (!(error instanceof Error)) return false;
  const code = (error as { code?: unknown }).code;
  return OUTAGE_MESSAGE.test(error.message) || (typeof code === 'string' && OUTAGE_MESSAGE.test(code));
}

/** Runs one database call; an outage comes out as VaultUnavailableError, anything else as it is. */
export async function viaDatabase<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    if (error instanceof VaultUnavailableError || !isOutage(error)) throw error;
    throw new VaultUnavailableError({ cause: error });
  }
}
