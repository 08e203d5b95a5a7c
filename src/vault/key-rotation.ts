/**
 * Key rotation: every stored value (access tokens, Plaid user ids) not written under the current
 * key is re-encrypted with it, in batches. Safe while the service runs, because each row is only
 * updated if it still holds the value that was read (a relink in between wins), and safe to run
 * again, because values already under the current key are never read. Afterwards, recorded keys
 * that no value uses any more are marked retired, so start-up stops asking for them.
 */
import { accessTokenAad, plaidUserIdAad } from './aad.js';
import { TokenDecryptionError, storedPrefixFor, type TokenCipher } from './crypto.js';
import { recordedKeys } from './key-registry.js';
import type { SqlExecutor } from './sql.js';

/** What one pass over an encrypted column did. */
export interface ColumnRotation {
  readonly column: string;
  /** Rewritten under the current key. */
  readonly reencrypted: number;
  /** Read, but changed by someone else before the update (already new, or a later run picks it up). */
  readonly changedMeanwhile: number;
  /** Decrypt under no configured key (altered, moved to another row, or written under a key not configured): left as they are. */
  readonly undecryptable: number;
}

export interface RotationReport {
  readonly currentKeyId: string;
  readonly columns: readonly ColumnRotation[];
  /** Values not under the current key once the pass is over, by the key id they name (`v1`: written before key ids). */
  readonly remaining: Readonly<Record<string, number>>;
  /** Keys the vault had recorded that no value uses any more: retired now, so they may leave the configuration. */
  readonly retired: readonly string[];
}

export interface RotationOptions {
  /** Rows read and updated per statement (default 500). */
  readonly batchSize?: number;
  /** After every batch, with the column's counts so far. */
  readonly onBatch?: (progress: ColumnRotation) => void;
}

/** An encrypted column and how its AAD is built from its row. */
interface EncryptedColumn {
  readonly label: string;
  readonly table: string;
  readonly key: string;
  /** The column bound into the AAD besides the key (the key itself when there is none). */
  readonly owner: string;
  readonly value: string;
  readonly aad: (id: string, owner: string) => string;
}

const COLUMNS: readonly EncryptedColumn[] = [
  { label: 'access tokens', table: 'vault_items', key: 'item_id', owner: 'viewer_id', value: 'access_token_enc', aad: accessTokenAad },
  { label: 'Plaid user ids', table: 'vault_viewers', key: 'id', owner: 'id', value: 'plaid_user_id_enc', aad: (id) => plaidUserIdAad(id) },
];

/** Re-encrypts every value not under `cipher`'s current key, then retires the keys nothing uses any more. */
export async function rotateKeys(db: SqlExecutor, cipher: TokenCipher, options: RotationOptions = {}): Promise<RotationReport> {
  const batchSize = options.batchSize ?? 500;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new RangeError('batchSize must be a positive integer');
  const currentPrefix = storedPrefixFor(cipher.currentKeyId);
  const columns: ColumnRotation[] = [];
  for (const column of COLUMNS) columns.push(await rotateColumn(db, cipher, column, currentPrefix, batchSize, options.onBatch));

  const remaining: Record<string, number> = {};
  for (const column of COLUMNS) {
    const { rows } = await db.query<{ key_id: string; n: number }>(
      `select case when starts_with(${column.value}, 'v2.') then split_part(${column.value}, '.', 2) else 'v1' end as key_id, count(*)::int as n
       from ${column.table} where ${column.value} is not null and not starts_with(${column.value}, $1) group by 1`,
      [currentPrefix],
    );
    for (const row of rows) remaining[row.key_id] = (remaining[row.key_id] ?? 0) + Number(row.n);
  }

  const retired: string[] = [];
  for (const { keyId } of await recordedKeys(db)) {
    if (keyId === cipher.currentKeyId || (remaining[keyId] ?? 0) > 0) continue;
    // Checked again in the statement itself: a value written under this key since the count keeps it.
    const prefix = storedPrefixFor(keyId);
    const { rows } = await db.query<{ key_id: string }>(
      `update vault_keys set retired_at = now()
       where key_id = $1 and retired_at is null
         and not exists (select 1 from vault_items where starts_with(access_token_enc, $2))
         and not exists (select 1 from vault_viewers where starts_with(plaid_user_id_enc, $2))
       returning key_id`,
      [keyId, prefix],
    );
    for (const row of rows) retired.push(row.key_id);
  }
  return { currentKeyId: cipher.currentKeyId, columns, remaining, retired };
}

async function rotateColumn(
  db: SqlExecutor,
  cipher: TokenCipher,
  column: EncryptedColumn,
  currentPrefix: string,
  batchSize: number,
  onBatch: RotationOptions['onBatch'],
): Promise<ColumnRotation> {
  const counts = { column: column.label, reencrypted: 0, changedMeanwhile: 0, undecryptable: 0 };
  const { table, key, owner, value } = column;
  // Keyset pagination on the primary key: each row is read once, however many rows change meanwhile.
  let after = '';
  for (;;) {
    const { rows } = await db.query<{ id: string; owner: string; stored: string }>(
      `select ${key} as id, ${owner} as owner, ${value} as stored from ${table}
       where ${key} > $1 and ${value} is not null and not starts_with(${value}, $2)
       order by ${key} limit $3`,
      [after, currentPrefix, batchSize],
    );
    const last = rows.at(-1);
    if (!last) break;
    after = last.id;

    const updates: { id: string; owner: string; old: string; next: string }[] = [];
    for (const row of rows) {
      const aad = column.aad(row.id, row.owner);
      try {
        updates.push({ id: row.id, owner: row.owner, old: row.stored, next: cipher.encrypt(cipher.decrypt(row.stored, aad), aad) });
      } catch (error) {
        if (!(error instanceof TokenDecryptionError)) throw error;
        counts.undecryptable += 1;
      }
    }
    if (updates.length > 0) {
      // One statement per batch; a row is rewritten only if it still holds (and belongs to) what was read.
      const { rows: updated } = await db.query<{ id: string }>(
        `update ${table} as t set ${value} = u.next
         from unnest($1::text[], $2::text[], $3::text[], $4::text[]) as u(id, owner, old, next)
         where t.${key} = u.id and t.${owner} = u.owner and t.${value} = u.old
         returning t.${key} as id`,
        [updates.map((u) => u.id), updates.map((u) => u.owner), updates.map((u) => u.old), updates.map((u) => u.next)],
      );
      counts.reencrypted += updated.length;
      counts.changedMeanwhile += updates.length - updated.length;
    }
    onBatch?.({ ...counts });
    if (rows.length < batchSize) break;
  }
  return counts;
}
