/**
 * One mutation per Item refresh of the catalogue (`refreshTransactions`, `refreshIdentity`,
 * `refreshCashflowReport`, ...): a success type and a union named after the mutation
 * (`RefreshTransactionsSuccess`, `RefreshTransactionsResult`), arguments from the entry, resolved
 * by RefreshService. A new catalogue entry gets its mutation here without a line of its own.
 */
import { ITEM_PRODUCTS, type IntArgument, type ItemProduct } from '../../catalogue/refresh-products.js';
import { requireCaller } from '../../context.js';
import type { ItemRefreshReceipt } from '../../services/refresh-service.js';
import { builder } from '../builder.js';
import { REFRESH_ERROR_CLASSES } from '../errors.js';
import { PlaidItemRef } from '../item.js';
import { RefreshRef } from './lifecycle.js';

function defineItemRefreshMutation(product: ItemProduct): void {
  const { field, description } = product.graphql;
  const typeName = field.charAt(0).toUpperCase() + field.slice(1);
  const args = product.args as readonly IntArgument[];

  const Success = builder.objectRef<ItemRefreshReceipt>(`${typeName}Success`).implement({
    description: 'Plaid accepted the refresh; fresh data follows (Plaid announces it by webhook).',
    isTypeOf: (value) => typeof value === 'object' && value !== null && 'product' in value && value.product === product.key,
    fields: (t) => ({
      requestId: t.exposeString('requestId', { description: 'Plaid `request_id` of the refresh call.' }),
      requestedAt: t.field({ type: 'DateTime', resolve: (receipt) => receipt.requestedAt }),
      joinedInFlight: t.exposeBoolean('joinedInFlight', {
        description: 'True when this request joined an identical refresh already in flight: one Plaid call, one bill.',
      }),
      // Read with the access token at the start of the refresh: no second vault query.
      item: t.field({ type: PlaidItemRef, resolve: (receipt) => receipt.item }),
      refresh: t.field({
        type: RefreshRef,
        description: 'The refresh as an object with a status: query it with `refresh(id:)`, or subscribe to `refreshEvents(refreshIds:)`.',
        resolve: (receipt) => receipt.refresh,
      }),
      ...Object.fromEntries(
        args.map((arg) => [
          arg.echoField,
          t.int({ description: `The \`${arg.name}\` sent to Plaid.`, resolve: (receipt) => receipt.args[arg.name] ?? arg.default }),
        ]),
      ),
    }),
  });

  const Result = builder.errorUnion(`${typeName}Result`, {
    description: `The answer of \`${field}\`: the success, or one typed error. Switch on \`__typename\`.`,
    types: [Success, ...REFRESH_ERROR_CLASSES],
  });

  builder.mutationField(field, (t) =>
    t.field({
      type: Result,
      nullable: true,
      description,
      args: {
        itemId: t.arg.id({ required: true, description: 'The `PlaidItem.id` to refresh.' }),
        ...Object.fromEntries(
          args.map((arg) => [arg.name, t.arg.int({ required: false, defaultValue: arg.default, description: arg.description })]),
        ),
      },
      resolve: (_root, given, context) => {
        const values = given as Record<string, unknown>;
        const numbers = Object.fromEntries(
          args.map((arg) => [arg.name, typeof values[arg.name] === 'number' ? (values[arg.name] as number) : undefined]),
        );
        return context.services.refresh.refreshItem(requireCaller(context), String(values.itemId), product.key, numbers);
      },
    }),
  );
}

for (const product of ITEM_PRODUCTS) defineItemRefreshMutation(product);
