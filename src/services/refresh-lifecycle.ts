/**
 * The refresh lifecycle after Plaid said yes: verified webhooks (from the inbox) become stored
 * status and events, refreshes that hear nothing within the quiet window become QUIET, and every
 * change is announced to subscribers. What a webhook means for which product comes from the
 * catalogue; the store keeps it all, so a subscriber that reconnects loses nothing.
 */
import { REFRESH_PRODUCTS } from '../catalogue/refresh-products.js';
import type { Logger } from '../observability/logger.js';
import { silentLogger } from '../observability/logger.js';
import type { RefreshLog, RefreshRun, WebhookEffect } from '../vault/refresh-log.js';

/** A webhook as the inbox holds it: verified, parsed, with the id of its inbox row. */
export interface InboxWebhook {
  readonly inboxId: string;
  readonly receivedAt: Date;
  readonly body: Readonly<Record<string, unknown>>;
}

/** What changed for one Item: subscribers re-read the stored refreshes and events by these ids. */
export interface RefreshNotice {
  readonly itemId: string;
  readonly viewerId: string;
  readonly refreshIds: readonly string[];
  readonly eventIds: readonly string[];
  /** When what it announces happened (the webhook received, the refresh accepted), epoch ms. */
  readonly occurredAt: number;
}

/** Which notices one subscription is for: its viewer's, of these Items or refreshes (all of the viewer's when both are empty). */
export interface NoticeFilter {
  readonly viewerId: string;
  readonly itemIds: ReadonlySet<string>;
  readonly refreshIds: ReadonlySet<string>;
}

/** Announces notices (in process, or through Redis to every replica). */
export type Announce = (notice: RefreshNotice) => Promise<void> | void;

export interface RefreshLifecycleDeps {
  readonly log: RefreshLog;
  readonly announce: Announce;
  /** How long a refresh waits for a webhook before it is QUIET (Plaid sends none when nothing changed). */
  readonly quietWindowMs: number;
  readonly logger?: Logger;
  readonly now?: () => Date;
}

/** Which products' refreshes a webhook answers: the catalogue lists, per product, the webhooks it leads to. */
function productsOf(type: string, code: string): string[] {
  return REFRESH_PRODUCTS.filter((product) => product.webhooks.some((w) => w.type === type && w.code === code && !(w.type === 'ITEM'))).map(
    (product) => product.key,
  );
}

/** The effect of one webhook on its Item's refreshes. */
export function webhookEffect(webhook: InboxWebhook): WebhookEffect | null {
  const { body } = webhook;
  const type = typeof body.webhook_type === 'string' ? body.webhook_type : null;
  const code = typeof body.webhook_code === 'string' ? body.webhook_code : null;
  const itemId = typeof body.item_id === 'string' ? body.item_id : null;
  if (type === null || code === null || itemId === null) return null;
  const isItemError = type === 'ITEM' && code === 'ERROR';
  const carriesError = typeof body.error === 'object' && body.error !== null;
  return {
    inboxId: webhook.inboxId,
    itemId,
    webhookType: type,
    webhookCode: code,
    payload: body,
    receivedAt: webhook.receivedAt,
    products: isItemError ? [] : productsOf(type, code),
    // A product webhook that carries an error (a failed cash flow report, say) ends its refresh as failed.
    status: isItemError ? null : carriesError ? 'FAILED' : 'DATA_AVAILABLE',
    failsPendingRefreshes: isItemError,
  };
}

export class RefreshLifecycle {
  private readonly logger: Logger;
  private readonly now: () => Date;

  constructor(private readonly deps: RefreshLifecycleDeps) {
    this.logger = deps.logger ?? silentLogger;
    this.now = deps.now ?? (() => new Date());
  }

  /**
   * Applies one verified webhook (idempotent: the inbox row's id makes a second application a
   * no-op) and announces what changed. A webhook without an Item id is kept in the inbox only.
   */
  async handleWebhook(webhook: InboxWebhook): Promise<void> {
    const effect = webhookEffect(webhook);
    if (effect === null) {
      this.logger.info(
        { inboxId: webhook.inboxId, webhookType: webhook.body.webhook_type },
        'webhook without an Item: kept in the inbox only',
      );
      return;
    }
    const applied = await this.deps.log.apply(effect);
    if (applied.viewerId === null || (applied.refreshIds.length === 0 && applied.events.length === 0)) return;
    await this.deps.announce({
      itemId: effect.itemId,
      viewerId: applied.viewerId,
      refreshIds: applied.refreshIds,
      eventIds: applied.events.map((event) => event.id),
      occurredAt: webhook.receivedAt.getTime(),
    });
  }

  /** Refreshes past their quiet window become QUIET, once across replicas; each is announced. */
  async sweepQuiet(): Promise<RefreshRun[]> {
    const now = this.now();
    const quiet = await this.deps.log.markQuiet(new Date(now.getTime() - this.deps.quietWindowMs), now);
    for (const run of quiet) {
      await this.deps.announce({
        itemId: run.itemId,
        viewerId: run.viewerId,
        refreshIds: [run.id],
        eventIds: [],
        occurredAt: now.getTime(),
      });
    }
    return quiet;
  }

  /** New refreshes are announced too: a subscriber to the Item learns of a refresh another tab started. */
  async announceStarted(runs: readonly RefreshRun[]): Promise<void> {
    for (const run of runs) {
      await this.deps.announce({
        itemId: run.itemId,
        viewerId: run.viewerId,
        refreshIds: [run.id],
        eventIds: [],
        occurredAt: run.requestedAt.getTime(),
      });
    }
  }
}
