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
import type { ProductRefresh, TokenVault, VaultItem } from '../vault/vault.js';
import type { Caller } from './caller.js';
import { InputValidationError, ItemNotFoundError, NoPlaidUserError } from './errors.js';
import { requireId } from './ids.js';
import { keepHealth, type HealthObservation } from './item-health.js';
import { translated } from './translate-errors.js';

export interface ItemRefreshReceipt {
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

/** The bundle refresh: Plaid's answer per Item of the caller's Plaid user. */
export interface UserRefreshReceipt {
  readonly requestId: string;
  readonly requestedAt: Date;
  readonly joinedInFlight: boolean;
  readonly results: readonly UserRefreshItemResult[];
}

export interface RefreshServiceDeps {
  readonly vault: TokenVault;
  readonly plaid: PlaidClient;
  /** Single flight and quotas. */
  readonly guard: RefreshGuard;
  readonly logger?: Logger;
  /** Called when a refresh Plaid accepted could not be recorded (metrics). */
  readonly onRecordDropped?: () => void;
  readonly now?: () => Date;
}

export class RefreshService {
  private readonly now: () => Date;
  private readonly logger: Logger;

  constructor(private readonly deps: RefreshServiceDeps) {
    this.now = deps.now ?? (() => new Date());
    this.logger = deps.logger ?? silentLogger;
  }

  /** `givenArgs`: the product's arguments as the caller gave them (absent ones take their defaults). */
  refreshItem(
    caller: Caller,
    itemId: string,
    key: ItemProductKey,
    givenArgs: Readonly<Record<string, number | null | undefined>> = {},
  ): Promise<ItemRefreshReceipt> {
    return translated(async () => {
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
        // Plaid accepted a call for the Item, so it works: a stored error is cleared (healthy Items cost no write).
        await Promise.all([
          this.keepRecords([{ itemId, product: key, requestId: receipt.requestId, refreshedAt: requestedAt }]),
          health?.error ? this.keepHealth([{ itemId, error: null }]) : undefined,
        ]);
        return { requestId: receipt.requestId, requestedAt };
      });
      return { itemId, item, product: key, args, requestId: value.requestId, requestedAt: value.requestedAt, joinedInFlight: joined };
    });
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
        await this.keepBundleOutcome(receipt.requestId, requestedAt, receipt.results);
        return { requestId: receipt.requestId, requestedAt, results: receipt.results };
      });
      return { ...value, joinedInFlight: joined };
    });
  }

  /**
   * The bundle's answer for the vault's own Items (it may name Items linked elsewhere): a record for
   * each refreshed one, and each one's health. Never throws, as keepRecords.
   */
  private async keepBundleOutcome(requestId: string, refreshedAt: Date, results: readonly UserRefreshItemResult[]): Promise<void> {
    if (results.length === 0) return;
    let owned: Set<string>;
    try {
      owned = new Set((await this.deps.vault.getItems(results.map((r) => r.itemId))).map((item) => item.id));
    } catch (error) {
      this.dropped(error, results.length, requestId, 'user_financial_data');
      return;
    }
    const mine = results.filter((r) => owned.has(r.itemId));
    await Promise.all([
      this.keepRecords(mine.filter((r) => r.error === null).map((r) => ({ itemId: r.itemId, product: r.product, requestId, refreshedAt }))),
      this.keepHealth(mine.map((r): HealthObservation => ({ itemId: r.itemId, error: r.error }))),
    ]);
  }

  /** What a refresh answer says of its Items' health; never throws (see item-health.ts). */
  private keepHealth(observations: readonly HealthObservation[]): Promise<void> {
    return keepHealth(this.deps.vault, this.logger, observations, 'REFRESH');
  }

  /**
   * Records refreshes Plaid accepted. Never throws: Plaid said yes and billed it, so the caller must
   * hear yes; a record lost to a vault fault only means `lastRefreshes` is behind.
   */
  private async keepRecords(records: readonly ProductRefresh[]): Promise<void> {
    if (records.length === 0) return;
    try {
      // Issued together, so the vault writes them as one statement.
      await Promise.all(records.map((record) => this.deps.vault.recordRefresh(record)));
    } catch (error) {
      this.dropped(error, records.length, records[0]?.requestId, records[0]?.product);
    }
  }

  private dropped(error: unknown, items: number, requestId: string | undefined, product: string | undefined): void {
    this.deps.onRecordDropped?.();
    this.logger.warn({ err: error, requestId, items, product }, 'refresh accepted by Plaid but not recorded');
  }
}
