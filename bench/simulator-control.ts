/** The simulator's control API (/simulator/...), as the benchmarks use it. */
import type { FaultInput } from '../src/simulator/state.js';

export async function addFault(simulatorUrl: string, fault: FaultInput): Promise<void> {
  const response = await fetch(`${simulatorUrl}/simulator/faults`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(fault),
  });
  if (response.status !== 201) throw new Error(`fault rejected: ${response.status} ${await response.text()}`);
}

export async function clearFaults(simulatorUrl: string): Promise<void> {
  await fetch(`${simulatorUrl}/simulator/faults`, { method: 'DELETE' });
}

export async function clearRequests(simulatorUrl: string): Promise<void> {
  await fetch(`${simulatorUrl}/simulator/requests`, { method: 'DELETE' });
}

/** Calls the simulator received (logged on arrival), filtered like GET /simulator/requests. */
export async function countRequests(simulatorUrl: string, filter: { path?: string; itemId?: string } = {}): Promise<number> {
  const query = new URLSearchParams();
  if (filter.path) query.set('path', filter.path);
  if (filter.itemId) query.set('item_id', filter.itemId);
  const response = await fetch(`${simulatorUrl}/simulator/requests?${query.toString()}`);
  const body = (await response.json()) as { requests: unknown[] };
  return body.requests.length;
}
