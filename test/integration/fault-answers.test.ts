/**
 * The services' answers when the vault or the quotas say no, in process: an exchanged Item is never
 * silently lost, a refresh Plaid accepted is reported as accepted, one viewer cannot spend everyone's
 * budget, and Redis key names do not reveal Plaid user ids.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { keyedHash } from '../../src/guard/key-hash.js';
import { MemoryQuotaLimiter } from '../../src/guard/quota.js';
import { RedisFlight } from '../../src/guard/redis-flight.js';
import { RedisQuotaLimiter } from '../../src/guard/redis-quota.js';
import { RefreshGuard, type GuardLimits } from '../../src/guard/refresh-guard.js';
import type { PlaidClient } from '../../src/plaid/client.js';
import { PlaidInvalidInputError } from '../../src/plaid/errors.js';
import { callerFor } from '../../src/services/caller.js';
import { DependencyUnavailableError, LinkNotSavedError, LinkThrottledError, RefreshThrottledError } from '../../src/services/errors.js';
import { PlaidItemError } from '../../src/plaid/errors.js';
import { LinkService } from '../../src/services/link-service.js';
import { RefreshService } from '../../src/services/refresh-service.js';
import type { Simulator } from '../../src/simulator/server.js';
import { VaultUnavailableError } from '../../src/vault/errors.js';
import { LinkSpool } from '../../src/vault/link-spool.js';
import { openVault } from '../../src/vault/open-vault.js';
import type { TokenVault } from '../../src/vault/vault.js';
import { clientFor, injectFault, startTestSimulator } from '../helpers/simulator.js';
import { itemProduct } from '../../src/catalogue/refresh-products.js';
import { needs } from '../helpers/needs.js';

const UNLIMITED: GuardLimits = {
  endpoints: {
    '/transactions/refresh': { perTarget: 1_000, perViewer: 1_000, perClient: 1_000 },
    '/identity/refresh': { perTarget: 1_000, perViewer: 1_000, perClient: 1_000 },
    '/cashflow_report/refresh': { perTarget: 1_000, perViewer: 1_000, perClient: 1_000 },
    '/user/financial_data/refresh': { perTarget: 1_000, perViewer: 1_000, perClient: 1_000 },
  },
  link: { perViewerPerHour: 1_000, perClientPerMinute: 1_000 },
};

/**
 * The vault, with the named methods failing as a database outage does while `down` is on: a refused
 * connection (the statement never ran), or with `lostAnswers` a reset after the statement was sent.
 */
function flaky(vault: TokenVault, methods: readonly (keyof TokenVault)[]) {
  /** `lostAnswersFirst`: that many first failing calls lose their answer, the later ones are refused. */
  const state = { down: false, calls: 0, lostAnswers: false, lostAnswersFirst: 0 };
  const outage = () => {
    state.calls++;
    return Promise.reject(
      state.lostAnswers || state.calls <= state.lostAnswersFirst
        ? new VaultUnavailableError({ cause: new Error('Connection terminated unexpectedly'), mayHaveWritten: true })
        : new VaultUnavailableError({ cause: new Error('connect ECONNREFUSED 127.0.0.1:5432'), mayHaveWritten: false }),
    );
  };
  // Every method of `target` fails while down (all of them, or only those named).
  const failing = <T extends object>(target: T, fails: (property: string | symbol) => boolean): T =>
    new Proxy(target, {
      get(inner, property, receiver) {
        const value = Reflect.get(inner, property, receiver) as unknown;
        if (typeof value !== 'function') return value;
        return (...args: unknown[]) =>
          state.down && fails(property) ? outage() : (value as (...a: unknown[]) => unknown).apply(inner, args);
      },
    });
  const log = methods.includes('refreshLog') ? failing(vault.refreshLog, () => true) : vault.refreshLog;
  const proxy = new Proxy(
    failing(vault, (property) => methods.includes(property as keyof TokenVault)),
    {
      get(target, property, receiver) {
        return property === 'refreshLog' ? log : (Reflect.get(target, property, receiver) as unknown);
      },
    },
  );
  return { vault: proxy, state };
}

let simulator: Simulator;
let plaid: PlaidClient;
let vault: TokenVault;

beforeAll(async () => {
  simulator = await startTestSimulator();
  plaid = clientFor(simulator);
  vault = await openVault({});
});
afterAll(async () => {
  await vault.close();
  await plaid.close();
  await simulator.close();
});
beforeEach(() => simulator.state.reset());

const publicToken = async () =>
  (await plaid.createSandboxPublicToken({ institutionId: 'ins_109508', initialProducts: ['transactions', 'identity'] })).publicToken;

describe('linkItem when the vault will not store the Item', () => {
  let spoolDir: string;
  beforeEach(async () => {
    spoolDir = await mkdtemp(join(tmpdir(), 'spool-test-'));
  });
  afterAll(async () => {
    await rm(spoolDir, { recursive: true, force: true });
  });

  it('retries the write, then removes the Item at Plaid and says so: nothing billed for an Item nobody holds', async () => {
    const broken = flaky(vault, ['saveItem']);
    broken.state.down = true;
    const link = new LinkService({ vault: broken.vault, plaid, guard: new RefreshGuard(new MemoryQuotaLimiter(), UNLIMITED) });
    const error = await link.linkItem(callerFor('lena', 2_000), await publicToken()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LinkNotSavedError);
    expect((error as LinkNotSavedError).outcome).toBe('REMOVED_AT_PLAID');
    expect((error as LinkNotSavedError).advice.nextAction).toBe('RELINK_ITEM');
    expect(broken.state.calls).toBeGreaterThan(1);
    const [exchange] = simulator.state.requests({ path: '/item/public_token/exchange' });
    const removed = simulator.state.requests({ path: '/item/remove' });
    expect(removed).toHaveLength(1);
    expect(removed[0]?.itemId).toBeTruthy();
    expect(simulator.state.removed.has(removed[0]?.itemId ?? '')).toBe(true);
    expect(exchange?.status).toBe(200);
  });

  it('when the last write may have landed (its answer was lost), the spool comes first: no vault row with a dead token', async () => {
    const broken = flaky(vault, ['saveItem']);
    broken.state.down = true;
    broken.state.lostAnswers = true;
    const spool = new LinkSpool(spoolDir, broken.vault);
    const link = new LinkService({ vault: broken.vault, plaid, guard: new RefreshGuard(new MemoryQuotaLimiter(), UNLIMITED), spool });
    const error = await link.linkItem(callerFor('lena', 2_000), await publicToken()).catch((e: unknown) => e);
    expect((error as LinkNotSavedError).outcome).toBe('KEPT_FOR_LATER');
    expect(simulator.state.requests({ path: '/item/remove' })).toHaveLength(0);
    broken.state.down = false;
    expect(await spool.replay()).toMatchObject({ saved: 1, left: 0 });
  });

  it('when an earlier write may have landed and the last was refused, the spool still comes first', async () => {
    // A dropped PostgreSQL: the first write is cut off after it was sent (RST), the retries are refused.
    const broken = flaky(vault, ['saveItem']);
    broken.state.down = true;
    broken.state.lostAnswersFirst = 1;
    const spool = new LinkSpool(spoolDir, broken.vault);
    const link = new LinkService({ vault: broken.vault, plaid, guard: new RefreshGuard(new MemoryQuotaLimiter(), UNLIMITED), spool });
    const error = await link.linkItem(callerFor('lena', 2_000), await publicToken()).catch((e: unknown) => e);
    expect(broken.state.calls).toBeGreaterThan(1);
    expect((error as LinkNotSavedError).outcome).toBe('KEPT_FOR_LATER');
    expect(simulator.state.requests({ path: '/item/remove' })).toHaveLength(0);
    broken.state.down = false;
    expect(await spool.replay()).toMatchObject({ saved: 1, left: 0 });
  });

  it('a write that works again within the retries saves the Item: the caller only waited', async () => {
    const broken = flaky(vault, ['saveItem']);
    broken.state.down = true;
    setTimeout(() => (broken.state.down = false), 250);
    const link = new LinkService({ vault: broken.vault, plaid, guard: new RefreshGuard(new MemoryQuotaLimiter(), UNLIMITED) });
    const item = await link.linkItem(callerFor('lena', 10_000), await publicToken());
    expect(await vault.getItems([item.id])).toHaveLength(1);
    expect(simulator.state.requests({ path: '/item/remove' })).toHaveLength(0);
  });

  it('when /item/remove fails too, the Item goes to the spool, and the spool saves it once the vault is back', async () => {
    const broken = flaky(vault, ['saveItem']);
    broken.state.down = true;
    const spool = new LinkSpool(spoolDir, broken.vault);
    await injectFault(simulator, { endpoint: '/item/remove', effect: { type: 'connection_reset' } });
    const link = new LinkService({ vault: broken.vault, plaid, guard: new RefreshGuard(new MemoryQuotaLimiter(), UNLIMITED), spool });
    const error = await link.linkItem(callerFor('lena', 2_000), await publicToken()).catch((e: unknown) => e);
    expect((error as LinkNotSavedError).outcome).toBe('KEPT_FOR_LATER');
    expect(await spool.size()).toBe(1);
    // The file holds no token in the clear.
    const [file = ''] = await readdir(spoolDir);
    expect(await readFile(join(spoolDir, file), 'utf8')).not.toMatch(/access-sandbox-/);

    expect(await spool.replay()).toMatchObject({ saved: 0, left: 1 });
    broken.state.down = false;
    expect(await spool.replay()).toEqual({ saved: 1, left: 0, unreadable: 0, refused: 0 });
    // The Item exchanged last at Plaid is in the vault now, with its token.
    const exchanged = [...simulator.state.items.values()].at(-1);
    expect(await vault.getAccessToken('lena', exchanged?.itemId ?? '')).toBe(exchanged?.accessToken);
    expect(await spool.size()).toBe(0);
  });
});

describe('a refresh Plaid accepted is reported as accepted', () => {
  it('the refresh record cannot be written: the caller still hears success (the record is dropped with a log line)', async () => {
    const broken = flaky(vault, ['refreshLog']);
    const link = new LinkService({ vault, plaid, guard: new RefreshGuard(new MemoryQuotaLimiter(), UNLIMITED) });
    const item = await link.linkItem(callerFor('rita'), await publicToken());
    let dropped = 0;
    const refresh = new RefreshService({
      vault: broken.vault,
      plaid,
      guard: new RefreshGuard(new MemoryQuotaLimiter(), UNLIMITED),
      onRecordDropped: () => dropped++,
    });
    broken.state.down = true;
    const receipt = await refresh.refreshItem(callerFor('rita'), item.id, 'identity');
    expect(receipt).toMatchObject({ itemId: item.id, product: 'identity', joinedInFlight: false });
    expect(receipt.requestId).toMatch(/^\w{15}$/);
    expect(dropped).toBe(1);
    expect(simulator.state.requests({ path: '/identity/refresh' })).toHaveLength(1);
  });

  it('the bundle: the ownership read and the records fail after Plaid said yes; still a success', async () => {
    const { userId } = await plaid.createUser('rosa');
    const { publicToken: token } = await plaid.createSandboxPublicToken({
      institutionId: 'ins_109508',
      initialProducts: ['transactions'],
      userId,
    });
    const link = new LinkService({ vault, plaid, guard: new RefreshGuard(new MemoryQuotaLimiter(), UNLIMITED) });
    await link.linkItem(callerFor('rosa'), token);
    await vault.setPlaidUserId('rosa', userId);
    const broken = flaky(vault, ['getItems', 'refreshLog']);
    broken.state.down = true;
    const refresh = new RefreshService({ vault: broken.vault, plaid, guard: new RefreshGuard(new MemoryQuotaLimiter(), UNLIMITED) });
    const receipt = await refresh.refreshUser(callerFor('rosa'));
    expect(receipt.results).toHaveLength(1);
    expect(receipt.results[0]?.error).toBeNull();
  });
});

describe('the Item life cycle when the vault fails', () => {
  const guard = () => new RefreshGuard(new MemoryQuotaLimiter(), UNLIMITED);

  it('unlinkItem: removed at Plaid but not yet deleted here is DependencyUnavailableError; the next unlinkItem finishes it', async () => {
    const link = new LinkService({ vault, plaid, guard: guard() });
    const item = await link.linkItem(callerFor('ursula'), await publicToken());
    const broken = flaky(vault, ['deleteItem']);
    broken.state.down = true;
    const brokenLink = new LinkService({ vault: broken.vault, plaid, guard: guard() });
    const error = await brokenLink.unlinkItem(callerFor('ursula'), item.id).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DependencyUnavailableError);
    expect(error).toMatchObject({ dependency: 'STORAGE', mayHaveRun: true, advice: { nextAction: 'RETRY_LATER' } });
    expect(simulator.state.removed.has(item.id)).toBe(true);
    expect(await vault.getItems([item.id])).toHaveLength(1);

    broken.state.down = false;
    expect(await brokenLink.unlinkItem(callerFor('ursula'), item.id)).toEqual({ itemId: item.id, alreadyGoneAtPlaid: true });
    expect(await vault.getItems([item.id])).toEqual([]);
  });

  it('a new Plaid user whose id cannot be stored: retried, then DependencyUnavailableError and no link token', async () => {
    const broken = flaky(vault, ['setPlaidUserId']);
    broken.state.down = true;
    const link = new LinkService({ vault: broken.vault, plaid, guard: guard() });
    const error = await link.createLinkToken(callerFor('uma')).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DependencyUnavailableError);
    expect(broken.state.calls).toBe(4);
    expect(simulator.state.requests({ path: '/user/create' })).toHaveLength(1);
    expect(simulator.state.requests({ path: '/link/token/create' })).toHaveLength(0);

    // A write that works again within the retries: stored, one /user/create, the token made.
    broken.state.down = true;
    broken.state.calls = 0;
    setTimeout(() => (broken.state.down = false), 150);
    const receipt = await link.createLinkToken(callerFor('uma-2'));
    expect(receipt).toMatchObject({ mode: 'NEW_ITEM', joinsUserBundle: true });
    expect(await vault.getPlaidUserId('uma-2')).toMatch(/^usr_/);
  });

  it('concurrent first links of one viewer make one /user/create', async () => {
    const link = new LinkService({ vault, plaid, guard: guard() });
    await Promise.all(Array.from({ length: 5 }, () => link.createLinkToken(callerFor('una'))));
    expect(simulator.state.requests({ path: '/user/create' })).toHaveLength(1);
    expect(simulator.state.requests({ path: '/link/token/create' })).toHaveLength(5);
  });

  it("health that cannot be recorded never changes a refresh's answer", async () => {
    const link = new LinkService({ vault, plaid, guard: guard() });
    const item = await link.linkItem(callerFor('hana'), await publicToken());
    await plaid.resetSandboxItemLogin((await vault.getAccessToken('hana', item.id)) ?? '');
    const broken = flaky(vault, ['recordItemHealth']);
    broken.state.down = true;
    const refresh = new RefreshService({ vault: broken.vault, plaid, guard: guard() });
    const error = await refresh.refreshItem(callerFor('hana'), item.id, 'identity').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PlaidItemError);
    expect(broken.state.calls).toBe(1);
  });
});

describe('fairness: per-viewer limits below the client-wide ones', () => {
  it('one viewer refreshing many Items hits its own limit (VIEWER); another viewer is unaffected', async () => {
    const limits: GuardLimits = {
      ...UNLIMITED,
      endpoints: { ...UNLIMITED.endpoints, '/identity/refresh': { perTarget: 2, perViewer: 3, perClient: 100 } },
    };
    const guard = new RefreshGuard(new MemoryQuotaLimiter(), limits);
    const link = new LinkService({ vault, plaid, guard: new RefreshGuard(new MemoryQuotaLimiter(), UNLIMITED) });
    const greedy = await Promise.all(
      Array.from({ length: 4 }, async () => (await link.linkItem(callerFor('greedy'), await publicToken())).id),
    );
    const modest = (await link.linkItem(callerFor('modest'), await publicToken())).id;
    const refresh = new RefreshService({ vault, plaid, guard });
    const answers = [];
    for (const id of greedy) answers.push(await refresh.refreshItem(callerFor('greedy'), id, 'identity').catch((e: unknown) => e));
    expect(answers.slice(0, 3).every((a) => !(a instanceof Error))).toBe(true);
    expect(answers[3]).toBeInstanceOf(RefreshThrottledError);
    expect((answers[3] as RefreshThrottledError).scope).toBe('VIEWER');
    await expect(refresh.refreshItem(callerFor('modest'), modest, 'identity')).resolves.toMatchObject({ itemId: modest });
  });

  it('linkItem has a limit per viewer: the one over it is refused before any exchange call', async () => {
    const guard = new RefreshGuard(new MemoryQuotaLimiter(), { ...UNLIMITED, link: { perViewerPerHour: 2, perClientPerMinute: 100 } });
    const link = new LinkService({ vault, plaid, guard });
    await link.linkItem(callerFor('linker'), await publicToken());
    await link.linkItem(callerFor('linker'), await publicToken());
    const before = simulator.state.requests({ path: '/item/public_token/exchange' }).length;
    const error = await link.linkItem(callerFor('linker'), await publicToken()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LinkThrottledError);
    expect(error).toMatchObject({ scope: 'VIEWER' });
    expect((error as LinkThrottledError).retryAfterSeconds).toBeGreaterThan(3_000);
    expect(simulator.state.requests({ path: '/item/public_token/exchange' })).toHaveLength(before);
    await expect(link.linkItem(callerFor('other-linker'), await publicToken())).resolves.toBeTruthy();
  });
});

describe('Redis key names', needs('REDIS_URL'), () => {
  it('hold a keyed hash of the Plaid user id, never the id itself', async () => {
    const redis = new Redis(process.env.REDIS_URL ?? '');
    const prefix = `test:${randomBytes(6).toString('hex')}:`;
    try {
      const guard = new RefreshGuard(new RedisQuotaLimiter(redis, `${prefix}quota:`), UNLIMITED, {
        distributed: new RedisFlight(redis, { prefix: `${prefix}flight:`, lockTtlMs: 1_000 }),
        keyHash: keyedHash(randomBytes(32)),
      });
      const userId = 'usr_SecretUserId42';
      const seen: string[] = [];
      await guard.run(
        {
          endpoint: '/user/financial_data/refresh',
          viewerId: 'viewer-with-a-name',
          target: { scope: 'USER', id: userId },
          deadline: Date.now() + 5_000,
        },
        async () => {
          seen.push(...(await redis.keys(`${prefix}*`)));
          return 'ok';
        },
      );
      seen.push(...(await redis.keys(`${prefix}*`)));
      expect(seen.some((key) => key.includes(':user:'))).toBe(true);
      expect(seen.filter((key) => key.includes(userId) || key.includes('viewer-with-a-name'))).toEqual([]);
    } finally {
      const keys = await redis.keys(`${prefix}*`);
      if (keys.length > 0) await redis.del(...keys);
      redis.disconnect();
    }
  });
});

it('an Item removed at Plaid is gone there: its token no longer refreshes', async () => {
  const { accessToken } = await plaid.exchangePublicToken(await publicToken());
  await plaid.removeItem(accessToken);
  await expect(plaid.refreshItem(itemProduct('identity'), accessToken)).rejects.toBeInstanceOf(PlaidInvalidInputError);
  // Removing again is harmless (a lost answer to the first may make the client ask twice).
  await expect(plaid.removeItem(accessToken)).rejects.toMatchObject({ errorCode: 'INVALID_ACCESS_TOKEN' });
});
