/**
 * The quota windows in Redis, shared by every replica: one sorted set of call times per key, checked
 * and recorded atomically by a Lua script on Redis' own clock (replicas' clocks may differ).
 */
import type { Redis } from 'ioredis';
import { randomUUID } from 'node:crypto';
import { viaRedis } from './errors.js';
import type { QuotaDecision, QuotaLimiter, QuotaRule } from './quota.js';

// KEYS: the rules' keys. ARGV: member, then window and limit per rule.
// Returns {1} when recorded, or {0, waitMs, key} naming the rule that is full longest.
const TAKE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local wait, waitKey = 0, ''
for i, key in ipairs(KEYS) do
  local window = tonumber(ARGV[2 * i])
  local limit = tonumber(ARGV[2 * i + 1])
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
  local blocked = redis.call('PTTL', key .. ':blocked')
  if blocked > wait then wait, waitKey = blocked, key end
  local count = redis.call('ZCARD', key)
  if count >= limit then
    local oldest = redis.call('ZRANGE', key, count - limit, count - limit, 'WITHSCORES')
    local w = tonumber(oldest[2]) + window - now
    if w > wait then wait, waitKey = w, key end
  end
end
if wait > 0 then return {0, wait, waitKey} end
for i, key in ipairs(KEYS) do
  redis.call('ZADD', key, now, ARGV[1] .. ':' .. i)
  redis.call('PEXPIRE', key, tonumber(ARGV[2 * i]))
end
return {1}
`;

export class RedisQuotaLimiter implements QuotaLimiter {
  constructor(
    private readonly redis: Redis,
    /** Namespaces the keys, so several deployments (or test runs) can share one Redis. */
    private readonly prefix = 'plaid-refresh:quota:',
  ) {}

  async take(rules: readonly QuotaRule[]): Promise<QuotaDecision> {
    const keys = rules.map((rule) => this.prefix + rule.key);
    const args = [randomUUID(), ...rules.flatMap((rule) => [String(rule.windowMs), String(rule.limit)])];
    const answer = (await viaRedis('quota', false, () => this.redis.eval(TAKE, keys.length, ...keys, ...args))) as [
      number,
      number?,
      string?,
    ];
    if (answer[0] === 1) return { allowed: true };
    return { allowed: false, retryAfterMs: Number(answer[1]), key: String(answer[2]).slice(this.prefix.length) };
  }

  async block(key: string, forMs: number): Promise<void> {
    await viaRedis('quota block', false, () => this.redis.set(`${this.prefix}${key}:blocked`, '1', 'PX', Math.max(1, Math.round(forMs))));
  }
}
