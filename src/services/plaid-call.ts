/** Runs a Plaid client call and turns transport failures into this layer's PlaidUnavailableError. */
import {
  PlaidConnectionFailedError,
  PlaidConnectionResetError,
  PlaidTimeoutError,
  PlaidTransportError,
} from '../plaid/errors.js';
import { PlaidUnavailableError, type UnavailableReason } from './errors.js';

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

export async function callPlaid<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    if (error instanceof PlaidTransportError) {
      const reason = reasonOf(error);
      const suffix = error.mayHaveRun ? '; the refresh may have run' : '; the refresh did not run';
      throw new PlaidUnavailableError(reason, error.mayHaveRun, MESSAGES[reason] + suffix, { cause: error });
    }
    throw error;
  }
}
