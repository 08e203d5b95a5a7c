/**
 * Apollo inline traces (ftv1) for federation routers that ask for them with the
 * `apollo-federation-include-trace: ftv1` header. yoga's plugin times every field by wrapping every
 * resolver of the schema, and that wrapper runs for every request, traced or not: two
 * promise-helper calls and their closures per field, which for `_entities` with 1,000 Items
 * (6,000 fields) was about a quarter of the request. Here the trace plugin's wrappers are wrapped
 * once more: a request the plugin traces goes through them, any other calls the field's own
 * resolver, as the wrapper would have done after finding no trace for it.
 */
import { useApolloInlineTrace } from '@graphql-yoga/plugin-apollo-inline-trace';
import { defaultFieldResolver, isIntrospectionType, isObjectType, type GraphQLFieldResolver, type GraphQLSchema } from 'graphql';
import type { Plugin } from 'graphql-yoga';

type Resolver = GraphQLFieldResolver<unknown, { readonly request?: Request }>;

/** Whether a federation router asked for this request's inline trace (the trace plugin's own rule). */
export const traceRequested = (request: Request): boolean => request.headers.get('apollo-federation-include-trace') === 'ftv1';

/** The trace plugin, between two plugins of its own: one notes each field's resolver, the other routes around the trace's wrapper. */
export function useInlineTraceWhenAsked(): Plugin[] {
  const traced = new WeakSet<Request>();
  const own = new Map<object, Resolver>();
  const noteResolvers: Plugin = {
    onSchemaChange({ schema }: { schema: GraphQLSchema }) {
      own.clear();
      for (const field of fieldsOf(schema)) own.set(field, (field.resolve as Resolver | undefined) ?? defaultFieldResolver);
    },
  };
  const trace = useApolloInlineTrace({
    // The plugin's own rule (the header), also kept here so the fields know which requests it traces.
    ignoreRequest: (request) => {
      const asked = traceRequested(request);
      if (asked) traced.add(request);
      return !asked;
    },
  });
  const routeUntraced: Plugin = {
    onSchemaChange({ schema }: { schema: GraphQLSchema }) {
      for (const field of fieldsOf(schema)) {
        const original = own.get(field);
        const wrapped = field.resolve as Resolver | undefined;
        if (!original || !wrapped || wrapped === original) continue;
        const route: Resolver = (source, args, context, info) =>
          traced.has(context.request as Request) ? wrapped(source, args, context, info) : original(source, args, context, info);
        field.resolve = route;
      }
      own.clear();
    },
  };
  return [noteResolvers, trace, routeUntraced];
}

/** The fields the trace plugin wraps: those of object types, introspection's left out. */
function* fieldsOf(schema: GraphQLSchema) {
  for (const type of Object.values(schema.getTypeMap())) {
    if (isObjectType(type) && !isIntrospectionType(type)) yield* Object.values(type.getFields());
  }
}
