/**
 * Errors of the cost guard. The service layer turns them into the answers a caller sees
 * (RefreshThrottledError, DependencyUnavailableError, PlaidUnavailableError).
 */

/** Which quota a refused call would have passed. */
export type QuotaScope = 'ITEM' | 'USER' | 'VIEWER' | 'CLIENT';

/** Raised before calling Plaid when a call would pass a quota: nothing was sent, nothing billed. */
export class QuotaExceededError extends Error {
  override name = 'QuotaExceededError';
  readonly retryAfterSeconds: number;
  constructor(
    readonly scope: QuotaScope,
    retryAfterMs: number,
  ) {
    const seconds = Math.max(1, Math.ceil(retryAfterMs / 1000));
    super(`quota reached (${scope.toLowerCase()}); room again in ${seconds} s`);
    this.retryAfterSeconds = seconds;
  }
}

/**
 * Raised when Redis (quotas, single flight across replicas) could not be used in time.
 * `mayHaveRun`: whether the Plaid call this coordinated may have been made anyway.
 */
export class CoordinationUnavailableError extends Error {
  override name = 'CoordinationUnavailableError';
  constructor(
    message: string,
    readonly mayHaveRun: boolean,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** Raised when a refresh this request joined had not finished by the request's deadline; it may still run. */
export class SharedRefreshTimeoutError extends Error {
  override name = 'SharedRefreshTimeoutError';
  readonly mayHaveRun = true;
  constructor() {
    super('the identical refresh this request joined did not finish within the request deadline');
  }
}

/** Wraps any Redis failure (closed connection, command timeout, offline) as a coordination outage. */
export async function viaRedis<T>(what: string, mayHaveRun: boolean, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    throw new CoordinationUnavailableError(`Redis unavailable (${what})`, mayHaveRun, { cause: error });
  }
}
