/**
 * The Plaid endpoints the simulator answers: the four refreshes and the Sandbox/Link helpers a
 * client needs to make Items. Each route declares its fields (checked before it runs, as Plaid does)
 * and resolves who the call is about, so faults and the request log can match on Item or user.
 */
import { plaidError, resultError, type SimError, type SimErrorBody } from './error-bodies.js';
import { INSTITUTIONS } from './institutions.js';
import type { SimItem, SimUser, SimulatorState } from './state.js';
import type { WebhookOutbox } from './webhook-delivery.js';
import { bundleItemWebhooks, CASHFLOW_FAILURE_CODE, itemRefreshWebhooks, payloads, refreshOutcome } from './webhook-payloads.js';

type FieldType = 'string' | 'integer' | 'boolean' | 'string[]' | 'object';

export interface SimulatorRules {
  /** Plaid's documented /transactions/refresh limits, per minute. */
  readonly transactionsRefreshPerItem: number;
  readonly transactionsRefreshPerClient: number;
  /** Client-level products the Plaid account is not approved for (answered with INVALID_PRODUCT). */
  readonly deniedProducts: ReadonlySet<string>;
}

export interface RouteContext {
  readonly body: Record<string, unknown>;
  readonly requestId: string;
  readonly state: SimulatorState;
  readonly rules: SimulatorRules;
  readonly item: SimItem | null;
  readonly user: SimUser | null;
  /** Where the webhooks a call leads to are queued (webhook-delivery.ts). */
  readonly webhooks: WebhookOutbox;
}

export interface Route {
  readonly fields: Readonly<Record<string, FieldType>>;
  readonly required: readonly string[];
  /** Value checks beyond types (ranges), run with the field checks, before anything is looked up. */
  readonly check?: (body: Record<string, unknown>, requestId: string) => SimError | null;
  /** Finds the Item or user named by the body; an error here is Plaid's answer. */
  readonly resolve?: (
    body: Record<string, unknown>,
    state: SimulatorState,
    requestId: string,
  ) => { item?: SimItem; user?: SimUser } | SimError;
  readonly handle: (ctx: RouteContext) => Record<string, unknown> | SimError;
}

/** `days_requested` of /cashflow_report/refresh, as Plaid's OpenAPI has it. */
const DAYS_REQUESTED = { min: 1, max: 730 } as const;

export function isSimError(value: unknown): value is SimError {
  return typeof value === 'object' && value !== null && 'status' in value && 'body' in value;
}

/** Plaid's own test products; the simulator accepts these in `initial_products`. */
const KNOWN_PRODUCTS = new Set([
  'assets',
  'auth',
  'balance',
  'identity',
  'investments',
  'liabilities',
  'transactions',
  'statements',
  'income_verification',
  'signal',
  'transfer',
  'recurring_transactions',
]);

const ACCESS_TOKEN_FORMAT = /^access-(sandbox|production)-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export function resolveAccessToken(body: Record<string, unknown>, state: SimulatorState, requestId: string) {
  const token = body.access_token as string;
  if (!ACCESS_TOKEN_FORMAT.test(token)) {
    return plaidError('INVALID_ACCESS_TOKEN', requestId, {
      error_message: 'provided access token is in an invalid format. expected format: access-<environment>-<identifier>',
    });
  }
  const item = state.itemByAccessToken(token);
  if (!item) {
    return plaidError('INVALID_ACCESS_TOKEN', requestId, {
      error_message: 'could not find matching access token; it may have been revoked or belong to another environment',
    });
  }
  return { item };
}

/** Errors an Item answers to any refresh, in the order Plaid would find them. */
function itemRefreshError(item: SimItem, product: string, requestId: string): SimError | null {
  const forced = /^sim_error_([A-Z_]+)$/.exec(item.username)?.[1];
  if (forced) return plaidError(forced, requestId);
  const institution = INSTITUTIONS.get(item.institutionId);
  if (institution?.refreshError) return plaidError(institution.refreshError, requestId);
  if (item.loginRequired) return loginRequiredError(item, requestId);
  if (!item.products.has(product)) {
    return plaidError('PRODUCT_NOT_ENABLED', requestId, {
      error_message: `the following products are not enabled for this item: ["${product}"]`,
    });
  }
  if (institution?.nonDepositoryOnly && product === 'transactions') {
    return plaidError('PRODUCTS_NOT_SUPPORTED', requestId);
  }
  return null;
}

/** ITEM_LOGIN_REQUIRED as the Item's institution gives it: OAuth ones with a reason. */
function loginRequiredError(item: SimItem, requestId: string): SimError {
  return plaidError('ITEM_LOGIN_REQUIRED', requestId, {
    error_code_reason: INSTITUTIONS.get(item.institutionId)?.oauth ? 'OAUTH_INVALID_TOKEN' : null,
  });
}

function deniedProduct(ctx: RouteContext, product: string): SimError | null {
  if (!ctx.rules.deniedProducts.has(product)) return null;
  return plaidError('INVALID_PRODUCT', ctx.requestId, {
    error_message: `client is not authorized to access the following products: ["${product}"]`,
  });
}

function itemRefresh(endpoint: string, product: string, clientProduct: string): Route['handle'] {
  return (ctx) => {
    const item = ctx.item as SimItem;
    const error = deniedProduct(ctx, clientProduct) ?? itemRefreshError(item, product, ctx.requestId);
    if (error) return error;
    afterAcceptedRefresh(ctx, item, itemRefreshWebhooks(endpoint, item, plaidError(CASHFLOW_FAILURE_CODE, ctx.requestId)));
    return { request_id: ctx.requestId };
  };
}

// ---- webhooks: what an accepted refresh leads to (webhook-payloads.ts has the payloads) ----------

/**
 * Plaid answers an Item error it already knows synchronously, and sends no webhook for that call;
 * an error the refresh's extraction finds comes later as ITEM / ERROR, and the Item stays in it.
 */
function afterAcceptedRefresh(ctx: RouteContext, item: SimItem, webhooks: ReturnType<typeof itemRefreshWebhooks>): void {
  if (refreshOutcome(item).itemLoginRequired) {
    item.loginRequired = true;
    ctx.webhooks.send(item, [payloads.itemError(item, loginRequiredError(item, ctx.requestId))]);
    return;
  }
  ctx.webhooks.send(item, webhooks);
}

/** A webhook URL as Plaid takes it: an absolute http(s) URL. */
export function invalidWebhookUrl(value: unknown, requestId: string): SimError | null {
  if (value === undefined || value === null) return null;
  const url = typeof value === 'string' && URL.canParse(value) ? new URL(value) : null;
  if (url && (url.protocol === 'https:' || url.protocol === 'http:')) return null;
  return plaidError('INVALID_FIELD', requestId, { error_message: 'webhook must be a valid http or https URL' });
}

/** The Item as /item/get (and /item/webhook/update) describe it. */
export function itemView(item: SimItem, requestId: string): Record<string, unknown> {
  const institution = INSTITUTIONS.get(item.institutionId);
  const error = itemRefreshError(item, [...item.products][0] ?? 'transactions', requestId);
  return {
    item_id: item.itemId,
    institution_id: item.institutionId,
    institution_name: institution?.name ?? null,
    products: [...item.products],
    billed_products: [...item.products],
    available_products: [],
    consented_products: [...item.products],
    webhook: item.webhook ?? '',
    error: error && error.body.error_type === 'ITEM_ERROR' ? resultError(error) : null,
    update_type: 'background',
    auth_method: null,
  };
}

// ---- end of webhooks -----------------------------------------------------------------------------

export const ROUTES: Readonly<Record<string, Route>> = {
  '/transactions/refresh': {
    fields: { access_token: 'string' },
    required: ['access_token'],
    resolve: resolveAccessToken,
    handle: (ctx) => {
      const item = ctx.item as SimItem;
      // Plaid's documented limits, 2 per Item and 100 per client per minute, both TRANSACTIONS_REFRESH_LIMIT.
      const admitted = ctx.state.takeFromWindows([
        [`item:${item.itemId}:/transactions/refresh`, ctx.rules.transactionsRefreshPerItem],
        ['client:/transactions/refresh', ctx.rules.transactionsRefreshPerClient],
      ]);
      if (admitted !== true) {
        return plaidError('TRANSACTIONS_REFRESH_LIMIT', ctx.requestId, {
          error_message: admitted.startsWith('client:')
            ? 'rate limit exceeded for attempts to access "transactions/refresh". please try again later'
            : 'rate limit exceeded for attempts to access this item. please try again later',
        });
      }
      return itemRefresh('/transactions/refresh', 'transactions', 'transactions_refresh')(ctx);
    },
  },
  '/identity/refresh': {
    fields: { access_token: 'string' },
    required: ['access_token'],
    resolve: resolveAccessToken,
    handle: itemRefresh('/identity/refresh', 'identity', 'identity_refresh'),
  },
  '/cashflow_report/refresh': {
    fields: { access_token: 'string', days_requested: 'integer' },
    required: ['access_token', 'days_requested'],
    check: (body, requestId) => {
      const days = body.days_requested as number;
      if (days >= DAYS_REQUESTED.min && days <= DAYS_REQUESTED.max) return null;
      return plaidError('INVALID_FIELD', requestId, {
        error_message: `days_requested must be an integer between ${DAYS_REQUESTED.min} and ${DAYS_REQUESTED.max}`,
      });
    },
    resolve: resolveAccessToken,
    // Cashflow Report is built on the Item's transactions data.
    handle: itemRefresh('/cashflow_report/refresh', 'transactions', 'cashflow_report'),
  },
  '/user/financial_data/refresh': {
    fields: { user_id: 'string' },
    required: ['user_id'],
    resolve: (body, state, requestId) => {
      const userId = body.user_id as string;
      if (!userId.startsWith('usr_')) return plaidError('INVALID_USER_ID', requestId);
      const user = state.users.get(userId);
      return user ? { user } : plaidError('USER_NOT_FOUND', requestId);
    },
    handle: (ctx) => {
      const user = ctx.user as SimUser;
      const denied = deniedProduct(ctx, 'financial_insights');
      if (denied) return denied;
      const results = user.itemIds.map((itemId) => {
        const item = ctx.state.items.get(itemId) as SimItem;
        const error = itemRefreshError(item, 'transactions', ctx.requestId);
        // Successful entries leave `error` out, as in Plaid's own example.
        const entry: { item_id: string; product: string; error?: SimErrorBody } = { item_id: itemId, product: 'transactions' };
        if (error) entry.error = resultError(error);
        else afterAcceptedRefresh(ctx, item, bundleItemWebhooks(item));
        return entry;
      });
      return { request_id: ctx.requestId, user_id: user.userId, results };
    },
  },
  '/sandbox/public_token/create': {
    fields: { institution_id: 'string', initial_products: 'string[]', options: 'object', user_id: 'string', user_token: 'string' },
    required: ['institution_id', 'initial_products'],
    handle: (ctx) => {
      const institution = INSTITUTIONS.get(ctx.body.institution_id as string);
      if (!institution) return plaidError('INVALID_INSTITUTION', ctx.requestId);
      const products = ctx.body.initial_products as string[];
      const unknown = products.filter((p) => !KNOWN_PRODUCTS.has(p));
      if (products.length === 0 || unknown.length > 0) {
        return plaidError('INVALID_FIELD', ctx.requestId, {
          error_message: products.length === 0 ? 'initial_products must not be empty' : `unknown products: ${unknown.join(', ')}`,
        });
      }
      const options = (ctx.body.options ?? {}) as Record<string, unknown>;
      const username = typeof options.override_username === 'string' ? options.override_username : 'user_good';
      const userId = typeof ctx.body.user_id === 'string' ? ctx.body.user_id : null;
      if (userId !== null && !ctx.state.users.has(userId)) return plaidError('USER_NOT_FOUND', ctx.requestId);
      const badWebhook = invalidWebhookUrl(options.webhook, ctx.requestId);
      if (badWebhook) return badWebhook;
      const publicToken = ctx.state.createPublicToken({
        institutionId: institution.id,
        products: new Set(products),
        username,
        userId,
        loginRequired: false,
        webhook: typeof options.webhook === 'string' ? options.webhook : null,
      });
      return { public_token: publicToken, request_id: ctx.requestId };
    },
  },
  '/item/public_token/exchange': {
    fields: { public_token: 'string' },
    required: ['public_token'],
    handle: (ctx) => {
      const token = ctx.body.public_token as string;
      // After update mode (see LINK_ROUTES) the public token names an existing Item.
      const item = ctx.state.exchangePublicToken(token) ?? ctx.state.exchangeUpdatePublicToken(token);
      if (!item) return plaidError('INVALID_PUBLIC_TOKEN', ctx.requestId);
      return { access_token: item.accessToken, item_id: item.itemId, request_id: ctx.requestId };
    },
  },
  '/item/get': {
    fields: { access_token: 'string' },
    required: ['access_token'],
    resolve: resolveAccessToken,
    handle: (ctx) => ({ item: itemView(ctx.item as SimItem, ctx.requestId), request_id: ctx.requestId }),
  },
  '/item/remove': {
    fields: { access_token: 'string', reason_code: 'string', reason_note: 'string' },
    required: ['access_token'],
    resolve: resolveAccessToken,
    handle: (ctx) => {
      ctx.state.removeItem(ctx.item as SimItem);
      return { request_id: ctx.requestId };
    },
  },
  '/sandbox/item/reset_login': {
    fields: { access_token: 'string' },
    required: ['access_token'],
    resolve: resolveAccessToken,
    handle: (ctx) => {
      const item = ctx.item as SimItem;
      item.loginRequired = true;
      // Plaid: "An ITEM_LOGIN_REQUIRED webhook will also be fired", i.e. ITEM / ERROR, to the Item's URL.
      ctx.webhooks.send(item, [payloads.itemError(item, loginRequiredError(item, ctx.requestId))]);
      return { reset_login: true, request_id: ctx.requestId };
    },
  },
  '/user/create': {
    fields: { client_user_id: 'string', identity: 'object', with_upgraded_user: 'boolean', end_customer: 'string' },
    required: ['client_user_id'],
    handle: (ctx) => {
      const clientUserId = ctx.body.client_user_id as string;
      if (clientUserId.length > 128) {
        return plaidError('INVALID_FIELD', ctx.requestId, { error_message: 'client_user_id must be at most 128 characters' });
      }
      const user = ctx.state.createUser(clientUserId);
      return { user_id: user.userId, request_id: ctx.requestId };
    },
  },
  ...linkRoutes(),
};

/** Plaid's request checks, in Plaid's order: unknown fields, missing fields, then field types. */
export function validateFields(route: Route, body: Record<string, unknown>, requestId: string): SimError | null {
  const unknown = Object.keys(body).filter((k) => k !== 'client_id' && k !== 'secret' && !(k in route.fields));
  if (unknown.length > 0) {
    return plaidError('UNKNOWN_FIELDS', requestId, {
      error_message: `the following fields are not recognized by this endpoint: ${unknown.join(', ')}`,
    });
  }
  const missing = route.required.filter((k) => body[k] === undefined || body[k] === null);
  if (missing.length > 0) {
    return plaidError('MISSING_FIELDS', requestId, {
      error_message: `the following required fields are missing: ${missing.join(', ')}`,
    });
  }
  for (const [name, type] of Object.entries(route.fields)) {
    const value = body[name];
    if (value === undefined || value === null) continue;
    const ok =
      type === 'string'
        ? typeof value === 'string' && value.length > 0
        : type === 'integer'
          ? Number.isInteger(value)
          : type === 'boolean'
            ? typeof value === 'boolean'
            : type === 'string[]'
              ? Array.isArray(value) && value.every((v) => typeof v === 'string')
              : typeof value === 'object' && !Array.isArray(value);
    if (!ok) {
      return plaidError('INVALID_FIELD', requestId, { error_message: `${name} must be of type ${type}` });
    }
  }
  return route.check?.(body, requestId) ?? null;
}

// ---- Link tokens (l14: createLinkToken) ------------------------------------------------------
// /link/token/create as Plaid checks it (plaid-node 47's LinkTokenCreateRequest): `client_name`,
// `language`, `country_codes`, the user (`user.client_user_id`, or a `user_id` from /user/create),
// and `products` unless `access_token` opens update mode; `webhook` optional. Link itself is the
// control call POST /simulator/link/complete (server.ts).

/** Link's languages and countries, and the products `products` takes (plaid-node 47's enums; `balance` is refused there). */
const LINK_LANGUAGES = new Set(['da', 'nl', 'en', 'et', 'fr', 'de', 'hi', 'it', 'lv', 'lt', 'no', 'pl', 'pt', 'ro', 'es', 'sv', 'vi']);
const LINK_COUNTRIES = new Set([
  'US',
  'GB',
  'ES',
  'NL',
  'FR',
  'IE',
  'CA',
  'DE',
  'IT',
  'PL',
  'DK',
  'NO',
  'SE',
  'EE',
  'LT',
  'LV',
  'PT',
  'BE',
  'AT',
  'FI',
]);
const LINK_PRODUCTS = new Set([
  ...KNOWN_PRODUCTS,
  'balance_plus',
  'beacon',
  'identity_match',
  'investments_auth',
  'payment_initiation',
  'identity_verification',
  'credit_details',
  'income',
  'standing_orders',
  'employment',
  'transactions_refresh',
  'processor_payments',
  'processor_identity',
  'profile',
  'cra_base_report',
  'cra_income_insights',
  'cra_partner_insights',
  'cra_network_insights',
  'cra_cashflow_insights',
  'cra_monitoring',
  'cra_lend_score',
  'cra_plaid_credit_score',
  'cra_qualify',
  'cra_home_lending',
  'layer',
  'pay_by_bank',
  'protect_linked_bank',
  'protect_transactions',
]);
LINK_PRODUCTS.delete('balance');

function invalidField(requestId: string, message: string): SimError {
  return plaidError('INVALID_FIELD', requestId, { error_message: message });
}

function checkLinkTokenRequest(body: Record<string, unknown>, requestId: string): SimError | null {
  const user = body.user as Record<string, unknown> | undefined;
  if (user === undefined && body.user_id === undefined) {
    return plaidError('MISSING_FIELDS', requestId, { error_message: 'the following required fields are missing: user.client_user_id' });
  }
  if (user !== undefined) {
    const clientUserId = user.client_user_id;
    if (clientUserId === undefined || clientUserId === null) {
      return plaidError('MISSING_FIELDS', requestId, { error_message: 'the following required fields are missing: user.client_user_id' });
    }
    if (typeof clientUserId !== 'string' || clientUserId.trim() === '')
      return invalidField(requestId, 'user.client_user_id must be a non-empty string');
  }
  if (!LINK_LANGUAGES.has(body.language as string))
    return invalidField(requestId, `language must be one of ${[...LINK_LANGUAGES].join(', ')}`);
  const countries = body.country_codes as string[];
  if (countries.length === 0 || countries.some((code) => !LINK_COUNTRIES.has(code))) {
    return invalidField(requestId, 'country_codes must be a non-empty list of supported country codes');
  }
  const products = body.products as string[] | undefined;
  if (body.access_token === undefined) {
    if (products === undefined || products === null) {
      return plaidError('MISSING_FIELDS', requestId, { error_message: 'the following required fields are missing: products' });
    }
    if (products.length === 0) return invalidField(requestId, 'products must contain at least one product');
  }
  const unknown = (products ?? []).filter((product) => !LINK_PRODUCTS.has(product));
  if (unknown.length > 0) return invalidField(requestId, `invalid products: ${unknown.join(', ')}`);
  if (body.webhook !== undefined && !/^https?:\/\/[^\s/]+/.test(body.webhook as string))
    return invalidField(requestId, 'webhook must be a valid URL');
  return null;
}

function linkRoutes(): Readonly<Record<string, Route>> {
  return {
    '/link/token/create': {
      fields: {
        client_name: 'string',
        language: 'string',
        country_codes: 'string[]',
        user: 'object',
        user_id: 'string',
        products: 'string[]',
        required_if_supported_products: 'string[]',
        optional_products: 'string[]',
        additional_consented_products: 'string[]',
        webhook: 'string',
        access_token: 'string',
        redirect_uri: 'string',
        android_package_name: 'string',
        link_customization_name: 'string',
        account_filters: 'object',
      },
      required: ['client_name', 'language', 'country_codes'],
      check: checkLinkTokenRequest,
      resolve: (body, state, requestId) => {
        const found: { item?: SimItem; user?: SimUser } = {};
        if (typeof body.access_token === 'string') {
          const resolved = resolveAccessToken(body, state, requestId);
          if (isSimError(resolved)) return resolved;
          found.item = resolved.item;
        }
        if (typeof body.user_id === 'string') {
          if (!body.user_id.startsWith('usr_')) return plaidError('INVALID_USER_ID', requestId);
          const user = state.users.get(body.user_id);
          if (!user) return plaidError('USER_NOT_FOUND', requestId);
          found.user = user;
        }
        return found;
      },
      handle: (ctx) => {
        const user = ctx.body.user as { client_user_id?: string } | undefined;
        const token = ctx.state.createLinkToken({
          clientUserId: user?.client_user_id ?? ctx.user?.clientUserId ?? '',
          // Update mode keeps the Item's own user and webhook, as at Plaid.
          userId: ctx.item ? null : (ctx.user?.userId ?? null),
          products: ctx.item ? [] : (ctx.body.products as string[]),
          webhookUrl: ctx.item ? null : ((ctx.body.webhook as string | undefined) ?? null),
          itemId: ctx.item?.itemId ?? null,
        });
        return { link_token: token.linkToken, expiration: new Date(token.expiresAt).toISOString(), request_id: ctx.requestId };
      },
    },
  };
}
