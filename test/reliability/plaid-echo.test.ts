/**
 * A Plaid that echoes the request (a proxy, a bug) puts credentials into its error text, and that
 * text is what GraphQL clients see of a Plaid error. Through every operation that calls Plaid, the
 * embedded simulator answers with such an echo: the response must hold neither the access token,
 * nor the Plaid secret (the simulator's `sim_secret`, 10 characters), nor the JWT secret, while
 * the error code, type and a readable message remain.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Runtime } from '../../src/runtime.js';
import { DEFAULT_SIMULATOR_CREDENTIALS } from '../../src/simulator/server.js';
import { REDACTED } from '../../src/util/scrub.js';
import { TEST_JWT_SECRET, startTestService, tokenFor } from '../helpers/service.js';
import { injectFault } from '../helpers/simulator.js';

let runtime: Runtime;
let token: string;
let healthy: { itemId: string; accessToken: string };

const PLAID_ERROR = `__typename
  ... on BaseError { message }
  ... on PlaidError { errorType errorCode errorCodeReason errorMessage displayMessage suggestedAction documentationUrl causes }`;

const OPERATIONS: { name: string; endpoint: string; query: (itemId: string) => string }[] = [
  {
    name: 'refreshTransactions',
    endpoint: '/transactions/refresh',
    query: (id) => `mutation { refreshTransactions(itemId: "${id}") { ${PLAID_ERROR} } }`,
  },
  {
    name: 'refreshIdentity',
    endpoint: '/identity/refresh',
    query: (id) => `mutation { refreshIdentity(itemId: "${id}") { ${PLAID_ERROR} } }`,
  },
  {
    name: 'refreshCashflowReport',
    endpoint: '/cashflow_report/refresh',
    query: (id) => `mutation { refreshCashflowReport(itemId: "${id}") { ${PLAID_ERROR} } }`,
  },
  {
    name: 'refreshUserFinancialData',
    endpoint: '/user/financial_data/refresh',
    query: () => `mutation { refreshUserFinancialData { ${PLAID_ERROR} } }`,
  },
  {
    name: 'linkItem',
    endpoint: '/item/public_token/exchange',
    query: () => `mutation { linkItem(publicToken: "public-sandbox-${'0'.repeat(36)}") { ${PLAID_ERROR} } }`,
  },
];

beforeAll(async () => {
  // Retries (INTERNAL_SERVER_ERROR is retried) sleep a millisecond, not half a second.
  ({ runtime } = await startTestService({ PLAID_RETRY_BASE_DELAY_MS: '1', PLAID_RETRY_MAX_DELAY_MS: '5' }));
  token = await tokenFor('demo');
  if (!runtime.demo) throw new Error('embedded mode expected');
  healthy = runtime.demo.fixtures.items.healthy;
});
afterAll(() => runtime.close());

async function post(query: string): Promise<string> {
  const response = await runtime.app.fetch('http://localhost/graphql', {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query }),
  });
  return response.text();
}

describe("Plaid's error text in GraphQL responses", () => {
  it.each(OPERATIONS)(
    '$name: an echoed access token and secrets are scrubbed; code, type and message remain',
    async ({ name, endpoint, query }) => {
      // Short for a secret, yet above the scrubber's minimum for exact values: it must be caught.
      expect(DEFAULT_SIMULATOR_CREDENTIALS.secret).toHaveLength(10);
      const echo = `echo ${healthy.accessToken} and the secret ${DEFAULT_SIMULATOR_CREDENTIALS.secret} and ${TEST_JWT_SECRET}`;
      runtime.simulator?.state.clearFaults();
      await injectFault(runtime.simulator ?? { url: '' }, {
        endpoint,
        effect: { type: 'error', error_code: 'INTERNAL_SERVER_ERROR', error_message: echo, display_message: echo, error_code_reason: echo },
      });
      const text = await post(query(healthy.itemId));
      runtime.simulator?.state.clearFaults();

      expect(text).not.toContain(healthy.accessToken);
      expect(text).not.toContain(DEFAULT_SIMULATOR_CREDENTIALS.secret);
      expect(text).not.toContain(TEST_JWT_SECRET);
      const body = JSON.parse(text) as { data: Record<string, Record<string, unknown>> };
      const scrubbed = `echo ${REDACTED} and the secret ${REDACTED} and ${REDACTED}`;
      expect(body.data[name]).toMatchObject({
        __typename: 'PlaidApiError',
        errorType: 'API_ERROR',
        errorCode: 'INTERNAL_SERVER_ERROR',
        errorMessage: scrubbed,
        displayMessage: scrubbed,
        errorCodeReason: scrubbed,
        message: `API_ERROR INTERNAL_SERVER_ERROR: ${scrubbed}`,
      });
    },
  );
});
