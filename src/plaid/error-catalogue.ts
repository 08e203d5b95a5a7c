/**
 * Our table of the Plaid error codes that matter to the refresh endpoints: the error_type Plaid
 * files each under, the HTTP status Plaid answers it with, and what a caller should do about it.
 *
 * Written from Plaid's error docs (plaid.com/docs/errors/*); test/unit/error-catalogue.test.ts
 * checks it against the research catalogue in ../shared/plaid/plaid-errors.json.
 * Codes that are not here still parse (Plaid adds codes without notice); they just get no hint.
 */

/** What the caller should do about an error, as Plaid's docs advise it. */
export type RetryClass =
  /** Wait and try again: Plaid, the institution or a rate limit says so. */
  | 'backoff'
  /** The end user must act (Link update mode, or something at their bank). */
  | 'user-action'
  /** The request itself is wrong; sending it again changes nothing. */
  | 'fix-request'
  /** Our Plaid account or configuration is wrong (keys, product access, billing). */
  | 'fix-config'
  /** Permanent for this Item or product. */
  | 'no';

export interface CatalogueEntry {
  readonly errorType: string;
  readonly status: number;
  readonly retry: RetryClass;
}

const entry = (errorType: string, status: number, retry: RetryClass): CatalogueEntry => ({
  errorType,
  status,
  retry,
});

export const ERROR_CATALOGUE: Readonly<Record<string, CatalogueEntry>> = Object.freeze({
  // ITEM_ERROR
  ITEM_LOGIN_REQUIRED: entry('ITEM_ERROR', 400, 'user-action'),
  PRODUCTS_NOT_SUPPORTED: entry('ITEM_ERROR', 400, 'no'),
  PRODUCT_NOT_ENABLED: entry('ITEM_ERROR', 400, 'no'),
  PRODUCT_NOT_READY: entry('ITEM_ERROR', 400, 'backoff'),
  NO_ACCOUNTS: entry('ITEM_ERROR', 400, 'user-action'),
  ACCESS_NOT_GRANTED: entry('ITEM_ERROR', 400, 'user-action'),
  ITEM_NOT_FOUND: entry('ITEM_ERROR', 400, 'no'),
  ITEM_CONCURRENTLY_DELETED: entry('ITEM_ERROR', 400, 'no'),
  ITEM_LOCKED: entry('ITEM_ERROR', 400, 'user-action'),
  ITEM_NOT_SUPPORTED: entry('ITEM_ERROR', 400, 'no'),
  MFA_NOT_SUPPORTED: entry('ITEM_ERROR', 400, 'user-action'),
  PASSWORD_RESET_REQUIRED: entry('ITEM_ERROR', 400, 'user-action'),
  USER_SETUP_REQUIRED: entry('ITEM_ERROR', 400, 'user-action'),
  NO_INVESTMENT_ACCOUNTS: entry('ITEM_ERROR', 400, 'no'),
  NO_LIABILITY_ACCOUNTS: entry('ITEM_ERROR', 400, 'no'),
  // INSTITUTION_ERROR: Plaid answers these with 400, not 5xx.
  INSTITUTION_DOWN: entry('INSTITUTION_ERROR', 400, 'backoff'),
  INSTITUTION_NOT_RESPONDING: entry('INSTITUTION_ERROR', 400, 'backoff'),
  INSTITUTION_NOT_AVAILABLE: entry('INSTITUTION_ERROR', 400, 'backoff'),
  INSTITUTION_NO_LONGER_SUPPORTED: entry('INSTITUTION_ERROR', 400, 'no'),
  UNSUPPORTED_RESPONSE: entry('INSTITUTION_ERROR', 400, 'no'),
  // API_ERROR
  INTERNAL_SERVER_ERROR: entry('API_ERROR', 500, 'backoff'),
  PLANNED_MAINTENANCE: entry('API_ERROR', 503, 'backoff'),
  // INVALID_REQUEST
  MISSING_FIELDS: entry('INVALID_REQUEST', 400, 'fix-request'),
  UNKNOWN_FIELDS: entry('INVALID_REQUEST', 400, 'fix-request'),
  INVALID_FIELD: entry('INVALID_REQUEST', 400, 'fix-request'),
  INVALID_BODY: entry('INVALID_REQUEST', 400, 'fix-request'),
  INVALID_HEADERS: entry('INVALID_REQUEST', 400, 'fix-request'),
  INCOMPATIBLE_API_VERSION: entry('INVALID_REQUEST', 400, 'fix-request'),
  NOT_FOUND: entry('INVALID_REQUEST', 404, 'fix-request'),
  // INVALID_INPUT
  INVALID_API_KEYS: entry('INVALID_INPUT', 400, 'fix-config'),
  INVALID_ACCESS_TOKEN: entry('INVALID_INPUT', 400, 'fix-request'),
  INVALID_PRODUCT: entry('INVALID_INPUT', 400, 'fix-config'),
  UNAUTHORIZED_ROUTE_ACCESS: entry('INVALID_INPUT', 400, 'fix-config'),
  UNAUTHORIZED_ENVIRONMENT: entry('INVALID_INPUT', 400, 'fix-config'),
  ADDITIONAL_CONSENT_REQUIRED: entry('INVALID_INPUT', 400, 'user-action'),
  USER_PERMISSION_REVOKED: entry('INVALID_INPUT', 400, 'user-action'),
  INVALID_USER_ID: entry('INVALID_INPUT', 400, 'fix-request'),
  INVALID_PUBLIC_TOKEN: entry('INVALID_INPUT', 400, 'no'),
  INVALID_INSTITUTION: entry('INVALID_INPUT', 400, 'no'),
  // USER_ERROR
  USER_NOT_FOUND: entry('USER_ERROR', 400, 'fix-request'),
  // RATE_LIMIT_EXCEEDED: all 429.
  TRANSACTIONS_REFRESH_LIMIT: entry('RATE_LIMIT_EXCEEDED', 429, 'backoff'),
  TRANSACTIONS_LIMIT: entry('RATE_LIMIT_EXCEEDED', 429, 'backoff'),
  INSTITUTION_RATE_LIMIT: entry('RATE_LIMIT_EXCEEDED', 429, 'backoff'),
  RATE_LIMIT: entry('RATE_LIMIT_EXCEEDED', 429, 'backoff'),
  IDENTITY_LIMIT: entry('RATE_LIMIT_EXCEEDED', 429, 'backoff'),
  CREDITS_EXHAUSTED: entry('RATE_LIMIT_EXCEEDED', 429, 'fix-config'),
});

export function catalogueEntry(errorCode: string): CatalogueEntry | undefined {
  return Object.hasOwn(ERROR_CATALOGUE, errorCode) ? ERROR_CATALOGUE[errorCode] : undefined;
}

/** Plaid's docs page for an error, as Plaid links it in `documentation_url`. */
export function documentationUrl(errorType: string, errorCode: string): string {
  const page = errorType
    .toLowerCase()
    .replace(/_error$/, '')
    .replaceAll('_', '-');
  return `https://plaid.com/docs/errors/${page}/#${errorCode.toLowerCase()}`;
}
