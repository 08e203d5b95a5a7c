/**
 * One copy of each recent query text for all the requests that send it. Every request parses its
 * own copy of the document's text out of its body, and yoga keeps the request's params (the text
 * among them) for as long as the request lives: for an open subscription, as long as it is open.
 * 10,000 browser tabs subscribing with one document held 10,000 copies of it, ~1.1 KB each (issue
 * #16). Here a request's text is swapped for the equal one already seen; the table is bounded in
 * entries and in the length of a text it keeps, so it cannot grow with what clients send.
 */
import type { Plugin } from 'graphql-yoga';

export interface InternedQueriesOptions {
  /** Texts kept (the least recently sent is dropped first). */
  readonly maxEntries?: number;
  /** Longer texts are left as they are. */
  readonly maxLength?: number;
}

export function useInternedQueries(options: InternedQueriesOptions = {}): Plugin {
  const maxEntries = options.maxEntries ?? 256;
  const maxLength = options.maxLength ?? 16_384;
  const texts = new Map<string, string>();
  return {
    onParams({ params, setParams }) {
      const { query } = params;
      if (typeof query !== 'string' || query.length > maxLength) return;
      const seen = texts.get(query);
      if (seen !== undefined) {
        // Most recently used last: the first entry is the one to drop.
        texts.delete(seen);
        texts.set(seen, seen);
        // Always swapped: equal strings compare equal, so which copy this is cannot be told apart.
        setParams({ ...params, query: seen });
        return;
      }
      texts.set(query, query);
      if (texts.size > maxEntries) {
        const oldest = texts.keys().next();
        if (!oldest.done) texts.delete(oldest.value);
      }
    },
  };
}
