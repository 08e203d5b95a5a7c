import { describe, expect, it } from 'vitest';
import {
  PlaidApiError,
  PlaidInstitutionError,
  PlaidInvalidInputError,
  PlaidInvalidRequestError,
  PlaidInvalidResultError,
  PlaidItemError,
  PlaidMalformedResponseError,
  PlaidOAuthError,
  PlaidRateLimitExceededError,
  PlaidResponseError,
  PlaidUnknownTypeError,
  PlaidUserError,
  plaidErrorFromResponse,
} from '../../src/plaid/errors.js';

const body = (errorType: string, errorCode: string, extra: Record<string, unknown> = {}) => ({
  error_type: errorType,
  error_code: errorCode,
  error_message: `message for ${errorCode}`,
  display_message: null,
  request_id: 'req123',
  ...extra,
});

describe('plaidErrorFromResponse: status and body -> class', () => {
  it.each([
    [400, 'ITEM_ERROR', 'ITEM_LOGIN_REQUIRED', PlaidItemError],
    [400, 'INVALID_REQUEST', 'MISSING_FIELDS', PlaidInvalidRequestError],
    [400, 'INVALID_INPUT', 'INVALID_ACCESS_TOKEN', PlaidInvalidInputError],
    [400, 'INVALID_RESULT', 'PLAID_DIRECT_ITEM_IMPORT_RETURNED_INVALID_MFA', PlaidInvalidResultError],
    [400, 'INSTITUTION_ERROR', 'INSTITUTION_DOWN', PlaidInstitutionError],
    [429, 'RATE_LIMIT_EXCEEDED', 'TRANSACTIONS_REFRESH_LIMIT', PlaidRateLimitExceededError],
    [500, 'API_ERROR', 'INTERNAL_SERVER_ERROR', PlaidApiError],
    [503, 'API_ERROR', 'PLANNED_MAINTENANCE', PlaidApiError],
    [400, 'OAUTH_ERROR', 'INCORRECT_OAUTH_NONCE', PlaidOAuthError],
    [400, 'USER_ERROR', 'USER_NOT_FOUND', PlaidUserError],
    [400, 'CASHFLOW_MAGIC_ERROR', 'SOMETHING_NEW', PlaidUnknownTypeError],
    [400, 'ASSET_REPORT_ERROR', 'PRODUCT_NOT_READY', PlaidUnknownTypeError],
  ])('%i %s/%s -> %o', (status, type, code, Class) => {
    const error = plaidErrorFromResponse(status, body(type, code));
    expect(error).toBeInstanceOf(Class);
    expect(error).toBeInstanceOf(PlaidResponseError);
    const e = error as PlaidResponseError;
    expect(e.status).toBe(status);
    expect(e.errorType).toBe(type);
    expect(e.errorCode).toBe(code);
    expect(e.name).toBe(Class.name);
  });

  it('keeps every field Plaid sends, unknown ones in raw', () => {
    const error = plaidErrorFromResponse(
      400,
      body('ITEM_ERROR', 'ITEM_LOGIN_REQUIRED', {
        error_code_reason: 'OAUTH_CONSENT_EXPIRED',
        display_message: 'Please sign in again',
        causes: [{ item_id: 'abc' }],
        documentation_url: 'https://plaid.com/docs/errors/item/#item_login_required',
        suggested_action: 'Launch update mode',
        required_account_subtypes: ['checking'],
        provided_account_subtypes: ['savings'],
        brand_new_field: { nested: true },
      }),
    ) as PlaidItemError;
    expect(error).toMatchObject({
      errorCodeReason: 'OAUTH_CONSENT_EXPIRED',
      errorMessage: 'message for ITEM_LOGIN_REQUIRED',
      displayMessage: 'Please sign in again',
      requestId: 'req123',
      causes: [{ item_id: 'abc' }],
      documentationUrl: 'https://plaid.com/docs/errors/item/#item_login_required',
      suggestedAction: 'Launch update mode',
      requiredAccountSubtypes: ['checking'],
      providedAccountSubtypes: ['savings'],
    });
    expect(error.raw.brand_new_field).toEqual({ nested: true });
  });

  it('defaults the nullable fields Plaid sometimes leaves out', () => {
    const error = plaidErrorFromResponse(400, { error_type: 'ITEM_ERROR', error_code: 'NO_ACCOUNTS' }) as PlaidItemError;
    expect(error).toBeInstanceOf(PlaidItemError);
    expect(error).toMatchObject({ errorMessage: '', displayMessage: null, requestId: null, causes: [], suggestedAction: null });
  });

  it.each([
    ['an empty object', {}],
    ['an array', [1, 2]],
    ['a string', 'oops'],
    ['null', null],
    ['error_type of the wrong type', { error_type: 7, error_code: 'X', error_message: '', display_message: null }],
  ])('%s is a malformed response, not a crash', (_label, raw) => {
    const error = plaidErrorFromResponse(502, raw);
    expect(error).toBeInstanceOf(PlaidMalformedResponseError);
    expect((error as PlaidMalformedResponseError).mayHaveRun).toBe(true);
  });
});
