/**
 * Plaid's per-minute limits, enforced before a call is made (a call Plaid rejects with 429 is wasted,
 * one it accepts twice is billed twice). Sliding windows: in memory for one replica, or in Redis
 * (redis-quota.ts) shared by all of them.
 */
import { SlidingWindow } from './sliding-window.js';

export type QuotaDecision =
  | { readonly allowed: true }
  | { readonly allowed: false; readonly retryAfterMs: number; /** The rule that is full longest. */ readonly key: string };

export interface QuotaRule {
  /** e.g. `item:<id>:/transactions/refresh`. */
  readonly key: string;
  readonly limit: number;
  readonly windowMs: number;
}

export interface QuotaLimiter {
  /** Records one call under every rule if all have room; otherwise records nothing. */
  take(rules: readonly QuotaRule[]): Promise<QuotaDecision>;
  /** Plaid said 429 anyway: treat the key's window as full for `forMs`. */
  block(key: string, forMs: number): Promise<void>;
}

export class MemoryQuotaLimiter implements QuotaLimiter {
  private readonly calls = new Map<string, SlidingWindow>();
  private readonly blocked = new Map<string, number>();

  constructor(private readonly now: () => number = Date.now) {}

  take(rules: readonly QuotaRule[]): Promise<QuotaDecision> {
    const now = this.now();
    let retryAfterMs = 0;
    let key = '';
    const wait = (ruleKey: string, ms: number) => {
      if (ms > retryAfterMs) [retryAfterMs, key] = [ms, ruleKey];
    };
    const windows = rules.map((rule) => {
      let window = this.calls.get(rule.key);
      if (!window) this.calls.set(rule.key, (window = new SlidingWindow()));
      const size = window.prune(now, rule.windowMs);
      wait(rule.key, (this.blocked.get(rule.key) ?? 0) - now);
      if (size >= rule.limit) {
        // The oldest call in the window must age out before another fits.
        const oldest = window.at(size - rule.limit) ?? now;
        wait(rule.key, oldest + rule.windowMs - now);
      }
      return window;
    });
    if (retryAfterMs > 0) return Promise.resolve({ allowed: false, retryAfterMs, key });
    for (const window of windows) window.push(now);
    return Promise.resolve({ allowed: true });
  }

  block(key: string, forMs: number): Promise<void> {
    const until = this.now() + forMs;
    this.blocked.set(key, Math.max(until, this.blocked.get(key) ?? 0));
    return Promise.resolve();
  }
}
