/**
 * The vault_keys table: each key id that has written into this vault, with a canary sealed under
 * that key. Opening a vault checks the configured keys against it (a few rows, never the whole
 * vault) and records the current key before anything is written with it.
 */
import { accessTokenAad, keyCanaryAad, plaidUserIdAad } from './aad.js';
import { TokenDecryptionError, type TokenCipher } from './crypto.js';
import { VaultKeyMismatchError } from './open-errors.js';
import type { SqlExecutor } from './sql.js';

/** Known plaintext: decrypting it proves the key, and it reveals nothing about any token. */
const CANARY = 'plaid-refresh-graphql key canary';

// Any constant nothing else on the database uses: 'vkeys' in ASCII (the migrations' lock is 'vault').
const KEY_CHECK_LOCK_KEY = 0x766b657973;

const KEY_VARIABLES = 'TOKEN_ENCRYPTION_KEY / TOKEN_ENCRYPTION_PREVIOUS_KEYS';

/** A key the vault knows about. */
export interface RecordedKey {
  readonly keyId: string;
  readonly firstUsedAt: Date;
}

/**
 * Refuses (VaultKeyMismatchError) when the vault holds values written under a key that is not
 * configured, or when a configured key does not decrypt its canary; otherwise records the current
 * key. A vault with no recorded key but with values (written before key ids were recorded) must
 * have one of each kind of value decrypt with a configured key, which is then recorded too. An
 * empty vault accepts any key. Runs under an advisory lock, so two replicas started together
 * with different keys cannot both record theirs.
 */
export async function checkAndRecordKeys(db: SqlExecutor, cipher: TokenCipher): Promise<void> {
  await db.transaction(async (tx) => {
    await tx.query(`select pg_advisory_xact_lock(${KEY_CHECK_LOCK_KEY})`);
    const { rows } = await tx.query<{ key_id: string; canary_enc: string }>(
      'select key_id, canary_enc from vault_keys where retired_at is null order by first_used_at, key_id',
    );
    const unknown = rows.map((row) => row.key_id).filter((keyId) => !cipher.hasKey(keyId));
    if (unknown.length > 0) {
      // Strict even when no value is stored yet: a replica that recorded its key may be about to write with it.
      const what = (await holdsValues(tx)) ? 'holds data written under' : 'holds no values yet but has recorded writes under';
      throw new VaultKeyMismatchError(
        `wrong encryption key: the vault ${what} key id ${unknown.join(', ')}, which ${KEY_VARIABLES} ` +
          `do not include (configured: ${cipher.keyIds.join(', ')}); configure the key it was written with`,
      );
    }
    for (const row of rows) {
      if (!canaryOpens(cipher, row.key_id, row.canary_enc)) {
        throw new VaultKeyMismatchError(
          `wrong encryption key: the configured key with id ${row.key_id} does not decrypt the vault's canary for that id (${KEY_VARIABLES})`,
        );
      }
    }
    const toRecord = new Set([cipher.currentKeyId]);
    if (rows.length === 0) for (const keyId of await keysOfExistingValues(tx, cipher)) toRecord.add(keyId);
    for (const keyId of toRecord) {
      // A key used again after it was retired (a rollback to it) is active again; its canary stays.
      await tx.query(
        `insert into vault_keys (key_id, canary_enc) values ($1, $2)
         on conflict (key_id) do update set retired_at = null where vault_keys.retired_at is not null`,
        [keyId, cipher.encryptWithKey(keyId, CANARY, keyCanaryAad(keyId))],
      );
    }
  });
}

/** The keys recorded as having written into the vault and not retired, oldest first. */
export async function recordedKeys(db: SqlExecutor): Promise<RecordedKey[]> {
  const { rows } = await db.query<{ key_id: string; first_used_at: Date }>(
    'select key_id, first_used_at from vault_keys where retired_at is null order by first_used_at, key_id',
  );
  return rows.map((row) => ({ keyId: row.key_id, firstUsedAt: new Date(row.first_used_at) }));
}

function canaryOpens(cipher: TokenCipher, keyId: string, stored: string): boolean {
  try {
    const opened = cipher.decryptWithKeyId(stored, keyCanaryAad(keyId));
    return opened.keyId === keyId && opened.plaintext === CANARY;
  } catch (error) {
    if (error instanceof TokenDecryptionError) return false;
    throw error;
  }
}

/** Whether any encrypted value is stored (two index-free probes that stop at the first row). */
async function holdsValues(tx: SqlExecutor): Promise<boolean> {
  const { rows } = await tx.query<{ found: boolean }>(
    'select exists (select 1 from vault_items) or exists (select 1 from vault_viewers where plaid_user_id_enc is not null) as found',
  );
  return rows[0]?.found === true;
}

/** One stored value of each kind (at most two rows read); each must decrypt, and names the key that did. */
async function keysOfExistingValues(tx: SqlExecutor, cipher: TokenCipher): Promise<string[]> {
  const samples: { stored: string; aad: string }[] = [];
  const items = await tx.query<{ item_id: string; viewer_id: string; access_token_enc: string }>(
    'select item_id, viewer_id, access_token_enc from vault_items limit 1',
  );
  for (const row of items.rows) samples.push({ stored: row.access_token_enc, aad: accessTokenAad(row.item_id, row.viewer_id) });
  const viewers = await tx.query<{ id: string; plaid_user_id_enc: string }>(
    'select id, plaid_user_id_enc from vault_viewers where plaid_user_id_enc is not null limit 1',
  );
  for (const row of viewers.rows) samples.push({ stored: row.plaid_user_id_enc, aad: plaidUserIdAad(row.id) });
  const keyIds: string[] = [];
  for (const sample of samples) {
    try {
      keyIds.push(cipher.decryptWithKeyId(sample.stored, sample.aad).keyId);
    } catch (error) {
      if (!(error instanceof TokenDecryptionError)) throw error;
      throw new VaultKeyMismatchError(
        `wrong encryption key: the vault holds values that no configured key decrypts (${KEY_VARIABLES}); configure the key they were written with`,
        { cause: error },
      );
    }
  }
  return keyIds;
}
