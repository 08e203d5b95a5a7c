/**
 * One suite, two backends: PGlite in memory always, PostgreSQL when DATABASE_URL is set (each run
 * in its own schema, dropped afterwards).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TokenCipher, TokenDecryptionError } from '../../src/vault/crypto.js';
import { VaultConfigError, VaultUnreachableError } from '../../src/vault/open-errors.js';
import { MIGRATIONS, splitStatements } from '../../src/vault/migrations.js';
import { openVault } from '../../src/vault/open-vault.js';
import { openPglite, openPostgres, type SqlExecutor } from '../../src/vault/sql.js';
import { ItemOwnedByAnotherViewerError, SqlTokenVault, type SaveItemInput, type TokenVault } from '../../src/vault/vault.js';
import { needs } from '../helpers/needs.js';

const DATABASE_URL = process.env.DATABASE_URL;

/** A vault and a second, raw connection to the same store for looking behind its back. */
interface Harness {
  readonly vault: TokenVault;
  readonly raw: SqlExecutor;
  /** Statements the vault has sent (its onStatement hook). */
  statements(): number;
}

/** A counter for the vault's onStatement hook. */
function statementCounter(): { onStatement: () => void; statements: () => number } {
  let count = 0;
  return { onStatement: () => void count++, statements: () => count };
}

interface Backend {
  /** A migrated store for the whole suite. */
  open(): Promise<Harness>;
  /** A persistent store that can be opened again and again, to prove migrations are idempotent. */
  reopen(): Promise<{ open(): Promise<TokenVault>; raw(): Promise<SqlExecutor>; cleanup(): Promise<void> }>;
  /** Also open it several times at once: the advisory lock must keep replicas from racing (PostgreSQL only). */
  concurrentOpen?: boolean;
}

const unique = (label: string) => `${label}-${randomUUID().slice(0, 8)}`;

function item(viewerId: string, overrides: Partial<SaveItemInput> = {}): SaveItemInput {
  const itemId = overrides.itemId ?? unique('item');
  return {
    viewerId,
    itemId,
    accessToken: `access-sandbox-${randomUUID()}`,
    institutionId: 'ins_109508',
    institutionName: 'First Platypus Bank',
    products: ['transactions', 'identity'],
    ...overrides,
  };
}

function vaultSuite(backend: Backend): void {
  let vault: TokenVault;
  let raw: SqlExecutor;
  let harness: Harness;
  const statements = () => harness.statements();

  beforeAll(async () => {
    harness = await backend.open();
    ({ vault, raw } = harness);
  });
  afterAll(async () => {
    await vault?.close();
    await raw?.close();
  });

  it('saves, lists, batch-gets and hands back the access token', async () => {
    const viewer = unique('viewer');
    const first = item(viewer);
    const second = item(viewer, { products: [] });
    const savedFirst = await vault.saveItem(first);
    await vault.saveItem(second);

    expect(savedFirst).toEqual({
      id: first.itemId,
      viewerId: viewer,
      institutionId: 'ins_109508',
      institutionName: 'First Platypus Bank',
      products: ['transactions', 'identity'],
      createdAt: expect.any(Date) as Date,
    });
    const listed = await vault.listItems(viewer);
    expect(listed.map((i) => i.id)).toEqual([first.itemId, second.itemId]);
    expect(listed[1]?.products).toEqual([]);
    expect(await vault.listItems(unique('nobody'))).toEqual([]);

    const got = await vault.getItems([second.itemId, first.itemId, unique('missing')]);
    expect(got.map((i) => i.id).sort()).toEqual([first.itemId, second.itemId].sort());

    expect(await vault.getAccessToken(viewer, first.itemId)).toBe(first.accessToken);
    expect(await vault.getAccessToken(viewer, second.itemId)).toBe(second.accessToken);
    expect(await vault.getAccessToken(viewer, unique('missing'))).toBeNull();
  });

  it("answers null for another viewer's Item, exactly as for a missing one", async () => {
    const owner = unique('viewer');
    const saved = item(owner);
    await vault.saveItem(saved);
    expect(await vault.getAccessToken(unique('intruder'), saved.itemId)).toBeNull();
    expect(await vault.getItemForRefresh(unique('intruder'), saved.itemId)).toBeNull();
  });

  it('getItemForRefresh: the Item, its token and its health in one query, for its owner only', async () => {
    const owner = unique('viewer');
    const input = item(owner);
    const saved = await vault.saveItem(input);
    const before = statements();
    expect(await vault.getItemForRefresh(owner, input.itemId)).toEqual({ item: saved, accessToken: input.accessToken, health: null });
    expect(statements() - before).toBe(1);
    expect(await vault.getItemForRefresh(owner, unique('missing'))).toBeNull();
  });

  it('concurrent refreshes share their statements: reads by id (each caller gets only its own Item), writes keep the latest per product', async () => {
    const [alice, bob] = [unique('alice'), unique('bob')];
    const inputs = Array.from({ length: 20 }, (_, i) => item(i % 2 === 0 ? alice : bob));
    await vault.saveItems(inputs);
    const before = statements();
    // As alice, for all 20: her 10 Items, null for bob's (as for a missing one).
    const found = await Promise.all(inputs.map((input) => vault.getItemForRefresh(alice, input.itemId)));
    expect(found.map((f) => f?.accessToken ?? null)).toEqual(inputs.map((input) => (input.viewerId === alice ? input.accessToken : null)));
    // Calls of one turn of the event loop go together: 1 statement, not 20.
    expect(statements() - before).toBe(1);

    const at = (s: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, s));
    const target = inputs[0]?.itemId ?? '';
    const beforeWrites = statements();
    const run = (product: string, requestId: string, s: number) =>
      ({ itemId: target, viewerId: alice, product, plaidRequestId: requestId, requestedAt: at(s), status: 'PENDING' }) as const;
    await Promise.all([
      vault.refreshLog.start([run('identity', 'first', 1)]),
      vault.refreshLog.start([run('identity', 'newest', 3)]),
      vault.refreshLog.start([run('identity', 'older', 2)]),
      vault.refreshLog.start([run('transactions', 'tx', 2)]),
    ]);
    expect(statements() - beforeWrites).toBe(1);
    const refreshes = await vault.getRefreshes([target]);
    expect(refreshes.map((r) => [r.product, r.requestId, r.refreshedAt.toISOString()])).toEqual([
      ['identity', 'newest', at(3).toISOString()],
      ['transactions', 'tx', at(2).toISOString()],
    ]);
    // An older refresh recorded late does not replace a newer one.
    await vault.refreshLog.start([run('identity', 'late', 0)]);
    expect((await vault.getRefreshes([target])).find((r) => r.product === 'identity')?.requestId).toBe('newest');
  });

  it("listItemsWithLatestRefreshes: the viewer's Items oldest first, each with its latest refresh per product, in one query", async () => {
    const [viewer, other] = [unique('viewer'), unique('other')];
    const [refreshed, never, foreign] = [item(viewer), item(viewer), item(other)];
    await vault.saveItems([refreshed, never, foreign]);
    const at = (s: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, s));
    const run = (input: SaveItemInput, product: string, requestId: string, s: number) =>
      ({
        itemId: input.itemId,
        viewerId: input.viewerId,
        product,
        plaidRequestId: requestId,
        requestedAt: at(s),
        status: 'PENDING',
      }) as const;
    await vault.refreshLog.start([
      run(refreshed, 'transactions', 'tx-old', 1),
      run(refreshed, 'transactions', 'tx-new', 2),
      run(refreshed, 'identity', 'id', 1),
      run(foreign, 'identity', 'foreign', 3),
    ]);
    const before = statements();
    const listed = await vault.listItemsWithLatestRefreshes(viewer);
    expect(statements() - before).toBe(1);
    expect(listed.map(({ item: i }) => i)).toEqual(await vault.listItems(viewer));
    // saveItems is one transaction, so both share created_at: the order is then by item id.
    const latestOf = new Map(listed.map(({ item: i, latest }) => [i.id, latest.map((r) => [r.product, r.plaidRequestId])]));
    expect(latestOf).toEqual(
      new Map([
        [
          refreshed.itemId,
          [
            ['identity', 'id'],
            ['transactions', 'tx-new'],
          ],
        ],
        [never.itemId, []],
      ]),
    );
    // The same runs as refreshLog.latest reads for those Items.
    expect(listed.find(({ item: i }) => i.id === refreshed.itemId)?.latest).toEqual(await vault.refreshLog.latest([refreshed.itemId]));
    expect(await vault.listItemsWithLatestRefreshes(unique('nobody'))).toEqual([]);
  });

  it("one caller's NUL byte fails only that caller: a failed group statement is re-run per caller", async () => {
    const alice = unique('alice');
    const inputs = Array.from({ length: 20 }, () => item(alice));
    for (const input of inputs) await vault.saveItem(input);
    // Issued in one turn, so they share one statement; the NUL id makes PostgreSQL refuse that statement.
    const answers = await Promise.allSettled([
      ...inputs.map((input) => vault.getItemForRefresh(alice, input.itemId)),
      vault.getItemForRefresh(unique('mallory'), 'bad\u0000id'),
    ]);
    expect(answers.slice(0, 20).map((a) => a.status === 'fulfilled' && a.value?.accessToken)).toEqual(inputs.map((i) => i.accessToken));
    expect(answers[20]?.status).toBe('rejected');
  });

  it('refuses to save an Item owned by another viewer and changes nothing', async () => {
    const owner = unique('viewer');
    const original = item(owner);
    await vault.saveItem(original);
    const before = await raw.query('select * from vault_items where item_id = $1', [original.itemId]);

    const intruder = unique('intruder');
    const attempt = vault.saveItem(item(intruder, { itemId: original.itemId, institutionName: 'Evil Bank' }));
    await expect(attempt).rejects.toBeInstanceOf(ItemOwnedByAnotherViewerError);
    await expect(attempt).rejects.toThrow(original.itemId);

    const after = await raw.query('select * from vault_items where item_id = $1', [original.itemId]);
    expect(after.rows).toEqual(before.rows);
    expect(await vault.getAccessToken(owner, original.itemId)).toBe(original.accessToken);
    expect(await vault.getAccessToken(intruder, original.itemId)).toBeNull();
    expect(await vault.listItems(intruder)).toEqual([]);
  });

  it('relinking the same Item updates its token and details but keeps createdAt', async () => {
    const viewer = unique('viewer');
    const original = item(viewer);
    const first = await vault.saveItem(original);
    const relinked = item(viewer, { itemId: original.itemId, institutionName: 'Renamed Bank', products: ['assets'] });
    const second = await vault.saveItem(relinked);

    expect(second.createdAt).toEqual(first.createdAt);
    expect(second).toMatchObject({ institutionName: 'Renamed Bank', products: ['assets'] });
    expect(await vault.getAccessToken(viewer, original.itemId)).toBe(relinked.accessToken);
    expect(await vault.listItems(viewer)).toHaveLength(1);
  });

  it('getItems reads 50 ids in exactly one query, and [] in none', async () => {
    const viewers = [unique('viewer'), unique('viewer')];
    const inputs = Array.from({ length: 50 }, (_, i) => item(viewers[i % 2]!));
    await vault.saveItems(inputs);

    const before = statements();
    const got = await vault.getItems(inputs.map((i) => i.itemId));
    expect(statements() - before).toBe(1);
    expect(got).toHaveLength(50);
    expect(new Set(got.map((i) => i.id))).toEqual(new Set(inputs.map((i) => i.itemId)));

    const beforeEmpty = statements();
    expect(await vault.getItems([])).toEqual([]);
    expect(statements()).toBe(beforeEmpty);
  });

  it('counts every statement, including those inside a transaction', async () => {
    const viewer = unique('viewer');
    const before = statements();
    await vault.saveItems([item(viewer), item(viewer), item(viewer)]);
    expect(statements() - before).toBe(3);
    await vault.ping();
    expect(statements() - before).toBe(4);
  });

  it('stores ciphertext, never the token', async () => {
    const saved = item(unique('viewer'));
    await vault.saveItem(saved);
    const { rows } = await raw.query<{ access_token_enc: string }>('select access_token_enc from vault_items where item_id = $1', [
      saved.itemId,
    ]);
    const stored = rows[0]?.access_token_enc ?? '';
    expect(stored).toMatch(/^v2\.[A-Za-z0-9_-]{11}\./);
    expect(stored).not.toContain(saved.accessToken);
    expect(stored).not.toContain(saved.accessToken.slice('access-sandbox-'.length));
  });

  it('a ciphertext moved to another row does not decrypt', async () => {
    const viewer = unique('viewer');
    const a = item(viewer);
    const b = item(viewer);
    await vault.saveItems([a, b]);
    await raw.query(
      'update vault_items set access_token_enc = (select access_token_enc from vault_items where item_id = $1) where item_id = $2',
      [a.itemId, b.itemId],
    );
    await expect(vault.getAccessToken(viewer, b.itemId)).rejects.toBeInstanceOf(TokenDecryptionError);
    expect(await vault.getAccessToken(viewer, a.itemId)).toBe(a.accessToken);
  });

  it('an Item reassigned to another viewer in the database does not decrypt for them', async () => {
    const owner = unique('viewer');
    const thief = unique('thief');
    const saved = item(owner);
    await vault.saveItem(saved);
    await raw.query('update vault_items set viewer_id = $1 where item_id = $2', [thief, saved.itemId]);
    await expect(vault.getAccessToken(thief, saved.itemId)).rejects.toBeInstanceOf(TokenDecryptionError);
  });

  it('saveItems is all or nothing', async () => {
    const owner = unique('viewer');
    const taken = item(owner);
    await vault.saveItem(taken);

    const importer = unique('importer');
    const fresh = item(importer);
    const conflicting = item(importer, { itemId: taken.itemId });
    await expect(vault.saveItems([fresh, conflicting])).rejects.toBeInstanceOf(ItemOwnedByAnotherViewerError);

    expect(await vault.getItems([fresh.itemId])).toEqual([]);
    expect(await vault.listItems(importer)).toEqual([]);
    expect(await vault.getAccessToken(owner, taken.itemId)).toBe(taken.accessToken);
    expect(await vault.saveItems([])).toEqual([]);
  });

  it('stores the Plaid user id encrypted, bound to its viewer', async () => {
    const viewer = unique('viewer');
    const other = unique('viewer');
    expect(await vault.getPlaidUserId(viewer)).toBeNull();

    await vault.setPlaidUserId(viewer, 'plaid-user-1');
    expect(await vault.getPlaidUserId(viewer)).toBe('plaid-user-1');
    await vault.setPlaidUserId(viewer, 'plaid-user-2');
    expect(await vault.getPlaidUserId(viewer)).toBe('plaid-user-2');

    const { rows } = await raw.query<{ plaid_user_id_enc: string }>('select plaid_user_id_enc from vault_viewers where id = $1', [viewer]);
    const stored = rows[0]?.plaid_user_id_enc ?? '';
    expect(stored).toMatch(/^v2\.[A-Za-z0-9_-]{11}\./);
    expect(stored).not.toContain('plaid-user-2');

    await vault.setPlaidUserId(other, 'plaid-user-other');
    await raw.query('update vault_viewers set plaid_user_id_enc = $1 where id = $2', [stored, other]);
    await expect(vault.getPlaidUserId(other)).rejects.toBeInstanceOf(TokenDecryptionError);
  });

  it('deleteItem deletes the row with its token, refresh records and health, for its owner only', async () => {
    const owner = unique('viewer');
    const input = item(owner);
    await vault.saveItem(input);
    await vault.refreshLog.start([
      { itemId: input.itemId, viewerId: owner, product: 'identity', plaidRequestId: 'r1', requestedAt: new Date(), status: 'PENDING' },
    ]);
    await vault.recordItemHealth(input.itemId, null, 'LINK');

    expect(await vault.deleteItem(unique('intruder'), input.itemId)).toBe(false);
    expect(await vault.getAccessToken(owner, input.itemId)).toBe(input.accessToken);

    expect(await vault.deleteItem(owner, input.itemId)).toBe(true);
    for (const table of ['vault_items', 'vault_refreshes', 'vault_item_health']) {
      const { rows } = await raw.query(`select 1 from ${table} where item_id = $1`, [input.itemId]);
      expect(rows, table).toEqual([]);
    }
    expect(await vault.deleteItem(owner, input.itemId)).toBe(false);
    // The viewer's Plaid user is the viewer's, not the Item's: it stays.
    await vault.setPlaidUserId(owner, 'usr_kept');
    await vault.deleteItem(owner, unique('missing'));
    expect(await vault.getPlaidUserId(owner)).toBe('usr_kept');
  });

  it('recordItemHealth keeps the newest observation per Item, as JSON, and only for Items the vault holds', async () => {
    const owner = unique('viewer');
    const input = item(owner);
    await vault.saveItem(input);
    const at = (s: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, s));
    const error = {
      message: 'ITEM_ERROR ITEM_LOGIN_REQUIRED: login required',
      status: 400,
      errorType: 'ITEM_ERROR',
      errorCode: 'ITEM_LOGIN_REQUIRED',
      errorCodeReason: 'OAUTH_INVALID_TOKEN',
      errorMessage: 'login required',
      displayMessage: null,
      requestId: 'req1',
      causes: [{ item_id: input.itemId }],
      documentationUrl: null,
      suggestedAction: null,
      requiredAccountSubtypes: null,
      providedAccountSubtypes: null,
    };
    const before = statements();
    const stored = await Promise.all([
      vault.recordItemHealth(input.itemId, error, 'REFRESH', at(2)),
      vault.recordItemHealth(input.itemId, null, 'WEBHOOK', at(1)),
      vault.recordItemHealth(unique('not-in-vault'), error, 'WEBHOOK', at(3)),
    ]);
    // One statement for all three; the older one lost in the batch, the unknown Item is ignored.
    expect(statements() - before).toBe(1);
    expect(stored).toEqual([true, false, false]);
    expect(await vault.getItemHealth([input.itemId])).toEqual([
      { itemId: input.itemId, error, source: 'REFRESH', observedAt: at(2), expiry: null },
    ]);
    expect((await vault.getItemForRefresh(owner, input.itemId))?.health).toEqual({
      itemId: input.itemId,
      error,
      source: 'REFRESH',
      observedAt: at(2),
      expiry: null,
    });
    // Out of order (a webhook delivered late): ignored. Newer: kept, the error cleared.
    expect(await vault.recordItemHealth(input.itemId, null, 'WEBHOOK', at(0))).toBe(false);
    expect(await vault.recordItemHealth(input.itemId, null, 'REFRESH', at(5))).toBe(true);
    expect(await vault.getItemHealth([input.itemId, unique('missing')])).toEqual([
      { itemId: input.itemId, error: null, source: 'REFRESH', observedAt: at(5), expiry: null },
    ]);
    await expect(vault.recordItemHealth(input.itemId, null, 'ELSEWHERE' as 'LINK')).rejects.toThrow(TypeError);
  });

  it('recordItemExpiry keeps the newest notice beside the health, until cleared; gone with its Item', async () => {
    const owner = unique('viewer');
    const withHealth = item(owner);
    const noticeOnly = item(owner);
    await vault.saveItems([withHealth, noticeOnly]);
    const at = (s: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, s));
    const ends = new Date(Date.UTC(2026, 0, 8));
    await vault.recordItemHealth(withHealth.itemId, null, 'REFRESH', at(1));

    expect(await vault.recordItemExpiry(withHealth.itemId, { reason: 'PENDING_EXPIRATION', expiresAt: ends }, at(2))).toBe(true);
    expect(await vault.recordItemExpiry(noticeOnly.itemId, { reason: 'INSTITUTION_MIGRATION', expiresAt: null }, at(3))).toBe(true);
    // An older notice, and one for an Item the vault does not hold: nothing stored.
    expect(await vault.recordItemExpiry(withHealth.itemId, { reason: 'INSTITUTION_MIGRATION', expiresAt: null }, at(0))).toBe(false);
    expect(await vault.recordItemExpiry(unique('missing'), { reason: 'PENDING_EXPIRATION', expiresAt: ends }, at(2))).toBe(false);

    const health = await vault.getItemHealth([withHealth.itemId, noticeOnly.itemId]);
    expect(new Map(health.map((h) => [h.itemId, h]))).toEqual(
      new Map([
        [
          withHealth.itemId,
          {
            itemId: withHealth.itemId,
            error: null,
            source: 'REFRESH',
            observedAt: at(1),
            expiry: { reason: 'PENDING_EXPIRATION', expiresAt: ends, observedAt: at(2) },
          },
        ],
        // Only the notice was seen: the Item read as seen working by that webhook.
        [
          noticeOnly.itemId,
          {
            itemId: noticeOnly.itemId,
            error: null,
            source: 'WEBHOOK',
            observedAt: at(3),
            expiry: { reason: 'INSTITUTION_MIGRATION', expiresAt: null, observedAt: at(3) },
          },
        ],
      ]),
    );
    // Cleared (update mode): not by an older clear, then by a newer one.
    expect(await vault.recordItemExpiry(withHealth.itemId, null, at(1))).toBe(false);
    expect(await vault.recordItemExpiry(withHealth.itemId, null, at(4))).toBe(true);
    expect((await vault.getItemHealth([withHealth.itemId]))[0]?.expiry).toBeNull();
    await expect(vault.recordItemExpiry(noticeOnly.itemId, { reason: '', expiresAt: null })).rejects.toThrow(TypeError);

    expect(await vault.deleteItem(owner, noticeOnly.itemId)).toBe(true);
    const { rows } = await raw.query('select 1 from vault_item_expiry where item_id = $1', [noticeOnly.itemId]);
    expect(rows).toEqual([]);
  });

  it('ping answers', async () => {
    await expect(vault.ping()).resolves.toBeUndefined();
  });

  it('migrations are idempotent: the same store opens again with its data', async () => {
    const store = await backend.reopen();
    try {
      const viewer = unique('viewer');
      const saved = item(viewer);
      const first = await store.open();
      await first.saveItem(saved);
      await first.setPlaidUserId(viewer, 'plaid-user-kept');
      await first.close();

      const second = await store.open();
      expect(await second.getAccessToken(viewer, saved.itemId)).toBe(saved.accessToken);
      expect(await second.getPlaidUserId(viewer)).toBe('plaid-user-kept');
      await second.close();

      if (backend.concurrentOpen) {
        const replicas = await Promise.all([store.open(), store.open(), store.open()]);
        for (const replica of replicas) expect(await replica.getAccessToken(viewer, saved.itemId)).toBe(saved.accessToken);
        await Promise.all(replicas.map((replica) => replica.close()));
      }

      const db = await store.raw();
      const { rows } = await db.query<{ version: number; name: string }>('select version, name from vault_migrations order by version');
      await db.close();
      expect(rows).toEqual(MIGRATIONS.map(({ version, name }) => ({ version, name })));
    } finally {
      await store.cleanup();
    }
  });
}

describe('vault on PGlite (in memory)', () => {
  const cipher = TokenCipher.ephemeral();
  vaultSuite({
    async open() {
      // In memory there is no second connection: the raw view is the same database, unwrapped.
      const db = await openPglite();
      const counter = statementCounter();
      const vault = await SqlTokenVault.open(db, cipher, { onStatement: counter.onStatement });
      return { vault, raw: rawView(db), statements: counter.statements };
    },
    async reopen() {
      const dir = await mkdtemp(join(tmpdir(), 'vault-test-'));
      const key = randomBytes(32).toString('base64');
      return {
        open: () => openVault({ dataDir: dir, encryptionKey: key }),
        raw: () => openPglite(dir),
        cleanup: () => rm(dir, { recursive: true, force: true }),
      };
    },
  });
});

describe('vault on PostgreSQL', needs('DATABASE_URL'), () => {
  const url = DATABASE_URL ?? '';
  const runId = randomBytes(6).toString('hex');
  const schemas: string[] = [];
  const schemaFor = (suffix: string) => {
    const schema = `vault_test_${runId}${suffix}`;
    schemas.push(schema);
    return schema;
  };
  const key = randomBytes(32).toString('hex');

  afterAll(async () => {
    const admin = await openPostgres(url);
    try {
      for (const schema of schemas) await admin.query(`drop schema if exists ${schema} cascade`);
    } finally {
      await admin.close();
    }
  });

  vaultSuite({
    concurrentOpen: true,
    async open() {
      const schema = schemaFor('');
      const counter = statementCounter();
      const vault = await openVault({ databaseUrl: url, encryptionKey: key, schema, onStatement: counter.onStatement });
      return { vault, raw: await openPostgres(url, { schema }), statements: counter.statements };
    },
    reopen() {
      const schema = schemaFor('_reopen');
      return Promise.resolve({
        open: () => openVault({ databaseUrl: url, encryptionKey: key, schema }),
        raw: () => openPostgres(url, { schema }),
        cleanup: async () => {},
      });
    },
  });
});

describe('openVault', () => {
  it('requires a key for a persistent vault and refuses a bad one without echoing it', async () => {
    await expect(openVault({ dataDir: '/nonexistent/never-created' })).rejects.toThrow(
      /TOKEN_ENCRYPTION_KEY is required for a persistent vault/,
    );
    await expect(openVault({ databaseUrl: 'postgres://127.0.0.1:1/none', encryptionKey: '' })).rejects.toThrow(
      /TOKEN_ENCRYPTION_KEY is required/,
    );
    const bad = 'not-a-real-key-value';
    const attempt = openVault({ encryptionKey: bad });
    await expect(attempt).rejects.toThrow(/TOKEN_ENCRYPTION_KEY is invalid/);
    await expect(attempt).rejects.not.toThrow(bad);
  });

  it('refuses a malformed DATABASE_URL as VaultConfigError, without quoting it', async () => {
    const key = randomBytes(32).toString('base64');
    for (const databaseUrl of ['postgres://::nonsense', 'not a url', 'mysql://u:p@h/db']) {
      const attempt = openVault({ databaseUrl, encryptionKey: key });
      await expect(attempt).rejects.toBeInstanceOf(VaultConfigError);
      await expect(attempt).rejects.toThrow(/^DATABASE_URL must be a postgres:\/\/ or postgresql:\/\/ URL/);
      await expect(attempt).rejects.not.toThrow(databaseUrl);
    }
  });

  it('refuses previous keys without a current one, and a bad previous key without quoting it', async () => {
    const key = randomBytes(32).toString('base64');
    await expect(openVault({ previousEncryptionKeys: [key] })).rejects.toThrow(/TOKEN_ENCRYPTION_PREVIOUS_KEYS needs TOKEN_ENCRYPTION_KEY/);
    const badPrevious = openVault({ encryptionKey: key, previousEncryptionKeys: [randomBytes(32).toString('hex'), 'not-a-key-at-all'] });
    await expect(badPrevious).rejects.toThrow(/^TOKEN_ENCRYPTION_PREVIOUS_KEYS entry 2 is invalid: /);
    await expect(badPrevious).rejects.not.toThrow('not-a-key-at-all');
  });

  it('names an unreachable database in one line, without its password', async () => {
    const attempt = openVault({
      databaseUrl: 'postgres://vault:s3cret-password@127.0.0.1:1/vault',
      encryptionKey: randomBytes(32).toString('hex'),
    });
    await expect(attempt).rejects.toBeInstanceOf(VaultUnreachableError);
    await expect(attempt).rejects.toThrow('cannot connect to the database at 127.0.0.1:1/vault: connection refused (DATABASE_URL)');
    await expect(attempt).rejects.not.toThrow('s3cret-password');
  });

  it('opens an in-memory vault without a key', async () => {
    const vault = await openVault({});
    await vault.ping();
    await vault.close();
  });

  it('refuses a schema name that is not a plain identifier', async () => {
    await expect(openPostgres('postgres://127.0.0.1:1/none', { schema: 'x; drop table y' })).rejects.toThrow(/schema name/);
  });
});

describe('splitStatements', () => {
  it('splits every migration into single statements', () => {
    for (const migration of MIGRATIONS) {
      const statements = splitStatements(migration.sql);
      expect(statements.length).toBeGreaterThan(0);
      for (const statement of statements) expect(statement).not.toMatch(/;\s*$/);
    }
    expect(splitStatements('create table a (x int);\ncreate table b (y int);\n')).toEqual([
      'create table a (x int)',
      'create table b (y int)',
    ]);
    expect(() => splitStatements('create function f() returns int as $$ select 1; $$ language sql;')).toThrow(/dollar/);
  });
});

/** The same executor with a no-op close, so the suite's `raw` and the vault can share one in-memory database. */
function rawView(db: SqlExecutor): SqlExecutor {
  return {
    query<R>(text: string, params?: unknown[]) {
      return db.query<R>(text, params);
    },
    transaction<T>(fn: (tx: SqlExecutor) => Promise<T>) {
      return db.transaction(fn);
    },
    close: async () => {},
  };
}
