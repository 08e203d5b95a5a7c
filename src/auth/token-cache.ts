/**
 * Tokens already verified, remembered until they expire or for `maxAgeMs`, whichever is sooner. A
 * frontend sends the same bearer token with every request, and verifying it (WebCrypto HMAC or RSA
 * through jose) was a large share of a refresh's CPU. Only valid tokens are kept, keyed by the whole
 * token; `maxAgeMs` bounds how long a key removed from a JWKS still admits its tokens.
 *
 * Bounded by bytes, not by count: tokens range from a few hundred bytes to over 10 KB (10,000 of
 * 14 KB held 230 MB under a count bound). An lru-cache with `maxSize` drops the least recently used.
 */
import { LRUCache } from 'lru-cache';

export interface TokenCacheOptions {
  /** Upper bound of the bytes the cached tokens (and their entries) take. */
  readonly maxBytes: number;
  readonly maxAgeMs: number;
  /** Tests only: a clock for both the entries' ages and the tokens' exp. */
  readonly now?: () => number;
}

/**
 * What an entry costs beyond its token's characters: lru-cache's slots, the Map entry, the frozen
 * `{ id }` viewer and its id string. Measured at ~190 bytes on Node 20; rounded up for longer ids.
 */
export const TOKEN_CACHE_ENTRY_OVERHEAD_BYTES = 256;

export class VerifiedTokenCache<T extends NonNullable<unknown>> {
  private readonly entries: LRUCache<string, T>;
  private readonly now: () => number;

  constructor(private readonly options: TokenCacheOptions) {
    this.now = options.now ?? Date.now;
    this.entries = new LRUCache<string, T>({
      maxSize: options.maxBytes,
      // Tokens are base64url (ASCII), which V8 stores at one byte a character.
      sizeCalculation: (_value, token) => token.length + TOKEN_CACHE_ENTRY_OVERHEAD_BYTES,
      // 0: read the clock on every check; the default (1 ms) arms a timer per clock read instead.
      ttlResolution: 0,
      ...(options.now ? { perf: { now: options.now } } : {}),
    });
  }

  get(token: string): T | undefined {
    return this.entries.get(token);
  }

  /** `expiresAtMs`: the token's `exp` in milliseconds; undefined for a token without one. */
  set(token: string, value: T, expiresAtMs: number | undefined): void {
    // lru-cache measures age on its own (monotonic) clock, so the wall-clock exp becomes a duration.
    const lifetime = Math.min(expiresAtMs === undefined ? Number.POSITIVE_INFINITY : expiresAtMs - this.now(), this.options.maxAgeMs);
    // lru-cache serves an entry while its age <= ttl: one less stops serving it at exp itself.
    const ttl = Math.floor(lifetime) - 1;
    if (ttl <= 0) return;
    this.entries.set(token, value, { ttl });
  }

  /** Entries held (expired ones may linger until read or pushed out). */
  get size(): number {
    return this.entries.size;
  }

  /** What the entries count against `maxBytes`. */
  get bytes(): number {
    return this.entries.calculatedSize;
  }
}
