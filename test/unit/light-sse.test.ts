/**
 * SSE subscriptions over node:http with the light body (src/http/light-sse.ts): the same frames
 * and headers as yoga's own SSE answer (results, masked errors without yoga's internals, the end),
 * pings, the subscription ended as soon as its client goes away, and the open stream's context
 * without the request unless its events need it.
 */
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createSchema, createYoga } from 'graphql-yoga';
import { afterEach, describe, expect, it } from 'vitest';
import { useLightSse } from '../../src/http/light-sse.js';

interface TestContext {
  readonly request?: Request;
  readonly [key: string]: unknown;
}

/** What each test's source did: events asked for, and whether it was returned. */
let returned = 0;
let requestSeen: boolean[] = [];

function app(requestNeededByEvents: (request: Request) => boolean = () => false) {
  const schema = createSchema<TestContext>({
    typeDefs: /* GraphQL */ `
      type Query {
        ok: Boolean
      }
      type Tick {
        n: Int!
        hasRequest: Boolean!
      }
      type Subscription {
        "1, then a failing event, then 3, then the end; or (forever) nothing until returned."
        ticks(forever: Boolean): Tick
      }
    `,
    resolvers: {
      Subscription: {
        ticks: {
          subscribe: (_root: unknown, args: { forever?: boolean | null }) => source(args.forever === true),
          resolve: (n: number, _args: unknown, context: TestContext) => {
            if (n === 2) throw new Error('event 2 fails');
            requestSeen.push(context.request !== undefined);
            return { n, hasRequest: context.request !== undefined };
          },
        },
      },
    },
  });
  return createYoga<Record<string, unknown>, TestContext>({ schema, logging: false, plugins: [useLightSse({ requestNeededByEvents })] });
}

/** An iterator (not a generator: return() must work while next() waits) counting its return. */
function source(forever: boolean): AsyncIterableIterator<number> {
  const values = forever ? [] : [1, 2, 3];
  let wake: (() => void) | null = null;
  let done = false;
  const iterator: AsyncIterableIterator<number> = {
    async next() {
      if (!forever) {
        const value = values.shift();
        return value === undefined ? { done: true, value: undefined } : { done: false, value };
      }
      if (!done) await new Promise<void>((resolve) => (wake = resolve));
      return { done: true, value: undefined };
    },
    return() {
      returned += 1;
      done = true;
      wake?.();
      return Promise.resolve({ done: true, value: undefined });
    },
    [Symbol.asyncIterator]: () => iterator,
  };
  return iterator;
}

const servers: Server[] = [];
afterEach(async () => {
  returned = 0;
  requestSeen = [];
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

async function serve(yoga: ReturnType<typeof app>): Promise<string> {
  // yoga's handler as node:http's listener, as listen.ts serves the app.
  const server = createServer((req, res) => void yoga(req, res));
  servers.push(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/graphql`;
}

const subscription = (forever = false) => ({
  method: 'POST',
  headers: { 'content-type': 'application/json', accept: 'text/event-stream' },
  body: JSON.stringify({ query: `subscription { ticks${forever ? '(forever: true)' : ''} { n hasRequest } }` }),
});

const withoutPings = (text: string) => text.replaceAll(':\n\n', '');

describe('SSE over node:http, with the light body', () => {
  it("answers the frames and headers yoga's own SSE answers: results, a masked error without internals, the end", async () => {
    // requestNeededByEvents: the request stays, so both answers carry the same data.
    const yoga = app(() => true);
    const inProcess = await yoga.fetch('http://localhost/graphql', subscription());
    const yogas = await inProcess.text();
    const overHttp = await fetch(await serve(yoga), subscription());
    const ours = await overHttp.text();
    expect(ours.startsWith(':\n\n')).toBe(true);
    expect(withoutPings(ours)).toBe(withoutPings(yogas));
    expect(withoutPings(ours)).toContain('"message":"Unexpected error."');
    expect(ours).not.toContain('unexpected');
    expect(ours.endsWith('event: complete\ndata:\n\n')).toBe(true);
    for (const header of ['content-type', 'cache-control', 'connection', 'content-encoding']) {
      expect(overHttp.headers.get(header), header).toBe(inProcess.headers.get(header));
    }
    expect(overHttp.status).toBe(200);
  });

  it('pings an idle stream, and ends its subscription as soon as the client goes away', async () => {
    const controller = new AbortController();
    const response = await fetch(await serve(app()), { ...subscription(true), signal: controller.signal });
    const reader = response.body!.getReader();
    let text = '';
    const decoder = new TextDecoder();
    // The first ping at once, then one every 300 ms (NODE_ENV=test, as yoga does it).
    while (text.split(':\n\n').length - 1 < 3) text += decoder.decode((await reader.read()).value);
    expect(withoutPings(text)).toBe('');
    expect(returned).toBe(0);
    controller.abort();
    const started = Date.now();
    while (returned === 0 && Date.now() - started < 2_000) await new Promise((resolve) => setTimeout(resolve, 10));
    expect(returned).toBe(1);
  });

  it("an open stream's context lets go of the request, unless its events need it; yoga.fetch keeps yoga's answer", async () => {
    await (await fetch(await serve(app(() => false)), subscription())).text();
    expect(requestSeen).toEqual([false, false]);
    requestSeen = [];
    await (await fetch(await serve(app(() => true)), subscription())).text();
    expect(requestSeen).toEqual([true, true]);
    requestSeen = [];
    // In process there is no ServerResponse: yoga's own body, and the context as it was.
    await (await app(() => false).fetch('http://localhost/graphql', subscription())).text();
    expect(requestSeen).toEqual([true, true]);
  });
});
