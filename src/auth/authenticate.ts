/**
 * Who is calling: `Authorization: Bearer <JWT>`, verified with jose (HS256 shared secret, or a JWKS
 * URL for an identity provider). The viewer is the token's `sub`. A token must carry `exp`, may not
 * be issued in the future (beyond the clock skew) and may not live longer than the configured bound.
 */
import { errors, jwtVerify, type JWTPayload, type JWTVerifyOptions } from 'jose';
import {
  createIdentityProvider,
  IdentityProviderUnavailableError,
  type IdentityProvider,
  type IdentityProviderOptions,
} from './identity-provider.js';
import { VerifiedTokenCache } from './token-cache.js';
import { isPlausibleId } from '../util/ids.js';
import { SingleFlight } from '../util/single-flight.js';

export { IdentityProviderUnavailableError, type IdentityProvider, type IdentityProviderStatus } from './identity-provider.js';

export interface AuthConfig {
  /** HS256 shared secret; or null when a JWKS URL is used. */
  readonly jwtSecret: string | null;
  readonly jwksUrl: string | null;
  readonly issuer: string | null;
  readonly audience: string | null;
  /** Each JWKS fetch gives up after this long (default AUTH_DEFAULTS). */
  readonly jwksTimeoutMs?: number;
  /** Tolerated clock difference with the token's issuer, for exp, nbf and iat. */
  readonly clockSkewSeconds?: number;
  /** Longest accepted token lifetime: exp - iat, or exp - now without iat. */
  readonly maxTokenLifetimeSeconds?: number;
  /** Bound of the verified-token cache. */
  readonly tokenCacheMaxBytes?: number;
  /** Tuning of the JWKS key cache and probe (tests shorten them); see identity-provider.ts. */
  readonly jwks?: Pick<IdentityProviderOptions, 'cacheMaxAgeMs' | 'cooldownMs' | 'probeReuseMs'>;
}

/** The defaults of the AUTH_* variables (config.ts uses them too). */
export const AUTH_DEFAULTS = Object.freeze({
  jwksTimeoutMs: 2_000,
  clockSkewSeconds: 60,
  maxTokenLifetimeSeconds: 86_400,
  tokenCacheMaxBytes: 16 * 1_048_576,
});

export interface Viewer {
  readonly id: string;
  /** When the token expires (epoch ms): a subscription ends then. */
  readonly expiresAt?: number;
}

/** Raised when a bearer token is present but not valid; the message is safe to show (no token in it). */
export class AuthenticationError extends Error {
  override name = 'AuthenticationError';
}

export type Authenticator = (authorization: string | null) => Promise<Viewer | null>;

export interface JwtAuthenticator extends Authenticator {
  /** The JWKS endpoint's health, for readiness; null with an HS256 secret (nothing to reach). */
  readonly identityProvider: Pick<IdentityProvider, 'status' | 'probe'> | null;
}

const HMAC_ALGORITHMS = ['HS256'];
const JWKS_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'ES256', 'ES384', 'EdDSA'];
/** Verified tokens are re-checked at least this often (a key dropped from the JWKS stops working within it). */
const VERIFIED_TOKEN_MAX_AGE_MS = 60_000;

export function createAuthenticator(config: AuthConfig): JwtAuthenticator {
  if (!config.jwksUrl && !config.jwtSecret) throw new Error('auth needs AUTH_JWT_SECRET or AUTH_JWKS_URL');
  const clockSkewSeconds = config.clockSkewSeconds ?? AUTH_DEFAULTS.clockSkewSeconds;
  const maxLifetimeSeconds = config.maxTokenLifetimeSeconds ?? AUTH_DEFAULTS.maxTokenLifetimeSeconds;
  const identityProvider = config.jwksUrl
    ? createIdentityProvider({ jwksUrl: config.jwksUrl, timeoutMs: config.jwksTimeoutMs ?? AUTH_DEFAULTS.jwksTimeoutMs, ...config.jwks })
    : null;
  const secret = new TextEncoder().encode(config.jwtSecret ?? '');
  const options: JWTVerifyOptions = {
    algorithms: identityProvider ? JWKS_ALGORITHMS : HMAC_ALGORITHMS,
    requiredClaims: ['exp'],
    clockTolerance: clockSkewSeconds,
    ...(config.issuer ? { issuer: config.issuer } : {}),
    ...(config.audience ? { audience: config.audience } : {}),
  };
  const verified = new VerifiedTokenCache<Viewer>({
    maxBytes: config.tokenCacheMaxBytes ?? AUTH_DEFAULTS.tokenCacheMaxBytes,
    maxAgeMs: VERIFIED_TOKEN_MAX_AGE_MS,
  });
  // Requests that arrive together with one new token share its verification (a burst of 1,000
  // requests otherwise verified the same token 1,000 times before the first one was cached).
  const verifying = new SingleFlight();

  const verify = async (token: string): Promise<Viewer> => {
    let payload: JWTPayload;
    try {
      // Overloads differ for a key and a key function; both verify signature, exp, nbf, iss and aud.
      ({ payload } = identityProvider ? await jwtVerify(token, identityProvider.getKey, options) : await jwtVerify(token, secret, options));
    } catch (error) {
      // The provider's outage says nothing about the token: a retryable 503, not a 401.
      if (error instanceof IdentityProviderUnavailableError) throw error;
      throw new AuthenticationError(refusalOf(error));
    }
    const refusal = lifetimeRefusal(payload, Date.now() / 1000, clockSkewSeconds, maxLifetimeSeconds);
    if (refusal) throw new AuthenticationError(refusal);
    const { sub, exp } = payload;
    if (typeof sub !== 'string' || sub === '') throw new AuthenticationError('the token has no subject');
    // The subject becomes the viewer id in SQL and Redis keys: the same rules as any id.
    if (!isPlausibleId(sub))
      throw new AuthenticationError('the token subject is not a valid id (at most 256 characters, no control characters)');
    const viewer: Viewer = Object.freeze(typeof exp === 'number' ? { id: sub, expiresAt: exp * 1000 } : { id: sub });
    verified.set(token, viewer, typeof exp === 'number' ? exp * 1000 : undefined);
    return viewer;
  };

  const authenticate: Authenticator = async (authorization) => {
    if (authorization === null || authorization.trim() === '') return null;
    const match = /^Bearer\s+(\S+)$/i.exec(authorization.trim());
    const token = match?.[1];
    if (!token) throw new AuthenticationError('the Authorization header must be "Bearer <token>"');
    const known = verified.get(token);
    if (known) return known;
    return (await verifying.run(token, () => verify(token))).value;
  };
  return Object.assign(authenticate, { identityProvider });
}

/** jose's refusal as a message safe to show: what is wrong, never the token's content. */
function refusalOf(error: unknown): string {
  if (error instanceof errors.JWTExpired) return 'the token has expired';
  if (error instanceof errors.JWTClaimValidationFailed && error.claim === 'exp' && error.reason === 'missing') {
    return 'the token has no expiry (exp claim)';
  }
  return 'the token is not valid';
}

/**
 * jose has checked exp (present, not past) and nbf; what it does not check without maxTokenAge
 * (which would make iat mandatory): iat in the future, and a lifetime above the bound, which caps
 * how long a leaked token stays usable.
 */
function lifetimeRefusal(payload: JWTPayload, nowSeconds: number, skewSeconds: number, maxLifetimeSeconds: number): string | null {
  const { iat, exp } = payload;
  if (typeof exp !== 'number') return 'the token has no expiry (exp claim)';
  if (typeof iat === 'number') {
    if (iat > nowSeconds + skewSeconds)
      return 'the token is issued in the future (iat is ahead of the clock by more than the allowed skew)';
    if (exp - iat > maxLifetimeSeconds) return 'the token lives longer than allowed (exp - iat is above the maximum lifetime)';
    return null;
  }
  // Without iat the remaining lifetime is all there is to bound; the skew covers an issuer whose clock runs ahead.
  if (exp - nowSeconds > maxLifetimeSeconds + skewSeconds) return 'the token expires too far in the future (above the maximum lifetime)';
  return null;
}
