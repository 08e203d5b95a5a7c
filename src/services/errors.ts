/**
 * Errors of this layer (not Plaid's). Services throw them; the GraphQL layer shows them as union
 * members. None of them carries an access token or anything else a frontend must not see.
 */
import type { Advice } from './next-action.js';

/** Base of this layer's errors: each says what the frontend should do next. */
export abstract class ServiceError extends Error {
  abstract readonly advice: Advice;
}

/** Raised when an input is out of range or malformed; nothing was sent to Plaid. */
export class InputValidationError extends ServiceError {
  readonly advice: Advice = { nextAction: 'FIX_REQUEST', retryAfterSeconds: null };
  constructor(
    readonly field: string,
    readonly reason: string,
  ) {
    super(`${field}: ${reason}`);
  }
}

/**
 * Raised when the Item does not exist or belongs to another viewer: the same answer for both,
 * so Item ids cannot be probed.
 */
export class ItemNotFoundError extends ServiceError {
  readonly advice: Advice = { nextAction: 'FIX_REQUEST', retryAfterSeconds: null };
  constructor(readonly itemId: string) {
    super('no Item with this id is linked for you');
  }
}

/** Raised when the viewer has no Plaid user, so there is no bundle to refresh. */
export class NoPlaidUserError extends ServiceError {
  readonly advice: Advice = { nextAction: 'NOT_SUPPORTED', retryAfterSeconds: null };
  constructor() {
    super('you have no Plaid user; link an Item through a Plaid user first');
  }
}

export type UnavailableReason = 'TIMEOUT' | 'CONNECTION_FAILED' | 'CONNECTION_RESET' | 'BAD_RESPONSE';

/** Raised when Plaid could not be reached or gave no usable answer. Says whether the refresh may have run. */
export class PlaidUnavailableError extends ServiceError {
  readonly advice: Advice;
  constructor(
    readonly reason: UnavailableReason,
    readonly mayHaveRun: boolean,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    // If it may have run, the data may already be fresh: wait out a full minute before asking again.
    this.advice = { nextAction: 'RETRY_LATER', retryAfterSeconds: mayHaveRun ? 60 : 5 };
  }
}

export type ThrottleScope = 'ITEM' | 'USER' | 'CLIENT';

/**
 * Raised before calling Plaid when the refresh would pass a Plaid limit (per Item, per user or per
 * client and minute): nothing was sent, nothing billed. `retryAfterSeconds` says when it fits.
 */
export class RefreshThrottledError extends ServiceError {
  readonly advice: Advice;
  constructor(
    readonly scope: ThrottleScope,
    readonly retryAfterSeconds: number,
  ) {
    super(`refresh limit reached (${scope.toLowerCase()}); try again in ${retryAfterSeconds} s`);
    this.advice = { nextAction: 'RETRY_LATER', retryAfterSeconds };
  }
}
