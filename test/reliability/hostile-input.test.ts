/**
 * Hostile and broken requests: each gets a clear error (a 4xx and a message saying what is wrong,
 * never "Unexpected error."), and the simulator's request log proves nothing reached Plaid.
 */
import { SignJWT } from 'jose';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { listen, type HttpListener } from '../../src/http/listen.js';
import type { Runtime } from '../../src/runtime.js';
import { TEST_JWT_SECRET, startTestService, tokenFor, type LogLine } from '../helpers/service.js';

let runtime: Runtime;
let logs: LogLine[];
let token: string;
let itemId: string;

beforeAll(async () => {
  ({ runtime, logs } = await startTestService());
  token = await tokenFor('demo');
  if (!runtime.demo) throw new Error('embedded demo expected');
  itemId = runtime.demo.fixtures.items.healthy.itemId;
});
afterAll(() => runtime.close());
beforeEach(() => runtime.simulator?.state.reset());

const plaidCalls = () => runtime.simulator?.state.requests({}).length ?? -1;

interface Answer {
  status: number;
  text: string;
  messages: string[];
  codes: unknown[];
}

/** Sends as a current GraphQL-over-HTTP client does (so refusals come with a 4xx); a null header is left out. */
async function send(body: string, headers: Record<string, string | null> = {}, method = 'POST', path = '/graphql'): Promise<Answer> {
  const all: Record<string, string | null> = {
    'content-type': 'application/json',
    accept: 'application/graphql-response+json, application/json',
    authorization: `Bearer ${token}`,
    ...headers,
  };
  const response = await runtime.app.fetch(`http://localhost${path}`, {
    method,
    headers: Object.fromEntries(Object.entries(all).filter((entry): entry is [string, string] => entry[1] !== null)),
    ...(method === 'GET' ? {} : { body }),
  });
  const text = await response.text();
  let parsed: { errors?: { message: string; extensions?: { code?: unknown } }[] } = {};
  try {
    parsed = JSON.parse(text) as typeof parsed;
  } catch {
    // Not JSON: the message is the text itself.
  }
  return {
    status: response.status,
    text,
    messages: parsed.errors?.map((e) => e.message) ?? [text],
    codes: parsed.errors?.map((e) => e.extensions?.code) ?? [],
  };
}

const gql = (query: string, variables?: Record<string, unknown>, operationName?: string) =>
  JSON.stringify({ query, variables, operationName });
const refresh = (id: string) => `refreshTransactions(itemId: ${JSON.stringify(id)}) { __typename }`;

interface Case {
  readonly name: string;
  readonly request: () => Promise<Answer>;
  readonly status: number;
  /** The error message must say what was wrong. */
  readonly message: RegExp;
}

const cases: Case[] = [
  {
    name: 'deep nesting (depth 60)',
    request: () => send(gql(`query { ${'viewer { '.repeat(60)}id${' }'.repeat(60)} }`)),
    status: 400,
    message: /depth limit of 10 exceeded/i,
  },
  {
    name: 'an alias bomb of 20 refreshes',
    request: () => send(gql(`mutation { ${Array.from({ length: 20 }, (_, i) => `a${i}: ${refresh(itemId)}`).join(' ')} }`)),
    status: 400,
    message: /aliases limit of 15 exceeded/i,
  },
  {
    name: '10,000 __typename aliases (token flood)',
    request: () => send(gql(`query { ${Array.from({ length: 10_000 }, (_, i) => `t${i}: __typename`).join(' ')} }`)),
    status: 400,
    message: /token limit of 1000 exceeded/i,
  },
  {
    name: 'a cost bomb of fragments spread many times',
    request: () =>
      send(
        gql(
          `query { viewer { items { ...F ...F ...F ...F ...F ...F ...F ...F ...F ...F } } } fragment F on PlaidItem { ${'lastRefreshes { product requestId refreshedAt } '.repeat(20)} }`,
        ),
      ),
    status: 400,
    message: /cost limit|token limit/i,
  },
  {
    name: 'a 900 kB itemId (under the body limit)',
    request: () =>
      send(
        gql('mutation($id: ID!) { refreshTransactions(itemId: $id) { __typename ... on InputValidationError { field reason } } }', {
          id: 'x'.repeat(900_000),
        }),
      ),
    status: 200,
    message: /InputValidationError/,
  },
  {
    name: 'a 2 MB body',
    request: () => send(gql('mutation($id: ID!) { refreshTransactions(itemId: $id) { __typename } }', { id: 'x'.repeat(2_000_000) })),
    status: 413,
    message: /larger than the limit of 1048576 bytes/,
  },
  {
    name: 'days of the wrong type',
    request: () =>
      send(gql('mutation($id: ID!, $d: Int) { refreshCashflowReport(itemId: $id, days: $d) { __typename } }', { id: itemId, d: 'a year' })),
    status: 400,
    message: /Variable "\$d" got invalid value "a year"; Int cannot represent non-integer value/,
  },
  {
    name: 'days out of range',
    request: () =>
      send(
        gql(
          'mutation($id: ID!) { refreshCashflowReport(itemId: $id, days: 9999) { __typename ... on InputValidationError { field reason } } }',
          { id: itemId },
        ),
      ),
    status: 200,
    message: /"field":"days".*1 to 730/,
  },
  {
    name: 'itemId as an object',
    request: () => send(gql('mutation($id: ID!) { refreshTransactions(itemId: $id) { __typename } }', { id: { $gt: '' } })),
    status: 400,
    message: /Variable "\$id" got invalid value .*ID cannot represent value/,
  },
  {
    name: 'invalid JSON',
    request: () => send('{"query": "mutation { refreshTransactions(itemId: \\"x\\") { __typename } }"'),
    status: 400,
    message: /POST body sent invalid JSON/,
  },
  {
    name: 'a JSON body that is not an object',
    request: () => send('"mutation { refreshTransactions(itemId: \\"x\\") { __typename } }"'),
    status: 400,
    message: /expected to be an object/,
  },
  {
    name: 'an unknown operation name',
    request: () => send(gql(`mutation Real { ${refresh(itemId)} }`, {}, 'Other')),
    status: 400,
    message: /Could not determine what operation to execute|Unknown operation named "Other"/,
  },
  {
    name: 'an unknown field',
    request: () => send(gql(`mutation { refreshEverything(itemId: "${itemId}") { __typename } }`)),
    status: 400,
    message: /Cannot query field "refreshEverything" on type "Mutation"/,
  },
  {
    name: 'a batch (array body)',
    request: () => send(`[${gql(`mutation { ${refresh(itemId)} }`)},${gql(`mutation { ${refresh(itemId)} }`)}]`),
    status: 400,
    message: /./,
  },
  {
    name: 'a mutation over GET',
    request: () =>
      send('', { 'x-graphql-yoga-csrf': '1' }, 'GET', `/graphql?query=${encodeURIComponent(`mutation { ${refresh(itemId)} }`)}`),
    status: 405,
    message: /Can only perform a mutation operation from a POST request/,
  },
  {
    // A page on another site can send these without a preflight, and so without an Authorization header.
    name: 'a simple (CSRF-able) GET without a preflight header',
    request: () => send('', { 'content-type': '', authorization: null }, 'GET', '/graphql?query=%7Bviewer%7Bid%7D%7D'),
    status: 403,
    message: /CSRF/,
  },
  {
    name: 'a text/plain form post (CSRF-able)',
    request: () => send(gql(`mutation { ${refresh(itemId)} }`), { 'content-type': 'text/plain', authorization: null }),
    status: 403,
    message: /CSRF/,
  },
  {
    // Authorization passes the CSRF check (cross-site, it needs a preflight; GraphiQL's SSE GETs carry it): the token decides.
    name: 'a GET that carries a forged Authorization',
    request: () => send('', { 'content-type': '', authorization: 'Bearer forged' }, 'GET', '/graphql?query=%7Bviewer%7Bid%7D%7D'),
    status: 401,
    message: /token/i,
  },
  {
    name: 'a token signed with another secret',
    request: async () =>
      send(gql(`mutation { ${refresh(itemId)} }`), {
        authorization: `Bearer ${await new SignJWT({})
          .setProtectedHeader({ alg: 'HS256' })
          .setSubject('demo')
          .setExpirationTime('1h')
          .sign(new TextEncoder().encode('x'.repeat(40)))}`,
      }),
    status: 401,
    message: /the token is not valid/i,
  },
  {
    name: 'an expired token',
    request: async () => {
      const past = Math.floor(Date.now() / 1000) - 3600;
      const expired = await new SignJWT({})
        .setProtectedHeader({ alg: 'HS256' })
        .setSubject('demo')
        .setIssuedAt(past)
        .setExpirationTime(past + 60)
        .sign(new TextEncoder().encode(TEST_JWT_SECRET));
      return send(gql(`mutation { ${refresh(itemId)} }`), { authorization: `Bearer ${expired}` });
    },
    status: 401,
    message: /expired/i,
  },
  {
    name: 'an unsigned token (alg none)',
    request: () => {
      const part = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
      return send(gql(`mutation { ${refresh(itemId)} }`), { authorization: `Bearer ${part({ alg: 'none' })}.${part({ sub: 'demo' })}.` });
    },
    status: 401,
    message: /token|alg/i,
  },
  {
    name: 'no token at all',
    request: () => send(gql(`mutation { ${refresh(itemId)} }`), { authorization: null }),
    status: 401,
    message: /authentication required/,
  },
];

describe('hostile input', () => {
  it.each(cases)('$name: a clear error, nothing sent to Plaid', async ({ request, status, message }) => {
    const answer = await request();
    if (answer.status !== status) console.log(answer.text.slice(0, 500));
    expect(answer.status).toBe(status);
    expect(answer.messages.join('\n').length + answer.text.length).toBeGreaterThan(0);
    expect(status === 200 ? answer.text : answer.messages.join('\n')).toMatch(message);
    expect(answer.text).not.toContain('Unexpected error');
    expect(plaidCalls()).toBe(0);
  });

  it('the service still serves afterwards, and logged every refused request with its status', async () => {
    const answer = await send(gql(`mutation { ${refresh(itemId)} }`));
    expect(answer.text).toContain('RefreshTransactionsSuccess');
    expect(plaidCalls()).toBe(1);
    const refused = logs.filter((line) => line.msg === 'graphql request' && typeof line.status === 'number' && line.status >= 400);
    expect(refused.length).toBeGreaterThanOrEqual(cases.filter((c) => c.status >= 400).length);
    expect(logs.some((line) => line.level === 'error')).toBe(false);
  });
});

describe('the body limit over a real socket', () => {
  let http: HttpListener;
  beforeAll(async () => {
    http = await listen(runtime.app, '127.0.0.1', 0);
  });
  afterAll(() => http.close(1_000));

  /** POSTs `start` then 64 KiB chunks, 64 MB if nobody stopped reading; `sent()` counts the chunks that were pulled. */
  async function chunkedPost(start: string, headers: Record<string, string>) {
    let sent = 0;
    const chunk = new TextEncoder().encode(`${'x'.repeat(64 * 1024)}`);
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new TextEncoder().encode(start));
      },
      pull(controller) {
        if (sent >= 1_024) return controller.close();
        sent += 1;
        controller.enqueue(chunk);
      },
    });
    const response = await fetch(`${http.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}`, ...headers },
      body,
      duplex: 'half',
    } as RequestInit);
    return { response, sent: () => sent };
  }

  it('cuts a chunked body (no Content-Length) at the limit: 413, nothing sent to Plaid', async () => {
    const { response, sent } = await chunkedPost('{"query":"mutation { refreshTransactions(itemId: \\"', {});
    expect(response.status).toBe(413);
    expect(await response.text()).toContain('larger than the limit');
    // It stopped reading near the limit (1 MB) instead of buffering all 64 MB.
    expect(sent()).toBeLessThan(100);
    expect(plaidCalls()).toBe(0);
  });

  it('cuts a chunked body at the limit for an SSE subscription too (its body is read from the stream): 413', async () => {
    const { response, sent } = await chunkedPost('{"query":"subscription { refreshEvents(itemIds: [\\"', { accept: 'text/event-stream' });
    expect(response.status).toBe(413);
    await response.body?.cancel();
    expect(sent()).toBeLessThan(100);
  });

  it('refuses a declared Content-Length over the limit before reading the body', async () => {
    const response = await fetch(`${http.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ query: `mutation { ${refresh('x'.repeat(1_100_000))} }` }),
    });
    expect(response.status).toBe(413);
    expect(plaidCalls()).toBe(0);
  });
});
