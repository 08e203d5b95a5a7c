/**
 * Webhook verification (src/webhooks/verification.ts), as Plaid documents it: one row per refusal
 * reason, with tokens signed here by an ES256 key pair served through a fake key source; then the
 * key cache (by kid, shared fetches, expiry, refresh, outages) and the Plaid-backed key source.
 */
import { CompactSign, generateSecret } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import { plaidErrorFromResponse } from '../../src/plaid/errors.js';
import {
  REFUSAL_REASONS,
  WebhookVerifier,
  plaidKeySource,
  type RefusalReason,
  type WebhookVerification,
} from '../../src/webhooks/verification.js';
import { b64url, fakeKeySource, sha256Hex, signWebhook, signingKey, webhookBody, type SigningKey } from '../helpers/plaid-webhooks.js';

const NOW_MS = Date.UTC(2026, 5, 1, 12, 0, 0);
const NOW = NOW_MS / 1000;

let key: SigningKey;
let otherKey: SigningKey;
let expiredKey: SigningKey;
let expiringKey: SigningKey;
let notEs256: SigningKey;
let wrongKid: SigningKey;

beforeAll(async () => {
  key = await signingKey();
  otherKey = await signingKey({ kid: key.kid });
  expiredKey = await signingKey({ expiredAt: NOW - 60 });
  expiringKey = await signingKey({ expiredAt: NOW + 3_600 });
  const es384 = await signingKey();
  notEs256 = { ...es384, jwk: { ...es384.jwk, alg: 'ES384' } };
  const mismatched = await signingKey();
  wrongKid = { ...mismatched, jwk: { ...mismatched.jwk, kid: 'some-other-kid' } };
});

function verifierWith(options: { now?: number; keyTimeoutMs?: number } = {}) {
  const source = fakeKeySource(key, expiredKey, expiringKey, notEs256, wrongKid);
  source.serve('down-kid', 'down');
  source.serve('hanging-kid', 'hang');
  const verifier = new WebhookVerifier({ keySource: source, now: () => options.now ?? NOW_MS, keyTimeoutMs: options.keyTimeoutMs ?? 200 });
  return { verifier, source };
}

const headersWith = (token: string | null, name = 'Plaid-Verification') => new Headers(token === null ? {} : { [name]: token });
const bytes = (text: string) => new TextEncoder().encode(text);

interface Delivery {
  readonly token: string | null;
  readonly body: Uint8Array;
  readonly headerName?: string;
}

interface Row {
  readonly name: string;
  readonly expect: RefusalReason | 'VERIFIED';
  /** The delivery: header value (null: none) and the raw body. */
  readonly make: () => Delivery | Promise<Delivery>;
  /** Whether a key may be asked for at all (refusals before step 3 must not call Plaid). */
  readonly fetchesKey: boolean;
}

const body = webhookBody({ item_id: 'item-table' });
const good = async (options: Parameters<typeof signWebhook>[2] = {}, signer?: SigningKey) => ({
  token: await signWebhook(signer ?? key, body, { iat: NOW, ...options }),
  body: bytes(body),
});

/** A good token's payload and signature under a hand-made header (jose will not sign with these). */
const withHeader = async (header: Record<string, unknown>) => {
  const [, payload, signature] = (await good()).token.split('.');
  return { token: `${b64url(header)}.${payload}.${signature}`, body: bytes(body) };
};

const ROWS: readonly Row[] = [
  { name: 'a good webhook', expect: 'VERIFIED', fetchesKey: true, make: () => good() },
  {
    name: 'the header in another case',
    expect: 'VERIFIED',
    fetchesKey: true,
    make: async () => ({ ...(await good()), headerName: 'PLAID-VERIFICATION' }),
  },
  { name: 'iat exactly 5 minutes old', expect: 'VERIFIED', fetchesKey: true, make: () => good({ iat: NOW - 300 }) },
  { name: 'iat a little ahead of our clock', expect: 'VERIFIED', fetchesKey: true, make: () => good({ iat: NOW + 20 }) },
  { name: 'a key that expires later', expect: 'VERIFIED', fetchesKey: true, make: () => good({}, expiringKey) },
  { name: 'no header', expect: 'MISSING_HEADER', fetchesKey: false, make: () => ({ token: null, body: bytes(body) }) },
  { name: 'an empty header', expect: 'MISSING_HEADER', fetchesKey: false, make: () => ({ token: '  ', body: bytes(body) }) },
  { name: 'not a JWT', expect: 'MALFORMED_TOKEN', fetchesKey: false, make: () => ({ token: 'not-a-jwt', body: bytes(body) }) },
  {
    name: 'three parts that are not base64url JSON',
    expect: 'MALFORMED_TOKEN',
    fetchesKey: false,
    make: () => ({ token: '%%%.@@@.!!!', body: bytes(body) }),
  },
  {
    name: 'five parts (a JWE)',
    expect: 'MALFORMED_TOKEN',
    fetchesKey: false,
    make: () => ({ token: `${b64url({ alg: 'ES256', kid: key.kid })}.a.b.c.d`, body: bytes(body) }),
  },
  { name: 'no kid', expect: 'MALFORMED_TOKEN', fetchesKey: false, make: () => good({ header: { kid: undefined } }) },
  { name: 'a numeric kid', expect: 'MALFORMED_TOKEN', fetchesKey: false, make: () => good({ header: { kid: 42 } }) },
  {
    name: 'a payload without iat',
    expect: 'MALFORMED_TOKEN',
    fetchesKey: true,
    make: () => good({ payload: { request_body_sha256: sha256Hex(body) } }),
  },
  {
    name: 'a payload whose hash is not SHA-256 hex',
    expect: 'MALFORMED_TOKEN',
    fetchesKey: true,
    make: () => good({ payload: { iat: NOW, request_body_sha256: 'abc' } }),
  },
  {
    name: 'alg none (unsigned)',
    expect: 'WRONG_ALGORITHM',
    fetchesKey: false,
    make: () => ({
      token: `${b64url({ alg: 'none', kid: key.kid })}.${b64url({ iat: NOW, request_body_sha256: sha256Hex(body) })}.`,
      body: bytes(body),
    }),
  },
  {
    name: 'HS256 (an attacker "signing" with a secret)',
    expect: 'WRONG_ALGORITHM',
    fetchesKey: false,
    make: async () => {
      const secret = await generateSecret('HS256');
      const token = await new CompactSign(bytes(JSON.stringify({ iat: NOW, request_body_sha256: sha256Hex(body) })))
        .setProtectedHeader({ alg: 'HS256', kid: key.kid })
        .sign(secret);
      return { token, body: bytes(body) };
    },
  },
  { name: 'ES384 in the header', expect: 'WRONG_ALGORITHM', fetchesKey: false, make: () => withHeader({ alg: 'ES384', kid: key.kid }) },
  { name: 'RS256 in the header', expect: 'WRONG_ALGORITHM', fetchesKey: false, make: () => withHeader({ alg: 'RS256', kid: key.kid }) },
  { name: 'no alg', expect: 'WRONG_ALGORITHM', fetchesKey: false, make: () => withHeader({ kid: key.kid, typ: 'JWT' }) },
  { name: 'a kid Plaid does not know', expect: 'UNKNOWN_KEY', fetchesKey: true, make: () => good({ kid: 'unknown-kid' }) },
  { name: 'a key that is not ES256', expect: 'UNKNOWN_KEY', fetchesKey: true, make: () => good({}, notEs256) },
  { name: 'an answer for another kid', expect: 'UNKNOWN_KEY', fetchesKey: true, make: () => good({}, wrongKid) },
  { name: 'an expired key', expect: 'EXPIRED_KEY', fetchesKey: true, make: () => good({}, expiredKey) },
  {
    name: 'signed by another key under a known kid',
    expect: 'BAD_SIGNATURE',
    fetchesKey: true,
    make: () => good({}, otherKey),
  },
  {
    name: 'a payload changed after signing',
    expect: 'BAD_SIGNATURE',
    fetchesKey: true,
    make: async () => {
      const [header, , signature] = (await signWebhook(key, body, { iat: NOW - 3_600 })).split('.');
      return { token: `${header}.${b64url({ iat: NOW, request_body_sha256: sha256Hex(body) })}.${signature}`, body: bytes(body) };
    },
  },
  { name: 'iat over 5 minutes old', expect: 'STALE', fetchesKey: true, make: () => good({ iat: NOW - 301 }) },
  { name: 'an old replay', expect: 'STALE', fetchesKey: true, make: () => good({ iat: NOW - 86_400 }) },
  { name: 'iat in the future', expect: 'FUTURE_IAT', fetchesKey: true, make: () => good({ iat: NOW + 31 }) },
  {
    name: 'the body re-serialised (same JSON, other bytes)',
    expect: 'BODY_MISMATCH',
    fetchesKey: true,
    make: async () => ({ token: (await good()).token, body: bytes(JSON.stringify(JSON.parse(body))) }),
  },
  {
    name: 'one byte of the body changed',
    expect: 'BODY_MISMATCH',
    fetchesKey: true,
    make: async () => ({ token: (await good()).token, body: bytes(body.replace('item-table', 'item-tablf')) }),
  },
  {
    name: 'a trailing newline added',
    expect: 'BODY_MISMATCH',
    fetchesKey: true,
    make: async () => ({ token: (await good()).token, body: bytes(`${body}\n`) }),
  },
  ...(
    [
      ['a body that is not JSON', bytes('webhook_type=TRANSACTIONS')],
      ['a JSON array', bytes('[]')],
      ['no webhook_type', bytes(JSON.stringify({ webhook_code: 'DEFAULT_UPDATE', item_id: 'x' }, null, 2))],
      ['a numeric item_id', bytes(JSON.stringify({ webhook_type: 'ITEM', webhook_code: 'ERROR', item_id: 7 }, null, 2))],
      ['bytes that are not UTF-8', new Uint8Array([0x7b, 0xff, 0xfe, 0x7d])],
    ] as const
  ).map(([name, raw]): Row => ({
    name: `signed, but ${name}`,
    expect: 'MALFORMED_BODY',
    fetchesKey: true,
    make: async () => ({ token: await signWebhook(key, raw, { iat: NOW }), body: raw }),
  })),
  { name: 'Plaid cannot be reached for the key', expect: 'KEY_UNAVAILABLE', fetchesKey: true, make: () => good({ kid: 'down-kid' }) },
  {
    name: 'Plaid does not answer within the key timeout',
    expect: 'KEY_UNAVAILABLE',
    fetchesKey: true,
    make: () => good({ kid: 'hanging-kid' }),
  },
];

describe('webhook verification: one row per outcome', () => {
  it.each(ROWS)('$name -> $expect', async (row) => {
    const { verifier, source } = verifierWith();
    const delivery = await row.make();
    const result = await verifier.verify(headersWith(delivery.token, delivery.headerName), delivery.body);
    expect(result.verified ? 'VERIFIED' : result.reason, result.verified ? '' : result.detail).toBe(row.expect);
    if (!row.fetchesKey) expect(source.calls).toEqual([]);
    else expect(source.calls.length).toBe(1);
  });

  it('covers every refusal reason', () => {
    expect(new Set(ROWS.map((row) => row.expect))).toEqual(new Set([...REFUSAL_REASONS, 'VERIFIED']));
  });

  it('a verified webhook carries its parsed body, the raw text and the hash of the bytes', async () => {
    const { verifier } = verifierWith();
    const delivery = await good();
    const result = await verifier.verify(headersWith(delivery.token), delivery.body);
    expect(result).toEqual({
      verified: true,
      webhook: {
        webhookType: 'TRANSACTIONS',
        webhookCode: 'SYNC_UPDATES_AVAILABLE',
        itemId: 'item-table',
        environment: 'sandbox',
        payload: JSON.parse(body) as Record<string, unknown>,
        body,
        bodySha256: sha256Hex(body),
        keyId: key.kid,
        issuedAt: NOW,
      },
    } satisfies WebhookVerification);
  });

  it('a webhook without item_id (user-level ones) verifies with itemId null', async () => {
    const { verifier } = verifierWith();
    const userLevel = JSON.stringify(
      { webhook_type: 'USER', webhook_code: 'SOMETHING', user_id: 'usr_1', environment: 'sandbox' },
      null,
      2,
    );
    const result = await verifier.verify(headersWith(await signWebhook(key, userLevel, { iat: NOW })), bytes(userLevel));
    expect(result.verified && result.webhook.itemId).toBeNull();
  });

  it('refusal details never quote the token or the body', async () => {
    const { verifier } = verifierWith();
    for (const row of ROWS) {
      const delivery = await row.make();
      const result = await verifier.verify(headersWith(delivery.token), delivery.body);
      if (result.verified) continue;
      const payload = delivery.token?.split('.')[1];
      if (payload && payload.length > 8) expect(result.detail).not.toContain(payload);
      expect(result.detail).not.toContain('item-table');
    }
  });
});

describe('the key cache', () => {
  it('asks once per kid, shares concurrent fetches, and reuses the key', async () => {
    const { verifier, source } = verifierWith();
    const deliveries = await Promise.all(Array.from({ length: 20 }, () => good()));
    const results = await Promise.all(deliveries.map((d) => verifier.verify(headersWith(d.token), d.body)));
    expect(results.every((r) => r.verified)).toBe(true);
    const again = await good();
    expect((await verifier.verify(headersWith(again.token), again.body)).verified).toBe(true);
    expect(source.calls).toEqual([key.kid]);
  });

  it('asks about an unknown kid once a minute at most', async () => {
    let now = NOW_MS;
    const source = fakeKeySource(key);
    const verifier = new WebhookVerifier({ keySource: source, now: () => now });
    const sign = () => signWebhook(key, body, { iat: Math.floor(now / 1000), kid: 'forged-kid' });
    for (let i = 0; i < 5; i++)
      expect(await verifier.verify(headersWith(await sign()), bytes(body))).toMatchObject({ reason: 'UNKNOWN_KEY' });
    expect(source.calls).toEqual(['forged-kid']);
    now += 61_000;
    await verifier.verify(headersWith(await sign()), bytes(body));
    expect(source.calls).toEqual(['forged-kid', 'forged-kid']);
  });

  it('asks for a cached key again after an hour, learns that it expired, and refuses new webhooks under it', async () => {
    let now = NOW_MS;
    const rotating = await signingKey();
    const source = fakeKeySource(rotating);
    const verifier = new WebhookVerifier({ keySource: source, now: () => now });
    const deliver = async () =>
      verifier.verify(headersWith(await signWebhook(rotating, body, { iat: Math.floor(now / 1000) })), bytes(body));
    expect((await deliver()).verified).toBe(true);
    source.serve(rotating.kid, { ...rotating.jwk, expired_at: Math.floor(now / 1000) + 1_800 });
    now += 30 * 60_000;
    expect((await deliver()).verified).toBe(true);
    expect(source.calls).toHaveLength(1);
    now += 31 * 60_000;
    expect(await deliver()).toMatchObject({ verified: false, reason: 'EXPIRED_KEY' });
    expect(source.calls).toHaveLength(2);
  });

  it('keeps verifying with a cached key while Plaid cannot be reached, and says KEY_UNAVAILABLE for a kid it never had', async () => {
    let now = NOW_MS;
    const source = fakeKeySource(key);
    const verifier = new WebhookVerifier({ keySource: source, now: () => now, keyTimeoutMs: 100 });
    const deliver = async (kid = key.kid) =>
      verifier.verify(headersWith(await signWebhook(key, body, { iat: Math.floor(now / 1000), kid })), bytes(body));
    expect((await deliver()).verified).toBe(true);
    source.serve(key.kid, 'down');
    now += 2 * 3_600_000;
    expect((await deliver()).verified).toBe(true);
    source.serve('new-kid', 'down');
    expect(await deliver('new-kid')).toMatchObject({ verified: false, reason: 'KEY_UNAVAILABLE' });
  });

  it('gives up on a key fetch after its timeout', async () => {
    const { verifier } = verifierWith({ keyTimeoutMs: 50 });
    const delivery = await good({ kid: 'hanging-kid' });
    const started = performance.now();
    expect(await verifier.verify(headersWith(delivery.token), delivery.body)).toMatchObject({ reason: 'KEY_UNAVAILABLE' });
    expect(performance.now() - started).toBeLessThan(1_000);
  });
});

describe('plaidKeySource', () => {
  const plaidError = (code: string, type = 'INVALID_INPUT') =>
    plaidErrorFromResponse(400, { error_type: type, error_code: code, error_message: 'x', display_message: null, request_id: 'r' });

  it('passes the key on, with the deadline', async () => {
    const asked: { keyId: string; deadline: number | undefined }[] = [];
    const source = plaidKeySource({
      getWebhookVerificationKey: (keyId, options) => {
        asked.push({ keyId, deadline: options?.deadline });
        return Promise.resolve({ key: key.jwk, requestId: 'req' });
      },
    });
    expect(await source.fetchKey(key.kid, 12_345)).toEqual(key.jwk);
    expect(asked).toEqual([{ keyId: key.kid, deadline: 12_345 }]);
  });

  it('INVALID_WEBHOOK_VERIFICATION_KEY_ID is "no such key"; every other failure is thrown (KEY_UNAVAILABLE)', async () => {
    const failing = (error: Error) => plaidKeySource({ getWebhookVerificationKey: () => Promise.reject(error) });
    expect(await failing(plaidError('INVALID_WEBHOOK_VERIFICATION_KEY_ID')).fetchKey('k', 0)).toBeNull();
    await expect(failing(plaidError('INVALID_API_KEYS')).fetchKey('k', 0)).rejects.toThrow();
    await expect(failing(plaidError('INTERNAL_SERVER_ERROR', 'API_ERROR')).fetchKey('k', 0)).rejects.toThrow();
  });
});
