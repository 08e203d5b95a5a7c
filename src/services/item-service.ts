/**
 * Reading the caller's Items: what the schema shows of them (never an access token), each read
 * batched for the request's DataLoaders. Only the owner ever gets an Item back.
 */
import { plaidErrorData, type PlaidErrorData } from '../plaid/errors.js';
import { PlaidErrorBody } from '../plaid/schemas.js';
import { isPlausibleId } from '../util/ids.js';
import { createScrubber } from '../util/scrub.js';
import type { RefreshEventRecord, RefreshRun } from '../vault/refresh-log.js';
import {
  productRefreshes,
  type ItemExpiry,
  type ItemHealth,
  type ItemHealthSource,
  type ProductRefresh,
  type TokenVault,
  type VaultItem,
} from '../vault/vault.js';
import { recordHealth } from './item-health.js';
import { translated } from './translate-errors.js';

export type { RefreshRun } from '../vault/refresh-log.js';

/** An event as the API shows it: the webhook's fields, and its Plaid error (if any) as typed data. */
export interface RefreshEventView extends RefreshEventRecord {
  readonly error: PlaidErrorData | null;
}

// Plaid's text in a webhook reaches clients like its answers do: scrubbed of anything token-shaped.
const scrubWebhook = createScrubber([]);

function viewOf(event: RefreshEventRecord): RefreshEventView {
  const payload = scrubWebhook(event.payload) as Record<string, unknown>;
  const parsed = typeof payload.error === 'object' && payload.error !== null ? PlaidErrorBody.safeParse(payload.error) : null;
  return { ...event, payload, error: parsed?.success ? plaidErrorData(parsed.data.status, parsed.data) : null };
}

/** A linked Item as the API shows it. */
export type PlaidItemRecord = VaultItem;
/** The last accepted refresh of one product of an Item. */
export type ProductRefreshRecord = ProductRefresh;
/** What was last seen of an Item's connection. */
export type ItemHealthRecord = ItemHealth;
export type ItemExpiryRecord = ItemExpiry;

export class ItemService {
  constructor(private readonly vault: TokenVault) {}

  /** The viewer's Items, oldest first. */
  listOwn(viewerId: string): Promise<PlaidItemRecord[]> {
    return translated(() => this.vault.listItems(viewerId));
  }

  /**
   * The viewer's Items, oldest first, each with the latest refresh of each product (`latest`, as
   * latestRefreshes answers) and the same as last refreshes (`last`, as lastRefreshes answers): one read.
   */
  listOwnWithLatestRefreshes(viewerId: string): Promise<{ item: PlaidItemRecord; latest: RefreshRun[]; last: ProductRefreshRecord[] }[]> {
    return translated(async () =>
      (await this.vault.listItemsWithLatestRefreshes(viewerId)).map(({ item, latest }) => ({
        item,
        latest,
        last: productRefreshes(latest),
      })),
    );
  }

  /** One read for all ids: the viewer's Items in the order asked, null for unknown ids and other viewers' Items. */
  ownItems(viewerId: string | null, itemIds: readonly string[]): Promise<(PlaidItemRecord | null)[]> {
    return translated(async () => {
      // An id that cannot exist (NUL, too long) is null without reaching SQL.
      const found = await this.vault.getItems(itemIds.filter(isPlausibleId));
      const mine = new Map(found.filter((item) => viewerId !== null && item.viewerId === viewerId).map((item) => [item.id, item]));
      return itemIds.map((id) => mine.get(id) ?? null);
    });
  }

  /** One read for all Items: their last refreshes, every product, grouped by Item in the order asked. */
  lastRefreshes(itemIds: readonly string[]): Promise<ProductRefreshRecord[][]> {
    return translated(async () => {
      const byItem = new Map<string, ProductRefreshRecord[]>();
      for (const row of await this.vault.getRefreshes(itemIds)) {
        const rows = byItem.get(row.itemId);
        if (rows) rows.push(row);
        else byItem.set(row.itemId, [row]);
      }
      return itemIds.map((id) => byItem.get(id) ?? []);
    });
  }

  /** Refreshes by id, in the order asked: null for unknown ids and other viewers' refreshes. */
  refreshes(viewerId: string | null, ids: readonly string[]): Promise<(RefreshRun | null)[]> {
    return translated(async () => {
      const found = viewerId === null ? [] : await this.vault.refreshLog.runs(viewerId, ids.filter(isPlausibleId));
      const byId = new Map(found.map((run) => [run.id, run]));
      return ids.map((id) => byId.get(id) ?? null);
    });
  }

  /** The latest refresh of each product, per Item in the order asked (one read for all). */
  latestRefreshes(itemIds: readonly string[]): Promise<RefreshRun[][]> {
    return translated(async () => {
      const byItem = new Map<string, RefreshRun[]>();
      for (const run of await this.vault.refreshLog.latest(itemIds)) byItem.set(run.itemId, [...(byItem.get(run.itemId) ?? []), run]);
      return itemIds.map((id) => byItem.get(id) ?? []);
    });
  }

  /** Each refresh's events, oldest first, in the order asked (one read for all). */
  refreshEvents(refreshIds: readonly string[]): Promise<RefreshEventView[][]> {
    return translated(async () => {
      const byRefresh = new Map<string, RefreshEventView[]>();
      for (const event of await this.vault.refreshLog.events(refreshIds)) {
        if (event.refreshId !== null) byRefresh.set(event.refreshId, [...(byRefresh.get(event.refreshId) ?? []), viewOf(event)]);
      }
      return refreshIds.map((id) => byRefresh.get(id) ?? []);
    });
  }

  /** Events by id, for a notice (the subscriber checks they are of its viewer's Items). */
  eventsById(ids: readonly string[]): Promise<RefreshEventView[]> {
    return translated(async () => (await this.vault.refreshLog.eventsById(ids)).map(viewOf));
  }

  /** One read for all Items: each one's health in the order asked, null for Items never observed. */
  health(itemIds: readonly string[]): Promise<(ItemHealthRecord | null)[]> {
    return translated(async () => {
      const byItem = new Map((await this.vault.getItemHealth(itemIds)).map((health) => [health.itemId, health]));
      return itemIds.map((id) => byItem.get(id) ?? null);
    });
  }

  /**
   * An observation of an Item's health from outside a refresh (Plaid's Item webhooks: `ITEM: ERROR`
   * with its `error`, `LOGIN_REPAIRED` with null). Only errors whose next step is Plaid Link change
   * it (see item-health.ts); older observations than the stored one change nothing. True when
   * stored; false when ignored (no such Item in the vault, an error that says nothing of the
   * connection, or out of order). DependencyUnavailableError when the vault cannot be used.
   */
  async observeHealth(itemId: string, error: PlaidErrorData | null, source: ItemHealthSource, observedAt?: Date): Promise<boolean> {
    if (!isPlausibleId(itemId)) return false;
    return translated(async () => (await recordHealth(this.vault, [{ itemId, error }], source, observedAt))[0] ?? false);
  }

  /**
   * Plaid's notice that the Item's access ends (`ITEM: PENDING_EXPIRATION`, `PENDING_DISCONNECT`):
   * kept until a link of the Item (update mode) renews it. Same answers as observeHealth.
   */
  async observeExpiry(itemId: string, expiry: Omit<ItemExpiry, 'observedAt'>, observedAt?: Date): Promise<boolean> {
    if (!isPlausibleId(itemId)) return false;
    return translated(() => this.vault.recordItemExpiry(itemId, expiry, observedAt));
  }

  /** Whether the viewer has a Plaid user, so that the bundle refresh can run. */
  hasPlaidUser(viewerId: string): Promise<boolean> {
    return translated(async () => (await this.vault.getPlaidUserId(viewerId)) !== null);
  }
}
