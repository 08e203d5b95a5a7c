/**
 * A TCP fault proxy for fault-injection tests. It sits between the service and one dependency
 * (PostgreSQL, Redis, the Plaid simulator) on 127.0.0.1 and can cut, blackhole, slow or flap it
 * while the service runs. node:net only.
 *
 * Choices, each pinned by test/unit/fault-proxy.test.ts:
 * - Open connections are cut with a real RST (`resetAndDestroy`), so a client sees ECONNRESET,
 *   not a clean FIN that it might take for an orderly shutdown.
 * - `drop` refuses at the TCP level by default: the listener closes, so new connections get
 *   ECONNREFUSED as from a stopped PostgreSQL, and reopens on the same port when the drop ends.
 *   The kernel lets a listener rebind over TIME_WAIT (libuv sets SO_REUSEADDR); the one race
 *   left, another socket briefly holding the port as its ephemeral port, is retried for 2 s.
 *   `newConnections: 'reset'` keeps listening and resets each new connection instead (a load
 *   balancer with no backend); only those show in `stats().refused`, since a TCP refusal never
 *   reaches the proxy.
 * - `blackhole` holds every connection, old and new: nothing is forwarded either way, nothing is
 *   closed. Leaving it resets the held connections by default, as after a long outage the
 *   dependency's side has long timed out; `onExit: 'resume'` lets them carry on, as after a blip.
 * - `latency` delays each chunk, both ways, by `ms` from its arrival. A chunk never overtakes an
 *   earlier one, also across mode changes: what is queued keeps its due time, and later chunks
 *   (with a shorter delay, or none) wait behind it. A FIN travels in the same queue.
 * - Socket errors never escape: every socket has an error listener, and a reset or failure on
 *   one side is passed on to the other as an RST. Timers are unref'd, and close() destroys every
 *   socket and waits at most a second, so the proxy never keeps a test process alive.
 */
import { createServer, Socket, type AddressInfo, type Server } from 'node:net';
import { performance } from 'node:perf_hooks';
import { settlesWithin } from '../../src/util/settles-within.js';

export type FaultMode =
  | { readonly kind: 'pass' }
  | { readonly kind: 'drop'; readonly newConnections?: NewConnections }
  | { readonly kind: 'blackhole'; readonly onExit?: 'reset' | 'resume' }
  | { readonly kind: 'latency'; readonly ms: number }
  /** Alternates pass (first, for upMs) and drop (for downMs) until the next setMode. */
  | { readonly kind: 'flap'; readonly upMs: number; readonly downMs: number; readonly newConnections?: NewConnections };

/** What a drop does to new connections: TCP-level ECONNREFUSED, or accept and reset at once. */
export type NewConnections = 'refuse' | 'reset';

export interface FaultProxyStats {
  /** Connections taken in for forwarding (held ones in a blackhole included). */
  readonly accepted: number;
  /** Connections the proxy accepted only to reset them because it was dropping. */
  readonly refused: number;
  /** Bytes handed to the target, and to clients. */
  readonly bytesUp: number;
  readonly bytesDown: number;
  /** Connections the proxy cut with an RST: by a fault, or passing on a reset or an unreachable target. */
  readonly resets: number;
}

export interface FaultProxy {
  /** The proxy's port on 127.0.0.1; it stays the same across drops. */
  readonly port: number;
  /** `of` with its host and port replaced by the proxy's (user, path and query kept). */
  url(of: string): string;
  /**
   * Resolves once the mode is in effect (the listener closed or reopened as the mode needs);
   * rejects if the port cannot be had back within 2 s. A flap resolves once its first up phase is on.
   */
  setMode(mode: FaultMode): Promise<void>;
  /** Open client connections. */
  connections(): number;
  stats(): FaultProxyStats;
  /** Closes the listener and every connection; resolves within about a second whatever the state. */
  close(): Promise<void>;
}

export interface FaultProxyOptions {
  readonly target: { readonly host: string; readonly port: number };
  /** Where to listen on 127.0.0.1; 0 (the default) picks a free port. */
  readonly port?: number;
}

export async function startFaultProxy(options: FaultProxyOptions): Promise<FaultProxy> {
  const proxy = new TcpFaultProxy(options.target, options.port ?? 0);
  await proxy.setMode({ kind: 'pass' });
  return proxy;
}

const HOST = '127.0.0.1';
/** Bytes queued in one direction before the proxy stops reading from its sender. */
const MAX_QUEUED = 1 << 20;
const REOPEN_FOR_MS = 2_000;
const CLOSE_WITHIN_MS = 1_000;

type Phase = 'pass' | 'drop' | 'blackhole' | 'latency';

/** One direction of a connection; `chunk: null` is the sender's FIN. */
interface Direction {
  readonly from: Socket;
  readonly to: Socket;
  readonly queue: { readonly due: number; readonly chunk: Buffer | null }[];
  queuedBytes: number;
  timer: NodeJS.Timeout | null;
  readonly stat: 'bytesUp' | 'bytesDown';
}

interface Link {
  readonly client: Socket;
  readonly upstream: Socket;
  readonly up: Direction;
  readonly down: Direction;
  /** The upstream connection was started (a connection opened in a blackhole has none yet). */
  dialed: boolean;
  /** In a blackhole: nothing is read or forwarded. */
  held: boolean;
  /** A side failed while held; the link is reset when the blackhole ends. */
  broken: boolean;
  /** Torn down by the proxy; events still arriving from its sockets are ignored. */
  gone: boolean;
}

const ignore = () => undefined;

/** An RST where the socket allows it; a socket still connecting is simply destroyed. */
function reset(socket: Socket): void {
  if (socket.destroyed) return;
  // resetAndDestroy on a connecting socket waits for the handshake, which may never come.
  if (socket.connecting) {
    socket.destroy();
    return;
  }
  try {
    socket.resetAndDestroy();
  } catch {
    socket.destroy();
  }
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms).unref());

class TcpFaultProxy implements FaultProxy {
  private readonly links = new Set<Link>();
  private readonly counters = { accepted: 0, refused: 0, bytesUp: 0, bytesDown: 0, resets: 0 };
  private mode: FaultMode = { kind: 'pass' };
  private phase: Phase = 'pass';
  private blackholeExit: 'reset' | 'resume' = 'reset';
  private flapTimer: NodeJS.Timeout | null = null;
  private server: Server | null = null;
  /** Servers closed but maybe still waiting for their connections' close events. */
  private readonly closing = new Set<Promise<void>>();
  private listenerTask: Promise<void> = Promise.resolve();
  private closed = false;
  private boundPort: number;

  constructor(
    private readonly target: FaultProxyOptions['target'],
    port: number,
  ) {
    this.boundPort = port;
  }

  get port(): number {
    return this.boundPort;
  }

  url(of: string): string {
    const authority = /^([a-z][a-z0-9+.-]*:\/\/(?:[^/?#]*@)?)[^/?#]*/i.exec(of);
    if (!authority) throw new Error('fault proxy: url() needs a URL with scheme://host');
    return `${authority[1]}${HOST}:${this.boundPort}${of.slice(authority[0].length)}`;
  }

  setMode(mode: FaultMode): Promise<void> {
    if (this.closed) return Promise.reject(new Error('fault proxy is closed'));
    if (mode.kind === 'latency' && !(Number.isFinite(mode.ms) && mode.ms >= 0))
      return Promise.reject(new RangeError(`latency ms: ${mode.ms}`));
    if (mode.kind === 'flap' && !(mode.upMs > 0 && mode.downMs > 0))
      return Promise.reject(new RangeError('flap needs upMs and downMs > 0'));
    if (this.flapTimer) clearTimeout(this.flapTimer);
    this.flapTimer = null;
    this.mode = mode;
    if (mode.kind === 'flap') return this.flap(mode, true);
    if (mode.kind === 'blackhole') this.blackholeExit = mode.onExit ?? 'reset';
    return this.enter(mode.kind);
  }

  connections(): number {
    let open = 0;
    for (const link of this.links) if (!link.client.destroyed) open += 1;
    return open;
  }

  stats(): FaultProxyStats {
    return { ...this.counters };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.flapTimer) clearTimeout(this.flapTimer);
    for (const link of [...this.links]) this.tearDown(link, (socket) => socket.destroy());
    // A reopen still retrying sees `closed` and gives up; either way the wait is bounded.
    await settlesWithin(
      this.syncListener().then(() => Promise.all(this.closing)),
      CLOSE_WITHIN_MS,
    ).catch(ignore);
  }

  private flap(mode: Extract<FaultMode, { kind: 'flap' }>, up: boolean): Promise<void> {
    const entered = this.enter(up ? 'pass' : 'drop');
    this.flapTimer = setTimeout(
      () => {
        // A failed reopen is retried at the next up phase; the test sees it as a longer down.
        void this.flap(mode, !up).catch(ignore);
      },
      up ? mode.upMs : mode.downMs,
    ).unref();
    return entered;
  }

  private dropStyle(): NewConnections {
    return (this.mode.kind === 'drop' || this.mode.kind === 'flap' ? this.mode.newConnections : undefined) ?? 'refuse';
  }

  private enter(phase: Phase): Promise<void> {
    const leaving = this.phase;
    this.phase = phase;
    if (phase === 'drop') for (const link of [...this.links]) this.resetLink(link);
    if (leaving === 'blackhole' && phase !== 'blackhole') this.endBlackhole();
    if (phase === 'blackhole') for (const link of this.links) this.hold(link);
    return this.syncListener();
  }

  private hold(link: Link): void {
    link.held = true;
    for (const direction of [link.up, link.down]) {
      if (direction.timer) clearTimeout(direction.timer);
      direction.timer = null;
      direction.from.pause();
    }
  }

  private endBlackhole(): void {
    for (const link of [...this.links]) {
      if (!link.held) continue;
      if (link.broken || this.blackholeExit === 'reset') {
        this.resetLink(link);
        continue;
      }
      link.held = false;
      if (!link.dialed) this.dial(link);
      this.pump(link, link.up);
      this.pump(link, link.down);
    }
  }

  // ---- the listener --------------------------------------------------------------------------

  /** Opens or closes the listener to match the phase; one change at a time, in order. */
  private syncListener(): Promise<void> {
    const task = this.listenerTask.then(() => this.reconcileListener());
    this.listenerTask = task.catch(ignore);
    return task;
  }

  private async reconcileListener(): Promise<void> {
    const wanted = !this.closed && (this.phase !== 'drop' || this.dropStyle() === 'reset');
    if (wanted && !this.server) this.server = await this.listen();
    if (!wanted && this.server) {
      const server = this.server;
      this.server = null;
      // close() stops accepting at once; its callback waits for the server's connections too.
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      this.closing.add(closed);
      void closed.then(() => this.closing.delete(closed));
    }
  }

  private async listen(): Promise<Server> {
    const deadline = performance.now() + REOPEN_FOR_MS;
    for (;;) {
      const server = createServer({ allowHalfOpen: true, pauseOnConnect: true }, (socket) => this.accept(socket));
      try {
        await new Promise<void>((resolve, reject) => {
          server.once('error', reject);
          // exclusive: a cluster worker binds the port itself rather than sharing the primary's.
          server.listen({ host: HOST, port: this.boundPort, exclusive: true }, () => {
            server.off('error', reject);
            resolve();
          });
        });
      } catch (error) {
        const retry = this.boundPort !== 0 && !this.closed && (error as NodeJS.ErrnoException).code === 'EADDRINUSE';
        if (!retry || performance.now() > deadline) throw error;
        await sleep(25);
        continue;
      }
      // Accept errors (EMFILE and the like) must not crash the test process.
      server.on('error', ignore);
      this.boundPort = (server.address() as AddressInfo).port;
      return server;
    }
  }

  // ---- connections -----------------------------------------------------------------------------

  private accept(client: Socket): void {
    client.on('error', ignore);
    if (this.closed || this.phase === 'drop') {
      this.counters.refused += 1;
      reset(client);
      return;
    }
    this.counters.accepted += 1;
    client.setNoDelay(true);
    const upstream = new Socket({ allowHalfOpen: true });
    upstream.on('error', ignore);
    const direction = (from: Socket, to: Socket, stat: Direction['stat']): Direction => ({
      from,
      to,
      queue: [],
      queuedBytes: 0,
      timer: null,
      stat,
    });
    const link: Link = {
      client,
      upstream,
      up: direction(client, upstream, 'bytesUp'),
      down: direction(upstream, client, 'bytesDown'),
      dialed: false,
      held: false,
      broken: false,
      gone: false,
    };
    this.links.add(link);
    for (const dir of [link.up, link.down]) {
      dir.from.on('data', (chunk: Buffer) => this.push(link, dir, chunk));
      dir.from.on('end', () => this.push(link, dir, null));
      dir.from.on('close', (hadError) => this.onClose(link, hadError));
      dir.to.on('drain', () => this.pump(link, dir));
    }
    if (this.phase === 'blackhole') {
      this.hold(link);
      return;
    }
    this.dial(link);
    // pauseOnConnect left the client paused; pump() starts reading where nothing holds it back.
    this.pump(link, link.up);
  }

  private dial(link: Link): void {
    link.dialed = true;
    link.upstream.connect({ host: this.target.host, port: this.target.port });
    link.upstream.setNoDelay(true);
  }

  private push(link: Link, dir: Direction, chunk: Buffer | null): void {
    if (link.gone) return;
    const delay = this.mode.kind === 'latency' ? this.mode.ms : 0;
    dir.queue.push({ due: performance.now() + delay, chunk });
    dir.queuedBytes += chunk?.length ?? 0;
    this.pump(link, dir);
  }

  /** Forwards what is due, in order; schedules itself for the next chunk. */
  private pump(link: Link, dir: Direction): void {
    if (link.gone || link.held) return;
    if (dir.timer) clearTimeout(dir.timer);
    dir.timer = null;
    if (dir.to.destroyed || dir.to.writableEnded) {
      // Nobody left to hand it to (that side closed cleanly); a chunk can only be dropped.
      dir.queue.length = 0;
      dir.queuedBytes = 0;
    }
    while (dir.queue.length > 0 && !dir.to.writableNeedDrain) {
      const head = dir.queue[0];
      if (!head) break;
      const wait = head.due - performance.now();
      if (wait > 0) {
        dir.timer = setTimeout(() => this.pump(link, dir), Math.ceil(wait)).unref();
        break;
      }
      dir.queue.shift();
      if (head.chunk === null) {
        dir.to.end();
      } else {
        dir.queuedBytes -= head.chunk.length;
        this.counters[dir.stat] += head.chunk.length;
        dir.to.write(head.chunk);
      }
    }
    // Backpressure: stop reading while the receiver is slow or too much waits in the queue.
    const read = dir.queuedBytes < MAX_QUEUED && !dir.to.writableNeedDrain;
    if (read && dir.from.isPaused()) dir.from.resume();
    if (!read && !dir.from.isPaused()) dir.from.pause();
  }

  private onClose(link: Link, hadError: boolean): void {
    if (!link.gone && hadError) {
      // A dead network carries no RST either; the blackhole's end settles it.
      if (link.held) link.broken = true;
      else this.resetLink(link);
      return;
    }
    if (link.client.destroyed && (link.upstream.destroyed || !link.dialed)) {
      if (!link.gone) this.tearDown(link, (socket) => socket.destroy());
      this.links.delete(link);
    }
  }

  /** Cuts both sides with an RST: the client sees ECONNRESET, and so does the target. */
  private resetLink(link: Link): void {
    if (link.gone) return;
    this.counters.resets += 1;
    this.tearDown(link, reset);
  }

  private tearDown(link: Link, end: (socket: Socket) => void): void {
    link.gone = true;
    this.links.delete(link);
    for (const dir of [link.up, link.down]) {
      if (dir.timer) clearTimeout(dir.timer);
      dir.timer = null;
      dir.queue.length = 0;
    }
    end(link.client);
    if (link.dialed) end(link.upstream);
    else link.upstream.destroy();
  }
}
