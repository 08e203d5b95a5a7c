/** Messages between the bench runner and its child processes (Node IPC, JSON). */

export interface SimulatorReady {
  readonly type: 'ready';
  readonly url: string;
  readonly clientId: string;
  readonly secret: string;
}

export interface BenchItem {
  readonly id: string;
  /** For the direct calls to the simulator, which need the same access token the service sends. */
  readonly accessToken: string;
}

export interface ServiceReady {
  readonly type: 'ready';
  readonly url: string;
  readonly simulatorUrl: string;
  readonly plaid: { readonly clientId: string; readonly secret: string };
  /** Viewer `bench`: `items` healthy Items, no Plaid user. */
  readonly token: string;
  readonly items: readonly BenchItem[];
  /** Viewer `demo`: the simulator's fixture Items (every kind of answer) and a Plaid user. */
  readonly demoToken: string;
  readonly demoItems: Readonly<Record<string, string>>;
}

export interface ChildStats {
  readonly rssBytes: number;
  /** Highest RSS sampled (every 50 ms) since the last reset. */
  readonly peakRssBytes: number;
  readonly heapUsedBytes: number;
  /** V8's heap as committed (used + free pages it keeps), and memory outside it (Buffers, native). */
  readonly heapTotalBytes?: number;
  readonly externalBytes?: number;
  /** Committed bytes per V8 heap space (new_space, old_space, code_space, large_object_space...). */
  readonly heapSpaces?: Readonly<Record<string, number>>;
  /** Requests the service's listener is serving right now. */
  readonly inFlightRequests?: number;
  /** Event-loop delay since the last reset (perf_hooks.monitorEventLoopDelay). */
  readonly eventLoop: { readonly p50Ms: number; readonly p99Ms: number; readonly maxMs: number; readonly meanMs: number };
  readonly vaultQueries: number;
  /** The process's CPU time so far (user + system, process.cpuUsage), in ms: a request's cost on a busy machine. */
  readonly cpuMs?: number;
}

export type ParentMessage =
  /** `gc`: collect garbage first (a child started with --expose-gc), so heap figures are live data. */
  | { readonly type: 'stats'; readonly id: number; readonly reset: boolean; readonly gc?: boolean }
  /** CPU profile of the main thread between `start` and `stop`; `stop` writes it to `path`. */
  | { readonly type: 'profile'; readonly id: number; readonly action: 'start' | 'stop'; readonly path?: string };
export type ChildMessage =
  | ServiceReady
  | { readonly type: 'stats'; readonly id: number; readonly stats: ChildStats }
  | { readonly type: 'profile'; readonly id: number; readonly error: string | null };
