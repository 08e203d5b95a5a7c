/**
 * The Plaid client scrubs Plaid's error objects where it builds its errors, so every path to a
 * client sees the scrubbed text: a thrown error, a per-Item error of the bundle, and an outcome
 * another replica reads back from Redis. Every string field and `causes`, at any depth.
 */
import { MockAgent } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { decodeOutcome, encodeOutcome } from '../../src/guard/flight-codec.js';
import { PlaidClient } from '../../src/plaid/client.js';
import { PlaidResponseError, type PlaidErrorData } from '../../src/plaid/errors.js';
import { REDACTED } from '../../src/util/scrub.js';
import { itemProduct } from '../../src/catalogue/refresh-products.js';

const PLAID_SECRET = 'sim_secret';
const JWT_SECRET = 'jwt-secret-of-this-service-0123456789';
const ACCESS_TOKEN = 'access-sandbox-8ab976e6-64bc-4b38-98f7-731e7a349970';
const ECHO = `echo ${ACCESS_TOKEN} with ${PLAID_SECRET} and ${JWT_SECRET}`;
const SCRUBBED = `echo ${REDACTED} with ${REDACTED} and ${REDACTED}`;
const SECRETS = [PLAID_SECRET, JWT_SECRET, ACCESS_TOKEN];

/** Plaid's error object with the echo in every free-text field and deep inside `causes`. */
const echoingError = (status: number | null = null) => ({
  error_type: 'API_ERROR',
  error_code: 'INTERNAL_SERVER_ERROR',
  error_code_reason: ECHO,
  error_message: ECHO,
  display_message: ECHO,
  suggested_action: ECHO,
  documentation_url: `https://plaid.com/docs/?q=${ECHO}`,
  request_id: 'req-1',
  causes: [{ item_id: 'item-1', error_message: ECHO, nested: [{ deeper: { text: ECHO } }], access_token: ACCESS_TOKEN }],
  status,
});

let agent: MockAgent;
afterEach(() => agent.close());

function clientAnswering(path: string, statusCode: number, data: unknown): PlaidClient {
  agent = new MockAgent();
  agent.disableNetConnect();
  agent
    .get('https://sandbox.plaid.com')
    .intercept({ path, method: 'POST' })
    .reply(statusCode, JSON.stringify(data), { headers: { 'content-type': 'application/json' } });
  return new PlaidClient({
    baseUrl: 'sandbox',
    clientId: 'cid',
    secret: PLAID_SECRET,
    scrubSecrets: [JWT_SECRET, null],
    dispatcher: agent,
    retry: { maxAttempts: 1 },
  });
}

function expectScrubbed(error: PlaidErrorData): void {
  const seen = JSON.stringify({ ...error, message: error.message });
  for (const secret of SECRETS) expect(seen).not.toContain(secret);
  expect(error).toMatchObject({
    errorType: 'API_ERROR',
    errorCode: 'INTERNAL_SERVER_ERROR',
    errorCodeReason: SCRUBBED,
    errorMessage: SCRUBBED,
    displayMessage: SCRUBBED,
    suggestedAction: SCRUBBED,
    message: `API_ERROR INTERNAL_SERVER_ERROR: ${SCRUBBED}`,
  });
  expect(error.documentationUrl).toContain(SCRUBBED);
  expect(error.causes).toEqual([
    { item_id: 'item-1', error_message: SCRUBBED, nested: [{ deeper: { text: SCRUBBED } }], access_token: REDACTED },
  ]);
}

describe("Plaid's error objects are scrubbed where the client builds them", () => {
  it('an error answer: every field, causes deeply; code and type untouched', async () => {
    const client = clientAnswering('/transactions/refresh', 500, echoingError());
    const error = await client.refreshItem(itemProduct('transactions'), ACCESS_TOKEN).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PlaidResponseError);
    expectScrubbed(error as PlaidResponseError);
  });

  it("the bundle's per-Item errors inside a 200", async () => {
    const client = clientAnswering('/user/financial_data/refresh', 200, {
      request_id: 'req-bundle',
      results: [
        { item_id: 'item-1', product: 'transactions', error: echoingError(500) },
        { item_id: 'item-2', product: 'transactions', error: null },
      ],
    });
    const receipt = await client.refreshUserFinancialData('user-1');
    const [failed, fine] = receipt.results;
    expect(fine?.error).toBeNull();
    expect(failed?.error).toMatchObject({ errorType: 'API_ERROR' });
    expectScrubbed(failed?.error as PlaidErrorData);
  });

  it('what travels to other replicas through Redis is the scrubbed error', async () => {
    const client = clientAnswering('/transactions/refresh', 500, echoingError());
    const error = await client.refreshItem(itemProduct('transactions'), ACCESS_TOKEN).catch((e: unknown) => e);
    const encoded = encodeOutcome({ ok: false, error });
    for (const secret of SECRETS) expect(encoded).not.toContain(secret);
    const decoded = decodeOutcome(encoded);
    expect(decoded.ok).toBe(false);
    expectScrubbed((decoded as { error: PlaidResponseError }).error);
  });
});
