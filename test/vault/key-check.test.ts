/**
 * The key check when a vault opens: a vault holding data under a key that is not configured is
 * refused before anything is written; previous keys keep reading; values from before key ids (v1)
 * stay readable. On PGlite with a data directory (in memory nothing survives a reopen) and on
 * PostgreSQL when DATABASE_URL is set.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { accessTokenAad, plaidUserIdAad } from '../../src/vault/aad.js';
import { keyIdOf, parseEncryptionKey } from '../../src/vault/crypto.js';
import { VaultKeyMismatchError } from '../../src/vault/open-errors.js';
import { MIGRATIONS, migrate } from '../../src/vault/migrations.js';
import { openVault } from '../../src/vault/open-vault.js';
import type { TokenVault } from '../../src/vault/vault.js';
import { sealV1 } from '../helpers/legacy-vault-format.js';
import { STORE_BACKENDS, newKey, type VaultStore } from '../helpers/vault-stores.js';
import { needs } from '../helpers/needs.js';

const idOf = (key: string) => keyIdOf(parseEncryptionKey(key));

const item = (viewerId: string, itemId: string, accessToken: string) => ({
  viewerId,
  itemId,
  accessToken,
  institutionId: 'ins_109508',
  institutionName: 'First Platypus Bank',
  products: ['transactions'],
});

for (const backend of STORE_BACKENDS) {
  describe(`key check at open, ${backend.name}`, needs(...backend.requires), () => {
    let store: VaultStore;
    beforeEach(async () => {
      store = await backend.create();
    });
    afterEach(async () => {
      await store.cleanup();
    });

    const open = (current: string, previous: string[] = []) =>
      openVault({ ...store.location, encryptionKey: current, previousEncryptionKeys: previous });

    async function withVault<T>(vault: Promise<TokenVault>, use: (vault: TokenVault) => Promise<T>): Promise<T> {
      const opened = await vault;
      try {
        return await use(opened);
      } finally {
        await opened.close();
      }
    }

    async function rawRows<R>(sql: string): Promise<R[]> {
      const db = await store.raw();
      try {
        return (await db.query<R>(sql)).rows;
      } finally {
        await db.close();
      }
    }

    const recorded = () => rawRows<{ key_id: string; canary_enc: string }>('select key_id, canary_enc from vault_keys order by key_id');
    const recordedIds = async () => (await recorded()).map((row) => row.key_id).sort();

    it('an empty vault accepts any key and records it, with a canary sealed under it', async () => {
      const key = newKey();
      await withVault(open(key), (vault) => vault.ping());
      const rows = await recorded();
      expect(rows.map((row) => row.key_id)).toEqual([idOf(key)]);
      expect(rows[0]?.canary_enc.startsWith(`v2.${idOf(key)}.`)).toBe(true);
      // Opening again with the same key checks the canary and records nothing new.
      await withVault(open(key), (vault) => vault.ping());
      expect(await recordedIds()).toEqual([idOf(key)]);
    });

    it('refuses a vault written under another key, naming key ids only, and records nothing for the wrong key', async () => {
      const [right, wrong] = [newKey(), newKey()];
      await withVault(open(right), async (vault) => {
        await vault.saveItem(item('viewer-1', 'item-1', 'access-sandbox-kept'));
        await vault.setPlaidUserId('viewer-1', 'plaid-user-kept');
      });

      const attempt = open(wrong);
      await expect(attempt).rejects.toBeInstanceOf(VaultKeyMismatchError);
      const message = await attempt.then(
        () => '',
        (error: unknown) => (error as Error).message,
      );
      expect(message).toMatch(/^wrong encryption key: the vault holds data written under key id /);
      expect(message).toContain(idOf(right));
      expect(message).toContain(idOf(wrong));
      expect(message).not.toContain(right);
      expect(message).not.toContain(wrong);
      expect(message).not.toContain('\n');
      expect(await recordedIds()).toEqual([idOf(right)]);

      // The right key still opens it, with everything intact.
      await withVault(open(right), async (vault) => {
        expect(await vault.getAccessToken('viewer-1', 'item-1')).toBe('access-sandbox-kept');
        expect(await vault.getPlaidUserId('viewer-1')).toBe('plaid-user-kept');
      });
    });

    it('refuses another key even before any value is stored (a replica may be writing with the recorded one)', async () => {
      await withVault(open(newKey()), (vault) => vault.ping());
      await expect(open(newKey())).rejects.toThrow(/holds no values yet but has recorded writes under key id/);
    });

    it('a previous key still reads, new values go under the current key, and neither key alone opens it afterwards', async () => {
      const [oldKey, newer] = [newKey(), newKey()];
      await withVault(open(oldKey), (vault) => vault.saveItem(item('viewer-1', 'item-old', 'access-sandbox-old')));

      await withVault(open(newer, [oldKey]), async (vault) => {
        expect(await vault.getAccessToken('viewer-1', 'item-old')).toBe('access-sandbox-old');
        await vault.saveItem(item('viewer-1', 'item-new', 'access-sandbox-new'));
        expect(await vault.getItemForRefresh('viewer-1', 'item-new')).toMatchObject({ accessToken: 'access-sandbox-new' });
      });
      const stored = await rawRows<{ item_id: string; access_token_enc: string }>(
        'select item_id, access_token_enc from vault_items order by item_id',
      );
      expect(stored.map((row) => [row.item_id, row.access_token_enc.split('.').slice(0, 2).join('.')])).toEqual([
        ['item-new', `v2.${idOf(newer)}`],
        ['item-old', `v2.${idOf(oldKey)}`],
      ]);
      expect(await recordedIds()).toEqual([idOf(oldKey), idOf(newer)].sort());

      // Rolling back to the old key alone would leave item-new unreadable; dropping the old key too early, item-old.
      await expect(open(oldKey)).rejects.toThrow(new RegExp(`written under key id ${idOf(newer)}`));
      await expect(open(newer)).rejects.toThrow(new RegExp(`written under key id ${idOf(oldKey)}`));
    });

    it('values written before key ids (v1) still read with the key that wrote them, which is then recorded', async () => {
      const [legacyKey, current] = [newKey(), newKey()];
      const legacy = parseEncryptionKey(legacyKey);
      // The vault as the previous release left it: migrations 1 and 2, v1 values, no vault_keys.
      const db = await store.raw();
      try {
        await migrate(
          db,
          MIGRATIONS.filter((migration) => migration.version <= 2),
        );
        await db.query(
          `insert into vault_items (item_id, viewer_id, institution_id, institution_name, products, access_token_enc)
           values ('item-v1', 'viewer-1', 'ins_1', 'Bank', '{transactions}', $1)`,
          [sealV1(legacy, 'access-sandbox-v1', accessTokenAad('item-v1', 'viewer-1'))],
        );
        await db.query(`insert into vault_viewers (id, plaid_user_id_enc) values ('viewer-1', $1)`, [
          sealV1(legacy, 'plaid-user-v1', plaidUserIdAad('viewer-1')),
        ]);
      } finally {
        await db.close();
      }

      // A key that does not read them is refused, and not recorded.
      await expect(open(current)).rejects.toThrow(/the vault holds values that no configured key decrypts/);
      expect(await recordedIds()).toEqual([]);

      await withVault(open(current, [legacyKey]), async (vault) => {
        expect(await vault.getAccessToken('viewer-1', 'item-v1')).toBe('access-sandbox-v1');
        expect(await vault.getPlaidUserId('viewer-1')).toBe('plaid-user-v1');
      });
      expect(await recordedIds()).toEqual([idOf(legacyKey), idOf(current)].sort());
      // From now on the legacy key is known by its id: leaving it out is refused by name.
      await expect(open(current)).rejects.toThrow(new RegExp(`key id ${idOf(legacyKey)}`));
    });

    it('refuses a configured key that does not decrypt its recorded canary', async () => {
      const key = newKey();
      await withVault(open(key), (vault) => vault.ping());
      const db = await store.raw();
      try {
        // Same key id, altered tag: what a colliding id or a tampered row would look like.
        const [row] = (await db.query<{ canary_enc: string }>('select canary_enc from vault_keys')).rows;
        const parts = (row?.canary_enc ?? '').split('.');
        parts[3] = Buffer.alloc(16).toString('base64url');
        await db.query('update vault_keys set canary_enc = $1', [parts.join('.')]);
      } finally {
        await db.close();
      }
      await expect(open(key)).rejects.toThrow(/does not decrypt the vault's canary/);
    });
  });
}

const postgres = STORE_BACKENDS.find((backend) => backend.name.startsWith('PostgreSQL'));

describe('replicas starting together on an empty PostgreSQL vault', needs(...(postgres?.requires ?? [])), () => {
  it('with different keys: the first to record its key wins, the others are refused', async () => {
    const store = await (postgres as NonNullable<typeof postgres>).create();
    try {
      const [a, b] = [newKey(), newKey()];
      const results = await Promise.allSettled([a, b, a, b].map((key) => openVault({ ...store.location, encryptionKey: key })));
      const opened = results.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []));
      const refused = results.flatMap((result) => (result.status === 'rejected' ? [result.reason as unknown] : []));
      expect(opened).toHaveLength(2);
      for (const reason of refused) expect(reason).toBeInstanceOf(VaultKeyMismatchError);
      await Promise.all(opened.map((vault) => vault.close()));
      const admin = await store.raw();
      const { rows } = await admin.query<{ n: number }>('select count(*)::int as n from vault_keys');
      await admin.close();
      expect(rows[0]?.n).toBe(1);
    } finally {
      await store.cleanup();
    }
  });
});
