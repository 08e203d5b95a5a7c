/**
 * The Plaid client's two webhook endpoints against undici's MockAgent: /webhook_verification_key/get
 * (read-only, so re-sent after a 500 or a timeout like /item/get; its JWK parsed with zod) and
 * /item/webhook/update (setting the same URL twice changes nothing, so it is re-sent too).
 */
import { MockAgent } from 'undici';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PlaidClient } from '../../src/plaid/client.js';
import { PlaidMalformedResponseError, PlaidResponseError } from '../../src/plaid/errors.js';

const JWK = {
  alg: 'ES256',
  created_at: 1560466150,
  crv: 'P-256',
  expired_at: null,
  kid: 'bfbd5111-8e33-4643-8ced-b2e642a72f3c',
  kty: 'EC',
  use: 'sig',
  x: 'hKXLGIjWvCBv-cP5euCTxl8g9GLG9zHo_3pO5NN1DwQ',
  y: 'shhexqPB7YffGn6fR6h2UhTSuCtPmfzQJ6ENVIoO4Ys',
};

let agent: MockAgent;
let client: PlaidClient;
let seen: { path: string; body: unknown }[];

beforeEach(() => {
  agent = new MockAgent();
  agent.disableNetConnect();
  seen = [];
  client = new PlaidClient({ baseUrl: 'sandbox', clientId: 'cid', secret: 'shh', dispatcher: agent, sleep: () => Promise.resolve() });
});
afterEach(async () => {
  await agent.close();
});

function reply(path: string, statusCode: number, data: object) {
  agent
    .get('https://sandbox.plaid.com')
    .intercept({ path, method: 'POST' })
    .reply((options) => {
      seen.push({ path, body: JSON.parse(typeof options.body === 'string' ? options.body : 'null') as unknown });
      return { statusCode, data, responseOptions: { headers: { 'content-type': 'application/json' } } };
    });
}

const plaidError = (type: string, code: string) => ({
  error_type: type,
  error_code: code,
  error_message: 'm',
  display_message: null,
  request_id: 'err-req',
});

describe('getWebhookVerificationKey', () => {
  it("asks for the kid and returns Plaid's JWK (the documented example)", async () => {
    reply('/webhook_verification_key/get', 200, { key: JWK, request_id: 'RZ6Omi1bzzwDaLo' });
    expect(await client.getWebhookVerificationKey(JWK.kid)).toEqual({ key: JWK, requestId: 'RZ6Omi1bzzwDaLo' });
    expect(seen).toEqual([{ path: '/webhook_verification_key/get', body: { key_id: JWK.kid } }]);
  });

  it('is re-sent after a 500, as a read', async () => {
    reply('/webhook_verification_key/get', 500, plaidError('API_ERROR', 'INTERNAL_SERVER_ERROR'));
    reply('/webhook_verification_key/get', 200, { key: { ...JWK, expired_at: 1900000000 }, request_id: 'second' });
    expect((await client.getWebhookVerificationKey(JWK.kid)).key.expired_at).toBe(1900000000);
    expect(seen).toHaveLength(2);
  });

  it('an unknown kid is a typed error with its code, not re-sent', async () => {
    reply('/webhook_verification_key/get', 400, plaidError('INVALID_INPUT', 'INVALID_WEBHOOK_VERIFICATION_KEY_ID'));
    const error = await client.getWebhookVerificationKey('nope').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PlaidResponseError);
    expect((error as PlaidResponseError).errorCode).toBe('INVALID_WEBHOOK_VERIFICATION_KEY_ID');
    expect(seen).toHaveLength(1);
  });

  it('a key without its coordinates is a malformed answer', async () => {
    const { x: _x, ...withoutX } = JWK;
    for (let i = 0; i < 3; i++) reply('/webhook_verification_key/get', 200, { key: withoutX, request_id: 'r' });
    await expect(client.getWebhookVerificationKey(JWK.kid)).rejects.toBeInstanceOf(PlaidMalformedResponseError);
  });
});

describe('updateItemWebhook', () => {
  it('sends the access token and the URL, and returns what Plaid now has', async () => {
    reply('/item/webhook/update', 200, {
      item: { item_id: 'item-1', webhook: 'https://hooks.example.com/webhooks/plaid' },
      request_id: 'u1',
    });
    expect(await client.updateItemWebhook('access-sandbox-1', 'https://hooks.example.com/webhooks/plaid')).toEqual({
      itemId: 'item-1',
      webhook: 'https://hooks.example.com/webhooks/plaid',
      requestId: 'u1',
    });
    expect(seen).toEqual([
      { path: '/item/webhook/update', body: { access_token: 'access-sandbox-1', webhook: 'https://hooks.example.com/webhooks/plaid' } },
    ]);
  });

  it('is re-sent after a 500 (setting the same URL twice changes nothing)', async () => {
    reply('/item/webhook/update', 500, plaidError('API_ERROR', 'INTERNAL_SERVER_ERROR'));
    reply('/item/webhook/update', 200, { item: { item_id: 'item-1', webhook: 'https://h.example/w' }, request_id: 'u2' });
    expect((await client.updateItemWebhook('access-sandbox-1', 'https://h.example/w')).requestId).toBe('u2');
    expect(seen).toHaveLength(2);
  });
});
