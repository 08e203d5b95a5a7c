/**
 * The vault's schema, as ordered migrations shared by PGlite and PostgreSQL. Append only: a
 * migration that has shipped is never edited, a change is a new version.
 */
import { createHash } from 'node:crypto';
import type { SqlExecutor } from './sql.js';

/** One schema change. `sql` may hold several statements, each ending with `;` at the end of a line. */
export interface Migration {
  readonly version: number;
  readonly name: string;
  readonly sql: string;
}

/** Every migration, oldest first. */
export const MIGRATIONS: readonly Migration[] = Object.freeze([
  {
    version: 1,
    name: 'create_vault_tables',
    sql: `
      create table vault_viewers (
        id text primary key,
        plaid_user_id_enc text,
        created_at timestamptz not null default now(),
        updated_at timestamptz not null default now()
      );
      create table vault_items (
        item_id text primary key,
        viewer_id text not null,
        institution_id text not null,
        institution_name text not null,
        products text[] not null,
        access_token_enc text not null,
        created_at timestamptz not null default now(),
        updated_at timestamptz not null default now()
      );
      create index vault_items_viewer_id_idx on vault_items (viewer_id);
    `,
  },
  {
    version: 2,
    name: 'create_vault_refreshes',
    // The last accepted refresh per Item and product; Plaid request ids are not secret.
    sql: `
      create table vault_refreshes (
        item_id text not null references vault_items (item_id) on delete cascade,
        product text not null,
        request_id text not null,
        refreshed_at timestamptz not null,
        primary key (item_id, product)
      );
    `,
  },
  {
    version: 3,
    name: 'create_vault_keys',
    // Every key id that has written into this vault, each with a canary sealed under it: start-up
    // checks the configured keys against these few rows instead of every stored value.
    sql: `
      create table vault_keys (
        key_id text primary key,
        canary_enc text not null,
        first_used_at timestamptz not null default now(),
        retired_at timestamptz
      );
    `,
  },
  {
    version: 4,
    name: 'create_vault_item_health',
    // The last health observation per Item: Plaid's error object as JSON (scrubbed by the client), or
    // null once the Item works again. Deleted with its Item, as the refresh records are.
    sql: `
      create table vault_item_health (
        item_id text primary key references vault_items (item_id) on delete cascade,
        error jsonb,
        source text not null,
        observed_at timestamptz not null
      );
    `,
  },
  {
    version: 5,
    name: 'create_vault_webhooks',
    // The webhook inbox: every verified Plaid webhook, written before Plaid hears 200, and processed
    // later by whichever replica claims it (a lease). One row per distinct body (its SHA-256).
    sql: `
      create table vault_webhooks (
        id bigint generated always as identity primary key,
        body_sha256 text not null unique,
        body text not null,
        webhook_type text not null,
        webhook_code text not null,
        item_id text,
        received_at timestamptz not null default now(),
        processed_at timestamptz,
        attempts int not null default 0,
        last_error text,
        next_attempt_at timestamptz not null default now(),
        lease_owner text,
        lease_until timestamptz
      );
      create index vault_webhooks_pending_idx on vault_webhooks (next_attempt_at, id) where processed_at is null;
      create index vault_webhooks_item_id_idx on vault_webhooks (item_id);
    `,
  },
  {
    version: 6,
    name: 'create_vault_refresh_runs',
    // Every accepted refresh with its status, and what Plaid's webhooks said about it (see
    // refresh-log.ts). It replaces vault_refreshes (last refresh per product), whose rows it takes
    // over as QUIET: nothing is known of what became of them.
    sql: `
      create table vault_refresh_runs (
        id text primary key,
        item_id text not null references vault_items (item_id) on delete cascade,
        viewer_id text not null,
        product text not null,
        plaid_request_id text not null,
        requested_at timestamptz not null,
        status text not null,
        updated_at timestamptz not null
      );
      create index vault_refresh_runs_item_idx on vault_refresh_runs (item_id, product, requested_at desc);
      create index vault_refresh_runs_pending_idx on vault_refresh_runs (requested_at) where status = 'PENDING';
      create table vault_refresh_events (
        id text primary key,
        inbox_id text not null,
        refresh_id text references vault_refresh_runs (id) on delete cascade,
        item_id text not null references vault_items (item_id) on delete cascade,
        webhook_type text not null,
        webhook_code text not null,
        payload jsonb not null,
        received_at timestamptz not null
      );
      create unique index vault_refresh_events_once_idx on vault_refresh_events (inbox_id, (coalesce(refresh_id, '')));
      create index vault_refresh_events_refresh_idx on vault_refresh_events (refresh_id, received_at);
      create index vault_refresh_events_item_idx on vault_refresh_events (item_id, received_at);
      insert into vault_refresh_runs (id, item_id, viewer_id, product, plaid_request_id, requested_at, status, updated_at)
        select 'rfr_' || md5(r.item_id || '/' || r.product || '/' || r.request_id), r.item_id, i.viewer_id, r.product, r.request_id, r.refreshed_at, 'QUIET', r.refreshed_at
        from vault_refreshes r join vault_items i on i.item_id = r.item_id;
    `,
  },
  {
    version: 7,
    name: 'create_vault_item_expiry',
    // Plaid's notice that an Item's access ends (ITEM: PENDING_EXPIRATION, PENDING_DISCONNECT): kept
    // apart from the last error, since a refresh that works does not renew consent; only update mode does.
    sql: `
      create table vault_item_expiry (
        item_id text primary key references vault_items (item_id) on delete cascade,
        reason text not null,
        expires_at timestamptz,
        observed_at timestamptz not null
      );
    `,
  },
]);

/** Names the migrations' content, so a template cluster made with them is not reused after they change (pglite-scratch.ts). */
export const MIGRATIONS_DIGEST = createHash('sha256')
  .update(JSON.stringify(MIGRATIONS.map(({ version, sql }) => [version, sql])))
  .digest('hex')
  .slice(0, 16);

// Any constant works as long as nothing else on the database uses it: 'vault' in ASCII.
const MIGRATION_LOCK_KEY = 0x7661756c74;

/**
 * Creates `vault_migrations` and applies the missing migrations, each in its own transaction.
 * Every transaction first takes an advisory lock, so replicas starting together wait for each
 * other instead of racing, and re-checks the version under the lock.
 */
export async function migrate(db: SqlExecutor, migrations: readonly Migration[] = MIGRATIONS): Promise<void> {
  await db.transaction(async (tx) => {
    await lock(tx);
    await tx.query(`
      create table if not exists vault_migrations (
        version int primary key,
        name text not null,
        applied_at timestamptz not null default now()
      )`);
  });
  for (const migration of migrations) {
    await db.transaction(async (tx) => {
      await lock(tx);
      const { rows } = await tx.query<{ version: number }>('select version from vault_migrations where version = $1', [migration.version]);
      if (rows.length > 0) return;
      for (const statement of splitStatements(migration.sql)) await tx.query(statement);
      await tx.query('insert into vault_migrations (version, name) values ($1, $2)', [migration.version, migration.name]);
    });
  }
}

async function lock(tx: SqlExecutor): Promise<void> {
  // Released at commit or rollback; a crashed replica cannot leave it held.
  await tx.query(`select pg_advisory_xact_lock(${MIGRATION_LOCK_KEY})`);
}

/**
 * Splits a migration into statements: PGlite's query runs one statement per call. Enough for
 * plain DDL; a function body with `$$` would need a real parser, so it is refused.
 */
export function splitStatements(sql: string): string[] {
  if (sql.includes('$$')) throw new Error('migrations with dollar-quoted bodies are not supported');
  return sql
    .split(/;\s*(?:\n|$)/)
    .map((statement) => statement.trim())
    .filter((statement) => statement !== '');
}
