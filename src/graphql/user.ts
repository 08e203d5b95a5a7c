/**
 * The company's `User` entity, owned by another subgraph: this subgraph adds the user's Plaid
 * Items. Every representation resolves (the entity is the other subgraph's to answer for); only
 * the `plaidItems` field says "not yours", so a gateway keeps that user's other fields.
 */
import { GraphQLError } from 'graphql';
import { builder } from './builder.js';
import { entityViewer, referenceId } from './entities.js';
import { PlaidItemRef, listOwnItems } from './item.js';

const UserRef = builder.externalRef('User', builder.selection<{ id: string }>('id'), (reference) => ({
  id: referenceId(reference, 'User'),
}));

UserRef.implement({
  fields: (t) => ({
    id: t.exposeID('id'),
    plaidItems: t.field({
      type: [PlaidItemRef],
      // Nullable so that "not yours" nulls this field only, not the whole User in the supergraph.
      nullable: true,
      description:
        "The user's linked Plaid Items, oldest first. Only the caller's own: for any other user it is null with an error `extensions.code: FORBIDDEN` (without a token, `UNAUTHENTICATED`), and the user's fields from other subgraphs stay.",
      resolve: (user, _args, context, info) => {
        const viewer = entityViewer(context);
        if (viewer.id !== user.id) {
          throw new GraphQLError("only the caller's own Plaid Items are visible", { extensions: { code: 'FORBIDDEN' } });
        }
        return listOwnItems(context, viewer.id, info);
      },
    }),
  }),
});
