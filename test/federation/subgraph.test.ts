/** The subgraph on its own: its SDL, composition with the users subgraph, and _entities with authorization. */
import { Trace } from '@apollo/usage-reporting-protobuf';
import { generate } from '@graphql-codegen/cli';
import { parse, printSchema, validate } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exampleDocument } from '../../src/http/graphiql.js';
import type { Runtime } from '../../src/runtime.js';
import { startTestService, tokenFor, type LogLine } from '../helpers/service.js';
import { composeWithUsers } from './users-subgraph.js';
import { callerFor } from '../../src/services/caller.js';

let runtime: Runtime;
let logs: LogLine[];
let demoToken: string;

beforeAll(async () => {
  ({ runtime, logs } = await startTestService());
  demoToken = await tokenFor('demo');
});
afterAll(() => runtime.close());

async function gql(query: string, variables: Record<string, unknown> = {}, token: string | null = demoToken) {
  const response = await runtime.app.fetch('http://localhost/graphql', {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify({ query, variables }),
  });
  const body = (await response.json()) as {
    data?: Record<string, unknown>;
    errors?: { message: string; path?: (string | number)[]; extensions?: Record<string, unknown> }[];
  };
  return { status: response.status, ...body };
}

const demoItems = () => Object.values(runtime.demo?.fixtures.items ?? {}).map((item) => item.itemId);

describe('the subgraph', () => {
  it('serves _service { sdl } with @link and the @keys, without a token (routers fetch it anonymously)', async () => {
    const { data } = await gql('{ _service { sdl } }', {}, null);
    const sdl = (data?._service as { sdl: string }).sdl;
    expect(sdl).toContain('@link(url: "https://specs.apollo.dev/federation/v2.6"');
    expect(sdl).toMatch(/type PlaidItem\s+@key\(fields: "id"\)/);
    expect(sdl).toMatch(/type User\s+@key\(fields: "id"\)/);
  });

  it('composes with the users subgraph, and codegen-style validation works on the API schema', () => {
    const result = composeWithUsers('http://plaid.local/graphql', 'http://users.local/graphql');
    expect(result.errors ?? []).toEqual([]);
    if (!result.schema) throw new Error('no supergraph');
    const api = result.schema.toAPISchema().toGraphQLJSSchema();
    const sdl = printSchema(api);
    // Nullable: "not yours" nulls this field, not another subgraph's User.
    expect(sdl).toMatch(/type User \{[^}]*plaidItems: \[PlaidItem!\]\n/s);
    expect(sdl).toMatch(/pinnedPlaidItem: PlaidItem/);
    // The frontends' operations are valid against the client-facing schema too.
    expect(validate(api, parse(exampleDocument()))).toEqual([]);
  });

  it('codegen runs against the client-facing API schema of the supergraph', async () => {
    const result = composeWithUsers('http://plaid.local/graphql', 'http://users.local/graphql');
    if (!result.schema) throw new Error('no supergraph');
    const apiSdl = printSchema(result.schema.toAPISchema().toGraphQLJSSchema());
    // generate() is typed `any`; with saveOutputs false it returns the files it would write.
    const outputs = (await generate(
      {
        schema: apiSdl,
        documents: ['operations/**/*.graphql'],
        silent: true,
        generates: { 'api-schema-check/': { preset: 'client', presetConfig: { fragmentMasking: false } } },
      },
      false,
    )) as { content: string }[];
    const code = outputs.map((o) => o.content).join('\n');
    expect(code).toContain('RefreshTransactionsDocument');
    expect(code).toContain('RefreshUserFinancialDataMutation');
  }, 60_000);
});

describe('federated tracing', () => {
  it('adds an ftv1 inline trace when the router asks for one, and only then', async () => {
    const ask = async (headers: Record<string, string>) => {
      const response = await runtime.app.fetch('http://localhost/graphql', {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${demoToken}`, ...headers },
        body: JSON.stringify({ query: '{ viewer { id } }' }),
      });
      return (await response.json()) as { extensions?: { ftv1?: string } };
    };
    const traced = await ask({ 'apollo-federation-include-trace': 'ftv1' });
    expect(traced.extensions?.ftv1).toMatch(/^[A-Za-z0-9+/=]{20,}$/);
    expect((await ask({})).extensions?.ftv1).toBeUndefined();
  });

  it('times every field of a traced request, nested ones and list items too (untraced requests skip the wrappers)', async () => {
    const ask = async (headers: Record<string, string>) => {
      const response = await runtime.app.fetch('http://localhost/graphql', {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${demoToken}`, ...headers },
        body: JSON.stringify({ query: '{ viewer { id items { id institutionName } } }' }),
      });
      return (await response.json()) as { data?: { viewer: { items: unknown[] } }; extensions?: { ftv1?: string } };
    };
    const untraced = await ask({});
    const traced = await ask({ 'apollo-federation-include-trace': 'ftv1' });
    expect(traced.data).toEqual(untraced.data);
    const trace = Trace.decode(Buffer.from(traced.extensions?.ftv1 ?? '', 'base64'));
    const viewer = trace.root?.child?.find((node) => node.responseName === 'viewer');
    expect(viewer?.child?.map((node) => node.responseName).sort()).toEqual(['id', 'items']);
    const items = viewer?.child?.find((node) => node.responseName === 'items');
    // One node per list item, each with its two fields timed.
    expect(items?.child).toHaveLength(untraced.data?.viewer.items.length ?? -1);
    expect(items?.child?.[0]?.child?.map((node) => node.responseName).sort()).toEqual(['id', 'institutionName']);
  });
});

describe('_entities', () => {
  const ENTITIES = `query ($representations: [_Any!]!) {
    _entities(representations: $representations) {
      __typename
      ... on PlaidItem { id institutionName }
      ... on User { id plaidItems { id } }
    }
  }`;

  it('resolves many PlaidItem representations with ONE vault query; foreign and unknown ones are null', async () => {
    const alice = await tokenFor('alice');
    const { publicToken } = await runtime.plaid.createSandboxPublicToken({
      institutionId: 'ins_109508',
      initialProducts: ['transactions'],
    });
    const aliceItem = await runtime.services.link.linkItem(callerFor('alice'), publicToken);
    const representations = [...demoItems(), aliceItem.id, 'no-such-item'].map((id) => ({ __typename: 'PlaidItem', id }));

    const before = runtime.metrics.vaultStatements();
    const { data, errors } = await gql(ENTITIES, { representations });
    expect(runtime.metrics.vaultStatements() - before).toBe(1);
    expect(errors).toBeUndefined();
    const entities = data?._entities as ({ id: string } | null)[];
    expect(entities.slice(0, demoItems().length).every((e, i) => e?.id === demoItems()[i])).toBe(true);
    expect(entities.slice(-2)).toEqual([null, null]);

    // Alice sees her own Item, and none of the demo viewer's.
    const asAlice = await gql(ENTITIES, { representations }, alice);
    const aliceEntities = asAlice.data?._entities as ({ id: string } | null)[];
    expect(aliceEntities.filter((e) => e !== null).map((e) => e?.id)).toEqual([aliceItem.id]);
  });

  it('a gateway batch of 1,000 representations passes the production limits and is still ONE vault query', async () => {
    const ids = demoItems();
    const representations = Array.from({ length: 1_000 }, (_, i) => ({ __typename: 'PlaidItem', id: ids[i % ids.length] ?? '' }));
    const before = runtime.metrics.vaultStatements();
    const { data, errors } = await gql(ENTITIES, { representations });
    expect(errors).toBeUndefined();
    expect(runtime.metrics.vaultStatements() - before).toBe(1);
    expect((data?._entities as unknown[]).filter((e) => e !== null)).toHaveLength(1_000);
  });

  it('answers mixed types and bad representations in the order sent, each PlaidItem from the one batch', async () => {
    const [first, second] = demoItems();
    const before = runtime.metrics.vaultStatements();
    const { data, errors } = await gql(ENTITIES, {
      representations: [
        { __typename: 'PlaidItem', id: second },
        { __typename: 'User', id: 'demo' },
        { __typename: 'PlaidItem', id: { $ne: null } },
        { __typename: 'Nope', id: first },
        { __typename: 'PlaidItem', id: first },
      ],
    });
    // The PlaidItems, then the User's Items (its own field, resolved after the entities).
    expect(runtime.metrics.vaultStatements() - before).toBe(2);
    const entities = data?._entities as ({ __typename: string; id: string } | null)[];
    expect(entities.map((e) => e && `${e.__typename}:${e.id}`)).toEqual([
      `PlaidItem:${second}`,
      'User:demo',
      null,
      null,
      `PlaidItem:${first}`,
    ]);
    expect(errors?.map((e) => [e.path, e.extensions?.code])).toEqual([
      [['_entities', 2], 'BAD_USER_INPUT'],
      [['_entities', 3], 'BAD_USER_INPUT'],
    ]);
  });

  it("a User representation gains the caller's Items; another user's resolves, with plaidItems null and FORBIDDEN", async () => {
    const { data, errors } = await gql(ENTITIES, {
      representations: [
        { __typename: 'User', id: 'demo' },
        { __typename: 'User', id: 'someone-else' },
      ],
    });
    const [me, other] = data?._entities as ({ id: string; plaidItems: { id: string }[] | null } | null)[];
    expect(me?.plaidItems?.map((i) => i.id).sort()).toEqual([...demoItems()].sort());
    expect(other).toEqual({ __typename: 'User', id: 'someone-else', plaidItems: null });
    expect(errors).toEqual([expect.objectContaining({ path: ['_entities', 1, 'plaidItems'], extensions: { code: 'FORBIDDEN' } })]);
  });

  // Anyone can send these; a gateway never does. Each is the client's error, not an unexpected one.
  it.each([
    ['a PlaidItem without id', { __typename: 'PlaidItem' }],
    ['a User without id', { __typename: 'User' }],
    ['a PlaidItem with an object for id', { __typename: 'PlaidItem', id: { $ne: null } }],
    ['a User with a null id', { __typename: 'User', id: null }],
    ['a type that is no entity here', { __typename: 'Viewer', id: 'demo' }],
    ['no __typename', { id: 'demo' }],
  ])('%s: BAD_USER_INPUT for that entity only, and nothing logged at error level', async (_name, bad) => {
    const before = logs.length;
    const good = { __typename: 'PlaidItem', id: demoItems()[0] };
    const { status, data, errors } = await gql(ENTITIES, { representations: [bad, good] });
    expect(status).toBe(200);
    expect(errors).toHaveLength(1);
    expect(errors?.[0]).toMatchObject({ path: ['_entities', 0], extensions: { code: 'BAD_USER_INPUT' } });
    expect(data?._entities).toEqual([null, expect.objectContaining({ id: demoItems()[0] })]);
    const logged = logs.slice(before);
    expect(logged.filter((line) => line.level === 'error' || line.level === 'fatal')).toEqual([]);
    expect(logged.find((line) => line.msg === 'graphql request')).toMatchObject({ status: 200, errors: ['BAD_USER_INPUT'] });
  });

  it('without a token nothing resolves, and each entity says UNAUTHENTICATED', async () => {
    const { status, data, errors } = await gql(
      ENTITIES,
      { representations: demoItems().map((id) => ({ __typename: 'PlaidItem', id })) },
      null,
    );
    // A 200: the gateway's fetch worked; only these entities failed.
    expect(status).toBe(200);
    expect((data?._entities as unknown[]).every((e) => e === null)).toBe(true);
    expect(errors).toHaveLength(demoItems().length);
    expect(errors?.every((e) => e.extensions?.code === 'UNAUTHENTICATED')).toBe(true);
  });
});
