/**
 * zod schemas for what Plaid sends back (request bodies are built from the catalogue,
 * src/catalogue/refresh-products.ts, and by the client's methods).
 *
 * Plaid treats new fields and new enum values as non-breaking changes, so every response schema is
 * a loose object (extra keys kept) and `error_type` / `error_code` are plain strings.
 */
import { z } from 'zod';

export const PLAID_VERSION = '2020-09-14';

// ---- the error object -----------------------------------------------------------------------

/**
 * Plaid's error object. Required by the spec: error_type, error_code, error_message,
 * display_message (nullable). Real answers sometimes leave out the nullable ones, so those
 * default to null instead of failing the parse.
 */
export const PlaidErrorBody = z.looseObject({
  error_type: z.string().min(1),
  error_code: z.string().min(1),
  error_code_reason: z
    .string()
    .nullish()
    .transform((v) => v ?? null),
  error_message: z
    .string()
    .nullish()
    .transform((v) => v ?? ''),
  display_message: z
    .string()
    .nullish()
    .transform((v) => v ?? null),
  request_id: z
    .string()
    .nullish()
    .transform((v) => v ?? null),
  causes: z
    .array(z.unknown())
    .nullish()
    .transform((v) => v ?? []),
  status: z
    .number()
    .int()
    .nullish()
    .transform((v) => v ?? null),
  documentation_url: z
    .string()
    .nullish()
    .transform((v) => v ?? null),
  suggested_action: z
    .string()
    .nullish()
    .transform((v) => v ?? null),
  required_account_subtypes: z
    .array(z.string())
    .nullish()
    .transform((v) => v ?? null),
  provided_account_subtypes: z
    .array(z.string())
    .nullish()
    .transform((v) => v ?? null),
});
export type PlaidErrorBody = z.infer<typeof PlaidErrorBody>;

// ---- responses ------------------------------------------------------------------------------

const RequestId = z.string().min(1);

/** /transactions/refresh, /identity/refresh and /cashflow_report/refresh all answer this. */
export const RefreshResponse = z.looseObject({ request_id: RequestId });
export type RefreshResponse = z.infer<typeof RefreshResponse>;

export const RefreshResult = z.looseObject({
  item_id: z.string().min(1),
  product: z.string().min(1),
  // A successful entry leaves `error` out (Plaid's own example) or sends null.
  error: PlaidErrorBody.nullish().transform((v) => v ?? null),
});
export type RefreshResult = z.infer<typeof RefreshResult>;

/**
 * The spec marks none of these fields required; we require `results`, since a bundle answer
 * without it cannot say which Items were refreshed and must not read as "zero Items".
 */
export const UserFinancialDataRefreshResponse = z.looseObject({
  request_id: RequestId,
  user_id: z.string().optional(),
  results: z.array(RefreshResult),
});
export type UserFinancialDataRefreshResponse = z.infer<typeof UserFinancialDataRefreshResponse>;

export const SandboxPublicTokenCreateResponse = z.looseObject({
  public_token: z.string().min(1),
  request_id: RequestId,
});
export const PublicTokenExchangeResponse = z.looseObject({
  access_token: z.string().min(1),
  item_id: z.string().min(1),
  request_id: RequestId,
});
export const ItemGetResponse = z.looseObject({
  item: z.looseObject({
    item_id: z.string().min(1),
    institution_id: z.string().nullish(),
    institution_name: z.string().nullish(),
    products: z.array(z.string()).default([]),
  }),
  request_id: RequestId,
});
export const ItemRemoveResponse = z.looseObject({ request_id: RequestId });
export const SandboxItemResetLoginResponse = z.looseObject({
  reset_login: z.boolean(),
  request_id: RequestId,
});
export const UserCreateResponse = z.looseObject({
  user_id: z.string().min(1),
  user_token: z.string().optional(),
  request_id: RequestId,
});
export const LinkTokenCreateResponse = z.looseObject({
  link_token: z.string().min(1),
  // ISO 8601; Plaid: 4 hours for a new Item, 30 minutes in update mode.
  expiration: z.iso.datetime({ offset: true }),
  request_id: RequestId,
});

/**
 * The public key Plaid signs webhooks with (a JWK; ES256 on P-256 today). The spec requires every
 * field; `expired_at` is null until the key is retired.
 */
export const WebhookVerificationKey = z.looseObject({
  alg: z.string().min(1),
  crv: z.string().min(1),
  kid: z.string().min(1),
  kty: z.string().min(1),
  use: z.string().min(1),
  x: z.string().min(1),
  y: z.string().min(1),
  created_at: z.number(),
  expired_at: z
    .number()
    .nullish()
    .transform((v) => v ?? null),
});
export type WebhookVerificationKey = z.infer<typeof WebhookVerificationKey>;
export const WebhookVerificationKeyGetResponse = z.looseObject({
  key: WebhookVerificationKey,
  request_id: RequestId,
});
export const ItemWebhookUpdateResponse = z.looseObject({
  item: z.looseObject({
    item_id: z.string().min(1),
    webhook: z.string().nullish(),
  }),
  request_id: RequestId,
});
