/**
 * POST /webhooks/plaid: Plaid's webhooks in, as a yoga plugin that answers before anything else sees
 * the request (no CSRF check, no GraphQL, no authentication: the Plaid-Verification JWT is the
 * authentication). The body is read here as raw bytes, because the signature covers those exact
 * bytes, and cut off at the body limit; src/webhooks/receiver.ts decides the answer.
 */
import type { Plugin } from 'graphql-yoga';
import { WebhookBodyTooLargeError, type ReceiveOutcome, type WebhookReceiver } from '../webhooks/receiver.js';
import { requestIdOf } from './request-id.js';

export const PLAID_WEBHOOK_PATH = '/webhooks/plaid';

export interface PlaidWebhookEndpointOptions {
  readonly receiver: Pick<WebhookReceiver, 'receive'>;
  /** Largest body accepted (MAX_BODY_BYTES); Plaid's webhooks are a few hundred bytes. */
  readonly maxBodyBytes: number;
  readonly path?: string;
}

export function usePlaidWebhooks(options: PlaidWebhookEndpointOptions): Plugin {
  const path = options.path ?? PLAID_WEBHOOK_PATH;
  return {
    onRequest(payload) {
      const { url, request, fetchAPI } = payload;
      if (url.pathname !== path) return;
      const startedAt = performance.now();
      if (request.method !== 'POST') {
        payload.endResponse(json(fetchAPI, 405, { error: 'METHOD_NOT_ALLOWED' }, { allow: 'POST' }));
        return;
      }
      return options.receiver
        .receive({
          headers: request.headers,
          readBody: () => readRaw(request, options.maxBodyBytes),
          startedAt,
          requestId: requestIdOf(request),
        })
        .then((outcome) => payload.endResponse(json(fetchAPI, outcome.status, bodyFor(outcome))));
    },
  };
}

/** What the answer says: enough for whoever reads Plaid's delivery log, nothing from the request. */
function bodyFor(outcome: ReceiveOutcome): Record<string, unknown> {
  switch (outcome.result) {
    case 'stored':
    case 'duplicate':
      return { received: true, duplicate: outcome.result === 'duplicate' };
    case 'refused':
      return { error: outcome.reason === 'KEY_UNAVAILABLE' ? 'KEY_UNAVAILABLE' : 'WEBHOOK_REFUSED', reason: outcome.reason };
    case 'too-large':
      return { error: 'PAYLOAD_TOO_LARGE' };
    case 'storage-unavailable':
      return { error: 'STORAGE_UNAVAILABLE' };
  }
}

function json(fetchAPI: { Response: typeof Response }, status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new fetchAPI.Response(JSON.stringify(body), {
    status,
    headers: { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', ...headers },
  });
}

/** The body's bytes as sent; a declared or streamed length over `maxBytes` stops reading at once. */
async function readRaw(request: Request, maxBytes: number): Promise<Uint8Array> {
  const declared = request.headers.get('content-length');
  if (declared !== null && Number(declared) > maxBytes) throw new WebhookBodyTooLargeError(maxBytes);
  if (!request.body) return new Uint8Array(0);
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > maxBytes) {
      await reader.cancel().catch(() => {});
      throw new WebhookBodyTooLargeError(maxBytes);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks, size);
}
