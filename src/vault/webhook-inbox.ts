/**
 * The webhook inbox (table `vault_webhooks`, migration 5): Plaid's verified webhooks, stored before
 * Plaid is answered 200 and processed afterwards, at least once, by whichever replica claims them.
 *
 * - One row per distinct body: Plaid re-sends identical bodies (after a lost answer, and sometimes
 *   after a 200), so a body whose SHA-256 is already stored is a duplicate. Plaid's bodies carry no
 *   event id, and a later, genuine webhook can be byte for byte the same (SYNC_UPDATES_AVAILABLE
 *   with both flags true): an identical body is a duplicate while its row is unprocessed or was
 *   received within the dedupe window; after that it re-arms the same row (still one row).
 * - Claiming takes a lease (owner, until) on unprocessed rows that are due and not leased, in one
 *   `update ... for update skip locked` statement, so processors on several replicas never claim one
 *   row together; a processor that dies leaves its lease to run out, and the row is claimed again.
 * - Stores made together (a burst of deliveries, each waiting for its own answer) go as one
 *   statement, and so do completions; each caller still hears only once its own row is durable.
 */
import { isOutage } from './errors.js';
import { GroupBatcher } from './group-batcher.js';
import type { SqlExecutor } from './sql.js';

/** What the receiver stores for one verified webhook. */
export interface StoreWebhookInput {
  /** SHA-256 (hex) of the raw body bytes: the duplicate key. */
  readonly bodySha256: string;
  /** The raw body, exactly as received. */
  readonly body: string;
  readonly webhookType: string;
  readonly webhookCode: string;
  readonly itemId: string | null;
}

export interface StoreWebhookOptions {
  /** An identical body received within this long of the stored one is a duplicate (default 15 minutes). */
  readonly dedupeWindowMs?: number;
}

/** `duplicate`: an identical body is already waiting or was received within the dedupe window; nothing was written. */
export type StoreWebhookResult = 'stored' | 'duplicate';

/** A webhook claimed for processing. */
export interface InboxWebhook {
  readonly id: number;
  readonly body: string;
  readonly bodySha256: string;
  readonly webhookType: string;
  readonly webhookCode: string;
  readonly itemId: string | null;
  readonly receivedAt: Date;
  /** Claims so far, this one included. */
  readonly attempts: number;
  /** The previous attempt's error, if it failed. */
  readonly lastError: string | null;
}

/** The vault's inbox methods (SqlTokenVault implements them; processors depend on this much only). */
export interface WebhookInbox {
  /** Writes the webhook, or recognises it as a duplicate; resolves once it is durable. */
  storeWebhook(input: StoreWebhookInput, options?: StoreWebhookOptions): Promise<StoreWebhookResult>;
  /**
   * Leases up to `limit` unprocessed webhooks that are due and not leased by anyone, oldest first,
   * to `owner` for `leaseMs`, and counts the attempt.
   */
  claimWebhooks(limit: number, owner: string, leaseMs: number): Promise<InboxWebhook[]>;
  /** Marks the webhook processed; it is never claimed again. */
  completeWebhook(id: number): Promise<void>;
  /** Records the failure and releases the lease; the webhook is due again in `retryInMs`. */
  failWebhook(id: number, error: string, retryInMs?: number): Promise<void>;
}

/** Plaid's first three re-sends of an unanswered webhook come 30 s, 2.5 min and 10.5 min after it. */
export const DEFAULT_DEDUPE_WINDOW_MS = 15 * 60_000;
/** Longer error texts are cut: the column is for diagnosis, not for stack dumps. */
const MAX_ERROR_LENGTH = 1_000;

interface WebhookRow {
  id: string | number | bigint;
  body: string;
  body_sha256: string;
  webhook_type: string;
  webhook_code: string;
  item_id: string | null;
  received_at: Date | string;
  attempts: number;
  last_error: string | null;
}

const SHA256_HEX = /^[0-9a-f]{64}$/;

interface StoreCall {
  readonly input: StoreWebhookInput;
  readonly windowMs: number;
}

/** A failed group statement is re-run per caller (one bad row must not fail the others); an outage fails all. */
const SINGLY_UNLESS_OUTAGE = { retrySingly: (error: unknown) => !isOutage(error) };

/** The inbox's SQL, over the vault's executor (each statement atomic on its own). */
export class SqlWebhookInbox implements WebhookInbox {
  // Deliveries verified in the same turn (or while a batch is written) are written by one statement.
  private readonly stores = new GroupBatcher<StoreCall, StoreWebhookResult>((calls) => this.storeBatch(calls), SINGLY_UNLESS_OUTAGE);
  private readonly completions = new GroupBatcher<number, void>(async (ids) => {
    await this.background.query(
      `update vault_webhooks set processed_at = now(), lease_owner = null, lease_until = null
       where id = any($1::bigint[]) and processed_at is null`,
      [[...new Set(ids)]],
    );
    return ids.map(() => undefined);
  }, SINGLY_UNLESS_OUTAGE);

  constructor(
    private readonly db: SqlExecutor,
    private readonly background: SqlExecutor = db,
  ) {}

  storeWebhook(input: StoreWebhookInput, options: StoreWebhookOptions = {}): Promise<StoreWebhookResult> {
    if (!SHA256_HEX.test(input.bodySha256)) return Promise.reject(new TypeError('bodySha256 must be 64 lower-case hex digits'));
    for (const field of ['webhookType', 'webhookCode'] as const) {
      if (typeof input[field] !== 'string' || input[field] === '')
        return Promise.reject(new TypeError(`${field} must be a non-empty string`));
    }
    const windowMs = options.dedupeWindowMs ?? DEFAULT_DEDUPE_WINDOW_MS;
    if (!Number.isFinite(windowMs) || windowMs < 0) return Promise.reject(new RangeError('dedupeWindowMs must be a non-negative number'));
    return this.stores.call({ input, windowMs });
  }

  /** One statement per dedupe window in the batch (in practice one: the receiver has a single window). */
  private async storeBatch(calls: readonly StoreCall[]): Promise<StoreWebhookResult[]> {
    const results = new Array<StoreWebhookResult>(calls.length).fill('duplicate');
    const windows = new Map<number, number[]>();
    for (const [i, call] of calls.entries()) {
      const indexes = windows.get(call.windowMs);
      if (indexes) indexes.push(i);
      else windows.set(call.windowMs, [i]);
    }
    for (const [windowMs, indexes] of windows) {
      // ON CONFLICT cannot touch a row twice in one statement: the first of identical bodies is
      // written, the others in the batch are duplicates of it (it is unprocessed, so they would be anyway).
      const first = new Map<string, number>();
      for (const i of indexes) {
        const sha = (calls[i] as StoreCall).input.bodySha256;
        if (!first.has(sha)) first.set(sha, i);
      }
      const rows = [...first.values()].map((i) => (calls[i] as StoreCall).input);
      // A processed row older than the window is re-armed rather than duplicated: the body is the key.
      const { rows: stored } = await this.db.query<{ body_sha256: string }>(
        `insert into vault_webhooks (body_sha256, body, webhook_type, webhook_code, item_id)
         select * from unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[])
         on conflict (body_sha256) do update set
           received_at = now(), processed_at = null, attempts = 0, last_error = null,
           next_attempt_at = now(), lease_owner = null, lease_until = null
         where vault_webhooks.processed_at is not null
           and vault_webhooks.received_at < now() - $6::double precision * interval '1 millisecond'
         returning body_sha256`,
        [
          rows.map((row) => row.bodySha256),
          rows.map((row) => row.body),
          rows.map((row) => row.webhookType),
          rows.map((row) => row.webhookCode),
          rows.map((row) => row.itemId),
          windowMs,
        ],
      );
      for (const { body_sha256: sha } of stored) {
        const i = first.get(sha);
        if (i !== undefined) results[i] = 'stored';
      }
    }
    return results;
  }

  async claimWebhooks(limit: number, owner: string, leaseMs: number): Promise<InboxWebhook[]> {
    if (!Number.isInteger(limit) || limit < 1) throw new RangeError('limit must be a positive integer');
    if (!Number.isFinite(leaseMs) || leaseMs <= 0) throw new RangeError('leaseMs must be positive');
    if (typeof owner !== 'string' || owner === '') throw new TypeError('owner must be a non-empty string');
    const { rows } = await this.background.query<WebhookRow>(
      `update vault_webhooks set
         lease_owner = $2,
         lease_until = now() + $3::double precision * interval '1 millisecond',
         attempts = attempts + 1
       where id in (
         select id from vault_webhooks
         where processed_at is null and next_attempt_at <= now() and (lease_until is null or lease_until <= now())
         order by next_attempt_at, id
         limit $1
         for update skip locked
       )
       returning id, body, body_sha256, webhook_type, webhook_code, item_id, received_at, attempts, last_error`,
      [limit, owner, leaseMs],
    );
    return rows.map(toWebhook).sort((a, b) => a.id - b.id);
  }

  completeWebhook(id: number): Promise<void> {
    return this.completions.call(id);
  }

  async failWebhook(id: number, error: string, retryInMs = 0): Promise<void> {
    if (!Number.isFinite(retryInMs) || retryInMs < 0) throw new RangeError('retryInMs must be a non-negative number');
    await this.background.query(
      `update vault_webhooks set
         last_error = $2,
         next_attempt_at = now() + $3::double precision * interval '1 millisecond',
         lease_owner = null, lease_until = null
       where id = $1 and processed_at is null`,
      [id, error.slice(0, MAX_ERROR_LENGTH), retryInMs],
    );
  }
}

function toWebhook(row: WebhookRow): InboxWebhook {
  return Object.freeze({
    id: Number(row.id),
    body: row.body,
    bodySha256: row.body_sha256,
    webhookType: row.webhook_type,
    webhookCode: row.webhook_code,
    itemId: row.item_id,
    receivedAt: new Date(row.received_at),
    attempts: row.attempts,
    lastError: row.last_error,
  });
}
