/**
 * Times every root field (Query and Mutation) and notes what it resolved to, into the request's
 * context, so the operation log line and the metrics can say "refreshTransactions ->
 * PlaidItemError in 412 ms" even when the client did not ask for __typename. Root fields only:
 * wrapping every field would tax the hot path for nothing.
 */
import {
  getNamedType,
  isAbstractType,
  isListType,
  isNonNullType,
  type GraphQLField,
  type GraphQLFieldResolver,
  type GraphQLOutputType,
  type GraphQLResolveInfo,
  type GraphQLSchema,
} from 'graphql';
import type { OutcomeSink } from '../observability/outcomes.js';

const INSTRUMENTED = Symbol('rootFieldOutcomes');

export function instrumentRootFields(schema: GraphQLSchema): void {
  for (const root of [schema.getQueryType(), schema.getMutationType()]) {
    if (!root) continue;
    for (const field of Object.values(root.getFields()) as (GraphQLField<unknown, OutcomeSink> & { [INSTRUMENTED]?: true })[]) {
      if (field[INSTRUMENTED] || !field.resolve) continue;
      field.resolve = timed(field.resolve);
      field[INSTRUMENTED] = true;
    }
  }
}

function timed(resolve: GraphQLFieldResolver<unknown, OutcomeSink>): GraphQLFieldResolver<unknown, OutcomeSink> {
  return async (source, args, context, info) => {
    const started = performance.now();
    try {
      const value: unknown = await resolve(source, args, context, info);
      await note(value, false, started, context, info);
      return value;
    } catch (error) {
      await note(error, true, started, context, info);
      throw error;
    }
  };
}

/** Not a closure made per call: a refresh waits on Plaid for seconds, and one would wait with it. */
async function note(value: unknown, threw: boolean, started: number, context: OutcomeSink, info: GraphQLResolveInfo): Promise<void> {
  const result = threw ? 'ERROR' : await typeNameOf(value, info.returnType, context, info);
  context.outcomes.push({
    field: info.fieldName,
    result,
    durationMs: performance.now() - started,
    plaidRequestIds: requestIdsOf(value),
  });
}

async function typeNameOf(value: unknown, type: GraphQLOutputType, context: unknown, info: GraphQLResolveInfo): Promise<string> {
  if (value === null || value === undefined) return 'null';
  const inner = isNonNullType(type) ? type.ofType : type;
  if (isListType(inner)) return `[${getNamedType(inner).name}]`;
  if (!isAbstractType(inner)) return inner.name;
  try {
    const resolved = await inner.resolveType?.(value, context, info, inner);
    return typeof resolved === 'string' ? resolved : inner.name;
  } catch {
    return inner.name;
  }
}

function requestIdsOf(value: unknown): string[] {
  if (typeof value !== 'object' || value === null || !('requestId' in value)) return [];
  return typeof value.requestId === 'string' ? [value.requestId] : [];
}
