/**
 * Equal query texts kept once however many requests hold them (an open subscription keeps its
 * request's params for its life): counted in a heap snapshot, the only place string copies show.
 * Bounded: a text over the length limit is left alone, and old texts leave the table.
 */
import { randomUUID } from 'node:crypto';
import { getHeapSnapshot } from 'node:v8';
import { createSchema, createYoga, type Plugin } from 'graphql-yoga';
import { describe, expect, it } from 'vitest';
import { useInternedQueries, type InternedQueriesOptions } from '../../src/http/interned-queries.js';

/** A yoga whose every request's params stay reachable, as an open subscription's do. */
function app(options?: InternedQueriesOptions) {
  const kept: unknown[] = [];
  const keep: Plugin = { onExecute: ({ args }) => void kept.push((args.contextValue as { params: unknown }).params) };
  const yoga = createYoga({
    schema: createSchema({ typeDefs: 'type Query { a: Int }', resolvers: { Query: { a: () => 1 } } }),
    logging: false,
    plugins: [useInternedQueries(options), keep],
  });
  return { yoga, kept };
}

/** Each request parses its own copy of the text out of its body. */
async function send(yoga: ReturnType<typeof app>['yoga'], query: string, times: number): Promise<void> {
  for (let i = 0; i < times; i++) {
    const response = await yoga.fetch('http://localhost/graphql', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query }),
    });
    expect(await response.json()).toEqual({ data: { a: 1 } });
  }
}

/** String objects in the heap whose text is `text`. */
async function copiesOf(text: string): Promise<number> {
  const chunks: Buffer[] = [];
  for await (const chunk of getHeapSnapshot()) chunks.push(chunk as Buffer);
  const snapshot = JSON.parse(Buffer.concat(chunks).toString('utf8')) as {
    snapshot: { meta: { node_fields: string[]; node_types: [string[]] } };
    nodes: number[];
    strings: string[];
  };
  const {
    node_fields: fields,
    node_types: [types],
  } = snapshot.snapshot.meta;
  const typeAt = fields.indexOf('type');
  const nameAt = fields.indexOf('name');
  let copies = 0;
  for (let i = 0; i < snapshot.nodes.length; i += fields.length) {
    if (types[snapshot.nodes[i + typeAt] ?? -1] === 'string' && snapshot.strings[snapshot.nodes[i + nameAt] ?? -1] === text) copies++;
  }
  return copies;
}

/** Whether this V8 keeps one copy of a query text per request that holds it (Node 20-24 do; 26 does not). */
const engineKeepsCopies = Number(process.versions.node.split('.')[0]) < 26;

describe('interned query texts', () => {
  it(
    'the copies of a text do not grow with the requests that hold it; without the table, one more per request',
    { timeout: 30_000 },
    async () => {
      const interned = app();
      const query = `{ a } # ${randomUUID()}`;
      await send(interned.yoga, query, 1);
      const afterOne = await copiesOf(query);
      await send(interned.yoga, query, 10);
      expect(interned.kept).toHaveLength(11);
      // At most one more: the last request's own copy, which the adapter may still hold for a moment.
      expect(await copiesOf(query)).toBeLessThanOrEqual(afterOne + 1);
      // The same requests with the table off (no text is short enough): a copy each.
      const plain = app({ maxLength: 0 });
      const other = `{ a } # ${randomUUID()}`;
      await send(plain.yoga, other, 1);
      const plainAfterOne = await copiesOf(other);
      await send(plain.yoga, other, 10);
      // Node 20-24 keep a copy per request (so the table's effect shows above); Node 26's V8 shares
      // equal texts parsed from the bodies by itself, and then there is nothing for the table to save.
      if (engineKeepsCopies) expect(await copiesOf(other)).toBeGreaterThanOrEqual(plainAfterOne + 9);
      else expect(await copiesOf(other)).toBeLessThanOrEqual(plainAfterOne + 2);
    },
  );

  it('a text over the length limit, or one the table has let go, is left as each request sent it', { timeout: 30_000 }, async () => {
    const { yoga, kept } = app({ maxLength: 60, maxEntries: 1 });
    const long = `{ a } # ${randomUUID()} ${'x'.repeat(30)}`;
    await send(yoga, long, 1);
    const longAfterOne = await copiesOf(long);
    await send(yoga, long, 2);
    if (engineKeepsCopies) expect(await copiesOf(long)).toBeGreaterThanOrEqual(longAfterOne + 1);
    const first = `{ a } # ${randomUUID()}`;
    await send(yoga, first, 1);
    const firstAfterOne = await copiesOf(first);
    // `first` leaves the table (one entry) when another text comes.
    await send(yoga, `{ a } # ${randomUUID()}`, 1);
    await send(yoga, first, 4);
    expect(kept).toHaveLength(9);
    // The evicted copy stays with its request; the next four share one new copy (and the last may hold its own).
    const copies = await copiesOf(first);
    if (engineKeepsCopies) expect(copies).toBeGreaterThanOrEqual(firstAfterOne + 1);
    expect(copies).toBeLessThanOrEqual(firstAfterOne + 2);
  });
});
