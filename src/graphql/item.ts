/** PlaidItem and the viewer: what a frontend may refresh. Access tokens have no field here, by design. */
import type { GraphQLResolveInfo } from 'graphql';
import { requireViewer, type Context } from '../context.js';
import type { ItemExpiryRecord, ItemHealthRecord, PlaidItemRecord, ProductRefreshRecord } from '../services/item-service.js';
import { builder } from './builder.js';
import { entityViewer, referenceId, type BatchReferenceResolver } from './entities.js';
import { adviceFor, NextActionEnum, PlaidErrorInterface } from './errors.js';
import { selectsAnyField } from './selection.js';

const ProductRefreshRef = builder.objectRef<ProductRefreshRecord>('ProductRefresh').implement({
  description: 'The last refresh of one product of an Item that Plaid accepted.',
  fields: (t) => ({
    product: t.exposeString('product'),
    requestId: t.exposeString('requestId', { description: 'Plaid `request_id` of that refresh.' }),
    refreshedAt: t.field({ type: 'DateTime', resolve: (refresh) => refresh.refreshedAt }),
  }),
});

const ItemHealthStatusEnum = builder.enumType('ItemHealthStatus', {
  values: {
    HEALTHY: { description: 'Last seen working: linked, repaired, or a refresh Plaid accepted.' },
    ERROR: { description: 'Last seen with a Plaid error that needs the user in Plaid Link: see `error` and `nextAction`.' },
    EXPIRING: {
      description:
        'Working, but Plaid announced that access ends (see `expiry`): update mode before then keeps it working (`nextAction` UPDATE_LOGIN_WITH_LINK).',
    },
    UNKNOWN: { description: 'Not observed since this service began recording health (Items linked before it).' },
  } as const,
});

const ItemHealthSourceEnum = builder.enumType('ItemHealthSource', {
  values: {
    REFRESH: { description: "A refresh's answer (an Item refresh, or the Item's entry in the bundle's `results`)." },
    WEBHOOK: {
      description:
        'A Plaid webhook about the Item (`ITEM: ERROR`, `USER_PERMISSION_REVOKED`, `LOGIN_REPAIRED`, `PENDING_EXPIRATION`, `PENDING_DISCONNECT`).',
    },
    LINK: { description: 'The Item was linked through Plaid Link (`linkItem`: a new Item, or the same one after update mode).' },
  } as const,
});

const ItemExpiryRef = builder.objectRef<ItemExpiryRecord>('ItemExpiry').implement({
  description:
    "Plaid's notice that the Item's access ends unless the user goes through Link's update mode (`createLinkToken(itemId:)`); cleared when the Item is linked again.",
  fields: (t) => ({
    reason: t.exposeString('reason', {
      description:
        "`PENDING_EXPIRATION` (consent expires, Europe and the UK), or the reason of `PENDING_DISCONNECT` (US and Canada): `INSTITUTION_TOKEN_EXPIRATION`, `INSTITUTION_MIGRATION`, or a newer one of Plaid's.",
    }),
    expiresAt: t.field({
      type: 'DateTime',
      nullable: true,
      description:
        'When access ends, where Plaid says (`consent_expiration_time`); null for PENDING_DISCONNECT, which Plaid sends about 7 days ahead.',
      resolve: (expiry) => expiry.expiresAt,
    }),
    announcedAt: t.field({ type: 'DateTime', description: 'When the webhook arrived.', resolve: (expiry) => expiry.observedAt }),
  }),
});

/** The Item's status as a frontend shows it: an error first, then an announced end of access. */
function statusOf(record: ItemHealthRecord | null): 'UNKNOWN' | 'HEALTHY' | 'ERROR' | 'EXPIRING' {
  if (record === null) return 'UNKNOWN';
  if (record.error !== null) return 'ERROR';
  return record.expiry === null ? 'HEALTHY' : 'EXPIRING';
}

/** The Item's stored health; null when it was never observed. */
const ItemHealthRef = builder.objectRef<{ readonly record: ItemHealthRecord | null }>('ItemHealth').implement({
  description:
    "What was last seen of an Item's connection to its bank. Only Plaid errors whose `nextAction` is Plaid Link (`UPDATE_LOGIN_WITH_LINK`, `RELINK_ITEM`) make it ERROR; outages, rate limits and products the Item lacks leave it as it was. A refresh Plaid accepts, or a link of the Item, makes it HEALTHY again; an announced end of access (EXPIRING) ends only with a link of the Item (update mode).",
  fields: (t) => ({
    status: t.field({
      type: ItemHealthStatusEnum,
      resolve: ({ record }) => statusOf(record),
    }),
    error: t.field({
      type: PlaidErrorInterface,
      nullable: true,
      description: 'The Plaid error last seen for the Item (scrubbed like every Plaid error); null unless `status` is ERROR.',
      resolve: ({ record }) => record?.error ?? null,
    }),
    nextAction: t.field({
      type: NextActionEnum,
      nullable: true,
      description:
        'What to do about `error` or `expiry` (`UPDATE_LOGIN_WITH_LINK`: `createLinkToken(itemId:)`); null when there is nothing to do.',
      resolve: ({ record }) =>
        record?.error ? adviceFor(record.error).nextAction : record?.expiry ? ('UPDATE_LOGIN_WITH_LINK' as const) : null,
    }),
    expiry: t.field({
      type: ItemExpiryRef,
      nullable: true,
      description: 'An announced end of access (Plaid webhooks PENDING_EXPIRATION, PENDING_DISCONNECT); null when none is pending.',
      resolve: ({ record }) => record?.expiry ?? null,
    }),
    source: t.field({ type: ItemHealthSourceEnum, nullable: true, resolve: ({ record }) => record?.source ?? null }),
    observedAt: t.field({ type: 'DateTime', nullable: true, resolve: ({ record }) => record?.observedAt ?? null }),
  }),
});

export const PlaidItemRef = builder.objectRef<PlaidItemRecord>('PlaidItem').implement({
  description: 'A linked bank connection (a Plaid Item) of the caller.',
  fields: (t) => ({
    id: t.exposeID('id', { description: 'Plaid `item_id`; name the Item by it in the refresh mutations.' }),
    institutionId: t.exposeString('institutionId'),
    institutionName: t.exposeString('institutionName'),
    products: t.exposeStringList('products', { description: 'Plaid products the Item was linked with.' }),
    linkedAt: t.field({ type: 'DateTime', resolve: (item) => item.createdAt }),
    lastRefreshes: t.field({
      type: [ProductRefreshRef],
      description: 'When each product was last refreshed through this API, and by which Plaid request.',
      resolve: (item, _args, context) => context.loaders.refreshes.load(item.id),
    }),
    health: t.field({
      type: ItemHealthRef,
      description: "The Item's connection as last seen, and what to do about it. All Items of a request share one vault query.",
      resolve: async (item, _args, context) => ({ record: await context.loaders.health.load(item.id) }),
    }),
  }),
});

/** The Item id of a representation, or its error: a bad key first (the client's mistake), then a missing token. */
function plaidItemReference(reference: { readonly id?: unknown }, context: Context): string | Error {
  try {
    const id = referenceId(reference, 'PlaidItem');
    entityViewer(context);
    return id;
  } catch (error) {
    return error as Error;
  }
}

/**
 * Every PlaidItem representation of an `_entities` call: one DataLoader batch, one promise (see
 * guardEntityRepresentations, which copies each frozen vault row to tag it with __typename).
 */
export const resolvePlaidItemReferences: BatchReferenceResolver = async (references, context) => {
  const ids = references.map((reference) => plaidItemReference(reference, context));
  const loaded = await context.loaders.item.loadMany(ids.filter((id): id is string => typeof id === 'string'));
  let next = 0;
  return ids.map((id) => (typeof id === 'string' ? loaded[next++] : id));
};

// An entity other subgraphs can reference. Representations resolve through the request's
// DataLoader (one vault query for all of them); Items that are not the caller's resolve to null,
// and without a token each representation answers UNAUTHENTICATED. `_entities` takes them all at
// once through resolvePlaidItemReferences; this resolves one (what @apollo/subgraph calls).
builder.asEntity(PlaidItemRef, {
  key: builder.selection<{ id: string }>('id'),
  // A copy: @apollo/subgraph tags the result with __typename, and vault rows are frozen.
  resolveReference: async (reference, context) => {
    const id = plaidItemReference(reference, context);
    if (id instanceof Error) throw id;
    const item = await context.loaders.item.load(id);
    return item && { ...item };
  },
});

/** Fields of PlaidItem that the latest refreshes answer. */
const REFRESH_FIELDS: ReadonlySet<string> = new Set(['latestRefresh', 'latestRefreshes', 'lastRefreshes']);

/**
 * The caller's Items, oldest first; primes the DataLoaders so later look-ups cost nothing. When the
 * query asks for their latest refreshes too, both come in one vault query (not one for the Items
 * and one for the refreshes).
 */
export async function listOwnItems(context: Context, viewerId: string, info: GraphQLResolveInfo): Promise<PlaidItemRecord[]> {
  if (!selectsAnyField(info, REFRESH_FIELDS)) {
    const items = await context.services.items.listOwn(viewerId);
    for (const item of items) context.loaders.item.prime(item.id, item);
    return items;
  }
  const rows = await context.services.items.listOwnWithLatestRefreshes(viewerId);
  for (const { item, latest, last } of rows) {
    context.loaders.item.prime(item.id, item);
    context.loaders.latestRuns.prime(item.id, latest);
    context.loaders.refreshes.prime(item.id, last);
  }
  return rows.map(({ item }) => item);
}

const ViewerRef = builder.objectRef<{ id: string }>('Viewer').implement({
  description: 'The caller, as named by the `sub` of their token.',
  fields: (t) => ({
    id: t.exposeID('id'),
    items: t.field({
      type: [PlaidItemRef],
      description: 'Items the caller may refresh, oldest first.',
      resolve: (viewer, _args, context, info) => listOwnItems(context, viewer.id, info),
    }),
    hasPlaidUser: t.boolean({
      description: 'Whether `refreshUserFinancialData` can run for the caller.',
      resolve: (viewer, _args, context) => context.services.items.hasPlaidUser(viewer.id),
    }),
  }),
});

builder.queryField('viewer', (t) =>
  t.field({
    type: ViewerRef,
    resolve: (_root, _args, context) => ({ id: requireViewer(context).id }),
  }),
);
