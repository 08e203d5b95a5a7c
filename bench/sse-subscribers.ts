/**
 * Many GraphQL subscriptions over SSE from one process, for the subscriptions scenario: one socket
 * each (node:http without an agent, as distinct browsers would hold them), every `event: next`
 * recorded with its arrival time and parsed payload. Bench-only.
 */
import { request, type ClientRequest } from 'node:http';

export interface SseEvent {
  /** performance.now() when the chunk holding it arrived. */
  readonly at: number;
  readonly data: unknown;
}

export class SseSubscriber {
  readonly events: SseEvent[] = [];
  /** Why the stream ended (for the report when some did): the socket's error, or the server's `complete`. */
  endedBy: string | null = null;
  private req: ClientRequest | null = null;
  private ended = false;

  get open(): boolean {
    return this.req !== null && !this.ended;
  }

  /** Resolves once the response headers say 200 (the subscription is running), rejects otherwise. */
  start(url: string, token: string, query: string, variables: Record<string, unknown>): Promise<void> {
    const body = JSON.stringify({ query, variables });
    return new Promise((resolve, reject) => {
      const req = request(
        `${url}/graphql`,
        {
          method: 'POST',
          agent: false,
          headers: {
            'content-type': 'application/json',
            accept: 'text/event-stream',
            authorization: `Bearer ${token}`,
            'content-length': Buffer.byteLength(body),
          },
        },
        (res) => {
          if (res.statusCode !== 200) {
            res.resume();
            reject(new Error(`subscription answered ${res.statusCode}`));
            return;
          }
          res.setEncoding('utf8');
          let buffer = '';
          res.on('data', (chunk: string) => {
            const at = performance.now();
            buffer += chunk;
            let end: number;
            while ((end = buffer.indexOf('\n\n')) >= 0) {
              const message = buffer.slice(0, end);
              buffer = buffer.slice(end + 2);
              if (message.startsWith('event: complete')) this.endedBy ??= 'complete';
              if (!message.startsWith('event: next')) continue;
              const data = message
                .split('\n')
                .filter((line) => line.startsWith('data:'))
                .map((line) => line.slice(5))
                .join('');
              this.events.push({ at, data: JSON.parse(data) as unknown });
            }
          });
          res.on('close', () => {
            this.endedBy ??= 'closed by the server';
            this.ended = true;
          });
          resolve();
        },
      );
      req.on('error', (error) => {
        this.endedBy ??= error.message;
        this.ended = true;
        reject(error);
      });
      req.end(body);
      this.req = req;
    });
  }

  close(): void {
    this.endedBy ??= 'closed by the client';
    this.req?.destroy();
    this.ended = true;
  }
}

/** Starts `count` subscribers, `concurrency` connecting at a time; resolves with those that opened and how many failed. */
export async function openSubscribers(
  count: number,
  concurrency: number,
  startOne: (index: number, subscriber: SseSubscriber) => Promise<void>,
): Promise<{ subscribers: SseSubscriber[]; failures: number }> {
  const subscribers: SseSubscriber[] = new Array<SseSubscriber>(count);
  let next = 0;
  let failures = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, count) }, async () => {
      while (next < count) {
        const index = next++;
        const subscriber = new SseSubscriber();
        subscribers[index] = subscriber;
        await startOne(index, subscriber).catch(() => {
          failures++;
        });
      }
    }),
  );
  return { subscribers, failures };
}
