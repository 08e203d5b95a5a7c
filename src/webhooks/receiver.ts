/**
 * Receiving one Plaid webhook: verify it (verification.ts), write it to the vault's inbox, and only
 * then say 200. Plaid retries anything else for up to 24 hours, so every answer is chosen for what
 * Plaid does with it:
 *
 * - 200: stored, or an identical body was already in the inbox (a re-send) - nothing more to do;
 * - 400: refused (not from Plaid, altered, stale, not a webhook): nothing was written; a retry of a
 *   forgery changes nothing, and a retry of a genuine stale webhook would be refused again too;
 * - 503: the verification key or the vault could not be reached: our fault, so Plaid should retry;
 * - 413: a body over the limit (no Plaid webhook is anywhere near it).
 *
 * The HTTP side (reading the raw bytes, the response) is the plugin's, in src/http/plaid-webhooks.ts.
 */
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import { isOutage } from '../vault/errors.js';
import type { StoreWebhookResult, WebhookInbox } from '../vault/webhook-inbox.js';
import type { RefusalReason, VerifiedWebhook, WebhookVerification } from './verification.js';

export type ReceiveOutcome =
  | { readonly status: 200; readonly result: StoreWebhookResult; readonly webhook: VerifiedWebhook }
  | { readonly status: 400 | 503; readonly result: 'refused'; readonly reason: RefusalReason }
  | { readonly status: 413; readonly result: 'too-large' }
  | { readonly status: 503; readonly result: 'storage-unavailable' };

/** What the receiver reads a delivery through: its headers and a way to read the raw body once. */
export interface WebhookDelivery {
  readonly headers: Headers;
  /** The raw body bytes; rejects with WebhookBodyTooLargeError past the limit. */
  readBody(): Promise<Uint8Array>;
  /** performance.now() when the request arrived (the ingest histogram starts there). */
  readonly startedAt: number;
  readonly requestId: string;
}

/** The body was longer than the endpoint's limit; nothing was read past it. */
export class WebhookBodyTooLargeError extends Error {
  override name = 'WebhookBodyTooLargeError';

  constructor(readonly maxBytes: number) {
    super(`the webhook body is larger than ${maxBytes} bytes`);
  }
}

/** The inbox did not answer within the receiver's bound; the write may still land (a re-send is then a duplicate). */
export class WebhookStoreTimeoutError extends Error {
  override name = 'WebhookStoreTimeoutError';
}

export interface WebhookReceiverOptions {
  readonly verifier: { verify(headers: Headers, rawBody: Uint8Array): Promise<WebhookVerification> };
  readonly inbox: Pick<WebhookInbox, 'storeWebhook'>;
  readonly metrics: Metrics;
  readonly logger: Logger;
  /** An identical body within this long of the stored one is a duplicate (PLAID_WEBHOOK_DEDUPE_SECONDS). */
  readonly dedupeWindowMs?: number;
  /** Plaid waits 10 s for an answer; a store slower than this is answered 503 before that. */
  readonly storeTimeoutMs?: number;
  /** Called after a webhook is stored (wakes the processor). */
  readonly onStored?: () => void;
}

export const DEFAULT_STORE_TIMEOUT_MS = 5_000;

export class WebhookReceiver {
  private readonly options: WebhookReceiverOptions;
  private readonly storeTimeoutMs: number;

  constructor(options: WebhookReceiverOptions) {
    this.options = options;
    this.storeTimeoutMs = options.storeTimeoutMs ?? DEFAULT_STORE_TIMEOUT_MS;
  }

  async receive(delivery: WebhookDelivery): Promise<ReceiveOutcome> {
    const { metrics, logger } = this.options;
    const { requestId } = delivery;
    metrics.webhookReceived();
    let body: Uint8Array;
    try {
      body = await delivery.readBody();
    } catch (error) {
      if (error instanceof WebhookBodyTooLargeError) {
        metrics.webhookRefused('BODY_TOO_LARGE');
        logger.warn({ requestId, maxBytes: error.maxBytes }, 'plaid webhook refused: body too large');
        return { status: 413, result: 'too-large' };
      }
      // The sender went away mid-body (or sent a broken stream): nobody to answer, nothing to store.
      metrics.webhookRefused('MALFORMED_BODY');
      logger.warn({ requestId, err: error }, 'plaid webhook refused: the body could not be read');
      return { status: 400, result: 'refused', reason: 'MALFORMED_BODY' };
    }

    const verification = await this.options.verifier.verify(delivery.headers, body);
    if (!verification.verified) {
      metrics.webhookRefused(verification.reason);
      logger.warn({ requestId, reason: verification.reason, detail: verification.detail }, 'plaid webhook refused');
      return { status: verification.reason === 'KEY_UNAVAILABLE' ? 503 : 400, result: 'refused', reason: verification.reason };
    }
    const { webhook } = verification;
    metrics.webhookVerified();

    let result: StoreWebhookResult;
    try {
      result = await this.store(webhook);
    } catch (error) {
      metrics.webhookRefused('STORAGE_UNAVAILABLE');
      const fields = { requestId, webhookType: webhook.webhookType, webhookCode: webhook.webhookCode, err: error };
      // An outage is Plaid's retry to wait for; anything else the database says is a bug.
      if (isOutage(error) || error instanceof WebhookStoreTimeoutError) logger.warn(fields, 'plaid webhook not stored: vault unavailable');
      else logger.error(fields, 'plaid webhook not stored');
      return { status: 503, result: 'storage-unavailable' };
    }
    const durationMs = performance.now() - delivery.startedAt;
    metrics.webhookIngested(durationMs);
    if (result === 'duplicate') metrics.webhookDuplicate();
    else this.options.onStored?.();
    logger.info(
      {
        requestId,
        webhookType: webhook.webhookType,
        webhookCode: webhook.webhookCode,
        itemId: webhook.itemId,
        inbox: result,
        durationMs: Math.round(durationMs * 10) / 10,
      },
      'plaid webhook received',
    );
    // The body holds ids and counts only, but it stays out of info-level logs all the same.
    logger.debug({ requestId, body: webhook.body }, 'plaid webhook body');
    return { status: 200, result, webhook };
  }

  private async store(webhook: VerifiedWebhook): Promise<StoreWebhookResult> {
    let timer: NodeJS.Timeout | undefined;
    let timedOut = false;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        timedOut = true;
        reject(new WebhookStoreTimeoutError(`no answer within ${this.storeTimeoutMs} ms`));
      }, this.storeTimeoutMs);
    });
    try {
      const stored = this.options.inbox.storeWebhook(
        {
          bodySha256: webhook.bodySha256,
          body: webhook.body,
          webhookType: webhook.webhookType,
          webhookCode: webhook.webhookCode,
          itemId: webhook.itemId,
        },
        this.options.dedupeWindowMs === undefined ? {} : { dedupeWindowMs: this.options.dedupeWindowMs },
      );
      stored.then(
        // Landed after the 503: the processor still hears of it (the sender's re-send is a duplicate, which wakes nobody).
        (result) => {
          if (timedOut && result === 'stored') this.options.onStored?.();
        },
        // A late rejection after the timeout must not surface as an unhandled rejection.
        () => {},
      );
      return await Promise.race([stored, late]);
    } finally {
      clearTimeout(timer);
    }
  }
}
