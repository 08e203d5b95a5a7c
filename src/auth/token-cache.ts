/**
 * Tokens already verified, remembered until they expire or for `maxAgeMs`, whichever is sooner. A
 * frontend sends the same bearer token with every request, and verifying it (WebCrypto HMAC or RSA
 * through jose) was a large share of a refresh's CPU. Only valid tokens are kept, keyed by the whole
 * token; `maxAgeMs` bounds how long a key removed from a JWKS still admits its tokens.
 */
export interface TokenCacheOptions {
  readonly maxEntries: number;
  readonly maxAgeMs: number;
  readonly now?: () => number;
}

export class VerifiedTokenCache<T> {
  // A Map iterates in insertion order: the first key is the oldest entry.
  private readonly entries = new Map<string, { readonly value: T; readonly until: number }>();
  private readonly now: () => number;

  constructor(private readonly options: TokenCacheOptions) {
    this.now = options.now ?? Date.now;
  }

  get(token: string): T | undefined {
    const entry = this.entries.get(token);
    if (!entry) return undefined;
    if (entry.until > this.now()) return entry.value;
    this.entries.delete(token);
    return undefined;
  }

  /** `expiresAtMs`: the token's `exp` in milliseconds; undefined for a token without one. */
  set(token: string, value: T, expiresAtMs: number | undefined): void {
    const now = this.now();
    const until = Math.min(expiresAtMs ?? Number.POSITIVE_INFINITY, now + this.options.maxAgeMs);
    if (until <= now || this.options.maxEntries <= 0) return;
    if (this.entries.size >= this.options.maxEntries) {
      const oldest = this.entries.keys().next();
      if (!oldest.done) this.entries.delete(oldest.value);
    }
    this.entries.set(token, { value, until });
  }

  get size(): number {
    return this.entries.size;
  }
}
