/**
 * The one seam between the vault and its database: a query function and transactions, over
 * either PGlite (embedded, no server) or a pg.Pool (PostgreSQL, several replicas).
 */
import type { PGlite, Transaction } from '@electric-sql/pglite';
import pg from 'pg';
import type { PoolClient, QueryResultRow } from 'pg';
import { viaDatabase } from './errors.js';

/** What the vault and the migrations need from a database. */
export interface SqlExecutor {
  /** One statement; `$1`.. placeholders. */
  query<R>(text: string, params?: unknown[]): Promise<{ rows: R[] }>;
  /**
   * Runs `fn` in a transaction: committed when it resolves, rolled back when it throws. Called on
   * an executor that is already a transaction, it joins that transaction (no nesting).
   */
  transaction<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T>;
  close(): Promise<void>;
  /**
   * Many rows cost more than one JSON text holding them: PGlite decodes every field of every row in
   * JS (1,000 Item rows ~9 ms against ~5 ms as one json_agg), while node-postgres reads rows faster
   * than the JSON the server would build (~2 against ~3 ms). Bulk reads then ask for one JSON value.
   */
  readonly prefersJson?: boolean;
}

const SCHEMA_NAME = /^[a-z_][a-z0-9_]*$/;

/** For the scratch cluster: what its template gets before it is saved, and a name for that (pglite-scratch.ts). */
export interface ScratchPrepare {
  readonly prepare?: (db: SqlExecutor) => Promise<void>;
  readonly variant?: string;
}

/**
 * Embedded Postgres: files under `dataDir`, or without it a scratch cluster that lives as long as
 * the process (pglite-scratch.ts). One process per data dir.
 */
export async function openPglite(dataDir?: string, scratch: ScratchPrepare = {}): Promise<SqlExecutor> {
  // Loaded here, not at the top: a PostgreSQL-backed process never holds PGlite (issue #16: memory, start-up).
  const { openScratchPglite, startPglite } = await import('./pglite-scratch.js');
  if (dataDir === undefined) {
    const { prepare, variant } = scratch;
    const opened = await openScratchPglite({
      ...(prepare && variant ? { prepare: (db: PGlite) => prepare(new PgliteExecutor(db)), variant } : {}),
    });
    return new PgliteExecutor(opened.db, opened.dispose);
  }
  return new PgliteExecutor(await startPglite({ dataDir }));
}

class PgliteExecutor implements SqlExecutor {
  readonly prefersJson = true;

  constructor(
    private readonly db: PGlite,
    /** A scratch cluster's: closes the database and removes its directory. */
    private readonly dispose?: () => Promise<void>,
  ) {}

  async query<R>(text: string, params?: unknown[]): Promise<{ rows: R[] }> {
    return pgliteQuery<R>(this.db, text, params);
  }

  async transaction<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T> {
    return this.db.transaction((tx) => fn(new PgliteTransaction(tx)));
  }

  async close(): Promise<void> {
    if (this.dispose) return this.dispose();
    if (!this.db.closed) await this.db.close();
  }
}

class PgliteTransaction implements SqlExecutor {
  readonly prefersJson = true;

  constructor(private readonly tx: Transaction) {}

  async query<R>(text: string, params?: unknown[]): Promise<{ rows: R[] }> {
    return pgliteQuery<R>(this.tx, text, params);
  }

  async transaction<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T> {
    return fn(this);
  }

  close(): Promise<void> {
    return Promise.reject(new Error('a transaction cannot close its database'));
  }
}

async function pgliteQuery<R>(db: PGlite | Transaction, text: string, params: unknown[] | undefined) {
  try {
    const result = await db.query<R>(text, params);
    return { rows: result.rows };
  } catch (error) {
    // PGlite attaches the bound parameters to its errors; they hold ciphertexts and ids, so drop them.
    if (error instanceof Error && 'params' in error) delete (error as { params?: unknown }).params;
    throw error;
  }
}

/** Options of `openPostgres`. */
export interface PostgresOptions {
  /** Schema for the vault's tables, created if missing and put first on every connection's search_path. */
  readonly schema?: string;
  /** Pool size (pg's default is 10). */
  readonly max?: number;
  /** Connecting, and waiting for a free pooled connection, give up after this. */
  readonly connectTimeoutMs?: number;
  /** The server cancels a statement after this; the client gives up a little later (a blackholed server never answers). */
  readonly statementTimeoutMs?: number;
}

export const DEFAULT_POSTGRES_TIMEOUTS = Object.freeze({ connectTimeoutMs: 2_000, statementTimeoutMs: 5_000 });

/** PostgreSQL through a pg.Pool; safe for several replicas on one database (migrations take a lock). */
export async function openPostgres(connectionString: string, options: PostgresOptions = {}): Promise<SqlExecutor> {
  const { schema, max } = options;
  const connectTimeoutMs = options.connectTimeoutMs ?? DEFAULT_POSTGRES_TIMEOUTS.connectTimeoutMs;
  const statementTimeoutMs = options.statementTimeoutMs ?? DEFAULT_POSTGRES_TIMEOUTS.statementTimeoutMs;
  if (schema !== undefined && !SCHEMA_NAME.test(schema)) {
    throw new Error('schema name must match /^[a-z_][a-z0-9_]*$/');
  }
  // Without these a blackholed database holds every request for the whole outage.
  const pool = new pg.Pool({
    connectionString,
    ...(max !== undefined ? { max } : {}),
    connectionTimeoutMillis: connectTimeoutMs,
    statement_timeout: statementTimeoutMs,
    query_timeout: statementTimeoutMs + 1_000,
    idle_in_transaction_session_timeout: statementTimeoutMs * 2,
    keepAlive: true,
    // Set at connect time, so every pooled connection sees the schema without a per-checkout query.
    ...(schema !== undefined ? { options: `-c search_path=${schema}` } : {}),
  });
  // An idle connection that dies (server restart) is dropped by the pool; without a listener the
  // 'error' event would crash the process. The next query simply opens a new connection.
  pool.on('error', () => {});
  try {
    if (schema !== undefined) await createSchema(pool, schema);
    return new PoolExecutor(pool);
  } catch (error) {
    await pool.end();
    throw error;
  }
}

async function createSchema(pool: pg.Pool, schema: string): Promise<void> {
  try {
    await pool.query(`create schema if not exists ${pg.escapeIdentifier(schema)}`);
  } catch (error) {
    // Two replicas creating it at the same moment: the loser sees a unique violation, and the schema exists.
    if (!(error instanceof pg.DatabaseError && (error.code === '23505' || error.code === '42P06'))) throw error;
  }
}

class PoolExecutor implements SqlExecutor {
  private closed = false;

  constructor(private readonly pool: pg.Pool) {}

  async query<R>(text: string, params?: unknown[]): Promise<{ rows: R[] }> {
    const result = await viaDatabase(() => this.pool.query<QueryResultRow>(text, params));
    return { rows: result.rows as R[] };
  }

  async transaction<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T> {
    const client = await viaDatabase(() => this.pool.connect());
    let broken = false;
    // The pool's own error listener is off while a client is checked out: without this one, a reset
    // connection (PostgreSQL restarted, the network cut) mid-transaction is an uncaught 'error' event
    // that ends the process. The query in flight rejects with the error all the same.
    const onError = () => {
      broken = true;
    };
    client.on('error', onError);
    try {
      await viaDatabase(() => client.query('begin'));
      const result = await fn(new ClientExecutor(client));
      await viaDatabase(() => client.query('commit'));
      return result;
    } catch (error) {
      try {
        await client.query('rollback');
      } catch {
        // A connection that cannot roll back must not go back to the pool mid-transaction.
        broken = true;
      }
      throw error;
    } finally {
      // The pool puts its listener back on release; a connection that failed is not reused.
      client.off('error', onError);
      client.release(broken);
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.pool.end();
  }
}

class ClientExecutor implements SqlExecutor {
  constructor(private readonly client: PoolClient) {}

  async query<R>(text: string, params?: unknown[]): Promise<{ rows: R[] }> {
    const result = await viaDatabase(() => this.client.query<QueryResultRow>(text, params));
    return { rows: result.rows as R[] };
  }

  async transaction<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T> {
    return fn(this);
  }

  close(): Promise<void> {
    return Promise.reject(new Error('a transaction cannot close its database'));
  }
}
