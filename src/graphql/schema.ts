/** Imports each feature module for its side effects, then builds the schema. */
import { lexicographicSortSchema, printSchema } from 'graphql';
import { builder } from './builder.js';
import './errors.js';
import './item.js';
import './link.js';
import './refresh/transactions.js';
import './refresh/identity.js';
import './refresh/cashflow-report.js';
import './refresh/user-financial-data.js';

export const schema = builder.toSchema();

/** The SDL committed as schema.graphql: types sorted, so the diff shows only real changes. */
export function printSchemaSdl(): string {
  return `${printSchema(lexicographicSortSchema(schema))}\n`;
}
