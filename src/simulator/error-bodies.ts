/**
 * Builds Plaid error objects as Plaid sends them: the spec's required fields, `request_id`,
 * `documentation_url` and `suggested_action`, with Plaid-like messages (never matched on by clients).
 */
import { PLAID_ERRORS } from './plaid-errors.js';

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

const SUGGESTED_ACTIONS: Readonly<Record<string, string>> = {
  ITEM_LOGIN_REQUIRED: 'Launch Link in update mode to have the user sign in again.',
  INSTITUTION_DOWN: 'Retry later with backoff; the institution is temporarily unavailable.',
  INTERNAL_SERVER_ERROR: 'Retry the request.',
};

/** Plaid's page for an error: plaid.com/docs/errors/<type without _ERROR>/#<code>. */
function documentationUrl(errorType: string, errorCode: string): string {
  const page = errorType
    .toLowerCase()
    .replace(/_error$/, '')
    .replaceAll('_', '-');
  return `https://plaid.com/docs/errors/${page}/#${errorCode.toLowerCase()}`;
}

/** A Plaid error for `errorCode`, with type, status and messages as Plaid has them (or the given ones). */
export function plaidError(
  errorCode: string,
  requestId: string,
  overrides: Partial<SimErrorBody> & { http_status?: number } = {},
): SimError {
  const [knownType, knownStatus, message, display] = PLAID_ERRORS[errorCode] ?? [undefined, undefined, undefined, undefined];
  const errorType = overrides.error_type ?? knownType ?? 'API_ERROR';
  const status = overrides.http_status ?? knownStatus ?? 400;
  const { http_status: _ignored, ...fields } = overrides;
  return {
    status,
    body: {
      error_type: errorType,
      error_code: errorCode,
      error_code_reason: null,
      error_message: message ?? errorCode.toLowerCase().replaceAll('_', ' '),
      display_message: display ?? null,
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
