/**
 * The one catalogue of Plaid's on-demand refresh products: what each one is at Plaid (endpoint,
 * request, response schema, the webhooks it leads to, the Link products an Item needs), and what
 * it is here (quota defaults and their variables, the GraphQL mutation and its arguments). Every
 * layer reads its facts from here, so adding a refresh endpoint is one entry plus its tests.
 *
 * Facts about Plaid come from ../shared/plaid (OpenAPI subset, NOTES.md sections 2, 4 and 6).
 * This module imports nothing of the service but the Plaid response schemas.
 */
import { z } from 'zod';
import { RefreshResponse, UserFinancialDataRefreshResponse } from '../plaid/schemas.js';

/** An integer argument of a refresh: its GraphQL name, Plaid's field, bounds and default. */
export interface IntArgument {
  readonly kind: 'Int';
  /** GraphQL argument name (`days`). */
  readonly name: string;
  /** Field of Plaid's request body (`days_requested`). */
  readonly plaidField: string;
  /** GraphQL field of the success echoing the value used (`daysRequested`). */
  readonly echoField: string;
  readonly min: number;
  readonly max: number;
  readonly default: number;
  readonly description: string;
}

/** A webhook Plaid may send after the refresh: `webhook_type` / `webhook_code`. */
export interface WebhookFact {
  readonly type: string;
  readonly code: string;
  /** What it says, as Plaid documents it; `assumed` marks what Plaid does not document. */
  readonly meaning: string;
  readonly assumed?: boolean;
}

/** Per-minute quota defaults and the variables that override them. */
export interface QuotaFact {
  /** Per Item, or per Plaid user for the bundle. */
  readonly perTarget: number;
  readonly perClient: number;
  readonly perTargetVariable: string;
  readonly perClientVariable: string;
  /** Where the default comes from. */
  readonly source: string;
}

interface ProductFacts<Key extends string, Endpoint extends string> {
  readonly key: Key;
  readonly endpoint: Endpoint;
  /** Whom one call is for: one Item (access token) or one Plaid user (the Financial Insights bundle). */
  readonly target: 'ITEM' | 'USER';
  readonly quota: QuotaFact;
  readonly webhooks: readonly WebhookFact[];
  /** Products an Item must be linked with for this refresh (Link's `products`). */
  readonly linkProducts: readonly string[];
  readonly graphql: { readonly field: string; readonly description: string };
}

export interface ItemRefreshProduct<Key extends string = string, Endpoint extends string = string> extends ProductFacts<Key, Endpoint> {
  readonly target: 'ITEM';
  readonly args: readonly IntArgument[];
  readonly response: typeof RefreshResponse;
}

export interface UserRefreshProduct<Key extends string = string, Endpoint extends string = string> extends ProductFacts<Key, Endpoint> {
  readonly target: 'USER';
  readonly response: typeof UserFinancialDataRefreshResponse;
}

const TRANSACTIONS_WEBHOOKS: readonly WebhookFact[] = [
  {
    type: 'TRANSACTIONS',
    code: 'SYNC_UPDATES_AVAILABLE',
    meaning: 'something was added, modified or removed (for /transactions/sync users)',
  },
  { type: 'TRANSACTIONS', code: 'DEFAULT_UPDATE', meaning: 'new transactions were found (`new_transactions`)' },
  { type: 'TRANSACTIONS', code: 'TRANSACTIONS_REMOVED', meaning: 'transactions were removed (`removed_transactions`)' },
];

const ITEM_ERROR_WEBHOOK: WebhookFact = { type: 'ITEM', code: 'ERROR', meaning: 'the extraction found an Item error (`error`)' };

export const ITEM_PRODUCTS = [
  {
    key: 'transactions',
    endpoint: '/transactions/refresh',
    target: 'ITEM',
    args: [],
    response: RefreshResponse,
    quota: {
      perTarget: 2,
      perClient: 100,
      perTargetVariable: 'QUOTA_TRANSACTIONS_PER_ITEM',
      perClientVariable: 'QUOTA_TRANSACTIONS_PER_CLIENT',
      source: "Plaid's documented limit: 2 per Item and 100 per client per minute",
    },
    webhooks: [...TRANSACTIONS_WEBHOOKS, ITEM_ERROR_WEBHOOK],
    linkProducts: ['transactions'],
    graphql: {
      field: 'refreshTransactions',
      description:
        'Asks Plaid for the newest transactions of one Item (/transactions/refresh). Billed per call by Plaid; limited to 2 per Item per minute.',
    },
  },
  {
    key: 'identity',
    endpoint: '/identity/refresh',
    target: 'ITEM',
    args: [],
    response: RefreshResponse,
    quota: {
      perTarget: 2,
      perClient: 100,
      perTargetVariable: 'QUOTA_IDENTITY_PER_ITEM',
      perClientVariable: 'QUOTA_IDENTITY_PER_CLIENT',
      source: "Plaid documents none; billed per call, so Transactions' budget",
    },
    webhooks: [
      {
        type: 'IDENTITY',
        code: 'DEFAULT_UPDATE',
        meaning: 'identity data changed (`account_ids_with_updated_identity`); a beta webhook at Plaid',
      },
      ITEM_ERROR_WEBHOOK,
    ],
    linkProducts: ['identity'],
    graphql: {
      field: 'refreshIdentity',
      description: 'Asks Plaid for fresh identity data of one Item (/identity/refresh). Billed per call by Plaid.',
    },
  },
  {
    key: 'cashflow_report',
    endpoint: '/cashflow_report/refresh',
    target: 'ITEM',
    args: [
      {
        kind: 'Int',
        name: 'days',
        plaidField: 'days_requested',
        echoField: 'daysRequested',
        min: 1,
        max: 730,
        default: 365,
        description: 'Days of history, 1 to 730 (Plaid: `days_requested`, default 365).',
      },
    ],
    response: RefreshResponse,
    quota: {
      perTarget: 2,
      perClient: 100,
      perTargetVariable: 'QUOTA_CASHFLOW_PER_ITEM',
      perClientVariable: 'QUOTA_CASHFLOW_PER_CLIENT',
      source: "Plaid documents none; Transactions' budget",
    },
    webhooks: [
      {
        type: 'CASHFLOW_REPORT',
        code: 'CASHFLOW_REPORT_READY',
        meaning: 'the report can be read with /cashflow_report/get, or it failed (`error`); Plaid documents no payload',
        assumed: true,
      },
      ITEM_ERROR_WEBHOOK,
    ],
    // Cash flow reports are built from the Item's transactions.
    linkProducts: ['transactions'],
    graphql: {
      field: 'refreshCashflowReport',
      description:
        'Refreshes the Cashflow Report data of one Item (/cashflow_report/refresh). `days` outside 1..730 answers InputValidationError and calls nothing.',
    },
  },
] as const satisfies readonly ItemRefreshProduct[];

export const USER_PRODUCT = {
  key: 'user_financial_data',
  endpoint: '/user/financial_data/refresh',
  target: 'USER',
  response: UserFinancialDataRefreshResponse,
  quota: {
    perTarget: 2,
    perClient: 100,
    perTargetVariable: 'QUOTA_USER_PER_USER',
    perClientVariable: 'QUOTA_USER_PER_CLIENT',
    source: 'Plaid documents none; it refreshes whole bundles, so the same budget per Plaid user',
  },
  // Plaid documents none for the bundle; by inference each Item's product webhooks (NOTES.md 6).
  webhooks: [
    ...TRANSACTIONS_WEBHOOKS,
    { type: 'INVESTMENTS_TRANSACTIONS', code: 'DEFAULT_UPDATE', meaning: 'new or cancelled investment transactions', assumed: true },
    { type: 'HOLDINGS', code: 'DEFAULT_UPDATE', meaning: 'new or updated holdings', assumed: true },
    { type: 'LIABILITIES', code: 'DEFAULT_UPDATE', meaning: 'new or updated liabilities', assumed: true },
    ITEM_ERROR_WEBHOOK,
  ],
  linkProducts: ['transactions'],
  graphql: {
    field: 'refreshUserFinancialData',
    description:
      "Refreshes every Item of the caller's Plaid user (/user/financial_data/refresh): Transactions, Investments and Liabilities.",
  },
} as const satisfies UserRefreshProduct;

export type ItemProduct = (typeof ITEM_PRODUCTS)[number];
export type ItemProductKey = ItemProduct['key'];
export type RefreshProduct = ItemProduct | typeof USER_PRODUCT;
export type RefreshProductKey = RefreshProduct['key'];
export type RefreshEndpoint = RefreshProduct['endpoint'];

/** Every refresh product, the bundle last. */
export const REFRESH_PRODUCTS: readonly RefreshProduct[] = [...ITEM_PRODUCTS, USER_PRODUCT];

/** What a new Item is linked with when the caller names no products: every refresh of this API then works on it. */
export const LINK_PRODUCTS: readonly string[] = Object.freeze([...new Set(REFRESH_PRODUCTS.flatMap((product) => product.linkProducts))]);

/** Whether an Item linked with `products` can be in the Financial Insights bundle, so its Link session needs the viewer's Plaid user. */
export function joinsUserBundle(products: readonly string[]): boolean {
  return USER_PRODUCT.linkProducts.every((product) => products.includes(product));
}

export function itemProduct(key: ItemProductKey): ItemProduct {
  const found = ITEM_PRODUCTS.find((product) => product.key === key);
  if (!found) throw new Error(`unknown refresh product ${key}`);
  return found;
}

/** Argument values of one refresh, by GraphQL name, defaults applied. */
export type RefreshArgs = Readonly<Record<string, number>>;

/** The arguments with defaults applied, or why one is not acceptable. */
export type ResolvedArgs =
  { readonly ok: true; readonly args: RefreshArgs } | { readonly ok: false; readonly field: string; readonly reason: string };

/**
 * The product's arguments with their defaults, or the first problem: the one place they are
 * validated (the GraphQL layer, the client and the simulator's Plaid checks aside).
 */
export function resolveArgs(product: ItemProduct, given: Readonly<Record<string, number | null | undefined>>): ResolvedArgs {
  const values: Record<string, number> = {};
  for (const arg of product.args as readonly IntArgument[]) {
    const value = given[arg.name] ?? arg.default;
    const schema = z.number().int().min(arg.min).max(arg.max);
    if (!schema.safeParse(value).success) {
      return { ok: false, field: arg.name, reason: `must be a whole number from ${arg.min} to ${arg.max}, got ${value}` };
    }
    values[arg.name] = value;
  }
  return { ok: true, args: values };
}

/** Plaid's request body for an Item refresh. */
export function itemRequestBody(product: ItemProduct, accessToken: string, args: RefreshArgs): Record<string, unknown> {
  const body: Record<string, unknown> = { access_token: accessToken };
  for (const arg of product.args as readonly IntArgument[]) body[arg.plaidField] = args[arg.name] ?? arg.default;
  return body;
}

/** A stable key for the argument values (single flight merges only identical refreshes). */
export function argsKey(args: RefreshArgs): string {
  return Object.keys(args)
    .sort()
    .map((name) => `${name}=${args[name]}`)
    .join('&');
}
