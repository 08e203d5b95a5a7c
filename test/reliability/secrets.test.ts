/**
 * Secrets never reach a log or a client. The service runs as in production (Plaid credentials,
 * encryption key, JWT secret; the runtime builds its own logger) at debug level against a
 * simulator; every scenario runs (all operations, every Plaid error fixture, every simulator fault
 * on every mutation, bad tokens, an unexpected failure); then every log line, response body and
 * byte written to stdout/stderr is searched for the access tokens, public tokens, the Plaid secret,
 * the JWT secret, the encryption key and the bearer tokens sent: zero hits.
 */
import { randomBytes } from 'node:crypto';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { seedDemoViewer, signViewerToken } from '../../src/demo/seed.js';
import { createRuntime, type Runtime } from '../../src/runtime.js';
import type { LinkedFixtures } from '../../src/demo/link-fixtures.js';
import type { Simulator } from '../../src/simulator/server.js';
import type { FaultInput } from '../../src/simulator/state.js';
import { injectFault, startTestSimulator } from '../helpers/simulator.js';

const PLAID_SECRET = `plaid-secret-${randomBytes(12).toString('hex')}`;
const JWT_SECRET = `jwt-secret-${randomBytes(16).toString('hex')}`;
const ENCRYPTION_KEY = randomBytes(32).toString('base64');

let simulator: Simulator;
let runtime: Runtime;
let fixtures: LinkedFixtures;
let token: string;
const logLines: string[] = [];
const responses: string[] = [];
const stdio: string[] = [];
const secrets = new Map<string, string>();

// Every field of Plaid's error a client can select: all of it is Plaid's text.
const PLAID_TEXT = '... on PlaidError { errorMessage displayMessage errorCodeReason suggestedAction documentationUrl causes }';
const MUTATIONS: Record<string, (itemId: string) => string> = {
  refreshTransactions: (id) =>
    `mutation { refreshTransactions(itemId: "${id}") { __typename ... on BaseError { message } ${PLAID_TEXT} } }`,
  refreshIdentity: (id) => `mutation { refreshIdentity(itemId: "${id}") { __typename ... on BaseError { message } ${PLAID_TEXT} } }`,
  refreshCashflowReport: (id) =>
    `mutation { refreshCashflowReport(itemId: "${id}", days: 90) { __typename ... on BaseError { message } ${PLAID_TEXT} } }`,
  refreshUserFinancialData: () =>
    `mutation { refreshUserFinancialData { __typename ... on BaseError { message } ${PLAID_TEXT} ... on RefreshUserFinancialDataSuccess { results { itemId error { errorCode message ${PLAID_TEXT} } } } } }`,
};
const ENDPOINTS: Record<string, string> = {
  refreshTransactions: '/transactions/refresh',
  refreshIdentity: '/identity/refresh',
  refreshCashflowReport: '/cashflow_report/refresh',
  refreshUserFinancialData: '/user/financial_data/refresh',
};
const FAULTS: FaultInput['effect'][] = [
  { type: 'latency', ms: 1_300 },
  { type: 'connection_reset' },
  { type: 'html_502' },
  { type: 'malformed_json' },
  { type: 'wrong_shape' },
  // A Plaid (or a proxy) that echoes what it was sent, into the text clients are shown.
  {
    type: 'error',
    error_code: 'INTERNAL_SERVER_ERROR',
    error_message: `echo ${PLAID_SECRET} ${JWT_SECRET} ${ENCRYPTION_KEY}`,
    display_message: `echo ${PLAID_SECRET}`,
    error_code_reason: `echo ${ENCRYPTION_KEY}`,
  },
  { type: 'error', error_code: 'INTERNAL_SERVER_ERROR' },
  { type: 'error', error_code: 'PLANNED_MAINTENANCE' },
  // Last: a 429 closes the Item's window for a minute, so faults after it would never reach Plaid.
  { type: 'error', error_code: 'INSTITUTION_RATE_LIMIT' },
];

async function post(body: unknown, authorization: string | null = `Bearer ${token}`): Promise<string> {
  const response = await runtime.app.fetch('http://localhost/graphql', {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(authorization ? { authorization } : {}) },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await response.text();
  responses.push(text);
  return text;
}

beforeAll(async () => {
  // Anything written to the terminal counts as logged.
  for (const stream of [process.stdout, process.stderr]) {
    const write = stream.write.bind(stream);
    vi.spyOn(stream, 'write').mockImplementation(((chunk: string | Uint8Array, ...rest: never[]) => {
      stdio.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString());
      return write(chunk, ...rest);
    }) as typeof stream.write);
  }
  simulator = await startTestSimulator({ clientId: 'secrets-test-client', secret: PLAID_SECRET });
  const config = loadConfig({
    NODE_ENV: 'test',
    LOG_LEVEL: 'debug',
    PLAID_CLIENT_ID: 'secrets-test-client',
    PLAID_SECRET,
    PLAID_BASE_URL: simulator.url,
    PLAID_TIMEOUT_MS: '1000',
    PLAID_RETRY_BASE_DELAY_MS: '1',
    PLAID_RETRY_MAX_DELAY_MS: '5',
    AUTH_JWT_SECRET: JWT_SECRET,
    TOKEN_ENCRYPTION_KEY: ENCRYPTION_KEY,
    DATABASE_URL: '',
    REDIS_URL: '',
    QUOTA_TRANSACTIONS_PER_ITEM: '1000',
    QUOTA_IDENTITY_PER_ITEM: '1000',
    QUOTA_CASHFLOW_PER_ITEM: '1000',
    QUOTA_USER_PER_USER: '1000',
  });
  runtime = await createRuntime(config, { logDestination: { write: (line: string) => void logLines.push(line) } });
  fixtures = await seedDemoViewer({ plaid: runtime.plaid, vault: runtime.vault, link: runtime.services.link });
  token = await signViewerToken(JWT_SECRET, 'demo');
  secrets.set('Plaid secret', PLAID_SECRET).set('JWT secret', JWT_SECRET).set('encryption key', ENCRYPTION_KEY).set('viewer JWT', token);
  for (const [key, item] of Object.entries(fixtures.items)) secrets.set(`access token of ${key}`, item.accessToken);
}, 60_000);

afterAll(async () => {
  vi.restoreAllMocks();
  await runtime.close();
  await simulator.close();
});

describe('secrets in logs and responses', () => {
  it('runs every scenario at debug level', { timeout: 120_000 }, async () => {
    const healthy = fixtures.items.healthy.itemId;
    await post({ query: '{ viewer { id hasPlaidUser items { id institutionName lastRefreshes { product requestId } } } }' });
    // Every mutation on every fixture Item (each fixture answers with its own Plaid error or success).
    for (const item of Object.values(fixtures.items)) {
      for (const [name, query] of Object.entries(MUTATIONS))
        if (name !== 'refreshUserFinancialData') await post({ query: query(item.itemId) });
    }
    await post({ query: MUTATIONS.refreshUserFinancialData?.('') });
    // Every simulator fault on every mutation.
    for (const effect of FAULTS) {
      for (const [name, query] of Object.entries(MUTATIONS)) {
        simulator.state.clearFaults();
        await injectFault(simulator, { endpoint: ENDPOINTS[name] ?? '', effect });
        await post({ query: query(healthy) });
      }
    }
    simulator.state.clearFaults();
    // Linking: a real public token, one used twice, and secrets pasted where they do not belong.
    const { publicToken } = await runtime.plaid.createSandboxPublicToken({
      institutionId: 'ins_109508',
      initialProducts: ['transactions'],
    });
    secrets.set('public token', publicToken);
    const link =
      'mutation($t: String!) { linkItem(publicToken: $t) { __typename ... on LinkItemSuccess { item { id } } ... on BaseError { message } } }';
    const linked = JSON.parse(await post({ query: link, variables: { t: publicToken } })) as {
      data: { linkItem: { item?: { id: string } } };
    };
    const newItemId = linked.data.linkItem.item?.id ?? '';
    secrets.set('access token of the linked Item', (await runtime.vault.getAccessToken('demo', newItemId)) ?? 'missing');
    await post({ query: link, variables: { t: publicToken } });
    await post({ query: link, variables: { t: fixtures.items.healthy.accessToken } });
    await post({ query: link, variables: { t: `public-sandbox-${'0'.repeat(36)}` } });
    // Tokens that fail: forged, expired, an access token sent as the bearer, a token in the query text.
    const forged = await new SignJWT({})
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('demo')
      .setExpirationTime('1h')
      .sign(new TextEncoder().encode('y'.repeat(40)));
    const past = Math.floor(Date.now() / 1000) - 3_600;
    const expired = await new SignJWT({})
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('demo')
      .setIssuedAt(past)
      .setExpirationTime(past + 60)
      .sign(new TextEncoder().encode(JWT_SECRET));
    secrets.set('forged JWT', forged).set('expired JWT', expired);
    await post({ query: MUTATIONS.refreshTransactions?.(healthy) }, `Bearer ${forged}`);
    await post({ query: MUTATIONS.refreshTransactions?.(healthy) }, `Bearer ${expired}`);
    await post({ query: MUTATIONS.refreshTransactions?.(healthy) }, `Bearer ${fixtures.items.healthy.accessToken}`);
    await post({ query: `mutation { refreshTransactions(itemId: "${fixtures.items.healthy.accessToken}") { __typename } }` });
    await post({ query: `{ viewer { id } } # ${JWT_SECRET}` }, `Bearer ${JWT_SECRET}`);
    await post('{"query": "not json', `Bearer ${token}`);
    // An unexpected failure (the vault is gone): logged with its stack at error level.
    await runtime.vault.close();
    await post({ query: MUTATIONS.refreshIdentity?.(healthy) });
    await post({ query: MUTATIONS.refreshTransactions?.(healthy) }, `Bearer ${JWT_SECRET}`);

    const parsed = logLines.map((line) => JSON.parse(line) as { level: string; msg: string });
    // The scan below means something only if the logs are full of detail.
    expect(parsed.filter((l) => l.level === 'debug' && l.msg === 'plaid attempt').length).toBeGreaterThan(50);
    expect(parsed.filter((l) => l.msg === 'plaid call retried').length).toBeGreaterThan(0);
    expect(parsed.filter((l) => l.msg === 'unexpected error').length).toBeGreaterThan(0);
    expect(parsed.filter((l) => l.msg === 'graphql request').length).toBe(responses.length);
    expect(responses.some((r) => r.includes('PlaidUnavailableError'))).toBe(true);
  });

  it('finds none of the secrets anywhere', () => {
    const places = { logs: logLines.join('\n'), responses: responses.join('\n'), 'stdout/stderr': stdio.join('') };
    const hits: string[] = [];
    for (const [secretName, secret] of secrets) {
      for (const [placeName, text] of Object.entries(places)) if (text.includes(secret)) hits.push(`${secretName} in ${placeName}`);
    }
    expect(secrets.size).toBeGreaterThan(12);
    expect(hits).toEqual([]);
  });
});
