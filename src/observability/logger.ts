/**
 * The service's logger: pino, one JSON object per line, scrubbed by the one scrubber of
 * src/util/scrub.ts: values under secret-bearing keys are censored at any depth, and every string
 * (messages, error messages, stacks, URLs) loses anything shaped like a Plaid token or a JWT and
 * the configured secrets themselves. pino's own `redact` is not used: it needs every path spelled
 * out and cannot see a secret inside free text, which the scrubber covers either way.
 */
import { pino, type DestinationStream, type Level, type Logger as PinoLogger } from 'pino';
import { createScrubber } from '../util/scrub.js';

// Where the scrubbing lives now; kept importable from here for the logger's existing users.
export { REDACTED, createScrubber } from '../util/scrub.js';

export type Logger = PinoLogger;
export type LogLevel = Level | 'silent';
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

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
      hooks: {
        // Everything passed to a log call is scrubbed (a copy: callers' objects stay as they are)
        // before pino serialises it.
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
