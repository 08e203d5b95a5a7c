/**
 * The bus that carries refresh notices to subscribers: yoga's pubsub, in memory for one replica,
 * or over Redis pub/sub (@graphql-yoga/redis-event-target) so that a webhook that reaches replica A
 * is heard by a subscriber on replica B. Notices only say what changed; the data is in the store.
 * Publishing is best effort: a notice lost to a Redis outage costs a subscriber a live update, never
 * the status, which a client reads again when it reconnects.
 */
import { createRedisEventTarget } from '@graphql-yoga/redis-event-target';
import { createPubSub } from 'graphql-yoga';
import type { Redis } from 'ioredis';
import type { Logger } from '../observability/logger.js';
import type { Announce, RefreshNotice } from '../services/refresh-lifecycle.js';

const TOPIC = 'refresh-notice';

export interface NoticeBus {
  readonly announce: Announce;
  subscribe(): AsyncIterable<RefreshNotice>;
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
    eventTarget = createRedisEventTarget({ publishClient: publisher, subscribeClient: subscriber });
  }
  const pubsub = createPubSub<Record<string, [RefreshNotice]>>(eventTarget ? { eventTarget } : {});
  const open = new Set<AsyncIterator<RefreshNotice>>();
  return {
    announce: (notice) => {
      pubsub.publish(topic, notice);
      options.onPublished?.();
    },
    subscribe: () => ({
      [Symbol.asyncIterator]: () => {
        const iterator = pubsub.subscribe(topic)[Symbol.asyncIterator]();
        open.add(iterator);
        return {
          next: () => iterator.next(),
          return: async () => {
            open.delete(iterator);
            return (await iterator.return?.()) ?? { done: true, value: undefined };
          },
        };
      },
    }),
    delivered: (notice) => options.onDelivered?.(Date.now() - notice.occurredAt),
    endSubscriptions: () => {
      for (const iterator of [...open]) void iterator.return?.();
      open.clear();
    },
    subscriptions: () => open.size,
    close: () => {
      subscriber?.disconnect();
      return Promise.resolve();
    },
  };
}
