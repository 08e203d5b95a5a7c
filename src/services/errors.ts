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

/**
 * Raised when the viewer has no Plaid user, so there is no bundle to refresh. Linking an Item with
 * the bundle's products through createLinkToken gives the viewer one, with that Item in it.
 */
export class NoPlaidUserError extends ServiceError {
  readonly advice: Advice = { nextAction: 'RELINK_ITEM', retryAfterSeconds: null };
  constructor() {
    super('you have no Plaid user yet: link an Item through createLinkToken (with transactions) and it gets one');
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

export type ThrottleScope = 'ITEM' | 'USER' | 'VIEWER' | 'CLIENT';

/**
 * Raised before calling Plaid when the refresh would pass a limit (per Item or Plaid user, per viewer,
 * per Plaid client and minute): nothing was sent, nothing billed. `retryAfterSeconds` says when it fits.
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

/** Raised before exchanging a public token when the viewer (per hour) or the service (per minute) linked too many Items. */
export class LinkThrottledError extends ServiceError {
  readonly advice: Advice;
  constructor(
    readonly scope: Extract<ThrottleScope, 'VIEWER' | 'CLIENT'>,
    readonly retryAfterSeconds: number,
  ) {
    super(`too many Items linked (${scope.toLowerCase()} limit); try again in ${retryAfterSeconds} s`);
    this.advice = { nextAction: 'RETRY_LATER', retryAfterSeconds };
  }
}

/** Which of this service's own dependencies failed: the vault's database, or Redis (quotas, single flight). */
export type Dependency = 'STORAGE' | 'COORDINATION';

/**
 * Raised when this service's own storage or coordination could not be used in time. `mayHaveRun`:
 * whether Plaid may have done (and billed) the refresh anyway, so a click again could pay twice.
 */
export class DependencyUnavailableError extends ServiceError {
  readonly advice: Advice;
  constructor(
    readonly dependency: Dependency,
    readonly mayHaveRun: boolean,
    options?: ErrorOptions,
  ) {
    const what = dependency === 'STORAGE' ? 'storage' : 'coordination store';
    super(
      `this service's ${what} is unavailable${mayHaveRun ? '; Plaid may have done the work already' : '; nothing was sent to Plaid'}`,
      options,
    );
    this.advice = { nextAction: 'RETRY_LATER', retryAfterSeconds: mayHaveRun ? 60 : 5 };
  }
}

/** What became of an Item whose access token could not be stored. */
export type LinkNotSavedOutcome = 'REMOVED_AT_PLAID' | 'KEPT_FOR_LATER' | 'NOT_KEPT';

/**
 * Raised when the public token was exchanged (the Item exists at Plaid, the public token is spent)
 * but the vault could not store the access token, even after retries.
 */
export class LinkNotSavedError extends ServiceError {
  readonly advice: Advice;
  constructor(
    readonly outcome: LinkNotSavedOutcome,
    options?: ErrorOptions,
  ) {
    super(
      outcome === 'REMOVED_AT_PLAID'
        ? 'the Item could not be stored, so it was removed at Plaid; link it again in a few minutes'
        : outcome === 'KEPT_FOR_LATER'
          ? 'the Item could not be stored yet; it is kept and appears once storage is back'
          : 'the Item could not be stored; link it again in a few minutes',
      options,
    );
    this.advice =
      outcome === 'KEPT_FOR_LATER'
        ? { nextAction: 'RETRY_LATER', retryAfterSeconds: 60 }
        : { nextAction: 'RELINK_ITEM', retryAfterSeconds: 60 };
  }
}
