import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuthenticationError, createAuthenticator } from '../../src/auth/authenticate.js';
import { signViewerToken } from '../../src/demo/seed.js';

const SECRET = 'a-shared-secret-of-at-least-32-chars!!';
const hs256 = (claims: { sub?: string; iss?: string; aud?: string }, secret = SECRET, exp = '5m') => {
  let jwt = new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setIssuedAt().setExpirationTime(exp);
  if (claims.sub) jwt = jwt.setSubject(claims.sub);
  if (claims.iss) jwt = jwt.setIssuer(claims.iss);
  if (claims.aud) jwt = jwt.setAudience(claims.aud);
  return jwt.sign(new TextEncoder().encode(secret));
};

describe('HS256', () => {
  const authenticate = createAuthenticator({ jwtSecret: SECRET, jwksUrl: null, issuer: 'https://idp.example', audience: 'refresh-api' });

  it('the viewer is the token subject', async () => {
    const token = await hs256({ sub: 'user-1', iss: 'https://idp.example', aud: 'refresh-api' });
    await expect(authenticate(`Bearer ${token}`)).resolves.toEqual({ id: 'user-1' });
  });

  it('a token is verified once: concurrent requests share the verification, later ones the cached viewer', async () => {
    const token = await hs256({ sub: 'user-2', iss: 'https://idp.example', aud: 'refresh-api' });
    const together = await Promise.all([authenticate(`Bearer ${token}`), authenticate(`Bearer ${token}`)]);
    // One verification makes one viewer object; two would have made two.
    expect(together[0]).toBe(together[1]);
    expect(await authenticate(`Bearer ${token}`)).toBe(together[0]);
    const bad = `${token.slice(0, -2)}xx`;
    const refused = await Promise.allSettled([authenticate(`Bearer ${bad}`), authenticate(`Bearer ${bad}`)]);
    expect(refused.map((r) => r.status)).toEqual(['rejected', 'rejected']);
  });

  it('no header -> no viewer (fields that need one answer UNAUTHENTICATED)', async () => {
    await expect(authenticate(null)).resolves.toBeNull();
  });

  it.each([
    ['a wrong secret', () => hs256({ sub: 'u', iss: 'https://idp.example', aud: 'refresh-api' }, 'another-secret-of-at-least-32-chars!!')],
    ['a wrong issuer', () => hs256({ sub: 'u', iss: 'https://evil.example', aud: 'refresh-api' })],
    ['a wrong audience', () => hs256({ sub: 'u', iss: 'https://idp.example', aud: 'other-api' })],
    ['no subject', () => hs256({ iss: 'https://idp.example', aud: 'refresh-api' })],
    ['an expired token', () => hs256({ sub: 'u', iss: 'https://idp.example', aud: 'refresh-api' }, SECRET, '-1m')],
    ['alg none', () => Promise.resolve(`${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from('{"sub":"u"}').toString('base64url')}.`)],
  ])('%s is refused', async (_label, make) => {
    await expect(authenticate(`Bearer ${await make()}`)).rejects.toBeInstanceOf(AuthenticationError);
  });

  it('a header that is not Bearer is refused, and the message never echoes the token', async () => {
    const error = await authenticate('Basic dXNlcjpwYXNz').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AuthenticationError);
    expect(String((error as Error).message)).not.toContain('dXNlcjpwYXNz');
  });
});

describe('JWT claims: exp required, iat not in the future, a bounded lifetime', () => {
  const authenticate = createAuthenticator({ jwtSecret: SECRET, jwksUrl: null, issuer: null, audience: null });
  const now = () => Math.floor(Date.now() / 1000);
  /** An HS256 token with exactly these claims (no defaults). */
  const signed = (claims: { iat?: number; exp?: number }) => {
    let jwt = new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('user-c');
    if (claims.iat !== undefined) jwt = jwt.setIssuedAt(claims.iat);
    if (claims.exp !== undefined) jwt = jwt.setExpirationTime(claims.exp);
    return jwt.sign(new TextEncoder().encode(SECRET));
  };
  const refusal = async (token: string) => {
    const error = await authenticate(`Bearer ${token}`).then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(AuthenticationError);
    const message = (error as Error).message;
    // The message names the problem, never the token or its claims.
    expect(message).not.toContain(token.split('.')[1]);
    expect(message).not.toMatch(/\d{6,}/);
    return message;
  };

  it('a token without exp is refused, saying so', async () => {
    expect(await refusal(await signed({ iat: now() }))).toBe('the token has no expiry (exp claim)');
  });

  it('a token issued beyond the clock skew in the future is refused; within the skew it passes', async () => {
    expect(await refusal(await signed({ iat: now() + 120, exp: now() + 600 }))).toMatch(/issued in the future/);
    await expect(authenticate(`Bearer ${await signed({ iat: now() + 30, exp: now() + 600 })}`)).resolves.toEqual({ id: 'user-c' });
  });

  it('a token living longer than the maximum lifetime is refused: exp - iat, or exp - now without iat', async () => {
    expect(await refusal(await signed({ iat: now(), exp: now() + 86_400 + 1 }))).toMatch(/lives longer than allowed/);
    expect(await refusal(await signed({ iat: now() - 3_600, exp: now() + 86_400 - 1_800 }))).toMatch(/lives longer than allowed/);
    expect(await refusal(await signed({ exp: now() + 86_400 + 120 }))).toMatch(/expires too far in the future/);
    await expect(authenticate(`Bearer ${await signed({ iat: now(), exp: now() + 86_400 })}`)).resolves.toEqual({ id: 'user-c' });
    await expect(authenticate(`Bearer ${await signed({ exp: now() + 3_600 })}`)).resolves.toEqual({ id: 'user-c' });
  });

  it('each refusal has its own message', async () => {
    const messages = [
      await refusal(await signed({ iat: now() })),
      await refusal(await signed({ iat: now() + 600, exp: now() + 900 })),
      await refusal(await signed({ iat: now(), exp: now() + 200_000 })),
      await refusal(await signed({ exp: now() + 200_000 })),
      await refusal(await signed({ iat: now() - 600, exp: now() - 300 })),
    ];
    expect(new Set(messages).size).toBe(messages.length);
  });

  it('the bounds are configurable: skew and lifetime', async () => {
    const strict = createAuthenticator({ jwtSecret: SECRET, jwksUrl: null, issuer: null, audience: null, clockSkewSeconds: 0, maxTokenLifetimeSeconds: 300 });
    await expect(strict(`Bearer ${await signed({ iat: now() + 5, exp: now() + 200 })}`)).rejects.toThrow(/issued in the future/);
    await expect(strict(`Bearer ${await signed({ iat: now(), exp: now() + 301 })}`)).rejects.toThrow(/lives longer/);
    await expect(strict(`Bearer ${await signed({ iat: now(), exp: now() + 300 })}`)).resolves.toEqual({ id: 'user-c' });
  });

  it('the demo token (12 h) passes the defaults', async () => {
    await expect(authenticate(`Bearer ${await signViewerToken(SECRET, 'demo')}`)).resolves.toEqual({ id: 'demo' });
  });
});

describe('JWKS', () => {
  let server: Server;
  let jwksUrl: string;
  let privateKey: CryptoKey;

  beforeAll(async () => {
    const pair = await generateKeyPair('RS256');
    privateKey = pair.privateKey;
    const jwk = { ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' };
    server = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ keys: [jwk] }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    jwksUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks.json`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('verifies RS256 tokens against the identity provider keys, and refuses HS256 ones', async () => {
    const authenticate = createAuthenticator({ jwtSecret: null, jwksUrl, issuer: null, audience: null });
    const token = await new SignJWT({}).setProtectedHeader({ alg: 'RS256', kid: 'k1' }).setSubject('user-9').setExpirationTime('5m').sign(privateKey);
    await expect(authenticate(`Bearer ${token}`)).resolves.toEqual({ id: 'user-9' });
    await expect(authenticate(`Bearer ${await hs256({ sub: 'u' })}`)).rejects.toBeInstanceOf(AuthenticationError);
  });
});
