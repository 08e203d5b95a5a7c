/**
 * The ceiling: node:http, one undici POST to the fake Plaid per request, a fixed GraphQL-shaped
 * answer. No GraphQL, no auth, no vault: what a request costs at the least on this stack.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { FAKE_PLAID_URL, plaidCaller, readyWith } from './plaid-call.js';

const call = plaidCaller(FAKE_PLAID_URL);
const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => {
    const { variables } = JSON.parse(Buffer.concat(chunks).toString()) as { variables?: { itemId?: string } };
    call(variables?.itemId ?? '').then(
      ({ requestId }) => {
        const body = JSON.stringify({ data: { refreshIdentity: { __typename: 'RefreshIdentitySuccess', requestId } } });
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
        res.end(body);
      },
      () => {
        res.writeHead(502);
        res.end();
      },
    );
  });
});
server.keepAliveTimeout = 65_000;
server.listen(0, '127.0.0.1', () => readyWith(`http://127.0.0.1:${(server.address() as AddressInfo).port}/graphql`));
process.on('disconnect', () => server.close(() => process.exit(0)));
