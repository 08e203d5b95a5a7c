/**
 * A small second subgraph kept for the federation tests: a users service that owns `User` and
 * references `PlaidItem` (owned by our subgraph), as a company's own users service would.
 */
import { composeServices } from '@apollo/composition';
import { buildSubgraphSchema } from '@apollo/subgraph';
import { parse } from 'graphql';
import { printSchemaSdl } from '../../src/graphql/schema.js';

export const USERS_SDL = /* GraphQL */ `
  extend schema @link(url: "https://specs.apollo.dev/federation/v2.6", import: ["@key"])

  type User @key(fields: "id") {
    id: ID!
    name: String!
    "The Item this user pinned in the company app; resolved by the Plaid subgraph."
    pinnedPlaidItem: PlaidItem
  }

  type PlaidItem @key(fields: "id", resolvable: false) {
    id: ID!
  }

  type Query {
    user(id: ID!): User
    users: [User!]!
  }
`;

interface UserRow {
  id: string;
  name: string;
  pinnedItemId: string | null;
}

export function usersSubgraphSchema(rows: readonly UserRow[]) {
  const byId = new Map(rows.map((row) => [row.id, row]));
  const view = (row: UserRow | undefined) =>
    row && { id: row.id, name: row.name, pinnedPlaidItem: row.pinnedItemId ? { id: row.pinnedItemId } : null };
  return buildSubgraphSchema({
    typeDefs: parse(USERS_SDL),
    resolvers: {
      Query: {
        user: (_root: unknown, args: { id: string }) => view(byId.get(args.id)) ?? null,
        users: () => rows.map((row) => view(row)),
      },
      User: {
        __resolveReference: (reference: { id: string }) => view(byId.get(reference.id)) ?? null,
      },
    },
  });
}

/** Composes this service's subgraph with the users subgraph (errors included, for tests to check). */
export function composeWithUsers(plaidUrl: string, usersUrl: string) {
  return composeServices([
    { name: 'plaid', url: plaidUrl, typeDefs: parse(printSchemaSdl()) },
    { name: 'users', url: usersUrl, typeDefs: parse(USERS_SDL) },
  ]);
}
