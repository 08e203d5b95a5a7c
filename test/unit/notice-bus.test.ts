/**
 * The notice bus routes each notice to the subscriptions it is for (viewer, then Item or refresh
 * id) without handing it to the others, and only once to a subscription that matches twice.
 */
import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/observability/logger.js';
import { createNoticeBus, type NoticeBus } from '../../src/pubsub/notice-bus.js';
import type { NoticeFilter, RefreshNotice } from '../../src/services/refresh-lifecycle.js';
import { notice } from '../helpers/notices.js';

const filter = (viewerId: string, itemIds: string[] = [], refreshIds: string[] = []): NoticeFilter => ({
  viewerId,
  itemIds: new Set(itemIds),
  refreshIds: new Set(refreshIds),
});

/** Subscribes and collects what arrives, without waiting on anything. */
function collect(bus: NoticeBus, wanted: NoticeFilter) {
  const iterator = bus.subscribe(wanted)[Symbol.asyncIterator]();
  const received: RefreshNotice[] = [];
  let done = false;
  const pump = (async () => {
    for (;;) {
      const next = await iterator.next();
      if (next.done) break;
      received.push(next.value);
    }
    done = true;
  })();
  return { received, ended: () => done, stop: async () => (await iterator.return?.(), await pump) };
}

const settle = () => new Promise((resolve) => setTimeout(resolve, 10));

describe('notice bus', () => {
  it('hands a notice to its viewer’s subscriptions of that Item, of its refreshes and of everything, and to no one else', async () => {
    const bus = createNoticeBus({ logger: silentLogger });
    const ofItem = collect(bus, filter('alice', ['item_a']));
    const ofOtherItem = collect(bus, filter('alice', ['item_b']));
    const ofRefresh = collect(bus, filter('alice', [], ['run_1']));
    const ofAll = collect(bus, filter('alice'));
    const otherViewer = collect(bus, filter('bob', ['item_a']));
    const otherViewerAll = collect(bus, filter('bob'));
    const both = collect(bus, filter('alice', ['item_a'], ['run_1']));
    expect(bus.subscriptions()).toBe(7);

    const sent = notice('alice', 'item_a', ['run_1']);
    void bus.announce(sent);
    await settle();
    expect(ofItem.received).toEqual([sent]);
    expect(ofRefresh.received).toEqual([sent]);
    expect(ofAll.received).toEqual([sent]);
    // Matched by Item and by refresh: still once.
    expect(both.received).toEqual([sent]);
    expect(ofOtherItem.received).toEqual([]);
    expect(otherViewer.received).toEqual([]);
    expect(otherViewerAll.received).toEqual([]);

    void bus.announce(notice('alice', 'item_b'));
    await settle();
    expect(ofItem.received).toHaveLength(1);
    expect(ofOtherItem.received).toHaveLength(1);
    expect(ofRefresh.received).toHaveLength(1);
    expect(ofAll.received).toHaveLength(2);
    await bus.close();
  });

  it('a subscription that ends leaves the index; endSubscriptions ends every one', async () => {
    const bus = createNoticeBus({ logger: silentLogger });
    const first = collect(bus, filter('alice', ['item_a'], ['run_1']));
    const second = collect(bus, filter('alice', ['item_a']));
    await first.stop();
    expect(bus.subscriptions()).toBe(1);
    void bus.announce(notice('alice', 'item_a', ['run_1']));
    await settle();
    expect(first.received).toEqual([]);
    expect(second.received).toHaveLength(1);
    bus.endSubscriptions();
    await settle();
    expect(second.ended()).toBe(true);
    expect(bus.subscriptions()).toBe(0);
    await bus.close();
  });

  it('notices announced before a subscriber reads are kept for it, in order', async () => {
    const bus = createNoticeBus({ logger: silentLogger });
    const iterator = bus.subscribe(filter('alice', ['item_a']))[Symbol.asyncIterator]();
    const sent = [notice('alice', 'item_a', ['r1']), notice('alice', 'item_a', ['r2'])];
    for (const n of sent) void bus.announce(n);
    await settle();
    expect((await iterator.next()).value).toBe(sent[0]);
    expect((await iterator.next()).value).toBe(sent[1]);
    await iterator.return?.();
    expect((await iterator.next()).done).toBe(true);
    await bus.close();
  });
});
