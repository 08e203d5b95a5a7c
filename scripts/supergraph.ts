/**
 * `npm run supergraph`: the federated setup on one machine. Starts this subgraph in embedded mode,
 * the example users subgraph (test/federation/users-subgraph.ts), composes them into
 * .local/supergraph.graphql with @apollo/composition, and serves Hive Gateway on GATEWAY_PORT
 * (default 4100), forwarding Authorization to the subgraphs.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createGatewayRuntime } from '@graphql-hive/gateway';
import { createYoga } from 'graphql-yoga';
import { loadConfig } from '../src/config.js';
import { listen } from '../src/http/listen.js';
import { createRuntime } from '../src/runtime.js';
import { composeWithUsers, usersSubgraphSchema } from '../test/federation/users-subgraph.js';

const gatewayPort = Number(process.env.GATEWAY_PORT ?? 4100);
const runtime = await createRuntime(loadConfig({ ...process.env, PORT: '0' }));
const plaid = await listen(runtime.app, '127.0.0.1', 0);

const pinned = runtime.demo?.fixtures.items.healthy.itemId ?? null;
const users = createYoga({
  schema: usersSubgraphSchema([{ id: 'demo', name: 'Demo Viewer', pinnedItemId: pinned }]),
  logging: false,
});
const usersServer = createServer((req, res) => void users(req, res));
await new Promise<void>((resolve) => usersServer.listen(0, '127.0.0.1', resolve));
const usersUrl = `http://127.0.0.1:${(usersServer.address() as AddressInfo).port}/graphql`;

const composed = composeWithUsers(`${plaid.url}/graphql`, usersUrl);
if (!composed.supergraphSdl) {
  console.error(`composition failed:\n${composed.errors?.map((e) => `  ${e.message}`).join('\n')}`);
  process.exit(1);
}
mkdirSync('.local', { recursive: true });
writeFileSync('.local/supergraph.graphql', composed.supergraphSdl);

const gateway = createGatewayRuntime({
  supergraph: composed.supergraphSdl,
  propagateHeaders: { fromClientToSubgraphs: ({ request }) => ({ authorization: request.headers.get('authorization') }) },
});
const gatewayServer = createServer((req, res) => void gateway(req, res));
await new Promise<void>((resolve) => gatewayServer.listen(gatewayPort, '127.0.0.1', resolve));

console.log(
  [
    '',
    'Local supergraph (written to .local/supergraph.graphql):',
    `  plaid subgraph:  ${plaid.url}/graphql`,
    `  users subgraph:  ${usersUrl}`,
    `  gateway:         http://127.0.0.1:${gatewayPort}/graphql`,
    runtime.demo ? `  demo token:      ${runtime.demo.token}` : '',
    '  try: { user(id: "demo") { name plaidItems { institutionName } pinnedPlaidItem { institutionName } } }',
    '',
  ].join('\n'),
);

const stop = async () => {
  await gateway.dispose();
  gatewayServer.close();
  usersServer.close();
  await plaid.close();
  await runtime.close();
  process.exit(0);
};
process.once('SIGINT', () => void stop());
process.once('SIGTERM', () => void stop());
