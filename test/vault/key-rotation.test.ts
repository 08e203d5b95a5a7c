/**
 * Key rotation (`npm run vault:rotate-keys`, src/cli/rotate-keys.ts): values under old keys and v1
 * values are re-encrypted under the current key, the run is idempotent, a row changed while it
 * runs is left to the writer, and the output holds counts and key ids only. PGlite with a data
 * directory always, PostgreSQL when DATABASE_URL is set.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/rotate-keys.js';
import { accessTokenAad } from '../../src/vault/aad.js';
import { TokenCipher, keyIdOf, parseEncryptionKey } from '../../src/vault/crypto.js';
import { rotateKeys } from '../../src/vault/key-rotation.js';
import { openVault, openVaultDatabase } from '../../src/vault/open-vault.js';
import type { SqlExecutor } from '../../src/vault/sql.js';
import type { TokenVault } from '../../src/vault/vault.js';
import { sealV1 } from '../helpers/legacy-vault-format.js';
import { STORE_BACKENDS, newKey, type VaultStore } from '../helpers/vault-stores.js';
import { needs } from '../helpers/needs.js';

const idOf = (key: string) => keyIdOf(parseEncryptionKey(key));

const ITEMS = Array.from({ length: 7 }, (_, i) => ({
  viewerId: `viewer-${i % 3}`,
  itemId: `item-${i}`,
  accessToken: `access-sandbox-rotation-${i}-secret`,
  institutionId: 'ins_109508',
  institutionName: 'First Platypus Bank',
  products: ['transactions'],
}));
const USERS = [0, 1, 2].map((i) => ({ viewerId: `viewer-${i}`, plaidUserId: `plaid-user-rotation-${i}` }));

/** The CLI with its output captured. */
async function runCli(args: string[], env: Record<string, string>) {
  const lines: string[] = [];
  const errors: string[] = [];
  const code = await main(args, env, { log: (line) => void lines.push(line), error: (line) => void errors.push(line) });
  return { code, out: lines.join('\n'), err: errors.join('\n') };
}

for (const backend of STORE_BACKENDS) {
  describe(`key rotation, ${backend.name}`, needs(...backend.requires), () => {
    let store: VaultStore;
    let oldKey: string;
    let currentKey: string;
    beforeEach(async () => {
      store = await backend.create();
      [oldKey, currentKey] = [newKey(), newKey()];
      // Everything written under the old key, plus one access token from before key ids (v1).
      const vault = await openVault({ ...store.location, encryptionKey: oldKey });
      try {
        await vault.saveItems(ITEMS);
        for (const user of USERS) await vault.setPlaidUserId(user.viewerId, user.plaidUserId);
      } finally {
        await vault.close();
      }
      await withRaw((db) =>
        db.query('update vault_items set access_token_enc = $1 where item_id = $2', [
          sealV1(parseEncryptionKey(oldKey), ITEMS[0]?.accessToken ?? '', accessTokenAad('item-0', 'viewer-0')),
          'item-0',
        ]),
      );
    });
    afterEach(async () => {
      await store.cleanup();
    });

    async function withRaw<T>(use: (db: SqlExecutor) => Promise<T>): Promise<T> {
      const db = await store.raw();
      try {
        return await use(db);
      } finally {
        await db.close();
      }
    }

    const storedKeyLabels = () =>
      withRaw(async (db) => {
        const items = await db.query<{ v: string }>('select access_token_enc as v from vault_items');
        const users = await db.query<{ v: string }>('select plaid_user_id_enc as v from vault_viewers');
        return [...items.rows, ...users.rows].map((row) => (row.v.startsWith('v2.') ? (row.v.split('.')[1] ?? '') : 'v1'));
      });

    async function expectEverythingReads(vault: TokenVault): Promise<void> {
      for (const input of ITEMS) expect(await vault.getAccessToken(input.viewerId, input.itemId)).toBe(input.accessToken);
      for (const user of USERS) expect(await vault.getPlaidUserId(user.viewerId)).toBe(user.plaidUserId);
    }

    it('re-encrypts every value under the current key in batches, is idempotent, and says when the old key can go', async () => {
      const env = { ...store.env, TOKEN_ENCRYPTION_KEY: currentKey, TOKEN_ENCRYPTION_PREVIOUS_KEYS: oldKey };
      const first = await runCli(['--batch-size', '3'], env);
      expect(first.err).toBe('');
      expect(first.code).toBe(0);
      expect(first.out.split('\n')).toEqual([
        `current key id ${idOf(currentKey)} (TOKEN_ENCRYPTION_KEY)`,
        'access tokens: 7 re-encrypted',
        'Plaid user ids: 3 re-encrypted',
        `key id ${idOf(oldKey)} (TOKEN_ENCRYPTION_PREVIOUS_KEYS entry 1): no value uses it any more; it can be removed from TOKEN_ENCRYPTION_PREVIOUS_KEYS`,
        'done: every value is under the current key',
      ]);
      // Counts and key ids only: no token, user id, Item id or key.
      for (const secret of [oldKey, currentKey, ...ITEMS.flatMap((i) => [i.accessToken, i.itemId]), ...USERS.map((u) => u.plaidUserId)]) {
        expect(first.out).not.toContain(secret);
      }
      expect(await storedKeyLabels()).toEqual(Array.from({ length: ITEMS.length + USERS.length }, () => idOf(currentKey)));

      const again = await runCli([], env);
      expect(again.code).toBe(0);
      expect(again.out).toContain('access tokens: 0 re-encrypted');
      expect(again.out).toContain('Plaid user ids: 0 re-encrypted');

      // The old key is retired: the current key alone opens the vault and reads everything.
      const vault = await openVault({ ...store.location, encryptionKey: currentKey });
      try {
        await expectEverythingReads(vault);
      } finally {
        await vault.close();
      }
      const keys = await withRaw((db) =>
        db.query<{ key_id: string; retired: boolean }>('select key_id, retired_at is not null as retired from vault_keys'),
      );
      expect(Object.fromEntries(keys.rows.map((row) => [row.key_id, row.retired]))).toEqual({
        [idOf(oldKey)]: true,
        [idOf(currentKey)]: false,
      });
    });

    it('leaves a row that changed between its read and its update to the writer', async () => {
      const opened = await openVaultDatabase({ ...store.location, encryptionKey: currentKey, previousEncryptionKeys: [oldKey] });
      const relinked = 'access-sandbox-relinked-meanwhile';
      let raced = false;
      // Between the rotation's read and its update, the service relinks item-3 (under the current key).
      const racing: SqlExecutor = {
        async query<R>(text: string, params?: unknown[]) {
          if (!raced && text.includes('update vault_items as t')) {
            raced = true;
            await opened.db.query('update vault_items set access_token_enc = $1 where item_id = $2', [
              opened.cipher.encrypt(relinked, accessTokenAad('item-3', 'viewer-0')),
              'item-3',
            ]);
          }
          return opened.db.query<R>(text, params);
        },
        transaction: (fn) => opened.db.transaction(fn),
        close: () => opened.db.close(),
      };
      try {
        const report = await rotateKeys(racing, opened.cipher, { batchSize: 100 });
        expect(report.columns[0]).toEqual({ column: 'access tokens', reencrypted: 6, changedMeanwhile: 1, undecryptable: 0 });
        expect(report.remaining).toEqual({});
        expect(report.retired).toEqual([idOf(oldKey)]);
      } finally {
        await opened.db.close();
      }
      const vault = await openVault({ ...store.location, encryptionKey: currentKey });
      try {
        expect(await vault.getAccessToken('viewer-0', 'item-3')).toBe(relinked);
      } finally {
        await vault.close();
      }
    });

    it('reports values no configured key decrypts, keeps their key recorded, and exits 2', async () => {
      // item-2's ciphertext copied onto item-5: it names the old key but its AAD is item-2's.
      await withRaw((db) =>
        db.query(
          `update vault_items set access_token_enc = (select access_token_enc from vault_items where item_id = 'item-2') where item_id = 'item-5'`,
        ),
      );
      const env = { ...store.env, TOKEN_ENCRYPTION_KEY: currentKey, TOKEN_ENCRYPTION_PREVIOUS_KEYS: oldKey };
      const result = await runCli([], env);
      expect(result.code).toBe(2);
      expect(result.out).toContain('access tokens: 6 re-encrypted, 1 do not decrypt with any configured key (left as they are)');
      expect(result.out).toContain(`key id ${idOf(oldKey)} (TOKEN_ENCRYPTION_PREVIOUS_KEYS entry 1): 1 value(s) still use it`);
      expect(result.out).toContain('not finished');
      // Still recorded, so dropping the old key is refused at start rather than losing that row silently.
      await expect(openVault({ ...store.location, encryptionKey: currentKey })).rejects.toThrow(new RegExp(`key id ${idOf(oldKey)}`));
    });

    it('refuses to run on the wrong key, without a persistent vault, or with bad arguments', async () => {
      const wrong = await runCli([], { ...store.env, TOKEN_ENCRYPTION_KEY: currentKey });
      expect(wrong.code).toBe(1);
      expect(wrong.err).toMatch(new RegExp(`^key rotation failed: wrong encryption key: .*key id ${idOf(oldKey)}`));
      expect(wrong.err).not.toContain(currentKey);
      expect((await runCli([], { TOKEN_ENCRYPTION_KEY: currentKey })).err).toMatch(/set DATABASE_URL or VAULT_DATA_DIR/);
      for (const args of [['--batch-size'], ['--batch-size', '0'], ['--batch-size', 'many'], ['--what']]) {
        expect((await runCli(args, { ...store.env, TOKEN_ENCRYPTION_KEY: currentKey })).err).toMatch(/^usage: vault:rotate-keys/);
      }
      // Nothing was rewritten by the refused runs.
      expect(new Set(await storedKeyLabels())).toEqual(new Set(['v1', idOf(oldKey)]));
    });
  });
}

describe('rotateKeys', () => {
  it('refuses a batch size that is not a positive integer', async () => {
    const noDb = {} as SqlExecutor;
    await expect(rotateKeys(noDb, TokenCipher.ephemeral(), { batchSize: 0 })).rejects.toThrow(RangeError);
  });
});
