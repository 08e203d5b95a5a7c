/**
 * `npm run supergraph`: the federated setup on one machine. Starts this subgraph in embedded mode,
 * the example users subgraph (test/federation/users-subgraph.ts), composes them into
 * .local/supergraph.graphql with @apollo/composition, and serves Hive Gateway on GATEWAY_PORT
 * (default 4100), forwarding Authorization to the subgraphs. The gateway's GraphiQL is ours (the
 * subgraph's page and assets, no CDN), pre-filled with the demo token and a federated query.
 * `startLocalSupergraph` is the same without the file and the banner (the federation tests use it).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createGatewayRuntime } from '@graphql-hive/gateway';
import { createYoga } from 'graphql-yoga';
import { isEntryPoint } from '../src/cli/is-entry-point.js';
import { loadConfig } from '../src/config.js';
import { graphiqlOptions, useGraphiQL } from '../src/http/graphiql.js';
import { listen } from '../src/http/listen.js';
import { createRuntime } from '../src/runtime.js';
import { composeWithUsers, usersSubgraphSchema } from '../test/federation/users-subgraph.js';

/** What the banner suggests and the gateway's GraphiQL opens on. */
export const FEDERATED_EXAMPLE = `query DemoUser {
  user(id: "demo") {
    name
    plaidItems { id institutionName }
    pinnedPlaidItem { id institutionName }
  }
}
`;

export interface LocalSupergraph {
  /** The gateway's GraphQL endpoint (and its GraphiQL, in a browser). */
  readonly gatewayUrl: string;
  readonly plaidUrl: string;
  readonly usersUrl: string;
  readonly supergraphSdl: string;
  /** Embedded mode's demo token; null with Plaid credentials. */
  readonly demoToken: string | null;
  close(): Promise<void>;
}

export async function startLocalSupergraph(
  options: { gatewayPort?: number; env?: NodeJS.ProcessEnv; logging?: boolean } = {},
): Promise<LocalSupergraph> {
  const runtime = await createRuntime(loadConfig({ ...(options.env ?? process.env), PORT: '0' }));
  const closers: (() => unknown)[] = [() => runtime.close()];
  const close = async () => {
    for (const closeOne of closers.reverse())
      await Promise.resolve()
        .then(closeOne)
        .catch(() => {});
    closers.length = 0;
  };
  try {
    const plaid = await listen(runtime.app, '127.0.0.1', 0);
    closers.push(() => plaid.close(1_000));

    const pinned = runtime.demo?.fixtures.items.healthy.itemId ?? null;
    const users = createYoga({
      schema: usersSubgraphSchema([{ id: 'demo', name: 'Demo Viewer', pinnedItemId: pinned }]),
      logging: false,
    });
    const usersServer = createServer((req, res) => void users(req, res));
    await new Promise<void>((resolve) => usersServer.listen(0, '127.0.0.1', resolve));
    closers.push(() => new Promise<void>((resolve) => usersServer.close(() => resolve())));
    const usersUrl = `http://127.0.0.1:${(usersServer.address() as AddressInfo).port}/graphql`;

    const composed = composeWithUsers(`${plaid.url}/graphql`, usersUrl);
    if (!composed.supergraphSdl) throw new Error(`composition failed:\n${composed.errors?.map((e) => `  ${e.message}`).join('\n')}`);

    const demoToken = runtime.demo?.token ?? null;
    const gateway = createGatewayRuntime({
      supergraph: composed.supergraphSdl,
      ...(options.logging === false ? { logging: false } : {}),
      // The preflight header lets the gateway's SSE subscriptions past the subgraph's CSRF check (docs/federation.md).
      propagateHeaders: {
        fromClientToSubgraphs: ({ request }) => ({
          authorization: request.headers.get('authorization'),
          'apollo-require-preflight': 'true',
        }),
      },
      // Hive Gateway's own GraphiQL loads its script and CSS from a CDN; ours has them on board.
      graphiql: false,
      plugins: () => [
        useGraphiQL({
          endpoint: '/graphql',
          options: {
            ...graphiqlOptions(demoToken ? { Authorization: `Bearer ${demoToken}` } : {}, {}, FEDERATED_EXAMPLE),
            title: 'Local supergraph (Hive Gateway)',
          },
          storageNamespace: 'plaid-refresh-graphql-supergraph',
        }),
      ],
    });
    closers.push(() => gateway.dispose());
    const gatewayServer = createServer((req, res) => void gateway(req, res));
    await new Promise<void>((resolve, reject) => {
      gatewayServer.once('error', reject);
      gatewayServer.listen(options.gatewayPort ?? 4100, '127.0.0.1', () => resolve());
    });
    closers.push(
      () =>
        new Promise<void>((resolve) => {
          gatewayServer.close(() => resolve());
          gatewayServer.closeAllConnections();
        }),
    );
    const gatewayUrl = `http://127.0.0.1:${(gatewayServer.address() as AddressInfo).port}/graphql`;
    return { gatewayUrl, plaidUrl: `${plaid.url}/graphql`, usersUrl, supergraphSdl: composed.supergraphSdl, demoToken, close };
  } catch (error) {
    await close();
    throw error;
  }
}

if (await isEntryPoint(import.meta.url)) {
  let supergraph: LocalSupergraph;
  try {
    supergraph = await startLocalSupergraph({ gatewayPort: Number(process.env.GATEWAY_PORT ?? 4100) });
  } catch (error) {
    console.error(error instanceof Error ? error.message : error);
    process.exit(1);
  }
  mkdirSync('.local', { recursive: true });
  writeFileSync('.local/supergraph.graphql', supergraph.supergraphSdl);
  console.log(
    [
      '',
      'Local supergraph (written to .local/supergraph.graphql):',
      `  plaid subgraph:  ${supergraph.plaidUrl}`,
      `  users subgraph:  ${supergraph.usersUrl}`,
      `  gateway:         ${supergraph.gatewayUrl}  (GraphiQL in a browser, pre-filled with the demo token)`,
      supergraph.demoToken ? `  demo token:      ${supergraph.demoToken}` : '',
      '  try: { user(id: "demo") { name plaidItems { institutionName } pinnedPlaidItem { institutionName } } }',
      '',
    ].join('\n'),
  );
  const stop = async () => {
    await supergraph.close();
    process.exit(0);
  };
  process.once('SIGINT', () => void stop());
  process.once('SIGTERM', () => void stop());
}
