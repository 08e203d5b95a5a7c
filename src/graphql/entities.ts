/**
 * What entity resolution (`_entities` and the fields this subgraph adds to other subgraphs'
 * entities) shares. Its errors carry a code but no HTTP status: a gateway's fetch holds many
 * representations, and a 401 would tell it the whole fetch failed when only some entities did.
 */
import { GraphQLError, isUnionType, type GraphQLFieldResolver, type GraphQLSchema } from 'graphql';
import type { Viewer } from '../auth/authenticate.js';
import type { Context } from '../context.js';

/** The caller, or a GraphQL error with code UNAUTHENTICATED for this entity or field only. */
export function entityViewer(context: Context): Viewer {
  if (context.viewer) return context.viewer;
  throw new GraphQLError('authentication required: send Authorization: Bearer <JWT>', { extensions: { code: 'UNAUTHENTICATED' } });
}

/** A representation the client got wrong: its own error, not ours, so it is neither masked nor logged. */
function badRepresentation(message: string): GraphQLError {
  return new GraphQLError(message, { extensions: { code: 'BAD_USER_INPUT' } });
}

/** The `id` key of a representation; `_Any` lets anything through, so it is checked here. */
export function referenceId(reference: { readonly id?: unknown }, typename: string): string {
  const { id } = reference;
  if (typeof id === 'string') return id;
  // ID also accepts integers, and a gateway sends the key as the other subgraph serialised it.
  if (typeof id === 'number' && Number.isSafeInteger(id)) return String(id);
  throw badRepresentation(`a ${typename} representation needs its key field "id" (a string)`);
}

/**
 * `_entities` as @apollo/subgraph resolves it throws, out of the whole field, for a representation
 * without a known entity `__typename` (a plain Error) and for a `resolveReference` that throws.
 * Answered per representation instead: that one fails (BAD_USER_INPUT for an unknown type), the
 * others resolve as usual, still batched (their loads are issued in the same tick).
 */
export function guardEntityRepresentations(schema: GraphQLSchema): void {
  const entities = schema.getQueryType()?.getFields()._entities;
  const union = schema.getType('_Entity');
  const resolve = entities?.resolve as GraphQLFieldResolver<unknown, Context, { representations: readonly unknown[] }> | undefined;
  if (!entities || !resolve || !isUnionType(union)) return;
  const typenames = new Set(union.getTypes().map((type) => type.name));
  const guarded: GraphQLFieldResolver<unknown, Context, { representations: readonly unknown[] }> = (source, args, context, info) =>
    args.representations.map((representation) => {
      const typename = (representation as { __typename?: unknown } | null)?.__typename;
      if (typeof typename !== 'string' || !typenames.has(typename)) {
        return Promise.reject(
          badRepresentation(`a representation needs a "__typename" naming an entity of this subgraph (${[...typenames].join(', ')})`),
        );
      }
      // The executor runs now, so loads stay in this tick; a throw in it rejects this entity only.
      return new Promise((settle) => {
        settle((resolve(source, { representations: [representation] }, context, info) as readonly unknown[])[0]);
      });
    });
  entities.resolve = guarded as typeof entities.resolve;
}
