/**
 * Flight outcomes as JSON, so a replica that waited on another's Plaid call gets the same typed
 * answer: Dates, Plaid error objects and this layer's errors survive the trip; anything else
 * becomes a plain Error (the leader logged the original).
 */
import { PlaidResponseError, plaidErrorFromBody } from '../plaid/errors.js';
import { PlaidErrorBody } from '../plaid/schemas.js';
import { PlaidUnavailableError, RefreshThrottledError } from '../services/errors.js';

type Tagged =
  | { $date: string }
  | { $plaidError: { status: number | null; body: unknown } }
  | { $unavailable: { reason: PlaidUnavailableError['reason']; mayHaveRun: boolean; message: string } }
  | { $throttled: { scope: RefreshThrottledError['scope']; retryAfterSeconds: number } }
  | { $error: string };

function encodeValue(value: unknown): unknown {
  if (value instanceof Date) return { $date: value.toISOString() } satisfies Tagged;
  if (value instanceof PlaidResponseError) return { $plaidError: { status: value.status, body: value.raw } } satisfies Tagged;
  if (value instanceof PlaidUnavailableError) {
    return { $unavailable: { reason: value.reason, mayHaveRun: value.mayHaveRun, message: value.message } } satisfies Tagged;
  }
  if (value instanceof RefreshThrottledError) {
    return { $throttled: { scope: value.scope, retryAfterSeconds: value.retryAfterSeconds } } satisfies Tagged;
  }
  if (value instanceof Error) return { $error: 'the shared refresh failed unexpectedly' } satisfies Tagged;
  if (Array.isArray(value)) return value.map(encodeValue);
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, encodeValue(v)]));
  }
  return value;
}

function decodeValue(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(decodeValue);
  if (typeof value !== 'object' || value === null) return value;
  const tagged = value as Partial<Record<string, unknown>>;
  if (typeof tagged.$date === 'string') return new Date(tagged.$date);
  if (tagged.$plaidError) {
    const { status, body } = tagged.$plaidError as { status: number | null; body: unknown };
    return plaidErrorFromBody(status, PlaidErrorBody.parse(body));
  }
  if (tagged.$unavailable) {
    const u = tagged.$unavailable as { reason: PlaidUnavailableError['reason']; mayHaveRun: boolean; message: string };
    return new PlaidUnavailableError(u.reason, u.mayHaveRun, u.message);
  }
  if (tagged.$throttled) {
    const t = tagged.$throttled as { scope: RefreshThrottledError['scope']; retryAfterSeconds: number };
    return new RefreshThrottledError(t.scope, t.retryAfterSeconds);
  }
  if (typeof tagged.$error === 'string') return new Error(tagged.$error);
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, decodeValue(v)]));
}

export type FlightOutcome = { readonly ok: true; readonly value: unknown } | { readonly ok: false; readonly error: unknown };

export const encodeOutcome = (outcome: FlightOutcome): string =>
  JSON.stringify(outcome.ok ? { ok: true, value: encodeValue(outcome.value) } : { ok: false, error: encodeValue(outcome.error) });

export function decodeOutcome(text: string): FlightOutcome {
  const raw = JSON.parse(text) as { ok: boolean; value?: unknown; error?: unknown };
  return raw.ok ? { ok: true, value: decodeValue(raw.value) } : { ok: false, error: decodeValue(raw.error) };
}
