/**
 * Single flight across replicas (RedisFlight) against a real Redis: locks carry their owner's token
 * and are recognised as one's own, are short-lived and renewed, and every wait is bounded.
 */
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { CoordinationUnavailableError, SharedRefreshTimeoutError } from '../../src/guard/errors.js';
import { RedisFlight } from '../../src/guard/redis-flight.js';
import { needs } from '../helpers/needs.js';

const redisUrl = process.env.REDIS_URL;
const prefix = `test:${randomBytes(6).toString('hex')}:flight:`;
const redis = redisUrl ? new Redis(redisUrl, { maxRetriesPerRequest: 1 }) : null;

afterAll(async () => {
  if (!redis) return;
  const keys = await redis.keys(`${prefix}*`);
  if (keys.length > 0) await redis.del(...keys);
  redis.disconnect();
});

/**
 * The real client, but `set` calls matching `failSet` fail as on a dropped connection: after
 * running on Redis (the reply was lost) or, with `before`, without reaching it.
 */
function lossy(real: Redis, failSet: (args: unknown[]) => boolean, options: { before?: boolean } = {}): Redis {
  return new Proxy(real, {
    get(target, property, receiver) {
      if (property !== 'set') return Reflect.get(target, property, receiver) as unknown;
      return async (...args: unknown[]) => {
        const fail = failSet(args);
        if (fail && options.before) throw new Error('Connection is closed.');
        const reply: unknown = await (target.set as (...a: unknown[]) => Promise<unknown>)(...args);
        if (fail) throw new Error('Connection is closed.');
        return reply;
      };
    },
  });
}

const soon = () => Date.now() + 10_000;

describe('RedisFlight', needs('REDIS_URL'), () => {
  const real = redis as Redis;

  it('a lost reply to the lock SET does not freeze the leader: its own token is recognised and it leads at once', async () => {
    let lost = 0;
    const flight = new RedisFlight(
      lossy(real, (args) => String(args[0]).includes(':lock:') && lost++ === 0),
      { prefix, lockTtlMs: 60_000 },
    );
    let calls = 0;
    const started = Date.now();
    const result = await flight.run('lost-reply', () => Promise.resolve(++calls), soon());
    expect(result).toEqual({ value: 1, joined: false });
    expect(lost).toBe(2);
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(await real.exists(`${prefix}lock:lost-reply`)).toBe(0);
  });

  it('a lock left by a dead replica (kill -9) holds followers one short TTL at most, then they give up with "may have run"', async () => {
    await real.set(`${prefix}lock:dead`, 'other-host:123:dead-token', 'PX', 400);
    const flight = new RedisFlight(real, { prefix, lockTtlMs: 400 });
    const started = Date.now();
    const error = await flight.run('dead', () => Promise.resolve('never'), soon()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CoordinationUnavailableError);
    expect((error as CoordinationUnavailableError).mayHaveRun).toBe(true);
    expect(Date.now() - started).toBeLessThan(1_500);
    // The next caller leads.
    await expect(flight.run('dead', () => Promise.resolve('fresh'), soon())).resolves.toEqual({ value: 'fresh', joined: false });
  });

  it('the lock is renewed while a long call runs: another replica joins instead of calling Plaid again', async () => {
    const a = new RedisFlight(real, { prefix, lockTtlMs: 300 });
    const b = new RedisFlight(real, { prefix, lockTtlMs: 300 });
    let calls = 0;
    const slow = async () => {
      calls++;
      await sleep(1_000);
      return 'done';
    };
    const leader = a.run('renewed', slow, soon());
    await sleep(50);
    const follower = b.run('renewed', slow, soon());
    expect(await Promise.all([leader, follower])).toEqual([
      { value: 'done', joined: false },
      { value: 'done', joined: true },
    ]);
    expect(calls).toBe(1);
  });

  it('a follower stops waiting at its own deadline', async () => {
    const a = new RedisFlight(real, { prefix, lockTtlMs: 1_000 });
    const b = new RedisFlight(real, { prefix, lockTtlMs: 1_000 });
    const leader = a.run('deadline', () => sleep(1_500).then(() => 'late'), soon());
    await sleep(50);
    const started = Date.now();
    const error = await b.run('deadline', () => Promise.resolve('no'), Date.now() + 300).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SharedRefreshTimeoutError);
    expect(Date.now() - started).toBeLessThan(800);
    await expect(leader).resolves.toEqual({ value: 'late', joined: false });
  });

  it('an outcome that cannot be published still reaches the leader; followers hear "may have run", never a second call', async () => {
    const published: unknown[] = [];
    const a = new RedisFlight(
      lossy(real, (args) => String(args[0]).includes(':result:'), { before: true }),
      { prefix, lockTtlMs: 300, onPublishFailed: (error) => published.push(error) },
    );
    const b = new RedisFlight(real, { prefix, lockTtlMs: 300 });
    let calls = 0;
    const work = async () => {
      calls++;
      await sleep(200);
      return 'accepted';
    };
    const leader = a.run('unpublished', work, soon());
    await sleep(30);
    const follower = b.run('unpublished', work, soon()).catch((e: unknown) => e);
    await expect(leader).resolves.toEqual({ value: 'accepted', joined: false });
    const error = await follower;
    expect(error).toBeInstanceOf(CoordinationUnavailableError);
    expect((error as CoordinationUnavailableError).mayHaveRun).toBe(true);
    expect(calls).toBe(1);
    expect(published).toHaveLength(1);
  });

  it('Redis down: the caller hears "coordination unavailable", did not run, within the command timeout', async () => {
    const down = new Redis('redis://127.0.0.1:1', {
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
    });
    down.on('error', () => {});
    const flight = new RedisFlight(down, { prefix, lockTtlMs: 300, pollMs: 5 });
    let calls = 0;
    const error = await flight.run('down', () => Promise.resolve(++calls), soon()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CoordinationUnavailableError);
    expect((error as CoordinationUnavailableError).mayHaveRun).toBe(false);
    expect(calls).toBe(0);
    down.disconnect();
  });
});
