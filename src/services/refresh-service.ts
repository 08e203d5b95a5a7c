/**
 * The refresh use cases: find the viewer's Item in the vault, call Plaid through the cost guard,
 * return a receipt or throw a typed error. No GraphQL here; the resolvers in src/graphql/refresh
 * call these. Once Plaid has accepted a refresh the caller hears so: a record that cannot be
 * written afterwards is dropped with a log line, never turned into a failure that invites a paid retry.
 */
import { USER_PRODUCT, argsKey, itemProduct, resolveArgs, type ItemProductKey, type RefreshArgs } from '../catalogue/refresh-products.js';
import type { RefreshGuard } from '../guard/refresh-guard.js';
import type { Logger } from '../observability/logger.js';
import { silentLogger } from '../observability/logger.js';
import type { PlaidClient, UserRefreshItemResult } from '../plaid/client.js';
import { PlaidResponseError } from '../plaid/errors.js';

export type { UserRefreshItemResult } from '../plaid/client.js';
import { newRefreshId, type RefreshRun, type RefreshStatus } from '../vault/refresh-log.js';
import type { TokenVault, VaultItem } from '../vault/vault.js';
import type { RefreshLifecycle } from './refresh-lifecycle.js';
import type { Caller } from './caller.js';
import { InputValidationError, ItemNotFoundError, NoPlaidUserError } from './errors.js';
import { requireId } from './ids.js';
import { keepHealth, type HealthObservation } from './item-health.js';
import { translateError, translated } from './translate-errors.js';

export interface ItemRefreshReceipt {
  /** The refresh as stored, to be queried and subscribed to. */
  readonly refresh: RefreshRun;
  readonly itemId: string;
  /** The caller's Item as read for this refresh (the same query gave its access token). */
  readonly item: VaultItem;
  readonly product: ItemProductKey;
  /** The arguments sent to Plaid, defaults applied (cashflow's `days`). */
  readonly args: RefreshArgs;
  readonly requestId: string;
  readonly requestedAt: Date;
  /** True when this caller joined a refresh already in flight: one Plaid call, one bill. */
  readonly joinedInFlight: boolean;
}

/** One Item of the bundle: Plaid's answer for it, and its refresh (null for an Item not linked here). */
export interface UserRefreshResult extends UserRefreshItemResult {
  readonly refresh: RefreshRun | null;
}

/** The bundle refresh: Plaid's answer per Item of the caller's Plaid user. */
export interface UserRefreshReceipt {
  readonly requestId: string;
  readonly requestedAt: Date;
  readonly joinedInFlight: boolean;
  readonly results: readonly UserRefreshResult[];
}

export interface RefreshServiceDeps {
  readonly vault: TokenVault;
  readonly plaid: PlaidClient;
  /** Single flight and quotas. */
  readonly guard: RefreshGuard;
  readonly logger?: Logger;
  /** Called when a refresh Plaid accepted could not be recorded (metrics). */
  readonly onRecordDropped?: () => void;
  /** Announces new refreshes to subscribers. */
  readonly lifecycle?: RefreshLifecycle;
  readonly now?: () => Date;
}

export class RefreshService {
  private readonly now: () => Date;
  private readonly logger: Logger;

  constructor(private readonly deps: RefreshServiceDeps) {
    this.now = deps.now ?? (() => new Date());
    this.logger = deps.logger ?? silentLogger;
  }

  /**
   * `givenArgs`: the product's arguments as the caller gave them (absent ones take their defaults).
   * Its failures are translated here rather than through `translated()`: one suspended frame less
   * per refresh waiting on Plaid (issue #16, target 2).
   */
  async refreshItem(
    caller: Caller,
    itemId: string,
    key: ItemProductKey,
    givenArgs: Readonly<Record<string, number | null | undefined>> = {},
  ): Promise<ItemRefreshReceipt> {
    try {
      const product = itemProduct(key);
      // Inputs first: a bad request never reaches the vault or Plaid.
      requireId('itemId', itemId);
      const resolved = resolveArgs(product, givenArgs);
      if (!resolved.ok) throw new InputValidationError(resolved.field, resolved.reason);
      const { args } = resolved;
      const found = await this.deps.vault.getItemForRefresh(caller.viewerId, itemId);
      if (found === null) throw new ItemNotFoundError(itemId);
      const { item, accessToken, health } = found;
      // Checked per caller above (the vault answers only for the owner); shared from here on.
      const guarded = {
        endpoint: product.endpoint,
        viewerId: caller.viewerId,
        target: { scope: 'ITEM', id: itemId },
        variant: argsKey(args),
        deadline: caller.deadline,
      } as const;
      const { value, joined } = await this.deps.guard.run(guarded, async (beforeResend) => {
        const requestedAt = this.now();
        let receipt;
        try {
          receipt = await this.deps.plaid.refreshItem(product, accessToken, args, { deadline: caller.deadline, beforeResend });
        } catch (error) {
          // Plaid's answer about this Item is its health (the leader records it once for every joiner).
          if (error instanceof PlaidResponseError) await this.keepHealth([{ itemId, error }]);
          throw error;
        }
        const run = pendingRun(itemId, caller.viewerId, key, receipt.requestId, requestedAt, 'PENDING');
        // Plaid accepted a call for the Item, so it works: a stored error is cleared (healthy Items cost no write).
        await Promise.all([this.keepRecords([run]), health?.error ? this.keepHealth([{ itemId, error: null }]) : undefined]);
        return { requestId: receipt.requestId, requestedAt, refresh: run };
      });
      return {
        itemId,
        item,
        product: key,
        args,
        requestId: value.requestId,
        requestedAt: value.requestedAt,
        refresh: value.refresh,
        joinedInFlight: joined,
      };
    } catch (error) {
      throw translateError(error);
    }
  }

  refreshUser(caller: Caller): Promise<UserRefreshReceipt> {
    return translated(async () => {
      const userId = await this.deps.vault.getPlaidUserId(caller.viewerId);
      if (userId === null) throw new NoPlaidUserError();
      const guarded = {
        endpoint: USER_PRODUCT.endpoint,
        viewerId: caller.viewerId,
        target: { scope: 'USER', id: userId },
        deadline: caller.deadline,
      } as const;
      const { value, joined } = await this.deps.guard.run(guarded, async (beforeResend) => {
        const requestedAt = this.now();
        const receipt = await this.deps.plaid.refreshUserFinancialData(userId, { deadline: caller.deadline, beforeResend });
        const owned = await this.ownedItems(receipt.results.map((result) => result.itemId));
        // One refresh per Item of the bundle linked here, each with its own status.
        const results = receipt.results.map((result) => ({
          ...result,
          refresh: owned.has(result.itemId)
            ? pendingRun(
                result.itemId,
                caller.viewerId,
                USER_PRODUCT.key,
                receipt.requestId,
                requestedAt,
                result.error === null ? 'PENDING' : 'FAILED',
              )
            : null,
        }));
        const mine = receipt.results.filter((result) => owned.has(result.itemId));
        await Promise.all([
          this.keepRecords(results.flatMap((result) => (result.refresh ? [result.refresh] : []))),
          this.keepHealth(mine.map((result): HealthObservation => ({ itemId: result.itemId, error: result.error }))),
        ]);
        return { requestId: receipt.requestId, requestedAt, results };
      });
      return { ...value, joinedInFlight: joined };
    });
  }

  /** The bundle may name Items linked elsewhere: the ones of this vault. Empty when it cannot tell (the answer goes on). */
  private async ownedItems(itemIds: readonly string[]): Promise<Set<string>> {
    try {
      return new Set((await this.deps.vault.getItems(itemIds)).map((item) => item.id));
    } catch (error) {
      this.dropped(error, itemIds.length, undefined, USER_PRODUCT.key);
      return new Set();
    }
  }

  /** What a refresh answer says of its Items' health; never throws (see item-health.ts). */
  private keepHealth(observations: readonly HealthObservation[]): Promise<void> {
    return keepHealth(this.deps.vault, this.logger, observations, 'REFRESH');
  }

  /**
   * Records refreshes Plaid accepted, each with its status (one grouped statement). Never throws:
   * Plaid said yes and billed it, so the caller must hear yes; a record lost to a vault fault only
   * means `lastRefreshes` is behind and the refresh cannot be looked up later (its answer carries it).
   */
  private async keepRecords(runs: readonly RefreshRun[]): Promise<void> {
    if (runs.length === 0) return;
    try {
      const started = await this.deps.vault.refreshLog.start(runs);
      await this.deps.lifecycle?.announceStarted(started);
    } catch (error) {
      this.dropped(error, runs.length, runs[0]?.plaidRequestId, runs[0]?.product);
    }
  }

  private dropped(error: unknown, items: number, requestId: string | undefined, product: string | undefined): void {
    this.deps.onRecordDropped?.();
    this.logger.warn({ err: error, requestId, items, product }, 'refresh accepted by Plaid but not recorded');
  }
}

/** A refresh as it is stored when Plaid has just accepted it (the bundle's failed Items: FAILED at once). */
function pendingRun(
  itemId: string,
  viewerId: string,
  product: string,
  plaidRequestId: string,
  requestedAt: Date,
  status: RefreshStatus,
): RefreshRun {
  return { id: newRefreshId(), itemId, viewerId, product, plaidRequestId, requestedAt, status, updatedAt: requestedAt };
}
