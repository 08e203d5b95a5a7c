import { SignJWT, decodeJwt } from 'jose';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { AuthenticationError, IdentityProviderUnavailableError, createAuthenticator } from '../../src/auth/authenticate.js';
import { signViewerToken } from '../../src/demo/seed.js';
import { refusedUrl, startJwksServer, type JwksServer } from '../helpers/jwks-server.js';

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

  it('the viewer is the token subject, and its session ends at the token expiry', async () => {
    const token = await hs256({ sub: 'user-1', iss: 'https://idp.example', aud: 'refresh-api' });
    const { exp } = decodeJwt(token);
    await expect(authenticate(`Bearer ${token}`)).resolves.toEqual({ id: 'user-1', expiresAt: exp! * 1_000 });
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

  it.each([
    ['a NUL byte', 'user\u0000x'],
    ['a newline', 'user\nx'],
    ['300 characters', 'u'.repeat(300)],
  ])('a subject with %s is refused before it becomes a viewer id in SQL or Redis', async (_label, sub) => {
    const token = await hs256({ sub, iss: 'https://idp.example', aud: 'refresh-api' });
    await expect(authenticate(`Bearer ${token}`)).rejects.toThrow(/subject is not a valid id/);
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
    [
      'alg none',
      () => Promise.resolve(`${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from('{"sub":"u"}').toString('base64url')}.`),
    ],
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
    await expect(authenticate(`Bearer ${await signed({ iat: now() + 30, exp: now() + 600 })}`)).resolves.toMatchObject({ id: 'user-c' });
  });

  it('a token living longer than the maximum lifetime is refused: exp - iat, or exp - now without iat', async () => {
    expect(await refusal(await signed({ iat: now(), exp: now() + 86_400 + 1 }))).toMatch(/lives longer than allowed/);
    expect(await refusal(await signed({ iat: now() - 3_600, exp: now() + 86_400 - 1_800 }))).toMatch(/lives longer than allowed/);
    expect(await refusal(await signed({ exp: now() + 86_400 + 120 }))).toMatch(/expires too far in the future/);
    await expect(authenticate(`Bearer ${await signed({ iat: now(), exp: now() + 86_400 })}`)).resolves.toMatchObject({ id: 'user-c' });
    await expect(authenticate(`Bearer ${await signed({ exp: now() + 3_600 })}`)).resolves.toMatchObject({ id: 'user-c' });
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
    const strict = createAuthenticator({
      jwtSecret: SECRET,
      jwksUrl: null,
      issuer: null,
      audience: null,
      clockSkewSeconds: 0,
      maxTokenLifetimeSeconds: 300,
    });
    await expect(strict(`Bearer ${await signed({ iat: now() + 5, exp: now() + 200 })}`)).rejects.toThrow(/issued in the future/);
    await expect(strict(`Bearer ${await signed({ iat: now(), exp: now() + 301 })}`)).rejects.toThrow(/lives longer/);
    await expect(strict(`Bearer ${await signed({ iat: now(), exp: now() + 300 })}`)).resolves.toMatchObject({ id: 'user-c' });
  });

  it('the demo token (12 h) passes the defaults', async () => {
    await expect(authenticate(`Bearer ${await signViewerToken(SECRET, 'demo')}`)).resolves.toMatchObject({ id: 'demo' });
  });
});

describe('JWKS', () => {
  let idp: JwksServer;
  beforeAll(async () => {
    idp = await startJwksServer();
  });
  afterEach(() => {
    idp.mode = 'up';
  });
  afterAll(() => idp.close());

  /** Short timeout and no cooldown, so an unknown kid always asks the provider again. */
  const jwksAuthenticator = (url = idp.url, jwks: { cacheMaxAgeMs?: number; cooldownMs?: number; probeReuseMs?: number } = {}) =>
    createAuthenticator({
      jwtSecret: null,
      jwksUrl: url,
      issuer: null,
      audience: null,
      jwksTimeoutMs: 300,
      jwks: { cooldownMs: 0, ...jwks },
    });
  /** What the promise rejects with; null when it resolves. */
  const failure = (promise: Promise<unknown>) =>
    promise.then(
      () => null,
      (error: unknown) => error,
    );

  it('verifies RS256 tokens against the identity provider keys, and refuses HS256 ones', async () => {
    const authenticate = createAuthenticator({ jwtSecret: null, jwksUrl: idp.url, issuer: null, audience: null });
    await expect(authenticate(`Bearer ${await idp.sign({ sub: 'user-9' })}`)).resolves.toMatchObject({ id: 'user-9' });
    await expect(authenticate(`Bearer ${await hs256({ sub: 'u' })}`)).rejects.toBeInstanceOf(AuthenticationError);
  });

  it('an unknown kid while the provider answers is a bad token (401), not an outage', async () => {
    const authenticate = jwksAuthenticator();
    const error = await failure(authenticate(`Bearer ${await idp.sign({ sub: 'u' }, 'k-unknown')}`));
    expect(error).toBeInstanceOf(AuthenticationError);
  });

  it.each([
    ['refuses connections', 'refused'],
    ['resets the connection', 'reset'],
    ['answers HTTP 500', 'http-500'],
    ['answers HTML instead of a key set', 'html'],
  ] as const)('a provider that %s -> IdentityProviderUnavailableError, not AuthenticationError', async (_label, fault) => {
    const url = fault === 'refused' ? await refusedUrl() : idp.url;
    if (fault !== 'refused') idp.mode = fault;
    const authenticate = jwksAuthenticator(url);
    const error = await failure(authenticate(`Bearer ${await idp.sign({ sub: 'u' })}`));
    expect(error).toBeInstanceOf(IdentityProviderUnavailableError);
    expect(error).not.toBeInstanceOf(AuthenticationError);
    expect((error as IdentityProviderUnavailableError).message).toMatch(/retry later/);
  });

  it("a provider that hangs -> IdentityProviderUnavailableError within the JWKS timeout, not jose's 5 s", async () => {
    idp.mode = 'hang';
    const authenticate = jwksAuthenticator();
    const started = performance.now();
    const error = await failure(authenticate(`Bearer ${await idp.sign({ sub: 'u' })}`));
    const elapsed = performance.now() - started;
    expect(error).toBeInstanceOf(IdentityProviderUnavailableError);
    expect(elapsed).toBeGreaterThanOrEqual(250);
    expect(elapsed).toBeLessThan(1_500);
  });

  it('while the provider is down, tokens of a cached key verify; an unknown kid gets the outage, and the cached key still works after that failed refetch', async () => {
    const authenticate = jwksAuthenticator();
    await expect(authenticate(`Bearer ${await idp.sign({ sub: 'before' })}`)).resolves.toMatchObject({ id: 'before' });
    const fetched = idp.requests;
    idp.mode = 'reset';
    // New tokens (not in the verified-token cache), signed by the cached key k1.
    await expect(authenticate(`Bearer ${await idp.sign({ sub: 'during-1' })}`)).resolves.toMatchObject({ id: 'during-1' });
    expect(idp.requests).toBe(fetched);
    const error = await failure(authenticate(`Bearer ${await idp.sign({ sub: 'rotated' }, 'k2')}`));
    expect(error).toBeInstanceOf(IdentityProviderUnavailableError);
    expect(idp.requests).toBe(fetched + 1);
    await expect(authenticate(`Bearer ${await idp.sign({ sub: 'during-2' })}`)).resolves.toMatchObject({ id: 'during-2' });
  });

  it('cached keys are trusted for the cache lifetime only: past it, with the provider down, the outage shows', async () => {
    const authenticate = jwksAuthenticator(idp.url, { cacheMaxAgeMs: 50 });
    await expect(authenticate(`Bearer ${await idp.sign({ sub: 'a' })}`)).resolves.toMatchObject({ id: 'a' });
    idp.mode = 'reset';
    await new Promise((resolve) => setTimeout(resolve, 80));
    const error = await failure(authenticate(`Bearer ${await idp.sign({ sub: 'b' })}`));
    expect(error).toBeInstanceOf(IdentityProviderUnavailableError);
  });

  it('an outage is not remembered as a verdict: the same token verifies once the provider is back', async () => {
    const authenticate = jwksAuthenticator();
    const token = await idp.sign({ sub: 'back' });
    idp.mode = 'http-500';
    await expect(authenticate(`Bearer ${token}`)).rejects.toBeInstanceOf(IdentityProviderUnavailableError);
    idp.mode = 'up';
    await expect(authenticate(`Bearer ${token}`)).resolves.toMatchObject({ id: 'back' });
  });

  it('probe(): rejects while the provider is down, resolves when it is back; status() says which', async () => {
    const authenticate = jwksAuthenticator(idp.url, { probeReuseMs: 0 });
    const provider = authenticate.identityProvider;
    if (!provider) throw new Error('a JWKS authenticator has an identity provider');
    expect(provider.status()).toMatchObject({ reachable: false, lastFetchedAt: null, lastFailure: null });
    await expect(provider.probe()).resolves.toBeUndefined();
    expect(provider.status()).toMatchObject({ reachable: true, lastFailure: null });
    idp.mode = 'reset';
    await expect(provider.probe()).rejects.toBeInstanceOf(IdentityProviderUnavailableError);
    expect(provider.status()).toMatchObject({ reachable: false, lastFailure: { reason: expect.stringMatching(/TypeError/) as unknown } });
    idp.mode = 'up';
    await expect(provider.probe()).resolves.toBeUndefined();
    expect(provider.status()).toMatchObject({ reachable: true, lastFailure: null });
  });

  it('probe() reuses a recent successful fetch instead of fetching on every probe', async () => {
    const provider = jwksAuthenticator(idp.url, { probeReuseMs: 60_000 }).identityProvider;
    if (!provider) throw new Error('a JWKS authenticator has an identity provider');
    const before = idp.requests;
    await provider.probe();
    await provider.probe();
    await provider.probe();
    expect(idp.requests).toBe(before + 1);
  });

  it('a failed fetch by a request makes the next probe look again, even within the reuse window', async () => {
    const authenticate = jwksAuthenticator(idp.url, { probeReuseMs: 60_000 });
    const provider = authenticate.identityProvider;
    if (!provider) throw new Error('a JWKS authenticator has an identity provider');
    await provider.probe();
    idp.mode = 'reset';
    await expect(authenticate(`Bearer ${await idp.sign({ sub: 'u' }, 'k2')}`)).rejects.toBeInstanceOf(IdentityProviderUnavailableError);
    await expect(provider.probe()).rejects.toBeInstanceOf(IdentityProviderUnavailableError);
  });

  it('an HS256 authenticator has no identity provider to probe', () => {
    expect(createAuthenticator({ jwtSecret: SECRET, jwksUrl: null, issuer: null, audience: null }).identityProvider).toBeNull();
  });
});
