/**
 * What entity resolution (`_entities` and the fields this subgraph adds to other subgraphs'
 * entities) shares. Its errors carry a code but no HTTP status: a gateway's fetch holds many
 * representations, and a 401 would tell it the whole fetch failed when only some entities did.
 */
import { GraphQLError } from 'graphql';
import type { Viewer } from '../auth/authenticate.js';
import type { Context } from '../context.js';

/** The caller, or a GraphQL error with code UNAUTHENTICATED for this entity or field only. */
export function entityViewer(context: Context): Viewer {
  if (context.viewer) return context.viewer;
  throw new GraphQLError('authentication required: send Authorization: Bearer <JWT>', { extensions: { code: 'UNAUTHENTICATED' } });
}
