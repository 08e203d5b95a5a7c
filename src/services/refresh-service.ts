/**
 * The refresh use cases: find the viewer's Item in the vault, call Plaid, return a receipt or
 * throw a typed error. No GraphQL here; the resolvers in src/graphql/refresh call these.
 */
import type { PlaidClient } from '../plaid/client.js';
import type { PlaidResponseError } from '../plaid/errors.js';
import { CASHFLOW_DAYS } from '../plaid/schemas.js';
import { RefreshGuard, type GuardedEndpoint } from '../guard/refresh-guard.js';
import { MemoryQuotaLimiter } from '../guard/quota.js';
import type { TokenVault, VaultItem } from '../vault/vault.js';
import { InputValidationError, ItemNotFoundError, NoPlaidUserError } from './errors.js';
import { callPlaid } from './plaid-call.js';

export type ItemProduct = 'transactions' | 'identity' | 'cashflow_report';

export interface ItemRefreshReceipt {
  readonly itemId: string;
  /** The caller's Item as read for this refresh (the same query gave its access token). */
  readonly item: VaultItem;
  readonly product: ItemProduct;
  readonly requestId: string;
  readonly requestedAt: Date;
  readonly daysRequested: number | null;
  /** True when this caller joined a refresh already in flight: one Plaid call, one bill. */
  readonly joinedInFlight: boolean;
}

export interface UserRefreshReceipt {
  readonly requestId: string;
  readonly requestedAt: Date;
  readonly joinedInFlight: boolean;
  readonly results: readonly {
    readonly itemId: string;
    readonly product: string;
    readonly error: PlaidResponseError | null;
  }[];
}

export interface RefreshServiceDeps {
  readonly vault: TokenVault;
  readonly plaid: PlaidClient;
  /** Single flight and quotas; defaults to an in-memory guard with Plaid's limits. */
  readonly guard?: RefreshGuard;
  readonly now?: () => Date;
}

const ENDPOINTS: Readonly<Record<ItemProduct, GuardedEndpoint>> = {
  transactions: '/transactions/refresh',
  identity: '/identity/refresh',
  cashflow_report: '/cashflow_report/refresh',
};

const MAX_ID_LENGTH = 256;

export class RefreshService {
  private readonly now: () => Date;
  private readonly guard: RefreshGuard;

  constructor(private readonly deps: RefreshServiceDeps) {
    this.now = deps.now ?? (() => new Date());
    this.guard = deps.guard ?? new RefreshGuard(new MemoryQuotaLimiter());
  }

  async refreshItem(viewerId: string, itemId: string, product: ItemProduct, daysRequested?: number): Promise<ItemRefreshReceipt> {
    // Inputs first: a bad request never reaches the vault or Plaid.
    if (itemId.length === 0 || itemId.length > MAX_ID_LENGTH) {
      throw new InputValidationError('itemId', `must be 1 to ${MAX_ID_LENGTH} characters`);
    }
    const days = product === 'cashflow_report' ? validDays(daysRequested) : null;
    const found = await this.deps.vault.getItemForRefresh(viewerId, itemId);
    if (found === null) throw new ItemNotFoundError(itemId);
    const { item, accessToken } = found;
    const plaid = this.deps.plaid;
    // Checked per caller above (the vault answers only for the owner); shared from here on.
    const { value, joined } = await this.guard.run(ENDPOINTS[product], { scope: 'ITEM', id: itemId }, `${itemId}|${days ?? ''}`, async () => {
      const requestedAt = this.now();
      const receipt = await callPlaid(() =>
        product === 'transactions'
          ? plaid.refreshTransactions(accessToken)
          : product === 'identity'
            ? plaid.refreshIdentity(accessToken)
            : plaid.refreshCashflowReport(accessToken, days ?? CASHFLOW_DAYS.default),
      );
      await this.deps.vault.recordRefresh({ itemId, product, requestId: receipt.requestId, refreshedAt: requestedAt });
      return { requestId: receipt.requestId, requestedAt };
    });
    return { itemId, item, product, requestId: value.requestId, requestedAt: value.requestedAt, daysRequested: days, joinedInFlight: joined };
  }

  async refreshUser(viewerId: string): Promise<UserRefreshReceipt> {
    const userId = await this.deps.vault.getPlaidUserId(viewerId);
    if (userId === null) throw new NoPlaidUserError();
    const { value, joined } = await this.guard.run('/user/financial_data/refresh', { scope: 'USER', id: userId }, userId, async () => {
      const requestedAt = this.now();
      const receipt = await callPlaid(() => this.deps.plaid.refreshUserFinancialData(userId));
      const owned = new Set((await this.deps.vault.getItems(receipt.results.map((r) => r.itemId))).map((item) => item.id));
      // Issued together, so the vault writes them as one statement.
      await Promise.all(
        receipt.results
          .filter((result) => result.error === null && owned.has(result.itemId))
          .map((result) => this.deps.vault.recordRefresh({ itemId: result.itemId, product: result.product, requestId: receipt.requestId, refreshedAt: requestedAt })),
      );
      return { requestId: receipt.requestId, requestedAt, results: receipt.results };
    });
    return { ...value, joinedInFlight: joined };
  }
}

function validDays(days: number | undefined): number {
  const value = days ?? CASHFLOW_DAYS.default;
  if (!Number.isInteger(value) || value < CASHFLOW_DAYS.min || value > CASHFLOW_DAYS.max) {
    throw new InputValidationError('days', `must be a whole number from ${CASHFLOW_DAYS.min} to ${CASHFLOW_DAYS.max}, got ${value}`);
  }
  return value;
}
