/**
 * Who is calling: `Authorization: Bearer <JWT>`, verified with jose (HS256 shared secret, or a JWKS
 * URL for an identity provider). The viewer is the token's `sub`.
 */
import { createRemoteJWKSet, jwtVerify, type JWTVerifyGetKey } from 'jose';
import { VerifiedTokenCache } from './token-cache.js';

export interface AuthConfig {
  /** HS256 shared secret; or null when a JWKS URL is used. */
  readonly jwtSecret: string | null;
  readonly jwksUrl: string | null;
  readonly issuer: string | null;
  readonly audience: string | null;
  /** Bound of the verified-token cache (default AUTH_DEFAULTS). */
  readonly tokenCacheMaxBytes?: number;
}

/** The defaults of the AUTH_* variables (config.ts uses them too). */
export const AUTH_DEFAULTS = Object.freeze({
  tokenCacheMaxBytes: 16 * 1_048_576,
});

export interface Viewer {
  readonly id: string;
}

/** Raised when a bearer token is present but not valid; the message is safe to show (no token in it). */
export class AuthenticationError extends Error {
  override name = 'AuthenticationError';
}

export type Authenticator = (authorization: string | null) => Promise<Viewer | null>;

const HMAC_ALGORITHMS = ['HS256'];
const JWKS_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'ES256', 'ES384', 'EdDSA'];
/** Verified tokens are re-checked at least this often (a key dropped from the JWKS stops working within it). */
const VERIFIED_TOKEN_MAX_AGE_MS = 60_000;

export function createAuthenticator(config: AuthConfig): Authenticator {
  const key: Uint8Array | JWTVerifyGetKey = config.jwksUrl
    ? createRemoteJWKSet(new URL(config.jwksUrl))
    : new TextEncoder().encode(config.jwtSecret ?? '');
  const options = {
    algorithms: config.jwksUrl ? JWKS_ALGORITHMS : HMAC_ALGORITHMS,
    ...(config.issuer ? { issuer: config.issuer } : {}),
    ...(config.audience ? { audience: config.audience } : {}),
  };
  if (!config.jwksUrl && !config.jwtSecret) throw new Error('auth needs AUTH_JWT_SECRET or AUTH_JWKS_URL');
  const verified = new VerifiedTokenCache<Viewer>({
    maxBytes: config.tokenCacheMaxBytes ?? AUTH_DEFAULTS.tokenCacheMaxBytes,
    maxAgeMs: VERIFIED_TOKEN_MAX_AGE_MS,
  });
  // Requests that arrive together with one new token share its verification (a burst of 1,000
  // requests otherwise verified the same token 1,000 times before the first one was cached).
  const verifying = new Map<string, Promise<Viewer>>();

  const verify = async (token: string): Promise<Viewer> => {
    let sub: unknown;
    let exp: unknown;
    try {
      // Overloads differ for a key and a key function; both verify signature, expiry, iss and aud.
      const result = key instanceof Uint8Array ? await jwtVerify(token, key, options) : await jwtVerify(token, key, options);
      ({ sub, exp } = result.payload);
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      throw new AuthenticationError(
        code === 'ERR_JWT_EXPIRED' ? 'the token has expired' : 'the token is not valid',
      );
    }
    if (typeof sub !== 'string' || sub === '') throw new AuthenticationError('the token has no subject');
    const viewer: Viewer = Object.freeze({ id: sub });
    verified.set(token, viewer, typeof exp === 'number' ? exp * 1000 : undefined);
    return viewer;
  };

  return async (authorization) => {
    if (authorization === null || authorization.trim() === '') return null;
    const match = /^Bearer\s+(\S+)$/i.exec(authorization.trim());
    const token = match?.[1];
    if (!token) throw new AuthenticationError('the Authorization header must be "Bearer <token>"');
    const known = verified.get(token);
    if (known) return known;
    let pending = verifying.get(token);
    if (!pending) {
      pending = verify(token).finally(() => verifying.delete(token));
      verifying.set(token, pending);
    }
    return pending;
  };
}
