import { describe, expect, it } from 'vitest';
import { ERROR_CATALOGUE } from '../../src/plaid/error-catalogue.js';
import { NoPlaidUserError } from '../../src/services/errors.js';
import { NEXT_ACTION_DESCRIPTIONS, NEXT_ACTIONS, adviceForPlaidError, needsLink } from '../../src/services/next-action.js';

describe('adviceForPlaidError: Plaid code -> what the frontend does next', () => {
  it.each([
    ['ITEM_ERROR', 'ITEM_LOGIN_REQUIRED', 'UPDATE_LOGIN_WITH_LINK', null],
    ['ITEM_ERROR', 'PASSWORD_RESET_REQUIRED', 'UPDATE_LOGIN_WITH_LINK', null],
    ['INVALID_INPUT', 'ADDITIONAL_CONSENT_REQUIRED', 'UPDATE_LOGIN_WITH_LINK', null],
    ['INVALID_INPUT', 'USER_PERMISSION_REVOKED', 'RELINK_ITEM', null],
    ['INVALID_INPUT', 'INVALID_ACCESS_TOKEN', 'RELINK_ITEM', null],
    ['INVALID_INPUT', 'INVALID_PUBLIC_TOKEN', 'RELINK_ITEM', null],
    ['ITEM_ERROR', 'ITEM_NOT_FOUND', 'RELINK_ITEM', null],
    ['ITEM_ERROR', 'PRODUCTS_NOT_SUPPORTED', 'NOT_SUPPORTED', null],
    ['ITEM_ERROR', 'PRODUCT_NOT_ENABLED', 'NOT_SUPPORTED', null],
    ['INSTITUTION_ERROR', 'INSTITUTION_DOWN', 'RETRY_LATER', null],
    ['INSTITUTION_ERROR', 'INSTITUTION_NO_LONGER_SUPPORTED', 'NOT_SUPPORTED', null],
    ['API_ERROR', 'INTERNAL_SERVER_ERROR', 'RETRY_LATER', null],
    ['API_ERROR', 'PLANNED_MAINTENANCE', 'RETRY_LATER', null],
    ['RATE_LIMIT_EXCEEDED', 'TRANSACTIONS_REFRESH_LIMIT', 'RETRY_LATER', 60],
    ['RATE_LIMIT_EXCEEDED', 'RATE_LIMIT', 'RETRY_LATER', 60],
    ['RATE_LIMIT_EXCEEDED', 'CREDITS_EXHAUSTED', 'CONTACT_SUPPORT', null],
    ['INVALID_INPUT', 'INVALID_API_KEYS', 'CONTACT_SUPPORT', null],
    ['INVALID_INPUT', 'INVALID_PRODUCT', 'CONTACT_SUPPORT', null],
    ['INVALID_REQUEST', 'MISSING_FIELDS', 'CONTACT_SUPPORT', null],
    ['USER_ERROR', 'USER_NOT_FOUND', 'CONTACT_SUPPORT', null],
    ['RATE_LIMIT_EXCEEDED', 'SOME_NEW_LIMIT', 'RETRY_LATER', 60],
    ['API_ERROR', 'SOME_NEW_OUTAGE', 'RETRY_LATER', null],
    ['SHINY_NEW_ERROR', 'SOME_NEW_CODE', 'CONTACT_SUPPORT', null],
  ])('%s/%s -> %s (retry after %s)', (type, code, nextAction, retryAfterSeconds) => {
    expect(adviceForPlaidError(type, code)).toEqual({ nextAction, retryAfterSeconds });
  });

  it('gives every catalogue code a known action', () => {
    for (const [code, entry] of Object.entries(ERROR_CATALOGUE)) {
      expect(NEXT_ACTIONS).toContain(adviceForPlaidError(entry.errorType, code).nextAction);
    }
  });
});

describe('every nextAction is something the API lets a frontend do', () => {
  it('each value says which mutation it leads to, or that none does', () => {
    for (const action of NEXT_ACTIONS) expect(NEXT_ACTION_DESCRIPTIONS[action].length, action).toBeGreaterThan(40);
    expect(NEXT_ACTION_DESCRIPTIONS.UPDATE_LOGIN_WITH_LINK).toMatch(/createLinkToken\(itemId:\)/);
    expect(NEXT_ACTION_DESCRIPTIONS.RELINK_ITEM).toMatch(/createLinkToken.*linkItem.*unlinkItem/s);
    expect(NEXT_ACTION_DESCRIPTIONS.RETRY_LATER).toMatch(/retryAfterSeconds/);
  });

  it('a viewer without a Plaid user is sent to Link, which gives it one', () => {
    expect(new NoPlaidUserError().advice.nextAction).toBe('RELINK_ITEM');
  });

  it("only errors whose next step is Plaid Link count against an Item's health", () => {
    expect(needsLink(adviceForPlaidError('ITEM_ERROR', 'ITEM_LOGIN_REQUIRED'))).toBe(true);
    expect(needsLink(adviceForPlaidError('INVALID_INPUT', 'USER_PERMISSION_REVOKED'))).toBe(true);
    expect(needsLink(adviceForPlaidError('INSTITUTION_ERROR', 'INSTITUTION_DOWN'))).toBe(false);
    expect(needsLink(adviceForPlaidError('ITEM_ERROR', 'PRODUCT_NOT_ENABLED'))).toBe(false);
    expect(needsLink(adviceForPlaidError('RATE_LIMIT_EXCEEDED', 'TRANSACTIONS_REFRESH_LIMIT'))).toBe(false);
    expect(needsLink(adviceForPlaidError('INVALID_INPUT', 'INVALID_PRODUCT'))).toBe(false);
  });
});
