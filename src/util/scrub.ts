/**
 * Removing secrets from values that leave the process: log lines (src/observability/logger.ts)
 * and the text of Plaid's error answers, which reaches GraphQL clients (src/plaid/client.ts). One
 * definition, so what counts as a secret cannot drift between the two.
 */

export const REDACTED = '[REDACTED]';

/** Keys whose values are never let through, wherever they sit (compared case-insensitively). */
const SECRET_KEYS = new Set(
  [
    'access_token',
    'accessToken',
    'public_token',
    'publicToken',
    'secret',
    'client_secret',
    'plaid-secret',
    'authorization',
    'cookie',
    'set-cookie',
    'token',
    'jwt',
    'jwtSecret',
    'password',
    'encryptionKey',
  ].map((key) => key.toLowerCase()),
);

/** Plaid tokens (access-sandbox-…, public-production-…, link-…) and compact JWS/JWTs. */
export const SECRET_PATTERNS: readonly RegExp[] = [
  /\b(?:access|public|link|processor)-(?:sandbox|development|production)-[\w-]+/g,
  /\beyJ[\w-]*\.[\w-]+\.[\w-]*/g,
  /\bBearer\s+[\w.~+/=-]+/gi,
];

/**
 * Matches wherever any of SECRET_PATTERNS could (a superset): most text logged has none of them,
 * and one test is cheaper than three replaces (every log line's every string passes here).
 */
const MAY_HOLD_PATTERN = /(?:access|public|link|processor)-(?:sandbox|development|production)-|eyJ|bearer\s/i;

/** Exact secrets shorter than this are not scrubbed: they would censor innocent text. */
export const MIN_EXACT_SECRET_LENGTH = 8;

/**
 * Returns a deep copy of `value` with secret-bearing keys censored and secret-shaped substrings
 * (and the given exact `secrets`) replaced. Errors become plain objects (type, message, stack,
 * code, cause) so they log usefully.
 */
export function createScrubber(secrets: readonly (string | null | undefined)[]): (value: unknown) => unknown {
  const exact = secrets.filter((s): s is string => typeof s === 'string' && s.length >= MIN_EXACT_SECRET_LENGTH);
  const scrubString = (text: string): string => {
    let out = text;
    for (const secret of exact) if (out.includes(secret)) out = out.split(secret).join(REDACTED);
    if (!MAY_HOLD_PATTERN.test(out)) return out;
    for (const pattern of SECRET_PATTERNS) out = out.replace(pattern, REDACTED);
    return out;
  };
  const walk = (value: unknown, depth: number, seen: WeakSet<object>): unknown => {
    if (typeof value === 'string') return scrubString(value);
    if (value === null || typeof value !== 'object') return value;
    if (seen.has(value)) return '[Circular]';
    if (depth > 8) return '[Truncated]';
    seen.add(value);
    if (Array.isArray(value)) return value.map((v) => walk(v, depth + 1, seen));
    if (value instanceof Error) {
      const plain: Record<string, unknown> = { type: value.name, message: value.message, stack: value.stack };
      for (const [key, v] of Object.entries(value)) plain[key] = v;
      if (value.cause !== undefined) plain.cause = value.cause;
      return walkObject(plain, depth, seen);
    }
    if (value instanceof Date) return value;
    return walkObject(value as Record<string, unknown>, depth, seen);
  };
  const walkObject = (value: Record<string, unknown>, depth: number, seen: WeakSet<object>) => {
    const out: Record<string, unknown> = {};
    for (const [key, v] of Object.entries(value)) {
      out[key] = SECRET_KEYS.has(key.toLowerCase()) && v !== null && v !== undefined ? REDACTED : walk(v, depth + 1, seen);
    }
    return out;
  };
  return (value) => walk(value, 0, new WeakSet());
}
