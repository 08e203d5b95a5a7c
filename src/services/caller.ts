/** Who a use case runs for, and until when its caller waits: every wait below is bounded by `deadline`. */
export interface Caller {
  readonly viewerId: string;
  /** Epoch ms. */
  readonly deadline: number;
}

/** A caller outside a request (the demo seed, scripts, tests): `timeoutMs` from now. */
export function callerFor(viewerId: string, timeoutMs = 120_000): Caller {
  return { viewerId, deadline: Date.now() + timeoutMs };
}
