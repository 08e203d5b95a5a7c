/**
 * createApp: graphql-yoga with the schema and a per-request context, and no listener, so tests
 * call `yoga.fetch` in process and main.ts decides where to listen.
 */
import { randomUUID } from 'node:crypto';
import { GraphQLError } from 'graphql';
import { useApolloInlineTrace } from '@graphql-yoga/plugin-apollo-inline-trace';
import { createYoga, type Plugin, type YogaServerInstance } from 'graphql-yoga';
import { AuthenticationError, type Authenticator } from './auth/authenticate.js';
import { createContext, type Context, type Services } from './context.js';
import { graphiqlOptions, renderGraphiQL } from './graphql/graphiql.js';
import { schema } from './graphql/schema.js';

export interface Logger {
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

export interface AppDeps {
  readonly services: Services;
  readonly authenticate: Authenticator;
  readonly graphiql?: {
    readonly enabled: boolean;
    /** Pre-filled request headers (the embedded demo puts its token here). */
    readonly headers?: Record<string, string>;
    /** Pre-filled variables (the embedded demo names a healthy Item). */
    readonly variables?: Record<string, unknown>;
  };
  readonly logger?: Logger;
}

export type App = YogaServerInstance<Record<string, never>, Context>;

const REQUEST_ID = /^[\w.-]{1,64}$/;

export function createApp(deps: AppDeps): App {
  const logger = deps.logger ?? consoleLogger;
  return createYoga<Record<string, never>, Context>({
    schema,
    graphqlEndpoint: '/graphql',
    landingPage: false,
    logging: false,
    graphiql: deps.graphiql?.enabled ? graphiqlOptions(deps.graphiql.headers ?? {}, deps.graphiql.variables) : false,
    renderGraphiQL,
    context: async ({ request }) => {
      const given = request.headers.get('x-request-id');
      const requestId = given && REQUEST_ID.test(given) ? given : randomUUID();
      try {
        const viewer = await deps.authenticate(request.headers.get('authorization'));
        return createContext(deps.services, viewer, requestId);
      } catch (error) {
        if (error instanceof AuthenticationError) {
          throw new GraphQLError(error.message, { extensions: { code: 'UNAUTHENTICATED', http: { status: 401 } } });
        }
        throw error;
      }
    },
    // Inline traces (ftv1) for federation routers that ask with apollo-federation-include-trace.
    plugins: [useApolloInlineTrace(), logUnexpectedErrors(logger)],
  });
}

/**
 * Unexpected errors reach clients masked ("Unexpected error."); here they are logged with the
 * request id, which the masked error carries too, so support can find the log line.
 */
function logUnexpectedErrors(logger: Logger): Plugin<Context> {
  return {
    onExecute: () => ({
      onExecuteDone: ({ args, result, setResult }) => {
        if (!('errors' in result) || !result.errors) return;
        const context = args.contextValue;
        const errors = (result.errors as readonly GraphQLError[]).map((error) => {
          if (error.extensions.code !== undefined || !error.originalError) return error;
          logger.error('unexpected error', {
            requestId: context.requestId,
            path: error.path?.join('.'),
            error: error.originalError.stack ?? String(error.originalError),
          });
          return new GraphQLError('Unexpected error.', {
            path: error.path,
            extensions: { code: 'INTERNAL_SERVER_ERROR', requestId: context.requestId },
          });
        });
        setResult({ ...result, errors });
      },
    }),
  };
}

const consoleLogger: Logger = {
  info: (message, fields) => console.log(JSON.stringify({ level: 'info', message, ...fields })),
  warn: (message, fields) => console.warn(JSON.stringify({ level: 'warn', message, ...fields })),
  error: (message, fields) => console.error(JSON.stringify({ level: 'error', message, ...fields })),
};
