/**
 * The refresh log: every refresh Plaid accepted, with its status, and the events Plaid's webhooks
 * brought for it (or for its Item). Status is stored, so a client that reconnects loses nothing;
 * subscriptions only notify. Applying a webhook is idempotent (one event per inbox webhook and
 * refresh) and order-tolerant (a terminal status is never undone by a later, older webhook).
 */
import { randomBytes } from 'node:crypto';
import { isOutage } from './errors.js';
import { GroupBatcher } from './group-batcher.js';
import type { SqlExecutor } from './sql.js';

export type RefreshStatus = 'PENDING' | 'DATA_AVAILABLE' | 'FAILED' | 'QUIET';

/** One accepted refresh of one product of one Item. */
export interface RefreshRun {
  readonly id: string;
  readonly itemId: string;
  readonly viewerId: string;
  /** The catalogue's product key (`transactions`, `identity`, `cashflow_report`, `user_financial_data`). */
  readonly product: string;
  readonly plaidRequestId: string;
  readonly requestedAt: Date;
  readonly status: RefreshStatus;
  readonly updatedAt: Date;
}

/** What a webhook (or the quiet window) brought: for a refresh, or for its Item alone. */
export interface RefreshEventRecord {
  readonly id: string;
  readonly refreshId: string | null;
  readonly itemId: string;
  readonly webhookType: string;
  readonly webhookCode: string;
  /** The webhook's fields as Plaid sent them (parsed JSON). */
  readonly payload: Readonly<Record<string, unknown>>;
  readonly receivedAt: Date;
}

export interface NewRun {
  readonly itemId: string;
  readonly viewerId: string;
  readonly product: string;
  readonly plaidRequestId: string;
  readonly requestedAt: Date;
  /** PENDING for an accepted refresh; FAILED for a bundle Item Plaid answered with an error. */
  readonly status: RefreshStatus;
}

/** A webhook to apply: which products of its Item it concerns and what it does to their refreshes. */
export interface WebhookEffect {
  /** The inbox row it came from: applying it twice changes nothing. */
  readonly inboxId: string;
  readonly itemId: string;
  readonly webhookType: string;
  readonly webhookCode: string;
  readonly payload: Readonly<Record<string, unknown>>;
  readonly receivedAt: Date;
  /** Products whose latest refresh the webhook answers; empty for an Item-level event. */
  readonly products: readonly string[];
  /** The status the webhook gives those refreshes (null: an event, no status change). */
  readonly status: Exclude<RefreshStatus, 'PENDING' | 'QUIET'> | null;
  /** An Item error: every pending refresh of the Item fails. */
  readonly failsPendingRefreshes: boolean;
}

/** What applying a webhook changed: the refreshes it touched and the events it added. */
export interface AppliedWebhook {
  /** The Item's viewer; null when the Item is not linked here (nothing was stored). */
  readonly viewerId: string | null;
  readonly refreshIds: readonly string[];
  readonly events: readonly RefreshEventRecord[];
}

export interface RunRow {
  id: string;
  item_id: string;
  viewer_id: string;
  product: string;
  plaid_request_id: string;
  /** A Date from a row; epoch milliseconds from a JSON read (vault.ts selectRows). */
  requested_at: Date | number;
  status: RefreshStatus;
  updated_at: Date | number;
}

interface EventRow {
  id: string;
  refresh_id: string | null;
  item_id: string;
  webhook_type: string;
  webhook_code: string;
  payload: Record<string, unknown> | string;
  received_at: Date;
}

/**
 * The latest refresh of each product of the Item `itemColumn` names (a lateral subquery's body):
 * the Item's products found by skipping through vault_refresh_runs_item_idx (a recursive CTE),
 * then one index probe (limit 1) per product. `distinct on` read every refresh an Item ever had:
 * 256 ms for 1,000 Items after a benchmark's worth of refreshes.
 */
export function latestRunsOf(itemColumn: string): string {
  return `with recursive products(product) as (
      (select product from vault_refresh_runs where item_id = ${itemColumn} order by product limit 1)
      union all
      (select (select r.product from vault_refresh_runs r where r.item_id = ${itemColumn} and r.product > products.product order by r.product limit 1)
       from products where products.product is not null)
    )
    select run.* from products p cross join lateral (
      select ${RUN_COLUMNS} from vault_refresh_runs
      where item_id = ${itemColumn} and product = p.product order by requested_at desc, id limit 1
    ) run where p.product is not null`;
}
export const RUN_COLUMNS = 'id, item_id, viewer_id, product, plaid_request_id, requested_at, status, updated_at';
const EVENT_COLUMNS = 'id, refresh_id, item_id, webhook_type, webhook_code, payload, received_at';

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
/** `rfr_` + 22 base62 characters (131 bits): a refresh id says nothing about its Item or viewer. */
export function newRefreshId(): string {
  let id = 'rfr_';
  for (const byte of randomBytes(22)) id += BASE62[byte % 62];
  return id;
}

/** A webhook older than the refresh cannot be about it: allow this much clock difference with Plaid. */
const WEBHOOK_CLOCK_SKEW_MS = 60_000;

export class RefreshLog {
  // Refreshes accepted together (concurrent requests, a bundle) are recorded by one statement.
  private readonly starts: GroupBatcher<NewRun & { readonly id: string }, RefreshRun | null>;

  constructor(private readonly db: SqlExecutor) {
    this.starts = new GroupBatcher((runs) => this.insert(runs), { retrySingly: (error) => !isOutage(error) });
  }

  /** Records accepted refreshes; returns the ones stored (a refresh of an Item no longer linked is not). */
  async start(runs: readonly (NewRun & { readonly id?: string })[]): Promise<RefreshRun[]> {
    const stored = await Promise.all(runs.map((run) => this.starts.call({ ...run, id: run.id ?? newRefreshId() })));
    return stored.filter((run): run is RefreshRun => run !== null);
  }

  private async insert(withIds: readonly (NewRun & { readonly id: string })[]): Promise<(RefreshRun | null)[]> {
    const { rows } = await this.db.query<RunRow>(
      `insert into vault_refresh_runs (id, item_id, viewer_id, product, plaid_request_id, requested_at, status, updated_at)
       select r.id, r.item_id, r.viewer_id, r.product, r.plaid_request_id, r.requested_at, r.status, r.requested_at
       from unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::timestamptz[], $7::text[])
         as r (id, item_id, viewer_id, product, plaid_request_id, requested_at, status)
       where exists (select 1 from vault_items i where i.item_id = r.item_id)
       on conflict (id) do nothing
       returning ${RUN_COLUMNS}`,
      [
        withIds.map((r) => r.id),
        withIds.map((r) => r.itemId),
        withIds.map((r) => r.viewerId),
        withIds.map((r) => r.product),
        withIds.map((r) => r.plaidRequestId),
        withIds.map((r) => r.requestedAt),
        withIds.map((r) => r.status),
      ],
    );
    const byId = new Map(rows.map((row) => [row.id, toRun(row)]));
    return withIds.map((run) => byId.get(run.id) ?? null);
  }

  /** The refreshes with these ids that belong to `viewerId` (any order). */
  async runs(viewerId: string, ids: readonly string[]): Promise<RefreshRun[]> {
    if (ids.length === 0) return [];
    const { rows } = await this.db.query<RunRow>(
      `select ${RUN_COLUMNS} from vault_refresh_runs where id = any($1::text[]) and viewer_id = $2`,
      [[...new Set(ids)], viewerId],
    );
    return rows.map(toRun);
  }

  /** The latest refresh of each product of these Items (one statement). */
  async latest(itemIds: readonly string[]): Promise<RefreshRun[]> {
    if (itemIds.length === 0) return [];
    const { rows } = await this.db.query<RunRow>(
      `select latest.* from unnest($1::text[]) as i(item_id) cross join lateral (${latestRunsOf('i.item_id')}) latest
       order by latest.item_id, latest.product`,
      [[...new Set(itemIds)]],
    );
    return rows.map(toRun);
  }

  /** The events of these refreshes, oldest first (one statement). */
  async events(refreshIds: readonly string[]): Promise<RefreshEventRecord[]> {
    if (refreshIds.length === 0) return [];
    const { rows } = await this.db.query<EventRow>(
      `select ${EVENT_COLUMNS} from vault_refresh_events where refresh_id = any($1::text[]) order by received_at, id`,
      [[...new Set(refreshIds)]],
    );
    return rows.map(toEvent);
  }

  /** Events by id (for a notice: what a webhook just added). */
  async eventsById(ids: readonly string[]): Promise<RefreshEventRecord[]> {
    if (ids.length === 0) return [];
    const { rows } = await this.db.query<EventRow>(
      `select ${EVENT_COLUMNS} from vault_refresh_events where id = any($1::text[]) order by received_at, id`,
      [[...new Set(ids)]],
    );
    return rows.map(toEvent);
  }

  /**
   * Applies one webhook in one transaction: the latest refresh of each product it concerns gets its
   * event (and status, unless that refresh already ended otherwise); an Item error fails every
   * pending refresh of the Item; a webhook no refresh is waiting for is kept as an Item event.
   */
  async apply(effect: WebhookEffect): Promise<AppliedWebhook> {
    return this.db.transaction(async (tx) => {
      // Serialises webhooks of one Item across replicas, so two cannot both think they were first.
      const { rows: owners } = await tx.query<{ viewer_id: string }>('select viewer_id from vault_items where item_id = $1 for update', [
        effect.itemId,
      ]);
      const viewerId = owners[0]?.viewer_id ?? null;
      // An Item not linked here (unlinked meanwhile, or another deployment's): nothing to keep it for.
      if (viewerId === null) return { viewerId, refreshIds: [], events: [] };
      const since = new Date(effect.receivedAt.getTime() + WEBHOOK_CLOCK_SKEW_MS);
      const { rows: targets } = effect.products.length
        ? await tx.query<RunRow>(
            `select distinct on (product) ${RUN_COLUMNS} from vault_refresh_runs
             where item_id = $1 and product = any($2::text[]) and requested_at <= $3
             order by product, requested_at desc, id`,
            [effect.itemId, [...effect.products], since],
          )
        : { rows: [] as RunRow[] };
      const failing = effect.failsPendingRefreshes
        ? (
            await tx.query<RunRow>(`select ${RUN_COLUMNS} from vault_refresh_runs where item_id = $1 and status = 'PENDING'`, [
              effect.itemId,
            ])
          ).rows
        : [];
      const touched = new Map<string, RunRow>();
      for (const run of [...targets, ...failing]) touched.set(run.id, run);
      const refreshIds = [...touched.keys()];
      const newStatus = effect.failsPendingRefreshes ? 'FAILED' : effect.status;
      if (newStatus !== null && refreshIds.length > 0) {
        // PENDING and QUIET give way (a late webhook is still news); DATA_AVAILABLE and FAILED stay.
        await tx.query(
          `update vault_refresh_runs set status = $2, updated_at = greatest(updated_at, $3)
           where id = any($1::text[]) and status in ('PENDING', 'QUIET')`,
          [refreshIds, newStatus, effect.receivedAt],
        );
      }
      const eventTargets: (string | null)[] = refreshIds.length > 0 ? refreshIds : [null];
      const { rows } = await tx.query<EventRow>(
        `insert into vault_refresh_events (id, inbox_id, refresh_id, item_id, webhook_type, webhook_code, payload, received_at)
         select e.id, $2, e.refresh_id, $3, $4, $5, $6::jsonb, $7
         from unnest($1::text[], $8::text[]) as e (id, refresh_id)
         on conflict (inbox_id, (coalesce(refresh_id, ''))) do nothing
         returning ${EVENT_COLUMNS}`,
        [
          eventTargets.map(() => newRefreshId().replace('rfr_', 'rfe_')),
          effect.inboxId,
          effect.itemId,
          effect.webhookType,
          effect.webhookCode,
          JSON.stringify(effect.payload),
          effect.receivedAt,
          eventTargets,
        ],
      );
      return { viewerId, refreshIds, events: rows.map(toEvent) };
    });
  }

  /**
   * Refreshes still PENDING whose quiet window has passed become QUIET: Plaid sends nothing when
   * nothing changed. One statement, so each refresh turns quiet once, whichever replica sweeps.
   */
  async markQuiet(olderThan: Date, now: Date): Promise<RefreshRun[]> {
    const { rows } = await this.db.query<RunRow>(
      `update vault_refresh_runs set status = 'QUIET', updated_at = $2
       where status = 'PENDING' and requested_at <= $1
       returning ${RUN_COLUMNS}`,
      [olderThan, now],
    );
    return rows.map(toRun);
  }
}

export function toRun(row: RunRow): RefreshRun {
  return {
    id: row.id,
    itemId: row.item_id,
    viewerId: row.viewer_id,
    product: row.product,
    plaidRequestId: row.plaid_request_id,
    requestedAt: new Date(row.requested_at),
    status: row.status,
    updatedAt: new Date(row.updated_at),
  };
}

function toEvent(row: EventRow): RefreshEventRecord {
  return {
    id: row.id,
    refreshId: row.refresh_id,
    itemId: row.item_id,
    webhookType: row.webhook_type,
    webhookCode: row.webhook_code,
    payload: typeof row.payload === 'string' ? (JSON.parse(row.payload) as Record<string, unknown>) : row.payload,
    receivedAt: new Date(row.received_at),
  };
}
