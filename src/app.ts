/**
 * createApp: graphql-yoga with the schema, a per-request context and the protections a public
 * endpoint needs (body limit, CSRF, graphql-armor limits, introspection switch), plus /health,
 * /readiness, /metrics and POST /webhooks/plaid (Plaid's webhooks in). No listener: tests call
 * `yoga.fetch` in process and main.ts listens.
 */
import { EnvelopArmorPlugin } from '@escape.tech/graphql-armor';
import { useCSRFPrevention } from '@graphql-yoga/plugin-csrf-prevention';
import { useDisableIntrospection } from '@graphql-yoga/plugin-disable-introspection';
import { GraphQLError, type ValidationContext } from 'graphql';
import { createYoga, type Plugin, type YogaServerInstance } from 'graphql-yoga';
import { AuthenticationError, IdentityProviderUnavailableError, type Authenticator } from './auth/authenticate.js';
import type { GraphQLLimits } from './config.js';
import { createContext, type Context, type Services } from './context.js';
import { useCompiledExecution } from './http/compiled-execution.js';
import { graphiqlOptions, useGraphiQL } from './http/graphiql.js';
import { schema } from './graphql/schema.js';
import { useBodyLimit } from './http/body-limit.js';
import { traceRequested, useInlineTraceWhenAsked } from './http/inline-trace.js';
import { usePlaidWebhooks } from './http/plaid-webhooks.js';
import { useInternedQueries } from './http/interned-queries.js';
import { useLightSse } from './http/light-sse.js';
import { requestIdOf } from './http/request-id.js';
import { useSharedSubscriptionEvents } from './http/shared-subscription-events.js';
import { silentLogger, type Logger } from './observability/logger.js';
import { createMetrics, type Metrics } from './observability/metrics.js';
import { useOperationLog } from './observability/operation-log.js';
import { DependencyUnavailableError } from './services/errors.js';
import { translateError } from './services/translate-errors.js';
import { canonicalJson } from './util/canonical-json.js';
import type { WebhookReceiver } from './webhooks/receiver.js';

export type { Logger } from './observability/logger.js';

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
  /** Without it, the app keeps metrics of its own that nobody reads. */
  readonly metrics?: Metrics;
  /** Serve GET /metrics (Prometheus text format). */
  readonly exposeMetrics?: boolean;
  /** Throws (or rejects) when a dependency is down: /readiness answers 503 with the reason. */
  readonly readiness?: () => Promise<void>;
  readonly introspection?: boolean;
  /** Queries and mutations through graphql-jit (default), else all through yoga's executor. */
  readonly compiledExecution?: boolean;
  readonly csrfPrevention?: boolean;
  readonly maxBodyBytes?: number;
  readonly limits?: GraphQLLimits;
  /** Every request is answered within this (its resolvers' waits end by then). */
  readonly requestTimeoutMs?: number;
  /** Serves POST /webhooks/plaid (verify, store in the inbox, answer); without it the path is not served. */
  readonly webhooks?: Pick<WebhookReceiver, 'receive'>;
}

export type App = YogaServerInstance<Record<string, never>, Context>;

export const GRAPHQL_ENDPOINT = '/graphql';
export const DEFAULT_LIMITS: GraphQLLimits = { maxDepth: 10, maxAliases: 15, maxTokens: 1_000, maxCost: 5_000 };
export const DEFAULT_REQUEST_TIMEOUT_MS = 120_000;

export function createApp(deps: AppDeps): App {
  const logger = deps.logger ?? silentLogger;
  const metrics = deps.metrics ?? createMetrics({ defaultMetrics: false });
  const limits = deps.limits ?? DEFAULT_LIMITS;
  const introspection = deps.introspection ?? true;
  const requestTimeoutMs = deps.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
  return createYoga<Record<string, never>, Context>({
    schema,
    graphqlEndpoint: GRAPHQL_ENDPOINT,
    healthCheckEndpoint: '/health',
    // useBodyLimit (below) enforces the limit; yoga's own would pipe every body through a stream.
    maxRequestBodySize: false,
    landingPage: false,
    logging: false,
    // Served by useGraphiQL (below): the page apart from its assets, compressed and cached.
    graphiql: false,
    context: async ({ request }) => {
      const requestId = requestIdOf(request);
      const deadline = Date.now() + requestTimeoutMs;
      try {
        const viewer = await deps.authenticate(request.headers.get('authorization'));
        return createContext(deps.services, viewer, requestId, deadline);
      } catch (error) {
        if (error instanceof AuthenticationError) {
          throw new GraphQLError(error.message, { extensions: { code: 'UNAUTHENTICATED', http: { status: 401 } } });
        }
        // Not a 401: a frontend logs its user out on 401, and the token may well be valid.
        if (error instanceof IdentityProviderUnavailableError) {
          const retryAfter = error.retryAfterSeconds;
          throw new GraphQLError(error.message, {
            extensions: {
              code: 'IDENTITY_PROVIDER_UNAVAILABLE',
              retryAfterSeconds: retryAfter,
              http: { status: 503, headers: { 'retry-after': String(retryAfter) } },
            },
          });
        }
        throw error;
      }
    },
    plugins: [
      // First: Plaid's webhooks need the raw body, and none of the GraphQL endpoint's checks apply to them.
      ...(deps.webhooks ? [usePlaidWebhooks({ receiver: deps.webhooks, maxBodyBytes: deps.maxBodyBytes ?? 1_048_576 })] : []),
      ...(deps.graphiql?.enabled
        ? [
            useGraphiQL({
              endpoint: GRAPHQL_ENDPOINT,
              options: graphiqlOptions(deps.graphiql.headers ?? {}, deps.graphiql.variables),
              storageNamespace: 'plaid-refresh-graphql',
            }),
          ]
        : []),
      useOperationLog({ logger, metrics, graphqlEndpoint: GRAPHQL_ENDPOINT }),
      useReadinessEndpoint(deps.readiness),
      ...(deps.exposeMetrics ? [useMetricsEndpoint(metrics)] : []),
      useBodyLimit(deps.maxBodyBytes ?? 1_048_576),
      // An open subscription keeps its request's params: equal query texts kept once, not once per request.
      useInternedQueries(),
      // Browsers send "simple" requests (GET, form posts, text/plain) without a CORS preflight; those
      // must carry a header a page cannot set cross-site. JSON POSTs (every GraphQL client) pass as is.
      // Authorization is such a header (setting it cross-site needs a preflight), and it is how
      // callers authenticate here, never a cookie: GraphiQL's SSE subscriptions are GETs that carry it.
      ...(deps.csrfPrevention === false
        ? []
        : [useCSRFPrevention({ requestHeaders: ['x-graphql-yoga-csrf', 'apollo-require-preflight', 'authorization'] })]),
      EnvelopArmorPlugin({
        maxDepth: { n: limits.maxDepth, ignoreIntrospection: true, ...asValidationError },
        // Gateways alias little (`_entities` batches arrive as one variable), so this binds clients.
        maxAliases: { n: limits.maxAliases, ...asValidationError },
        // Counted while parsing, so a flood is refused before it is parsed whole.
        maxTokens: { n: limits.maxTokens },
        costLimit: { maxCost: limits.maxCost, ignoreIntrospection: true, ...asValidationError },
        maxDirectives: { n: 50, ...asValidationError },
        // "Did you mean …" leaks the schema when introspection is off.
        blockFieldSuggestion: { enabled: !introspection },
      }),
      ...(introspection ? [] : [useDisableIntrospection()]),
      // Inline traces (ftv1) for federation routers that ask with apollo-federation-include-trace;
      // other requests skip its per-field wrappers.
      ...useInlineTraceWhenAsked(),
      // Queries and mutations run compiled (graphql-jit), answering as the usual executor does; a
      // traced request keeps the usual executor, whose per-field hooks its trace is made of.
      useCompiledExecution({
        enabled: deps.compiledExecution ?? true,
        useUsualExecutor: (args) => {
          const request = (args.contextValue as { readonly request?: Request } | undefined)?.request;
          return request !== undefined && traceRequested(request);
        },
        onExecution: (executor) => metrics.execution(executor),
      }),
      // One execution per event for the subscribers of one document, variables and viewer (an
      // Item's 1,000 tabs). The viewer is all of the context the subscription's resolvers read;
      // a traced request keeps its own execution, its trace being per field.
      useSharedSubscriptionEvents<Context & { readonly request?: Request }>({
        sharingKey: (context) =>
          context.viewer && !(context.request && traceRequested(context.request)) ? canonicalJson(context.viewer) : null,
      }),
      // SSE subscriptions served over node:http with a body of one small object, not yoga's ReadableStream.
      useLightSse({ requestNeededByEvents: traceRequested }),
      logUnexpectedErrors(logger),
    ],
  });
}

/**
 * Armor throws its refusals out of validation (a 200 with a "Syntax Error"); reported instead as
 * validation errors, they get a 400 for GraphQL-over-HTTP clients, a code, and every limit at once.
 */
const asValidationError = {
  propagateOnRejection: false,
  onReject: [
    (context: ValidationContext | null, error: GraphQLError) => {
      context?.reportError(
        new GraphQLError(error.message.replace(/^Syntax Error: /, ''), {
          extensions: { code: 'OPERATION_LIMIT_EXCEEDED', http: { status: 400 } },
        }),
      );
    },
  ],
};

/**
 * GET /readiness: 200, or 503 with the reason as text. As yoga's useReadinessCheck answers, but
 * matched by the path alone: its URLPattern test ran for every request (~1% of a refresh's CPU).
 */
function useReadinessEndpoint(readiness: (() => Promise<void>) | undefined): Plugin {
  return {
    onRequest(payload) {
      const { url, fetchAPI } = payload;
      if (url.pathname !== '/readiness') return;
      return Promise.resolve()
        .then(() => readiness?.())
        .then(
          () => payload.endResponse(new fetchAPI.Response(null, { status: 200 })),
          (error: unknown) =>
            payload.endResponse(
              error instanceof Error
                ? new fetchAPI.Response(error.message, { status: 503, headers: { 'content-type': 'text/plain; charset=utf-8' } })
                : new fetchAPI.Response(null, { status: 503 }),
            ),
        );
    },
  };
}

function useMetricsEndpoint(metrics: Metrics): Plugin {
  return {
    onRequest(payload) {
      const { url, request, fetchAPI } = payload;
      if (url.pathname !== '/metrics' || request.method !== 'GET') return;
      const { registry } = metrics;
      return registry.metrics().then((text) => {
        payload.endResponse(new fetchAPI.Response(text, { status: 200, headers: { 'content-type': registry.contentType } }));
      });
    },
  };
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
          // Only a resolver's own failure is unexpected: errors with a code, errors outside any
          // field (variables, validation) and GraphQL errors raised on purpose pass as they are.
          const original = error.originalError;
          if (error.extensions.code !== undefined || !error.path || !original || original instanceof GraphQLError) return error;
          // An outage of our own storage or Redis is not a bug: a typed error, logged at warn.
          const translated = translateError(original);
          if (translated instanceof DependencyUnavailableError) {
            logger.warn({ requestId: context.requestId, path: error.path.join('.'), err: original }, 'dependency unavailable');
            return new GraphQLError(translated.message, {
              path: error.path,
              extensions: {
                code: 'DEPENDENCY_UNAVAILABLE',
                dependency: translated.dependency,
                retryAfterSeconds: translated.advice.retryAfterSeconds,
                requestId: context.requestId,
              },
            });
          }
          logger.error({ requestId: context.requestId, path: error.path.join('.'), err: original }, 'unexpected error');
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
