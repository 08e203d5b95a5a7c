/**
 * A refresh as an object with a status (`Refresh`), the typed events Plaid's webhooks bring
 * (`RefreshEvent` and one type per webhook), the queries that read them, and the subscription that
 * announces them. Status is stored: a client that reconnects reads it again; the subscription only
 * tells it when something changed.
 */
import type { FieldMap } from '@pothos/core';
import { REFRESH_PRODUCTS, type RefreshProductKey } from '../../catalogue/refresh-products.js';
import { requireViewer, type Context } from '../../context.js';
import type { PlaidItemRecord, RefreshEventView, RefreshRun } from '../../services/item-service.js';
import type { RefreshNotice } from '../../services/refresh-lifecycle.js';
import { builder } from '../builder.js';
import { NextActionEnum, PlaidErrorInterface, adviceForData } from '../errors.js';
import { PlaidItemRef } from '../item.js';

const productName = (key: string) => key.toUpperCase();

export const RefreshProductEnum = builder.enumType('RefreshProduct', {
  description: 'What a refresh refreshed: one Plaid refresh endpoint.',
  values: Object.fromEntries(
    REFRESH_PRODUCTS.map((product) => [productName(product.key), { value: product.key, description: product.endpoint }]),
  ),
});

export const RefreshStatusEnum = builder.enumType('RefreshStatus', {
  values: {
    PENDING: { description: 'Plaid accepted the refresh; no webhook has said anything about it yet.' },
    DATA_AVAILABLE: { description: 'A webhook said fresh data landed (or changed): read it now.' },
    FAILED: {
      description:
        'A webhook reported an error for it (an Item error, a failed report), or Plaid answered the bundle with an error for this Item.',
    },
    QUIET: {
      description:
        'No webhook within the quiet window (REFRESH_QUIET_WINDOW_MS). Plaid sends nothing when nothing changed, so this most likely means "no new data"; it cannot rule out a webhook that was lost. A webhook that still arrives turns it into DATA_AVAILABLE.',
    },
  } as const,
});

// ---- events --------------------------------------------------------------------------------

const num = (event: RefreshEventView, key: string): number | null => (typeof event.payload[key] === 'number' ? event.payload[key] : null);
const bool = (event: RefreshEventView, key: string): boolean | null =>
  typeof event.payload[key] === 'boolean' ? event.payload[key] : null;
const strings = (event: RefreshEventView, key: string): string[] => {
  const value = event.payload[key];
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
};
/** `{ [account_id]: [field, ...] }` as a list. */
const accountFields = (event: RefreshEventView, key: string): { accountId: string; fields: string[] }[] => {
  const value = event.payload[key];
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return [];
  return Object.entries(value as Record<string, unknown>).map(([accountId, fields]) => ({
    accountId,
    fields: Array.isArray(fields) ? fields.filter((f): f is string => typeof f === 'string') : [],
  }));
};

const AccountFieldsRef = builder.objectRef<{ accountId: string; fields: string[] }>('AccountFieldsChanged').implement({
  description: 'One account and which of its fields changed.',
  fields: (t) => ({ accountId: t.exposeID('accountId'), fields: t.exposeStringList('fields') }),
});

/** The events of each (webhook_type, webhook_code), and a fallback for kinds this API does not know yet. */
const EVENT_TYPES: Record<string, string> = {};

export const RefreshEventInterface = builder.interfaceRef<RefreshEventView>('RefreshEvent').implement({
  description: 'Something Plaid announced by webhook about an Item or one of its refreshes.',
  resolveType: (event) => EVENT_TYPES[`${event.webhookType}/${event.webhookCode}`] ?? 'UnknownWebhookEvent',
  fields: (t) => ({
    id: t.exposeID('id'),
    webhookType: t.exposeString('webhookType', { description: 'Plaid `webhook_type`.' }),
    webhookCode: t.exposeString('webhookCode', { description: 'Plaid `webhook_code`.' }),
    receivedAt: t.field({ type: 'DateTime', resolve: (event) => event.receivedAt }),
    item: t.field({
      type: PlaidItemRef,
      nullable: true,
      description: 'The Item (null once it was unlinked).',
      resolve: (event, _args, context) => context.loaders.item.load(event.itemId),
    }),
  }),
});

type Types = typeof builder extends PothosSchemaTypes.SchemaBuilder<infer T> ? T : never;
type EventFields = (t: PothosSchemaTypes.ObjectFieldBuilder<Types, RefreshEventView>) => FieldMap;

/** One event type per (webhook_type, webhook_code), each a RefreshEvent with the fields Plaid sends. */
function eventType(type: string, code: string, name: string, description: string, fields: EventFields): void {
  EVENT_TYPES[`${type}/${code}`] = name;
  builder.objectRef<RefreshEventView>(name).implement({ description, interfaces: [RefreshEventInterface], fields });
}

eventType(
  'TRANSACTIONS',
  'SYNC_UPDATES_AVAILABLE',
  'TransactionsSyncUpdatesAvailableEvent',
  'TRANSACTIONS SYNC_UPDATES_AVAILABLE: transactions were added, modified or removed; call /transactions/sync.',
  (t) => ({
    initialUpdateComplete: t.boolean({ nullable: true, resolve: (e) => bool(e, 'initial_update_complete') }),
    historicalUpdateComplete: t.boolean({ nullable: true, resolve: (e) => bool(e, 'historical_update_complete') }),
  }),
);
eventType(
  'TRANSACTIONS',
  'DEFAULT_UPDATE',
  'TransactionsDefaultUpdateEvent',
  'TRANSACTIONS DEFAULT_UPDATE: new transactions were found.',
  (t) => ({
    newTransactions: t.int({ nullable: true, description: 'Plaid `new_transactions`.', resolve: (e) => num(e, 'new_transactions') }),
  }),
);
eventType(
  'TRANSACTIONS',
  'TRANSACTIONS_REMOVED',
  'TransactionsRemovedEvent',
  'TRANSACTIONS TRANSACTIONS_REMOVED: transactions were removed.',
  (t) => ({
    removedTransactionIds: t.stringList({
      description: 'Plaid `removed_transactions`.',
      resolve: (e) => strings(e, 'removed_transactions'),
    }),
  }),
);
eventType(
  'IDENTITY',
  'DEFAULT_UPDATE',
  'IdentityDefaultUpdateEvent',
  'IDENTITY DEFAULT_UPDATE: identity data changed (a beta webhook at Plaid).',
  (t) => ({
    accountsWithUpdatedIdentity: t.field({
      type: [AccountFieldsRef],
      description: 'Plaid `account_ids_with_updated_identity`: PHONES, ADDRESSES, EMAILS or NAMES per account.',
      resolve: (e) => accountFields(e, 'account_ids_with_updated_identity'),
    }),
  }),
);
eventType(
  'CASHFLOW_REPORT',
  'CASHFLOW_REPORT_READY',
  'CashflowReportReadyEvent',
  'CASHFLOW_REPORT_READY: the report can be read with /cashflow_report/get, or it failed. Plaid documents no payload: this type (and `webhook_type` CASHFLOW_REPORT) is assumed.',
  (t) => ({
    failed: t.boolean({ resolve: (e) => e.error !== null }),
    error: t.field({ type: PlaidErrorInterface, nullable: true, resolve: (e) => e.error }),
  }),
);
eventType(
  'INVESTMENTS_TRANSACTIONS',
  'DEFAULT_UPDATE',
  'InvestmentsTransactionsUpdateEvent',
  'INVESTMENTS_TRANSACTIONS DEFAULT_UPDATE (the bundle).',
  (t) => ({
    newInvestmentsTransactions: t.int({ nullable: true, resolve: (e) => num(e, 'new_investments_transactions') }),
    cancelledInvestmentsTransactions: t.int({ nullable: true, resolve: (e) => num(e, 'cancelled_investments_transactions') }),
  }),
);
eventType('HOLDINGS', 'DEFAULT_UPDATE', 'HoldingsUpdateEvent', 'HOLDINGS DEFAULT_UPDATE (the bundle).', (t) => ({
  newHoldings: t.int({ nullable: true, resolve: (e) => num(e, 'new_holdings') }),
  updatedHoldings: t.int({ nullable: true, resolve: (e) => num(e, 'updated_holdings') }),
}));
eventType('LIABILITIES', 'DEFAULT_UPDATE', 'LiabilitiesUpdateEvent', 'LIABILITIES DEFAULT_UPDATE (the bundle).', (t) => ({
  accountIdsWithNewLiabilities: t.stringList({ resolve: (e) => strings(e, 'account_ids_with_new_liabilities') }),
  accountsWithUpdatedLiabilities: t.field({
    type: [AccountFieldsRef],
    resolve: (e) => accountFields(e, 'account_ids_with_updated_liabilities'),
  }),
}));
eventType(
  'ITEM',
  'ERROR',
  'ItemErrorEvent',
  'ITEM ERROR: Plaid found an error with the Item; every pending refresh of it failed.',
  (t) => ({
    error: t.field({ type: PlaidErrorInterface, nullable: true, description: "Plaid's error object.", resolve: (e) => e.error }),
    nextAction: t.field({ type: NextActionEnum, resolve: (e) => adviceForData(e.error).nextAction }),
  }),
);

builder.objectRef<RefreshEventView>('UnknownWebhookEvent').implement({
  description: 'A webhook of a kind this API does not know yet: kept, never dropped. `payload` is what Plaid sent (strings scrubbed).',
  interfaces: [RefreshEventInterface],
  fields: (t) => ({ payload: t.field({ type: 'JSON', resolve: (e) => e.payload }) }),
});

// ---- the refresh -----------------------------------------------------------------------------

export const RefreshRef = builder.objectRef<RefreshRun>('Refresh').implement({
  description: 'One refresh Plaid accepted, with what became of it. Fetch it again with `refresh(id:)`, or subscribe to `refreshEvents`.',
  fields: (t) => ({
    id: t.exposeID('id', { description: 'Global: `refresh(id:)` reads it (only for its viewer).' }),
    item: t.field({
      type: PlaidItemRef,
      nullable: true,
      description: 'The Item (null once it was unlinked).',
      resolve: (run, _args, context) => context.loaders.item.load(run.itemId),
    }),
    product: t.field({ type: RefreshProductEnum, resolve: (run) => run.product as RefreshProductKey }),
    requestedAt: t.field({ type: 'DateTime', resolve: (run) => run.requestedAt }),
    plaidRequestId: t.exposeString('plaidRequestId', { description: 'Plaid `request_id` of the refresh call.' }),
    status: t.field({ type: RefreshStatusEnum, resolve: (run) => run.status }),
    updatedAt: t.field({ type: 'DateTime', description: 'When the status last changed.', resolve: (run) => run.updatedAt }),
    events: t.field({
      type: [RefreshEventInterface],
      description: 'What the webhooks said about this refresh, oldest first.',
      resolve: (run, _args, context) => context.loaders.runEvents.load(run.id),
    }),
  }),
});

builder.queryField('refresh', (t) =>
  t.field({
    type: RefreshRef,
    nullable: true,
    description: 'One of your refreshes by id; null for an unknown id or someone else’s (the same answer).',
    args: { id: t.arg.id({ required: true }) },
    resolve: (_root, args, context) => {
      requireViewer(context);
      return context.loaders.refreshRun.load(String(args.id));
    },
  }),
);

builder.objectFields(PlaidItemRef, (t) => ({
  latestRefresh: t.field({
    type: RefreshRef,
    nullable: true,
    description: 'The latest refresh of this product of the Item, or null if none was made through this API.',
    args: { product: t.arg({ type: RefreshProductEnum, required: true }) },
    resolve: async (item, args, context) =>
      (await context.loaders.latestRuns.load(item.id)).find((run) => run.product === args.product) ?? null,
  }),
  latestRefreshes: t.field({
    type: [RefreshRef],
    description: 'The latest refresh of each product of the Item.',
    resolve: (item, _args, context) => context.loaders.latestRuns.load(item.id),
  }),
}));

// ---- the subscription --------------------------------------------------------------------------

/** One change: the refreshes it touched (as they are now) and the events it added. */
interface RefreshUpdate {
  readonly itemId: string;
  /** The Item as its viewer sees it, read once for every subscriber of the notice. */
  readonly item: PlaidItemRecord | null;
  readonly refreshes: readonly RefreshRun[];
  readonly events: readonly RefreshEventView[];
}

const RefreshUpdateRef = builder.objectRef<RefreshUpdate>('RefreshUpdate').implement({
  description: 'Something changed for one of your Items: a refresh started or changed status, or a webhook brought an event.',
  fields: (t) => ({
    item: t.field({ type: PlaidItemRef, nullable: true, resolve: (update) => update.item }),
    refreshes: t.field({
      type: [RefreshRef],
      description: 'The refreshes it touched, with their status now.',
      resolve: (update) => [...update.refreshes],
    }),
    events: t.field({
      type: [RefreshEventInterface],
      description: 'The events it added (none for a start or a quiet window).',
      resolve: (update) => [...update.events],
    }),
  }),
});

/**
 * The notices of this subscriber: its viewer's, of the Items or refreshes it asked for, until its
 * token expires. An iterator rather than an async generator: a generator waiting for its next
 * notice cannot be returned until one arrives, so a client that went away would stay subscribed
 * (and in memory) until its Item next changed; here return() ends the subscription at once. A
 * class, its methods on the prototype: one object per open subscription, not a set of closures
 * (10,000 of them open on one process, issue #16).
 */
function noticesFor(context: Context, refreshIds: ReadonlySet<string>, itemIds: ReadonlySet<string>): AsyncIterableIterator<RefreshNotice> {
  return new SubscriberNotices(context, refreshIds, itemIds);
}

class SubscriberNotices implements AsyncIterableIterator<RefreshNotice> {
  private source: AsyncIterator<RefreshNotice> | null = null;
  private viewerId = '';
  private expiry: NodeJS.Timeout | null = null;
  private ended = false;

  constructor(
    private readonly context: Context,
    private readonly refreshIds: ReadonlySet<string>,
    private readonly itemIds: ReadonlySet<string>,
  ) {}

  async next(): Promise<IteratorResult<RefreshNotice>> {
    if (this.ended) return { done: true, value: undefined };
    this.source ??= this.start();
    for (;;) {
      const next = await this.source.next();
      if (next.done) return this.end();
      // Checked again here: whatever the source, a notice of another viewer is never resolved for this one.
      if (next.value.viewerId !== this.viewerId) continue;
      this.context.services.notices.delivered(next.value);
      return next;
    }
  }

  return(): Promise<IteratorResult<RefreshNotice>> {
    return this.end();
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  /** On the first next(), as a generator would: a missing viewer is then the stream's error (UNAUTHENTICATED). */
  private start(): AsyncIterator<RefreshNotice> {
    const viewer = requireViewer(this.context);
    this.viewerId = viewer.id;
    // The source routes by viewer and Item or refresh: only this subscriber's notices reach it.
    const filter = { viewerId: viewer.id, itemIds: this.itemIds, refreshIds: this.refreshIds };
    const source = this.context.services.notices.subscribe(filter)[Symbol.asyncIterator]();
    // A stream ends when its token expires: a client must come back with a fresh one.
    if (viewer.expiresAt !== undefined) this.expiry = setTimeout(() => void this.end(), Math.max(0, viewer.expiresAt - Date.now()));
    return source;
  }

  private async end(): Promise<IteratorResult<RefreshNotice>> {
    this.ended = true;
    if (this.expiry) clearTimeout(this.expiry);
    await this.source?.return?.();
    return { done: true, value: undefined };
  }
}

/**
 * A notice read from the store once per viewer, however many of its subscriptions hear it (an
 * Item's 1,000 subscribers cost the reads of one). Keyed by the notice object, which the bus hands
 * to every subscriber alike, and by viewer, so no viewer ever gets another's reads.
 */
const updates = new WeakMap<RefreshNotice, Map<string, Promise<RefreshUpdate>>>();

function updateFor(notice: RefreshNotice, viewerId: string, services: Context['services']): Promise<RefreshUpdate> {
  let byViewer = updates.get(notice);
  if (!byViewer) {
    byViewer = new Map();
    updates.set(notice, byViewer);
  }
  let update = byViewer.get(viewerId);
  if (!update) {
    update = readUpdate(notice, viewerId, services);
    byViewer.set(viewerId, update);
    // A failed read is not kept: the next subscriber of the notice tries again.
    update.catch(() => byViewer.delete(viewerId));
  }
  return update;
}

async function readUpdate(notice: RefreshNotice, viewerId: string, services: Context['services']): Promise<RefreshUpdate> {
  const [refreshes, events, [item]] = await Promise.all([
    services.items.refreshes(viewerId, notice.refreshIds),
    services.items.eventsById(notice.eventIds),
    services.items.ownItems(viewerId, [notice.itemId]),
  ]);
  return {
    itemId: notice.itemId,
    item: item ?? null,
    refreshes: refreshes.filter((run): run is RefreshRun => run !== null),
    events: events.filter((event) => event.itemId === notice.itemId),
  };
}

builder.subscriptionType({});
builder.subscriptionField('refreshEvents', (t) =>
  t.field({
    type: RefreshUpdateRef,
    description:
      'Every change to your refreshes and Item events, as it happens: of these refresh ids, of these Item ids, or (without either) of all your Items. Over SSE (Accept: text/event-stream) or WebSocket (graphql-transport-ws). The stream ends when your token expires. Missed nothing on reconnect: read `refresh(id:)` again.',
    args: { refreshIds: t.arg.idList({ required: false }), itemIds: t.arg.idList({ required: false }) },
    subscribe: (_root, args, context) =>
      noticesFor(context, new Set((args.refreshIds ?? []).map(String)), new Set((args.itemIds ?? []).map(String))),
    // Read from the store: the notice only says what changed, and the status may have moved on.
    resolve: (notice: RefreshNotice, _args, context): Promise<RefreshUpdate> =>
      updateFor(notice, requireViewer(context).id, context.services),
  }),
);
