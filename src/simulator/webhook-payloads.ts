/**
 * What Plaid sends after a refresh, and what /sandbox/item/fire_webhook fires, as payloads in the
 * shapes of Plaid's webhook schemas (plaid-refresh-webhooks-openapi.yml). The simulator's own
 * knowledge: it shares nothing with the service's catalogue, as Plaid would not.
 *
 * Which webhooks a refresh leads to depends on the Item's test user (docs/simulator.md, "Webhooks").
 */
import { createHash } from 'node:crypto';
import type { SimError, SimErrorBody } from './error-bodies.js';
import { plaidId, type SimItem } from './state.js';

/** A webhook body before serialising: `webhook_type`, `webhook_code` and the schema's fields. */
export interface WebhookPayload {
  readonly webhook_type: string;
  readonly webhook_code: string;
  readonly [field: string]: unknown;
}

/** The simulator stands in for Sandbox: its tokens are `access-sandbox-…`. */
export const WEBHOOK_ENVIRONMENT = 'sandbox';

/** What an accepted refresh of an Item leads to, by the Item's test user. */
export interface RefreshOutcome {
  /** /transactions/refresh (and the bundle): new transactions, removed ones, or no change. */
  readonly transactions: 'new' | 'removed' | 'none';
  /** /identity/refresh: identity data changed. */
  readonly identityChanged: boolean;
  /** /cashflow_report/refresh: the report is ready, failed, or (quiet) its webhook never comes. */
  readonly cashflow: 'ready' | 'failed' | 'none';
  /** The refresh is accepted, then the extraction finds the login broken: ITEM / ERROR, and the Item stays in error. */
  readonly itemLoginRequired: boolean;
}

const GOOD: RefreshOutcome = { transactions: 'new', identityChanged: false, cashflow: 'ready', itemLoginRequired: false };

/** Simulator-only test users (like `sim_error_<CODE>`); every other user, `user_good` included, is GOOD. */
export const WEBHOOK_TEST_USERS: Readonly<Record<string, RefreshOutcome>> = Object.freeze({
  sim_webhook_removed: { ...GOOD, transactions: 'removed' },
  sim_webhook_quiet: { transactions: 'none', identityChanged: false, cashflow: 'none', itemLoginRequired: false },
  sim_webhook_item_error: { ...GOOD, itemLoginRequired: true },
  sim_webhook_identity: { ...GOOD, identityChanged: true },
  sim_webhook_cashflow_failed: { ...GOOD, cashflow: 'failed' },
});

export function refreshOutcome(item: SimItem): RefreshOutcome {
  return WEBHOOK_TEST_USERS[item.username] ?? GOOD;
}

/** Counts the fixtures report, fixed so tests can assert on them. */
export const FIXTURE_COUNTS = Object.freeze({
  newTransactions: 3,
  removedTransactions: 2,
  newInvestmentsTransactions: 2,
  newHoldings: 1,
  updatedHoldings: 2,
});

/** The error Plaid's cashflow webhook carries for `sim_webhook_cashflow_failed` (invented, as the payload is). */
export const CASHFLOW_FAILURE_CODE = 'INSTITUTION_NOT_RESPONDING';

/** The Item's n-th account id, stable per Item: the simulator keeps no accounts, but webhooks name some. */
export function accountId(item: SimItem, n: number): string {
  return plaidId(37, createHash('sha512').update(`${item.itemId}\naccount\n${n}`).digest());
}

/** A Plaid error as webhooks carry it: with `status`, without `request_id` (Plaid's PlaidError schema says so). */
export function webhookError(error: SimError): Omit<SimErrorBody, 'request_id' | 'causes'> {
  const { request_id: _requestId, causes: _causes, ...body } = error.body;
  return { ...body, status: error.status };
}

/** The fields every Item webhook starts with; `user_id` when the Item belongs to a Plaid user. */
function head(item: SimItem, webhookType: string, webhookCode: string) {
  return {
    webhook_type: webhookType,
    webhook_code: webhookCode,
    item_id: item.itemId,
    ...(item.userId ? { user_id: item.userId } : {}),
  };
}

const tail = { environment: WEBHOOK_ENVIRONMENT } as const;

// ---- one payload per Plaid schema -------------------------------------------------------------

export const payloads = {
  transactionsDefaultUpdate: (item: SimItem): WebhookPayload => ({
    ...head(item, 'TRANSACTIONS', 'DEFAULT_UPDATE'),
    error: null,
    new_transactions: FIXTURE_COUNTS.newTransactions,
    ...tail,
  }),
  transactionsRemoved: (item: SimItem): WebhookPayload => ({
    ...head(item, 'TRANSACTIONS', 'TRANSACTIONS_REMOVED'),
    removed_transactions: Array.from({ length: FIXTURE_COUNTS.removedTransactions }, () => plaidId(37)),
    error: null,
    ...tail,
  }),
  // Sent as if /transactions/sync had been called on the Item, which Plaid requires for it.
  syncUpdatesAvailable: (item: SimItem): WebhookPayload => ({
    ...head(item, 'TRANSACTIONS', 'SYNC_UPDATES_AVAILABLE'),
    initial_update_complete: true,
    historical_update_complete: true,
    ...tail,
  }),
  recurringTransactionsUpdate: (item: SimItem): WebhookPayload => ({
    ...head(item, 'TRANSACTIONS', 'RECURRING_TRANSACTIONS_UPDATE'),
    account_ids: [accountId(item, 0)],
    ...tail,
  }),
  identityDefaultUpdate: (item: SimItem): WebhookPayload => ({
    ...head(item, 'IDENTITY', 'DEFAULT_UPDATE'),
    account_ids_with_updated_identity: { [accountId(item, 0)]: ['PHONES', 'ADDRESSES'], [accountId(item, 1)]: ['EMAILS'] },
    error: null,
    ...tail,
  }),
  authDefaultUpdate: (item: SimItem): WebhookPayload => ({
    ...head(item, 'AUTH', 'DEFAULT_UPDATE'),
    account_ids_with_new_auth: [],
    account_ids_with_updated_auth: { [accountId(item, 0)]: ['ACCOUNT_NUMBER'] },
    error: null,
    ...tail,
  }),
  investmentsDefaultUpdate: (item: SimItem): WebhookPayload => ({
    ...head(item, 'INVESTMENTS_TRANSACTIONS', 'DEFAULT_UPDATE'),
    error: null,
    new_investments_transactions: FIXTURE_COUNTS.newInvestmentsTransactions,
    cancelled_investments_transactions: 0,
    ...tail,
  }),
  holdingsDefaultUpdate: (item: SimItem): WebhookPayload => ({
    ...head(item, 'HOLDINGS', 'DEFAULT_UPDATE'),
    error: null,
    new_holdings: FIXTURE_COUNTS.newHoldings,
    updated_holdings: FIXTURE_COUNTS.updatedHoldings,
    ...tail,
  }),
  liabilitiesDefaultUpdate: (item: SimItem): WebhookPayload => ({
    ...head(item, 'LIABILITIES', 'DEFAULT_UPDATE'),
    error: null,
    account_ids_with_new_liabilities: [],
    account_ids_with_updated_liabilities: { [accountId(item, 0)]: ['past_amount_due'] },
    ...tail,
  }),
  itemError: (item: SimItem, error: SimError): WebhookPayload => ({
    ...head(item, 'ITEM', 'ERROR'),
    error: webhookError(error),
    ...tail,
  }),
  webhookUpdateAcknowledged: (item: SimItem, url: string): WebhookPayload => ({
    ...head(item, 'ITEM', 'WEBHOOK_UPDATE_ACKNOWLEDGED'),
    new_webhook_url: url,
    error: null,
    ...tail,
  }),
  itemEvent: (item: SimItem, code: string, extra: Record<string, unknown> = {}): WebhookPayload => ({
    ...head(item, 'ITEM', code),
    ...extra,
    ...tail,
  }),
  /**
   * INVENTED: Plaid documents no payload for CASHFLOW_REPORT_READY (NOTES.md section 6), not even
   * its webhook_type. This shape is the simulator's guess, with `error` set when the report failed.
   */
  cashflowReportReady: (item: SimItem, error: SimError | null): WebhookPayload => ({
    ...head(item, 'CASHFLOW_REPORT', 'CASHFLOW_REPORT_READY'),
    error: error ? webhookError(error) : null,
    ...tail,
  }),
  assets: (item: SimItem, code: 'PRODUCT_READY' | 'ERROR', error: SimError | null): WebhookPayload => ({
    webhook_type: 'ASSETS',
    webhook_code: code,
    asset_report_id: `assets-sandbox-${createHash('sha256').update(item.itemId).digest('hex').slice(0, 32)}`,
    ...(item.userId ? { user_id: item.userId } : {}),
    ...(code === 'ERROR' ? { error: error ? webhookError(error) : null } : { report_type: 'FULL' }),
    ...tail,
  }),
};

// ---- what each refresh sends ------------------------------------------------------------------

function transactionsWebhooks(item: SimItem, outcome: RefreshOutcome): WebhookPayload[] {
  switch (outcome.transactions) {
    case 'new':
      return [payloads.transactionsDefaultUpdate(item), payloads.syncUpdatesAvailable(item)];
    case 'removed':
      return [payloads.transactionsRemoved(item), payloads.syncUpdatesAvailable(item)];
    case 'none':
      return [];
  }
}

/**
 * The webhooks an accepted Item refresh leads to, in the order they are sent; none when nothing
 * changed, as Plaid sends none then. Items whose outcome is an Item error get ITEM / ERROR instead
 * (the caller passes that error; see routes.ts).
 */
export function itemRefreshWebhooks(endpoint: string, item: SimItem, cashflowError: SimError | null): WebhookPayload[] {
  const outcome = refreshOutcome(item);
  switch (endpoint) {
    case '/transactions/refresh':
      return transactionsWebhooks(item, outcome);
    case '/identity/refresh':
      return outcome.identityChanged ? [payloads.identityDefaultUpdate(item)] : [];
    case '/cashflow_report/refresh':
      return outcome.cashflow === 'none' ? [] : [payloads.cashflowReportReady(item, outcome.cashflow === 'failed' ? cashflowError : null)];
    default:
      return [];
  }
}

/**
 * /user/financial_data/refresh, for one Item whose entry succeeded: its product webhooks. Plaid
 * documents none for the bundle; by inference each Item's (NOTES.md section 6), with `user_id`.
 */
export function bundleItemWebhooks(item: SimItem): WebhookPayload[] {
  const outcome = refreshOutcome(item);
  const sent = transactionsWebhooks(item, outcome);
  if (outcome.transactions !== 'none' && item.products.has('investments')) {
    sent.push(payloads.investmentsDefaultUpdate(item), payloads.holdingsDefaultUpdate(item));
  }
  if (outcome.transactions !== 'none' && item.products.has('liabilities')) sent.push(payloads.liabilitiesDefaultUpdate(item));
  return sent;
}

// ---- /sandbox/item/fire_webhook ---------------------------------------------------------------

/** One code /sandbox/item/fire_webhook can fire: its webhook types (the first is the default) and payload. */
interface Fireable {
  readonly types: readonly string[];
  /** The Item product the webhook type needs, else SANDBOX_PRODUCT_NOT_ENABLED; null: any Item. */
  readonly product: (webhookType: string) => string | null;
  readonly build: (item: SimItem, webhookType: string, error: (code: string) => SimError) => WebhookPayload;
}

const DEFAULT_UPDATE_PRODUCTS: Readonly<Record<string, string>> = {
  TRANSACTIONS: 'transactions',
  AUTH: 'auth',
  IDENTITY: 'identity',
  INVESTMENTS_TRANSACTIONS: 'investments',
  HOLDINGS: 'investments',
  LIABILITIES: 'liabilities',
};

const DEFAULT_UPDATE_BUILDERS: Readonly<Record<string, (item: SimItem) => WebhookPayload>> = {
  TRANSACTIONS: payloads.transactionsDefaultUpdate,
  AUTH: payloads.authDefaultUpdate,
  IDENTITY: payloads.identityDefaultUpdate,
  INVESTMENTS_TRANSACTIONS: payloads.investmentsDefaultUpdate,
  HOLDINGS: payloads.holdingsDefaultUpdate,
  LIABILITIES: payloads.liabilitiesDefaultUpdate,
};

const anyItem = () => null;

/**
 * The codes Plaid's spec lists for /sandbox/item/fire_webhook. SMS_MICRODEPOSITS_VERIFICATION and
 * AUTHORIZATION_GRANTED need Items the simulator cannot make (micro-deposits), so they are absent.
 */
export const FIREABLE: Readonly<Record<string, Fireable>> = Object.freeze({
  DEFAULT_UPDATE: {
    types: ['TRANSACTIONS', 'AUTH', 'IDENTITY', 'INVESTMENTS_TRANSACTIONS', 'LIABILITIES', 'HOLDINGS'],
    product: (type) => DEFAULT_UPDATE_PRODUCTS[type] ?? null,
    build: (item, type) => (DEFAULT_UPDATE_BUILDERS[type] ?? payloads.transactionsDefaultUpdate)(item),
  },
  SYNC_UPDATES_AVAILABLE: { types: ['TRANSACTIONS'], product: () => 'transactions', build: payloads.syncUpdatesAvailable },
  RECURRING_TRANSACTIONS_UPDATE: {
    types: ['TRANSACTIONS'],
    product: () => 'transactions',
    build: payloads.recurringTransactionsUpdate,
  },
  NEW_ACCOUNTS_AVAILABLE: {
    types: ['ITEM'],
    product: anyItem,
    build: (item) => payloads.itemEvent(item, 'NEW_ACCOUNTS_AVAILABLE', { error: null }),
  },
  LOGIN_REPAIRED: { types: ['ITEM'], product: anyItem, build: (item) => payloads.itemEvent(item, 'LOGIN_REPAIRED') },
  PENDING_DISCONNECT: {
    types: ['ITEM'],
    product: anyItem,
    build: (item) =>
      // Plaid's schema has the reason only: the webhook comes "7 days before" the disconnection.
      payloads.itemEvent(item, 'PENDING_DISCONNECT', { reason: 'INSTITUTION_MIGRATION' }),
  },
  USER_PERMISSION_REVOKED: {
    types: ['ITEM'],
    product: anyItem,
    build: (item, _type, error) =>
      payloads.itemEvent(item, 'USER_PERMISSION_REVOKED', { error: webhookError(error('USER_PERMISSION_REVOKED')) }),
  },
  USER_ACCOUNT_REVOKED: {
    types: ['ITEM'],
    product: anyItem,
    build: (item) => payloads.itemEvent(item, 'USER_ACCOUNT_REVOKED', { account_id: accountId(item, 0) }),
  },
  PRODUCT_READY: { types: ['ASSETS'], product: () => 'assets', build: (item) => payloads.assets(item, 'PRODUCT_READY', null) },
  ERROR: {
    types: ['ASSETS'],
    product: () => 'assets',
    build: (item, _type, error) => payloads.assets(item, 'ERROR', error('PRODUCT_NOT_READY')),
  },
});
