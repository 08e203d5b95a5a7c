/**
 * An identity provider (JWKS) outage over HTTP: a client gets a retryable 503
 * IDENTITY_PROVIDER_UNAVAILABLE, never the 401 that would log its user out; tokens of cached keys
 * keep working; /readiness names the provider while it is down.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../src/app.js';
import { createAuthenticator } from '../../src/auth/authenticate.js';
import type { Services } from '../../src/context.js';
import type { Runtime } from '../../src/runtime.js';
import { refusedUrl, startJwksServer, type JwksServer } from '../helpers/jwks-server.js';
import { startTestService } from '../helpers/service.js';

interface Answer {
  status: number;
  retryAfter: string | null;
  body: { data?: unknown; errors?: { message: string; extensions?: Record<string, unknown> }[] };
}

const ask = async (app: { fetch: (url: string, init: RequestInit) => Promise<Response> | Response }, token: string): Promise<Answer> => {
  const response = await app.fetch('http://localhost/graphql', {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query: '{ viewer { id } }' }),
  });
  return { status: response.status, retryAfter: response.headers.get('retry-after'), body: (await response.json()) as Answer['body'] };
};

const expectOutage = (answer: Answer) => {
  expect(answer.status).toBe(503);
  expect(answer.body.errors).toHaveLength(1);
  expect(answer.body.errors?.[0]).toMatchObject({
    message: expect.stringMatching(/identity provider.*retry later/) as unknown,
    extensions: { code: 'IDENTITY_PROVIDER_UNAVAILABLE', retryAfterSeconds: 5 },
  });
  expect(answer.retryAfter).toBe('5');
};

describe('createApp with a JWKS authenticator', () => {
  let idp: JwksServer;
  beforeAll(async () => {
    idp = await startJwksServer();
  });
  afterEach(() => {
    idp.mode = 'up';
  });
  afterAll(() => idp.close());

  // The context fails before any resolver, so no service is reached.
  const services = {} as Services;
  const appFor = (jwksUrl: string) =>
    createApp({
      services,
      authenticate: createAuthenticator({
        jwtSecret: null,
        jwksUrl,
        issuer: null,
        audience: null,
        jwksTimeoutMs: 300,
        jwks: { cooldownMs: 0 },
      }),
    });

  it('JWKS refusing connections -> 503 IDENTITY_PROVIDER_UNAVAILABLE with Retry-After', async () => {
    expectOutage(await ask(appFor(await refusedUrl()), await idp.sign({ sub: 'u' })));
  });

  it('JWKS that hangs -> 503 within the JWKS timeout (300 ms here), not after 5 s', async () => {
    idp.mode = 'hang';
    const started = performance.now();
    const answer = await ask(appFor(idp.url), await idp.sign({ sub: 'u' }));
    expectOutage(answer);
    expect(performance.now() - started).toBeLessThan(1_500);
  });

  it('while the JWKS is down: a cached key still signs in (200), an unknown kid gets the 503, a bad token stays 401', async () => {
    const app = appFor(idp.url);
    expect((await ask(app, await idp.sign({ sub: 'viewer-1' }))).status).toBe(200);
    idp.mode = 'reset';
    const cached = await ask(app, await idp.sign({ sub: 'viewer-2' }));
    expect(cached.status).toBe(200);
    expect(cached.body.data).toMatchObject({ viewer: { id: 'viewer-2' } });
    expectOutage(await ask(app, await idp.sign({ sub: 'viewer-3' }, 'k2')));
    const forged = `${(await idp.sign({ sub: 'viewer-4' })).slice(0, -4)}AAAA`;
    const refused = await ask(app, forged);
    expect(refused.status).toBe(401);
    expect(refused.body.errors?.[0]?.extensions).toMatchObject({ code: 'UNAUTHENTICATED' });
  });
});

describe('the service configured with AUTH_JWKS_URL', () => {
  let idp: JwksServer;
  let runtime: Runtime;
  beforeAll(async () => {
    idp = await startJwksServer();
    // No secret: the JWKS alone authenticates (and embedded mode makes no demo token).
    ({ runtime } = await startTestService({ AUTH_JWT_SECRET: '', AUTH_JWKS_URL: idp.url, AUTH_JWKS_TIMEOUT_MS: '300' }));
  });
  afterAll(async () => {
    await runtime.close();
    await idp.close();
  });

  // In order: the first runs before any key set was fetched, so its token needs a fetch.
  it('AUTH_JWKS_TIMEOUT_MS bounds a hanging JWKS', async () => {
    idp.mode = 'hang';
    try {
      const started = performance.now();
      expectOutage(await ask(runtime.app, await idp.sign({ sub: 'viewer-h' })));
      expect(performance.now() - started).toBeLessThan(1_500);
    } finally {
      idp.mode = 'up';
    }
  });

  it('/readiness is 503 naming the identity provider while it is down, 200 once it is back; requests follow', async () => {
    idp.mode = 'reset';
    const down = await runtime.app.fetch('http://localhost/readiness');
    expect(down.status).toBe(503);
    expect(await down.text()).toBe('identity provider unreachable');
    const token = await idp.sign({ sub: 'viewer-r' });
    expectOutage(await ask(runtime.app, token));

    idp.mode = 'up';
    expect((await runtime.app.fetch('http://localhost/readiness')).status).toBe(200);
    const answer = await ask(runtime.app, token);
    expect(answer.status).toBe(200);
    expect(answer.body.data).toMatchObject({ viewer: { id: 'viewer-r' } });
  });
});
