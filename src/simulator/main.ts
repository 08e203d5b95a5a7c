/**
 * `npm run simulator`: the Plaid simulator on its own (SIMULATOR_PORT, default 4010), with the
 * control API on, for development and for tests that run the service in other processes.
 */
import { ConfigError, loadSimulatorConfig } from '../config.js';
import { startSimulator } from './server.js';

try {
  const config = loadSimulatorConfig();
  const simulator = await startSimulator(config);
  console.log(
    `Plaid simulator listening on ${simulator.url} (client_id=${simulator.clientId}; control API ${config.controlApi ? 'on' : 'off'})`,
  );
  const stop = () => void simulator.close().then(() => process.exit(0));
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
} catch (error) {
  console.error(error instanceof ConfigError ? error.message : error);
  process.exit(1);
}
