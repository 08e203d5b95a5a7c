/**
 * `npm run items:update-webhook` (src/cli/update-item-webhooks.ts) against a fake Plaid over HTTP:
 * every Item in the vault gets /item/webhook/update with PLAID_WEBHOOK_URL, page by page, never
 * more than --concurrency at a time; failures are counted by Plaid error code; the output holds
 * counts only; a second run is as good as the first. PGlite always, PostgreSQL when DATABASE_URL is set.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/update-item-webhooks.js';
import { openVault } from '../../src/vault/open-vault.js';
import { needs } from '../helpers/needs.js';
import { STORE_BACKENDS, newKey, type VaultStore } from '../helpers/vault-stores.js';

const WEBHOOK_URL = 'https://hooks.example.com/webhooks/plaid';
const CLIENT_ID = 'cli-client-id';
const SECRET = 'cli-secret-never-printed';

interface FakePlaid {
  readonly url: string;
  /** access_token -> the webhook URLs it was given, in order. */
  readonly updates: Map<string, string[]>;
  /** Tokens Plaid answers ITEM_NOT_FOUND for. */
  readonly gone: Set<string>;
  /** Tokens whose first call gets a 500 INTERNAL_SERVER_ERROR (the client re-sends it). */
  readonly flaky: Set<string>;
  maxInFlight: number;
  calls: number;
  close(): Promise<void>;
}

async function startFakePlaid(): Promise<FakePlaid> {
  let inFlight = 0;
  const state = {
    updates: new Map<string, string[]>(),
    gone: new Set<string>(),
    flaky: new Set<string>(),
    maxInFlight: 0,
    calls: 0,
  };
  const server: Server = createServer((req, res) => {
    let text = '';
    req.on('data', (chunk: Buffer) => (text += chunk.toString()));
    req.on('end', () => {
      inFlight++;
      state.calls++;
      state.maxInFlight = Math.max(state.maxInFlight, inFlight);
      const answer = (status: number, body: unknown) =>
        setTimeout(() => {
          inFlight--;
          res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
        }, 15);
      const error = (status: number, type: string, code: string) =>
        answer(status, { error_type: type, error_code: code, error_message: 'fake', display_message: null, request_id: randomUUID() });
      const { access_token: token, webhook } = JSON.parse(text) as { access_token: string; webhook: string };
      if (req.url !== '/item/webhook/update' || req.headers['plaid-client-id'] !== CLIENT_ID || req.headers['plaid-secret'] !== SECRET) {
        return error(400, 'INVALID_REQUEST', 'UNKNOWN_FIELDS');
      }
      if (state.gone.has(token)) return error(400, 'ITEM_ERROR', 'ITEM_NOT_FOUND');
      if (state.flaky.delete(token)) return error(500, 'API_ERROR', 'INTERNAL_SERVER_ERROR');
      state.updates.set(token, [...(state.updates.get(token) ?? []), webhook]);
      return answer(200, { item: { item_id: `item-of-${token}`, webhook }, request_id: randomUUID() });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return Object.assign(state, {
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  });
}

let plaid: FakePlaid;
beforeAll(async () => {
  plaid = await startFakePlaid();
});
afterAll(async () => {
  await plaid?.close();
});

async function run(args: readonly string[], env: Record<string, string>) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(args, env, { log: (line) => out.push(line), error: (line) => err.push(line) });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

for (const backend of STORE_BACKENDS) {
  describe(`items:update-webhook on ${backend.name}`, needs(...backend.requires), () => {
    let store: VaultStore;
    const key = newKey();
    const ITEMS = Array.from({ length: 23 }, (_, i) => ({
      itemId: `item-${String(i).padStart(2, '0')}`,
      token: `access-sandbox-${randomUUID()}`,
    }));
    let env: Record<string, string>;

    beforeAll(async () => {
      store = await backend.create();
      const vault = await openVault({ ...store.location, encryptionKey: key });
      for (const [i, item] of ITEMS.entries()) {
        await vault.saveItem({
          viewerId: `viewer-${i % 4}`,
          itemId: item.itemId,
          accessToken: item.token,
          institutionId: 'ins_109508',
          institutionName: 'First Platypus Bank',
          products: ['transactions'],
        });
      }
      await vault.close();
      env = {
        ...store.env,
        TOKEN_ENCRYPTION_KEY: key,
        PLAID_CLIENT_ID: CLIENT_ID,
        PLAID_SECRET: SECRET,
        PLAID_BASE_URL: plaid.url,
        PLAID_WEBHOOK_URL: WEBHOOK_URL,
        PLAID_RETRY_BASE_DELAY_MS: '1',
      };
    });
    afterAll(async () => {
      await store?.cleanup();
    });
    beforeEach(() => {
      plaid.updates.clear();
      plaid.gone.clear();
      plaid.flaky.clear();
      plaid.maxInFlight = 0;
      plaid.calls = 0;
    });

    it('registers the URL on every Item, in pages, a bounded number at a time, and prints counts only', async () => {
      plaid.flaky.add(ITEMS[4]?.token ?? '');
      const result = await run(['--concurrency', '3', '--batch-size', '5'], env);
      expect(result.err).toBe('');
      expect(result.code).toBe(0);
      expect(result.out.split('\n')).toEqual([
        'Items: 23 updated, 0 failed, 0 unreadable',
        'done: every Item sends its webhooks to PLAID_WEBHOOK_URL',
      ]);
      expect(new Map([...plaid.updates].map(([token, urls]) => [token, urls]))).toEqual(
        new Map(ITEMS.map((item) => [item.token, [WEBHOOK_URL]])),
      );
      expect(plaid.maxInFlight).toBeLessThanOrEqual(3);
      expect(plaid.maxInFlight).toBeGreaterThan(1);
      for (const secret of [SECRET, WEBHOOK_URL, ...ITEMS.flatMap((item) => [item.token, item.itemId])])
        expect(result.out).not.toContain(secret);
    });

    it('is safe to run again: the same URL again, the same answer', async () => {
      expect((await run([], env)).code).toBe(0);
      const again = await run(['--concurrency=8'], env);
      expect(again.code).toBe(0);
      expect(again.out).toContain('Items: 23 updated, 0 failed, 0 unreadable');
      expect([...plaid.updates.values()].every((urls) => urls.length === 2 && urls.every((url) => url === WEBHOOK_URL))).toBe(true);
    });

    it('counts Items Plaid refuses by error code, goes on with the others, and exits 2', async () => {
      plaid.gone.add(ITEMS[0]?.token ?? '');
      plaid.gone.add(ITEMS[22]?.token ?? '');
      const result = await run(['--batch-size', '7'], env);
      expect(result.code).toBe(2);
      expect(result.out.split('\n')).toEqual([
        'Items: 21 updated, 2 failed, 0 unreadable',
        '  failed with ITEM_NOT_FOUND: 2',
        'not finished: some Items were not updated (see above)',
      ]);
      expect(plaid.updates.size).toBe(21);
    });

    it('refuses to run without PLAID_WEBHOOK_URL, Plaid credentials or a persistent vault, or with bad arguments', async () => {
      const { PLAID_WEBHOOK_URL: _url, ...withoutUrl } = env;
      expect(await run([], withoutUrl)).toMatchObject({ code: 1, err: expect.stringMatching(/set PLAID_WEBHOOK_URL/) as string });
      const { PLAID_CLIENT_ID: _id, PLAID_SECRET: _secret, ...withoutCredentials } = env;
      expect(await run([], withoutCredentials)).toMatchObject({
        code: 1,
        err: expect.stringMatching(/set PLAID_CLIENT_ID and PLAID_SECRET/) as string,
      });
      expect(await run([], { PLAID_CLIENT_ID: CLIENT_ID, PLAID_SECRET: SECRET, PLAID_WEBHOOK_URL: WEBHOOK_URL })).toMatchObject({
        code: 1,
        err: expect.stringMatching(/set DATABASE_URL or VAULT_DATA_DIR/) as string,
      });
      for (const args of [['--concurrency'], ['--concurrency', '0'], ['--batch-size', 'many'], ['--what', '1']]) {
        expect((await run(args, env)).err).toMatch(/^usage: items:update-webhook/);
      }
      expect(plaid.calls).toBe(0);
    });
  });
}
