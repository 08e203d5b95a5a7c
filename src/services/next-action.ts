/**
 * What a frontend should do after an error, derived from our catalogue's retry classes
 * (src/plaid/error-catalogue.ts), with the few codes where the frontend's view differs from Plaid's.
 */
import { catalogueEntry, type RetryClass } from '../plaid/error-catalogue.js';

export const NEXT_ACTIONS = [
  /** Try again later; `retryAfterSeconds` says when, where known. */
  'RETRY_LATER',
  /** Send the user through Plaid Link in update mode to repair the connection. */
  'UPDATE_LOGIN_WITH_LINK',
  /** The connection is gone for good: the user must link the account again (a new Item). */
  'RELINK_ITEM',
  /** The request the frontend sent was wrong; fix it (see the error's field and reason). */
  'FIX_REQUEST',
  /** Nothing the user can do will make this work for this Item; hide the action. */
  'NOT_SUPPORTED',
  /** A problem on our side (configuration, Plaid account); show a support contact. */
  'CONTACT_SUPPORT',
] as const;
export type NextAction = (typeof NEXT_ACTIONS)[number];

export interface Advice {
  readonly nextAction: NextAction;
  readonly retryAfterSeconds: number | null;
}

/** Plaid's retry class -> the frontend's next step. 'fix-request' from Plaid is our request, not the user's. */
const BY_RETRY_CLASS: Readonly<Record<RetryClass, NextAction>> = {
  backoff: 'RETRY_LATER',
  'user-action': 'UPDATE_LOGIN_WITH_LINK',
  'fix-request': 'CONTACT_SUPPORT',
  'fix-config': 'CONTACT_SUPPORT',
  no: 'NOT_SUPPORTED',
};

/** Codes where the frontend's next step is not the one their class suggests. */
const OVERRIDES: Readonly<Record<string, NextAction>> = {
  // The stored token no longer works or the user revoked access: only a new Item helps.
  INVALID_ACCESS_TOKEN: 'RELINK_ITEM',
  USER_PERMISSION_REVOKED: 'RELINK_ITEM',
  ITEM_NOT_FOUND: 'RELINK_ITEM',
  ITEM_CONCURRENTLY_DELETED: 'RELINK_ITEM',
  INSTITUTION_NO_LONGER_SUPPORTED: 'NOT_SUPPORTED',
};

/** Plaid's rate limits are per-minute windows; the full window is the safe wait. */
const RATE_LIMIT_WINDOW_SECONDS = 60;

/** Unknown codes (Plaid adds them without notice) are judged by their type. */
const BY_UNKNOWN_TYPE: Readonly<Record<string, NextAction>> = {
  RATE_LIMIT_EXCEEDED: 'RETRY_LATER',
  API_ERROR: 'RETRY_LATER',
  INSTITUTION_ERROR: 'RETRY_LATER',
};

export function adviceForPlaidError(errorType: string, errorCode: string): Advice {
  const known = catalogueEntry(errorCode);
  const nextAction = OVERRIDES[errorCode] ?? (known ? BY_RETRY_CLASS[known.retry] : (BY_UNKNOWN_TYPE[errorType] ?? 'CONTACT_SUPPORT'));
  const rateLimited = (known?.errorType ?? errorType) === 'RATE_LIMIT_EXCEEDED' && nextAction === 'RETRY_LATER';
  return { nextAction, retryAfterSeconds: rateLimited ? RATE_LIMIT_WINDOW_SECONDS : null };
}
