/**
 * The listener: serves the app over node:http, counts requests in flight, and closes in steps a
 * load balancer can follow: `drain()` keeps serving but asks every client to reconnect (Connection:
 * close), `close(graceMs)` stops accepting, lets in-flight requests finish, then cuts what is left.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { App } from '../app.js';
import { settlesWithin } from '../util/settles-within.js';
import { attachWebSocket } from './websocket.js';

export interface HttpListener {
  readonly server: Server;
  readonly url: string;
  /** Requests being served right now. */
  inFlight(): number;
  /** Keeps serving, but each response closes its connection, so clients open new ones elsewhere. */
  drain(): void;
  /**
   * Stops accepting connections, lets in-flight requests finish for up to `graceMs`, then cuts
   * what is left. Resolves with the number of requests that had to be cut.
   */
  close(graceMs?: number): Promise<number>;
}

export interface ListenOptions {
  /** Also serve GraphQL over WebSocket (subscriptions) on the GraphQL path. */
  readonly webSocket?: boolean;
}

/**
 * Connections the kernel may hold ready for accept(): Node's default of 511 drops the SYNs of a
 * burst (10,000 clients at once), which then retry after 1, 3, 7 s or time out. Linux caps it at
 * net.core.somaxconn.
 */
export const LISTEN_BACKLOG = 8_192;

/** Serves the app over HTTP (port 0 picks a free one), and over WebSocket when asked. */
export async function listen(app: App, host: string, port: number, options: ListenOptions = {}): Promise<HttpListener> {
  let active = 0;
  let draining = false;
  let closing = false;
  let settled: (() => void) | null = null;
  // One function for every response, not a closure (and a `once` wrapper) per request: an open
  // subscription's response keeps its listeners for its whole life (issue #16). 'close' is emitted once.
  const responseClosed = (): void => {
    active -= 1;
    // While closing, a finished keep-alive connection is idle: let it go now.
    if (closing) server.closeIdleConnections();
    if (closing && active === 0) settled?.();
  };
  const server = createServer((req, res) => {
    active += 1;
    if (draining) res.shouldKeepAlive = false;
    res.on('close', responseClosed);
    void app(req, res);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port, host, backlog: LISTEN_BACKLOG }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const webSocket = options.webSocket ? attachWebSocket(server, app) : null;
  const address = server.address() as AddressInfo;
  const hostPart = address.address.includes(':') ? `[${address.address}]` : address.address;
  return {
    server,
    url: `http://${hostPart === '0.0.0.0' ? '127.0.0.1' : hostPart}:${address.port}`,
    inFlight: () => active,
    drain: () => {
      draining = true;
      // Idle keep-alive connections would otherwise carry the next request here; close them now.
      server.closeIdleConnections();
    },
    close: async (graceMs = 10_000) => {
      closing = true;
      draining = true;
      // A subscription never finishes by itself: its clients reconnect to another replica.
      if (webSocket) await settlesWithin(webSocket.close(), 1_000);
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      let cut = 0;
      if (active > 0) {
        const drained = new Promise<void>((resolve) => {
          settled = resolve;
        });
        if (!(await settlesWithin(drained, graceMs))) {
          cut = active;
          server.closeAllConnections();
        }
      }
      server.closeIdleConnections();
      // Connections cut above close at once; never wait on the listener without a bound.
      if (!(await settlesWithin(closed, 1_000))) server.closeAllConnections();
      return cut;
    },
  };
}
