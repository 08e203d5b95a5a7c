/** refreshUserFinancialData: every Item of the caller's Plaid user, each succeeding or failing on its own. */
import { USER_PRODUCT } from '../../catalogue/refresh-products.js';
import { requireCaller } from '../../context.js';
import type { UserRefreshResult } from '../../services/refresh-service.js';
import { NoPlaidUserError } from '../../services/errors.js';
import type { UserRefreshReceipt } from '../../services/refresh-service.js';
import { builder } from '../builder.js';
import { PlaidErrorInterface, REFRESH_ERROR_CLASSES } from '../errors.js';
import { PlaidItemRef } from '../item.js';
import { RefreshRef } from './lifecycle.js';

const ItemRefreshResultRef = builder.objectRef<UserRefreshResult>('ItemRefreshResult').implement({
  description: 'The outcome for one Item of the bundle, as Plaid reported it.',
  fields: (t) => ({
    itemId: t.exposeID('itemId'),
    product: t.exposeString('product'),
    error: t.field({
      type: PlaidErrorInterface,
      nullable: true,
      description: 'Null when this Item refreshed.',
      resolve: (result) => result.error,
    }),
    refresh: t.field({
      type: RefreshRef,
      nullable: true,
      description:
        "This Item's refresh with its own status (FAILED at once when Plaid answered an error for it); null for an Item not linked here.",
      resolve: (result) => result.refresh,
    }),
    item: t.field({
      type: PlaidItemRef,
      nullable: true,
      description: 'The Item, if it is linked here for the caller. All entries share one vault look-up.',
      resolve: (result, _args, context) => context.loaders.item.load(result.itemId),
    }),
  }),
});

const Success = builder.objectRef<UserRefreshReceipt>('RefreshUserFinancialDataSuccess').implement({
  description: 'Plaid accepted the bundle refresh; `results` says how each Item fared.',
  isTypeOf: (value) => typeof value === 'object' && value !== null && 'results' in value,
  fields: (t) => ({
    requestId: t.exposeString('requestId'),
    requestedAt: t.field({ type: 'DateTime', resolve: (receipt) => receipt.requestedAt }),
    joinedInFlight: t.exposeBoolean('joinedInFlight', {
      description: 'True when this request joined a bundle refresh already in flight: one Plaid call.',
    }),
    results: t.field({ type: [ItemRefreshResultRef], resolve: (receipt) => receipt.results }),
  }),
});

const Result = builder.errorUnion('RefreshUserFinancialDataResult', {
  description: 'The answer of `refreshUserFinancialData`. Switch on `__typename`.',
  types: [Success, NoPlaidUserError, ...REFRESH_ERROR_CLASSES],
});

builder.mutationField(USER_PRODUCT.graphql.field, (t) =>
  t.field({
    type: Result,
    nullable: true,
    description: USER_PRODUCT.graphql.description,
    resolve: (_root, _args, context) => context.services.refresh.refreshUser(requireCaller(context)),
  }),
);
