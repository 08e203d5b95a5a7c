/**
 * Plaid's webhook endpoints: /webhook_verification_key/get (the public key of a webhook's `kid`),
 * /item/webhook/update (an Item's webhook URL, acknowledged by WEBHOOK_UPDATE_ACKNOWLEDGED) and
 * /sandbox/item/fire_webhook (a test webhook on demand). Checked like every route (server.ts).
 */
import { plaidError, type SimError } from './error-bodies.js';
import { invalidWebhookUrl, itemView, resolveAccessToken, type Route } from './routes.js';
import type { SimItem } from './state.js';
import { FIREABLE, payloads } from './webhook-payloads.js';

/** webhook_code and webhook_type of /sandbox/item/fire_webhook, checked before the Item is looked up. */
function invalidFireRequest(body: Record<string, unknown>, requestId: string): SimError | null {
  const code = body.webhook_code as string;
  const fireable = FIREABLE[code];
  if (!fireable) {
    return plaidError('INVALID_FIELD', requestId, {
      error_message: `webhook_code must be one of: ${Object.keys(FIREABLE).join(', ')}`,
    });
  }
  const type = body.webhook_type;
  // Checked against the code's own types: plaid-node's WebhookType enum lacks IDENTITY, which Plaid's docs list.
  if (typeof type === 'string' && !fireable.types.includes(type)) {
    return plaidError('INVALID_FIELD', requestId, {
      error_message: `webhook_type for ${code} must be one of: ${fireable.types.join(', ')}`,
    });
  }
  return null;
}

export const WEBHOOK_ROUTES: Readonly<Record<string, Route>> = {
  '/webhook_verification_key/get': {
    fields: { key_id: 'string' },
    required: ['key_id'],
    handle: (ctx) => {
      const key = ctx.webhooks.keys.get(ctx.body.key_id as string);
      if (!key) return plaidError('INVALID_WEBHOOK_VERIFICATION_KEY_ID', ctx.requestId);
      return { key, request_id: ctx.requestId };
    },
  },
  '/item/webhook/update': {
    fields: { access_token: 'string', webhook: 'string' },
    required: ['access_token'],
    check: (body, requestId) => invalidWebhookUrl(body.webhook, requestId),
    resolve: resolveAccessToken,
    handle: (ctx) => {
      const item = ctx.item as SimItem;
      // Plaid: "To remove a webhook from an Item, set to null."
      const url = typeof ctx.body.webhook === 'string' ? ctx.body.webhook : null;
      item.webhook = url;
      if (url !== null) ctx.webhooks.send(item, [payloads.webhookUpdateAcknowledged(item, url)], url);
      return { item: itemView(item, ctx.requestId), request_id: ctx.requestId };
    },
  },
  '/sandbox/item/fire_webhook': {
    fields: { access_token: 'string', webhook_type: 'string', webhook_code: 'string' },
    required: ['access_token', 'webhook_code'],
    check: invalidFireRequest,
    resolve: resolveAccessToken,
    handle: (ctx) => {
      const item = ctx.item as SimItem;
      const code = ctx.body.webhook_code as string;
      const fireable = FIREABLE[code];
      if (!fireable) return plaidError('INVALID_FIELD', ctx.requestId);
      if (!item.webhook) return plaidError('SANDBOX_WEBHOOK_INVALID', ctx.requestId);
      const type = typeof ctx.body.webhook_type === 'string' ? ctx.body.webhook_type : (fireable.types[0] ?? 'TRANSACTIONS');
      const product = fireable.product(type);
      if (product !== null && !item.products.has(product)) {
        return plaidError('SANDBOX_PRODUCT_NOT_ENABLED', ctx.requestId, {
          error_message: `The ${product} product is not enabled on this item`,
        });
      }
      ctx.webhooks.send(item, [fireable.build(item, type, (errorCode) => plaidError(errorCode, ctx.requestId))]);
      return { webhook_fired: true, request_id: ctx.requestId };
    },
  },
};
