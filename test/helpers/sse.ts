/** A GraphQL subscription over SSE (yoga's "distinct connections" mode), read event by event. */
import { expect } from 'vitest';

export interface SseStream<T> {
  /** Every `data:` payload so far. */
  readonly received: { data?: T; errors?: unknown[] }[];
  readonly ended: () => boolean;
  /** The first payload's data matching `matching`, waiting at most `timeoutMs`. */
  readonly next: (matching: (data: T) => boolean, timeoutMs?: number) => Promise<T>;
  readonly close: () => Promise<void>;
}

export async function sseSubscribe<T>(
  url: string,
  token: string,
  query: string,
  variables: Record<string, unknown>,
  headers: Record<string, string> = {},
): Promise<SseStream<T>> {
  const controller = new AbortController();
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'text/event-stream', authorization: `Bearer ${token}`, ...headers },
    body: JSON.stringify({ query, variables }),
    signal: controller.signal,
  });
  expect(response.status).toBe(200);
  const reader = response.body?.getReader();
  if (!reader) throw new Error('no body');
  const decoder = new TextDecoder();
  let buffer = '';
  const received: SseStream<T>['received'] = [];
  let ended = false;
  const pump = (async () => {
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += decoder.decode(value, { stream: true });
        let at: number;
        while ((at = buffer.indexOf('\n\n')) >= 0) {
          const chunk = buffer.slice(0, at);
          buffer = buffer.slice(at + 2);
          const data = chunk
            .split('\n')
            .filter((line) => line.startsWith('data:'))
            .map((line) => line.slice(5).trim())
            .join('');
          if (data) received.push(JSON.parse(data) as (typeof received)[number]);
        }
      }
    } catch {
      // aborted
    }
    ended = true;
  })();
  return {
    received,
    ended: () => ended,
    next: async (matching, timeoutMs = 5_000) => {
      const started = Date.now();
      for (;;) {
        const found = received.map((r) => r.data).find((d): d is T => d !== undefined && matching(d));
        if (found) return found;
        if (Date.now() - started > timeoutMs) throw new Error(`no such update in ${JSON.stringify(received)}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    close: async () => {
      controller.abort();
      await pump;
    },
  };
}
