/**
 * Errors as data. Every error type implements `BaseError` (message, nextAction, retryAfterSeconds);
 * the ones Plaid sent also implement `PlaidError`, with every field Plaid sends, and come as one
 * object type per Plaid `error_type` plus `PlaidUnknownError` for types Plaid adds later.
 */
import {
  ERROR_CLASS_BY_TYPE,
  PlaidApiError,
  PlaidInstitutionError,
  PlaidInvalidInputError,
  PlaidInvalidRequestError,
  PlaidInvalidResultError,
  PlaidItemError,
  PlaidOAuthError,
  PlaidRateLimitExceededError,
  PlaidUnknownTypeError,
  PlaidUserError,
  type PlaidErrorData,
} from '../plaid/errors.js';
import {
  DependencyUnavailableError,
  InputValidationError,
  ItemNotFoundError,
  LinkNotSavedError,
  LinkThrottledError,
  NoPlaidUserError,
  PlaidUnavailableError,
  RefreshThrottledError,
  type ServiceError,
} from '../services/errors.js';
import { adviceForPlaidError, NEXT_ACTION_DESCRIPTIONS, NEXT_ACTIONS, type Advice } from '../services/next-action.js';
import { builder } from './builder.js';

export const NextActionEnum = builder.enumType('NextAction', {
  description: 'What the frontend should do next about an error; each value names the mutations it leads to.',
  values: Object.fromEntries(NEXT_ACTIONS.map((value) => [value, { value, description: NEXT_ACTION_DESCRIPTIONS[value] }])) as Record<
    (typeof NEXT_ACTIONS)[number],
    { value: (typeof NEXT_ACTIONS)[number]; description: string }
  >,
});

/** What every error this schema shows has: a thrown error of ours or Plaid's, or a bundle's per-Item error (data). */
type ShownError = { readonly message: string } & Partial<Pick<ServiceError, 'advice'> & Pick<PlaidErrorData, 'errorType' | 'errorCode'>>;

/** Advice for any error this schema shows: our errors carry it, Plaid's are looked up by code. */
export function adviceFor(error: ShownError): Advice {
  if (error.advice) return error.advice;
  if (error.errorType !== undefined && error.errorCode !== undefined) return adviceForPlaidError(error.errorType, error.errorCode);
  return { nextAction: 'CONTACT_SUPPORT', retryAfterSeconds: null };
}

/** Advice for a Plaid error carried as data (an Item error event); none known: contact support. */
export function adviceForData(error: PlaidErrorData | null): Advice {
  return error ? adviceFor(error) : { nextAction: 'CONTACT_SUPPORT', retryAfterSeconds: null };
}

export const BaseErrorInterface = builder.interfaceRef<ShownError>('BaseError').implement({
  description: 'Fields every error in this API has. Select them once with `... on BaseError`.',
  fields: (t) => ({
    message: t.exposeString('message', { description: 'For developers and logs; not meant for end users.' }),
    nextAction: t.field({ type: NextActionEnum, resolve: (error) => adviceFor(error).nextAction }),
    retryAfterSeconds: t.int({
      nullable: true,
      description: 'When retrying makes sense, how long to wait first, where known.',
      resolve: (error) => adviceFor(error).retryAfterSeconds,
    }),
  }),
});

export const PlaidErrorInterface = builder.interfaceRef<PlaidErrorData>('PlaidError').implement({
  description:
    "An error Plaid answered with, carrying every field of Plaid's error object. Plaid's text is scrubbed: Plaid tokens, JWTs, bearer credentials and this service's secrets read `[REDACTED]` in every string, `causes` included.",
  interfaces: [BaseErrorInterface],
  // A per-Item error of the bundle is data: its type follows from Plaid's error_type.
  resolveType: (error) => typeNameOf(error.errorType),
  fields: (t) => ({
    errorType: t.exposeString('errorType', { description: 'Plaid `error_type`; safe for programmatic use.' }),
    errorCode: t.exposeString('errorCode', { description: 'Plaid `error_code`; safe for programmatic use.' }),
    errorCodeReason: t.exposeString('errorCodeReason', { nullable: true, description: 'Plaid `error_code_reason` (OAuth Item errors).' }),
    errorMessage: t.exposeString('errorMessage', { description: 'Plaid `error_message`, for developers.' }),
    displayMessage: t.exposeString('displayMessage', {
      nullable: true,
      description: 'Plaid `display_message`: safe to show to the end user.',
    }),
    requestId: t.exposeString('requestId', { nullable: true, description: 'Plaid `request_id`, for Plaid support.' }),
    documentationUrl: t.exposeString('documentationUrl', { nullable: true }),
    suggestedAction: t.exposeString('suggestedAction', { nullable: true }),
    causes: t.field({
      type: ['JSON'],
      description: 'Plaid `causes` (for requests over many Items, the per-Item errors), as Plaid sent them with every string scrubbed.',
      resolve: (error) => [...error.causes],
    }),
    status: t.exposeInt('status', { nullable: true, description: 'HTTP status Plaid answered with.' }),
  }),
});

const PLAID_ERROR_TYPES = [
  [PlaidItemError, 'PlaidItemError', 'ITEM_ERROR: the Item cannot be refreshed as it is (login required, product missing...).'],
  [PlaidInvalidRequestError, 'PlaidInvalidRequestError', 'INVALID_REQUEST: Plaid rejected the request this service sent.'],
  [PlaidInvalidInputError, 'PlaidInvalidInputError', 'INVALID_INPUT: a value was wrong (keys, access token, product access).'],
  [PlaidInvalidResultError, 'PlaidInvalidResultError', 'INVALID_RESULT: Plaid could not produce a valid result.'],
  [PlaidInstitutionError, 'PlaidInstitutionError', 'INSTITUTION_ERROR: the bank is down, not responding or unsupported.'],
  [PlaidRateLimitExceededError, 'PlaidRateLimitExceededError', 'RATE_LIMIT_EXCEEDED: a Plaid rate limit was hit.'],
  [PlaidApiError, 'PlaidApiError', 'API_ERROR: a fault on Plaid’s side.'],
  [PlaidOAuthError, 'PlaidOAuthError', 'OAUTH_ERROR: the OAuth institution rejected the connection.'],
  [PlaidUserError, 'PlaidUserError', 'USER_ERROR: the Plaid user is unknown or invalid.'],
  [PlaidUnknownTypeError, 'PlaidUnknownError', 'An `error_type` this API does not know yet; see `errorType`.'],
] as const;

for (const [Class, name, description] of PLAID_ERROR_TYPES) {
  builder.objectType(Class, { name, description, interfaces: [BaseErrorInterface, PlaidErrorInterface], fields: () => ({}) });
}

/** The GraphQL type of a Plaid error by its `error_type` (PlaidUnknownError for types Plaid adds later). */
function typeNameOf(errorType: string): string {
  const Class = Object.hasOwn(ERROR_CLASS_BY_TYPE, errorType) ? ERROR_CLASS_BY_TYPE[errorType] : undefined;
  return PLAID_ERROR_TYPES.find(([known]) => known === Class)?.[1] ?? 'PlaidUnknownError';
}

/**
 * Union members are given as the error classes, not their type refs: that is how the errors
 * plugin knows to catch them and show them as data.
 */
export const PLAID_ERROR_CLASSES = PLAID_ERROR_TYPES.map(([Class]) => Class);

builder.objectType(InputValidationError, {
  name: 'InputValidationError',
  description: 'An argument was out of range or malformed; nothing was sent to Plaid.',
  interfaces: [BaseErrorInterface],
  fields: (t) => ({
    field: t.exposeString('field', { description: 'The argument that was wrong.' }),
    reason: t.exposeString('reason'),
  }),
});

builder.objectType(ItemNotFoundError, {
  name: 'ItemNotFoundError',
  description:
    'No Item with this id is linked for the caller (unknown, unlinked already, or someone else’s: the same answer). Reload `viewer.items`.',
  interfaces: [BaseErrorInterface],
  fields: (t) => ({ itemId: t.exposeID('itemId') }),
});

builder.objectType(NoPlaidUserError, {
  name: 'NoPlaidUserError',
  description:
    'The caller has no Plaid user, so there is no bundle of Items to refresh. Linking an Item with `transactions` through `createLinkToken` gives the caller one, with that Item in its bundle.',
  interfaces: [BaseErrorInterface],
  fields: () => ({}),
});

export const UnavailableReasonEnum = builder.enumType('PlaidUnavailableReason', {
  values: ['TIMEOUT', 'CONNECTION_FAILED', 'CONNECTION_RESET', 'BAD_RESPONSE'] as const,
});

builder.objectType(PlaidUnavailableError, {
  name: 'PlaidUnavailableError',
  description: 'Plaid could not be reached or gave no usable answer.',
  interfaces: [BaseErrorInterface],
  fields: (t) => ({
    kind: t.field({ type: UnavailableReasonEnum, description: 'What went wrong on the way to Plaid.', resolve: (error) => error.reason }),
    mayHaveRun: t.exposeBoolean('mayHaveRun', {
      description: 'True when Plaid may have done the refresh (and billed it): do not simply click again.',
    }),
  }),
});

const ThrottleScopeEnum = builder.enumType('ThrottleScope', {
  values: {
    ITEM: { description: "This Item's limit (Plaid's own, per Item and minute)." },
    USER: { description: "This Plaid user's limit (the bundle refresh)." },
    VIEWER: { description: 'Your own share of the Plaid budget, so one viewer cannot use up everyone’s.' },
    CLIENT: { description: "The whole Plaid client's limit, shared by every viewer." },
  } as const,
});

builder.objectType(RefreshThrottledError, {
  name: 'RefreshThrottledError',
  description: 'The refresh would pass a limit, so it was not sent (nor billed). Wait `retryAfterSeconds`.',
  interfaces: [BaseErrorInterface],
  fields: (t) => ({
    scope: t.field({ type: ThrottleScopeEnum, description: 'Which limit was reached.', resolve: (error) => error.scope }),
  }),
});

builder.objectType(LinkThrottledError, {
  name: 'LinkThrottledError',
  description:
    'Too many Link operations: Items linked (`linkItem`) or Link sessions opened (`createLinkToken`), by you in the last hour or by everyone in the last minute. Nothing was sent to Plaid.',
  interfaces: [BaseErrorInterface],
  fields: (t) => ({
    scope: t.field({ type: ThrottleScopeEnum, description: 'VIEWER or CLIENT.', resolve: (error) => error.scope }),
  }),
});

builder.objectType(DependencyUnavailableError, {
  name: 'DependencyUnavailableError',
  description:
    "This service's own storage or coordination store could not be used in time. Not Plaid's fault and not yours: retry after `retryAfterSeconds`.",
  interfaces: [BaseErrorInterface],
  fields: (t) => ({
    dependency: t.field({
      type: builder.enumType('Dependency', {
        values: {
          STORAGE: { description: 'The vault database (linked Items, access tokens, refresh records).' },
          COORDINATION: { description: 'Redis: the per-minute quotas and single flight shared by the replicas.' },
        } as const,
      }),
      resolve: (error) => error.dependency,
    }),
    mayHaveRun: t.exposeBoolean('mayHaveRun', {
      description: 'True when Plaid may have done (and billed) the refresh anyway: do not simply click again.',
    }),
  }),
});

builder.objectType(LinkNotSavedError, {
  name: 'LinkNotSavedError',
  description: "Plaid linked the Item, but this service's storage could not keep it; `outcome` says what became of it.",
  interfaces: [BaseErrorInterface],
  fields: (t) => ({
    outcome: t.field({
      type: builder.enumType('LinkNotSavedOutcome', {
        values: {
          REMOVED_AT_PLAID: { description: 'The Item was removed at Plaid (nothing is billed for it): link it again later.' },
          KEPT_FOR_LATER: { description: 'The Item is kept on this server and appears in `viewer.items` once storage is back.' },
          NOT_KEPT: { description: 'The Item could be neither stored nor removed: link it again later; support has the log line.' },
        } as const,
      }),
      resolve: (error) => error.outcome,
    }),
  }),
});

/** Members every refresh union has besides its success type. */
export const REFRESH_ERROR_CLASSES = [
  ...PLAID_ERROR_CLASSES,
  ItemNotFoundError,
  InputValidationError,
  PlaidUnavailableError,
  RefreshThrottledError,
  DependencyUnavailableError,
] as const;
