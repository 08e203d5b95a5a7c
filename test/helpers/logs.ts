/** A real pino logger (same redaction and scrubbing as production) whose lines land in an array. */
import { createLogger, type LogLevel, type Logger } from '../../src/observability/logger.js';

export type LogLine = Record<string, unknown> & { level: string; msg: string };

export function memoryLogger(options: { level?: LogLevel; secrets?: readonly string[] } = {}): { logger: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const logger = createLogger({
    level: options.level ?? 'debug',
    secrets: options.secrets ?? [],
    destination: { write: (line: string) => void lines.push(JSON.parse(line) as LogLine) },
  });
  return { logger, lines };
}
