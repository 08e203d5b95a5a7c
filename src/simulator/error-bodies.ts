/**
 * Builds Plaid error objects as Plaid sends them: the spec's required fields, `request_id`,
 * `documentation_url` and `suggested_action`, with Plaid-like messages (never matched on by clients).
 */
import { catalogueEntry, documentationUrl } from '../plaid/error-catalogue.js';

export interface SimErrorBody {
  error_type: string;
  error_code: string;
  error_code_reason: string | null;
  error_message: string;
  display_message: string | null;
  request_id?: string;
  causes?: unknown[];
  status?: number | null;
  documentation_url: string;
  suggested_action: string | null;
}

export interface SimError {
  readonly status: number;
  readonly body: SimErrorBody;
}

const MESSAGES: Readonly<Record<string, { message: string; display?: string }>> = {
  ITEM_LOGIN_REQUIRED: {
    message:
      "the login details of this item have changed (credentials, MFA, or required user action) and a user login is required to update this information. use Link's update mode to restore the item to a good state",
    display: 'Your bank connection needs to be updated. Please sign in to your bank again.',
  },
  PRODUCTS_NOT_SUPPORTED: { message: '' },
  PRODUCT_NOT_ENABLED: { message: 'the requested product is not enabled for this item' },
  INSTITUTION_DOWN: {
    message: 'this institution is not currently responding to this request. please try again soon',
    display: 'This financial institution is not currently responding to requests. We apologize for the inconvenience.',
  },
  INSTITUTION_NOT_RESPONDING: {
    message: 'this institution is not currently responding to this request. please try again soon',
    display: 'This financial institution is not currently responding to requests. We apologize for the inconvenience.',
  },
  INTERNAL_SERVER_ERROR: {
    message: 'an unexpected error occurred',
    display: 'Something went wrong. Please try again later.',
  },
  PLANNED_MAINTENANCE: {
    message: 'the Plaid API is temporarily unavailable due to planned maintenance. visit https://status.plaid.com/ for more information',
    display: 'Plaid is undergoing planned maintenance. Please try again later.',
  },
  TRANSACTIONS_REFRESH_LIMIT: { message: 'rate limit exceeded for attempts to access this item. please try again later' },
  RATE_LIMIT: { message: 'rate limit exceeded for attempts to access this item. please try again later' },
  INSTITUTION_RATE_LIMIT: { message: 'rate limit exceeded for attempts to access this institution. please try again later' },
  INVALID_API_KEYS: { message: 'invalid client_id or secret provided' },
  INVALID_PRODUCT: { message: 'client is not authorized to access the following products: ["transactions_refresh"]' },
  USER_NOT_FOUND: { message: 'the user_id provided does not match any user' },
  INVALID_USER_ID: { message: 'provided user_id is in an invalid format. expected format: usr_<identifier>' },
  INVALID_PUBLIC_TOKEN: { message: 'provided public token is expired. Public tokens expire 30 minutes after creation at which point they can no longer be exchanged' },
  INVALID_INSTITUTION: { message: 'invalid institution_id provided' },
  NOT_FOUND: { message: 'the requested route was not found' },
};

const SUGGESTED_ACTIONS: Readonly<Record<string, string>> = {
  ITEM_LOGIN_REQUIRED: "Launch Link in update mode to have the user sign in again.",
  INSTITUTION_DOWN: 'Retry later with backoff; the institution is temporarily unavailable.',
  INTERNAL_SERVER_ERROR: 'Retry the request.',
};

/** A Plaid error for `errorCode`, with status and type from our catalogue (or the given ones). */
export function plaidError(
  errorCode: string,
  requestId: string,
  overrides: Partial<SimErrorBody> & { http_status?: number } = {},
): SimError {
  const known = catalogueEntry(errorCode);
  const errorType = overrides.error_type ?? known?.errorType ?? 'API_ERROR';
  const status = overrides.http_status ?? known?.status ?? 400;
  const text = MESSAGES[errorCode];
  const { http_status: _ignored, ...fields } = overrides;
  return {
    status,
    body: {
      error_type: errorType,
      error_code: errorCode,
      error_code_reason: null,
      error_message: text?.message ?? errorCode.toLowerCase().replaceAll('_', ' '),
      display_message: text?.display ?? null,
      request_id: requestId,
      documentation_url: documentationUrl(errorType, errorCode),
      suggested_action: SUGGESTED_ACTIONS[errorCode] ?? null,
      ...fields,
    },
  };
}

/** An error as it appears inside `results[]` of /user/financial_data/refresh: with `status`, as in Plaid's example. */
export function resultError(error: SimError): SimErrorBody {
  return { ...error.body, causes: [], status: error.status };
}
