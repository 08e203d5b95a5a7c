/**
 * Single flight across replicas. A caller takes a Redis lock (SET NX PX) whose value is its own
 * token, `<owner>:<uuid>`; the holder calls Plaid and publishes the outcome under that token, the
 * others wait for it. The lock is short-lived and renewed while the call runs, so a replica that
 * dies (kill -9) holds it for one TTL at most, and a lock whose value is our own token is ours even
 * when the reply to our SET was lost. Every wait ends by the caller's deadline.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import { CoordinationUnavailableError, SharedRefreshTimeoutError, viaRedis } from './errors.js';
import { decodeOutcome, encodeOutcome, type FlightOutcome } from './flight-codec.js';
import type { FlightResult } from '../util/single-flight.js';

// Compare-and-delete / compare-and-extend: only the owner's token may release or renew the lock.
const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end`;
const RENEW = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end`;

export interface RedisFlightOptions {
  /** The lock's lifetime; renewed every third of it while the leader's call runs. */
  readonly lockTtlMs?: number;
  /** How long a finished flight's outcome stays readable for replicas that were waiting on it. */
  readonly resultTtlMs?: number;
  readonly pollMs?: number;
  readonly prefix?: string;
  /** Names this replica in lock values, so an operator can tell whose lock it is. */
  readonly owner?: string;
  /** Called when publishing an outcome or releasing a lock failed (the caller's answer is unaffected). */
  readonly onPublishFailed?: (error: unknown) => void;
}

/** How often a failed SET NX is tried again before the caller hears "coordination unavailable". */
const ACQUIRE_ATTEMPTS = 3;

export class RedisFlight {
  private readonly lockTtlMs: number;
  private readonly resultTtlMs: number;
  private readonly pollMs: number;
  private readonly prefix: string;
  private readonly owner: string;

  constructor(
    private readonly redis: Redis,
    private readonly options: RedisFlightOptions = {},
  ) {
    this.lockTtlMs = options.lockTtlMs ?? 6_000;
    this.resultTtlMs = options.resultTtlMs ?? 30_000;
    this.pollMs = options.pollMs ?? 25;
    this.prefix = options.prefix ?? 'plaid-refresh:flight:';
    this.owner = options.owner ?? `pid${process.pid}`;
  }

  /** Runs `call` once across replicas for `key`; waits for another replica's run until `deadline` (epoch ms). */
  async run<T>(key: string, call: () => Promise<T>, deadline: number): Promise<FlightResult<T>> {
    const lockKey = `${this.prefix}lock:${key}`;
    const token = `${this.owner}:${randomUUID()}`;
    for (;;) {
      const holder = await this.acquire(lockKey, token);
      if (holder === token) return { value: await this.lead(key, lockKey, token, call), joined: false };
      if (holder === null) continue; // released in between: try to lead
      const outcome = await this.outcomeOf(key, lockKey, holder, deadline);
      if (outcome === null) {
        // The holder's lock ran out without an outcome: it died, or could not publish. It may have
        // called Plaid, so calling again could bill twice; the caller decides, knowing that.
        throw new CoordinationUnavailableError('the replica running this refresh stopped before it answered', true);
      }
      if (!outcome.ok) throw outcome.error;
      return { value: outcome.value as T, joined: true };
    }
  }

  /**
   * Takes the lock or names its holder. A SET whose reply was lost may still have taken the lock,
   * so a failed SET is retried with the same token, and a lock that holds our token is ours.
   */
  private async acquire(lockKey: string, token: string): Promise<string | null> {
    for (let attempt = 1; ; attempt++) {
      try {
        if ((await this.redis.set(lockKey, token, 'PX', this.lockTtlMs, 'NX')) === 'OK') return token;
        return await this.redis.get(lockKey);
      } catch (error) {
        if (attempt >= ACQUIRE_ATTEMPTS) {
          // If a lost SET did take it, free it now rather than make others wait out the TTL.
          this.redis.eval(RELEASE, 1, lockKey, token).catch(() => {});
          throw new CoordinationUnavailableError('Redis unavailable (single-flight lock)', false, { cause: error });
        }
        await sleep(this.pollMs * attempt);
      }
    }
  }

  private async lead<T>(key: string, lockKey: string, token: string, call: () => Promise<T>): Promise<T> {
    const renewal = setInterval(
      () => {
        // A missed renewal is survivable: the lock lasts a full TTL, and the next renewal may land.
        this.redis.eval(RENEW, 1, lockKey, token, String(this.lockTtlMs)).catch(() => {});
      },
      Math.max(10, Math.floor(this.lockTtlMs / 3)),
    );
    renewal.unref();
    let outcome: FlightOutcome;
    try {
      outcome = { ok: true, value: await call() };
    } catch (error) {
      outcome = { ok: false, error };
    } finally {
      clearInterval(renewal);
    }
    // The caller's answer does not depend on Redis: Plaid has answered, so a failed publish only
    // means waiting replicas hear "may have run" instead of the outcome.
    try {
      await this.redis.set(`${this.prefix}result:${key}:${token}`, encodeOutcome(outcome), 'PX', this.resultTtlMs);
      await this.redis.eval(RELEASE, 1, lockKey, token);
    } catch (error) {
      this.options.onPublishFailed?.(error);
    }
    if (!outcome.ok) throw outcome.error;
    return outcome.value as T;
  }

  /** The outcome of `holder`'s flight, or null once its lock is gone without one. */
  private async outcomeOf(key: string, lockKey: string, holder: string, deadline: number): Promise<FlightOutcome | null> {
    const resultKey = `${this.prefix}result:${key}:${holder}`;
    for (;;) {
      const [result, current] = await viaRedis('single-flight wait', true, async () => {
        const replies = (await this.redis.multi().get(resultKey).get(lockKey).exec()) ?? [];
        return replies.map(([error, value]) => {
          if (error) throw error;
          return value as string | null;
        });
      });
      if (result !== null && result !== undefined) return decodeOutcome(result);
      if (current !== holder) {
        // Released just now? Read the result once more before calling the holder gone.
        const late = await viaRedis('single-flight wait', true, () => this.redis.get(resultKey));
        return late === null ? null : decodeOutcome(late);
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new SharedRefreshTimeoutError();
      await sleep(Math.min(this.pollMs, left));
    }
  }
}
