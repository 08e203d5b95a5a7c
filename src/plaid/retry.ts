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
}

export type RetryDecision =
  | { readonly retry: true; readonly delayMs: number; readonly reason: string }
  | { readonly retry: false; readonly reason: string };

/** Why a call may be re-sent, or null when it must not be. */
function retryableBecause(error: PlaidClientError, readOnly: boolean): string | null {
  if (error instanceof PlaidConnectionFailedError) return 'the connection failed before the request was sent';
  if (readOnly && error instanceof PlaidTransportError) return 'a read-only call: sending it again cannot bill or change anything';
  if (error instanceof PlaidTransportError) return null;
  if (!(error instanceof PlaidResponseError)) return null;
  const known = catalogueEntry(error.errorCode);
  if (known) {
    if (known.retry !== 'backoff') return null;
    if (known.errorType === 'RATE_LIMIT_EXCEEDED') return `Plaid rate-limited the call (${error.errorCode}); it did not run`;
    return `Plaid advises retrying ${error.errorCode} with backoff`;
  }
  // A rate-limit code we do not know yet: still a rejection before any work was done.
  if (error.errorType === 'RATE_LIMIT_EXCEEDED') return `Plaid rate-limited the call (${error.errorCode}); it did not run`;
  return null;
}

function refusalReason(error: PlaidClientError): string {
  if (error instanceof PlaidTransportError) {
    return error.mayHaveRun
      ? 'the refresh may have run at Plaid; re-sending could bill it twice'
      : 'transport failure not known to be safe to re-send';
  }
  if (error instanceof PlaidResponseError) {
    const known = catalogueEntry(error.errorCode);
    if (!known) return `${error.errorCode} is not a code known to be safe to retry`;
    return `${error.errorCode} is ${known.retry}: sending it again changes nothing`;
  }
  return 'not a Plaid error';
}

export function decideRetry(input: RetryInput): RetryDecision {
  const { error, attempt, elapsedMs, policy } = input;
  const because = retryableBecause(error, input.readOnly ?? false);
  if (because === null) return { retry: false, reason: refusalReason(error) };
  if (attempt >= policy.maxAttempts) {
    return { retry: false, reason: `${because}, but all ${policy.maxAttempts} attempts are used` };
  }
  // Capped exponential backoff with full jitter; a Retry-After from Plaid is a floor.
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1));
  const delayMs = Math.max(Math.round(input.random * ceiling), input.retryAfterMs ?? 0);
  if (elapsedMs + delayMs > policy.maxElapsedMs) {
    return { retry: false, reason: `${because}, but waiting ${delayMs} ms would pass the ${policy.maxElapsedMs} ms budget` };
  }
  return { retry: true, delayMs, reason: because };
}
