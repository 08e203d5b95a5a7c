/**
 * Flight outcomes as JSON, so a replica that waited on another's Plaid call gets the same typed
 * answer: Dates, Plaid's error objects, transport failures and quota refusals survive the trip;
 * anything else becomes a plain Error (the leader logged the original).
 */
import {
  PlaidConnectionFailedError,
  PlaidConnectionResetError,
  PlaidMalformedResponseError,
  PlaidNonJsonResponseError,
  PlaidResponseError,
  PlaidTimeoutError,
  plaidErrorFromBody,
} from '../plaid/errors.js';
import { PlaidErrorBody } from '../plaid/schemas.js';
import { QuotaExceededError, type QuotaScope } from './errors.js';

type Transport =
  | { kind: 'timeout'; timeoutMs: number }
  | { kind: 'connection_failed'; code: string }
  | { kind: 'connection_reset'; code: string }
  | { kind: 'non_json'; status: number; contentType: string | null; snippet: string }
  | { kind: 'malformed'; status: number; problem: string };

type Tagged =
  | { $date: string }
  | { $plaidError: { status: number | null; body: unknown } }
  | { $transport: Transport }
  | { $quota: { scope: QuotaScope; retryAfterSeconds: number } }
  | { $error: string };

function transportOf(value: unknown): Transport | null {
  if (value instanceof PlaidTimeoutError) return { kind: 'timeout', timeoutMs: value.timeoutMs };
  if (value instanceof PlaidConnectionFailedError) return { kind: 'connection_failed', code: value.code };
  if (value instanceof PlaidConnectionResetError) return { kind: 'connection_reset', code: value.code };
  if (value instanceof PlaidNonJsonResponseError) {
    return { kind: 'non_json', status: value.status, contentType: value.contentType, snippet: value.bodySnippet };
  }
  if (value instanceof PlaidMalformedResponseError) return { kind: 'malformed', status: value.status, problem: value.problem };
  return null;
}

function transportFrom(t: Transport): Error {
  switch (t.kind) {
    case 'timeout':
      return new PlaidTimeoutError(t.timeoutMs);
    case 'connection_failed':
      return new PlaidConnectionFailedError(t.code);
    case 'connection_reset':
      return new PlaidConnectionResetError(t.code);
    case 'non_json':
      return new PlaidNonJsonResponseError(t.status, t.contentType, t.snippet);
    case 'malformed':
      return new PlaidMalformedResponseError(t.status, t.problem);
  }
}

function encodeValue(value: unknown): unknown {
  if (value instanceof Date) return { $date: value.toISOString() } satisfies Tagged;
  if (value instanceof PlaidResponseError) return { $plaidError: { status: value.status, body: value.raw } } satisfies Tagged;
  const transport = transportOf(value);
  if (transport) return { $transport: transport } satisfies Tagged;
  if (value instanceof QuotaExceededError) {
    return { $quota: { scope: value.scope, retryAfterSeconds: value.retryAfterSeconds } } satisfies Tagged;
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
  if (tagged.$transport) return transportFrom(tagged.$transport as Transport);
  if (tagged.$quota) {
    const q = tagged.$quota as { scope: QuotaScope; retryAfterSeconds: number };
    return new QuotaExceededError(q.scope, q.retryAfterSeconds * 1000);
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
