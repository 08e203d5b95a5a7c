/**
 * The vault's schema, as ordered migrations shared by PGlite and PostgreSQL. Append only: a
 * migration that has shipped is never edited, a change is a new version.
 */
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
  // Version 4 belongs to the Link branch (Link tokens, unlink, Item health); versions apply by number, not position.
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
]);

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
