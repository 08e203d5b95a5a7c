/**
 * The webhook inbox (vault_webhooks, src/vault/webhook-inbox.ts) and its processor
 * (src/webhooks/processor.ts): one row per body, the dedupe window, leases, retries; durability
 * across a restart (stored with no processor running, handled once by the next process, never
 * again); two processors on one database never handling one webhook twice. PGlite always,
 * PostgreSQL when DATABASE_URL is set.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { TokenCipher } from '../../src/vault/crypto.js';
import { VaultUnavailableError } from '../../src/vault/errors.js';
import { openVault } from '../../src/vault/open-vault.js';
import { openPglite, openPostgres, type SqlExecutor } from '../../src/vault/sql.js';
import { SqlTokenVault, type TokenVault } from '../../src/vault/vault.js';
import { SqlWebhookInbox, type InboxWebhook, type StoreWebhookInput } from '../../src/vault/webhook-inbox.js';
import { WebhookProcessor, type WebhookHandler } from '../../src/webhooks/processor.js';
import { needs } from '../helpers/needs.js';
import { sha256Hex, webhookBody } from '../helpers/plaid-webhooks.js';
import { STORE_BACKENDS, newKey, type VaultStore } from '../helpers/vault-stores.js';

const DATABASE_URL = process.env.DATABASE_URL;

function webhook(fields: Record<string, unknown> = {}): StoreWebhookInput {
  const body = webhookBody(fields);
  const parsed = JSON.parse(body) as { webhook_type: string; webhook_code: string; item_id?: string };
  return {
    bodySha256: sha256Hex(body),
    body,
    webhookType: parsed.webhook_type,
    webhookCode: parsed.webhook_code,
    itemId: parsed.item_id ?? null,
  };
}

async function until(condition: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const started = Date.now();
  while (!(await condition())) {
    if (Date.now() - started > timeoutMs) throw new Error('timed out waiting');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** A handler that records what it was given (and by whom), optionally slowly. */
function recorder(label = 'p', delayMs = 0) {
  const handled: { by: string; webhook: InboxWebhook }[] = [];
  const handle: WebhookHandler = async (webhook) => {
    if (delayMs > 0) await new Promise((resolve) => setTimeout(resolve, Math.random() * delayMs));
    handled.push({ by: label, webhook });
  };
  return { handle, handled };
}

interface Harness {
  readonly vault: TokenVault;
  /** A second vault on the same database (its own pool on PostgreSQL; the same one on PGlite, single-connection). */
  readonly second: TokenVault;
  readonly raw: SqlExecutor;
  close(): Promise<void>;
}

const HARNESSES: readonly { name: string; requires: readonly 'DATABASE_URL'[]; open(): Promise<Harness> }[] = [
  {
    name: 'PGlite (in memory)',
    requires: [],
    async open() {
      const db = await openPglite();
      const vault = await SqlTokenVault.open(unclosable(db), TokenCipher.ephemeral());
      return { vault, second: vault, raw: db, close: () => db.close() };
    },
  },
  {
    name: 'PostgreSQL',
    requires: ['DATABASE_URL'],
    async open() {
      const databaseUrl = DATABASE_URL ?? '';
      const schema = `vault_inbox_test_${randomBytes(6).toString('hex')}`;
      const encryptionKey = newKey();
      const vault = await openVault({ databaseUrl, schema, encryptionKey });
      const second = await openVault({ databaseUrl, schema, encryptionKey });
      const raw = await openPostgres(databaseUrl, { schema });
      return {
        vault,
        second,
        raw,
        async close() {
          await vault.close();
          await second.close();
          await raw.query(`drop schema if exists ${schema} cascade`);
          await raw.close();
        },
      };
    },
  },
];

for (const backend of HARNESSES) {
  describe(`the webhook inbox on ${backend.name}`, needs(...backend.requires), () => {
    let h: Harness;
    beforeAll(async () => {
      h = await backend.open();
    });
    afterAll(async () => {
      await h?.close();
    });
    afterEach(async () => {
      await h.raw.query('delete from vault_webhooks');
    });

    const rows = async () =>
      (
        await h.raw.query<{
          body_sha256: string;
          body: string;
          webhook_type: string;
          webhook_code: string;
          item_id: string | null;
          processed: boolean;
          attempts: number;
        }>(
          'select body_sha256, body, webhook_type, webhook_code, item_id, processed_at is not null as processed, attempts from vault_webhooks order by id',
        )
      ).rows;

    it('stores a webhook once: an identical body is a duplicate, and writes nothing', async () => {
      const input = webhook({ item_id: 'item-once' });
      expect(await h.vault.storeWebhook(input)).toBe('stored');
      expect(await h.vault.storeWebhook(input)).toBe('duplicate');
      expect(await h.second.storeWebhook(input)).toBe('duplicate');
      expect(await h.vault.storeWebhook(webhook({ item_id: 'item-other' }))).toBe('stored');
      const stored = await rows();
      expect(stored).toHaveLength(2);
      expect(stored[0]).toEqual({
        body_sha256: input.bodySha256,
        body: input.body,
        webhook_type: 'TRANSACTIONS',
        webhook_code: 'SYNC_UPDATES_AVAILABLE',
        item_id: 'item-once',
        processed: false,
        attempts: 0,
      });
    });

    it('identical bodies stored at the same moment: one row, one "stored"', async () => {
      const input = webhook();
      const results = await Promise.all(Array.from({ length: 10 }, (_, i) => (i % 2 ? h.second : h.vault).storeWebhook(input)));
      expect(results.filter((r) => r === 'stored')).toHaveLength(1);
      expect(await rows()).toHaveLength(1);
    });

    it('a burst of stores goes as one statement, each caller told of its own row; completions are grouped too', async () => {
      let statements = 0;
      const counted = Object.create(h.raw, {
        query: { value: (...args: Parameters<SqlExecutor['query']>) => (statements++, h.raw.query(...args)) },
      }) as SqlExecutor;
      const inbox = new SqlWebhookInbox(counted);
      const distinct = Array.from({ length: 30 }, (_, i) => webhook({ item_id: `item-burst-${i}` }));
      const again = distinct[3] as StoreWebhookInput;
      const results = await Promise.all([...distinct, again].map((input) => inbox.storeWebhook(input)));
      expect(results.slice(0, 30)).toEqual(distinct.map(() => 'stored'));
      expect(results[30]).toBe('duplicate');
      expect(statements).toBe(1);
      expect(await rows()).toHaveLength(30);
      // Already stored and waiting: a duplicate in a later batch too.
      expect(await inbox.storeWebhook(again)).toBe('duplicate');

      const claimed = await inbox.claimWebhooks(30, 'burst', 60_000);
      statements = 0;
      await Promise.all(claimed.map((w) => inbox.completeWebhook(w.id)));
      expect(statements).toBe(1);
      expect((await rows()).every((row) => row.processed)).toBe(true);
    });

    it('a bad row in a burst fails only its own caller', async () => {
      const inbox = new SqlWebhookInbox(h.raw);
      const good = webhook({ item_id: 'item-good' });
      // A NUL byte: PostgreSQL refuses it in text, so the grouped statement fails and is retried per caller.
      const bad = { ...webhook({ item_id: 'item-bad' }), body: 'nul \u0000 byte' };
      const [ok, refused] = await Promise.allSettled([inbox.storeWebhook(good), inbox.storeWebhook(bad)]);
      expect(ok).toEqual({ status: 'fulfilled', value: 'stored' });
      expect(refused.status).toBe('rejected');
    });

    it('an identical body after the dedupe window re-arms its processed row (still one row); a waiting one stays a duplicate', async () => {
      const input = webhook();
      await h.vault.storeWebhook(input);
      const [claimed] = await h.vault.claimWebhooks(10, 'p', 60_000);
      await h.vault.completeWebhook(claimed?.id ?? -1);
      // Within the window: a re-send.
      expect(await h.vault.storeWebhook(input, { dedupeWindowMs: 60_000 })).toBe('duplicate');
      await h.raw.query(`update vault_webhooks set received_at = now() - interval '2 minutes'`);
      expect(await h.vault.storeWebhook(input, { dedupeWindowMs: 60_000 })).toBe('stored');
      expect(await rows()).toEqual([expect.objectContaining({ processed: false, attempts: 0 })]);
      // Waiting to be processed: however old, processing it once covers the new one.
      await h.raw.query(`update vault_webhooks set received_at = now() - interval '2 hours'`);
      expect(await h.vault.storeWebhook(input, { dedupeWindowMs: 60_000 })).toBe('duplicate');
      const again = await h.vault.claimWebhooks(10, 'p', 60_000);
      expect(again.map((w) => w.id)).toEqual([claimed?.id]);
    });

    it('claims lease: a leased webhook is not claimed again until its lease runs out; completed ones never', async () => {
      await h.vault.storeWebhook(webhook());
      await h.vault.storeWebhook(webhook());
      const first = await h.vault.claimWebhooks(1, 'owner-a', 60_000);
      expect(first).toHaveLength(1);
      expect(first[0]).toMatchObject({ attempts: 1, lastError: null, webhookType: 'TRANSACTIONS' });
      const second = await h.second.claimWebhooks(10, 'owner-b', 60_000);
      expect(second.map((w) => w.id)).not.toContain(first[0]?.id);
      expect(second).toHaveLength(1);
      expect(await h.vault.claimWebhooks(10, 'owner-c', 60_000)).toEqual([]);
      // owner-a died: once its lease has run out, the webhook is claimed again.
      await h.raw.query(`update vault_webhooks set lease_until = now() - interval '1 second' where lease_owner = 'owner-a'`);
      const reclaimed = await h.vault.claimWebhooks(10, 'owner-c', 60_000);
      expect(reclaimed.map((w) => [w.id, w.attempts])).toEqual([[first[0]?.id, 2]]);
      await h.vault.completeWebhook(reclaimed[0]?.id ?? -1);
      await h.raw.query('update vault_webhooks set lease_until = null');
      expect((await h.vault.claimWebhooks(10, 'owner-d', 60_000)).map((w) => w.id)).toEqual([second[0]?.id]);
    });

    it('a failed webhook keeps its error and is due again after its delay', async () => {
      await h.vault.storeWebhook(webhook());
      const [claimed] = await h.vault.claimWebhooks(10, 'p', 60_000);
      await h.vault.failWebhook(claimed?.id ?? -1, `Error: downstream refused ${'x'.repeat(5_000)}`, 60_000);
      expect(await h.vault.claimWebhooks(10, 'p', 60_000)).toEqual([]);
      await h.raw.query(`update vault_webhooks set next_attempt_at = now() - interval '1 second'`);
      const [retried] = await h.vault.claimWebhooks(10, 'p', 60_000);
      expect(retried?.attempts).toBe(2);
      expect(retried?.lastError).toMatch(/^Error: downstream refused x+$/);
      expect(retried?.lastError?.length).toBe(1_000);
    });

    it('two processors on one database never handle one webhook twice', async () => {
      const inputs = Array.from({ length: 120 }, (_, i) => webhook({ item_id: `item-${i}` }));
      for (const input of inputs) await h.vault.storeWebhook(input);
      const a = recorder('a', 3);
      const b = recorder('b', 3);
      const processors = [
        new WebhookProcessor({ inbox: h.vault, handle: a.handle, owner: 'processor-a', batchSize: 5, pollMs: 20 }),
        new WebhookProcessor({ inbox: h.second, handle: b.handle, owner: 'processor-b', batchSize: 5, pollMs: 20 }),
      ];
      for (const processor of processors) processor.start();
      try {
        await until(async () => (await rows()).every((row) => row.processed), 30_000);
      } finally {
        await Promise.all(processors.map((processor) => processor.stop()));
      }
      const handled = [...a.handled, ...b.handled].map((entry) => entry.webhook.bodySha256);
      expect(handled).toHaveLength(inputs.length);
      expect(new Set(handled)).toEqual(new Set(inputs.map((input) => input.bodySha256)));
      expect(a.handled.length).toBeGreaterThan(0);
      expect(b.handled.length).toBeGreaterThan(0);
      expect((await rows()).every((row) => row.attempts === 1)).toBe(true);
    });
  });
}

describe('durability: stored before the answer, processed after a restart', () => {
  for (const backend of STORE_BACKENDS) {
    describe(backend.name, needs(...backend.requires), () => {
      let store: VaultStore;
      const key = newKey();
      beforeAll(async () => {
        store = await backend.create();
      });
      afterAll(async () => {
        await store?.cleanup();
      });
      const open = () => openVault({ ...store.location, encryptionKey: key });

      it('webhooks stored while no processor ran are handled once by the next process, and never again', async () => {
        const inputs = [webhook(), webhook(), webhook()];
        // The process that received them: stored (Plaid heard 200), then killed before any processing.
        const receiving = await open();
        for (const input of inputs) await receiving.storeWebhook(input);
        expect(await receiving.storeWebhook(inputs[0] ?? webhook())).toBe('duplicate');
        await receiving.close();

        const restarted = await open();
        const { handle, handled } = recorder();
        const processor = new WebhookProcessor({ inbox: restarted, handle, pollMs: 60_000 });
        processor.start();
        try {
          await until(() => handled.length >= inputs.length);
        } finally {
          await processor.stop();
        }
        expect(handled.map((entry) => entry.webhook.bodySha256).sort()).toEqual(inputs.map((input) => input.bodySha256).sort());
        // A re-send from Plaid after processing is still a duplicate.
        expect(await restarted.storeWebhook(inputs[1] ?? webhook())).toBe('duplicate');
        await restarted.close();

        const later = await open();
        const next = recorder();
        expect(await new WebhookProcessor({ inbox: later, handle: next.handle }).drain()).toBe(0);
        await later.close();
      });

      it('a webhook whose processor died mid-handle is handled again once its lease runs out', async () => {
        const input = webhook();
        const dying = await open();
        await dying.storeWebhook(input);
        expect(await dying.claimWebhooks(10, 'died-mid-handle', 1_000)).toHaveLength(1);
        // Leased: nobody else gets it while the lease runs.
        expect(await dying.claimWebhooks(10, 'someone-else', 1_000)).toEqual([]);
        await dying.close();

        const restarted = await open();
        const { handle, handled } = recorder();
        const processor = new WebhookProcessor({ inbox: restarted, handle });
        try {
          await new Promise((resolve) => setTimeout(resolve, 1_100));
          expect(await processor.drain()).toBe(1);
          expect(handled.map((entry) => [entry.webhook.bodySha256, entry.webhook.attempts])).toEqual([[input.bodySha256, 2]]);
        } finally {
          await restarted.close();
        }
      });
    });
  }
});

describe('the processor', () => {
  let vault: TokenVault;
  beforeAll(async () => {
    vault = await openVault({});
  });
  afterAll(async () => {
    await vault.close();
  });
  afterEach(async () => {
    // Leave nothing due for the next test.
    await new WebhookProcessor({ inbox: vault }).drain();
  });

  it('is woken by a store and handles at once, without waiting for its poll', async () => {
    const { handle, handled } = recorder();
    const processor = new WebhookProcessor({ inbox: vault, handle, pollMs: 60_000 });
    processor.start();
    try {
      // Its first claim, at start, has found nothing; the next poll is a minute away.
      await new Promise((resolve) => setTimeout(resolve, 50));
      await vault.storeWebhook(webhook());
      const started = performance.now();
      processor.wake();
      await until(() => handled.length === 1, 2_000);
      expect(performance.now() - started).toBeLessThan(1_000);
    } finally {
      await processor.stop();
    }
  });

  it('claims a lone wake at once, whatever its wake delay, and holds the wakes that follow it for the delay', async () => {
    const { handle, handled } = recorder();
    const processor = new WebhookProcessor({ inbox: vault, handle, pollMs: 60_000, wakeDelayMs: 1_500 });
    processor.start();
    try {
      await new Promise((resolve) => setTimeout(resolve, 50));
      await vault.storeWebhook(webhook({ new_transactions: 1 }));
      processor.wake();
      // Long before the delay is over: the first wake did not wait for it.
      await until(() => handled.length === 1, 1_000);
      await vault.storeWebhook(webhook({ new_transactions: 2 }));
      processor.wake();
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(handled).toHaveLength(1);
      // Claimed when the delay is over, without a poll.
      await until(() => handled.length === 2, 5_000);
    } finally {
      await processor.stop();
    }
  });

  it('retries a failing handler with backoff, and completes it once it succeeds', async () => {
    const attempts: number[] = [];
    const handle: WebhookHandler = (webhook) => {
      attempts.push(webhook.attempts);
      return webhook.attempts < 3 ? Promise.reject(new Error('downstream not ready')) : Promise.resolve();
    };
    const processor = new WebhookProcessor({ inbox: vault, handle, pollMs: 10, retryBaseMs: 20, retryMaxMs: 40 });
    await vault.storeWebhook(webhook());
    processor.start();
    try {
      await until(() => attempts.length === 3);
    } finally {
      await processor.stop();
    }
    expect(attempts).toEqual([1, 2, 3]);
    expect(await new WebhookProcessor({ inbox: vault }).drain()).toBe(0);
  });

  it('aborts a handler at half the lease and releases the webhook for a later attempt', async () => {
    const seen: AbortSignal[] = [];
    const handle: WebhookHandler = (_webhook, signal) => {
      seen.push(signal);
      return new Promise(() => {});
    };
    await vault.storeWebhook(webhook());
    const processor = new WebhookProcessor({ inbox: vault, handle, leaseMs: 100, retryBaseMs: 1, retryMaxMs: 1 });
    expect(await processor.processBatch()).toBe(1);
    expect(seen[0]?.aborted).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 20));
    const [again] = await vault.claimWebhooks(10, 'next', 60_000);
    expect(again?.lastError).toMatch(/^WebhookHandlerTimeoutError/);
    await vault.completeWebhook(again?.id ?? -1);
  });

  it('stop() releases a webhook whose handler is still running, so the next process takes it at once', async () => {
    const handle: WebhookHandler = () => new Promise(() => {});
    await vault.storeWebhook(webhook());
    const processor = new WebhookProcessor({ inbox: vault, handle });
    processor.start();
    await new Promise((resolve) => setTimeout(resolve, 100));
    await processor.stop(50);
    expect(processor.running).toBe(false);
    const [released] = await vault.claimWebhooks(10, 'next', 60_000);
    expect(released?.lastError).toMatch(/^WebhookProcessorStoppedError/);
    await vault.completeWebhook(released?.id ?? -1);
  });

  it('keeps running through a vault outage, and handles what waited once it is back', async () => {
    let down = true;
    const inbox = {
      claimWebhooks: (...args: Parameters<TokenVault['claimWebhooks']>) =>
        down ? Promise.reject(new VaultUnavailableError({ mayHaveWritten: false })) : vault.claimWebhooks(...args),
      completeWebhook: (id: number) => vault.completeWebhook(id),
      failWebhook: (id: number, error: string, retryInMs?: number) => vault.failWebhook(id, error, retryInMs),
    };
    const { handle, handled } = recorder();
    await vault.storeWebhook(webhook());
    const processor = new WebhookProcessor({ inbox, handle, pollMs: 20 });
    processor.start();
    try {
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(handled).toEqual([]);
      down = false;
      await until(() => handled.length === 1);
    } finally {
      await processor.stop();
    }
  });
});

describe('listItemTokens', () => {
  it('pages through every Item by id with its token', async () => {
    const vault = await openVault({});
    try {
      const ids = Array.from({ length: 7 }, (_, i) => `item-${String(i).padStart(2, '0')}-${randomUUID().slice(0, 4)}`);
      for (const [i, itemId] of ids.entries()) {
        await vault.saveItem({
          viewerId: `viewer-${i % 3}`,
          itemId,
          accessToken: `access-sandbox-${itemId}`,
          institutionId: 'ins_1',
          institutionName: 'Bank',
          products: [],
        });
      }
      const seen: string[] = [];
      let after: string | null = null;
      for (;;) {
        const page = await vault.listItemTokens(after, 3);
        if (page.length === 0) break;
        for (const entry of page) {
          expect(entry.accessToken).toBe(`access-sandbox-${entry.item.id}`);
          seen.push(entry.item.id);
        }
        after = page.at(-1)?.item.id ?? null;
      }
      expect(seen).toEqual([...ids].sort());
    } finally {
      await vault.close();
    }
  });
});

/** The same executor with a no-op close, so a test's raw view and the vault can share one in-memory database. */
function unclosable(db: SqlExecutor): SqlExecutor {
  return {
    query: <R>(text: string, params?: unknown[]) => db.query<R>(text, params),
    transaction: <T>(fn: (tx: SqlExecutor) => Promise<T>) => db.transaction(fn),
    close: async () => {},
  };
}
