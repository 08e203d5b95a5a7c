/**
 * The service's logger: pino, one JSON object per line, with secrets removed twice over. Keys that
 * hold secrets are censored by pino's `redact`; every string that is logged (messages, error
 * messages, stacks, URLs) is also scrubbed of anything shaped like a Plaid token or a JWT and of
 * the configured secrets themselves, because a secret inside free text has no key to redact.
 */
import { pino, type DestinationStream, type Level, type Logger as PinoLogger } from 'pino';

export type Logger = PinoLogger;
export type LogLevel = Level | 'silent';
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

export const REDACTED = '[REDACTED]';

/** Keys whose values are never logged, wherever they sit (compared case-insensitively). */
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
const SECRET_PATTERNS: readonly RegExp[] = [
  /\b(?:access|public|link|processor)-(?:sandbox|development|production)-[\w-]+/g,
  /\beyJ[\w-]*\.[\w-]+\.[\w-]*/g,
  /\bBearer\s+[\w.~+/=-]+/gi,
];

export interface LoggerOptions {
  readonly level: LogLevel;
  /** Exact values to scrub from any string (Plaid secret, JWT secret, encryption key). */
  readonly secrets?: readonly (string | null | undefined)[];
  /** Where lines go; stdout by default. Tests pass an in-memory stream. */
  readonly destination?: DestinationStream;
  readonly base?: Record<string, unknown>;
}

export function createLogger(options: LoggerOptions): Logger {
  const scrub = createScrubber(options.secrets ?? []);
  return pino(
    {
      level: options.level,
      base: options.base ?? { service: 'plaid-refresh-graphql' },
      messageKey: 'msg',
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      // Errors arrive already turned into scrubbed plain objects (see logMethod); keep them as they are.
      serializers: { err: (value: unknown) => value },
      // Key-based censoring for the places secrets are known to live.
      redact: {
        paths: [
          'access_token',
          'public_token',
          'secret',
          'headers.authorization',
          'req.headers.authorization',
          'request.headers.authorization',
          '*.access_token',
          '*.public_token',
          '*.secret',
          '*.authorization',
        ],
        censor: REDACTED,
      },
      hooks: {
        // Everything passed to a log call is scrubbed before pino serialises it.
        logMethod(args, method) {
          const cleaned = args.map((arg) => scrub(arg)) as Parameters<typeof method>;
          method.apply(this, cleaned);
        },
      },
    },
    options.destination ?? pino.destination({ sync: false }),
  );
}

/** A logger that drops everything (library use, tests that do not look at logs). */
export const silentLogger: Logger = pino({ level: 'silent' });

/**
 * Returns a deep copy of `value` with secret-bearing keys censored and secret-shaped substrings
 * replaced. Errors become plain objects (type, message, stack, code, cause) so they log usefully.
 */
export function createScrubber(secrets: readonly (string | null | undefined)[]): (value: unknown) => unknown {
  // Short values would censor innocent text; real secrets here are long.
  const exact = secrets.filter((s): s is string => typeof s === 'string' && s.length >= 8);
  const scrubString = (text: string): string => {
    let out = text;
    for (const secret of exact) if (out.includes(secret)) out = out.split(secret).join(REDACTED);
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
