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
 * Resolves every representation of one entity type of an `_entities` call at once: a value (null:
 * not found or not the caller's) or an Error per representation, in the order given. Answering
 * with one promise for the whole list, rather than one per entity, lets the executor complete the
 * entities synchronously (for 1,000 representations most of the field's time went into promises).
 */
export type BatchReferenceResolver = (references: readonly { readonly id?: unknown }[], context: Context) => Promise<readonly unknown[]>;

/**
 * `_entities` as @apollo/subgraph resolves it throws, out of the whole field, for a representation
 * without a known entity `__typename` (a plain Error) and for a `resolveReference` that throws.
 * Answered per representation instead: that one fails (BAD_USER_INPUT for an unknown type), the
 * others resolve as usual, still batched (their loads are issued in the same tick). Types with a
 * batch resolver (`batched`) resolve through it, the others through their `resolveReference`.
 */
export function guardEntityRepresentations(schema: GraphQLSchema, batched: Readonly<Record<string, BatchReferenceResolver>> = {}): void {
  const entities = schema.getQueryType()?.getFields()._entities;
  const union = schema.getType('_Entity');
  const resolve = entities?.resolve as GraphQLFieldResolver<unknown, Context, { representations: readonly unknown[] }> | undefined;
  if (!entities || !resolve || !isUnionType(union)) return;
  const typenames = new Set(union.getTypes().map((type) => type.name));
  const one = (source: unknown, representation: unknown, context: Context, info: Parameters<typeof resolve>[3]): unknown => {
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
  };
  const guarded: GraphQLFieldResolver<unknown, Context, { representations: readonly unknown[] }> = (source, args, context, info) => {
    const { representations } = args;
    // Positions of the representations each batch resolver takes; every other one resolves alone.
    const groups = new Map<string, number[]>();
    const slots: unknown[] = representations.map((representation, i) => {
      const typename = (representation as { __typename?: unknown } | null)?.__typename;
      if (typeof typename === 'string' && typenames.has(typename) && Object.hasOwn(batched, typename)) {
        const positions = groups.get(typename);
        if (positions) positions.push(i);
        else groups.set(typename, [i]);
        return null;
      }
      return one(source, representation, context, info);
    });
    if (groups.size === 0) return slots;
    const batches = [...groups].map(async ([typename, positions]) => {
      const batch = batched[typename] as BatchReferenceResolver;
      let values: readonly unknown[];
      try {
        values = await batch(
          positions.map((i) => representations[i] as { readonly id?: unknown }),
          context,
        );
      } catch (error) {
        // One batch failing whole (an outage) fails its entities, each with the same error, not the field.
        values = positions.map(() => error);
      }
      positions.forEach((position, i) => {
        const value = values[i];
        // The executor reports an Error in a list as that item's error (null in its place).
        slots[position] =
          value !== null && typeof value === 'object' && !(value instanceof Error) ? { ...value, __typename: typename } : value;
      });
    });
    return Promise.all(batches).then(() => slots);
  };
  entities.resolve = guarded as typeof entities.resolve;
}
