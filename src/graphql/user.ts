/**
 * The company's `User` entity, owned by another subgraph: this subgraph adds the user's Plaid
 * Items. Only the caller is resolvable; any other user's representation resolves to null.
 */
import { builder } from './builder.js';
import { PlaidItemRef, listOwnItems } from './item.js';

const UserRef = builder.externalRef('User', builder.selection<{ id: string }>('id'), (reference, context) =>
  context.viewer?.id === reference.id ? reference : null,
);

UserRef.implement({
  fields: (t) => ({
    id: t.exposeID('id'),
    plaidItems: t.field({
      type: [PlaidItemRef],
      description: "The user's linked Plaid Items (only ever the caller's own).",
      resolve: (user, _args, context) => (context.viewer?.id === user.id ? listOwnItems(context, user.id) : []),
    }),
  }),
});
