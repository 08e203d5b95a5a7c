/**
 * The Plaid simulator for benchmarks, in a process of its own so that the service's CPU profile,
 * event loop and RSS hold the service only (Plaid is another machine in production). Its per-Item
 * and per-client rate limits are off: the benchmarks measure calls that succeed, not Plaid's 429s.
 */
import { startSimulator } from '../src/simulator/server.js';
import type { SimulatorReady } from './protocol.js';

const simulator = await startSimulator({
  host: '127.0.0.1',
  port: 0,
  controlApi: true,
  rules: { transactionsRefreshPerItem: Number.POSITIVE_INFINITY, transactionsRefreshPerClient: Number.POSITIVE_INFINITY },
});
const ready: SimulatorReady = { type: 'ready', url: simulator.url, clientId: simulator.clientId, secret: simulator.secret };
process.send?.(ready);
// The runner's end closes the IPC channel; then this process has nothing left to do.
process.on('disconnect', () => void simulator.close().then(() => process.exit(0)));
