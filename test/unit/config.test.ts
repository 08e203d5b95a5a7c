import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';

const KEY = Buffer.alloc(32, 7).toString('base64');
const OLD_KEY = Buffer.alloc(32, 8).toString('base64');
const OLDER_KEY = Buffer.alloc(32, 9).toString('hex');
const SECRET = 's'.repeat(40);

describe('loadConfig', () => {
  it('no Plaid credentials -> embedded mode on loopback with GraphiQL', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({ embedded: true, production: false, host: '127.0.0.1', port: 4000, graphiql: true });
    expect(config.plaid.timeoutMs).toBe(90_000);
    expect(config.plaid.baseUrl).toBe('https://sandbox.plaid.com');
  });

  it('Plaid Link settings: defaults, and the webhook URL, countries and limits as given', () => {
    expect(loadConfig({}).plaid).toMatchObject({
      webhooks: { url: null },
      link: { clientName: 'plaid-refresh-graphql', language: 'en', countryCodes: ['US'], redirectUri: null },
    });
    const config = loadConfig({
      PLAID_WEBHOOK_URL: 'https://api.example.com/plaid/webhooks',
      PLAID_LINK_COUNTRY_CODES: 'us, CA',
      PLAID_LINK_LANGUAGE: 'fr',
      LINK_TOKEN_PER_VIEWER_PER_HOUR: '5',
    });
    expect(config.plaid).toMatchObject({
      webhooks: { url: 'https://api.example.com/plaid/webhooks' },
      link: { language: 'fr', countryCodes: ['US', 'CA'] },
    });
    expect(config.quotas.linkToken).toEqual({ perViewerPerHour: 5, perClientPerMinute: 300 });
  });

  it('Plaid credentials and production hosts', () => {
    const config = loadConfig({ PLAID_CLIENT_ID: 'id', PLAID_SECRET: 'x', PLAID_ENV: 'production', AUTH_JWT_SECRET: SECRET });
    expect(config).toMatchObject({ embedded: false, host: '0.0.0.0' });
    expect(config.plaid.baseUrl).toBe('https://production.plaid.com');
  });

  it.each([
    [
      'production without Plaid credentials',
      { NODE_ENV: 'production', TOKEN_ENCRYPTION_KEY: KEY, AUTH_JWT_SECRET: SECRET },
      /PLAID_CLIENT_ID/,
    ],
    [
      'production without TOKEN_ENCRYPTION_KEY',
      { NODE_ENV: 'production', PLAID_CLIENT_ID: 'id', PLAID_SECRET: 'x', AUTH_JWT_SECRET: SECRET },
      /TOKEN_ENCRYPTION_KEY/,
    ],
    [
      'production with an in-memory vault',
      { NODE_ENV: 'production', PLAID_CLIENT_ID: 'id', PLAID_SECRET: 'x', AUTH_JWT_SECRET: SECRET, TOKEN_ENCRYPTION_KEY: KEY },
      /DATABASE_URL \(or VAULT_DATA_DIR\) is required in production/,
    ],
    ['Plaid credentials without auth', { PLAID_CLIENT_ID: 'id', PLAID_SECRET: 'x' }, /AUTH_JWT_SECRET or AUTH_JWKS_URL/],
    ['a short JWT secret', { AUTH_JWT_SECRET: 'short' }, /at least 32/],
    ['only half the credentials', { PLAID_CLIENT_ID: 'id' }, /set together/],
    ['a bad timeout', { PLAID_TIMEOUT_MS: 'soon' }, /PLAID_TIMEOUT_MS/],
    ['an unknown environment', { PLAID_ENV: 'development' }, /PLAID_ENV/],
    ['a bad base URL', { PLAID_BASE_URL: 'not a url' }, /PLAID_BASE_URL/],
    ['a webhook URL that is not http(s)', { PLAID_WEBHOOK_URL: 'ftp://hooks.example.com/' }, /PLAID_WEBHOOK_URL/],
    ['a Link name longer than Link shows', { PLAID_LINK_CLIENT_NAME: 'x'.repeat(31) }, /PLAID_LINK_CLIENT_NAME/],
    ['a language Link does not speak', { PLAID_LINK_LANGUAGE: 'tlh' }, /PLAID_LINK_LANGUAGE/],
    ['a country Link does not serve', { PLAID_LINK_COUNTRY_CODES: 'US,XX' }, /PLAID_LINK_COUNTRY_CODES/],
    ['a JWKS timeout of 0', { AUTH_JWKS_TIMEOUT_MS: '0' }, /AUTH_JWKS_TIMEOUT_MS/],
    ['a JWKS timeout that is not a number', { AUTH_JWKS_TIMEOUT_MS: 'soon' }, /AUTH_JWKS_TIMEOUT_MS/],
    ['a negative clock skew', { AUTH_CLOCK_SKEW_SECONDS: '-1' }, /AUTH_CLOCK_SKEW_SECONDS/],
    ['a token lifetime under a minute', { AUTH_MAX_TOKEN_LIFETIME_SECONDS: '10' }, /AUTH_MAX_TOKEN_LIFETIME_SECONDS/],
    ['a token cache under 64 KiB', { AUTH_TOKEN_CACHE_MAX_BYTES: '1000' }, /AUTH_TOKEN_CACHE_MAX_BYTES/],
    ['a DATABASE_URL that is not a URL', { DATABASE_URL: 'not a url' }, /DATABASE_URL: must be a postgres:\/\/ or postgresql:\/\/ URL/],
    ['a DATABASE_URL that does not parse', { DATABASE_URL: 'postgres://::nonsense' }, /DATABASE_URL: must be a postgres:\/\//],
    ['a DATABASE_URL of another database', { DATABASE_URL: 'mysql://u:p@db/x' }, /DATABASE_URL: must be a postgres:\/\//],
    [
      'a malformed TOKEN_ENCRYPTION_KEY',
      { TOKEN_ENCRYPTION_KEY: 'hunter2-hunter2' },
      /TOKEN_ENCRYPTION_KEY: encryption key must be 32 bytes/,
    ],
    [
      'a malformed previous key',
      { TOKEN_ENCRYPTION_KEY: KEY, TOKEN_ENCRYPTION_PREVIOUS_KEYS: `${OLD_KEY},nope-nope-nope` },
      /TOKEN_ENCRYPTION_PREVIOUS_KEYS\.1: encryption key must be 32 bytes/,
    ],
    [
      'previous keys without a current one',
      { TOKEN_ENCRYPTION_PREVIOUS_KEYS: OLD_KEY },
      /TOKEN_ENCRYPTION_PREVIOUS_KEYS needs TOKEN_ENCRYPTION_KEY/,
    ],
  ])('refuses %s with a message naming it', (_label, env, message) => {
    expect(() => loadConfig(env)).toThrow(ConfigError);
    expect(() => loadConfig(env)).toThrow(message);
  });

  it('auth defaults: 2 s JWKS timeout, 60 s clock skew, 24 h token lifetime, 16 MiB token cache; each can be set', () => {
    expect(loadConfig({}).auth).toMatchObject({
      jwksTimeoutMs: 2_000,
      clockSkewSeconds: 60,
      maxTokenLifetimeSeconds: 86_400,
      tokenCacheMaxBytes: 16_777_216,
    });
    const set = loadConfig({
      AUTH_JWKS_TIMEOUT_MS: '500',
      AUTH_CLOCK_SKEW_SECONDS: '5',
      AUTH_MAX_TOKEN_LIFETIME_SECONDS: '3600',
      AUTH_TOKEN_CACHE_MAX_BYTES: '1048576',
    });
    expect(set.auth).toMatchObject({
      jwksTimeoutMs: 500,
      clockSkewSeconds: 5,
      maxTokenLifetimeSeconds: 3_600,
      tokenCacheMaxBytes: 1_048_576,
    });
  });

  it('never quotes a rejected DATABASE_URL or key, and lists each problem separately', () => {
    let error: unknown;
    try {
      loadConfig({ DATABASE_URL: 'postgres://u:s3cret-password@::nonsense/db', TOKEN_ENCRYPTION_KEY: 'my-secret-passphrase' });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const { message, problems } = error as ConfigError;
    expect(problems).toEqual([expect.stringMatching(/^TOKEN_ENCRYPTION_KEY: /), expect.stringMatching(/^DATABASE_URL: /)]);
    expect(message).not.toContain('s3cret-password');
    expect(message).not.toContain('my-secret-passphrase');
  });

  it('accepts postgres:// and postgresql:// URLs', () => {
    for (const url of [
      'postgres://postgres@127.0.0.1:5432/test',
      'postgresql://u:p@db.internal/vault?sslmode=require',
      'postgres:///vault?host=/run/postgresql',
    ]) {
      expect(loadConfig({ DATABASE_URL: url, TOKEN_ENCRYPTION_KEY: KEY }).vault.databaseUrl).toBe(url);
    }
  });

  it('reads the previous keys as a list', () => {
    const config = loadConfig({ TOKEN_ENCRYPTION_KEY: KEY, TOKEN_ENCRYPTION_PREVIOUS_KEYS: ` ${OLD_KEY} , ${OLDER_KEY},` });
    expect(config.vault.previousEncryptionKeys).toEqual([OLD_KEY, OLDER_KEY]);
    expect(loadConfig({}).vault.previousEncryptionKeys).toEqual([]);
  });

  it('production defaults: GraphiQL off', () => {
    const config = loadConfig({
      NODE_ENV: 'production',
      PLAID_CLIENT_ID: 'id',
      PLAID_SECRET: 'x',
      AUTH_JWT_SECRET: SECRET,
      TOKEN_ENCRYPTION_KEY: KEY,
      DATABASE_URL: 'postgres://db/x',
    });
    expect(config.graphiql).toBe(false);
  });
});
