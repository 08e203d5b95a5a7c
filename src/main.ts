/**
 * The process: config -> runtime -> listen on PORT. SIGTERM/SIGINT: readiness turns 503 while the
 * listener keeps serving for SHUTDOWN_DRAIN_MS (load balancers stop sending), then it stops
 * accepting, in-flight requests get SHUTDOWN_TIMEOUT_MS to finish, then pools, the vault and
 * Redis are closed (each step bounded) and the process exits; a hard timer makes sure it does.
 * A start-up failure is one line on stderr (`start-up failed: ...`, see startup-failure.ts) and
 * exit code 1.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { GRAPHQL_ENDPOINT } from './app.js';
import { loadConfig } from './config.js';
import { listen, type HttpListener } from './http/listen.js';
import { PLAID_WEBHOOK_PATH } from './http/plaid-webhooks.js';
import { createRuntime } from './runtime.js';
import { listenFailure, startupFailureText, startupSecrets } from './startup-failure.js';

/** Beyond drain and grace, what closing the dependencies may take before the process leaves anyway. */
const CLOSE_BOUND_MS = 10_000;

async function main(): Promise<void> {
  const config = loadConfig();
  const runtime = await createRuntime(config);
  const { logger } = runtime;
  process.on('unhandledRejection', (reason) => logger.error({ err: reason }, 'unhandled rejection'));
  let http: HttpListener;
  try {
    http = await listen(runtime.app, config.host, config.port, { webSocket: true });
  } catch (error) {
    // The vault, the simulator and the pools are open by now; close them before exiting.
    await runtime.close();
    throw listenFailure(error, config.host, config.port) ?? error;
  }
  const graphqlUrl = `${http.url}${GRAPHQL_ENDPOINT}`;
  await runtime.useOwnWebhookUrl(`${http.url}${PLAID_WEBHOOK_PATH}`);
  logger.info({ url: graphqlUrl, embedded: config.embedded, graphiql: config.graphiql, introspection: config.introspection }, 'ready');
  if (runtime.demo && runtime.simulator) {
    const { describeDemoItems } = await import('./demo/seed.js');
    // For the developer at the terminal, not for the log pipeline (the demo token is meant to be copied).
    process.stdout.write(
      [
        '',
        'Embedded mode: no PLAID_CLIENT_ID, so this service talks to its own Plaid simulator.',
        `  Plaid simulator:  ${runtime.simulator.url}`,
        `  GraphiQL:         ${graphqlUrl}  (headers are pre-filled with the demo token)`,
        `  Demo viewer:      "demo"; its Items (the same ids on every start) and what a refresh answers:`,
        ...describeDemoItems(runtime.demo.fixtures),
        `  Demo token:       ${runtime.demo.token}`,
        `  Plaid Link:       createLinkToken, then curl -sX POST ${runtime.simulator.url}/simulator/link/complete \\`,
        `                      -H 'content-type: application/json' -d '{"link_token":"<linkToken>"}'  (gives the public token)`,
        '',
      ].join('\n') + '\n',
    );
  }
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    const started = Date.now();
    const { drainMs, shutdownTimeoutMs } = config.http;
    logger.info({ signal, inFlight: http.inFlight(), drainMs, graceMs: shutdownTimeoutMs }, 'shutting down');
    // Whatever hangs below, the process ends within its bound.
    setTimeout(
      () => {
        logger.error({ durationMs: Date.now() - started }, 'shutdown took too long; exiting');
        logger.flush();
        process.exit(1);
      },
      drainMs + shutdownTimeoutMs + CLOSE_BOUND_MS,
    ).unref();
    runtime.drain();
    http.drain();
    // Still serving: requests routed here before the load balancer saw the 503 are answered.
    if (drainMs > 0) await sleep(drainMs);
    // Subscriptions never finish on their own; ended, their clients reconnect to another replica.
    runtime.endStreams();
    const cut = await http.close(shutdownTimeoutMs);
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
