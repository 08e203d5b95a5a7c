/**
 * What the three single-Item refresh mutations share: a success type and a union named after the
 * mutation (`RefreshTransactionsSuccess`, `RefreshTransactionsResult`), and a nullable mutation
 * field resolved by RefreshService. Each mutation's own file says what differs.
 */
import { requireCaller } from '../../context.js';
import { CASHFLOW_DAYS } from '../../plaid/schemas.js';
import type { ItemProduct, ItemRefreshReceipt } from '../../services/refresh-service.js';
import { builder } from '../builder.js';
import { REFRESH_ERROR_CLASSES } from '../errors.js';
import { PlaidItemRef } from '../item.js';

export interface ItemRefreshMutation {
  /** The mutation field, e.g. `refreshTransactions`. */
  readonly field: string;
  readonly product: ItemProduct;
  readonly description: string;
  /** Adds the `days` argument of /cashflow_report/refresh. */
  readonly withDays?: boolean;
}

export function defineItemRefreshMutation(mutation: ItemRefreshMutation): void {
  const typeName = mutation.field.charAt(0).toUpperCase() + mutation.field.slice(1);

  const Success = builder.objectRef<ItemRefreshReceipt>(`${typeName}Success`).implement({
    description: `Plaid accepted the refresh; fresh data follows (Plaid announces it by webhook).`,
    isTypeOf: (value) => typeof value === 'object' && value !== null && 'product' in value && value.product === mutation.product,
    fields: (t) => ({
      requestId: t.exposeString('requestId', { description: 'Plaid `request_id` of the refresh call.' }),
      requestedAt: t.field({ type: 'DateTime', resolve: (receipt) => receipt.requestedAt }),
      joinedInFlight: t.exposeBoolean('joinedInFlight', {
        description: 'True when this request joined an identical refresh already in flight: one Plaid call, one bill.',
      }),
      // Read with the access token at the start of the refresh: no second vault query.
      item: t.field({ type: PlaidItemRef, resolve: (receipt) => receipt.item }),
      ...(mutation.withDays
        ? { daysRequested: t.int({ resolve: (receipt) => receipt.daysRequested ?? CASHFLOW_DAYS.default }) }
        : {}),
    }),
  });

  const Result = builder.errorUnion(`${typeName}Result`, {
    description: `The answer of \`${mutation.field}\`: the success, or one typed error. Switch on \`__typename\`.`,
    types: [Success, ...REFRESH_ERROR_CLASSES],
  });

  builder.mutationField(mutation.field, (t) =>
    t.field({
      type: Result,
      nullable: true,
      description: mutation.description,
      args: {
        itemId: t.arg.id({ required: true, description: 'The `PlaidItem.id` to refresh.' }),
        ...(mutation.withDays
          ? {
              days: t.arg.int({
                required: false,
                defaultValue: CASHFLOW_DAYS.default,
                description: `Days of history, ${CASHFLOW_DAYS.min} to ${CASHFLOW_DAYS.max}.`,
              }),
            }
          : {}),
      },
      resolve: (_root, args, context) => {
        const days = 'days' in args && typeof args.days === 'number' ? args.days : undefined;
        return context.services.refresh.refreshItem(requireCaller(context), String(args.itemId), mutation.product, days);
      },
    }),
  );
}
