/**
 * Subscription events executed once for the subscribers that would compute the same result (same
 * document, variables and viewer), with the notice bus as the source as in the service: never
 * shared across viewers, variables or documents; an event whose execution fails leaves the next
 * ones alone; a subscription's end reaches the bus.
 */
import { parse, type ExecutionArgs, type ExecutionResult } from 'graphql';
import { createSchema, createYoga } from 'graphql-yoga';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { useSharedSubscriptionEvents } from '../../src/http/shared-subscription-events.js';
import { silentLogger } from '../../src/observability/logger.js';
import { createNoticeBus, type NoticeBus } from '../../src/pubsub/notice-bus.js';
import type { RefreshNotice } from '../../src/services/refresh-lifecycle.js';
import { notice } from '../helpers/notices.js';

interface TestContext {
  readonly viewer: string | null;
  readonly [key: string]: unknown;
}

const DOCUMENT =
  'subscription ($itemId: ID!, $audience: String) { notices(itemId: $itemId, audience: $audience) { itemId viewer refreshIds } }';
const OTHER_DOCUMENT = 'subscription ($itemId: ID!, $audience: String) { notices(itemId: $itemId, audience: $audience) { itemId viewer } }';

let bus: NoticeBus;
let executions: { viewer: string | null; itemId: string }[];

beforeEach(() => {
  bus = createNoticeBus({ logger: silentLogger });
  executions = [];
});
afterEach(async () => {
  await bus.close();
});

function app() {
  const schema = createSchema<TestContext>({
    typeDefs: /* GraphQL */ `
      type Query {
        ok: Boolean
      }
      type Notice {
        itemId: ID!
        viewer: String
        refreshIds: [ID!]!
      }
      type Subscription {
        "The notices of the caller, or of another audience: one notice object then reaches several viewers."
        notices(itemId: ID!, audience: String): Notice
      }
    `,
    resolvers: {
      Subscription: {
        notices: {
          subscribe: (_root: unknown, args: { itemId: string; audience?: string | null }, context: TestContext) =>
            bus.subscribe({ viewerId: args.audience ?? context.viewer ?? '', itemIds: new Set([args.itemId]), refreshIds: new Set() }),
          resolve: (notice: RefreshNotice, _args: unknown, context: TestContext) => {
            executions.push({ viewer: context.viewer, itemId: notice.itemId });
            if (notice.refreshIds.includes('fail')) throw new Error('this event fails');
            return { itemId: notice.itemId, viewer: context.viewer, refreshIds: notice.refreshIds };
          },
        },
      },
    },
  });
  return createYoga<Record<string, unknown>, TestContext>({
    schema,
    logging: false,
    context: ({ request }) => ({ viewer: request.headers.get('x-viewer') }),
    plugins: [useSharedSubscriptionEvents<TestContext>({ sharingKey: (context) => context.viewer })],
  });
}

interface Enveloped {
  readonly contextFactory: () => Promise<unknown>;
  readonly subscribe: (args: ExecutionArgs) => Promise<AsyncIterableIterator<ExecutionResult> | ExecutionResult>;
  readonly schema: ExecutionArgs['schema'];
}

/** A subscription through the app's envelop, as yoga's SSE and the WebSocket endpoint run one. */
async function subscribe(yoga: ReturnType<typeof app>, viewer: string | null, variables: Record<string, unknown>, query = DOCUMENT) {
  const request = new Request('http://localhost/graphql', { headers: viewer ? { 'x-viewer': viewer } : {} });
  const params = { query, variables };
  const enveloped = yoga.getEnveloped({ request, params }) as unknown as Enveloped;
  const contextValue = await enveloped.contextFactory();
  const stream = await enveloped.subscribe({ schema: enveloped.schema, document: parse(query), variableValues: variables, contextValue });
  if (!(Symbol.asyncIterator in stream)) throw new Error(`not subscribed: ${JSON.stringify(stream)}`);
  return stream;
}

/** Ends a subscription as a client that goes away does (yoga's SSE cancels the stream). */
const end = async (stream: AsyncIterator<ExecutionResult>): Promise<void> => {
  await stream.return?.();
};

/** The next result of each stream, within a deadline. */
function nextOfEach(streams: readonly AsyncIterator<ExecutionResult>[]): Promise<ExecutionResult[]> {
  return Promise.race([
    Promise.all(streams.map(async (stream) => (await stream.next()).value as ExecutionResult)),
    new Promise<never>((_, reject) => setTimeout(() => reject(new Error('no event within 2 s')), 2_000)),
  ]);
}

describe('shared subscription events', () => {
  it('one execution for the subscribers of one viewer, document and variables: the same result for each', async () => {
    const yoga = app();
    const streams = await Promise.all(Array.from({ length: 5 }, () => subscribe(yoga, 'alice', { itemId: 'item-1' })));
    void bus.announce(notice('alice', 'item-1', ['r1']));
    const results = await nextOfEach(streams);
    expect(executions).toEqual([{ viewer: 'alice', itemId: 'item-1' }]);
    for (const result of results) {
      expect(result).toBe(results[0]);
      expect(result).toEqual({ data: { notices: { itemId: 'item-1', viewer: 'alice', refreshIds: ['r1'] } } });
    }
    // Serialised once for all of them, as yoga's SSE processor asks: the same string for each.
    const stringify = (results[0] as { stringify?: (value: ExecutionResult) => string }).stringify;
    expect(stringify?.(results[0] as ExecutionResult)).toBe(JSON.stringify(results[0]));
    // The next event is executed again, once.
    void bus.announce(notice('alice', 'item-1', ['r2']));
    const next = await nextOfEach(streams);
    expect(executions).toHaveLength(2);
    expect(next[0]).not.toBe(results[0]);
    expect(next.every((result) => result === next[0])).toBe(true);
    await Promise.all(streams.map((stream) => end(stream)));
  });

  it('separate executions for different viewers, variables and documents, each with its own answer', async () => {
    const yoga = app();
    // One notice object heard by two viewers: each is executed as itself, never given the other's result.
    const alice = await subscribe(yoga, 'alice', { itemId: 'shared-id', audience: 'everyone' });
    const mallory = await subscribe(yoga, 'mallory', { itemId: 'shared-id', audience: 'everyone' });
    void bus.announce(notice('everyone', 'shared-id'));
    const [forAlice, forMallory] = await nextOfEach([alice, mallory]);
    expect(forAlice?.data).toEqual({ notices: { itemId: 'shared-id', viewer: 'alice', refreshIds: [] } });
    expect(forMallory?.data).toEqual({ notices: { itemId: 'shared-id', viewer: 'mallory', refreshIds: [] } });
    expect(executions).toHaveLength(2);

    // One notice object heard by one viewer's subscriptions of different documents and variables.
    executions = [];
    const first = await subscribe(yoga, 'bob', { itemId: 'item-2' });
    const otherDocument = await subscribe(yoga, 'bob', { itemId: 'item-2' }, OTHER_DOCUMENT);
    const otherVariables = await subscribe(yoga, 'bob', { itemId: 'item-2', audience: 'bob' });
    const sameAsFirst = await subscribe(yoga, 'bob', { itemId: 'item-2' });
    void bus.announce(notice('bob', 'item-2'));
    const [a, b, c, d] = await nextOfEach([first, otherDocument, otherVariables, sameAsFirst]);
    expect(executions).toHaveLength(3);
    expect(a?.data).toEqual({ notices: { itemId: 'item-2', viewer: 'bob', refreshIds: [] } });
    expect(b?.data).toEqual({ notices: { itemId: 'item-2', viewer: 'bob' } });
    expect(c).not.toBe(a);
    expect(d).toBe(a);
    await Promise.all([alice, mallory, first, otherDocument, otherVariables, sameAsFirst].map((stream) => end(stream)));
  });

  it('variables are compared by value: the same ones in another key order share the execution', async () => {
    const yoga = app();
    const one = await subscribe(yoga, 'carol', { itemId: 'item-7', audience: 'carol' });
    const other = await subscribe(yoga, 'carol', { audience: 'carol', itemId: 'item-7' });
    void bus.announce(notice('carol', 'item-7'));
    const [a, b] = await nextOfEach([one, other]);
    expect(b).toBe(a);
    expect(executions).toHaveLength(1);
    await Promise.all([end(one), end(other)]);
  });

  it('without a sharing key (no viewer) every subscription executes its events alone', async () => {
    const yoga = app();
    // The bus files an absent viewer under '' (the test schema's choice); the point is the key.
    const streams = await Promise.all(Array.from({ length: 3 }, () => subscribe(yoga, null, { itemId: 'item-3' })));
    void bus.announce(notice('', 'item-3'));
    const results = await nextOfEach(streams);
    expect(executions).toHaveLength(3);
    expect(new Set(results).size).toBe(3);
    await Promise.all(streams.map((stream) => end(stream)));
  });

  it('an event whose execution fails is an error result for its subscribers; the next event is executed afresh', async () => {
    const yoga = app();
    const streams = await Promise.all(Array.from({ length: 3 }, () => subscribe(yoga, 'alice', { itemId: 'item-4' })));
    void bus.announce(notice('alice', 'item-4', ['fail']));
    const failed = await nextOfEach(streams);
    for (const result of failed) {
      expect(result.data).toEqual({ notices: null });
      // Masked per subscriber by yoga, as any unexpected error.
      expect(result.errors?.map((error) => error.message)).toEqual(['Unexpected error.']);
    }
    void bus.announce(notice('alice', 'item-4', ['fine']));
    const fine = await nextOfEach(streams);
    for (const result of fine) expect(result).toEqual({ data: { notices: { itemId: 'item-4', viewer: 'alice', refreshIds: ['fine'] } } });
    // Once for the failed event (its subscribers read it together) and once for the next.
    expect(executions).toHaveLength(2);
    await Promise.all(streams.map((stream) => end(stream)));
  });

  it('a subscriber that reads a failed event after its execution settled executes it again', async () => {
    const yoga = app();
    const first = await subscribe(yoga, 'alice', { itemId: 'item-5' });
    const late = await subscribe(yoga, 'alice', { itemId: 'item-5' });
    void bus.announce(notice('alice', 'item-5', ['fail']));
    const [failed] = await nextOfEach([first]);
    expect(failed?.errors).toHaveLength(1);
    const [again] = await nextOfEach([late]);
    expect(again?.errors).toHaveLength(1);
    expect(again).not.toBe(failed);
    expect(executions).toHaveLength(2);
    await Promise.all([end(first), end(late)]);
  });

  it("a subscription's end reaches the bus at once, without waiting for an event", async () => {
    const yoga = app();
    const streams = await Promise.all(Array.from({ length: 4 }, () => subscribe(yoga, 'alice', { itemId: 'item-6' })));
    // The source subscribes on its first read, as yoga's SSE makes at once.
    const pending = streams.map((stream) => stream.next());
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(bus.subscriptions()).toBe(4);
    await Promise.all(streams.map((stream) => end(stream)));
    expect(bus.subscriptions()).toBe(0);
    expect((await Promise.all(pending)).every((result) => result.done)).toBe(true);
  });

  it("a failing source is the stream's error, located at the operation, and the source is ended", async () => {
    let ended = 0;
    const failing: AsyncIterableIterator<RefreshNotice> = {
      next: () => Promise.reject(new Error('the source broke')),
      return: () => {
        ended++;
        return Promise.resolve({ done: true, value: undefined });
      },
      [Symbol.asyncIterator]: () => failing,
    };
    const yoga = createYoga<Record<string, unknown>, TestContext>({
      schema: createSchema<TestContext>({
        typeDefs: 'type Query { ok: Boolean } type Subscription { broken: Boolean }',
        resolvers: { Subscription: { broken: { subscribe: () => failing, resolve: () => true } } },
      }),
      logging: false,
      context: ({ request }) => ({ viewer: request.headers.get('x-viewer') }),
      plugins: [useSharedSubscriptionEvents<TestContext>({ sharingKey: (context) => context.viewer })],
    });
    const stream = await subscribe(yoga, 'alice', {}, 'subscription { broken }');
    const error = await stream.next().then(
      () => null,
      (thrown: unknown) => thrown,
    );
    // Masked by yoga as any unexpected error, located at the operation as the executor reports it.
    expect(JSON.parse(JSON.stringify(error))).toEqual({
      message: 'Unexpected error.',
      locations: [{ line: 1, column: 1 }],
      extensions: { code: 'INTERNAL_SERVER_ERROR', unexpected: true },
    });
    expect(ended).toBe(1);
  });

  it('refusals are answered as the executor answers them: bad variables are a 400 with BAD_USER_INPUT', async () => {
    const yoga = app();
    const response = await yoga.fetch('http://localhost/graphql', {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'text/event-stream', 'x-viewer': 'alice' },
      body: JSON.stringify({ query: DOCUMENT, variables: { itemId: { not: 'an id' } } }),
    });
    const text = await response.text();
    expect(text).toContain('BAD_USER_INPUT');
    expect(executions).toEqual([]);
  });
});
