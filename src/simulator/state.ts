/**
 * What the simulator remembers: Items and their tokens, users, public tokens, rate-limit windows,
 * injected faults and the log of calls received. All in memory; one instance per simulator.
 */
import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import { z } from 'zod';

export interface SimItem {
  readonly itemId: string;
  readonly accessToken: string;
  readonly institutionId: string;
  readonly products: ReadonlySet<string>;
  readonly username: string;
  readonly userId: string | null;
  /** Set by /sandbox/item/reset_login; cleared only by relinking (update mode is not simulated). */
  loginRequired: boolean;
  // ---- webhooks ----
  /**
   * Where Plaid sends this Item's webhooks: set at link time (`options.webhook` of
   * /sandbox/public_token/create, or the Link token's `webhook`) and by /item/webhook/update;
   * absent or null: none are sent.
   */
  webhook?: string | null;
}

export interface SimUser {
  readonly userId: string;
  readonly clientUserId: string;
  readonly itemIds: string[];
}

/** One call received. Logged on arrival, so a call whose answer is still delayed already counts. */
export interface RequestLogEntry {
  readonly seq: number;
  readonly at: string;
  readonly path: string;
  /** HTTP status of the answer; null while none was sent, or when the connection was dropped. */
  status: number | null;
  readonly requestId: string;
  readonly itemId: string | null;
  readonly userId: string | null;
  errorCode: string | null;
  fault: string | null;
}

// ---- faults ---------------------------------------------------------------------------------

export const FaultEffect = z.discriminatedUnion('type', [
  z.strictObject({
    type: z.literal('error'),
    error_code: z.string().min(1),
    error_type: z.string().min(1).optional(),
    http_status: z.number().int().min(100).max(599).optional(),
    error_code_reason: z.string().nullable().optional(),
    error_message: z.string().optional(),
    display_message: z.string().nullable().optional(),
  }),
  z
    .strictObject({
      type: z.literal('latency'),
      ms: z.number().int().min(0).max(600_000).optional(),
      min_ms: z.number().int().min(0).max(600_000).optional(),
      max_ms: z.number().int().min(0).max(600_000).optional(),
    })
    .refine((l) => l.ms !== undefined || (l.min_ms !== undefined && l.max_ms !== undefined && l.min_ms <= l.max_ms), {
      message: 'latency needs `ms`, or `min_ms` <= `max_ms`',
    }),
  z.strictObject({ type: z.literal('connection_reset') }),
  z.strictObject({ type: z.literal('html_502') }),
  z.strictObject({ type: z.literal('malformed_json') }),
  z.strictObject({ type: z.literal('wrong_shape') }),
]);
export type FaultEffect = z.infer<typeof FaultEffect>;

export const FaultInput = z.strictObject({
  /** Only calls of this endpoint, e.g. `/transactions/refresh`. */
  endpoint: z.string().startsWith('/').optional(),
  /** Only calls for this Item (resolved from the access token). */
  item_id: z.string().min(1).optional(),
  /** Only calls for this user (/user/financial_data/refresh). */
  user_id: z.string().min(1).optional(),
  /** How many matching calls it applies to; absent = until removed. */
  count: z.number().int().min(1).optional(),
  effect: FaultEffect,
});
export type FaultInput = z.infer<typeof FaultInput>;

export interface Fault extends FaultInput {
  readonly id: string;
  remaining: number | null;
}

export interface CallTarget {
  readonly endpoint: string;
  readonly itemId: string | null;
  readonly userId: string | null;
}

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

/** Plaid-style opaque id: base62, as in Plaid's `request_id` and `item_id`; from `bytes` when given (at least `length` of them). */
export function plaidId(length: number, bytes: Uint8Array = randomBytes(length)): string {
  let out = '';
  for (const b of bytes.subarray(0, length)) out += BASE62[b % 62];
  return out;
}

/** A version-4-shaped UUID made of the first 16 of `bytes`, as Plaid's tokens carry. */
function uuidFrom(bytes: Uint8Array): string {
  const b = Buffer.from(bytes.subarray(0, 16));
  b[6] = ((b[6] ?? 0) & 0x0f) | 0x40;
  b[8] = ((b[8] ?? 0) & 0x3f) | 0x80;
  const hex = b.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

export interface SimulatorStateOptions {
  /**
   * Derive item ids, access tokens and user ids from this seed instead of at random: the n-th Item
   * linked with the same institution, test user, products and Plaid user, and the user of a
   * `client_user_id`, get the same ids in every run (until `stopSeeding`). Embedded mode seeds its
   * simulator, so the demo Items keep their ids across restarts. Public tokens and request ids
   * stay random.
   */
  readonly seed?: string | null;
}

const PUBLIC_TOKEN_TTL_MS = 30 * 60_000;
const REQUEST_LOG_LIMIT = 50_000;

export class SimulatorState {
  readonly items = new Map<string, SimItem>();
  private readonly itemsByToken = new Map<string, SimItem>();
  readonly users = new Map<string, SimUser>();
  private readonly usersByClientId = new Map<string, SimUser>();
  private readonly publicTokens = new Map<string, { item: Omit<SimItem, 'accessToken' | 'itemId'>; expiresAt: number }>();
  private readonly windows = new Map<string, number[]>();
  private faults: Fault[] = [];
  private log: RequestLogEntry[] = [];
  private seq = 0;
  private seed: string | null;
  /** With a seed: how many Items of each recipe were minted, so relinking one gets new ids. */
  private readonly minted = new Map<string, number>();

  constructor(
    readonly now: () => number = Date.now,
    options: SimulatorStateOptions = {},
  ) {
    this.seed = options.seed ?? null;
  }

  // ---- Items and users --------------------------------------------------------------------

  createPublicToken(item: Omit<SimItem, 'accessToken' | 'itemId'>): string {
    const token = `public-sandbox-${randomUUID()}`;
    this.publicTokens.set(token, { item, expiresAt: this.now() + PUBLIC_TOKEN_TTL_MS });
    return token;
  }

  /** One-time exchange, as with Plaid; null when unknown, used or expired. */
  exchangePublicToken(publicToken: string): SimItem | null {
    const pending = this.publicTokens.get(publicToken);
    if (!pending) return null;
    this.publicTokens.delete(publicToken);
    if (pending.expiresAt < this.now()) return null;
    const item: SimItem = { ...pending.item, ...this.mintItemIds(pending.item) };
    this.items.set(item.itemId, item);
    this.itemsByToken.set(item.accessToken, item);
    if (item.userId) this.users.get(item.userId)?.itemIds.push(item.itemId);
    return item;
  }

  /**
   * Random ids from now on, as Plaid mints them. Embedded mode calls it once the demo Items are
   * linked: an Item linked later would otherwise get, after a restart, an id that a persistent
   * vault may already hold for another viewer.
   */
  stopSeeding(): void {
    this.seed = null;
  }

  private mintItemIds(item: Omit<SimItem, 'accessToken' | 'itemId'>): Pick<SimItem, 'itemId' | 'accessToken'> {
    if (this.seed === null) return { itemId: plaidId(37), accessToken: `access-sandbox-${randomUUID()}` };
    const recipe = JSON.stringify([item.institutionId, item.username, [...item.products].sort(), item.userId]);
    const n = this.minted.get(recipe) ?? 0;
    this.minted.set(recipe, n + 1);
    const itemId = plaidId(37, this.derived(`item\n${recipe}\n${n}`));
    return { itemId, accessToken: `access-sandbox-${uuidFrom(this.derived(`access token\n${recipe}\n${n}`))}` };
  }

  /** 64 bytes derived from the seed and `label`, or random ones without a seed. */
  private derived(label: string): Uint8Array {
    return this.seed === null ? randomBytes(64) : createHmac('sha512', this.seed).update(label).digest();
  }

  /** /item/remove: the Item and its access token are gone for good; it leaves its user's bundle. */
  removeItem(item: SimItem): void {
    this.items.delete(item.itemId);
    this.itemsByToken.delete(item.accessToken);
    const user = item.userId ? this.users.get(item.userId) : undefined;
    const index = user ? user.itemIds.indexOf(item.itemId) : -1;
    if (user && index >= 0) user.itemIds.splice(index, 1);
    this.removed.add(item.itemId);
  }

  /** Item ids removed through /item/remove (tests count them). */
  readonly removed = new Set<string>();

  itemByAccessToken(token: string): SimItem | undefined {
    return this.itemsByToken.get(token);
  }

  /** Plaid gives one user per `client_user_id`; asking again returns the same user. */
  createUser(clientUserId: string): SimUser {
    const existing = this.usersByClientId.get(clientUserId);
    if (existing) return existing;
    const user: SimUser = { userId: `usr_${plaidId(14, this.derived(`user\n${clientUserId}`))}`, clientUserId, itemIds: [] };
    this.users.set(user.userId, user);
    this.usersByClientId.set(clientUserId, user);
    return user;
  }

  // ---- rate limits ------------------------------------------------------------------------

  /**
   * Sliding windows (one minute by default): if every window has room, records the call in all of
   * them and returns true; otherwise records nothing and returns the key of the first full one.
   */
  takeFromWindows(limits: readonly (readonly [key: string, limit: number])[], windowMs = 60_000): true | string {
    const now = this.now();
    // A rule without a limit needs no window (and an unbounded one would grow with every call).
    const current = limits
      .filter(([, limit]) => Number.isFinite(limit))
      .map(([key, limit]) => {
        const calls = (this.windows.get(key) ?? []).filter((t) => t > now - windowMs);
        this.windows.set(key, calls);
        return { key, limit, calls };
      });
    const full = current.find((w) => w.calls.length >= w.limit);
    if (full) return full.key;
    for (const w of current) w.calls.push(now);
    return true;
  }

  // ---- faults -----------------------------------------------------------------------------

  addFault(input: FaultInput): Fault {
    const fault: Fault = { ...input, id: `flt_${plaidId(10)}`, remaining: input.count ?? null };
    this.faults.push(fault);
    return fault;
  }

  listFaults(): readonly Fault[] {
    return this.faults;
  }

  removeFault(id: string): boolean {
    const before = this.faults.length;
    this.faults = this.faults.filter((f) => f.id !== id);
    return this.faults.length !== before;
  }

  clearFaults(): void {
    this.faults = [];
  }

  /** The first fault of each kind (latency / everything else) matching this call; consumes one use of each. */
  takeFaults(target: CallTarget): { latency: Fault | null; failure: Fault | null } {
    const matches = (f: Fault) =>
      (f.endpoint === undefined || f.endpoint === target.endpoint) &&
      (f.item_id === undefined || f.item_id === target.itemId) &&
      (f.user_id === undefined || f.user_id === target.userId);
    const latency = this.faults.find((f) => f.effect.type === 'latency' && matches(f)) ?? null;
    const failure = this.faults.find((f) => f.effect.type !== 'latency' && matches(f)) ?? null;
    for (const f of [latency, failure]) {
      if (f && f.remaining !== null) f.remaining -= 1;
    }
    this.faults = this.faults.filter((f) => f.remaining === null || f.remaining > 0);
    return { latency, failure };
  }

  // ---- request log ------------------------------------------------------------------------

  record(entry: Omit<RequestLogEntry, 'seq' | 'at'>): RequestLogEntry {
    const logged: RequestLogEntry = { seq: ++this.seq, at: new Date(this.now()).toISOString(), ...entry };
    this.log.push(logged);
    // Trimmed a tenth at a time: a copy of the whole log on every call once it is full made a
    // long-running simulator slower with every request.
    if (this.log.length > REQUEST_LOG_LIMIT + REQUEST_LOG_LIMIT / 10) this.log = this.log.slice(-REQUEST_LOG_LIMIT);
    return logged;
  }

  requests(filter: { path?: string; itemId?: string; userId?: string } = {}): readonly RequestLogEntry[] {
    return this.log.filter(
      (e) =>
        (filter.path === undefined || e.path === filter.path) &&
        (filter.itemId === undefined || e.itemId === filter.itemId) &&
        (filter.userId === undefined || e.userId === filter.userId),
    );
  }

  clearRequests(): void {
    this.log = [];
  }

  /** Forgets calls, faults and rate-limit windows; Items and users stay. */
  reset(): void {
    this.log = [];
    this.faults = [];
    this.windows.clear();
  }

  // ---- Link tokens and update mode (l14: createLinkToken) ---------------------------------
  // /link/token/create makes a link token; Plaid Link itself (a browser SDK) is played by the
  // control call POST /simulator/link/complete, which ends the Link session of one token.

  private readonly linkTokens = new Map<string, SimLinkToken>();
  private readonly updatePublicTokens = new Map<string, { readonly itemId: string; readonly expiresAt: number }>();

  /** A link token, as /link/token/create makes them: 4 hours for a new Item, 30 minutes in update mode (Plaid's lifetimes). */
  createLinkToken(session: Omit<SimLinkToken, 'linkToken' | 'expiresAt'>): SimLinkToken {
    const ttl = session.itemId === null ? NEW_ITEM_LINK_TOKEN_TTL_MS : UPDATE_LINK_TOKEN_TTL_MS;
    const token: SimLinkToken = { ...session, linkToken: `link-sandbox-${randomUUID()}`, expiresAt: this.now() + ttl };
    this.linkTokens.set(token.linkToken, token);
    return token;
  }

  /**
   * Ends the Link session of `linkToken` as a user who succeeds would (one session per token). A new
   * Item: a public token to exchange, with the token's products, Plaid user and webhook. Update
   * mode: the Item's login is repaired (ITEM_LOGIN_REQUIRED cleared) and Link's onSuccess public
   * token is given; Plaid needs no exchange after update mode (the access token stays the same),
   * and exchanging it answers the same Item and access token.
   */
  completeLink(linkToken: string, choice: { readonly institutionId: string; readonly username: string }): LinkCompletion {
    const session = this.linkTokens.get(linkToken);
    if (!session || session.expiresAt < this.now()) return { error: 'INVALID_LINK_TOKEN', message: 'unknown, used or expired link_token' };
    this.linkTokens.delete(linkToken);
    const publicToken = `public-sandbox-${randomUUID()}`;
    if (session.itemId !== null) {
      const item = this.items.get(session.itemId);
      if (!item) return { error: 'ITEM_NOT_FOUND', message: 'the Item of this update-mode link_token was removed' };
      item.loginRequired = false;
      this.updatePublicTokens.set(publicToken, { itemId: item.itemId, expiresAt: this.now() + PUBLIC_TOKEN_TTL_MS });
      return { publicToken, itemId: item.itemId, updateMode: true };
    }
    if (session.userId !== null && !this.users.has(session.userId)) return { error: 'USER_NOT_FOUND', message: 'the Plaid user is gone' };
    const token = this.createPublicToken({
      institutionId: choice.institutionId,
      products: new Set(session.products),
      username: choice.username,
      userId: session.userId,
      loginRequired: false,
      ...(session.webhookUrl === null ? {} : { webhook: session.webhookUrl }),
    });
    return { publicToken: token, itemId: null, updateMode: false };
  }

  /** The exchange of an update-mode public token: the same Item; null when unknown, used or expired. */
  exchangeUpdatePublicToken(publicToken: string): SimItem | null {
    const pending = this.updatePublicTokens.get(publicToken);
    if (!pending) return null;
    this.updatePublicTokens.delete(publicToken);
    if (pending.expiresAt < this.now()) return null;
    return this.items.get(pending.itemId) ?? null;
  }
}

const NEW_ITEM_LINK_TOKEN_TTL_MS = 4 * 60 * 60_000;
const UPDATE_LINK_TOKEN_TTL_MS = 30 * 60_000;

/** One link token: what Link was opened for. */
export interface SimLinkToken {
  readonly linkToken: string;
  readonly expiresAt: number;
  readonly clientUserId: string;
  /** The Plaid user a new Item joins (`user_id`). */
  readonly userId: string | null;
  readonly products: readonly string[];
  /** `webhook`: recorded on the Item Link creates. */
  readonly webhookUrl: string | null;
  /** Update mode (`access_token`): the Item Link repairs. */
  readonly itemId: string | null;
}

/** What completing Link gave, or why it could not (a code as Link's onExit would name it). */
export type LinkCompletion =
  | { readonly publicToken: string; readonly itemId: string | null; readonly updateMode: boolean }
  | { readonly error: string; readonly message: string };
