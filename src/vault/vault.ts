/**
 * The token vault: Plaid access tokens and each viewer's Plaid `user_id`, kept server-side and
 * encrypted at rest. One SQL implementation serves both backends (see sql.ts).
 */
import { accessTokenAad, linkSpoolAad, plaidUserIdAad } from './aad.js';
import { TokenDecryptionError, type TokenCipher } from './crypto.js';
import { isOutage } from './errors.js';
import { GroupBatcher } from './group-batcher.js';
import { checkAndRecordKeys } from './key-registry.js';
import { migrate } from './migrations.js';
import { latestRunsOf, RefreshLog, toRun, type RefreshRun, type RunRow } from './refresh-log.js';
import type { SqlExecutor } from './sql.js';
import {
  SqlWebhookInbox,
  type InboxWebhook,
  type StoreWebhookInput,
  type StoreWebhookOptions,
  type StoreWebhookResult,
  type WebhookInbox,
} from './webhook-inbox.js';

/** A linked Item as the API sees it; the access token is only reachable through `getAccessToken`. */
export interface VaultItem {
  /** Plaid's item_id. */
  readonly id: string;
  readonly viewerId: string;
  readonly institutionId: string;
  readonly institutionName: string;
  readonly products: readonly string[];
  readonly createdAt: Date;
}

/** What linking an Item stores. */
export interface SaveItemInput {
  viewerId: string;
  itemId: string;
  accessToken: string;
  institutionId: string;
  institutionName: string;
  products: readonly string[];
}

/** Where an observation of an Item's health came from: a refresh's answer, a Plaid webhook, or a link of the Item. */
export type ItemHealthSource = 'REFRESH' | 'WEBHOOK' | 'LINK';

/** Plaid's error object as the vault keeps it: plain data, every field Plaid sends (the vault knows no Plaid classes). */
export interface StoredPlaidError {
  readonly message: string;
  readonly status: number | null;
  readonly errorType: string;
  readonly errorCode: string;
  readonly errorCodeReason: string | null;
  readonly errorMessage: string;
  readonly displayMessage: string | null;
  readonly requestId: string | null;
  readonly causes: readonly unknown[];
  readonly documentationUrl: string | null;
  readonly suggestedAction: string | null;
  readonly requiredAccountSubtypes: readonly string[] | null;
  readonly providedAccountSubtypes: readonly string[] | null;
}

/** Plaid's notice that an Item's access ends unless the user goes through update mode. */
export interface ItemExpiry {
  /** `PENDING_EXPIRATION`, or PENDING_DISCONNECT's `reason` (`INSTITUTION_MIGRATION`, `INSTITUTION_TOKEN_EXPIRATION`, ...). */
  readonly reason: string;
  /** When access ends, where Plaid says (PENDING_EXPIRATION's `consent_expiration_time`). */
  readonly expiresAt: Date | null;
  readonly observedAt: Date;
}

/** The last observation of an Item's health. */
export interface ItemHealth {
  readonly itemId: string;
  /** The Plaid error last seen for the Item; null when it was last seen working. */
  readonly error: StoredPlaidError | null;
  readonly source: ItemHealthSource;
  readonly observedAt: Date;
  /** An announced end of access, until update mode renews it (a link of the Item clears it). */
  readonly expiry: ItemExpiry | null;
}

/** An Item with its decrypted access token, for maintenance across every Item; null when no configured key decrypts it. */
export interface ItemToken {
  readonly item: VaultItem;
  readonly accessToken: string | null;
}

/** Storage of Items, their access tokens and viewers' Plaid user ids, and the webhook inbox (webhook-inbox.ts). */
export interface TokenVault extends WebhookInbox {
  /** Stores an Item and its access token for a viewer; linking the same Item again updates it. Throws ItemOwnedByAnotherViewerError if the item_id belongs to another viewer. */
  saveItem(input: SaveItemInput): Promise<VaultItem>;
  /** Saves many in one transaction: all or nothing (used by the import CLI). */
  saveItems(inputs: readonly SaveItemInput[]): Promise<VaultItem[]>;
  /** The viewer's Items, oldest first. */
  listItems(viewerId: string): Promise<VaultItem[]>;
  /** The viewer's Items, oldest first, each with the latest refresh of each product (by product), in ONE query. */
  listItemsWithLatestRefreshes(viewerId: string): Promise<{ item: VaultItem; latest: RefreshRun[] }[]>;
  /** ONE query for all ids (used by DataLoaders): the Items that exist, any owner, any order. */
  getItems(itemIds: readonly string[]): Promise<VaultItem[]>;
  /** Decrypted access token if the Item exists AND belongs to viewerId; null otherwise (same answer for both, so ids cannot be probed). */
  getAccessToken(viewerId: string, itemId: string): Promise<string | null>;
  /** The viewer's Item, its decrypted access token and its health (without expiry) in ONE query (a refresh needs them); null as for getAccessToken. */
  getItemForRefresh(viewerId: string, itemId: string): Promise<{ item: VaultItem; accessToken: string; health: ItemHealth | null } | null>;
  /**
   * Deletes the viewer's Item for good: the row with its access token, its refresh records and its
   * health (a real delete, not a flag). False when the viewer has no such Item (unknown, already
   * deleted, or another viewer's: the same answer).
   */
  deleteItem(viewerId: string, itemId: string): Promise<boolean>;
  /**
   * Keeps what was last seen of an Item's health: Plaid's error for it, or null when it works.
   * Out-of-order observations lose to newer ones (`observedAt`, default now). False when nothing
   * was stored: the vault holds no such Item, or a newer observation is already there.
   */
  recordItemHealth(itemId: string, error: StoredPlaidError | null, source: ItemHealthSource, observedAt?: Date): Promise<boolean>;
  /**
   * Keeps Plaid's notice that the Item's access ends, or with null clears it (update mode renewed
   * it). An older notice than the stored one changes nothing. False when nothing was stored.
   */
  recordItemExpiry(itemId: string, expiry: Omit<ItemExpiry, 'observedAt'> | null, observedAt?: Date): Promise<boolean>;
  /**
   * ONE query: the health of these Items; Items never observed are left out. An Item with only an
   * expiry notice reads as seen working by that webhook (Plaid sends it for Items that work).
   */
  getItemHealth(itemIds: readonly string[]): Promise<ItemHealth[]>;
  /** Stores (or replaces) the viewer's Plaid user_id. */
  setPlaidUserId(viewerId: string, plaidUserId: string): Promise<void>;
  /** The viewer's Plaid user_id, or null if none was stored. */
  getPlaidUserId(viewerId: string): Promise<string | null>;
  /** ONE query: the last accepted refresh of each product of these Items (from the refresh log). */
  getRefreshes(itemIds: readonly string[]): Promise<ProductRefresh[]>;
  /** Accepted refreshes with their status, and the events webhooks brought (refresh-log.ts). */
  readonly refreshLog: RefreshLog;
  /** Every viewer's Items with their access tokens, by item id after `afterItemId`, at most `limit` (keyset pages for tools). */
  listItemTokens(afterItemId: string | null, limit: number): Promise<ItemToken[]>;
  /** An Item to be saved later, encrypted with the vault's key, for the link spool (see link-spool.ts). */
  seal(input: SaveItemInput): string;
  /** The reverse of `seal`; throws if the text was not sealed by this vault's key. */
  unseal(sealed: string): SaveItemInput;
  /** Throws if the database does not answer (readiness checks). */
  ping(): Promise<void>;
  close(): Promise<void>;
}

/** The last refresh Plaid accepted for one product of an Item (the newest of the refresh log). */
export interface ProductRefresh {
  readonly itemId: string;
  readonly product: string;
  readonly requestId: string;
  readonly refreshedAt: Date;
}

/** Linking an Item that is already linked by another viewer; nothing was changed. */
export class ItemOwnedByAnotherViewerError extends Error {
  override name = 'ItemOwnedByAnotherViewerError';

  constructor(readonly itemId: string) {
    super(`Item ${itemId} is already linked by another viewer`);
  }
}

interface ItemRow {
  item_id: string;
  viewer_id: string;
  institution_id: string;
  institution_name: string;
  /** JSON array (array_to_json); a driver that leaves json as text gives a string. */
  products: string[] | string;
  created_at_ms: number | string;
}

type RefreshRow = ItemRow & { access_token_enc: string } & Partial<HealthColumns>;

interface HealthColumns {
  health_error: unknown;
  health_source: string | null;
  health_observed_at: Date | null;
}

interface HealthRow {
  item_id: string;
  error: unknown;
  source: string;
  observed_at: Date;
  expiry_reason?: string | null;
  expires_at?: Date | null;
  expiry_observed_at?: Date | null;
}

interface HealthWrite {
  readonly itemId: string;
  readonly error: StoredPlaidError | null;
  readonly source: ItemHealthSource;
  readonly observedAt: Date;
}

/** A column of a bulk read (selectRows): its name in the row, its expression, and another where JSON needs it. */
interface Column {
  readonly name: string;
  readonly sql: string;
  /** For json_build_array, when `sql` gives a type JSON would turn into text (timestamptz). */
  readonly json?: string;
}

const epochMs = (expression: string) => `floor(extract(epoch from ${expression}) * 1000)::float8`;

/**
 * An Item's columns as rows carry them. The array as JSON and the time as epoch milliseconds
 * (whole, so exact in a float8): the drivers' parsers for text[] and timestamptz cost more than
 * the row's other columns together (for 1,000 rows about 1.5 ms on PostgreSQL); JSON.parse and
 * parseFloat are native.
 */
const itemColumns = (table: string): Column[] => [
  { name: 'item_id', sql: `${table}item_id` },
  { name: 'viewer_id', sql: `${table}viewer_id` },
  { name: 'institution_id', sql: `${table}institution_id` },
  { name: 'institution_name', sql: `${table}institution_name` },
  { name: 'products', sql: `array_to_json(${table}products)`, json: `${table}products` },
  { name: 'created_at_ms', sql: epochMs(`${table}created_at`) },
];
const selectList = (columns: readonly Column[]) => columns.map((column) => `${column.sql} as ${column.name}`).join(', ');
const ITEM_COLUMNS = selectList(itemColumns(''));
const ITEM_COLUMNS_OF_I = selectList(itemColumns('i.'));
/** The latest refresh of each product joined to each Item (listItemsWithLatestRefreshes), null for an Item never refreshed. */
const ITEM_AND_RUN_COLUMNS: Column[] = [
  ...itemColumns('i.'),
  { name: 'run_id', sql: 'r.id' },
  { name: 'run_item_id', sql: 'r.item_id' },
  { name: 'run_viewer_id', sql: 'r.viewer_id' },
  { name: 'run_product', sql: 'r.product' },
  { name: 'run_plaid_request_id', sql: 'r.plaid_request_id' },
  // toRun takes a Date (rows) or epoch milliseconds (JSON).
  { name: 'run_requested_at', sql: 'r.requested_at', json: epochMs('r.requested_at') },
  { name: 'run_status', sql: 'r.status' },
  { name: 'run_updated_at', sql: 'r.updated_at', json: epochMs('r.updated_at') },
];
const HEALTH_SOURCES: ReadonlySet<string> = new Set<ItemHealthSource>(['REFRESH', 'WEBHOOK', 'LINK']);

/** A failed group statement is re-run per caller, so one caller's bad value fails only that caller; an outage fails all. */
const SINGLY_UNLESS_OUTAGE = { retrySingly: (error: unknown) => !isOutage(error) };

/** The vault over any SqlExecutor. */
export class SqlTokenVault implements TokenVault {
  private readonly db: SqlExecutor;
  readonly refreshLog: RefreshLog;
  private readonly inbox: SqlWebhookInbox;
  private closed = false;

  private constructor(
    private readonly inner: SqlExecutor,
    private readonly cipher: TokenCipher,
    onStatement: (() => void) | undefined,
  ) {
    this.db = onStatement ? new ObservedExecutor(inner, onStatement) : inner;
    this.refreshLog = new RefreshLog(this.db);
    // Storing is part of a request; the processor's polling is not counted, so request statement counts stay exact.
    this.inbox = new SqlWebhookInbox(this.db, inner);
  }

  // The two statements of every refresh, grouped when refreshes run concurrently (see GroupBatcher).
  private readonly refreshReads = new GroupBatcher<string, RefreshRow | null>(async (itemIds) => {
    // The health rides along (a left join): a refresh that succeeds clears a stored error without a read of its own.
    const { rows } = await this.db.query<RefreshRow>(
      `select ${ITEM_COLUMNS_OF_I}, i.access_token_enc,
         h.error as health_error, h.source as health_source, h.observed_at as health_observed_at
       from vault_items i left join vault_item_health h on h.item_id = i.item_id
       where i.item_id = any($1::text[])`,
      [[...new Set(itemIds)]],
    );
    const byId = new Map(rows.map((row) => [row.item_id, row]));
    return itemIds.map((id) => byId.get(id) ?? null);
  }, SINGLY_UNLESS_OUTAGE);

  // Health observations made together (a bundle's Items, concurrent refreshes) go as one statement.
  private readonly healthWrites = new GroupBatcher<HealthWrite, boolean>(async (writes) => {
    // The newest per Item: ON CONFLICT cannot touch a row twice in one statement.
    const latest = new Map<string, HealthWrite>();
    for (const write of writes) {
      const seen = latest.get(write.itemId);
      if (!seen || seen.observedAt <= write.observedAt) latest.set(write.itemId, write);
    }
    const rows = [...latest.values()];
    // Only Items the vault holds; an older observation than the stored one changes nothing.
    const { rows: written } = await this.db.query<{ item_id: string }>(
      `insert into vault_item_health (item_id, error, source, observed_at)
       select t.item_id, t.error::jsonb, t.source, t.observed_at
       from unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[]) as t(item_id, error, source, observed_at)
       where exists (select 1 from vault_items i where i.item_id = t.item_id)
       on conflict (item_id) do update set error = excluded.error, source = excluded.source, observed_at = excluded.observed_at
       where vault_item_health.observed_at <= excluded.observed_at
       returning item_id`,
      [
        rows.map((w) => w.itemId),
        rows.map((w) => (w.error === null ? null : JSON.stringify(w.error))),
        rows.map((w) => w.source),
        rows.map((w) => w.observedAt),
      ],
    );
    const stored = new Set(written.map((row) => row.item_id));
    return writes.map((write) => stored.has(write.itemId) && latest.get(write.itemId) === write);
  }, SINGLY_UNLESS_OUTAGE);

  /**
   * Applies missing migrations and checks the cipher's keys against the vault (VaultKeyMismatchError
   * when they do not fit), then returns the vault. The vault owns `db`. `onStatement` is called for
   * each statement it sends from then on (metrics; tests prove batching with it).
   */
  static async open(db: SqlExecutor, cipher: TokenCipher, options: VaultOptions = {}): Promise<SqlTokenVault> {
    await prepareVault(db, cipher);
    return new SqlTokenVault(db, cipher, options.onStatement);
  }

  async saveItem(input: SaveItemInput): Promise<VaultItem> {
    return this.upsertItem(this.db, input);
  }

  async saveItems(inputs: readonly SaveItemInput[]): Promise<VaultItem[]> {
    if (inputs.length === 0) return [];
    return this.db.transaction(async (tx) => {
      const saved: VaultItem[] = [];
      for (const input of inputs) saved.push(await this.upsertItem(tx, input));
      return saved;
    });
  }

  async listItems(viewerId: string): Promise<VaultItem[]> {
    return (
      await this.selectRows<ItemRow>(itemColumns(''), 'from vault_items where viewer_id = $1', [viewerId], 'created_at, item_id')
    ).map(toItem);
  }

  async listItemsWithLatestRefreshes(viewerId: string): Promise<{ item: VaultItem; latest: RefreshRun[] }[]> {
    // A row per Item and product (one with null run columns for an Item never refreshed); each
    // product's latest is one index probe (latestRunsOf), as in refreshLog.latest.
    const rows = await this.selectRows<
      ItemRow & { run_id: string | null } & { [K in Exclude<keyof RunRow, 'id'> as `run_${K}`]: RunRow[K] }
    >(
      ITEM_AND_RUN_COLUMNS,
      `from vault_items i
       left join lateral (${latestRunsOf('i.item_id')}) r on true
       where i.viewer_id = $1`,
      [viewerId],
      'i.created_at, i.item_id, r.product',
    );
    const out: { item: VaultItem; latest: RefreshRun[] }[] = [];
    let current: { item: VaultItem; latest: RefreshRun[] } | undefined;
    for (const row of rows) {
      if (current?.item.id !== row.item_id) out.push((current = { item: toItem(row), latest: [] }));
      // The run columns are all null together (an Item never refreshed), or none is.
      if (row.run_id === null) continue;
      current.latest.push(
        toRun({
          id: row.run_id,
          item_id: row.run_item_id,
          viewer_id: row.run_viewer_id,
          product: row.run_product,
          plaid_request_id: row.run_plaid_request_id,
          requested_at: row.run_requested_at,
          status: row.run_status,
          updated_at: row.run_updated_at,
        }),
      );
    }
    return out;
  }

  async getItems(itemIds: readonly string[]): Promise<VaultItem[]> {
    if (itemIds.length === 0) return [];
    return (
      await this.selectRows<ItemRow>(itemColumns(''), 'from vault_items where item_id = any($1::text[])', [[...new Set(itemIds)]])
    ).map(toItem);
  }

  async getAccessToken(viewerId: string, itemId: string): Promise<string | null> {
    const { rows } = await this.db.query<{ access_token_enc: string }>(
      'select access_token_enc from vault_items where item_id = $1 and viewer_id = $2',
      [itemId, viewerId],
    );
    const row = rows[0];
    return row ? this.cipher.decrypt(row.access_token_enc, accessTokenAad(itemId, viewerId)) : null;
  }

  async getItemForRefresh(
    viewerId: string,
    itemId: string,
  ): Promise<{ item: VaultItem; accessToken: string; health: ItemHealth | null } | null> {
    const row = await this.refreshReads.call(itemId);
    // Read by id (so concurrent refreshes share the query), then owned by the caller or nothing.
    if (!row || row.viewer_id !== viewerId) return null;
    const health =
      row.health_source && row.health_observed_at
        ? toHealth({ item_id: itemId, error: row.health_error, source: row.health_source, observed_at: row.health_observed_at })
        : null;
    return { item: toItem(row), accessToken: this.cipher.decrypt(row.access_token_enc, accessTokenAad(itemId, viewerId)), health };
  }

  async deleteItem(viewerId: string, itemId: string): Promise<boolean> {
    // The refresh records and the health go with the row (on delete cascade).
    const { rows } = await this.db.query<{ item_id: string }>(
      'delete from vault_items where item_id = $1 and viewer_id = $2 returning item_id',
      [itemId, viewerId],
    );
    return rows.length > 0;
  }

  async recordItemHealth(
    itemId: string,
    error: StoredPlaidError | null,
    source: ItemHealthSource,
    observedAt: Date = new Date(),
  ): Promise<boolean> {
    requireText('itemId', itemId);
    if (!HEALTH_SOURCES.has(source)) throw new TypeError('source must be REFRESH, WEBHOOK or LINK');
    if (error !== null) requireText('error.errorCode', error.errorCode);
    return this.healthWrites.call({ itemId, error, source, observedAt });
  }

  async recordItemExpiry(itemId: string, expiry: Omit<ItemExpiry, 'observedAt'> | null, observedAt: Date = new Date()): Promise<boolean> {
    requireText('itemId', itemId);
    if (expiry === null) {
      const { rows } = await this.db.query<{ item_id: string }>(
        'delete from vault_item_expiry where item_id = $1 and observed_at <= $2 returning item_id',
        [itemId, observedAt],
      );
      return rows.length > 0;
    }
    requireText('expiry.reason', expiry.reason);
    const { rows } = await this.db.query<{ item_id: string }>(
      `insert into vault_item_expiry (item_id, reason, expires_at, observed_at)
       select $1, $2, $3, $4 where exists (select 1 from vault_items i where i.item_id = $1)
       on conflict (item_id) do update set reason = excluded.reason, expires_at = excluded.expires_at, observed_at = excluded.observed_at
       where vault_item_expiry.observed_at <= excluded.observed_at
       returning item_id`,
      [itemId, expiry.reason, expiry.expiresAt, observedAt],
    );
    return rows.length > 0;
  }

  async getItemHealth(itemIds: readonly string[]): Promise<ItemHealth[]> {
    if (itemIds.length === 0) return [];
    // A full join: an expiry notice may be all that was seen of an Item.
    const { rows } = await this.db.query<HealthRow>(
      `select coalesce(h.item_id, e.item_id) as item_id, h.error, coalesce(h.source, 'WEBHOOK') as source,
         coalesce(h.observed_at, e.observed_at) as observed_at,
         e.reason as expiry_reason, e.expires_at, e.observed_at as expiry_observed_at
       from (select * from vault_item_health where item_id = any($1::text[])) h
       full join (select * from vault_item_expiry where item_id = any($1::text[])) e on e.item_id = h.item_id`,
      [[...new Set(itemIds)]],
    );
    return rows.map(toHealth);
  }

  async setPlaidUserId(viewerId: string, plaidUserId: string): Promise<void> {
    requireText('viewerId', viewerId);
    requireText('plaidUserId', plaidUserId);
    await this.db.query(
      `insert into vault_viewers (id, plaid_user_id_enc) values ($1, $2)
       on conflict (id) do update set plaid_user_id_enc = excluded.plaid_user_id_enc, updated_at = now()`,
      [viewerId, this.cipher.encrypt(plaidUserId, plaidUserIdAad(viewerId))],
    );
  }

  async getPlaidUserId(viewerId: string): Promise<string | null> {
    const { rows } = await this.db.query<{ plaid_user_id_enc: string | null }>(
      'select plaid_user_id_enc from vault_viewers where id = $1',
      [viewerId],
    );
    const stored = rows[0]?.plaid_user_id_enc;
    return stored ? this.cipher.decrypt(stored, plaidUserIdAad(viewerId)) : null;
  }

  seal(input: SaveItemInput): string {
    return this.cipher.encrypt(JSON.stringify(input), linkSpoolAad);
  }

  unseal(sealed: string): SaveItemInput {
    const value = JSON.parse(this.cipher.decrypt(sealed, linkSpoolAad)) as SaveItemInput;
    for (const field of ['viewerId', 'itemId', 'accessToken', 'institutionId', 'institutionName'] as const)
      requireText(field, value[field]);
    if (!Array.isArray(value.products)) throw new TypeError('products must be an array');
    return value;
  }

  async getRefreshes(itemIds: readonly string[]): Promise<ProductRefresh[]> {
    return productRefreshes(await this.refreshLog.latest(itemIds));
  }

  async listItemTokens(afterItemId: string | null, limit: number): Promise<ItemToken[]> {
    if (!Number.isInteger(limit) || limit < 1) throw new RangeError('limit must be a positive integer');
    const { rows } = await this.db.query<RefreshRow>(
      `select ${ITEM_COLUMNS}, access_token_enc from vault_items where ($1::text is null or item_id > $1) order by item_id limit $2`,
      [afterItemId, limit],
    );
    return rows.map((row) => {
      let accessToken: string | null = null;
      try {
        accessToken = this.cipher.decrypt(row.access_token_enc, accessTokenAad(row.item_id, row.viewer_id));
      } catch (error) {
        // One unreadable row must not stop a run over every Item; the caller counts it.
        if (!(error instanceof TokenDecryptionError)) throw error;
      }
      return { item: toItem(row), accessToken };
    });
  }

  storeWebhook(input: StoreWebhookInput, options?: StoreWebhookOptions): Promise<StoreWebhookResult> {
    return this.inbox.storeWebhook(input, options);
  }

  claimWebhooks(limit: number, owner: string, leaseMs: number): Promise<InboxWebhook[]> {
    return this.inbox.claimWebhooks(limit, owner, leaseMs);
  }

  completeWebhook(id: number): Promise<void> {
    return this.inbox.completeWebhook(id);
  }

  failWebhook(id: number, error: string, retryInMs?: number): Promise<void> {
    return this.inbox.failWebhook(id, error, retryInMs);
  }

  async ping(): Promise<void> {
    await this.db.query('select 1');
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.inner.close();
  }

  /**
   * `select <columns> <from>`, as rows, or (where the executor prefers it) as one json_agg of them
   * turned back into the same rows. `orderBy` orders both.
   */
  private async selectRows<R>(columns: readonly Column[], from: string, params: unknown[], orderBy?: string): Promise<R[]> {
    const order = orderBy ? ` order by ${orderBy}` : '';
    if (!this.db.prefersJson) return (await this.db.query<R>(`select ${selectList(columns)} ${from}${order}`, params)).rows;
    // Text, not json: one JSON.parse here whichever way the driver treats json.
    const { rows } = await this.db.query<{ rows: string | null }>(
      `select json_agg(json_build_array(${columns.map((column) => column.json ?? column.sql).join(', ')})${order})::text as rows ${from}`,
      params,
    );
    const tuples = JSON.parse(rows[0]?.rows ?? '[]') as unknown[][];
    return tuples.map((tuple) => {
      const row: Record<string, unknown> = {};
      columns.forEach((column, i) => (row[column.name] = tuple[i]));
      return row as R;
    });
  }

  /**
   * One statement, so it is atomic without a transaction: the conflict branch only updates a row
   * of the same viewer, and returns nothing when the Item belongs to someone else.
   */
  private async upsertItem(db: SqlExecutor, input: SaveItemInput): Promise<VaultItem> {
    requireText('viewerId', input.viewerId);
    requireText('itemId', input.itemId);
    requireText('accessToken', input.accessToken);
    requireText('institutionId', input.institutionId);
    const { rows } = await db.query<ItemRow>(
      `insert into vault_items (item_id, viewer_id, institution_id, institution_name, products, access_token_enc)
       values ($1, $2, $3, $4, $5::text[], $6)
       on conflict (item_id) do update set
         institution_id = excluded.institution_id,
         institution_name = excluded.institution_name,
         products = excluded.products,
         access_token_enc = excluded.access_token_enc,
         updated_at = now()
       where vault_items.viewer_id = excluded.viewer_id
       returning ${ITEM_COLUMNS}`,
      [
        input.itemId,
        input.viewerId,
        input.institutionId,
        input.institutionName,
        [...input.products],
        this.cipher.encrypt(input.accessToken, accessTokenAad(input.itemId, input.viewerId)),
      ],
    );
    const row = rows[0];
    if (!row) throw new ItemOwnedByAnotherViewerError(input.itemId);
    return toItem(row);
  }
}

/** The latest refreshes (refreshLog.latest) as the last refresh of each product, by product name. */
export function productRefreshes(latest: readonly RefreshRun[]): ProductRefresh[] {
  return [...latest]
    .sort((a, b) => a.product.localeCompare(b.product))
    .map((run) => ({ itemId: run.itemId, product: run.product, requestId: run.plaidRequestId, refreshedAt: run.requestedAt }));
}

/** Migrations, then the key check: what must hold before anything reads or writes the vault. */
export async function prepareVault(db: SqlExecutor, cipher: TokenCipher): Promise<void> {
  await migrate(db);
  await checkAndRecordKeys(db, cipher);
}

function toItem(row: ItemRow): VaultItem {
  return Object.freeze({
    id: row.item_id,
    viewerId: row.viewer_id,
    institutionId: row.institution_id,
    institutionName: row.institution_name,
    products: Object.freeze(typeof row.products === 'string' ? (JSON.parse(row.products) as string[]) : [...row.products]),
    createdAt: new Date(Number(row.created_at_ms)),
  });
}

function toHealth(row: HealthRow): ItemHealth {
  return Object.freeze({
    itemId: row.item_id,
    error: toStoredError(row.error),
    source: HEALTH_SOURCES.has(row.source) ? (row.source as ItemHealthSource) : 'REFRESH',
    observedAt: new Date(row.observed_at),
    expiry:
      row.expiry_reason && row.expiry_observed_at
        ? Object.freeze({
            reason: row.expiry_reason,
            expiresAt: row.expires_at ? new Date(row.expires_at) : null,
            observedAt: new Date(row.expiry_observed_at),
          })
        : null,
  });
}

/** A stored error object back (jsonb comes parsed; a string where a driver leaves it as text). */
function toStoredError(value: unknown): StoredPlaidError | null {
  const parsed: unknown = typeof value === 'string' ? JSON.parse(value) : value;
  if (typeof parsed !== 'object' || parsed === null) return null;
  const error = parsed as Partial<StoredPlaidError>;
  if (typeof error.errorType !== 'string' || typeof error.errorCode !== 'string') return null;
  return Object.freeze({ ...(parsed as StoredPlaidError), causes: Array.isArray(error.causes) ? error.causes : [] });
}

// Names the field only: the value may be a token.
function requireText(field: string, value: string): void {
  if (typeof value !== 'string' || value === '') throw new TypeError(`${field} must be a non-empty string`);
}

export interface VaultOptions {
  /** Called once per statement the vault sends, inside transactions too (BEGIN/COMMIT are the executor's). */
  readonly onStatement?: () => void;
}

/** Reports every statement to `onStatement`, then runs it. */
class ObservedExecutor implements SqlExecutor {
  readonly prefersJson: boolean;

  constructor(
    private readonly inner: SqlExecutor,
    private readonly onStatement: () => void,
  ) {
    this.prefersJson = inner.prefersJson ?? false;
  }

  query<R>(text: string, params?: unknown[]): Promise<{ rows: R[] }> {
    this.onStatement();
    return this.inner.query<R>(text, params);
  }

  transaction<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T> {
    return this.inner.transaction((tx) => fn(new ObservedExecutor(tx, this.onStatement)));
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
