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

export type { UserRefreshItemResult } from '../plaid/client.js';
import type { ProductRefresh, TokenVault, VaultItem } from '../vault/vault.js';
import type { Caller } from './caller.js';
import { InputValidationError, ItemNotFoundError, NoPlaidUserError } from './errors.js';
import { requireId } from './ids.js';
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
      const { item, accessToken } = found;
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
        const receipt = await this.deps.plaid.refreshItem(product, accessToken, args, { deadline: caller.deadline, beforeResend });
        await this.keepRecords([{ itemId, product: key, requestId: receipt.requestId, refreshedAt: requestedAt }]);
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
        await this.keepRecords(
          receipt.results
            .filter((result) => result.error === null)
            .map((result) => ({ itemId: result.itemId, product: result.product, requestId: receipt.requestId, refreshedAt: requestedAt })),
          { onlyOwnedItems: true },
        );
        return { requestId: receipt.requestId, requestedAt, results: receipt.results };
      });
      return { ...value, joinedInFlight: joined };
    });
  }

  /**
   * Records refreshes Plaid accepted. Never throws: Plaid said yes and billed it, so the caller must
   * hear yes; a record lost to a vault fault only means `lastRefreshes` is behind.
   */
  private async keepRecords(records: readonly ProductRefresh[], options: { onlyOwnedItems?: boolean } = {}): Promise<void> {
    if (records.length === 0) return;
    try {
      let kept = records;
      if (options.onlyOwnedItems) {
        // The bundle may name Items linked elsewhere; only the vault's own get a record.
        const owned = new Set((await this.deps.vault.getItems(records.map((r) => r.itemId))).map((item) => item.id));
        kept = records.filter((r) => owned.has(r.itemId));
      }
      // Issued together, so the vault writes them as one statement.
      await Promise.all(kept.map((record) => this.deps.vault.recordRefresh(record)));
    } catch (error) {
      this.deps.onRecordDropped?.();
      this.logger.warn(
        { err: error, requestId: records[0]?.requestId, items: records.length, product: records[0]?.product },
        'refresh accepted by Plaid but not recorded',
      );
    }
  }
}
