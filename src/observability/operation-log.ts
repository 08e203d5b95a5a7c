/**
 * One log line per GraphQL request: operation name and type, each root field with the type it
 * resolved to (the union member) and its Plaid request_id, HTTP status, error codes and duration.
 * Requests refused before execution (bad JSON, limits, CSRF, authentication) get their line too.
 * The same observations feed the operation metrics. The line never holds variables or headers.
 */
import { getOperationAST, type DocumentNode, type GraphQLError } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import type { RootFieldOutcome } from './outcomes.js';
import { requestIdOf } from '../http/request-id.js';
import type { Logger } from './logger.js';
import type { Metrics } from './metrics.js';

interface RequestRecord {
  readonly started: number;
  operation: string | null;
  operationType: string | null;
  outcomes: readonly RootFieldOutcome[];
  errorCodes: string[];
}

export function useOperationLog(options: { logger: Logger; metrics: Metrics; graphqlEndpoint: string }): Plugin {
  const { logger, metrics, graphqlEndpoint } = options;
  const records = new WeakMap<Request, RequestRecord>();
  return {
    onRequest({ request, url }) {
      if (url.pathname !== graphqlEndpoint || request.method === 'OPTIONS') return;
      records.set(request, { started: performance.now(), operation: null, operationType: null, outcomes: [], errorCodes: [] });
    },
    onParams({ request, params }) {
      const record = records.get(request);
      if (record && typeof params.operationName === 'string') record.operation = params.operationName.slice(0, 100);
    },
    onExecute({ args }) {
      const context = args.contextValue as { request?: Request; outcomes?: RootFieldOutcome[] };
      const record = context.request ? records.get(context.request) : undefined;
      const operation = getOperationAST(args.document as DocumentNode, args.operationName as string | null | undefined);
      if (record && operation) {
        record.operation ??= operation.name?.value ?? null;
        record.operationType = operation.operation;
      }
      return {
        onExecuteDone() {
          if (!record || !context.outcomes) return;
          record.outcomes = context.outcomes;
          for (const outcome of context.outcomes) metrics.operation(outcome);
        },
      };
    },
    onResultProcess({ request, result }) {
      const record = records.get(request);
      if (!record) return;
      for (const one of Array.isArray(result) ? result : [result]) {
        const errors = (one as { errors?: readonly GraphQLError[] }).errors ?? [];
        for (const error of errors) {
          const code = error.extensions?.code;
          record.errorCodes.push(typeof code === 'string' ? code : 'GRAPHQL_ERROR');
        }
      }
    },
    onResponse({ request, response }) {
      const record = records.get(request);
      const requestId = requestIdOf(request);
      response.headers.set('x-request-id', requestId);
      if (!record) return;
      // Logged once, here: an open subscription's request lives on, its record need not.
      records.delete(request);
      metrics.request(response.status);
      const line = {
        requestId,
        operation: record.operation,
        operationType: record.operationType,
        status: response.status,
        durationMs: Math.round((performance.now() - record.started) * 10) / 10,
        fields: record.outcomes.map(({ field, result, durationMs }) => ({ field, result, durationMs: Math.round(durationMs * 10) / 10 })),
        plaidRequestIds: record.outcomes.flatMap((o) => o.plaidRequestIds),
        ...(record.errorCodes.length > 0 ? { errors: record.errorCodes } : {}),
      };
      if (response.status >= 500) logger.error(line, 'graphql request');
      else logger.info(line, 'graphql request');
    },
  };
}
