/**
 * Errors of the vault's storage. A database that is down, unreachable or too slow is an outage the
 * caller can be told about (VaultUnavailableError); anything else the database says is a bug.
 */
import pg from 'pg';

/**
 * Raised when the vault's database could not answer in time (down, unreachable, timed out,
 * overloaded). `mayHaveWritten`: the statement may have reached the server and committed (the
 * answer was lost), as opposed to a connection that was never made or a statement the server cancelled.
 */
export class VaultUnavailableError extends Error {
  override name = 'VaultUnavailableError';
  readonly mayHaveWritten: boolean;
  constructor(options?: ErrorOptions & { mayHaveWritten?: boolean }) {
    super('the vault database is unavailable', options);
    this.mayHaveWritten = options?.mayHaveWritten ?? true;
  }
}

// SQLSTATE classes of an outage, not of a statement: connection exception, insufficient resources,
// operator intervention (statement timeout, admin shutdown, starting up), system error.
const OUTAGE_CLASSES = new Set(['08', '53', '57', '58']);
// What pg and the socket say when no server answers; the pool's own acquire/connect timeouts included.
const OUTAGE_MESSAGE =
  /timeout|timed out|terminated|connection|ECONNREFUSED|ECONNRESET|EPIPE|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|ENOTFOUND|EAI_AGAIN/i;

/** Whether a database failure is an outage (the same statement could work later) rather than a bug. */
export function isOutage(error: unknown): boolean {
  if (error instanceof VaultUnavailableError) return true;
  if (error instanceof pg.DatabaseError) return OUTAGE_CLASSES.has((error.code ?? '').slice(0, 2));
  if (!(error instanceof Error)) return false;
  const code = (error as { code?: unknown }).code;
  return OUTAGE_MESSAGE.test(error.message) || (typeof code === 'string' && OUTAGE_MESSAGE.test(code));
}

// Failures where the statement certainly did not run: no connection was made (refused, unknown
// host, the pool's connect/checkout timeout), or the server refused or cancelled it.
const NOT_RUN_SQLSTATES = new Set(['57014', '57P03', '53300', '08001', '08004']);
const NOT_RUN_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);
const NOT_RUN_MESSAGE = /timeout exceeded when trying to connect|connection timeout|ECONNREFUSED/i;

function certainlyNotRun(error: unknown): boolean {
  if (error instanceof pg.DatabaseError) return NOT_RUN_SQLSTATES.has(error.code ?? '');
  if (!(error instanceof Error)) return false;
  const code = (error as { code?: unknown }).code;
  return (typeof code === 'string' && NOT_RUN_CODES.has(code)) || NOT_RUN_MESSAGE.test(error.message);
}

/** Runs one database call; an outage comes out as VaultUnavailableError, anything else as it is. */
export async function viaDatabase<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    if (error instanceof VaultUnavailableError || !isOutage(error)) throw error;
    throw new VaultUnavailableError({ cause: error, mayHaveWritten: !certainlyNotRun(error) });
  }
}
