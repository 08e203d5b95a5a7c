/** The one Plaid call every anchor makes per request, with undici as the service's client does. */
import { Pool } from 'undici';

export function plaidCaller(baseUrl: string): (accessToken: string) => Promise<{ requestId: string }> {
  const pool = new Pool(baseUrl, { connections: 128, pipelining: 1 });
  return async (accessToken) => {
    const { statusCode, body } = await pool.request({
      path: '/identity/refresh',
      method: 'POST',
      headers: { 'content-type': 'application/json', 'plaid-client-id': 'anchor', 'plaid-secret': 'anchor', 'plaid-version': '2020-09-14' },
      body: JSON.stringify({ access_token: accessToken }),
    });
    const json = (await body.json()) as { request_id?: unknown };
    if (statusCode !== 200 || typeof json.request_id !== 'string') throw new Error(`Plaid answered ${statusCode}`);
    return { requestId: json.request_id };
  };
}

/** Anchors get their Plaid's URL from the runner and answer it their own URL. */
export function readyWith(url: string): void {
  process.send?.({ type: 'ready', url });
}

export const FAKE_PLAID_URL = process.env.ANCHOR_PLAID_URL ?? '';
