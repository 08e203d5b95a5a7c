/**
 * The process: config -> runtime -> listen on PORT. SIGTERM/SIGINT: readiness turns 503, the
 * listener stops accepting, in-flight requests get SHUTDOWN_TIMEOUT_MS to finish, then pools, the
 * vault and Redis are closed and the process exits. A start-up failure is one line on stderr
 * (`start-up failed: ...`, see startup-failure.ts) and exit code 1.
 */
import { GRAPHQL_ENDPOINT } from './app.js';
import { loadConfig } from './config.js';
import { createRuntime, listen, type HttpListener } from './runtime.js';
import { listenFailure, startupFailureText, startupSecrets } from './startup-failure.js';

async function main(): Promise<void> {
  const config = loadConfig();
  const runtime = await createRuntime(config);
  const { logger } = runtime;
  process.on('unhandledRejection', (reason) => logger.error({ err: reason }, 'unhandled rejection'));
  let http: HttpListener;
  try {
    http = await listen(runtime.app, config.host, config.port);
  } catch (error) {
    // The vault, the simulator and the pools are open by now; close them before exiting.
    await runtime.close();
    throw listenFailure(error, config.host, config.port) ?? error;
  }
  const graphqlUrl = `${http.url}${GRAPHQL_ENDPOINT}`;
  logger.info({ url: graphqlUrl, embedded: config.embedded, graphiql: config.graphiql, introspection: config.introspection }, 'ready');
  if (runtime.demo && runtime.simulator) {
    // For the developer at the terminal, not for the log pipeline (the demo token is meant to be copied).
    process.stdout.write(
      [
        '',
        'Embedded mode: no PLAID_CLIENT_ID, so this service talks to its own Plaid simulator.',
        `  Plaid simulator:  ${runtime.simulator.url}`,
        `  GraphiQL:         ${graphqlUrl}  (headers are pre-filled with the demo token)`,
        `  Demo viewer:      "demo" with ${Object.keys(runtime.demo.fixtures.items).length} Items`,
        `  Demo token:       ${runtime.demo.token}`,
        '',
      ].join('\n') + '\n',
    );
  }
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    const started = Date.now();
    logger.info({ signal, inFlight: http.inFlight(), graceMs: config.http.shutdownTimeoutMs }, 'shutting down');
    runtime.drain();
    const cut = await http.close(config.http.shutdownTimeoutMs);
    await runtime.close();
    logger.info({ cutRequests: cut, durationMs: Date.now() - started }, 'closed');
    logger.flush();
    process.exitCode = 0;
    // Give pino's async destination a tick to write the last lines, then leave even if a timer lingers.
    setTimeout(() => process.exit(0), 50).unref();
  };
  process.once('SIGTERM', () => void stop('SIGTERM'));
  process.once('SIGINT', () => void stop('SIGINT'));
}

main().catch((error: unknown) => {
  // One line naming the cause and the variable for known faults; never a key or a password.
  console.error(startupFailureText(error, startupSecrets(process.env)));
  process.exit(1);
});
