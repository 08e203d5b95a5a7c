/**
 * What a verified, stored Plaid webhook does here: it moves its Item's refreshes (RefreshLifecycle:
 * DATA_AVAILABLE, FAILED, announced to subscribers) and, for Plaid's Item webhooks, the Item's
 * health (`ITEM: ERROR` and `USER_PERMISSION_REVOKED` set it, `LOGIN_REPAIRED` clears it;
 * `PENDING_EXPIRATION` and `PENDING_DISCONNECT` announce the end of its access). The
 * inbox processor calls it at least once per webhook: both steps are idempotent (the inbox id keys
 * the refresh events; a health observation older than the stored one changes nothing).
 */
import type { Logger } from '../observability/logger.js';
import { silentLogger } from '../observability/logger.js';
import { plaidErrorData, type PlaidErrorData } from '../plaid/errors.js';
import { PlaidErrorBody } from '../plaid/schemas.js';
import type { ItemExpiry } from '../vault/vault.js';
import type { ItemService } from './item-service.js';
import type { RefreshLifecycle } from './refresh-lifecycle.js';

/** A webhook as the inbox hands it over: its row id, the raw body Plaid signed, when it arrived. */
export interface StoredPlaidWebhook {
  readonly id: number;
  readonly body: string;
  readonly receivedAt: Date;
}

export interface PlaidWebhookHandlerDeps {
  readonly lifecycle: Pick<RefreshLifecycle, 'handleWebhook'>;
  readonly items: Pick<ItemService, 'observeHealth' | 'observeExpiry'>;
  readonly logger?: Logger;
}

/** What an Item webhook says of the Item's health: an error, null for "working again", undefined for nothing. */
export function healthOf(body: Readonly<Record<string, unknown>>): PlaidErrorData | null | undefined {
  if (body.webhook_type !== 'ITEM') return undefined;
  switch (body.webhook_code) {
    case 'LOGIN_REPAIRED':
      return null;
    case 'ERROR':
    case 'USER_PERMISSION_REVOKED': {
      const parsed = PlaidErrorBody.safeParse(body.error);
      if (parsed.success) return plaidErrorData(null, parsed.data);
      // Plaid documents the error on these; without one, the code itself is the Item error.
      if (body.webhook_code === 'ERROR') return undefined;
      return plaidErrorData(
        null,
        PlaidErrorBody.parse({
          error_type: 'ITEM_ERROR',
          error_code: 'USER_PERMISSION_REVOKED',
          error_message: 'the user revoked access to this Item (ITEM: USER_PERMISSION_REVOKED webhook)',
        }),
      );
    }
    default:
      return undefined;
  }
}

/** What an Item webhook announces of the end of the Item's access, or undefined for nothing. */
export function expiryOf(body: Readonly<Record<string, unknown>>): Omit<ItemExpiry, 'observedAt'> | undefined {
  if (body.webhook_type !== 'ITEM') return undefined;
  if (body.webhook_code === 'PENDING_EXPIRATION') {
    const at = typeof body.consent_expiration_time === 'string' ? new Date(body.consent_expiration_time) : null;
    return { reason: 'PENDING_EXPIRATION', expiresAt: at && !Number.isNaN(at.getTime()) ? at : null };
  }
  if (body.webhook_code === 'PENDING_DISCONNECT') {
    // Plaid sends a reason (INSTITUTION_MIGRATION, INSTITUTION_TOKEN_EXPIRATION) and no date: "7 days before".
    const reason = typeof body.reason === 'string' && /^[A-Z_]{1,64}$/.test(body.reason) ? body.reason : 'PENDING_DISCONNECT';
    return { reason, expiresAt: null };
  }
  return undefined;
}

export function createPlaidWebhookHandler(
  deps: PlaidWebhookHandlerDeps,
): (webhook: StoredPlaidWebhook, signal?: AbortSignal) => Promise<void> {
  const logger = deps.logger ?? silentLogger;
  return async (webhook, signal) => {
    let body: unknown;
    try {
      body = JSON.parse(webhook.body);
    } catch {
      body = null;
    }
    // The receiver stores only verified JSON objects; anything else is kept in the inbox, not retried.
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      logger.warn({ inboxId: webhook.id }, 'stored webhook is not a JSON object: kept in the inbox only');
      return;
    }
    const fields = body as Readonly<Record<string, unknown>>;
    await deps.lifecycle.handleWebhook({ inboxId: String(webhook.id), receivedAt: webhook.receivedAt, body: fields });
    // Aborted (lease half gone, or shutdown): stop here, the next attempt redoes both idempotent steps.
    signal?.throwIfAborted();
    const health = healthOf(fields);
    const expiry = expiryOf(fields);
    if (typeof fields.item_id === 'string') {
      if (health !== undefined) await deps.items.observeHealth(fields.item_id, health, 'WEBHOOK', webhook.receivedAt);
      if (expiry !== undefined) await deps.items.observeExpiry(fields.item_id, expiry, webhook.receivedAt);
    }
  };
}
