/** Test helpers: a simulator on port 0 with its control API, and a Plaid client pointed at it. */
import { PlaidClient, type PlaidClientOptions } from '../../src/plaid/client.js';
import { startSimulator, type Simulator, type SimulatorOptions } from '../../src/simulator/server.js';
import type { FaultInput } from '../../src/simulator/state.js';

export async function startTestSimulator(options: SimulatorOptions = {}): Promise<Simulator> {
  return startSimulator({ port: 0, controlApi: true, ...options });
}

/** A client for the simulator; retries sleep 0 ms so tests stay fast. */
export function clientFor(simulator: Simulator, options: Partial<PlaidClientOptions> = {}): PlaidClient {
  return new PlaidClient({
    baseUrl: simulator.url,
    clientId: simulator.clientId,
    secret: simulator.secret,
    sleep: () => Promise.resolve(),
    ...options,
  });
}

/** Adds a fault through the HTTP control API, as a test in another process would. */
export async function injectFault(simulator: Pick<Simulator, 'url'>, fault: FaultInput): Promise<void> {
  const response = await fetch(`${simulator.url}/simulator/faults`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(fault),
  });
  if (response.status !== 201) throw new Error(`fault rejected: ${response.status} ${await response.text()}`);
}

export interface LoggedRequest {
  path: string;
  status: number;
  item_id: string | null;
  user_id: string | null;
  error_code: string | null;
  fault: string | null;
  request_id: string;
}

export async function loggedRequests(simulator: Simulator, query = ''): Promise<LoggedRequest[]> {
  const response = await fetch(`${simulator.url}/simulator/requests${query}`);
  const body = (await response.json()) as { requests: LoggedRequest[] };
  return body.requests;
}

/** What Plaid Link does in the browser when the user succeeds, through the control API (POST /simulator/link/complete). */
export async function completeLink(
  simulator: Pick<Simulator, 'url'>,
  linkToken: string,
  choice: { institution_id?: string; username?: string } = {},
): Promise<{ public_token: string; item_id: string | null; update_mode: boolean }> {
  const response = await fetch(`${simulator.url}/simulator/link/complete`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ link_token: linkToken, ...choice }),
  });
  if (response.status !== 200) throw new Error(`Link not completed: ${response.status} ${await response.text()}`);
  return (await response.json()) as { public_token: string; item_id: string | null; update_mode: boolean };
}

/** A Plaid API call to the simulator as a developer's own code makes it (credentials in headers): status and JSON body. */
export async function plaidPost(
  simulator: Pick<Simulator, 'url' | 'clientId' | 'secret'>,
  path: string,
  body: unknown,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${simulator.url}${path}`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'plaid-client-id': simulator.clientId,
      'plaid-secret': simulator.secret,
      'plaid-version': '2020-09-14',
    },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}
