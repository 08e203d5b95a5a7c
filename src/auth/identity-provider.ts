/**
 * The identity provider's JWKS, through jose's remote key set, made honest about outages: a key
 * set that cannot be fetched (refused, timed out, not a 200, not a key set) raises
 * IdentityProviderUnavailableError, which clients see as a retryable 503, never as a bad token.
 *
 * Keys stay usable while the provider is down: jose keeps the last fetched set for `cacheMaxAgeMs`
 * (10 min) and refetches early only for a kid it does not know (at most once per `cooldownMs`).
 * So during an outage a token signed by a cached key verifies; an unknown kid gets the 503.
 */
import { createRemoteJWKSet, errors, jwksCache, type JWKSCacheInput, type JWTVerifyGetKey } from 'jose';

/** Raised when the identity provider cannot say whether a token is valid; safe to show, retryable. */
export class IdentityProviderUnavailableError extends Error {
  override name = 'IdentityProviderUnavailableError';
  /** A retry soon may already succeed: the next request fetches the key set again. */
  readonly retryAfterSeconds = 5;

  constructor(options?: ErrorOptions) {
    super('the identity provider could not be reached to verify the token; this is temporary, retry later', options);
  }
}

export interface IdentityProviderOptions {
  readonly jwksUrl: string;
  /** One JWKS fetch, connection to last byte. */
  readonly timeoutMs: number;
  /** How long a fetched key set is trusted without a refetch (jose's cacheMaxAge). */
  readonly cacheMaxAgeMs?: number;
  /** After a successful fetch, an unknown kid triggers no refetch for this long (jose's cooldownDuration). */
  readonly cooldownMs?: number;
  /** probe() reuses a successful fetch younger than this instead of fetching again. */
  readonly probeReuseMs?: number;
}

export interface IdentityProviderStatus {
  readonly reachable: boolean;
  /** Epoch ms of the last successful JWKS fetch; null before the first. */
  readonly lastFetchedAt: number | null;
  /** Epoch ms and reason (not shown to clients) of the last failed fetch, if it came after the last success. */
  readonly lastFailure: { readonly at: number; readonly reason: string } | null;
}

export interface IdentityProvider {
  /** jose's key function for jwtVerify; provider faults come out as IdentityProviderUnavailableError. */
  readonly getKey: JWTVerifyGetKey;
  /** What the last fetch (by a request or a probe) found; fetches nothing. */
  status(): IdentityProviderStatus;
  /**
   * Resolves when the key set can be fetched, rejects with IdentityProviderUnavailableError when
   * it cannot (within `timeoutMs`). Fetches only when the last success is older than `probeReuseMs`
   * or a fetch failed since: readiness probes come every few seconds from every replica, and a
   * provider that answered a moment ago needs no new request; after a failure each probe looks again,
   * so recovery shows at the next probe. A successful probe also renews jose's cached keys.
   */
  probe(): Promise<void>;
}

export const JWKS_CACHE_MAX_AGE_MS = 600_000;
export const JWKS_COOLDOWN_MS = 30_000;
export const IDENTITY_PROVIDER_PROBE_REUSE_MS = 10_000;

/**
 * Errors jose's key function raises because of the token, not the provider: its kid is not in a
 * key set fetched within the cooldown, several keys match it, or its alg cannot use a JWKS.
 * Anything else out of the key function comes from fetching or reading the key set.
 */
const TOKEN_FAULTS: readonly (new (...args: never[]) => Error)[] = [
  errors.JWKSNoMatchingKey,
  errors.JWKSMultipleMatchingKeys,
  errors.JOSENotSupported,
];

export function createIdentityProvider(options: IdentityProviderOptions): IdentityProvider {
  // jose records each successful fetch's time (uat) in this object; we only read it.
  const cache: JWKSCacheInput = {};
  const remote = createRemoteJWKSet(new URL(options.jwksUrl), {
    timeoutDuration: options.timeoutMs,
    cacheMaxAge: options.cacheMaxAgeMs ?? JWKS_CACHE_MAX_AGE_MS,
    cooldownDuration: options.cooldownMs ?? JWKS_COOLDOWN_MS,
    [jwksCache]: cache,
  });
  const probeReuseMs = options.probeReuseMs ?? IDENTITY_PROVIDER_PROBE_REUSE_MS;
  // `since`: the last success when the failure happened; a later success makes the failure old news.
  let lastFailure: { at: number; reason: string; since: number | null } | null = null;

  const lastFetchedAt = (): number | null => ('uat' in cache && typeof cache.uat === 'number' ? cache.uat : null);
  const failed = (error: unknown): IdentityProviderUnavailableError => {
    lastFailure = { at: Date.now(), reason: describe(error), since: lastFetchedAt() };
    return new IdentityProviderUnavailableError({ cause: error });
  };
  const status = (): IdentityProviderStatus => {
    const fetchedAt = lastFetchedAt();
    const failure = lastFailure && lastFailure.since === fetchedAt ? { at: lastFailure.at, reason: lastFailure.reason } : null;
    return { reachable: fetchedAt !== null && failure === null, lastFetchedAt: fetchedAt, lastFailure: failure };
  };

  const getKey: JWTVerifyGetKey = async (header, token) => {
    try {
      return await remote(header, token);
    } catch (error) {
      if (TOKEN_FAULTS.some((fault) => error instanceof fault)) throw error;
      throw failed(error);
    }
  };

  const probe = async (): Promise<void> => {
    const current = status();
    if (current.reachable && current.lastFetchedAt !== null && Date.now() - current.lastFetchedAt < probeReuseMs) return;
    try {
      // jose shares one fetch among concurrent reloads, the requests' and the probes'.
      await remote.reload();
    } catch (error) {
      throw failed(error);
    }
  };

  return { getKey, status, probe };
}

/** A one-line reason for logs: the error and, for fetch's TypeError, its cause (ECONNREFUSED, ...). */
function describe(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = error.cause instanceof Error ? `: ${(error.cause as NodeJS.ErrnoException).code ?? error.cause.message}` : '';
  return `${error.name}: ${error.message}${cause}`;
}
