/**
 * The Plaid every anchor calls: a node:http server that answers each POST at once with Plaid's
 * success body for a refresh (`{"request_id": …}`), after reading the request. Nothing else, so
 * the comparison measures the layers in front of it, not a simulator's bookkeeping.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

let n = 0;
const server = createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    const body = JSON.stringify({ request_id: `fake${(n++).toString(36)}` });
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
});
server.keepAliveTimeout = 65_000;
server.listen(0, '127.0.0.1', () => {
  const { port } = server.address() as AddressInfo;
  process.send?.({ type: 'ready', url: `http://127.0.0.1:${port}` });
});
process.on('disconnect', () => server.close(() => process.exit(0)));
