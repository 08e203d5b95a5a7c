/**
 * Signing Plaid webhooks in tests, as Plaid does (NOTES.md section 7): an ES256 key pair whose
 * public JWK a fake key source serves by kid, a JWS header {alg: ES256, kid, typ: JWT} and a payload
 * {iat, request_body_sha256} over the raw body, which Plaid writes with 2-space indentation.
 */
import { createHash, randomUUID } from 'node:crypto';
import { CompactSign, exportJWK, generateKeyPair, type CryptoKey } from 'jose';
import type { WebhookVerificationKey } from '../../src/plaid/schemas.js';
import type { WebhookKeySource } from '../../src/webhooks/verification.js';

export interface SigningKey {
  readonly kid: string;
  readonly privateKey: CryptoKey;
  /** The public JWK as /webhook_verification_key/get answers it. */
  readonly jwk: WebhookVerificationKey;
}

export async function signingKey(options: { kid?: string; expiredAt?: number | null } = {}): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
  const kid = options.kid ?? randomUUID();
  const exported = await exportJWK(publicKey);
  return {
    kid,
    privateKey,
    jwk: {
      alg: 'ES256',
      crv: exported.crv ?? '',
      kid,
      kty: exported.kty ?? '',
      use: 'sig',
      x: exported.x ?? '',
      y: exported.y ?? '',
      created_at: Math.floor(Date.now() / 1000) - 3_600,
      expired_at: options.expiredAt ?? null,
    },
  };
}

/** A Plaid webhook body as Plaid sends it: 2-space indented JSON. */
export function webhookBody(fields: Record<string, unknown> = {}): string {
  return JSON.stringify(
    {
      webhook_type: 'TRANSACTIONS',
      webhook_code: 'SYNC_UPDATES_AVAILABLE',
      item_id: `item-${randomUUID().slice(0, 8)}`,
      initial_update_complete: true,
      historical_update_complete: true,
      environment: 'sandbox',
      ...fields,
    },
    null,
    2,
  );
}

export const sha256Hex = (body: string | Uint8Array) => createHash('sha256').update(body).digest('hex');

export interface SignOptions {
  /** Seconds; default now. */
  readonly iat?: number;
  /** Default: the hash of `body`. */
  readonly bodySha256?: string;
  readonly kid?: string;
  /** Extra or overriding header fields. */
  readonly header?: Record<string, unknown>;
  /** Replaces the payload entirely. */
  readonly payload?: Record<string, unknown>;
}

/** The Plaid-Verification header for `body`, signed with `key`. */
export async function signWebhook(key: SigningKey, body: string | Uint8Array, options: SignOptions = {}): Promise<string> {
  const payload = options.payload ?? {
    iat: options.iat ?? Math.floor(Date.now() / 1000),
    request_body_sha256: options.bodySha256 ?? sha256Hex(body),
  };
  return new CompactSign(new TextEncoder().encode(JSON.stringify(payload)))
    .setProtectedHeader({ alg: 'ES256', kid: options.kid ?? key.kid, typ: 'JWT', ...options.header })
    .sign(key.privateKey);
}

/** Base64url of JSON, for hand-made tokens (alg none, HS256). */
export const b64url = (value: unknown) => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');

type Served = WebhookVerificationKey | null | 'down' | 'hang';

/** A key source that serves the keys it is given by kid, and counts what it was asked. */
export function fakeKeySource(...keys: readonly SigningKey[]): WebhookKeySource & {
  /** null: Plaid knows no such kid; 'down': the call fails; 'hang': it never answers. */
  serve(kid: string, answer: Served): void;
  readonly calls: string[];
} {
  const served = new Map<string, Served>(keys.map((key) => [key.kid, key.jwk]));
  const calls: string[] = [];
  return {
    calls,
    serve(kid, answer) {
      served.set(kid, answer);
    },
    async fetchKey(kid) {
      calls.push(kid);
      // A tick, like a network call: concurrent callers really overlap.
      await new Promise((resolve) => setImmediate(resolve));
      const answer = served.get(kid) ?? null;
      if (answer === 'down') throw new Error('connect ECONNREFUSED 127.0.0.1:1');
      if (answer === 'hang') return new Promise<never>(() => {});
      return answer;
    },
  };
}
