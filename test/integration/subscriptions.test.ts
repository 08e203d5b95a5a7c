/**
 * The refresh lifecycle end to end in process: a refresh mutation creates a stored Refresh, a
 * webhook (applied as the inbox processor applies it) turns it DATA_AVAILABLE with a typed event,
 * the quiet window turns one that hears nothing QUIET, and `refreshEvents` announces each change
 * over SSE (yoga) and WebSocket (graphql-ws) — only to the viewer whose Item it is, until the
 * token expires.
 */
import { randomUUID } from 'node:crypto';
import { createClient, type Client } from 'graphql-ws';
import { WebSocket } from 'ws';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { listen, type HttpListener } from '../../src/http/listen.js';
import type { Runtime } from '../../src/runtime.js';
import { execute, startTestService, tokenFor } from '../helpers/service.js';
import { sseSubscribe } from '../helpers/sse.js';
import { RefreshIdentityDocument, RefreshDocument } from '../../operations/generated/graphql.js';

const SUBSCRIPTION = `subscription ($refreshIds: [ID!], $itemIds: [ID!]) {
  refreshEvents(refreshIds: $refreshIds, itemIds: $itemIds) {
    item { id }
    refreshes { id status }
    events { __typename webhookCode ... on TransactionsDefaultUpdateEvent { newTransactions } ... on IdentityDefaultUpdateEvent { accountsWithUpdatedIdentity { accountId fields } } }
  }
}`;

interface Update {
  item: { id: string } | null;
  refreshes: { id: string; status: string }[];
  events: { __typename: string; webhookCode: string; newTransactions?: number }[];
}

let runtime: Runtime;
let http: HttpListener;
let demoToken: string;

beforeAll(async () => {
  ({ runtime } = await startTestService({ REFRESH_QUIET_WINDOW_MS: '1000', REFRESH_QUIET_SWEEP_MS: '100' }));
  http = await listen(runtime.app, '127.0.0.1', 0, { webSocket: true });
  demoToken = await tokenFor('demo');
});
afterAll(async () => {
  runtime.endStreams();
  await http.close(1_000);
  await runtime.close();
});

const item = (key: 'healthy' | 'transactionsOnly' | 'capitalOneCredit') => {
  if (!runtime.demo) throw new Error('embedded mode expected');
  return runtime.demo.fixtures.items[key];
};

async function until(done: () => Promise<boolean>, timeoutMs = 5_000): Promise<void> {
  const started = Date.now();
  while (!(await done())) {
    if (Date.now() - started > timeoutMs) throw new Error(`not reached within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** An SSE subscription to refreshEvents; `next` answers the update itself. */
async function sse(token: string, variables: Record<string, unknown>) {
  const stream = await sseSubscribe<{ refreshEvents: Update }>(`${http.url}/graphql`, token, SUBSCRIPTION, variables);
  const next = async (matching: (update: Update) => boolean, timeoutMs?: number): Promise<Update> =>
    (await stream.next((data) => matching(data.refreshEvents), timeoutMs)).refreshEvents;
  return { received: stream.received, ended: stream.ended, close: stream.close, next };
}

async function refreshIdentity(itemId: string, token = demoToken) {
  const { data } = await execute(runtime, RefreshIdentityDocument, { itemId }, token);
  const result = data?.refreshIdentity;
  if (result?.__typename !== 'RefreshIdentitySuccess') throw new Error(`refresh failed: ${JSON.stringify(result)}`);
  return result.refresh.id;
}

/** A verified webhook as the inbox processor hands it over. */
function deliver(body: Record<string, unknown>) {
  return runtime.lifecycle.handleWebhook({
    inboxId: `inbox-${randomUUID()}`,
    receivedAt: new Date(),
    body: { environment: 'sandbox', error: null, ...body },
  });
}

describe('a refresh, then its webhook', () => {
  it('over SSE: the refresh starts PENDING, the webhook makes it DATA_AVAILABLE with the typed event; refresh(id:) says the same', async () => {
    const itemId = item('healthy').itemId;
    const stream = await sse(demoToken, { itemIds: [itemId] });
    try {
      const refreshId = await refreshIdentity(itemId);
      const started = await stream.next((u) => u.refreshes.some((r) => r.id === refreshId && r.status === 'PENDING'));
      expect(started).toMatchObject({ item: { id: itemId }, events: [] });
      await deliver({
        webhook_type: 'IDENTITY',
        webhook_code: 'DEFAULT_UPDATE',
        item_id: itemId,
        account_ids_with_updated_identity: { acc1: ['PHONES'] },
      });
      const landed = await stream.next((u) => u.refreshes.some((r) => r.id === refreshId && r.status === 'DATA_AVAILABLE'));
      expect(landed.events).toEqual([
        {
          __typename: 'IdentityDefaultUpdateEvent',
          webhookCode: 'DEFAULT_UPDATE',
          accountsWithUpdatedIdentity: [{ accountId: 'acc1', fields: ['PHONES'] }],
        },
      ]);
      // Counted: deliveries with their latency, and the subscription open right now.
      const text = await runtime.metrics.registry.metrics();
      expect(text).toMatch(/^refresh_events_delivered_total [1-9]/m);
      expect(text).toMatch(/^refresh_event_delivery_seconds_count [1-9]/m);
      expect(text).toMatch(/^graphql_subscriptions_open [1-9]/m);
      // A client that reconnects loses nothing: the status is stored.
      const { data } = await execute(runtime, RefreshDocument, { refreshId }, demoToken);
      expect(data?.refresh).toMatchObject({
        id: refreshId,
        status: 'DATA_AVAILABLE',
        product: 'IDENTITY',
        events: [{ __typename: 'IdentityDefaultUpdateEvent' }],
      });
    } finally {
      await stream.close();
    }
  });

  it('many subscribers of one Item: every one gets the update, read from the store once for all of them', async () => {
    const itemId = item('healthy').itemId;
    const streams = await Promise.all(Array.from({ length: 8 }, () => sse(demoToken, { itemIds: [itemId] })));
    const refreshes = vi.spyOn(runtime.services.items, 'refreshes');
    const events = vi.spyOn(runtime.services.items, 'eventsById');
    const items = vi.spyOn(runtime.services.items, 'ownItems');
    try {
      await deliver({ webhook_type: 'TRANSACTIONS', webhook_code: 'DEFAULT_UPDATE', item_id: itemId, new_transactions: 7 });
      const updates = await Promise.all(streams.map((stream) => stream.next((u) => u.events.some((e) => e.newTransactions === 7))));
      for (const update of updates) expect(update).toMatchObject({ item: { id: itemId }, events: [{ webhookCode: 'DEFAULT_UPDATE' }] });
      expect(refreshes).toHaveBeenCalledTimes(1);
      expect(events).toHaveBeenCalledTimes(1);
      expect(items).toHaveBeenCalledTimes(1);
    } finally {
      refreshes.mockRestore();
      events.mockRestore();
      items.mockRestore();
      await Promise.all(streams.map((stream) => stream.close()));
    }
  });

  it('a client that goes away is unsubscribed at once, without waiting for its Item to change', async () => {
    const open = async () => Number(/^graphql_subscriptions_open (\d+)/m.exec(await runtime.metrics.registry.metrics())?.[1] ?? NaN);
    // The earlier tests' streams, closed by their clients, are gone too.
    await until(async () => (await open()) === 0);
    const streams = await Promise.all(Array.from({ length: 3 }, () => sse(demoToken, { itemIds: [item('healthy').itemId] })));
    await until(async () => (await open()) === 3);
    await Promise.all(streams.map((stream) => stream.close()));
    // No notice is announced meanwhile: the subscriptions end because their sockets closed.
    await until(async () => (await open()) === 0);
  });

  it("another viewer never hears of the demo viewer's Items, and cannot read its refreshes", async () => {
    const itemId = item('transactionsOnly').itemId;
    const mallory = await tokenFor(`mallory-${randomUUID()}`);
    const theirs = await sse(mallory, {});
    const byItem = await sse(mallory, { itemIds: [itemId] });
    const mine = await sse(demoToken, { itemIds: [itemId] });
    try {
      const refreshId = await refreshIdentity(item('capitalOneCredit').itemId);
      await deliver({ webhook_type: 'TRANSACTIONS', webhook_code: 'DEFAULT_UPDATE', item_id: itemId, new_transactions: 4 });
      await mine.next((u) => u.events.some((e) => e.newTransactions === 4));
      await new Promise((r) => setTimeout(r, 200));
      expect(theirs.received).toEqual([]);
      expect(byItem.received).toEqual([]);
      const { data } = await execute(runtime, RefreshDocument, { refreshId }, mallory);
      expect(data?.refresh).toBeNull();
    } finally {
      await Promise.all([theirs.close(), byItem.close(), mine.close()]);
    }
  });

  it('no webhook within the quiet window: QUIET, announced once', async () => {
    const itemId = item('capitalOneCredit').itemId;
    const stream = await sse(demoToken, { itemIds: [itemId] });
    try {
      const refreshId = await refreshIdentity(itemId);
      const quiet = await stream.next((u) => u.refreshes.some((r) => r.id === refreshId && r.status === 'QUIET'), 5_000);
      expect(quiet.events).toEqual([]);
      await new Promise((r) => setTimeout(r, 400));
      expect(
        stream.received.filter((r) => r.data?.refreshEvents.refreshes.some((x) => x.id === refreshId && x.status === 'QUIET')),
      ).toHaveLength(1);
    } finally {
      await stream.close();
    }
  });

  it('a stream ends when its token expires', async () => {
    const { SignJWT } = await import('jose');
    const { TEST_JWT_SECRET } = await import('../helpers/service.js');
    const shortLived = await new SignJWT({})
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('demo')
      .setIssuedAt()
      .setExpirationTime(Math.floor(Date.now() / 1000) + 2)
      .sign(new TextEncoder().encode(TEST_JWT_SECRET));
    const stream = await sse(shortLived, {});
    const started = Date.now();
    for (let i = 0; i < 100 && !stream.ended(); i++) await new Promise((r) => setTimeout(r, 50));
    expect(stream.ended()).toBe(true);
    expect(Date.now() - started).toBeLessThan(4_000);
    await stream.close();
  });
});

describe('over WebSocket (graphql-ws)', () => {
  let client: Client;
  afterAll(() => client?.dispose());

  it('authenticates with connectionParams and delivers the same updates', async () => {
    client = createClient({
      url: `${http.url.replace('http', 'ws')}/graphql`,
      webSocketImpl: WebSocket,
      connectionParams: { authorization: `Bearer ${demoToken}` },
    });
    const itemId = item('healthy').itemId;
    const updates: Update[] = [];
    const done = new Promise<void>((resolve, reject) => {
      const unsubscribe = client.subscribe<{ refreshEvents: Update }>(
        { query: SUBSCRIPTION, variables: { itemIds: [itemId] } },
        {
          next: (result) => {
            if (result.data) updates.push(result.data.refreshEvents);
            if (updates.some((u) => u.refreshes.some((r) => r.status === 'DATA_AVAILABLE'))) {
              unsubscribe();
              resolve();
            }
          },
          error: reject,
          complete: () => resolve(),
        },
      );
    });
    // Subscribed before the refresh: give the socket its round trips.
    await new Promise((r) => setTimeout(r, 300));
    const refreshId = await refreshIdentity(itemId);
    await deliver({ webhook_type: 'IDENTITY', webhook_code: 'DEFAULT_UPDATE', item_id: itemId, account_ids_with_updated_identity: {} });
    await done;
    expect(updates.map((u) => u.refreshes.map((r) => [r.id, r.status])).flat()).toEqual(
      expect.arrayContaining([
        [refreshId, 'PENDING'],
        [refreshId, 'DATA_AVAILABLE'],
      ]),
    );
  });

  it('without a token the subscription is refused with UNAUTHENTICATED', async () => {
    const anonymous = createClient({
      url: `${http.url.replace('http', 'ws')}/graphql`,
      webSocketImpl: WebSocket,
      lazy: true,
      retryAttempts: 0,
    });
    const error = await new Promise<unknown>((resolve) => {
      anonymous.subscribe({ query: SUBSCRIPTION }, { next: () => {}, error: resolve, complete: () => resolve(null) });
    });
    await anonymous.dispose();
    expect(JSON.stringify(error)).toContain('UNAUTHENTICATED');
  });
});
