/** Test helpers: an identity provider's JWKS endpoint (port 0) that a test can take down in several ways. */
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SignJWT, exportJWK, generateKeyPair, type JWK } from 'jose';

/** `up` serves the keys; the others are the outages a JWKS fetch meets. */
export type JwksMode = 'up' | 'reset' | 'hang' | 'http-500' | 'html';

export interface JwksServer {
  readonly url: string;
  mode: JwksMode;
  /** Requests received so far (fetches of the key set). */
  readonly requests: number;
  /** An RS256 token signed by the published key `k1`, or by an unpublished key when `kid` is another. */
  sign(claims: { sub: string; expiresIn?: string }, kid?: string): Promise<string>;
  close(): Promise<void>;
}

export async function startJwksServer(): Promise<JwksServer> {
  const published = await generateKeyPair('RS256');
  const unpublished = await generateKeyPair('RS256');
  const jwk: JWK = { ...(await exportJWK(published.publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' };
  const hanging = new Set<ServerResponse>();
  let requests = 0;
  let mode: JwksMode = 'up';
  const server = createServer((req, res) => {
    requests += 1;
    if (mode === 'up') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ keys: [jwk] }));
    } else if (mode === 'reset') {
      req.socket.destroy();
    } else if (mode === 'hang') {
      hanging.add(res);
    } else if (mode === 'http-500') {
      res.writeHead(500, { 'content-type': 'text/plain' });
      res.end('internal error');
    } else {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end('<html><body>Service Unavailable</body></html>');
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/.well-known/jwks.json`,
    get mode() {
      return mode;
    },
    set mode(next: JwksMode) {
      mode = next;
    },
    get requests() {
      return requests;
    },
    sign: ({ sub, expiresIn = '5m' }, kid = 'k1') =>
      new SignJWT({})
        .setProtectedHeader({ alg: 'RS256', kid })
        .setSubject(sub)
        .setIssuedAt()
        .setExpirationTime(expiresIn)
        .sign(kid === 'k1' ? published.privateKey : unpublished.privateKey),
    close: () =>
      new Promise<void>((resolve) => {
        for (const res of hanging) res.destroy();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** A URL nothing listens on: a port that was free a moment ago (connection refused). */
export async function refusedUrl(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}/.well-known/jwks.json`;
}
