/**
 * SSE subscriptions answered over node:http with one small object per stream instead of yoga's
 * SSE body (issue #16: 10,000 open subscriptions on one process). Yoga answers a subscription
 * with a whatwg-node ReadableStream, which its Node adapter turns into a Node Readable piped into
 * the ServerResponse: for the subscription's whole life that kept a ReadableStream, a Readable and
 * its state, a Proxy, the Response and its headers, Node's pipe with its listeners, yoga's
 * closures and a ping timer per stream (~4 KB). Here the Response's body is an `SseBody`, which
 * whatwg-node's `sendNodeResponse` pipes as it pipes any Node readable (`body.pipe(res)`, and
 * `body.destroy()` when the response closes): it writes the same frames yoga does (a ping first,
 * `event: next` per result, `event: complete` at the end, results serialised as yoga serialises
 * them), pings every 12 s from one timer for all streams, and returns the subscription's iterator
 * as soon as the client goes away.
 *
 * Only for responses the Node adapter sends (the server context carries its ServerResponse);
 * `yoga.fetch` in process keeps yoga's ReadableStream body.
 */
import type { ServerResponse } from 'node:http';
import type { ExecutionResult } from 'graphql';
import { isAsyncIterable, processRegularResult, type FetchAPI, type Plugin } from 'graphql-yoga';

/** Yoga's interval (12 s; 300 ms under NODE_ENV=test, as yoga does it, so tests see pings). */
const PING_INTERVAL_MS = process.env.NODE_ENV === 'test' ? 300 : 12_000;
const PING = ':\n\n';
const COMPLETE = 'event: complete\ndata:\n\n';

type ResultProcessor = Parameters<Parameters<NonNullable<Plugin['onResultProcess']>>[0]['setResultProcessor']>[0];

export interface LightSseOptions {
  /**
   * Whether an event of this subscription may still read its context's `request` (an inline trace
   * routes its fields by it). When not, the context lets go of the request once the stream is
   * answered: its headers, URL and body stream are ~1 KB an open subscription need not keep.
   */
  readonly requestNeededByEvents: (request: Request) => boolean;
}

/** The context's part this plugin reads and writes. */
interface WithRequest {
  request?: Request | undefined;
}

export function useLightSse(options: LightSseOptions): Plugin {
  const subscriptions = new WeakMap<Request, WithRequest>();
  return {
    onSubscribe({ args }) {
      const context = args.contextValue as WithRequest;
      if (context.request) subscriptions.set(context.request, context);
    },
    onResultProcess(payload) {
      const { request, result, resultProcessor, serverContext } = payload;
      // A subscription's stream can only be answered by yoga's SSE processor (its regular one refuses
      // async iterables), so a processor chosen for one means the client accepts text/event-stream.
      const context = subscriptions.get(request);
      if (!resultProcessor || !isAsyncIterable(result) || !context) return;
      if (!isServerResponse((serverContext as { res?: unknown } | undefined)?.res)) return;
      // Every hook that reads the request at the start has run (parse, validate, subscribe, this
      // one; onResponse hooks get it as their own argument); the events' resolvers do not read it.
      if (context.request === request && !options.requestNeededByEvents(request)) context.request = undefined;
      const processor: ResultProcessor = (stream, fetchAPI) => {
        const Response = sseResponseClass(fetchAPI);
        return new Response((stream as AsyncIterable<ExecutionResult>)[Symbol.asyncIterator](), fetchAPI);
      };
      payload.setResultProcessor(processor, 'text/event-stream');
    },
  };
}

function isServerResponse(value: unknown): value is ServerResponse {
  return typeof value === 'object' && value !== null && typeof (value as ServerResponse).writeHead === 'function';
}

type SseResponseClass = new (iterator: AsyncIterator<ExecutionResult>, fetchAPI: FetchAPI) => Response;
const responseClasses = new WeakMap<object, SseResponseClass>();

/**
 * A Response of `fetchAPI`'s class (yoga's onResponse hooks set headers on it) whose body is the
 * SseBody: `sendNodeResponse` reads `body` once, and pipes what it gets.
 */
function sseResponseClass(fetchAPI: FetchAPI): SseResponseClass {
  let found = responseClasses.get(fetchAPI.Response);
  if (!found) {
    class LightSseResponse extends fetchAPI.Response {
      readonly #body: SseBody;
      constructor(iterator: AsyncIterator<ExecutionResult>, api: FetchAPI) {
        super(null, {
          status: 200,
          // yoga's SSE headers.
          headers: {
            'Content-Type': 'text/event-stream',
            Connection: 'keep-alive',
            'Cache-Control': 'no-cache',
            'Content-Encoding': 'none',
          },
        });
        this.#body = new SseBody(iterator, api);
      }
      override get body(): Response['body'] {
        // Not a ReadableStream: a readable to pipe, which is what whatwg-node's Node adapter looks for.
        return this.#body as unknown as Response['body'];
      }
    }
    found = LightSseResponse;
    responseClasses.set(fetchAPI.Response, found);
  }
  return found;
}

/**
 * Node keeps a response's head (`_header`, the string it wrote) for the response's life, built
 * header by header as a rope of ~35 string parts (~1 KB); an open stream keeps an equal flat copy.
 */
function flattenHead(dest: ServerResponse): void {
  const head = dest as ServerResponse & { _header?: unknown };
  if (typeof head._header === 'string') head._header = Buffer.from(head._header, 'latin1').toString('latin1');
}

/** The open streams, pinged by one timer. */
const open = new Set<SseBody>();
let pinger: NodeJS.Timeout | null = null;

function pingAll(): void {
  for (const body of open) body.ping();
}

/**
 * One subscription's SSE body. `read` and `pipe` make it the readable whatwg-node pipes (it checks
 * for `read`), `destroy` is what it calls when the response closes.
 */
export class SseBody {
  private dest: ServerResponse | null = null;
  private ended = false;

  constructor(
    private readonly iterator: AsyncIterator<ExecutionResult>,
    private readonly fetchAPI: FetchAPI,
  ) {}

  read(): null {
    return null;
  }

  pipe(dest: ServerResponse): ServerResponse {
    this.dest = dest;
    // First a ping, as yoga does: some browsers do not hand a response over before its first bytes.
    dest.write(PING);
    flattenHead(dest);
    open.add(this);
    if (!pinger) {
      pinger = setInterval(pingAll, PING_INTERVAL_MS);
      // The open sockets keep the process alive, not the pings.
      pinger.unref();
    }
    void this.pump(dest);
    return dest;
  }

  /** The response closed (the client went away, or it ended): the subscription ends now. */
  destroy(): void {
    if (this.ended) return;
    this.finish();
    // As yoga's stream does on cancel: the subscription's iterator is returned, its source unsubscribed.
    void Promise.resolve()
      .then(() => this.iterator.return?.())
      .catch(() => undefined);
  }

  ping(): void {
    const dest = this.dest;
    // Skipped while the socket is backed up, as yoga skips it when its stream is full.
    if (dest && !this.ended && !dest.writableNeedDrain && dest.writable) dest.write(PING);
  }

  private finish(): void {
    this.ended = true;
    open.delete(this);
    if (open.size === 0 && pinger) {
      clearInterval(pinger);
      pinger = null;
    }
  }

  private async pump(dest: ServerResponse): Promise<void> {
    try {
      for (;;) {
        const next: IteratorResult<ExecutionResult> = await this.iterator.next();
        if (this.ended) return;
        let frame = '';
        // A value is written even beside done, as yoga does (a return value).
        const value = next.value as ExecutionResult | null | undefined;
        if (value != null) frame = `event: next\ndata: ${await this.serialise(value)}\n\n`;
        if (this.ended) return;
        if (next.done) {
          this.finish();
          dest.end(frame + COMPLETE);
          return;
        }
        if (frame && !dest.write(frame)) await new Promise((resolve) => dest.once('drain', resolve));
      }
    } catch {
      // The stream failed (yoga's error mapping turns the usual failures into results first; an
      // AbortError means the client left): the response is cut, the stream ends without `complete`.
      if (this.ended) return;
      this.finish();
      dest.destroy();
    }
  }

  /** As yoga serialises an SSE result: internals (`http`, `unexpected`) left out of errors and extensions. */
  private async serialise(result: ExecutionResult & { stringify?: (value: ExecutionResult) => string }): Promise<string> {
    if (result.errors?.length || (result.extensions as { http?: unknown } | undefined)?.http) {
      // Yoga's own serialiser, through its JSON processor (errors are rare; the common path is below).
      return processRegularResult(result, this.fetchAPI, 'application/json').text();
    }
    return (result.stringify ?? JSON.stringify)(result);
  }
}
