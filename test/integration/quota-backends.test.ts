/** One quota suite, both backends: in memory, and Redis (when REDIS_URL is set, as in CI). */
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { MemoryQuotaLimiter, type QuotaLimiter } from '../../src/guard/quota.js';
import { RedisQuotaLimiter } from '../../src/guard/redis-quota.js';
import { needs } from '../helpers/needs.js';

const redisUrl = process.env.REDIS_URL;
const prefix = `test:${randomBytes(6).toString('hex')}:`;
const redis = redisUrl ? new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 }) : null;

afterAll(async () => {
  if (!redis) return;
  const keys = await redis.keys(`${prefix}*`);
  if (keys.length > 0) await redis.del(...keys);
  redis.disconnect();
});

function quotaSuite(name: string, make: () => QuotaLimiter) {
  describe(name, () => {
    const rule = (key: string, limit: number, windowMs = 800) => ({ key, limit, windowMs });

    it('allows `limit` calls per window, then says how long to wait and which key is full', async () => {
      const limiter = make();
      expect(await limiter.take([rule('item:a', 2)])).toEqual({ allowed: true });
      expect(await limiter.take([rule('item:a', 2)])).toEqual({ allowed: true });
      const refused = await limiter.take([rule('item:a', 2)]);
      expect(refused).toMatchObject({ allowed: false, key: 'item:a' });
      const wait = refused.allowed ? 0 : refused.retryAfterMs;
      expect(wait).toBeGreaterThan(0);
      expect(wait).toBeLessThanOrEqual(800);
      await sleep(wait + 50);
      expect(await limiter.take([rule('item:a', 2)])).toEqual({ allowed: true });
    });

    it('records nothing unless every rule has room, and names the full one', async () => {
      const limiter = make();
      expect((await limiter.take([rule('item:b', 5), rule('client:b', 1)])).allowed).toBe(true);
      expect(await limiter.take([rule('item:b', 5), rule('client:b', 1)])).toMatchObject({ allowed: false, key: 'client:b' });
      for (let i = 0; i < 4; i++) expect((await limiter.take([rule('item:b', 5)])).allowed).toBe(true);
      expect((await limiter.take([rule('item:b', 5)])).allowed).toBe(false);
    });

    it('a block closes a key for the given time', async () => {
      const limiter = make();
      await limiter.block('item:c', 300);
      expect(await limiter.take([rule('item:c', 10)])).toMatchObject({ allowed: false, key: 'item:c' });
      await sleep(350);
      expect((await limiter.take([rule('item:c', 10)])).allowed).toBe(true);
    });

    it('stays exact under concurrency: 50 racing calls, 2 admitted', async () => {
      const limiter = make();
      const decisions = await Promise.all(Array.from({ length: 50 }, () => limiter.take([rule('item:d', 2, 5_000)])));
      expect(decisions.filter((d) => d.allowed)).toHaveLength(2);
    });
  });
}

quotaSuite('MemoryQuotaLimiter', () => new MemoryQuotaLimiter());
describe('Redis', needs('REDIS_URL'), () => {
  quotaSuite('RedisQuotaLimiter', () => new RedisQuotaLimiter(redis as Redis, prefix));
});
