/**
 * The inbox processor: claims stored webhooks (a lease in the vault, so replicas never claim one
 * together), hands each to `handle`, and marks it processed, or failed and due again after a
 * capped exponential backoff. It runs at start (a webhook stored but not processed before the last
 * process died is handled now), when woken (the receiver stored one), and every `pollMs` (work left
 * by other replicas, retries falling due).
 *
 * Delivery to `handle` is at least once: a process killed mid-handle, or a vault that does not take
 * the completion, means the webhook is handled again once its lease runs out. Handlers must be
 * idempotent (Plaid's own webhooks arrive duplicated and out of order anyway) and must end when
 * their signal aborts, which it does at half the lease, so no other replica can claim a webhook
 * whose handler still runs here.
 */
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { silentLogger, type Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import type { InboxWebhook, WebhookInbox } from '../vault/webhook-inbox.js';

/** Processes one webhook; resolves when done, throws to have it retried later. */
export type WebhookHandler = (webhook: InboxWebhook, signal: AbortSignal) => Promise<void>;

export interface WebhookProcessorOptions {
  readonly inbox: Pick<WebhookInbox, 'claimWebhooks' | 'completeWebhook' | 'failWebhook'>;
  /** Default: logs the webhook at debug and marks it processed (the runtime passes services/plaid-webhook-handler). */
  readonly handle?: WebhookHandler;
  readonly logger?: Logger;
  readonly metrics?: Pick<Metrics, 'webhookProcessed'>;
  /** Names this processor in the leases it takes; unique per process by default. */
  readonly owner?: string;
  /** Webhooks claimed (and handled concurrently) at a time. */
  readonly batchSize?: number;
  /** How long a claim is this processor's alone; a handler is aborted at half of it. */
  readonly leaseMs?: number;
  /** Claims also run this often without being woken. */
  readonly pollMs?: number;
  /**
   * Wakes closer together than this are claimed together: the first at once (a lone webhook waits
   * for no timer: it is in a subscriber's latency), the rest once this long has passed, so a burst
   * of stores is claimed in batches instead of one claim per store competing with the stores.
   */
  readonly wakeDelayMs?: number;
  /** Backoff after a failure: base * 2^(attempts - 1), capped, with jitter. */
  readonly retryBaseMs?: number;
  readonly retryMaxMs?: number;
  readonly random?: () => number;
}

export const WEBHOOK_PROCESSOR_DEFAULTS = Object.freeze({
  batchSize: 10,
  leaseMs: 60_000,
  pollMs: 5_000,
  wakeDelayMs: 20,
  retryBaseMs: 1_000,
  retryMaxMs: 5 * 60_000,
});

/** The handler did not finish within half the lease; the webhook is released for a later attempt. */
export class WebhookHandlerTimeoutError extends Error {
  override name = 'WebhookHandlerTimeoutError';
}

/** The processor was stopped while the handler ran; the webhook is released for whoever runs next. */
export class WebhookProcessorStoppedError extends Error {
  override name = 'WebhookProcessorStoppedError';
}

/** The default handler, for a processor used alone (tests, tools): says the webhook was seen. */
export function logWebhook(logger: Logger): WebhookHandler {
  return (webhook) => {
    logger.debug(
      { webhookId: webhook.id, webhookType: webhook.webhookType, webhookCode: webhook.webhookCode, itemId: webhook.itemId },
      'plaid webhook processed (no handler)',
    );
    return Promise.resolve();
  };
}

export class WebhookProcessor {
  readonly owner: string;
  private readonly inbox: WebhookProcessorOptions['inbox'];
  private readonly handle: WebhookHandler;
  private readonly logger: Logger;
  private readonly metrics: WebhookProcessorOptions['metrics'];
  private readonly batchSize: number;
  private readonly leaseMs: number;
  private readonly pollMs: number;
  private readonly wakeDelayMs: number;
  private wakeTimer: NodeJS.Timeout | null = null;
  /** A wake came while the timer ran: claimed when it ends. */
  private wakeQueued = false;
  private readonly retryBaseMs: number;
  private readonly retryMaxMs: number;
  private readonly random: () => number;
  private loop: Promise<void> | null = null;
  private stopping = false;
  private woken = false;
  private wakeUp: (() => void) | null = null;
  /** Aborted when stop()'s grace is over: every handler running then, or starting later, ends. */
  private shutdown = new AbortController();

  constructor(options: WebhookProcessorOptions) {
    this.inbox = options.inbox;
    this.logger = options.logger ?? silentLogger;
    this.handle = options.handle ?? logWebhook(this.logger);
    this.metrics = options.metrics;
    this.owner = options.owner ?? `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
    this.batchSize = options.batchSize ?? WEBHOOK_PROCESSOR_DEFAULTS.batchSize;
    this.leaseMs = options.leaseMs ?? WEBHOOK_PROCESSOR_DEFAULTS.leaseMs;
    this.pollMs = options.pollMs ?? WEBHOOK_PROCESSOR_DEFAULTS.pollMs;
    this.wakeDelayMs = options.wakeDelayMs ?? WEBHOOK_PROCESSOR_DEFAULTS.wakeDelayMs;
    this.retryBaseMs = options.retryBaseMs ?? WEBHOOK_PROCESSOR_DEFAULTS.retryBaseMs;
    this.retryMaxMs = options.retryMaxMs ?? WEBHOOK_PROCESSOR_DEFAULTS.retryMaxMs;
    this.random = options.random ?? Math.random;
    if (!Number.isInteger(this.batchSize) || this.batchSize < 1) throw new RangeError('batchSize must be a positive integer');
    if (!(this.leaseMs > 0) || !(this.pollMs > 0)) throw new RangeError('leaseMs and pollMs must be positive');
  }

  get running(): boolean {
    return this.loop !== null;
  }

  /** Starts the loop (at once: what an earlier process left is processed now). Starting twice is harmless. */
  start(): void {
    if (this.loop) return;
    this.stopping = false;
    this.shutdown = new AbortController();
    this.loop = this.run().finally(() => {
      this.loop = null;
    });
  }

  /** Claims now, or within `wakeDelayMs` of the last wake, instead of at the next poll; called when a webhook was stored. */
  wake(): void {
    if (this.stopping) return;
    if (this.wakeTimer) {
      this.wakeQueued = true;
      return;
    }
    this.wakeNow();
    this.holdWakes();
  }

  /** Wakes until `wakeDelayMs` from now are queued, and claimed together when it is over. */
  private holdWakes(): void {
    this.wakeTimer = setTimeout(() => {
      this.wakeTimer = null;
      if (!this.wakeQueued || this.stopping) return;
      this.wakeQueued = false;
      this.wakeNow();
      this.holdWakes();
    }, this.wakeDelayMs);
    this.wakeTimer.unref();
  }

  private wakeNow(): void {
    if (this.wakeUp) this.wakeUp();
    else this.woken = true;
  }

  /**
   * Stops claiming and lets the batch in hand finish for up to `graceMs`; handlers still running
   * then are aborted and their webhooks released, so the next processor takes them at once.
   */
  async stop(graceMs = 2_000): Promise<void> {
    const loop = this.loop;
    if (!loop) return;
    this.stopping = true;
    if (this.wakeTimer) clearTimeout(this.wakeTimer);
    this.wakeTimer = null;
    this.wakeQueued = false;
    this.wakeNow();
    let timer: NodeJS.Timeout | undefined;
    const graceOver = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, graceMs);
    });
    await Promise.race([loop, graceOver]);
    clearTimeout(timer);
    this.shutdown.abort(new WebhookProcessorStoppedError('the webhook processor stopped'));
    await loop;
  }

  /** Claims and handles until nothing is due; resolves with how many webhooks were handed to `handle`. */
  async drain(): Promise<number> {
    let total = 0;
    for (;;) {
      const count = await this.processBatch();
      total += count;
      if (count === 0) return total;
    }
  }

  /** One claim and its handling; resolves with the number claimed. */
  async processBatch(): Promise<number> {
    const claimed = await this.inbox.claimWebhooks(this.batchSize, this.owner, this.leaseMs);
    // Concurrently: every claimed webhook must be done well within the lease taken for all of them.
    await Promise.all(claimed.map((webhook) => this.processOne(webhook)));
    return claimed.length;
  }

  private async run(): Promise<void> {
    let lastFailure = '';
    while (!this.stopping) {
      let claimed = 0;
      try {
        claimed = await this.processBatch();
        lastFailure = '';
      } catch (error) {
        // The vault is down or slow: nothing was claimed; the next poll tries again. Said once per outage.
        const message = error instanceof Error ? error.message : String(error);
        if (message !== lastFailure) this.logger.warn({ err: error }, 'webhook processor: claiming failed');
        lastFailure = message;
      }
      if (this.stopping) break;
      // A full batch suggests more are waiting.
      if (claimed < this.batchSize) await this.sleep(this.pollMs);
    }
  }

  private sleep(ms: number): Promise<void> {
    if (this.woken) {
      this.woken = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const timer = setTimeout(() => done(), ms);
      // Polling alone must not keep a process alive.
      timer.unref();
      const done = () => {
        clearTimeout(timer);
        this.wakeUp = null;
        this.woken = false;
        resolve();
      };
      this.wakeUp = done;
    });
  }

  private async processOne(webhook: InboxWebhook): Promise<void> {
    const timeout = new AbortController();
    const timer = setTimeout(
      () => timeout.abort(new WebhookHandlerTimeoutError(`not handled within ${this.leaseMs / 2} ms`)),
      this.leaseMs / 2,
    );
    const signal = AbortSignal.any([timeout.signal, this.shutdown.signal]);
    try {
      // Claimed after the shutdown's grace ran out: released unhandled.
      signal.throwIfAborted();
      await Promise.race([this.handle(webhook, signal), rejectOnAbort(signal)]);
    } catch (error) {
      await this.failed(webhook, error);
      return;
    } finally {
      clearTimeout(timer);
    }
    this.metrics?.webhookProcessed('handled');
    try {
      await this.inbox.completeWebhook(webhook.id);
    } catch (error) {
      // Handled but not marked: it is handled again once the lease runs out (at least once).
      this.logger.warn({ err: error, webhookId: webhook.id }, 'webhook processor: handled, but not marked processed');
    }
  }

  private async failed(webhook: InboxWebhook, error: unknown): Promise<void> {
    this.metrics?.webhookProcessed('failed');
    const stopped = error instanceof WebhookProcessorStoppedError;
    const retryInMs = stopped ? 0 : this.backoff(webhook.attempts);
    const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    this.logger.warn(
      {
        webhookId: webhook.id,
        webhookType: webhook.webhookType,
        webhookCode: webhook.webhookCode,
        attempts: webhook.attempts,
        retryInMs,
        error: message,
      },
      'webhook processor: handling failed; retrying later',
    );
    try {
      await this.inbox.failWebhook(webhook.id, message, retryInMs);
    } catch (failError) {
      // Not recorded: the lease runs out and the webhook is claimed again then.
      this.logger.warn({ err: failError, webhookId: webhook.id }, 'webhook processor: failure not recorded');
    }
  }

  /** Capped exponential with jitter in its upper half, so a burst of failures does not return in step. */
  private backoff(attempts: number): number {
    const ceiling = Math.min(this.retryMaxMs, this.retryBaseMs * 2 ** Math.max(0, attempts - 1));
    return Math.round(ceiling / 2 + (this.random() * ceiling) / 2);
  }
}

function rejectOnAbort(signal: AbortSignal): Promise<never> {
  return new Promise((_, reject) => {
    if (signal.aborted) reject(signal.reason as Error);
    else signal.addEventListener('abort', () => reject(signal.reason as Error), { once: true });
  });
}
