/**
 * The Plaid client: undici over one keep-alive pool per Plaid origin, zod on every answer, typed
 * errors, and the retry loop driven by `decideRetry`.
 */
import { Pool, request, type Dispatcher } from 'undici';
import { USER_PRODUCT, itemRequestBody, resolveArgs, type ItemProduct } from '../catalogue/refresh-products.js';
import type { z } from 'zod';
import {
  PlaidMalformedResponseError,
  PlaidNonJsonResponseError,
  PlaidResponseError,
  plaidErrorData,
  plaidErrorFromResponse,
  transportErrorFrom,
  type PlaidClientError,
  type PlaidErrorData,
} from './errors.js';
import { DEFAULT_RETRY_POLICY, decideRetry, type RetryDecision, type RetryPolicy } from './retry.js';
import { createScrubber } from '../util/scrub.js';
import { settlesWithin } from '../util/settles-within.js';
import {
  ItemGetResponse,
  ItemRemoveResponse,
  LinkTokenCreateResponse,
  ItemWebhookUpdateResponse,
  PLAID_VERSION,
  PlaidErrorBody,
  PublicTokenExchangeResponse,
  SandboxItemResetLoginResponse,
  SandboxPublicTokenCreateResponse,
  UserCreateResponse,
  WebhookVerificationKeyGetResponse,
  type WebhookVerificationKey,
} from './schemas.js';

export const PLAID_ENVIRONMENTS = Object.freeze({
  sandbox: 'https://sandbox.plaid.com',
  production: 'https://production.plaid.com',
});
export type PlaidEnvironment = keyof typeof PLAID_ENVIRONMENTS;

/** `sandbox` / `production` -> Plaid's host; anything else must be an http(s) URL (the simulator). */
export function resolvePlaidBaseUrl(environmentOrUrl: string): string {
  if (Object.hasOwn(PLAID_ENVIRONMENTS, environmentOrUrl)) {
    return PLAID_ENVIRONMENTS[environmentOrUrl as PlaidEnvironment];
  }
  const url = new URL(environmentOrUrl);
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`not an http(s) URL: ${environmentOrUrl}`);
  return url.toString().replace(/\/+$/, '');
}

export const DEFAULT_TIMEOUT_MS = 90_000;

/** One attempt of one call, for logs and metrics. Holds no request body and no credentials. */
export interface PlaidAttemptEvent {
  readonly endpoint: string;
  readonly attempt: number;
  readonly durationMs: number;
  /** HTTP status, or null when no answer came. */
  readonly status: number | null;
  readonly requestId: string | null;
  readonly errorCode: string | null;
  readonly error: PlaidClientError | null;
  /** What the retry policy decided after a failure. */
  readonly decision: RetryDecision | null;
}

export interface PlaidClientOptions {
  /** Plaid's host or the simulator's URL; see `resolvePlaidBaseUrl`. */
  readonly baseUrl: string;
  readonly clientId: string;
  readonly secret: string;
  /** More exact values to scrub from Plaid's error answers (JWT secret, encryption key); `secret` always is. */
  readonly scrubSecrets?: readonly (string | null | undefined)[];
  readonly timeoutMs?: number;
  readonly retry?: Partial<RetryPolicy>;
  /** Injected transport (tests swap it). Without it the client builds one keep-alive Pool and owns it. */
  readonly dispatcher?: Dispatcher;
  /** Connections of the owned pool; null = no limit, so slow refreshes never queue behind each other. */
  readonly maxConnections?: number | null;
  readonly random?: () => number;
  readonly sleep?: (ms: number) => Promise<void>;
  readonly onAttempt?: (event: PlaidAttemptEvent) => void;
}

/** What the single-Item refreshes return. */
export interface RefreshReceipt {
  readonly requestId: string;
}

/** One Item of the bundle: refreshed (`error: null`), or Plaid's error for it, as data. */
export interface UserRefreshItemResult {
  readonly itemId: string;
  readonly product: string;
  readonly error: PlaidErrorData | null;
}

/** What /user/financial_data/refresh answered: one result per Item of the Plaid user. */
export interface UserRefreshAnswer {
  readonly requestId: string;
  readonly userId: string | null;
  readonly results: readonly UserRefreshItemResult[];
}

/** What /link/token/create is asked for: a Link session for a new Item (`products`) or for update mode (`accessToken`). */
export interface LinkTokenRequest {
  /** The application's name as Link shows it (Plaid: at most 30 characters). */
  readonly clientName: string;
  readonly language: string;
  readonly countryCodes: readonly string[];
  /** Plaid's `user.client_user_id`: the viewer. */
  readonly clientUserId: string;
  /** The new Item's products; absent in update mode. */
  readonly products?: readonly string[];
  /** Update mode: the Item to repair. Sent to Plaid only, never returned. */
  readonly accessToken?: string;
  /** The Plaid user (/user/create) the new Item joins. */
  readonly userId?: string;
  /** Where Plaid sends the new Item's webhooks (no effect in update mode, as at Plaid). */
  readonly webhook?: string;
  /** OAuth institutions send the user back here. */
  readonly redirectUri?: string;
}

export const USER_AGENT = 'plaid-refresh-graphql/0.1';

/** Per-call options of the billed refreshes. */
export interface CallOptions {
  /** Epoch ms: no attempt runs past it, and no re-send starts that could not finish by it. */
  readonly deadline?: number;
  /** Asked before a re-send of a call that reached Plaid (each one spends Plaid's quota); false: do not re-send. */
  readonly beforeResend?: () => Promise<boolean>;
}

interface PostOptions extends CallOptions {
  readonly readOnly?: boolean;
  readonly billed?: boolean;
}

export class PlaidClient {
  readonly baseUrl: string;
  readonly timeoutMs: number;
  readonly retryPolicy: RetryPolicy;
  private readonly origin: string;
  private readonly basePath: string;
  private readonly dispatcher: Dispatcher;
  private readonly ownsDispatcher: boolean;
  private readonly headers: Record<string, string>;
  private readonly random: () => number;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly onAttempt: ((event: PlaidAttemptEvent) => void) | undefined;
  /**
   * Plaid's error text travels on to GraphQL clients, logs and other replicas (through Redis), and
   * a Plaid that echoes the request (a proxy, a bug) would put credentials in it: so every error
   * object is scrubbed like a log line where it is built, here. Success bodies are not touched.
   */
  private readonly scrub: (value: unknown) => unknown;

  constructor(options: PlaidClientOptions) {
    this.baseUrl = resolvePlaidBaseUrl(options.baseUrl);
    const url = new URL(this.baseUrl);
    this.origin = url.origin;
    this.basePath = url.pathname.replace(/\/+$/, '');
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.retryPolicy = { ...DEFAULT_RETRY_POLICY, ...options.retry };
    this.ownsDispatcher = options.dispatcher === undefined;
    this.dispatcher =
      options.dispatcher ??
      new Pool(this.origin, {
        connections: options.maxConnections ?? null,
        keepAliveTimeout: 10_000,
        keepAliveMaxTimeout: 60_000,
      });
    // Credentials travel in headers only, so no request body ever holds them.
    this.headers = {
      'content-type': 'application/json',
      'plaid-version': PLAID_VERSION,
      'plaid-client-id': options.clientId,
      'plaid-secret': options.secret,
      'user-agent': USER_AGENT,
    };
    this.random = options.random ?? Math.random;
    this.sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
    this.onAttempt = options.onAttempt;
    this.scrub = createScrubber([options.secret, ...(options.scrubSecrets ?? [])]);
  }

  // ---- the refreshes -------------------------------------------------------------------------

  /**
   * One of the Item refreshes of the catalogue (/transactions/refresh, /identity/refresh,
   * /cashflow_report/refresh, ...): its endpoint, request body and answer come from the entry.
   */
  refreshItem(
    product: ItemProduct,
    accessToken: string,
    args: Readonly<Record<string, number>> = {},
    options: CallOptions = {},
  ): Promise<RefreshReceipt> {
    // Checked here too, so a bad value never becomes a paid call.
    const resolved = resolveArgs(product, args);
    if (!resolved.ok) return Promise.reject(new RangeError(`${resolved.field} ${resolved.reason}`));
    // Not async: a refresh waits on Plaid for seconds, and this frame would wait with it (issue #16).
    return this.post(product.endpoint, itemRequestBody(product, accessToken, resolved.args), product.response, {
      ...options,
      billed: true,
    }).then(receiptOf);
  }

  async refreshUserFinancialData(userId: string, options: CallOptions = {}): Promise<UserRefreshAnswer> {
    const body = await this.post(USER_PRODUCT.endpoint, { user_id: userId }, USER_PRODUCT.response, {
      ...options,
      billed: true,
    });
    return {
      requestId: body.request_id,
      userId: body.user_id ?? null,
      results: body.results.map((result) => ({
        itemId: result.item_id,
        product: result.product,
        error: result.error ? plaidErrorData(result.error.status, this.scrubbedError(result.error)) : null,
      })),
    };
  }

  // ---- Link and sandbox helpers (real Plaid endpoints) --------------------------------------

  async exchangePublicToken(publicToken: string): Promise<{ accessToken: string; itemId: string; requestId: string }> {
    const body = await this.post('/item/public_token/exchange', { public_token: publicToken }, PublicTokenExchangeResponse);
    return { accessToken: body.access_token, itemId: body.item_id, requestId: body.request_id };
  }

  /** /item/get: the Item's institution and products, for the vault after linking. */
  async getItem(accessToken: string): Promise<{
    itemId: string;
    institutionId: string | null;
    institutionName: string | null;
    products: string[];
    requestId: string;
  }> {
    const body = await this.post('/item/get', { access_token: accessToken }, ItemGetResponse, { readOnly: true });
    return {
      itemId: body.item.item_id,
      institutionId: body.item.institution_id ?? null,
      institutionName: body.item.institution_name ?? null,
      products: body.item.products,
      requestId: body.request_id,
    };
  }

  async createSandboxPublicToken(input: {
    institutionId: string;
    initialProducts: readonly string[];
    username?: string;
    password?: string;
    userId?: string;
  }): Promise<{ publicToken: string; requestId: string }> {
    const options =
      input.username !== undefined || input.password !== undefined
        ? { override_username: input.username ?? 'user_good', override_password: input.password ?? 'pass_good' }
        : undefined;
    const body = await this.post(
      '/sandbox/public_token/create',
      {
        institution_id: input.institutionId,
        initial_products: input.initialProducts,
        ...(options ? { options } : {}),
        ...(input.userId ? { user_id: input.userId } : {}),
      },
      SandboxPublicTokenCreateResponse,
    );
    return { publicToken: body.public_token, requestId: body.request_id };
  }

  /**
   * /item/remove: ends the Item at Plaid (billing stops, the access token dies). Removing an Item
   * twice is harmless, so it is re-sent like a read: a second answer of INVALID_ACCESS_TOKEN after
   * a lost first one means it is gone.
   */
  async removeItem(accessToken: string, options: CallOptions = {}): Promise<{ requestId: string }> {
    const body = await this.post('/item/remove', { access_token: accessToken }, ItemRemoveResponse, { ...options, readOnly: true });
    return { requestId: body.request_id };
  }

  /**
   * /link/token/create: a short-lived token the frontend opens Plaid Link with. Sent again like a
   * read after a lost answer: a second token costs nothing and the first simply expires unused.
   */
  async createLinkToken(
    input: LinkTokenRequest,
    options: CallOptions = {},
  ): Promise<{ linkToken: string; expiration: Date; requestId: string }> {
    const body = await this.post(
      '/link/token/create',
      {
        client_name: input.clientName,
        language: input.language,
        country_codes: input.countryCodes,
        user: { client_user_id: input.clientUserId },
        ...(input.products ? { products: input.products } : {}),
        ...(input.accessToken ? { access_token: input.accessToken } : {}),
        ...(input.userId ? { user_id: input.userId } : {}),
        ...(input.webhook ? { webhook: input.webhook } : {}),
        ...(input.redirectUri ? { redirect_uri: input.redirectUri } : {}),
      },
      LinkTokenCreateResponse,
      { ...options, readOnly: true },
    );
    return { linkToken: body.link_token, expiration: new Date(body.expiration), requestId: body.request_id };
  }

  async resetSandboxItemLogin(accessToken: string): Promise<{ resetLogin: boolean; requestId: string }> {
    const body = await this.post('/sandbox/item/reset_login', { access_token: accessToken }, SandboxItemResetLoginResponse);
    return { resetLogin: body.reset_login, requestId: body.request_id };
  }

  /** /user/create: Plaid's user for `client_user_id`. Not re-sent after a lost answer: Plaid makes one user per `client_user_id`. */
  async createUser(clientUserId: string, options: CallOptions = {}): Promise<{ userId: string; requestId: string }> {
    const body = await this.post('/user/create', { client_user_id: clientUserId }, UserCreateResponse, options);
    return { userId: body.user_id, requestId: body.request_id };
  }

  // ---- webhooks ----------------------------------------------------------------------------

  /**
   * /webhook_verification_key/get: the public key (JWK) with this `kid`, for verifying a webhook's
   * Plaid-Verification JWT. It only reads, so it is re-sent like /item/get.
   */
  async getWebhookVerificationKey(keyId: string, options: CallOptions = {}): Promise<{ key: WebhookVerificationKey; requestId: string }> {
    const body = await this.post('/webhook_verification_key/get', { key_id: keyId }, WebhookVerificationKeyGetResponse, {
      ...options,
      readOnly: true,
    });
    return { key: body.key, requestId: body.request_id };
  }

  /**
   * /item/webhook/update: where Plaid sends this Item's webhooks from now on. Setting the same URL
   * again changes nothing (Plaid acknowledges each update with an ITEM WEBHOOK_UPDATE_ACKNOWLEDGED
   * webhook), so it is re-sent like a read.
   */
  async updateItemWebhook(
    accessToken: string,
    webhookUrl: string,
    options: CallOptions = {},
  ): Promise<{ itemId: string; webhook: string | null; requestId: string }> {
    const body = await this.post('/item/webhook/update', { access_token: accessToken, webhook: webhookUrl }, ItemWebhookUpdateResponse, {
      ...options,
      readOnly: true,
    });
    return { itemId: body.item.item_id, webhook: body.item.webhook ?? null, requestId: body.request_id };
  }

  /**
   * Closes the pool if this client built it (an injected dispatcher belongs to its owner): calls in
   * flight may finish for up to `graceMs`, then they are aborted, because shutdown must end.
   */
  async close(graceMs = 1_000): Promise<void> {
    if (!this.ownsDispatcher) return;
    if (!(await settlesWithin(this.dispatcher.close(), graceMs))) await this.dispatcher.destroy();
  }

  // ---- transport ----------------------------------------------------------------------------

  private async post<T>(endpoint: string, body: object, schema: z.ZodType<T>, options: PostOptions = {}): Promise<T> {
    const started = performance.now();
    for (let attempt = 1; ; attempt++) {
      const attemptStarted = performance.now();
      const remainingMs = options.deadline === undefined ? undefined : options.deadline - Date.now();
      const outcome = await this.once(endpoint, body, schema, Math.max(1, Math.min(this.timeoutMs, remainingMs ?? this.timeoutMs)));
      if (outcome.ok) {
        this.onAttempt?.({
          endpoint,
          attempt,
          durationMs: performance.now() - attemptStarted,
          status: outcome.status,
          requestId: requestIdOf(outcome.data),
          errorCode: null,
          error: null,
          decision: null,
        });
        return outcome.data;
      }
      const { error } = outcome;
      error.endpoint = endpoint;
      const decision = decideRetry({
        error,
        attempt,
        elapsedMs: performance.now() - started,
        policy: this.retryPolicy,
        random: this.random(),
        retryAfterMs: outcome.retryAfterMs,
        readOnly: options.readOnly ?? false,
        billed: options.billed ?? false,
        ...(options.deadline === undefined ? {} : { remainingMs: options.deadline - Date.now() }),
      });
      this.onAttempt?.({
        endpoint,
        attempt,
        durationMs: performance.now() - attemptStarted,
        status: outcome.status,
        requestId: error instanceof PlaidResponseError ? error.requestId : null,
        errorCode: error instanceof PlaidResponseError ? error.errorCode : null,
        error,
        decision,
      });
      if (!decision.retry) throw error;
      // A re-send after an answer spends Plaid's quota again; the caller's quotas get a say first.
      // Refused, the caller gets the error Plaid actually gave.
      if (outcome.status !== null && options.beforeResend && !(await options.beforeResend())) throw error;
      await this.sleep(decision.delayMs);
    }
  }

  /** A per-Item error of the bundle, scrubbed (see `scrub`); the shape is kept, so it parses again. */
  private scrubbedError(body: PlaidErrorBody): PlaidErrorBody {
    return PlaidErrorBody.parse(this.scrub(body));
  }

  /** One HTTP exchange, never throwing: parsed data, or a typed error and what the retry loop needs. */
  private async once<T>(endpoint: string, body: object, schema: z.ZodType<T>, timeoutMs: number): Promise<Attempt<T>> {
    let response: Dispatcher.ResponseData;
    let text: string;
    try {
      response = await request(`${this.origin}${this.basePath}${endpoint}`, {
        dispatcher: this.dispatcher,
        method: 'POST',
        headers: this.headers,
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(timeoutMs),
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
      });
      text = await response.body.text();
    } catch (error) {
      return { ok: false, error: transportErrorFrom(error, timeoutMs), status: null, retryAfterMs: null };
    }
    const status = response.statusCode;
    const failed = (error: PlaidClientError): Attempt<T> => ({
      ok: false,
      error,
      status,
      retryAfterMs: parseRetryAfter(response.headers['retry-after']),
    });
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      return failed(new PlaidNonJsonResponseError(status, headerValue(response.headers['content-type']), text));
    }
    // Scrubbed before it becomes an error (see `scrub`).
    if (status < 200 || status >= 300) return failed(plaidErrorFromResponse(status, this.scrub(json)));
    const parsed = schema.safeParse(json);
    if (parsed.success) return { ok: true, data: parsed.data, status };
    const problem = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
    return failed(new PlaidMalformedResponseError(status, problem));
  }
}

type Attempt<T> =
  | { readonly ok: true; readonly data: T; readonly status: number }
  | { readonly ok: false; readonly error: PlaidClientError; readonly status: number | null; readonly retryAfterMs: number | null };

function headerValue(value: string | string[] | undefined): string | null {
  if (value === undefined) return null;
  return Array.isArray(value) ? (value[0] ?? null) : value;
}

function parseRetryAfter(value: string | string[] | undefined): number | null {
  const raw = headerValue(value);
  if (raw === null) return null;
  const seconds = Number(raw);
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
  const date = Date.parse(raw);
  return Number.isNaN(date) ? null : Math.max(0, date - Date.now());
}

function receiptOf(body: { readonly request_id: string }): RefreshReceipt {
  return { requestId: body.request_id };
}

function requestIdOf(data: unknown): string | null {
  if (typeof data === 'object' && data !== null && 'request_id' in data && typeof data.request_id === 'string') {
    return data.request_id;
  }
  return null;
}
