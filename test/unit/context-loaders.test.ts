/** The request's DataLoaders are made on first use, yet still one per request, so batching holds. */
import { expect, it } from 'vitest';
import { createContext, type Services } from '../../src/context.js';
import type { PlaidItemRecord } from '../../src/services/item-service.js';

function fakeServices() {
  const batches: { viewerId: string | null; ids: readonly string[] }[] = [];
  const items = {
    ownItems: (viewerId: string | null, ids: readonly string[]) => {
      batches.push({ viewerId, ids });
      return Promise.resolve(ids.map(() => null as PlaidItemRecord | null));
    },
  };
  return { services: { items } as unknown as Services, batches };
}

it('loads of one request made together are one batch, for that request viewer', async () => {
  const { services, batches } = fakeServices();
  const context = createContext(services, { id: 'viewer-1', expiresAt: Date.now() + 60_000 }, 'req-1', Date.now() + 1_000);
  await Promise.all([context.loaders.item.load('a'), context.loaders.item.load('b')]);
  expect(batches).toEqual([{ viewerId: 'viewer-1', ids: ['a', 'b'] }]);
  // The loader made on first use is the one kept: its cache answers again without a batch.
  expect(context.loaders.item).toBe(context.loaders.item);
  await context.loaders.item.load('a');
  expect(batches).toHaveLength(1);
});

it('each request has loaders of its own', async () => {
  const { services, batches } = fakeServices();
  const first = createContext(services, { id: 'viewer-1', expiresAt: Date.now() + 60_000 }, 'req-1', Date.now() + 1_000);
  const second = createContext(services, null, 'req-2', Date.now() + 1_000);
  expect(first.loaders.item).not.toBe(second.loaders.item);
  await Promise.all([first.loaders.item.load('a'), second.loaders.item.load('a')]);
  expect(batches).toEqual([
    { viewerId: 'viewer-1', ids: ['a'] },
    { viewerId: null, ids: ['a'] },
  ]);
});
