/**
 * `npm run simulator`: the Plaid simulator on its own (SIMULATOR_PORT, default 4010), with the
 * control API on, for development and for tests that run the service in other processes.
 */
import { loadSimulatorConfig } from './config.js';
import { startSimulator } from './server.js';

const config = loadSimulatorConfig();
if ('problems' in config) {
  console.error(`invalid configuration:\n${config.problems.map((problem) => `  ${problem}`).join('\n')}`);
  process.exit(1);
}
const simulator = await startSimulator(config);
console.log(
  `Plaid simulator listening on ${simulator.url} (client_id=${simulator.clientId}; control API ${config.controlApi ? 'on' : 'off'})`,
);
const stop = () => void simulator.close().then(() => process.exit(0));
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
