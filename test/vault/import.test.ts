import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { TokenCipher } from '../../src/vault/crypto.js';
import { ImportError, importTokens, main } from '../../src/cli/import-vault.js';
import { openVault } from '../../src/vault/open-vault.js';
import { openPglite } from '../../src/vault/sql.js';
import { SqlTokenVault, type TokenVault } from '../../src/vault/vault.js';

const TOKEN_A = 'access-sandbox-aaaa-1111-secret';
const TOKEN_B = 'access-sandbox-bbbb-2222-secret';

let vault: TokenVault;
beforeEach(async () => {
  vault = await SqlTokenVault.open(await openPglite(), TokenCipher.ephemeral());
});
afterEach(async () => {
  await vault.close();
});

async function importError(json: unknown): Promise<ImportError> {
  try {
    await importTokens(vault, json);
  } catch (error) {
    if (error instanceof ImportError) return error;
    throw error;
  }
  throw new Error('expected an ImportError');
}

describe('importTokens', () => {
  it('imports items and users', async () => {
    const summary = await importTokens(vault, {
      items: [
        {
          viewerId: 'viewer-1',
          itemId: 'item-a',
          accessToken: TOKEN_A,
          institutionId: 'ins_1',
          institutionName: 'First Platypus Bank',
          products: ['transactions'],
        },
        { viewerId: 'viewer-2', itemId: 'item-b', accessToken: TOKEN_B, institutionId: 'ins_2' },
      ],
      users: [{ viewerId: 'viewer-1', plaidUserId: 'plaid-user-1' }],
    });
    expect(summary).toEqual({ items: 2, users: 1, itemIds: ['item-a', 'item-b'] });
    expect(await vault.getAccessToken('viewer-1', 'item-a')).toBe(TOKEN_A);
    expect(await vault.getAccessToken('viewer-2', 'item-b')).toBe(TOKEN_B);
    expect(await vault.getPlaidUserId('viewer-1')).toBe('plaid-user-1');
    // Defaults: the institution id stands in for a missing name, products default to none.
    expect(await vault.listItems('viewer-2')).toMatchObject([{ institutionName: 'ins_2', products: [] }]);
  });

  it('names the index and field of every problem and never quotes a token', async () => {
    const error = await importError({
      items: [
        { viewerId: 'viewer-1', itemId: 'item-a', accessToken: TOKEN_A, institutionId: 'ins_1' },
        { viewerId: 'viewer-1', itemId: 'item-b', accessToken: 42, institutionId: 'ins_1' },
        { viewerId: '', itemId: 'item-c', accessToken: TOKEN_B, institutionId: 'ins_1' },
        { viewerId: 'viewer-1', itemId: 'item-d', access_token: TOKEN_B, institutionId: 'ins_1' },
      ],
      users: [{ viewerId: 'viewer-1', plaidUserId: 7 }],
    });
    expect(error.problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^items\[1\]\.accessToken: /),
        expect.stringMatching(/^items\[2\]\.viewerId: /),
        expect.stringMatching(/^items\[3\]\.accessToken: /),
        expect.stringMatching(/^items\[3\]: .*access_token/),
        expect.stringMatching(/^users\[0\]\.plaidUserId: /),
      ]),
    );
    expect(error.message).toContain('items[1].accessToken');
    expect(error.message).not.toContain(TOKEN_A);
    expect(error.message).not.toContain(TOKEN_B);
    expect(JSON.stringify(error.problems)).not.toContain('secret');
  });

  it('rejects duplicate item ids and a file that is not an object', async () => {
    const duplicate = await importError({
      items: [
        { viewerId: 'viewer-1', itemId: 'item-a', accessToken: TOKEN_A, institutionId: 'ins_1' },
        { viewerId: 'viewer-2', itemId: 'item-a', accessToken: TOKEN_B, institutionId: 'ins_1' },
      ],
    });
    expect(duplicate.problems).toEqual(['items[1].itemId: same itemId as items[0]']);
    expect((await importError([])).problems).toEqual([expect.stringMatching(/^\(file\): /)]);
    expect((await importError({})).problems).toEqual([expect.stringMatching(/^items: /)]);
  });

  it('changes nothing when one entry is invalid', async () => {
    await importError({
      items: [
        { viewerId: 'viewer-1', itemId: 'item-a', accessToken: TOKEN_A, institutionId: 'ins_1' },
        { viewerId: 'viewer-1', itemId: 'item-b', accessToken: TOKEN_B },
      ],
      users: [{ viewerId: 'viewer-1', plaidUserId: 'plaid-user-1' }],
    });
    expect(await vault.listItems('viewer-1')).toEqual([]);
    expect(await vault.getPlaidUserId('viewer-1')).toBeNull();
  });

  it('changes nothing when the database refuses one entry (Item owned by another viewer)', async () => {
    await vault.saveItem({
      viewerId: 'owner',
      itemId: 'item-taken',
      accessToken: TOKEN_A,
      institutionId: 'ins_1',
      institutionName: 'Bank',
      products: [],
    });
    await expect(
      importTokens(vault, {
        items: [
          { viewerId: 'viewer-1', itemId: 'item-new', accessToken: TOKEN_B, institutionId: 'ins_1' },
          { viewerId: 'viewer-1', itemId: 'item-taken', accessToken: TOKEN_B, institutionId: 'ins_1' },
        ],
        users: [{ viewerId: 'viewer-1', plaidUserId: 'plaid-user-1' }],
      }),
    ).rejects.toThrow(/item-taken is already linked by another viewer/);
    expect(await vault.getItems(['item-new'])).toEqual([]);
    expect(await vault.getPlaidUserId('viewer-1')).toBeNull();
    expect(await vault.getAccessToken('owner', 'item-taken')).toBe(TOKEN_A);
  });
});

describe('main (the CLI)', () => {
  let dir: string;
  let out: string[];
  let err: string[];
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'vault-import-'));
    out = [];
    err = [];
    vi.spyOn(console, 'log').mockImplementation((line: string) => void out.push(line));
    vi.spyOn(console, 'error').mockImplementation((line: string) => void err.push(line));
  });
  afterEach(async () => {
    vi.restoreAllMocks();
    await rm(dir, { recursive: true, force: true });
  });

  it('imports a file into a persistent vault and prints only counts and item ids', async () => {
    const file = join(dir, 'tokens.json');
    await writeFile(
      file,
      JSON.stringify({
        items: [{ viewerId: 'viewer-1', itemId: 'item-a', accessToken: TOKEN_A, institutionId: 'ins_1' }],
        users: [{ viewerId: 'viewer-1', plaidUserId: 'plaid-user-1' }],
      }),
    );
    const env = { VAULT_DATA_DIR: join(dir, 'data'), TOKEN_ENCRYPTION_KEY: randomBytes(32).toString('base64') };
    expect(await main([file], env)).toBe(0);
    expect(out.join('\n')).toBe('imported 1 item(s) and 1 Plaid user id(s)\n  item-a');

    const reopened = await openVault({ dataDir: env.VAULT_DATA_DIR, encryptionKey: env.TOKEN_ENCRYPTION_KEY });
    expect(await reopened.getAccessToken('viewer-1', 'item-a')).toBe(TOKEN_A);
    await reopened.close();
  });

  it('exits 1 with a clear message and no secret for bad input', async () => {
    const file = join(dir, 'tokens.json');
    await writeFile(file, `{ "items": [{ "accessToken": "${TOKEN_A}" `);
    const env = { VAULT_DATA_DIR: join(dir, 'data'), TOKEN_ENCRYPTION_KEY: randomBytes(32).toString('base64') };
    expect(await main([file], env)).toBe(1);
    expect(await main([join(dir, 'missing.json')], env)).toBe(1);
    expect(await main([], env)).toBe(1);
    await writeFile(file, JSON.stringify({ items: [{ viewerId: 'v', itemId: 'i', accessToken: TOKEN_A, institutionId: 'ins_1' }] }));
    expect(await main([file], {})).toBe(1);
    expect(await main([file], { VAULT_DATA_DIR: join(dir, 'data') })).toBe(1);
    await writeFile(file, JSON.stringify({ items: [{ viewerId: 'v', itemId: 'i', accessToken: TOKEN_A }] }));
    expect(await main([file], env)).toBe(1);
    // The file is checked before the vault is opened: no data dir was created.
    await expect(stat(env.VAULT_DATA_DIR)).rejects.toThrow(/ENOENT/);

    expect(err).toEqual([
      `vault import failed: ${file} is not valid JSON`,
      `vault import failed: ${join(dir, 'missing.json')} cannot be read`,
      'usage: vault:import <file.json>',
      'vault import failed: set DATABASE_URL or VAULT_DATA_DIR (an in-memory vault would lose the import)',
      expect.stringMatching(/TOKEN_ENCRYPTION_KEY is required for a persistent vault/),
      expect.stringMatching(/^vault import failed: invalid import file:\n {2}items\[0\]\.institutionId: /),
    ]);
    expect(err.join('\n')).not.toContain(TOKEN_A);
    expect(out).toEqual([]);
  });
});
