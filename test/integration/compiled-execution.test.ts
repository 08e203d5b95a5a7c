/**
 * Compiled execution (graphql-jit) answers exactly as yoga's executor does. Two apps share one
 * runtime's services: one compiles, one does not; every request goes to both, and the status,
 * the body (request ids and times aside) and what was logged as unexpected must be the same. The
 * metric says which executor ran, so a silent fallback would fail too.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp, type App } from '../../src/app.js';
import { AUTH_DEFAULTS, createAuthenticator, type Authenticator } from '../../src/auth/authenticate.js';
import type { Services } from '../../src/context.js';
import { createMetrics, type Metrics } from '../../src/observability/metrics.js';
import type { Runtime } from '../../src/runtime.js';
import { memoryLogger, type LogLine } from '../helpers/logs.js';
import { TEST_JWT_SECRET, startTestService, tokenFor } from '../helpers/service.js';

interface Side {
  readonly app: App;
  readonly metrics: Metrics;
  readonly lines: LogLine[];
}

let runtime: Runtime;
let token: string;
let compiled: Side;
let usual: Side;

function side(
  services: Services,
  compiledExecution: boolean,
  authenticate: Authenticator = createAuthenticator({
    ...AUTH_DEFAULTS,
    jwtSecret: TEST_JWT_SECRET,
    jwksUrl: null,
    issuer: null,
    audience: null,
  }),
): Side {
  const { logger, lines } = memoryLogger();
  const metrics = createMetrics({ defaultMetrics: false });
  return { app: createApp({ services, authenticate, logger, metrics, compiledExecution }), metrics, lines };
}

beforeAll(async () => {
  ({ runtime } = await startTestService());
  token = await tokenFor('demo');
  compiled = side(runtime.services, true);
  usual = side(runtime.services, false);
});
afterAll(() => runtime.close());

const fixture = (key: string) => {
  const item = (runtime.demo?.fixtures.items as Record<string, { itemId: string }> | undefined)?.[key];
  if (!item) throw new Error(`no fixture ${key}`);
  return item.itemId;
};
const operations = (file: string) =>
  ['fragments.graphql', file].map((name) => readFileSync(new URL(`../../operations/${name}`, import.meta.url), 'utf8')).join('\n');

/** What varies between two runs of one request: ids and times minted per call. */
const VARYING = new Set(['requestId', 'plaidRequestId', 'requestedAt', 'observedAt', 'refreshedAt', 'expiration', 'linkToken', 'ftv1']);
function normalised(value: unknown, key = ''): unknown {
  if (Array.isArray(value)) return value.map((v) => normalised(v));
  if (typeof value === 'object' && value !== null) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, normalised(v, k)]));
  // A refresh record is new each time (`refresh { id }`).
  if (typeof value === 'string' && (VARYING.has(key) || (key === 'id' && value.startsWith('rfr_')))) return '<varies>';
  return value;
}

interface Answer {
  status: number;
  body: unknown;
  unexpected: unknown[];
}

/**
 * Several errors of one answer, each from a promise of its own, are listed as they settle, and the
 * two executors settle them in a different order (the spec leaves the order open; clients and
 * gateways match errors by path). Compared by path, then message.
 */
function byPath(body: unknown): unknown {
  const errors = (body as { errors?: { path?: unknown; message: string }[] }).errors;
  if (!errors || errors.length < 2) return body;
  const key = (e: { path?: unknown; message: string }) => `${JSON.stringify(e.path ?? [])} ${e.message}`;
  return { ...(body as object), errors: [...errors].sort((a, b) => key(a).localeCompare(key(b))) };
}

async function ask(on: Side, body: Record<string, unknown>, headers: Record<string, string> = {}): Promise<Answer> {
  const before = on.lines.length;
  const response = await on.app.fetch('http://localhost/graphql', {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/graphql-response+json',
      authorization: `Bearer ${token}`,
      ...headers,
    },
    body: JSON.stringify(body),
  });
  const text = await response.text();
  const unexpected = on.lines
    .slice(before)
    .filter((line) => line.level === 'error' || line.level === 'warn')
    .map((line) => ({ msg: line.msg, path: line.path }));
  return { status: response.status, body: byPath(normalised(JSON.parse(text))), unexpected };
}

const executions = async (on: Side) => {
  const metric = await on.metrics.registry.getSingleMetric('graphql_executions_total')?.get();
  return Object.fromEntries((metric?.values ?? []).map((v) => [String(v.labels.executor), v.value]));
};

/** Sends the request to both apps (compiled first) and expects the same answer; returns it. */
async function same(
  body: Record<string, unknown>,
  headers: Record<string, string> = {},
  executor: 'compiled' | 'usual' | 'none' = 'compiled',
) {
  const before = await executions(compiled);
  const fromCompiled = await ask(compiled, body, headers);
  const fromUsual = await ask(usual, body, headers);
  expect(fromCompiled).toEqual(fromUsual);
  const after = await executions(compiled);
  const ran = (['compiled', 'usual'] as const).filter((name) => (after[name] ?? 0) > (before[name] ?? 0));
  expect(ran).toEqual(executor === 'none' ? [] : [executor]);
  return fromCompiled;
}

describe('compiled execution answers as the usual executor', () => {
  it('the Viewer query, every Item with its health', async () => {
    const { body } = await same({ query: operations('viewer.graphql'), operationName: 'Viewer' });
    expect((body as { data: { viewer: { items: unknown[] } } }).data.viewer.items).toHaveLength(8);
  });

  // Not the refreshLimit fixture: its answer depends on how often it was asked.
  it.each(['healthy', 'oauthLoginRequired', 'capitalOneCredit', 'transactionsOnly', 'institutionDown', 'internalError', 'invalidProduct'])(
    'refreshIdentity and refreshCashflowReport of the %s fixture: the same union member and fields',
    async (key) => {
      const itemId = fixture(key);
      const identity = await same({ query: operations('refresh.graphql'), operationName: 'RefreshIdentity', variables: { itemId } });
      expect(JSON.stringify(identity.body)).toMatch(/"__typename":"[A-Za-z]+"/);
      await same({ query: operations('refresh.graphql'), operationName: 'RefreshCashflowReport', variables: { itemId, days: 30 } });
    },
  );

  it('typed errors without Plaid: an unknown Item, days out of range, the user bundle', async () => {
    const unknown = await same({
      query: operations('refresh.graphql'),
      operationName: 'RefreshIdentity',
      variables: { itemId: 'no-such-item' },
    });
    expect(JSON.stringify(unknown.body)).toContain('ItemNotFoundError');
    const range = await same({
      query: operations('refresh.graphql'),
      operationName: 'RefreshCashflowReport',
      variables: { itemId: fixture('healthy'), days: 9999 },
    });
    expect(JSON.stringify(range.body)).toContain('InputValidationError');
    await same({ query: operations('refresh.graphql'), operationName: 'RefreshUserFinancialData' });
  });

  it('variables that do not coerce: the usual executor answers (400, its wording), nothing compiled runs', async () => {
    const query = 'mutation($id: ID!, $d: Int) { refreshCashflowReport(itemId: $id, days: $d) { __typename } }';
    const { status, body } = await same({ query, variables: { id: fixture('healthy'), d: 'a year' } }, {}, 'usual');
    expect(status).toBe(400);
    expect(JSON.stringify(body)).toMatch(/Variable \\"\$d\\" got invalid value \\"a year\\"; Int cannot represent non-integer value/);
    const missing = await same({ query, variables: {} }, {}, 'usual');
    expect(missing.status).toBe(400);
    await same({ query, variables: { id: { $gt: '' } } }, {}, 'usual');
  });

  it('_entities: good and bad representations, in order, each error at its index', async () => {
    const query = `query ($representations: [_Any!]!) { _entities(representations: $representations) {
      __typename ... on PlaidItem { id institutionName health { status } } ... on User { id plaidItems { id } } } }`;
    const representations = [
      { __typename: 'User' },
      { __typename: 'PlaidItem', id: fixture('healthy') },
      { __typename: 'Nope', id: 'x' },
      { __typename: 'PlaidItem', id: { $ne: null } },
      { __typename: 'User', id: 'demo' },
      { __typename: 'User', id: 'someone-else' },
      { id: 'demo' },
      { __typename: 'PlaidItem', id: 'not-mine' },
      { __typename: 'PlaidItem', id: fixture('internalError') },
    ];
    const { body } = await same({ query, variables: { representations } });
    const { data, errors } = body as { data: { _entities: unknown[] }; errors: { path: unknown[] }[] };
    expect(data._entities).toHaveLength(representations.length);
    expect(errors.map((e) => e.path)).toEqual([
      ['_entities', 0],
      ['_entities', 2],
      ['_entities', 3],
      ['_entities', 5, 'plaidItems'],
      ['_entities', 6],
    ]);
    expect(data._entities.map((e) => (e as { __typename?: string } | null)?.__typename ?? null)).toEqual([
      null,
      'PlaidItem',
      null,
      null,
      'User',
      'User',
      null,
      null,
      'PlaidItem',
    ]);
    // Without a token: UNAUTHENTICATED per entity.
    await same({ query, variables: { representations } }, { authorization: '' });
  });

  it('_service { sdl }, __typename, aliases, fragments, @skip and @include', async () => {
    await same({ query: '{ _service { sdl } }' });
    await same({
      query: `query ($no: Boolean!) { __typename a: viewer { id } b: viewer { ...V items @skip(if: $no) { id } } } fragment V on Viewer { id hasPlaidUser @include(if: $no) }`,
      variables: { no: true },
    });
  });

  it('introspection goes to the usual executor', async () => {
    await same({ query: '{ __schema { queryType { name } } __type(name: "PlaidItem") { name } }' }, {}, 'usual');
  });

  it('a traced request (ftv1, from a federation router) goes to the usual executor', async () => {
    const { body } = await same({ query: '{ viewer { id } }' }, { 'apollo-federation-include-trace': 'ftv1' }, 'usual');
    expect((body as { extensions?: { ftv1?: unknown } }).extensions?.ftv1).toBeDefined();
  });

  it('an unknown operation name, several operations without one: refused before execution, alike', async () => {
    await same({ query: 'query A { viewer { id } } query B { viewer { id } }', operationName: 'C' }, {}, 'none');
    await same({ query: 'query A { viewer { id } } query B { viewer { id } }' }, {}, 'none');
  });
});

describe('compiled execution: faults the schema does not expect', () => {
  // Services that break their contract, as a bug would: what the client sees and what is logged must not change.
  const broken = {
    refresh: {
      refreshItem: (_caller: unknown, itemId: string) => {
        if (itemId === 'throws') return Promise.reject(new Error('database exploded at row 42'));
        // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- what a careless dependency does
        if (itemId === 'throws-a-string') return Promise.reject('a string, not an Error');
        // Neither a success nor an error the union knows: its type cannot be resolved.
        return Promise.resolve({ surprise: true });
      },
    },
  } as unknown as Services;
  let brokenCompiled: Side;
  let brokenUsual: Side;
  beforeAll(() => {
    const authenticate = () => Promise.resolve({ id: 'v1' });
    brokenCompiled = side(broken, true, authenticate);
    brokenUsual = side(broken, false, authenticate);
  });

  const faultAnswer = async (itemId: string) => {
    const body = { query: `mutation { refreshIdentity(itemId: "${itemId}") { __typename } }` };
    const headers = { 'x-request-id': 'req-fault' };
    const before = (await executions(brokenCompiled)).compiled ?? 0;
    const a = await ask(brokenCompiled, body, headers);
    expect((await executions(brokenCompiled)).compiled).toBe(before + 1);
    expect(a).toEqual(await ask(brokenUsual, body, headers));
    return a;
  };

  it.each(['throws', 'throws-a-string'])('a service that rejects (%s): masked with the request id, logged alike', async (itemId) => {
    const a = await faultAnswer(itemId);
    expect(a.body).toEqual({
      data: { refreshIdentity: null },
      errors: [
        { message: 'Unexpected error.', path: ['refreshIdentity'], extensions: { code: 'INTERNAL_SERVER_ERROR', requestId: '<varies>' } },
      ],
    });
    expect(a.unexpected).toEqual([{ msg: 'unexpected error', path: 'refreshIdentity' }]);
  });

  it("a result no union member claims: the executor's own error, at the field, as graphql-js words it", async () => {
    const a = await faultAnswer('surprise');
    const message: unknown = expect.stringMatching(
      /^Abstract type "RefreshIdentityResult" must resolve to an Object type at runtime for field "Mutation.refreshIdentity"/,
    );
    expect(a.body).toEqual({
      data: { refreshIdentity: null },
      errors: [
        {
          message,
          locations: [{ line: 1, column: 12 }],
          path: ['refreshIdentity'],
        },
      ],
    });
  });
});
