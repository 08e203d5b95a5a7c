/** The process: config -> runtime -> listen on PORT; SIGTERM/SIGINT stop accepting and close everything. */
import { ConfigError, loadConfig } from './config.js';
import { createRuntime, listen } from './runtime.js';

async function main(): Promise<void> {
  const config = loadConfig();
  const runtime = await createRuntime(config);
  const http = await listen(runtime.app, config.host, config.port);
  const graphiqlUrl = `${http.url}/graphql`;
  if (runtime.demo && runtime.simulator) {
    console.log(
      [
        '',
        'Embedded mode: no PLAID_CLIENT_ID, so this service talks to its own Plaid simulator.',
        `  Plaid simulator:  ${runtime.simulator.url}`,
        `  GraphiQL:         ${graphiqlUrl}  (headers are pre-filled with the demo token)`,
        `  Demo viewer:      "demo" with ${Object.keys(runtime.demo.fixtures.items).length} Items`,
        `  Demo token:       ${runtime.demo.token}`,
        '',
      ].join('\n'),
    );
  } else {
    console.log(`GraphQL service listening on ${graphiqlUrl}`);
  }
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.log(`${signal}: closing`);
    await http.close();
    await runtime.close();
    process.exit(0);
  };
  process.once('SIGTERM', () => void stop('SIGTERM'));
  process.once('SIGINT', () => void stop('SIGINT'));
}

main().catch((error: unknown) => {
  console.error(error instanceof ConfigError ? error.message : error);
  process.exit(1);
});
