/** Imports each feature module for its side effects, then builds the Federation v2 subgraph schema. */
import { printSubgraphSchema } from '@apollo/subgraph';
import { lexicographicSortSchema } from 'graphql';
import { builder } from './builder.js';
import { guardEntityRepresentations } from './entities.js';
import { instrumentRootFields } from './root-field-outcomes.js';
import './errors.js';
import { resolvePlaidItemReferences } from './item.js';
import './link.js';
import './refresh/item-refreshes.js';
import './refresh/lifecycle.js';
import './refresh/user-financial-data.js';
import './user.js';

export const FEDERATION_LINK = 'https://specs.apollo.dev/federation/v2.6';

export const schema = builder.toSubGraphSchema({ linkUrl: FEDERATION_LINK });
guardEntityRepresentations(schema, { PlaidItem: resolvePlaidItemReferences });
instrumentRootFields(schema);

/**
 * The SDL committed as schema.graphql: the subgraph schema with its @link and @key directives
 * (plain printSchema drops them), types sorted so the diff shows only real changes.
 */
export function printSchemaSdl(): string {
  return `${printSubgraphSchema(lexicographicSortSchema(schema)).trim()}\n`;
}
