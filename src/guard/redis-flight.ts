/**
 * Single flight across replicas. The first replica to take a Redis lock (SET NX PX, value = its
 * flight id) calls Plaid and publishes the outcome under that flight id; the others wait for it.
 * The lock's TTL is longer than a Plaid call can take, so a replica that dies mid-call holds the
 * key only until the TTL runs out; then the next caller takes the lock and calls Plaid itself.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import { decodeOutcome, encodeOutcome, type FlightOutcome } from './flight-codec.js';
import type { FlightResult } from './single-flight.js';

const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end`;

export interface RedisFlightOptions {
  /** Longer than the slowest Plaid call including retries. */
  readonly lockTtlMs: number;
  /** How long a finished flight's outcome stays readable for replicas that were waiting on it. */
  readonly resultTtlMs?: number;
  readonly pollMs?: number;
  readonly prefix?: string;
}

export class RedisFlight {
  private readonly resultTtlMs: number;
  private readonly pollMs: number;
  private readonly prefix: string;

  constructor(
    private readonly redis: Redis,
    private readonly options: RedisFlightOptions,
  ) {
    this.resultTtlMs = options.resultTtlMs ?? 30_000;
    this.pollMs = options.pollMs ?? 25;
    this.prefix = options.prefix ?? 'plaid-refresh:flight:';
  }

  async run<T>(key: string, call: () => Promise<T>): Promise<FlightResult<T>> {
    const lockKey = `${this.prefix}lock:${key}`;
    const giveUpAt = Date.now() + this.options.lockTtlMs * 2 + 5_000;
    while (Date.now() < giveUpAt) {
      const flightId = randomUUID();
      if ((await this.redis.set(lockKey, flightId, 'PX', this.options.lockTtlMs, 'NX')) === 'OK') {
        return { value: await this.lead(key, lockKey, flightId, call), joined: false };
      }
      const leader = await this.redis.get(lockKey);
      if (leader === null) continue; // released or expired in between: try to lead
      const outcome = await this.outcomeOf(key, lockKey, leader);
      if (outcome === null) continue; // the leader died: its lock expired without an outcome
      if (!outcome.ok) throw outcome.error;
      return { value: outcome.value as T, joined: true };
    }
    throw new Error(`gave up waiting for the shared refresh ${key}`);
  }

  private async lead<T>(key: string, lockKey: string, flightId: string, call: () => Promise<T>): Promise<T> {
    let outcome: FlightOutcome;
    try {
      outcome = { ok: true, value: await call() };
    } catch (error) {
      outcome = { ok: false, error };
    }
    try {
      await this.redis.set(`${this.prefix}result:${key}:${flightId}`, encodeOutcome(outcome), 'PX', this.resultTtlMs);
    } finally {
      await this.redis.eval(RELEASE, 1, lockKey, flightId);
    }
    if (!outcome.ok) throw outcome.error;
    return outcome.value as T;
  }

  /** The outcome of flight `flightId`, or null once its lock is gone without one. */
  private async outcomeOf(key: string, lockKey: string, flightId: string): Promise<FlightOutcome | null> {
    const resultKey = `${this.prefix}result:${key}:${flightId}`;
    for (;;) {
      const [[, result], [, holder]] = (await this.redis.multi().get(resultKey).get(lockKey).exec()) as [[unknown, string | null], [unknown, string | null]];
      if (result !== null) return decodeOutcome(result);
      if (holder !== flightId) {
        // Released just now? Read the result once more before calling the leader dead.
        const late = await this.redis.get(resultKey);
        return late === null ? null : decodeOutcome(late);
      }
      await sleep(this.pollMs);
    }
  }
}
