/**
 * The bare graphql-yoga anchor: one SDL mutation -> one undici POST -> union, on node:http, with
 * yoga's defaults (parse and validate caches on) and nothing else: no auth, vault, guard or logs.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createSchema, createYoga } from 'graphql-yoga';
import { FAKE_PLAID_URL, plaidCaller, readyWith } from './plaid-call.js';
import { ANCHOR_SDL, refreshIdentityResolver, type AnchorResult } from './schema.js';

const yoga = createYoga({
  schema: createSchema({
    typeDefs: ANCHOR_SDL,
    resolvers: {
      Query: { ok: () => true },
      Mutation: { refreshIdentity: refreshIdentityResolver(plaidCaller(FAKE_PLAID_URL)) },
      RefreshIdentityResult: { __resolveType: (result: AnchorResult) => result.__typename },
    },
  }),
  logging: false,
  graphiql: false,
});
// As yoga's own node:http example does (`createServer(yoga)`), the promise left to yoga.
const server = createServer((req, res) => void yoga(req, res));
server.keepAliveTimeout = 65_000;
server.listen(0, '127.0.0.1', () => readyWith(`http://127.0.0.1:${(server.address() as AddressInfo).port}/graphql`));
process.on('disconnect', () => server.close(() => process.exit(0)));
