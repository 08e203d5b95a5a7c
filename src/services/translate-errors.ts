/**
 * The one place where failures of the layers below become this layer's answers: Plaid transport
 * failures, vault and Redis outages, quota refusals. Plaid's own error objects pass as they are.
 */
import { CoordinationUnavailableError, QuotaExceededError, SharedRefreshTimeoutError } from '../guard/errors.js';
import { PlaidConnectionFailedError, PlaidConnectionResetError, PlaidTimeoutError, PlaidTransportError } from '../plaid/errors.js';
import { VaultUnavailableError } from '../vault/errors.js';
import {
  DependencyUnavailableError,
  LinkThrottledError,
  PlaidUnavailableError,
  RefreshThrottledError,
  type UnavailableReason,
} from './errors.js';

function reasonOf(error: PlaidTransportError): UnavailableReason {
  if (error instanceof PlaidTimeoutError) return 'TIMEOUT';
  if (error instanceof PlaidConnectionFailedError) return 'CONNECTION_FAILED';
  if (error instanceof PlaidConnectionResetError) return 'CONNECTION_RESET';
  return 'BAD_RESPONSE';
}

const MESSAGES: Readonly<Record<UnavailableReason, string>> = {
  TIMEOUT: 'Plaid did not answer in time',
  CONNECTION_FAILED: 'Plaid could not be reached',
  CONNECTION_RESET: 'the connection to Plaid dropped before an answer',
  BAD_RESPONSE: 'Plaid gave an answer that could not be read',
};

/** Who asked: a refresh's quota refusal and a link's read differently. */
export type Asker = 'refresh' | 'link';

export function translateError(error: unknown, asker: Asker = 'refresh'): unknown {
  if (error instanceof PlaidTransportError) {
    const reason = reasonOf(error);
    const suffix = error.mayHaveRun ? '; Plaid may have done it' : '; Plaid did not get the request';
    return new PlaidUnavailableError(reason, error.mayHaveRun, MESSAGES[reason] + suffix, { cause: error });
  }
  if (error instanceof SharedRefreshTimeoutError) {
    return new PlaidUnavailableError('TIMEOUT', true, `${error.message}; it may have run`, { cause: error });
  }
  if (error instanceof VaultUnavailableError) return new DependencyUnavailableError('STORAGE', false, { cause: error });
  if (error instanceof CoordinationUnavailableError)
    return new DependencyUnavailableError('COORDINATION', error.mayHaveRun, { cause: error });
  if (error instanceof QuotaExceededError) {
    if (asker === 'link') return new LinkThrottledError(error.scope === 'VIEWER' ? 'VIEWER' : 'CLIENT', error.retryAfterSeconds);
    return new RefreshThrottledError(error.scope, error.retryAfterSeconds);
  }
  return error;
}

/** Runs `call`, translating what it throws. */
export async function translated<T>(call: () => Promise<T>, asker: Asker = 'refresh'): Promise<T> {
  try {
    return await call();
  } catch (error) {
    throw translateError(error, asker);
  }
}
