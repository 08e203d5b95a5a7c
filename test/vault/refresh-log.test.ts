/**
 * The refresh log on both backends: PGlite in memory always, PostgreSQL when DATABASE_URL is set.
 * Status is stored; webhooks apply once, in any order, and never undo a refresh that ended.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openVault } from '../../src/vault/open-vault.js';
import type { RefreshLog, WebhookEffect } from '../../src/vault/refresh-log.js';
import { openPostgres } from '../../src/vault/sql.js';
import type { TokenVault } from '../../src/vault/vault.js';
import { needs } from '../helpers/needs.js';

const at = (iso: string) => new Date(iso);

function suite(open: () => Promise<TokenVault>) {
  let vault: TokenVault;
  let log: RefreshLog;
  beforeAll(async () => {
    vault = await open();
    log = vault.refreshLog;
  });
  afterAll(() => vault?.close());

  async function newItem(viewerId = 'ana') {
    const itemId = `item-${randomUUID()}`;
    await vault.saveItem({
      viewerId,
      itemId,
      accessToken: `access-sandbox-${randomUUID()}`,
      institutionId: 'ins_1',
      institutionName: 'Bank',
      products: ['transactions'],
    });
    return itemId;
  }

  const webhook = (itemId: string, overrides: Partial<WebhookEffect> = {}): WebhookEffect => ({
    inboxId: `inbox-${randomUUID()}`,
    itemId,
    webhookType: 'TRANSACTIONS',
    webhookCode: 'DEFAULT_UPDATE',
    payload: { new_transactions: 3 },
    receivedAt: at('2026-12-01T10:00:10Z'),
    products: ['transactions'],
    status: 'DATA_AVAILABLE',
    failsPendingRefreshes: false,
    ...overrides,
  });

  it('records accepted refreshes as PENDING; only their viewer reads them; the latest per product', async () => {
    const itemId = await newItem();
    const [older] = await log.start([
      {
        itemId,
        viewerId: 'ana',
        product: 'transactions',
        plaidRequestId: 'req1',
        requestedAt: at('2026-12-01T09:00:00Z'),
        status: 'PENDING',
      },
    ]);
    const [newer, identity] = await log.start([
      {
        itemId,
        viewerId: 'ana',
        product: 'transactions',
        plaidRequestId: 'req2',
        requestedAt: at('2026-12-01T10:00:00Z'),
        status: 'PENDING',
      },
      { itemId, viewerId: 'ana', product: 'identity', plaidRequestId: 'req3', requestedAt: at('2026-12-01T10:00:00Z'), status: 'PENDING' },
    ]);
    expect(newer?.id).toMatch(/^rfr_[0-9A-Za-z]{22}$/);
    expect(await log.runs('ana', [older?.id ?? '', newer?.id ?? ''])).toHaveLength(2);
    expect(await log.runs('mallory', [newer?.id ?? ''])).toEqual([]);
    const latest = await log.latest([itemId]);
    expect(latest.map((r) => [r.product, r.plaidRequestId, r.status]).sort()).toEqual([
      ['identity', 'req3', 'PENDING'],
      ['transactions', 'req2', 'PENDING'],
    ]);
    expect(identity?.status).toBe('PENDING');
  });

  it('a webhook gives the latest refresh of its product its status and event; the same webhook again changes nothing', async () => {
    const itemId = await newItem();
    const [run] = await log.start([
      { itemId, viewerId: 'ana', product: 'transactions', plaidRequestId: 'r', requestedAt: at('2026-12-01T10:00:00Z'), status: 'PENDING' },
    ]);
    const effect = webhook(itemId);
    const applied = await log.apply(effect);
    expect(applied.refreshIds).toEqual([run?.id]);
    expect(applied.events).toEqual([
      expect.objectContaining({ refreshId: run?.id, webhookCode: 'DEFAULT_UPDATE', payload: { new_transactions: 3 } }),
    ]);
    const again = await log.apply(effect);
    expect(again.events).toEqual([]);
    expect((await log.runs('ana', [run?.id ?? '']))[0]).toMatchObject({ status: 'DATA_AVAILABLE', updatedAt: effect.receivedAt });
    expect(await log.events([run?.id ?? ''])).toHaveLength(1);
  });

  it('out of order: an Item error after data arrived leaves the refresh DATA_AVAILABLE and is kept as an Item event', async () => {
    const itemId = await newItem();
    const [run] = await log.start([
      { itemId, viewerId: 'ana', product: 'transactions', plaidRequestId: 'r', requestedAt: at('2026-12-01T10:00:00Z'), status: 'PENDING' },
    ]);
    await log.apply(webhook(itemId));
    const error = await log.apply(
      webhook(itemId, {
        webhookType: 'ITEM',
        webhookCode: 'ERROR',
        payload: { error: { error_code: 'ITEM_LOGIN_REQUIRED' } },
        products: [],
        status: null,
        failsPendingRefreshes: true,
      }),
    );
    expect(error.refreshIds).toEqual([]);
    expect(error.events).toEqual([expect.objectContaining({ refreshId: null, itemId, webhookType: 'ITEM' })]);
    expect((await log.runs('ana', [run?.id ?? '']))[0]?.status).toBe('DATA_AVAILABLE');
  });

  it('an Item error fails every pending refresh of the Item, each with the event', async () => {
    const itemId = await newItem();
    const runs = await log.start(
      ['transactions', 'identity'].map((product) => ({
        itemId,
        viewerId: 'ana',
        product,
        plaidRequestId: 'r',
        requestedAt: at('2026-12-01T10:00:00Z'),
        status: 'PENDING' as const,
      })),
    );
    const applied = await log.apply(
      webhook(itemId, { webhookType: 'ITEM', webhookCode: 'ERROR', products: [], status: null, failsPendingRefreshes: true }),
    );
    expect([...applied.refreshIds].sort()).toEqual(runs.map((r) => r.id).sort());
    expect(applied.events).toHaveLength(2);
    expect(
      (
        await log.runs(
          'ana',
          runs.map((r) => r.id),
        )
      ).map((r) => r.status),
    ).toEqual(['FAILED', 'FAILED']);
  });

  it('a webhook from before the refresh is not about it: kept for the Item only', async () => {
    const itemId = await newItem();
    const [run] = await log.start([
      { itemId, viewerId: 'ana', product: 'transactions', plaidRequestId: 'r', requestedAt: at('2026-12-01T12:00:00Z'), status: 'PENDING' },
    ]);
    const applied = await log.apply(webhook(itemId, { receivedAt: at('2026-12-01T10:00:00Z') }));
    expect(applied.refreshIds).toEqual([]);
    expect(applied.events[0]?.refreshId).toBeNull();
    expect((await log.runs('ana', [run?.id ?? '']))[0]?.status).toBe('PENDING');
  });

  it('the quiet window: PENDING becomes QUIET once (whichever replica sweeps); a late webhook is still news', async () => {
    const itemId = await newItem();
    const [run] = await log.start([
      { itemId, viewerId: 'ana', product: 'identity', plaidRequestId: 'r', requestedAt: at('2026-12-01T10:00:00Z'), status: 'PENDING' },
    ]);
    const swept = await Promise.all([
      log.markQuiet(at('2026-12-01T10:05:00Z'), at('2026-12-01T10:05:00Z')),
      log.markQuiet(at('2026-12-01T10:05:00Z'), at('2026-12-01T10:05:00Z')),
    ]);
    expect(swept.flat().filter((r) => r.id === run?.id)).toHaveLength(1);
    const late = await log.apply(
      webhook(itemId, { webhookType: 'IDENTITY', products: ['identity'], receivedAt: at('2026-12-01T10:06:00Z') }),
    );
    expect(late.refreshIds).toEqual([run?.id]);
    expect((await log.runs('ana', [run?.id ?? '']))[0]?.status).toBe('DATA_AVAILABLE');
  });

  it('a webhook of a kind nobody knows yet is kept as an Item event, never dropped', async () => {
    const itemId = await newItem();
    const applied = await log.apply(
      webhook(itemId, { webhookType: 'BRAND_NEW', webhookCode: 'SOMETHING', payload: { x: 1 }, products: [], status: null }),
    );
    expect(applied.events).toEqual([expect.objectContaining({ refreshId: null, webhookType: 'BRAND_NEW', payload: { x: 1 } })]);
  });
}

describe('refresh log on PGlite (in memory)', () => {
  suite(() => openVault({}));
});

describe('refresh log on PostgreSQL', needs('DATABASE_URL'), () => {
  const schema = `refresh_log_${randomBytes(5).toString('hex')}`;
  const key = randomBytes(32).toString('base64');
  afterAll(async () => {
    const admin = await openPostgres(process.env.DATABASE_URL ?? '');
    await admin.query(`drop schema if exists ${schema} cascade`);
    await admin.close();
  });
  suite(() => openVault({ databaseUrl: process.env.DATABASE_URL ?? '', encryptionKey: key, schema }));
});
