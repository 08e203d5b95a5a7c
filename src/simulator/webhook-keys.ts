/**
 * The simulator's webhook signing keys, as Plaid keeps them: EC P-256 (ES256) pairs, one current,
 * older ones still served by /webhook_verification_key/get with `expired_at` set, so a receiver can
 * verify a webhook signed before a rotation. Signs bodies the way Plaid does (docs/simulator.md).
 */
import { createHash, generateKeyPairSync, randomUUID, sign, type KeyObject } from 'node:crypto';

/** A public key as /webhook_verification_key/get answers it (Plaid's JWKPublicKey). */
export interface WebhookJwk {
  readonly alg: 'ES256';
  readonly crv: 'P-256';
  readonly kty: 'EC';
  readonly use: 'sig';
  readonly kid: string;
  readonly x: string;
  readonly y: string;
  /** Unix seconds. */
  readonly created_at: number;
  /** Unix seconds; null while the key is current. */
  readonly expired_at: number | null;
}

interface KeyPair {
  readonly kid: string;
  readonly privateKey: KeyObject;
  readonly x: string;
  readonly y: string;
  readonly createdAt: number;
  expiredAt: number | null;
}

/** How one signature should go wrong, for the webhook faults. */
export interface SignOptions {
  /** Sign with a key Plaid never published, under the current key's kid (a forged signature). */
  readonly foreignKey?: boolean;
  /** `iat` this many seconds in the past (a replayed or stale webhook). */
  readonly ageSeconds?: number;
}

function newPair(kid: string, createdAt: number): KeyPair {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const jwk = publicKey.export({ format: 'jwk' });
  if (typeof jwk.x !== 'string' || typeof jwk.y !== 'string') throw new Error('P-256 public key without x/y');
  return { kid, privateKey, x: jwk.x, y: jwk.y, createdAt, expiredAt: null };
}

const base64url = (data: string | Buffer) => Buffer.from(data).toString('base64url');

/** Hex SHA-256 of the exact body bytes, as in Plaid's `request_body_sha256`. */
export function bodySha256(body: string): string {
  return createHash('sha256').update(body, 'utf8').digest('hex');
}

export class WebhookKeyRing {
  private readonly pairs = new Map<string, KeyPair>();
  private current: KeyPair;

  constructor(private readonly now: () => number = Date.now) {
    this.current = this.add();
  }

  private add(): KeyPair {
    const pair = newPair(randomUUID(), Math.floor(this.now() / 1000));
    this.pairs.set(pair.kid, pair);
    return pair;
  }

  get currentKid(): string {
    return this.current.kid;
  }

  /** A new current key; the old one stays served, with `expired_at` now. Returns the new key. */
  rotate(): WebhookJwk {
    this.current.expiredAt = Math.floor(this.now() / 1000);
    this.current = this.add();
    return this.jwk(this.current);
  }

  /** The public key of `kid`, expired or not; undefined for a kid this simulator never made. */
  get(kid: string): WebhookJwk | undefined {
    const pair = this.pairs.get(kid);
    return pair ? this.jwk(pair) : undefined;
  }

  /** Every key made so far, oldest first. */
  list(): WebhookJwk[] {
    return [...this.pairs.values()].map((pair) => this.jwk(pair));
  }

  /**
   * The `Plaid-Verification` value for `body`: a compact JWS, header `{alg, kid, typ}`, payload
   * `{iat, request_body_sha256}`, ES256 with the raw r||s signature JWS requires.
   */
  sign(body: string, options: SignOptions = {}): string {
    const signer = options.foreignKey ? newPair(this.current.kid, 0) : this.current;
    const header = base64url(JSON.stringify({ alg: 'ES256', kid: this.current.kid, typ: 'JWT' }));
    const iat = Math.floor(this.now() / 1000) - (options.ageSeconds ?? 0);
    const payload = base64url(JSON.stringify({ iat, request_body_sha256: bodySha256(body) }));
    const signature = sign('sha256', Buffer.from(`${header}.${payload}`), { key: signer.privateKey, dsaEncoding: 'ieee-p1363' });
    return `${header}.${payload}.${base64url(signature)}`;
  }

  private jwk(pair: KeyPair): WebhookJwk {
    return {
      alg: 'ES256',
      crv: 'P-256',
      kty: 'EC',
      use: 'sig',
      kid: pair.kid,
      x: pair.x,
      y: pair.y,
      created_at: pair.createdAt,
      expired_at: pair.expiredAt,
    };
  }
}
