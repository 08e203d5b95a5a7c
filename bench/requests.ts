/** The requests the benchmarks send: the frontends' own refreshTransactions document, and Plaid's wire call. */
import { print } from 'graphql';
import { RefreshTransactionsDocument } from '../operations/generated/graphql.js';
import { USER_AGENT } from '../src/plaid/client.js';
import { PLAID_VERSION } from '../src/plaid/schemas.js';
import type { BenchItem, ServiceReady } from './protocol.js';

export const REFRESH_TRANSACTIONS = print(RefreshTransactionsDocument);

export function graphqlHeaders(token: string): Record<string, string> {
  return { 'content-type': 'application/json', authorization: `Bearer ${token}` };
}

export function refreshBody(itemId: string): string {
  return JSON.stringify({ query: REFRESH_TRANSACTIONS, variables: { itemId }, operationName: 'RefreshTransactions' });
}

export const isRefreshSuccess = (body: string) => body.includes('"__typename":"RefreshTransactionsSuccess"');

/** The service's way in: POST /graphql, one Item per request in turn. */
export function serviceTarget(ready: ServiceReady) {
  return {
    url: `${ready.url}/graphql`,
    headers: graphqlHeaders(ready.token),
    bodies: ready.items.map((item) => refreshBody(item.id)),
    isSuccess: isRefreshSuccess,
  };
}

/** The ceiling: the same /transactions/refresh the service's Plaid client sends, straight to the simulator. */
export function directTarget(ready: ServiceReady, items: readonly BenchItem[] = ready.items) {
  return {
    url: `${ready.simulatorUrl}/transactions/refresh`,
    headers: {
      'content-type': 'application/json',
      'plaid-version': PLAID_VERSION,
      'plaid-client-id': ready.plaid.clientId,
      'plaid-secret': ready.plaid.secret,
      'user-agent': USER_AGENT,
    },
    bodies: items.map((item) => JSON.stringify({ access_token: item.accessToken })),
    isSuccess: (body: string) => body.includes('"request_id"') && !body.includes('"error_code"'),
  };
}

/** POST /graphql once, with the JSON answer. */
export async function graphql<T = Record<string, unknown>>(
  url: string,
  token: string,
  query: string,
  variables: Record<string, unknown> = {},
): Promise<{ data?: T; errors?: { message: string }[] }> {
  const response = await fetch(`${url}/graphql`, {
    method: 'POST',
    headers: graphqlHeaders(token),
    body: JSON.stringify({ query, variables }),
  });
  return (await response.json()) as { data?: T; errors?: { message: string }[] };
}
