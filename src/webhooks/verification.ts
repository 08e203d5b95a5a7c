/**
 * Plaid webhook verification, step by step as Plaid documents it
 * (https://plaid.com/docs/api/webhooks/webhook-verification/):
 *
 * 1. read the `Plaid-Verification` header (any case): a JWT;
 * 2. decode its header without verifying; require `alg` ES256 (never `none`, HS256 or anything
 *    else: the algorithm is ours to choose, not the sender's) and take its `kid`;
 * 3. get the key for that kid from /webhook_verification_key/get (cached by kid; concurrent
 *    fetches of one kid share one call; bounded by its own timeout); a key whose `expired_at` has
 *    passed is refused for new webhooks;
 * 4. verify the signature with that key (jose);
 * 5. refuse an `iat` older than 5 minutes, or later than now beyond a small clock skew;
 * 6. compare SHA-256 (hex) of the raw body bytes with `request_body_sha256` in constant time.
 *
 * The result is data: the verified webhook, or a refusal with one reason of REFUSAL_REASONS.
 * KEY_UNAVAILABLE (Plaid could not be asked for the key) is the one refusal that is our fault,
 * so the receiver answers it with a status Plaid retries.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { compactVerify, decodeProtectedHeader, errors, importJWK, type CryptoKey } from 'jose';
import type { PlaidClient } from '../plaid/client.js';
import { PlaidResponseError } from '../plaid/errors.js';
import type { WebhookVerificationKey } from '../plaid/schemas.js';

export const REFUSAL_REASONS = [
  'MISSING_HEADER',
  'MALFORMED_TOKEN',
  'WRONG_ALGORITHM',
  'UNKNOWN_KEY',
  'EXPIRED_KEY',
  'BAD_SIGNATURE',
  'STALE',
  'FUTURE_IAT',
  'BODY_MISMATCH',
  'MALFORMED_BODY',
  'KEY_UNAVAILABLE',
] as const;
export type RefusalReason = (typeof REFUSAL_REASONS)[number];

/** A webhook whose signature, age and body hash checked out. */
export interface VerifiedWebhook {
  readonly webhookType: string;
  readonly webhookCode: string;
  /** Absent from a few webhook kinds (e.g. user-level ones). */
  readonly itemId: string | null;
  /** `sandbox` or `production`, as Plaid says. */
  readonly environment: string | null;
  /** The parsed body. */
  readonly payload: Readonly<Record<string, unknown>>;
  /** The raw body as text: exactly the bytes that were signed. */
  readonly body: string;
  /** SHA-256 (lower-case hex) of the raw body bytes. */
  readonly bodySha256: string;
  readonly keyId: string;
  /** The JWT's `iat`, in seconds. */
  readonly issuedAt: number;
}

export type WebhookVerification =
  | { readonly verified: true; readonly webhook: VerifiedWebhook }
  | {
      readonly verified: false;
      readonly reason: RefusalReason;
      /** What exactly was wrong, for the log; never the token or the body. */
      readonly detail: string;
    };

/** Where verification keys come from: Plaid (plaidKeySource), or a test's fake. */
export interface WebhookKeySource {
  /**
   * The key with this kid, or null when there is none (Plaid answers INVALID_WEBHOOK_VERIFICATION_KEY_ID).
   * Throws when the key cannot be had right now (Plaid down, slow, refusing our credentials):
   * the webhook is then answered with a status Plaid retries. Should give up by `deadline` (epoch ms).
   */
  fetchKey(keyId: string, deadline: number): Promise<WebhookVerificationKey | null>;
}

export interface WebhookVerifierOptions {
  readonly keySource: WebhookKeySource;
  /** One key fetch (retries included) gives up after this long (PLAID_WEBHOOK_KEY_TIMEOUT_MS). */
  readonly keyTimeoutMs?: number;
  /** Plaid's rule: a webhook whose `iat` is older than this is refused. */
  readonly maxAgeSeconds?: number;
  /** An `iat` this far in the future is still accepted (our clock and Plaid's differ a little). */
  readonly clockSkewSeconds?: number;
  /** A fetched key is used this long before it is asked for again (to learn its `expired_at`); on failure the cached one goes on serving. */
  readonly keyRefreshMs?: number;
  /** A kid Plaid does not know is not asked about again for this long (a flood of one forged kid costs one call). */
  readonly unknownKeyCacheMs?: number;
  /** Epoch milliseconds; injected by tests. */
  readonly now?: () => number;
}

export const WEBHOOK_VERIFICATION_DEFAULTS = Object.freeze({
  keyTimeoutMs: 2_000,
  maxAgeSeconds: 5 * 60,
  clockSkewSeconds: 30,
  keyRefreshMs: 60 * 60_000,
  unknownKeyCacheMs: 60_000,
});

/** Plaid has a handful of keys at a time; this bounds what forged kids can make us remember. */
const MAX_CACHED_KEYS = 64;
const MAX_KID_LENGTH = 256;
const SHA256_HEX = /^[0-9a-fA-F]{64}$/;

type CachedKey =
  | { readonly kind: 'key'; readonly key: CryptoKey; readonly expiredAt: number | null; readonly fetchedAt: number }
  | { readonly kind: 'unknown'; readonly detail: string; readonly fetchedAt: number };

/** The key could not be had (Plaid unreachable, slow or failing); the webhook should be retried. */
export class WebhookKeyUnavailableError extends Error {
  override name = 'WebhookKeyUnavailableError';
}

export class WebhookVerifier {
  private readonly source: WebhookKeySource;
  private readonly keyTimeoutMs: number;
  private readonly maxAgeSeconds: number;
  private readonly clockSkewSeconds: number;
  private readonly keyRefreshMs: number;
  private readonly unknownKeyCacheMs: number;
  private readonly now: () => number;
  private readonly cache = new Map<string, CachedKey>();
  private readonly fetching = new Map<string, Promise<CachedKey>>();

  constructor(options: WebhookVerifierOptions) {
    this.source = options.keySource;
    this.keyTimeoutMs = options.keyTimeoutMs ?? WEBHOOK_VERIFICATION_DEFAULTS.keyTimeoutMs;
    this.maxAgeSeconds = options.maxAgeSeconds ?? WEBHOOK_VERIFICATION_DEFAULTS.maxAgeSeconds;
    this.clockSkewSeconds = options.clockSkewSeconds ?? WEBHOOK_VERIFICATION_DEFAULTS.clockSkewSeconds;
    this.keyRefreshMs = options.keyRefreshMs ?? WEBHOOK_VERIFICATION_DEFAULTS.keyRefreshMs;
    this.unknownKeyCacheMs = options.unknownKeyCacheMs ?? WEBHOOK_VERIFICATION_DEFAULTS.unknownKeyCacheMs;
    this.now = options.now ?? Date.now;
  }

  /** Verifies one delivery: its headers and the raw body bytes, before anything parsed them. */
  async verify(headers: Headers, rawBody: Uint8Array): Promise<WebhookVerification> {
    // Headers.get matches names case-insensitively, as Plaid asks.
    const token = headers.get('plaid-verification')?.trim() ?? '';
    if (token === '') return refused('MISSING_HEADER', 'no Plaid-Verification header');
    if (token.split('.').length !== 3) return refused('MALFORMED_TOKEN', 'the Plaid-Verification header is not a compact JWS');
    let header: ReturnType<typeof decodeProtectedHeader>;
    try {
      header = decodeProtectedHeader(token);
    } catch {
      return refused('MALFORMED_TOKEN', 'the JWT header does not decode');
    }
    if (header.alg !== 'ES256') return refused('WRONG_ALGORITHM', `alg ${quoted(header.alg)} is not ES256`);
    const kid = header.kid;
    if (typeof kid !== 'string' || kid === '' || kid.length > MAX_KID_LENGTH) {
      return refused('MALFORMED_TOKEN', 'the JWT header has no usable kid');
    }

    let cached: CachedKey;
    try {
      cached = await this.keyFor(kid);
    } catch (error) {
      return refused(
        'KEY_UNAVAILABLE',
        `the verification key could not be fetched: ${error instanceof Error ? error.message : String(error)}`,
      );
    }
    if (cached.kind === 'unknown') return refused('UNKNOWN_KEY', cached.detail);
    const nowMs = this.now();
    if (cached.expiredAt !== null && cached.expiredAt * 1000 <= nowMs) {
      return refused('EXPIRED_KEY', 'the verification key has expired');
    }

    let payloadBytes: Uint8Array;
    try {
      ({ payload: payloadBytes } = await compactVerify(token, cached.key, { algorithms: ['ES256'] }));
    } catch (error) {
      if (error instanceof errors.JWSSignatureVerificationFailed) return refused('BAD_SIGNATURE', 'the signature does not verify');
      return refused('MALFORMED_TOKEN', `the JWT does not verify: ${error instanceof errors.JOSEError ? error.code : 'unreadable'}`);
    }
    const claims = parseClaims(payloadBytes);
    if (!claims) return refused('MALFORMED_TOKEN', 'the JWT payload lacks a numeric iat or a SHA-256 request_body_sha256');

    const nowSeconds = nowMs / 1000;
    if (claims.iat > nowSeconds + this.clockSkewSeconds) return refused('FUTURE_IAT', 'iat is in the future');
    if (nowSeconds - claims.iat > this.maxAgeSeconds) return refused('STALE', `iat is more than ${this.maxAgeSeconds} s old`);

    const bodySha256 = createHash('sha256').update(rawBody).digest('hex');
    // Both are 64 hex characters by now, so the lengths match and the comparison takes constant time.
    if (!timingSafeEqual(Buffer.from(bodySha256), Buffer.from(claims.bodySha256.toLowerCase()))) {
      return refused('BODY_MISMATCH', 'the body does not match request_body_sha256');
    }

    const parsed = parseBody(rawBody);
    if (typeof parsed === 'string') return refused('MALFORMED_BODY', parsed);
    return {
      verified: true,
      webhook: Object.freeze({ ...parsed, bodySha256, keyId: kid, issuedAt: claims.iat }),
    };
  }

  /** The cached key while it is fresh; else a (shared) fetch, falling back to a cached key when Plaid cannot be reached. */
  private async keyFor(kid: string): Promise<CachedKey> {
    const cached = this.cache.get(kid);
    const age = cached ? this.now() - cached.fetchedAt : Infinity;
    if (cached && age < (cached.kind === 'key' ? this.keyRefreshMs : this.unknownKeyCacheMs)) return cached;
    try {
      return await this.fetchShared(kid);
    } catch (error) {
      // A key we already verified with stays usable while Plaid is unreachable; its expiry is still checked.
      if (cached?.kind === 'key') return cached;
      throw error;
    }
  }

  private fetchShared(kid: string): Promise<CachedKey> {
    const running = this.fetching.get(kid);
    if (running) return running;
    const fetched = this.fetchKey(kid).finally(() => this.fetching.delete(kid));
    this.fetching.set(kid, fetched);
    return fetched;
  }

  private async fetchKey(kid: string): Promise<CachedKey> {
    const deadline = this.now() + this.keyTimeoutMs;
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new WebhookKeyUnavailableError(`no answer within ${this.keyTimeoutMs} ms`)), this.keyTimeoutMs);
    });
    let jwk: WebhookVerificationKey | null;
    try {
      jwk = await Promise.race([this.source.fetchKey(kid, deadline), late]);
    } catch (error) {
      if (error instanceof WebhookKeyUnavailableError) throw error;
      throw new WebhookKeyUnavailableError(error instanceof Error ? `${error.name}: ${error.message}` : String(error), { cause: error });
    } finally {
      clearTimeout(timer);
    }
    const fetchedAt = this.now();
    const entry = jwk === null ? unknown('Plaid knows no verification key with this kid', fetchedAt) : await importKey(kid, jwk, fetchedAt);
    this.remember(kid, entry);
    return entry;
  }

  private remember(kid: string, entry: CachedKey): void {
    this.cache.delete(kid);
    this.cache.set(kid, entry);
    // Oldest first out; Plaid's own keys are asked for again if they ever fall out.
    while (this.cache.size > MAX_CACHED_KEYS) {
      const oldest = this.cache.keys().next().value;
      if (oldest === undefined) break;
      this.cache.delete(oldest);
    }
  }
}

/** The key source backed by Plaid's /webhook_verification_key/get. */
export function plaidKeySource(plaid: Pick<PlaidClient, 'getWebhookVerificationKey'>): WebhookKeySource {
  return {
    async fetchKey(keyId, deadline) {
      try {
        return (await plaid.getWebhookVerificationKey(keyId, { deadline })).key;
      } catch (error) {
        // Only this code means "no such key"; any other failure (credentials, outage) is ours to retry.
        if (error instanceof PlaidResponseError && error.errorCode === 'INVALID_WEBHOOK_VERIFICATION_KEY_ID') return null;
        throw error;
      }
    },
  };
}

function refused(reason: RefusalReason, detail: string): WebhookVerification {
  return { verified: false, reason, detail };
}

function unknown(detail: string, fetchedAt: number): CachedKey {
  return { kind: 'unknown', detail, fetchedAt };
}

/** A short, quoted rendering of a header value chosen by the sender. */
function quoted(value: unknown): string {
  return value === undefined ? '(none)' : JSON.stringify(value).slice(0, 40);
}

/** Plaid's JWK as a CryptoKey, or an "unknown" entry when it is not an ES256 key for this kid. */
async function importKey(kid: string, jwk: WebhookVerificationKey, fetchedAt: number): Promise<CachedKey> {
  if (jwk.kid !== kid) return unknown('Plaid answered with a key for another kid', fetchedAt);
  if (jwk.alg !== 'ES256' || jwk.kty !== 'EC' || jwk.crv !== 'P-256' || jwk.use !== 'sig') {
    return unknown('the key Plaid answered is not an ES256 signing key', fetchedAt);
  }
  try {
    const key = await importJWK({ kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y }, 'ES256');
    if (key instanceof Uint8Array) return unknown('the key Plaid answered is not a public key', fetchedAt);
    return { kind: 'key', key, expiredAt: jwk.expired_at, fetchedAt };
  } catch {
    return unknown('the key Plaid answered does not import', fetchedAt);
  }
}

function parseClaims(payload: Uint8Array): { iat: number; bodySha256: string } | null {
  let claims: unknown;
  try {
    claims = JSON.parse(new TextDecoder().decode(payload));
  } catch {
    return null;
  }
  if (typeof claims !== 'object' || claims === null) return null;
  const { iat, request_body_sha256: hash } = claims as Record<string, unknown>;
  if (typeof iat !== 'number' || !Number.isFinite(iat) || typeof hash !== 'string' || !SHA256_HEX.test(hash)) return null;
  return { iat, bodySha256: hash };
}

type ParsedBody = Pick<VerifiedWebhook, 'webhookType' | 'webhookCode' | 'itemId' | 'environment' | 'payload' | 'body'>;

/** The body as a webhook, or why it is not one. */
function parseBody(rawBody: Uint8Array): ParsedBody | string {
  let body: string;
  let payload: unknown;
  try {
    body = new TextDecoder('utf-8', { fatal: true }).decode(rawBody);
    payload = JSON.parse(body);
  } catch {
    return 'the body is not UTF-8 JSON';
  }
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) return 'the body is not a JSON object';
  const fields = payload as Record<string, unknown>;
  const { webhook_type: type, webhook_code: code, item_id: itemId, environment } = fields;
  if (typeof type !== 'string' || type === '' || typeof code !== 'string' || code === '') {
    return 'the body has no webhook_type and webhook_code';
  }
  if (itemId !== undefined && itemId !== null && typeof itemId !== 'string') return 'item_id is not a string';
  return {
    webhookType: type,
    webhookCode: code,
    itemId: typeof itemId === 'string' && itemId !== '' ? itemId : null,
    environment: typeof environment === 'string' ? environment : null,
    payload: fields,
    body,
  };
}
