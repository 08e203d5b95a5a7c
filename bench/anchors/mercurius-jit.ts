/**
 * The best Node stack in the field for this: Fastify with Mercurius, graphql-jit compiling each
 * document after its first run (`jit: 1`), the same SDL mutation, the same undici call.
 */
import Fastify from 'fastify';
import mercurius from 'mercurius';
import { FAKE_PLAID_URL, plaidCaller, readyWith } from './plaid-call.js';
import { ANCHOR_SDL, refreshIdentityResolver, type AnchorResult } from './schema.js';

const app = Fastify({ logger: false, keepAliveTimeout: 65_000 });
await app.register(mercurius, {
  schema: ANCHOR_SDL,
  resolvers: {
    Query: { ok: () => true },
    Mutation: { refreshIdentity: refreshIdentityResolver(plaidCaller(FAKE_PLAID_URL)) },
    RefreshIdentityResult: { resolveType: (result: AnchorResult) => result.__typename },
  } as never,
  jit: 1,
  graphiql: false,
});
const address = await app.listen({ port: 0, host: '127.0.0.1' });
readyWith(`${address}/graphql`);
process.on('disconnect', () => void app.close().then(() => process.exit(0)));
