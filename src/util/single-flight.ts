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

  /** Rejects with the shared error when the shared call fails; `joined` is then not reported. */
  async run<T>(key: string, fn: () => Promise<T>): Promise<FlightResult<T>> {
    const existing = this.inFlight.get(key) as Promise<T> | undefined;
    if (existing) return { value: await existing, joined: true };
    const flight = fn().finally(() => this.inFlight.delete(key));
    this.inFlight.set(key, flight);
    return { value: await flight, joined: false };
  }

  get size(): number {
    return this.inFlight.size;
  }
}
