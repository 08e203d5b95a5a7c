/**
 * What a frontend should do after an error, derived from our catalogue's retry classes
 * (src/plaid/error-catalogue.ts), with the few codes where the frontend's view differs from Plaid's.
 */
import { catalogueEntry, type RetryClass } from '../plaid/error-catalogue.js';

export const NEXT_ACTIONS = [
  'RETRY_LATER',
  'UPDATE_LOGIN_WITH_LINK',
  'RELINK_ITEM',
  'FIX_REQUEST',
  'NOT_SUPPORTED',
  'CONTACT_SUPPORT',
] as const;
export type NextAction = (typeof NEXT_ACTIONS)[number];

/**
 * What each value asks of the frontend, naming the mutation it leads to: every value is something
 * this API lets a frontend do (the GraphQL enum's descriptions; docs/frontend.md has the same).
 */
export const NEXT_ACTION_DESCRIPTIONS: Readonly<Record<NextAction, string>> = {
  RETRY_LATER: 'Send the same mutation again, after `retryAfterSeconds` where it is given. Nothing else is wrong.',
  UPDATE_LOGIN_WITH_LINK:
    "The Item needs its user at the bank: call `createLinkToken(itemId:)` and open Plaid Link in update mode with the `linkToken`. Once Link succeeds the Item works again: its next refresh succeeds and `PlaidItem.health` turns healthy (pass Link's `public_token` to `linkItem` to mark it healthy at once; no exchange is needed).",
  RELINK_ITEM:
    "Link an Item anew: `createLinkToken` without `itemId`, open Plaid Link with the `linkToken`, then `linkItem(publicToken:)` with Link's `public_token`. When the error is about an existing Item, that Item no longer works: `unlinkItem(itemId:)` it.",
  FIX_REQUEST:
    'The request itself was wrong (a bug in the caller, or an id that is stale): fix the argument the error names; after `ItemNotFoundError`, reload `viewer.items`. Sending it unchanged fails again.',
  NOT_SUPPORTED:
    'This action cannot work for this Item (the bank or the Item does not offer it): hide it for this Item. No mutation changes that.',
  CONTACT_SUPPORT:
    "A problem on this service's side (its Plaid account or configuration): show a support contact, with the error's `requestId` where there is one. The user can do nothing about it.",
};

/** Advice that needs the end user in Plaid Link: what makes an Item unhealthy (`PlaidItem.health`). */
export function needsLink(advice: Advice): boolean {
  return advice.nextAction === 'UPDATE_LOGIN_WITH_LINK' || advice.nextAction === 'RELINK_ITEM';
}

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
  // A public token that is spent, expired or unknown: the user goes through Link once more for a new one.
  INVALID_PUBLIC_TOKEN: 'RELINK_ITEM',
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
