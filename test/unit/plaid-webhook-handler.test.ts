/** What each stored Plaid webhook does to refreshes and Item health, as a table, and the handler's order of steps. */
import { describe, expect, it } from 'vitest';
import type { PlaidErrorData } from '../../src/plaid/errors.js';
import { createPlaidWebhookHandler, expiryOf, healthOf } from '../../src/services/plaid-webhook-handler.js';

const item = { webhook_type: 'ITEM', item_id: 'item_1', environment: 'sandbox' };
const loginRequired = {
  error_type: 'ITEM_ERROR',
  error_code: 'ITEM_LOGIN_REQUIRED',
  error_message: 'the login details of this item have changed',
  display_message: null,
  request_id: 'req_1',
  causes: [],
  status: 400,
  documentation_url: 'https://plaid.com/docs/errors/item/#item_login_required',
  suggested_action: null,
};

describe('healthOf', () => {
  // Expected: 'unchanged' (undefined), 'healthy' (null), or the error code set.
  const cases: [string, Record<string, unknown>, string][] = [
    ['ITEM ERROR with its error', { ...item, webhook_code: 'ERROR', error: loginRequired }, 'ITEM_LOGIN_REQUIRED'],
    ['ITEM ERROR without a parsable error', { ...item, webhook_code: 'ERROR', error: { nonsense: true } }, 'unchanged'],
    [
      'USER_PERMISSION_REVOKED with its error',
      { ...item, webhook_code: 'USER_PERMISSION_REVOKED', error: loginRequired },
      'ITEM_LOGIN_REQUIRED',
    ],
    ['USER_PERMISSION_REVOKED without one', { ...item, webhook_code: 'USER_PERMISSION_REVOKED', error: null }, 'USER_PERMISSION_REVOKED'],
    ['LOGIN_REPAIRED', { ...item, webhook_code: 'LOGIN_REPAIRED' }, 'healthy'],
    ['PENDING_EXPIRATION (an expiry, not an error)', { ...item, webhook_code: 'PENDING_EXPIRATION' }, 'unchanged'],
    ['NEW_ACCOUNTS_AVAILABLE', { ...item, webhook_code: 'NEW_ACCOUNTS_AVAILABLE', error: null }, 'unchanged'],
    ['a transactions webhook', { webhook_type: 'TRANSACTIONS', webhook_code: 'DEFAULT_UPDATE', item_id: 'item_1' }, 'unchanged'],
    ['an ERROR of another type', { webhook_type: 'ASSETS', webhook_code: 'ERROR', error: loginRequired }, 'unchanged'],
  ];
  it.each(cases)('%s', (_name, body, expected) => {
    const health = healthOf(body);
    if (expected === 'unchanged') expect(health).toBeUndefined();
    else if (expected === 'healthy') expect(health).toBeNull();
    else expect(health).toMatchObject({ errorType: 'ITEM_ERROR', errorCode: expected });
  });
});

describe('expiryOf', () => {
  it.each([
    [
      'PENDING_EXPIRATION with its date',
      { ...item, webhook_code: 'PENDING_EXPIRATION', consent_expiration_time: '2026-12-09T00:00:00Z' },
      { reason: 'PENDING_EXPIRATION', expiresAt: new Date('2026-12-09T00:00:00Z') },
    ],
    [
      'PENDING_EXPIRATION with a date that is none',
      { ...item, webhook_code: 'PENDING_EXPIRATION', consent_expiration_time: 'soon' },
      { reason: 'PENDING_EXPIRATION', expiresAt: null },
    ],
    [
      'PENDING_DISCONNECT with its reason',
      { ...item, webhook_code: 'PENDING_DISCONNECT', reason: 'INSTITUTION_TOKEN_EXPIRATION' },
      { reason: 'INSTITUTION_TOKEN_EXPIRATION', expiresAt: null },
    ],
    [
      'PENDING_DISCONNECT with a reason that is not a code',
      { ...item, webhook_code: 'PENDING_DISCONNECT', reason: '<script>' },
      { reason: 'PENDING_DISCONNECT', expiresAt: null },
    ],
    ['LOGIN_REPAIRED', { ...item, webhook_code: 'LOGIN_REPAIRED' }, undefined],
    ['PENDING_EXPIRATION of another type', { webhook_type: 'TRANSACTIONS', webhook_code: 'PENDING_EXPIRATION' }, undefined],
  ])('%s', (_name, body, expected) => {
    expect(expiryOf(body)).toEqual(expected);
  });
});

describe('createPlaidWebhookHandler', () => {
  function recorder() {
    const calls: string[] = [];
    const handler = createPlaidWebhookHandler({
      lifecycle: {
        handleWebhook: (webhook) => {
          calls.push(`lifecycle ${webhook.inboxId} ${String(webhook.body.webhook_code)}`);
          return Promise.resolve({ refreshes: [], events: [] } as never);
        },
      },
      items: {
        observeHealth: (itemId: string, error: PlaidErrorData | null, source: string) => {
          calls.push(`health ${itemId} ${error?.errorCode ?? 'null'} ${source}`);
          return Promise.resolve(true);
        },
        observeExpiry: (itemId: string, expiry: { reason: string }) => {
          calls.push(`expiry ${itemId} ${expiry.reason}`);
          return Promise.resolve(true);
        },
      },
    });
    return { calls, handler };
  }
  const receivedAt = new Date('2026-12-02T00:00:00Z');

  it('moves refreshes first, then the health, each with the inbox id and arrival time', async () => {
    const { calls, handler } = recorder();
    await handler({ id: 7, receivedAt, body: JSON.stringify({ ...item, webhook_code: 'ERROR', error: loginRequired }) });
    expect(calls).toEqual(['lifecycle 7 ERROR', 'health item_1 ITEM_LOGIN_REQUIRED WEBHOOK']);
    await handler({
      id: 8,
      receivedAt,
      body: JSON.stringify({ ...item, webhook_code: 'PENDING_DISCONNECT', reason: 'INSTITUTION_MIGRATION' }),
    });
    expect(calls.slice(2)).toEqual(['lifecycle 8 PENDING_DISCONNECT', 'expiry item_1 INSTITUTION_MIGRATION']);
  });

  it('a body that is not a JSON object is kept in the inbox only: no step runs, nothing to retry', async () => {
    const { calls, handler } = recorder();
    for (const body of ['not json', '[1,2]', 'null', '"text"']) await expect(handler({ id: 1, receivedAt, body })).resolves.toBeUndefined();
    expect(calls).toEqual([]);
  });

  it('aborted after the refresh step: the health step is left for the next attempt', async () => {
    const { calls, handler } = recorder();
    const controller = new AbortController();
    controller.abort(new Error('lease half gone'));
    await expect(
      handler({ id: 9, receivedAt, body: JSON.stringify({ ...item, webhook_code: 'LOGIN_REPAIRED' }) }, controller.signal),
    ).rejects.toThrow('lease half gone');
    expect(calls).toEqual(['lifecycle 9 LOGIN_REPAIRED']);
  });
});
