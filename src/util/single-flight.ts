/**
 * Single flight: concurrent calls with the same key share one execution and its outcome, success or
 * error. In one process; the Redis-backed coordination for several replicas builds on this.
 */
export interface FlightResult<T> {
  readonly value: T;
  /** True when this caller joined a call already in flight instead of starting one. */
  readonly joined: boolean;
}

export class SingleFlight {
  private readonly inFlight = new Map<string, Promise<unknown>>();

  /**
   * Rejects with the shared error when the shared call fails; `joined` is then not reported. Not
   * an async function: each caller waits on the shared promise alone, without a suspended frame of
   * its own (10,000 refreshes in flight, issue #16).
   */
  run<T>(key: string, fn: () => Promise<T>): Promise<FlightResult<T>> {
    const existing = this.inFlight.get(key) as Promise<T> | undefined;
    if (existing) return existing.then(asJoined);
    let flight: Promise<T>;
    try {
      flight = fn();
    } catch (error) {
      // As an async function would: a call that throws at once rejects (with what it threw).
      // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors
      return Promise.reject(error);
    }
    flight = flight.finally(() => this.inFlight.delete(key));
    this.inFlight.set(key, flight);
    return flight.then(asLeader);
  }

  get size(): number {
    return this.inFlight.size;
  }
}

const asJoined = <T>(value: T): FlightResult<T> => ({ value, joined: true });
/** A result the caller got by making the call itself (also for the guard's cross-replica flight). */
export const asLeader = <T>(value: T): FlightResult<T> => ({ value, joined: false });
