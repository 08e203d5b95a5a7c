/**
 * GraphQL over WebSocket (graphql-ws, the graphql-transport-ws protocol) on the listener's
 * /graphql path, beside yoga's SSE. The same app runs each operation: its plugins (limits, logs,
 * errors) and its context, built from `connectionParams.authorization` since browsers cannot send
 * headers on a WebSocket. Yoga's own recipe (graphql-yoga docs, "Subscriptions over WebSocket").
 */
import type { Server } from 'node:http';
import { GraphQLError, type DocumentNode, type ExecutionArgs, type GraphQLSchema } from 'graphql';
import { useServer } from 'graphql-ws/use/ws';
import { WebSocketServer } from 'ws';
import type { App } from '../app.js';

interface EnvelopedRoot {
  readonly execute: (args: ExecutionArgs) => unknown;
  readonly subscribe: (args: ExecutionArgs) => unknown;
}

/** What yoga's `getEnveloped` hands back, as much of it as is used here (envelop types it loosely). */
interface Enveloped extends EnvelopedRoot {
  readonly schema: GraphQLSchema;
  readonly contextFactory: () => Promise<unknown>;
  readonly parse: (source: string) => DocumentNode;
  readonly validate: (schema: GraphQLSchema, document: DocumentNode) => readonly GraphQLError[];
}

export interface WebSocketEndpoint {
  /** Ends every connection (bounded: clients are terminated, not waited for). */
  close(): Promise<void>;
}

/** Serves GraphQL over WebSocket on `server` at the app's endpoint. */
export function attachWebSocket(server: Server, app: App): WebSocketEndpoint {
  const wss = new WebSocketServer({ server, path: app.graphqlEndpoint });
  useServer(
    {
      execute: (args) =>
        (args.rootValue as EnvelopedRoot).execute(args) as ReturnType<NonNullable<Parameters<typeof useServer>[0]['execute']>>,
      subscribe: (args) =>
        (args.rootValue as EnvelopedRoot).subscribe(args) as ReturnType<NonNullable<Parameters<typeof useServer>[0]['subscribe']>>,
      onSubscribe: async (ctx, _id, payload) => {
        const authorization = typeof ctx.connectionParams?.authorization === 'string' ? ctx.connectionParams.authorization : '';
        // The context is the app's: it reads the bearer token from a request, as for HTTP.
        const request = new Request(`http://localhost${app.graphqlEndpoint}`, { headers: authorization ? { authorization } : {} });
        const { schema, execute, subscribe, contextFactory, parse, validate } = app.getEnveloped({ request, params: payload }) as Enveloped;
        const document = parse(payload.query);
        const errors = validate(schema, document);
        if (errors.length > 0) return [...errors];
        let contextValue: unknown;
        try {
          contextValue = await contextFactory();
        } catch (error) {
          // A refused token (UNAUTHENTICATED, IDENTITY_PROVIDER_UNAVAILABLE) is an answer, not a broken socket.
          if (error instanceof GraphQLError) return [error];
          throw error;
        }
        return {
          schema,
          document,
          operationName: payload.operationName ?? null,
          variableValues: payload.variables ?? {},
          contextValue,
          rootValue: { execute, subscribe } satisfies EnvelopedRoot,
        };
      },
    },
    wss,
  );
  return {
    close: () =>
      new Promise<void>((resolve) => {
        for (const client of wss.clients) client.terminate();
        wss.close(() => resolve());
      }),
  };
}
