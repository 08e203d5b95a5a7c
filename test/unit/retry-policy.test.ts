import { describe, expect, it } from 'vitest';
import {
  PlaidConnectionFailedError,
  PlaidConnectionResetError,
  PlaidMalformedResponseError,
  PlaidNonJsonResponseError,
  PlaidTimeoutError,
  plaidErrorFromResponse,
  type PlaidClientError,
} from '../../src/plaid/errors.js';
import { DEFAULT_RETRY_POLICY, decideRetry, type RetryPolicy } from '../../src/plaid/retry.js';

const plaid = (status: number, type: string, code: string) =>
  plaidErrorFromResponse(status, { error_type: type, error_code: code, error_message: '', display_message: null });

const policy: RetryPolicy = { maxAttempts: 3, maxElapsedMs: 30_000, baseDelayMs: 500, maxDelayMs: 8_000 };
const decide = (error: PlaidClientError, overrides: Partial<Parameters<typeof decideRetry>[0]> = {}) =>
  decideRetry({ error, attempt: 1, elapsedMs: 0, policy, random: 0.5, ...overrides });

describe('decideRetry: which failures are re-sent', () => {
  it.each<[string, PlaidClientError, boolean]>([
    ['connection refused before sending', new PlaidConnectionFailedError('ECONNREFUSED'), true],
    ['DNS failure', new PlaidConnectionFailedError('ENOTFOUND'), true],
    ['INTERNAL_SERVER_ERROR (500)', plaid(500, 'API_ERROR', 'INTERNAL_SERVER_ERROR'), true],
    ['PLANNED_MAINTENANCE (503)', plaid(503, 'API_ERROR', 'PLANNED_MAINTENANCE'), true],
    ['INSTITUTION_DOWN (400!)', plaid(400, 'INSTITUTION_ERROR', 'INSTITUTION_DOWN'), true],
    ['INSTITUTION_NOT_RESPONDING', plaid(400, 'INSTITUTION_ERROR', 'INSTITUTION_NOT_RESPONDING'), true],
    ['INSTITUTION_NOT_AVAILABLE', plaid(400, 'INSTITUTION_ERROR', 'INSTITUTION_NOT_AVAILABLE'), true],
    ['INSTITUTION_RATE_LIMIT (429)', plaid(429, 'RATE_LIMIT_EXCEEDED', 'INSTITUTION_RATE_LIMIT'), true],
    ['TRANSACTIONS_REFRESH_LIMIT (429)', plaid(429, 'RATE_LIMIT_EXCEEDED', 'TRANSACTIONS_REFRESH_LIMIT'), true],
    ['RATE_LIMIT (429)', plaid(429, 'RATE_LIMIT_EXCEEDED', 'RATE_LIMIT'), true],
    ['an unknown rate-limit code (429)', plaid(429, 'RATE_LIMIT_EXCEEDED', 'SOMETHING_LIMIT'), true],
    ['timeout: may have run, billed twice', new PlaidTimeoutError(90_000), false],
    ['connection reset after sending', new PlaidConnectionResetError('ECONNRESET'), false],
    ['HTML 502 from the edge', new PlaidNonJsonResponseError(502, 'text/html', '<html>'), false],
    ['200 of the wrong shape', new PlaidMalformedResponseError(200, 'request_id missing'), false],
    ['CREDITS_EXHAUSTED (429 but billing)', plaid(429, 'RATE_LIMIT_EXCEEDED', 'CREDITS_EXHAUSTED'), false],
    ['ITEM_LOGIN_REQUIRED', plaid(400, 'ITEM_ERROR', 'ITEM_LOGIN_REQUIRED'), false],
    ['PRODUCTS_NOT_SUPPORTED', plaid(400, 'ITEM_ERROR', 'PRODUCTS_NOT_SUPPORTED'), false],
    ['INVALID_API_KEYS', plaid(400, 'INVALID_INPUT', 'INVALID_API_KEYS'), false],
    ['INVALID_ACCESS_TOKEN', plaid(400, 'INVALID_INPUT', 'INVALID_ACCESS_TOKEN'), false],
    ['INVALID_PRODUCT', plaid(400, 'INVALID_INPUT', 'INVALID_PRODUCT'), false],
    ['MISSING_FIELDS', plaid(400, 'INVALID_REQUEST', 'MISSING_FIELDS'), false],
    ['INVALID_FIELD', plaid(400, 'INVALID_REQUEST', 'INVALID_FIELD'), false],
    ['USER_NOT_FOUND', plaid(400, 'USER_ERROR', 'USER_NOT_FOUND'), false],
    ['INSTITUTION_NO_LONGER_SUPPORTED', plaid(400, 'INSTITUTION_ERROR', 'INSTITUTION_NO_LONGER_SUPPORTED'), false],
    ['an unknown API_ERROR code (500): not by status', plaid(500, 'API_ERROR', 'BRAND_NEW_FAILURE'), false],
  ])('%s -> retry %s', (_label, error, expected) => {
    const decision = decide(error);
    expect(decision.retry).toBe(expected);
    expect(decision.reason.length).toBeGreaterThan(10);
  });
});

describe('decideRetry: billed refreshes (each re-send is billed and spends the per-minute limit)', () => {
  it.each<[string, PlaidClientError, boolean]>([
    ['connection refused before sending: never reached Plaid', new PlaidConnectionFailedError('ECONNREFUSED'), true],
    ['INTERNAL_SERVER_ERROR: a fault of one call', plaid(500, 'API_ERROR', 'INTERNAL_SERVER_ERROR'), true],
    ['TRANSACTIONS_REFRESH_LIMIT: a per-minute window', plaid(429, 'RATE_LIMIT_EXCEEDED', 'TRANSACTIONS_REFRESH_LIMIT'), false],
    ['RATE_LIMIT', plaid(429, 'RATE_LIMIT_EXCEEDED', 'RATE_LIMIT'), false],
    ['an unknown rate-limit code', plaid(429, 'RATE_LIMIT_EXCEEDED', 'SOMETHING_LIMIT'), false],
    ['INSTITUTION_DOWN: lasts minutes', plaid(400, 'INSTITUTION_ERROR', 'INSTITUTION_DOWN'), false],
    ['INSTITUTION_NOT_RESPONDING', plaid(400, 'INSTITUTION_ERROR', 'INSTITUTION_NOT_RESPONDING'), false],
    ['PLANNED_MAINTENANCE', plaid(503, 'API_ERROR', 'PLANNED_MAINTENANCE'), false],
    ['timeout', new PlaidTimeoutError(90_000), false],
  ])('%s -> retry %s', (_label, error, expected) => {
    const decision = decide(error, { billed: true });
    expect(decision.retry).toBe(expected);
    expect(decision.reason.length).toBeGreaterThan(10);
  });

  it('no re-send whose backoff would pass the deadline', () => {
    const error = plaid(500, 'API_ERROR', 'INTERNAL_SERVER_ERROR');
    expect(decide(error, { billed: true, remainingMs: 10_000 }).retry).toBe(true);
    const late = decide(error, { billed: true, remainingMs: 100 });
    expect(late).toMatchObject({ retry: false, reason: expect.stringContaining('deadline') as unknown });
  });
});

describe('decideRetry: read-only calls (/item/get)', () => {
  it.each<[string, PlaidClientError, boolean]>([
    ['timeout', new PlaidTimeoutError(90_000), true],
    ['connection reset', new PlaidConnectionResetError('ECONNRESET'), true],
    ['HTML 502', new PlaidNonJsonResponseError(502, 'text/html', '<html>'), true],
    ['200 of the wrong shape', new PlaidMalformedResponseError(200, 'request_id missing'), true],
    ['INTERNAL_SERVER_ERROR', plaid(500, 'API_ERROR', 'INTERNAL_SERVER_ERROR'), true],
    ['ITEM_LOGIN_REQUIRED: the same answer again', plaid(400, 'ITEM_ERROR', 'ITEM_LOGIN_REQUIRED'), false],
    ['INVALID_ACCESS_TOKEN: the same answer again', plaid(400, 'INVALID_INPUT', 'INVALID_ACCESS_TOKEN'), false],
  ])('%s -> retry %s', (_label, error, expected) => {
    const decision = decide(error, { readOnly: true });
    expect(decision.retry).toBe(expected);
    expect(decision.reason.length).toBeGreaterThan(10);
  });

  it('still keeps to the attempt budget', () => {
    expect(decide(new PlaidTimeoutError(1_000), { readOnly: true, attempt: 3 }).retry).toBe(false);
  });
});

describe('decideRetry: bounds and backoff', () => {
  const retryable = plaid(500, 'API_ERROR', 'INTERNAL_SERVER_ERROR');

  it('stops when the attempts are used', () => {
    expect(decide(retryable, { attempt: 2 }).retry).toBe(true);
    const last = decide(retryable, { attempt: 3 });
    expect(last.retry).toBe(false);
    expect(last.reason).toMatch(/attempts/);
  });

  it('stops when the wait would pass the time budget', () => {
    const decision = decide(retryable, { elapsedMs: 29_900, random: 0.99 });
    expect(decision).toMatchObject({ retry: false });
    expect(decision.reason).toMatch(/budget/);
  });

  it('backs off exponentially with full jitter, capped', () => {
    const delay = (attempt: number, random: number) => {
      const d = decideRetry({ error: retryable, attempt, elapsedMs: 0, policy: { ...policy, maxAttempts: 20 }, random });
      return d.retry ? d.delayMs : -1;
    };
    expect(delay(1, 0.999)).toBeLessThanOrEqual(500);
    expect(delay(2, 0.999)).toBeLessThanOrEqual(1_000);
    expect(delay(3, 0.999)).toBeGreaterThan(1_000);
    expect(delay(10, 0.999)).toBeLessThanOrEqual(8_000);
    expect(delay(10, 0)).toBe(0);
  });

  it('waits at least what Retry-After asks', () => {
    const decision = decide(plaid(429, 'RATE_LIMIT_EXCEEDED', 'RATE_LIMIT'), { retryAfterMs: 3_000, random: 0 });
    expect(decision).toMatchObject({ retry: true, delayMs: 3_000 });
  });

  it('maxAttempts 1 turns retries off', () => {
    expect(
      decideRetry({ error: retryable, attempt: 1, elapsedMs: 0, policy: { ...DEFAULT_RETRY_POLICY, maxAttempts: 1 }, random: 0 }).retry,
    ).toBe(false);
  });
});
