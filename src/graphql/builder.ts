/**
 * The one SchemaBuilder: Pothos with the errors plugin and, for Apollo Federation v2, the
 * directives and federation plugins (federation last: it wraps resolvers of the others).
 * Fields are non-null unless said otherwise.
 */
import SchemaBuilder from '@pothos/core';
import DirectivesPlugin from '@pothos/plugin-directives';
import ErrorsPlugin from '@pothos/plugin-errors';
import FederationPlugin from '@pothos/plugin-federation';
import type { Context } from '../context.js';
import { isoTimestamp } from '../util/iso-timestamp.js';

export const builder = new SchemaBuilder<{
  Context: Context;
  DefaultFieldNullability: false;
  Scalars: {
    DateTime: { Input: Date; Output: Date };
    JSON: { Input: unknown; Output: unknown };
  };
}>({
  plugins: [ErrorsPlugin, DirectivesPlugin, FederationPlugin],
  defaultFieldNullability: false,
  errors: { defaultTypes: [] },
});

builder.queryType({});
builder.mutationType({});

builder.scalarType('DateTime', {
  description: 'An ISO-8601 timestamp in UTC, e.g. 2026-11-24T17:00:00.000Z.',
  // toISOString's string, computed faster: one per Item of a list (src/util/iso-timestamp.ts).
  serialize: isoTimestamp,
  parseValue: (value) => {
    const date = new Date(String(value));
    if (Number.isNaN(date.getTime())) throw new TypeError('DateTime must be an ISO-8601 timestamp');
    return date;
  },
});

builder.scalarType('JSON', {
  description: 'Any JSON value, as Plaid sent it (its strings scrubbed of credentials).',
  serialize: (value) => value,
  parseValue: (value) => value,
});
