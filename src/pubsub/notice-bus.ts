/**
 * The bus that carries refresh notices to subscribers: yoga's pubsub, in memory for one replica,
 * or over Redis pub/sub (@graphql-yoga/redis-event-target) so that a webhook that reaches replica A
 * is heard by a subscriber on replica B. Notices only say what changed; the data is in the store.
 * Publishing is best effort: a notice lost to a Redis outage costs a subscriber a live update, never
 * the status, which a client reads again when it reconnects.
 *
 * The bus holds one listener on the topic, whatever the number of subscriptions, and routes each
 * notice through an index (viewer, then Item or refresh id) to the subscriptions it is for: a
 * notice costs the subscriptions it reaches, not every open one, and an open subscription is a
 * small queue in that index instead of a pubsub listener of its own.
 */
import { createRedisEventTarget } from '@graphql-yoga/redis-event-target';
import { createPubSub } from 'graphql-yoga';
import type { Redis } from 'ioredis';
import type { Logger } from '../observability/logger.js';
import type { Announce, NoticeFilter, RefreshNotice } from '../services/refresh-lifecycle.js';

const TOPIC = 'refresh-notice';

export interface NoticeBus {
  readonly announce: Announce;
  /** The notices of `filter.viewerId` for its Items or refreshes (all of its notices when both sets are empty). */
  subscribe(filter: NoticeFilter): AsyncIterable<RefreshNotice>;
  delivered(notice: RefreshNotice): void;
  /** Ends every open subscription (shutdown: their clients reconnect to another replica). */
  endSubscriptions(): void;
  /** Subscriptions open right now. */
  subscriptions(): number;
  close(): Promise<void>;
}

export interface NoticeBusOptions {
  /** The cost guard's client: publishes. A second connection, made here, subscribes. */
  readonly redis?: Redis | null;
  /** Namespaces the channel, as the guard's keys are (several deployments on one Redis). */
  readonly channelPrefix?: string;
  readonly logger: Logger;
  /** Called once per notice published (metrics). */
  readonly onPublished?: () => void;
  /** Called per notice handed to a subscriber, with the time since what it announces happened. */
  readonly onDelivered?: (latencyMs: number) => void;
}

export function createNoticeBus(options: NoticeBusOptions): NoticeBus {
  const { redis, logger } = options;
  const topic = `${options.channelPrefix ?? ''}${TOPIC}`;
  let subscriber: Redis | null = null;
  let eventTarget: ReturnType<typeof createRedisEventTarget> | undefined;
  if (redis) {
    // A subscribed connection can do nothing else; it queues while offline and resubscribes on reconnect.
    subscriber = redis.duplicate({ enableOfflineQueue: true, autoResubscribe: true, lazyConnect: false });
    subscriber.on('error', (error: Error) => logger.debug({ err: error }, 'notice bus: subscriber connection error'));
    // The guard's client fails fast while Redis is down; a lost notice is logged, never thrown.
    const publisher = {
      publish: (channel: string, message: string) =>
        redis.publish(channel, message).catch((error: unknown) => {
          logger.warn({ err: error }, 'refresh notice not published: Redis unavailable');
          return 0;
        }),
    } as unknown as Redis;
    // yoga's event target neither awaits nor catches (un)subscribe: one made as the connection
    // closes (shutdown, Redis gone) would be an unhandled rejection. Logged here instead.
    const connection = subscriber;
    // A lost subscribe means no notices here until ioredis resubscribes on reconnect: worth a warning.
    const quietly = (what: string) => (error: unknown) => logger.warn({ err: error }, `notice bus: ${what} failed`);
    const subscribeClient = {
      on: (event: string, listener: (...args: unknown[]) => void) => connection.on(event, listener),
      subscribe: (channel: string) => connection.subscribe(channel).catch(quietly('subscribe')),
      unsubscribe: (channel: string) => connection.unsubscribe(channel).catch(quietly('unsubscribe')),
    } as unknown as Redis;
    eventTarget = createRedisEventTarget({ publishClient: publisher, subscribeClient });
  }
  const pubsub = createPubSub<Record<string, [RefreshNotice]>>(eventTarget ? { eventTarget } : {});
  const index = new NoticeIndex();
  // The one listener: every notice of every replica passes here once and is routed by the index.
  const source = pubsub.subscribe(topic)[Symbol.asyncIterator]();
  const pump = (async () => {
    for (;;) {
      const next = await source.next();
      if (next.done) return;
      index.dispatch(next.value);
    }
  })().catch((error: unknown) => logger.error({ err: error }, 'notice bus: the topic listener failed'));
  return {
    announce: (notice) => {
      pubsub.publish(topic, notice);
      options.onPublished?.();
    },
    subscribe: (filter) => ({ [Symbol.asyncIterator]: () => index.add(filter) }),
    delivered: (notice) => options.onDelivered?.(Date.now() - notice.occurredAt),
    endSubscriptions: () => index.endAll(),
    subscriptions: () => index.size,
    close: async () => {
      index.endAll();
      await source.return?.();
      await pump;
      subscriber?.disconnect();
    },
  };
}

/** One open subscription: its filter and the notices routed to it that it has not read yet. */
class NoticeQueue implements AsyncIterator<RefreshNotice> {
  private readonly pending: RefreshNotice[] = [];
  private waiting: ((result: IteratorResult<RefreshNotice>) => void) | null = null;
  private ended = false;

  constructor(
    readonly filter: NoticeFilter,
    private readonly onEnd: (queue: NoticeQueue) => void,
  ) {}

  push(notice: RefreshNotice): void {
    if (this.ended) return;
    if (this.waiting) {
      const resolve = this.waiting;
      this.waiting = null;
      resolve({ done: false, value: notice });
    } else {
      this.pending.push(notice);
    }
  }

  next(): Promise<IteratorResult<RefreshNotice>> {
    const notice = this.pending.shift();
    if (notice) return Promise.resolve({ done: false, value: notice });
    if (this.ended) return Promise.resolve({ done: true, value: undefined });
    return new Promise((resolve) => {
      this.waiting = resolve;
    });
  }

  return(): Promise<IteratorResult<RefreshNotice>> {
    this.end();
    return Promise.resolve({ done: true, value: undefined });
  }

  end(): void {
    if (this.ended) return;
    this.ended = true;
    this.pending.length = 0;
    this.onEnd(this);
    const resolve = this.waiting;
    this.waiting = null;
    resolve?.({ done: true, value: undefined });
  }
}

/** A viewer's open subscriptions: those for all its notices, and those per Item and per refresh id. */
interface ViewerQueues {
  readonly all: Set<NoticeQueue>;
  readonly byItem: Map<string, Set<NoticeQueue>>;
  readonly byRefresh: Map<string, Set<NoticeQueue>>;
}

/** The open subscriptions by viewer, then by Item or refresh id: a notice finds its subscribers without looking at the others. */
export class NoticeIndex {
  private readonly viewers = new Map<string, ViewerQueues>();
  private count = 0;

  get size(): number {
    return this.count;
  }

  add(filter: NoticeFilter): NoticeQueue {
    const queue = new NoticeQueue(filter, (ended) => this.remove(ended));
    let viewer = this.viewers.get(filter.viewerId);
    if (!viewer) {
      viewer = { all: new Set(), byItem: new Map(), byRefresh: new Map() };
      this.viewers.set(filter.viewerId, viewer);
    }
    if (filter.itemIds.size === 0 && filter.refreshIds.size === 0) viewer.all.add(queue);
    for (const id of filter.itemIds) addTo(viewer.byItem, id, queue);
    for (const id of filter.refreshIds) addTo(viewer.byRefresh, id, queue);
    this.count++;
    return queue;
  }

  /** Hands `notice` to each subscription it is for, once (a subscription may match by Item and by refresh). */
  dispatch(notice: RefreshNotice): void {
    const viewer = this.viewers.get(notice.viewerId);
    if (!viewer) return;
    const byItem = viewer.byItem.get(notice.itemId);
    const byRefresh = notice.refreshIds.map((id) => viewer.byRefresh.get(id)).filter((set) => set !== undefined);
    if (byRefresh.length === 0) {
      // The common case, without a set of its own: no subscription is in both.
      for (const queue of viewer.all) queue.push(notice);
      if (byItem) for (const queue of byItem) queue.push(notice);
      return;
    }
    const targets = new Set<NoticeQueue>(viewer.all);
    if (byItem) for (const queue of byItem) targets.add(queue);
    for (const set of byRefresh) for (const queue of set) targets.add(queue);
    for (const queue of targets) queue.push(notice);
  }

  endAll(): void {
    for (const viewer of [...this.viewers.values()]) {
      const queues = new Set<NoticeQueue>(viewer.all);
      for (const set of viewer.byItem.values()) for (const queue of set) queues.add(queue);
      for (const set of viewer.byRefresh.values()) for (const queue of set) queues.add(queue);
      for (const queue of queues) queue.end();
    }
  }

  private remove(queue: NoticeQueue): void {
    const { filter } = queue;
    const viewer = this.viewers.get(filter.viewerId);
    if (!viewer) return;
    this.count--;
    viewer.all.delete(queue);
    for (const id of filter.itemIds) removeFrom(viewer.byItem, id, queue);
    for (const id of filter.refreshIds) removeFrom(viewer.byRefresh, id, queue);
    if (viewer.all.size === 0 && viewer.byItem.size === 0 && viewer.byRefresh.size === 0) this.viewers.delete(filter.viewerId);
  }
}

function addTo(map: Map<string, Set<NoticeQueue>>, key: string, queue: NoticeQueue): void {
  const set = map.get(key);
  if (set) set.add(queue);
  else map.set(key, new Set([queue]));
}

function removeFrom(map: Map<string, Set<NoticeQueue>>, key: string, queue: NoticeQueue): void {
  const set = map.get(key);
  if (!set) return;
  set.delete(queue);
  if (set.size === 0) map.delete(key);
}
