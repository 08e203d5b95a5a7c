/**
 * PostgreSQL resetting the connection of a transaction in progress (a restart, a cut network): the
 * transaction rejects as an outage, nothing escapes as an uncaught exception (which would end the
 * process), and the pool serves the next statement on a new connection once PostgreSQL is back.
 * The reset comes from the TCP fault proxy. Needs DATABASE_URL.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isOutage } from '../../src/vault/errors.js';
import { openPostgres, type SqlExecutor } from '../../src/vault/sql.js';
import { startFaultProxy, type FaultProxy } from '../helpers/fault-proxy.js';
import { needs } from '../helpers/needs.js';

describe('a PostgreSQL connection reset mid-transaction', needs('DATABASE_URL'), () => {
  const url = process.env.DATABASE_URL ?? '';
  const schema = `conn_reset_${randomBytes(5).toString('hex')}`;
  let proxy: FaultProxy;
  let db: SqlExecutor;
  let admin: SqlExecutor;
  const uncaught: unknown[] = [];
  const record = (error: unknown) => uncaught.push(error);

  beforeAll(async () => {
    const target = new URL(url);
    proxy = await startFaultProxy({ target: { host: target.hostname, port: Number(target.port || 5432) } });
    admin = await openPostgres(url, { schema });
    db = await openPostgres(proxy.url(url), { schema, connectTimeoutMs: 500, statementTimeoutMs: 1_000 });
    process.on('uncaughtException', record);
  });
  afterAll(async () => {
    process.off('uncaughtException', record);
    await db?.close();
    await proxy?.close();
    await admin?.query(`drop schema if exists ${schema} cascade`);
    await admin?.close();
  });

  it('rejects the transaction as an outage, throws nothing uncaught, and the next statement works', async () => {
    await admin.query('create table if not exists marks (n int)');
    const attempt = db.transaction(async (tx) => {
      await tx.query('insert into marks values (1)');
      // The client is checked out of the pool, idle in the transaction, when its connection is reset.
      await proxy.setMode({ kind: 'drop' });
      await tx.query('insert into marks values (2)');
    });
    const error: unknown = await attempt.then(
      () => null,
      (rejection: unknown) => rejection,
    );
    expect(isOutage(error)).toBe(true);
    // The client's 'error' event is emitted in the same turn as the rejection; give any late one a turn too.
    await new Promise((resolve) => setImmediate(resolve));
    expect(uncaught).toEqual([]);

    await proxy.setMode({ kind: 'pass' });
    expect((await db.query<{ n: number }>('select count(*)::int as n from marks')).rows).toEqual([{ n: 0 }]);
  });
});
