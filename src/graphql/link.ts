/**
 * The Item life cycle: createLinkToken (open Plaid Link for a new Item, or in update mode for one of
 * the caller's), linkItem (the end of the Link flow: the access token goes to the vault, only the
 * Item comes back) and unlinkItem (removed at Plaid and from the vault). No access token is ever
 * an argument or a field.
 */
import type { PlaidItemRecord } from '../services/item-service.js';
import type { LinkTokenReceipt, UnlinkReceipt } from '../services/link-service.js';
import { requireCaller } from '../context.js';
import { builder } from './builder.js';
import {
  DependencyUnavailableError,
  InputValidationError,
  ItemNotFoundError,
  LinkNotSavedError,
  LinkThrottledError,
  PlaidUnavailableError,
} from '../services/errors.js';
import { PLAID_ERROR_CLASSES } from './errors.js';
import { PlaidItemRef } from './item.js';

// ---- createLinkToken ------------------------------------------------------------------------

const LinkTokenModeEnum = builder.enumType('LinkTokenMode', {
  values: {
    NEW_ITEM: { description: 'Link makes a new Item; pass its `public_token` (onSuccess) to `linkItem`.' },
    UPDATE: {
      description:
        "Link repairs an existing Item (update mode): the Item and its access token stay the same, so no exchange is needed; `linkItem` with Link's `public_token` marks it healthy at once.",
    },
  } as const,
});

const CreateLinkTokenSuccess = builder.objectRef<LinkTokenReceipt>('CreateLinkTokenSuccess').implement({
  description: 'A Link token: open Plaid Link with it (`Plaid.create({ token: linkToken, onSuccess })`) before `expiration`.',
  isTypeOf: (value) => typeof value === 'object' && value !== null && 'linkToken' in value,
  fields: (t) => ({
    linkToken: t.exposeString('linkToken', {
      description: "Plaid's `link_token`, for Plaid Link in the browser or app. One Link session.",
    }),
    expiration: t.field({
      type: 'DateTime',
      description: 'When the token expires (Plaid: 4 hours for a new Item, 30 minutes in update mode). Ask for a new one after that.',
      resolve: (receipt) => receipt.expiration,
    }),
    mode: t.field({ type: LinkTokenModeEnum, resolve: (receipt) => receipt.mode }),
    item: t.field({
      type: PlaidItemRef,
      nullable: true,
      description: 'In update mode, the Item Link repairs; null for a new Item.',
      resolve: (receipt) => receipt.item,
    }),
    products: t.exposeStringList('products', { description: "The new Item's Plaid products; empty in update mode." }),
    joinsUserBundle: t.exposeBoolean('joinsUserBundle', {
      description:
        "True when the new Item joins the caller's Plaid user, so `refreshUserFinancialData` covers it (the user is created on the first such link).",
    }),
    requestId: t.exposeString('requestId', { description: 'Plaid `request_id` of /link/token/create.' }),
  }),
});

const CreateLinkTokenResult = builder.errorUnion('CreateLinkTokenResult', {
  description: 'The answer of `createLinkToken`: the token, or one typed error. Switch on `__typename`.',
  types: [
    CreateLinkTokenSuccess,
    ...PLAID_ERROR_CLASSES,
    InputValidationError,
    ItemNotFoundError,
    PlaidUnavailableError,
    LinkThrottledError,
    DependencyUnavailableError,
  ],
});

builder.mutationField('createLinkToken', (t) =>
  t.field({
    type: CreateLinkTokenResult,
    nullable: true,
    description:
      "A Plaid Link token (/link/token/create). Without `itemId`: Link for a new Item, with the caller as Plaid's `client_user_id` and `products` (default: what every refresh of this API needs); an Item with `transactions` joins the caller's Plaid user (created on first use), so `refreshUserFinancialData` covers it. With `itemId`: update mode for one of the caller's Items, the answer to `nextAction: UPDATE_LOGIN_WITH_LINK` (its access token is used server-side only; someone else's Item answers `ItemNotFoundError`, as an unknown one does).",
    args: {
      itemId: t.arg.id({ required: false, description: 'Update mode: the `PlaidItem.id` to repair. Takes no `products`.' }),
      products: t.arg.stringList({
        required: false,
        description:
          'A new Item\'s Plaid products (Plaid\'s names, e.g. "transactions", "identity"); default: the ones the refresh mutations need.',
      }),
    },
    resolve: (_root, args, context) =>
      context.services.link.createLinkToken(requireCaller(context), {
        itemId: args.itemId === null || args.itemId === undefined ? null : String(args.itemId),
        products: args.products ?? null,
      }),
  }),
);

// ---- linkItem -------------------------------------------------------------------------------

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
    description:
      'Exchanges the `public_token` from Plaid Link (onSuccess) and links the Item for the caller. After update mode it answers the same Item, now healthy.',
    args: { publicToken: t.arg.string({ required: true }) },
    resolve: async (_root, args, context) => ({
      item: await context.services.link.linkItem(requireCaller(context), args.publicToken),
    }),
  }),
);

// ---- unlinkItem -----------------------------------------------------------------------------

const UnlinkItemSuccess = builder.objectRef<UnlinkReceipt>('UnlinkItemSuccess').implement({
  description: 'The Item is removed at Plaid (its billing stops) and its access token deleted from this service.',
  isTypeOf: (value) => typeof value === 'object' && value !== null && 'alreadyGoneAtPlaid' in value,
  fields: (t) => ({
    itemId: t.exposeID('itemId'),
    alreadyGoneAtPlaid: t.exposeBoolean('alreadyGoneAtPlaid', {
      description:
        'True when Plaid no longer knew the Item (removed before, or by its user at my.plaid.com): only this service’s copy was deleted.',
    }),
  }),
});

const UnlinkItemResult = builder.errorUnion('UnlinkItemResult', {
  description: 'The answer of `unlinkItem`. Switch on `__typename`.',
  types: [
    UnlinkItemSuccess,
    ...PLAID_ERROR_CLASSES,
    InputValidationError,
    ItemNotFoundError,
    PlaidUnavailableError,
    DependencyUnavailableError,
  ],
});

builder.mutationField('unlinkItem', (t) =>
  t.field({
    type: UnlinkItemResult,
    nullable: true,
    description:
      "Removes one of the caller's Items: /item/remove at Plaid, then its access token, refresh records and health from the vault (deleted, not flagged). Calling it again answers `ItemNotFoundError`, as for any id the caller does not hold: treat that as already removed. On `PlaidUnavailableError` or `DependencyUnavailableError` nothing is lost by calling it again.",
    args: { itemId: t.arg.id({ required: true, description: 'The `PlaidItem.id` to remove.' }) },
    resolve: (_root, args, context) => context.services.link.unlinkItem(requireCaller(context), String(args.itemId)),
  }),
);
