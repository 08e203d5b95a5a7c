/** linkItem: the end of the Plaid Link flow. The access token goes to the vault; only the Item comes back. */
import type { PlaidItemRecord } from '../services/item-service.js';
import { requireCaller } from '../context.js';
import { builder } from './builder.js';
import {
  DependencyUnavailableError,
  InputValidationError,
  LinkNotSavedError,
  LinkThrottledError,
  PlaidUnavailableError,
} from '../services/errors.js';
import { PLAID_ERROR_CLASSES } from './errors.js';
import { PlaidItemRef } from './item.js';

const LinkItemSuccess = builder.objectRef<{ item: PlaidItemRecord }>('LinkItemSuccess').implement({
  isTypeOf: (value) => typeof value === 'object' && value !== null && 'item' in value,
  fields: (t) => ({ item: t.field({ type: PlaidItemRef, resolve: (result) => result.item }) }),
});

const LinkItemResult = builder.errorUnion('LinkItemResult', {
  types: [
    LinkItemSuccess,
    ...PLAID_ERROR_CLASSES,
    InputValidationError,
    PlaidUnavailableError,
    LinkThrottledError,
    LinkNotSavedError,
    DependencyUnavailableError,
  ],
});

builder.mutationField('linkItem', (t) =>
  t.field({
    type: LinkItemResult,
    nullable: true,
    description: 'Exchanges the `public_token` from Plaid Link (onSuccess) and links the Item for the caller.',
    args: { publicToken: t.arg.string({ required: true }) },
    resolve: async (_root, args, context) => ({
      item: await context.services.link.linkItem(requireCaller(context), args.publicToken),
    }),
  }),
);
