/**
 * DATABASE_URL: what counts as one, and how to name its target in a message without the
 * credentials it may carry.
 */

const PROTOCOLS = new Set(['postgres:', 'postgresql:']);

/** What a malformed DATABASE_URL is told; it never quotes the value (it may hold a password). */
export const DATABASE_URL_FORMAT = 'must be a postgres:// or postgresql:// URL, e.g. postgres://user:password@host:5432/database';

/** Whether `text` parses as a postgres:// or postgresql:// URL (the forms node-postgres reads as URLs). */
export function isPostgresUrl(text: string): boolean {
  return parsePostgresUrl(text) !== null;
}

/** `host:port/database` for messages: never the user name's password or the query string. */
export function databaseTarget(text: string): string {
  const url = parsePostgresUrl(text);
  if (!url) return 'the database';
  const host = url.hostname === '' ? 'localhost' : url.hostname;
  const database = decode(url.pathname.replace(/^\//, ''));
  return `${host}:${url.port === '' ? '5432' : url.port}${database === '' ? '' : `/${database}`}`;
}

/** The password in the URL, if any, so messages can be scrubbed of it. */
export function databasePassword(text: string): string | null {
  const url = parsePostgresUrl(text);
  return url && url.password !== '' ? decode(url.password) : null;
}

function decode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    // A stray '%' is not an escape; node-postgres keeps such text as it is, and so do we.
    return text;
  }
}

function parsePostgresUrl(text: string): URL | null {
  try {
    const url = new URL(text.trim());
    return PROTOCOLS.has(url.protocol) ? url : null;
  } catch {
    return null;
  }
}
