/**
 * The retry policy: one pure function, a reason per rule.
 *
 * Plaid bills refreshes per call and has no idempotency key, so we re-send only where the call
 * certainly did not run, or where Plaid itself says to back off. Decided by `error_code`, never by
 * HTTP status (Plaid answers INSTITUTION_DOWN with 400).
 */
import { catalogueEntry } from './error-catalogue.js';
import { PlaidConnectionFailedError, PlaidResponseError, PlaidTransportError, type PlaidClientError } from './errors.js';

export interface RetryPolicy {
  /** Attempts in all, the first one included. 1 turns retries off. */
  readonly maxAttempts: number;
  /** No new attempt starts once this much time has passed since the first one. */
  readonly maxElapsedMs: number;
  /** Backoff before the second attempt; doubles each time. */
  readonly baseDelayMs: number;
  /** Cap on one backoff delay. */
  readonly maxDelayMs: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = Object.freeze({
  maxAttempts: 3,
  maxElapsedMs: 30_000,
  baseDelayMs: 500,
  maxDelayMs: 8_000,
});

export interface RetryInput {
  readonly error: PlaidClientError;
  /** The attempt that just failed, from 1. */
  readonly attempt: number;
  /** Time since the first attempt started. */
  readonly elapsedMs: number;
  readonly policy: RetryPolicy;
  /** A number in [0, 1) for jitter; injected so the function stays pure. */
  readonly random: number;
  /** Plaid's `Retry-After`, if it sent one. */
  readonly retryAfterMs?: number | null;
  /** A call that only reads (/item/get): re-sending it cannot bill or change anything. */
  readonly readOnly?: boolean;
  /**
   * A billed refresh with a per-minute Plaid limit: each re-send is billed and spends that limit, so
   * waits that last minutes (rate limits, institution outages, maintenance) go to the caller as
   * `retryAfterSeconds` instead of a loop in the server.
   */
  readonly billed?: boolean;
  /** Time left until the caller's deadline; no re-send starts that could not finish before it. */
  readonly remainingMs?: number;
}

export type RetryDecision =
  { readonly retry: true; readonly delayMs: number; readonly reason: string } | { readonly retry: false; readonly reason: string };

type Verdict = { readonly retry: boolean; readonly reason: string };

/** Whether a failure may be re-sent at all, and why: the rules, first match wins. */
function verdictFor(error: PlaidClientError, readOnly: boolean, billed: boolean): Verdict {
  if (error instanceof PlaidConnectionFailedError) return { retry: true, reason: 'the connection failed before the request was sent' };
  if (readOnly && error instanceof PlaidTransportError) {
    return { retry: true, reason: 'a read-only call: sending it again cannot bill or change anything' };
  }
  if (error instanceof PlaidTransportError) {
    return {
      retry: false,
      reason: error.mayHaveRun
        ? 'the refresh may have run at Plaid; re-sending could bill it twice'
        : 'transport failure not known to be safe to re-send',
    };
  }
  if (!(error instanceof PlaidResponseError)) return { retry: false, reason: 'not a Plaid error' };
  const known = catalogueEntry(error.errorCode);
  const errorType = known?.errorType ?? error.errorType;
  const rateLimited = errorType === 'RATE_LIMIT_EXCEEDED' && (known === undefined || known.retry === 'backoff');
  if (billed && rateLimited) {
    return {
      retry: false,
      reason: `${error.errorCode} is a per-minute limit: a re-send within seconds is refused again and spends the quota`,
    };
  }
  if (billed && (errorType === 'INSTITUTION_ERROR' || error.errorCode === 'PLANNED_MAINTENANCE')) {
    return { retry: false, reason: `${error.errorCode} lasts minutes: re-sending a billed refresh within seconds only spends its quota` };
  }
  if (rateLimited) return { retry: true, reason: `Plaid rate-limited the call (${error.errorCode}); it did not run` };
  if (!known) return { retry: false, reason: `${error.errorCode} is not a code known to be safe to retry` };
  if (known.retry !== 'backoff') return { retry: false, reason: `${error.errorCode} is ${known.retry}: sending it again changes nothing` };
  return { retry: true, reason: `Plaid advises retrying ${error.errorCode} with backoff` };
}

export function decideRetry(input: RetryInput): RetryDecision {
  const { error, attempt, elapsedMs, policy } = input;
  const verdict = verdictFor(error, input.readOnly ?? false, input.billed ?? false);
  if (!verdict.retry) return { retry: false, reason: verdict.reason };
  const because = verdict.reason;
  if (attempt >= policy.maxAttempts) {
    return { retry: false, reason: `${because}, but all ${policy.maxAttempts} attempts are used` };
  }
  // Capped exponential backoff with full jitter; a Retry-After from Plaid is a floor.
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1));
  const delayMs = Math.max(Math.round(input.random * ceiling), input.retryAfterMs ?? 0);
  if (elapsedMs + delayMs > policy.maxElapsedMs) {
    return { retry: false, reason: `${because}, but waiting ${delayMs} ms would pass the ${policy.maxElapsedMs} ms budget` };
  }
  if (input.remainingMs !== undefined && delayMs >= input.remainingMs) {
    return { retry: false, reason: `${because}, but waiting ${delayMs} ms would pass the request's deadline` };
  }
  return { retry: true, delayMs, reason: because };
}
