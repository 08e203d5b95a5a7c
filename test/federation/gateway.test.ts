/**
 * End to end through a real gateway (Hive Gateway's runtime, in process) composed from this
 * subgraph and the users subgraph, both served over HTTP on port 0. The gateway forwards the
 * caller's Authorization header to every subgraph.
 */
import { createGatewayRuntime, type GatewayRuntime } from '@graphql-hive/gateway';
import { createYoga } from 'graphql-yoga';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listen } from '../../src/http/listen.js';
import type { Runtime } from '../../src/runtime.js';
import { startTestService, tokenFor } from '../helpers/service.js';
import { composeWithUsers, usersSubgraphSchema } from './users-subgraph.js';
import { callerFor } from '../../src/services/caller.js';

let runtime: Runtime;
let plaidHttp: Awaited<ReturnType<typeof listen>>;
let usersServer: Server;
let gateway: GatewayRuntime;
let demoToken: string;
let aliceItemId: string;

const item = (key: 'healthy' | 'oauthLoginRequired' | 'capitalOneCredit' | 'transactionsOnly') => {
  if (!runtime.demo) throw new Error('demo expected');
  return runtime.demo.fixtures.items[key].itemId;
};

beforeAll(async () => {
  ({ runtime } = await startTestService());
  demoToken = await tokenFor('demo');
  const { publicToken } = await runtime.plaid.createSandboxPublicToken({ institutionId: 'ins_109508', initialProducts: ['transactions'] });
  aliceItemId = (await runtime.services.link.linkItem(callerFor('alice'), publicToken)).id;
  plaidHttp = await listen(runtime.app, '127.0.0.1', 0);

  const users = createYoga({
    schema: usersSubgraphSchema([
      { id: 'demo', name: 'Demo Viewer', pinnedItemId: item('healthy') },
      { id: 'u2', name: 'Second', pinnedItemId: item('capitalOneCredit') },
      { id: 'u3', name: 'Third', pinnedItemId: item('transactionsOnly') },
      { id: 'alice', name: 'Alice', pinnedItemId: aliceItemId },
    ]),
    logging: false,
  });
  usersServer = createServer((req, res) => void users(req, res));
  await new Promise<void>((resolve) => usersServer.listen(0, '127.0.0.1', resolve));
  const usersUrl = `http://127.0.0.1:${(usersServer.address() as AddressInfo).port}/graphql`;

  const composed = composeWithUsers(`${plaidHttp.url}/graphql`, usersUrl);
  if (!composed.supergraphSdl) throw new Error(`composition failed: ${composed.errors?.map((e) => e.message).join('; ')}`);
  gateway = createGatewayRuntime({
    supergraph: composed.supergraphSdl,
    logging: false,
    propagateHeaders: {
      // The preflight header lets the gateway's SSE subscriptions past the subgraph's CSRF check (docs/federation.md).
      fromClientToSubgraphs: ({ request }) => ({ authorization: request.headers.get('authorization'), 'apollo-require-preflight': 'true' }),
    },
  });
}, 60_000);

afterAll(async () => {
  await gateway?.dispose();
  await new Promise<void>((resolve) => usersServer?.close(() => resolve()));
  await plaidHttp?.close();
  await runtime?.close();
});

async function throughGateway(query: string, variables: Record<string, unknown> = {}, token: string | null = demoToken) {
  const response = await gateway.fetch('http://gateway/graphql', {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify({ query, variables }),
  });
  return (await response.json()) as {
    data?: Record<string, unknown> | null;
    errors?: { message: string; extensions?: Record<string, unknown> }[];
  };
}

const REFRESH = `mutation ($itemId: ID!) {
  refreshTransactions(itemId: $itemId) {
    __typename
    ... on RefreshTransactionsSuccess { requestId item { id institutionName } }
    ... on BaseError { message nextAction }
    ... on PlaidError { errorCode errorCodeReason }
  }
}`;

describe('through the gateway', () => {
  it('a mutation answers its union: success and a typed Plaid error', async () => {
    const ok = await throughGateway(REFRESH, { itemId: item('healthy') });
    expect(ok.data?.refreshTransactions).toMatchObject({ __typename: 'RefreshTransactionsSuccess', item: { id: item('healthy') } });
    const failed = await throughGateway(REFRESH, { itemId: item('oauthLoginRequired') });
    expect(failed.data?.refreshTransactions).toMatchObject({
      __typename: 'PlaidItemError',
      errorCode: 'ITEM_LOGIN_REQUIRED',
      errorCodeReason: 'OAUTH_INVALID_TOKEN',
      nextAction: 'UPDATE_LOGIN_WITH_LINK',
    });
  });

  it('the Authorization header reaches the subgraph: without it, UNAUTHENTICATED', async () => {
    const anonymous = await throughGateway(REFRESH, { itemId: item('healthy') }, null);
    expect(anonymous.data?.refreshTransactions ?? null).toBeNull();
    expect(JSON.stringify(anonymous.errors)).toContain('authentication required');
  });

  it('a query crosses both subgraphs', async () => {
    const { data, errors } = await throughGateway(`{
      user(id: "demo") { name plaidItems { id institutionName } pinnedPlaidItem { id institutionName } }
    }`);
    expect(errors).toBeUndefined();
    const user = data?.user as { name: string; plaidItems: { id: string }[]; pinnedPlaidItem: { institutionName: string } };
    expect(user.name).toBe('Demo Viewer');
    expect(user.plaidItems).toHaveLength(8);
    expect(user.pinnedPlaidItem.institutionName).toBe('First Platypus Bank');
  });

  it("_entities are batched into one vault query, and another user's Item resolves to null", async () => {
    const before = runtime.metrics.vaultStatements();
    const { data } = await throughGateway('{ users { id pinnedPlaidItem { id institutionName } } }');
    const users = data?.users as { id: string; pinnedPlaidItem: { id: string } | null }[];
    expect(users.map((u) => [u.id, u.pinnedPlaidItem?.id ?? null])).toEqual([
      ['demo', item('healthy')],
      ['u2', item('capitalOneCredit')],
      ['u3', item('transactionsOnly')],
      ['alice', null],
    ]);
    expect(runtime.metrics.vaultStatements() - before).toBe(1);
  });

  it("another user's User keeps the other subgraph's fields; only plaidItems is null, with FORBIDDEN", async () => {
    const { data, errors } = await throughGateway('{ user(id: "alice") { name plaidItems { id } } }');
    expect(data?.user).toEqual({ name: 'Alice', plaidItems: null });
    expect(errors).toHaveLength(1);
    expect(errors?.[0]).toMatchObject({
      message: "only the caller's own Plaid Items are visible",
      path: ['user', 'plaidItems'],
      extensions: { code: 'FORBIDDEN' },
    });
    // The caller's own User still carries its Items, in the same kind of query.
    const own = await throughGateway('{ user(id: "demo") { name plaidItems { id } } }');
    expect(own.errors).toBeUndefined();
    expect((own.data?.user as { plaidItems: unknown[] }).plaidItems).toHaveLength(8);
  });
});

describe('through the gateway without a token', () => {
  const codes = (errors: { extensions?: Record<string, unknown> }[] | undefined) => [...new Set(errors?.map((e) => e.extensions?.code))];

  it("a User's plaidItems answers UNAUTHENTICATED and the user's other fields stay", async () => {
    const { data, errors } = await throughGateway('{ user(id: "demo") { name plaidItems { id } } }', {}, null);
    expect(data?.user).toEqual({ name: 'Demo Viewer', plaidItems: null });
    expect(codes(errors)).toEqual(['UNAUTHENTICATED']);
    expect(JSON.stringify(errors)).not.toContain('Unexpected error');
  });

  it('a referenced PlaidItem answers UNAUTHENTICATED, not an unexpected error', async () => {
    const { data, errors } = await throughGateway('{ users { id pinnedPlaidItem { id institutionName } } }', {}, null);
    expect((data?.users as { pinnedPlaidItem: unknown }[]).map((u) => u.pinnedPlaidItem)).toEqual([null, null, null, null]);
    expect(codes(errors)).toEqual(['UNAUTHENTICATED']);
    expect(JSON.stringify(errors)).not.toContain('Unexpected error');
  });
});

describe('subscriptions through the gateway', () => {
  it('a client subscribes at the gateway (SSE), runs a refresh through it, and receives the event, with the entity resolved', async () => {
    const itemId = item('healthy');
    const controller = new AbortController();
    const response = await gateway.fetch('http://gateway/graphql', {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'text/event-stream', authorization: `Bearer ${demoToken}` },
      body: JSON.stringify({
        query:
          'subscription ($itemIds: [ID!]) { refreshEvents(itemIds: $itemIds) { item { id institutionName } refreshes { id status } } }',
        variables: { itemIds: [itemId] },
      }),
      signal: controller.signal,
    });
    expect(response.status).toBe(200);
    const reader = response.body?.getReader();
    if (!reader) throw new Error('no body');
    let text = '';
    const heard = (async () => {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return text;
        text += new TextDecoder().decode(value);
        if (text.includes('"PENDING"')) return text;
      }
    })();
    await new Promise((r) => setTimeout(r, 300));
    const refreshed = await throughGateway(
      'mutation ($itemId: ID!) { refreshIdentity(itemId: $itemId) { __typename ... on RefreshIdentitySuccess { refresh { id } } } }',
      { itemId },
    );
    const refreshId = (refreshed.data?.refreshIdentity as { refresh: { id: string } }).refresh.id;
    const received = await Promise.race([heard, new Promise<string>((r) => setTimeout(() => r(`timeout: ${text}`), 5_000))]);
    controller.abort();
    expect(received).toContain(refreshId);
    expect(received).toContain('"PENDING"');
    expect(received).toContain('First Platypus Bank');
  });
});
