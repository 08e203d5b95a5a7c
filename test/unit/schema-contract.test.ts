/** The committed contracts: schema.graphql is what the code prints, and the generated documents match it. */
import { readFileSync } from 'node:fs';
import { parse, validate } from 'graphql';
import { describe, expect, it } from 'vitest';
import { exampleDocument } from '../../src/http/graphiql.js';
import { printSchemaSdl, schema } from '../../src/graphql/schema.js';

const committed = readFileSync(new URL('../../schema.graphql', import.meta.url), 'utf8');

describe('schema.graphql', () => {
  it('is the schema printed from the code (run `npm run schema:print` after a change)', () => {
    expect(printSchemaSdl()).toBe(committed);
  });

  it('names every union after its mutation, with no plugin wrapper types', () => {
    for (const field of ['refreshTransactions', 'refreshIdentity', 'refreshCashflowReport', 'refreshUserFinancialData', 'linkItem']) {
      const type = schema.getMutationType()?.getFields()[field]?.type.toString();
      expect(type).toBe(`${field.charAt(0).toUpperCase()}${field.slice(1)}Result`);
    }
    expect(committed).not.toMatch(/Mutation\w+(Result|Success)/);
  });

  it('every refresh union has every Plaid error type, and the PlaidError interface covers them', () => {
    const plaidTypes = schema.getImplementations(schema.getType('PlaidError') as never).objects.map((t) => t.name);
    expect(plaidTypes).toHaveLength(10);
    const union = schema.getType('RefreshTransactionsResult') as unknown as { getTypes(): { name: string }[] };
    expect(union.getTypes().map((t) => t.name)).toEqual(
      expect.arrayContaining([...plaidTypes, 'ItemNotFoundError', 'InputValidationError', 'PlaidUnavailableError']),
    );
  });

  it('the example operations (GraphiQL default document, codegen input) are valid against it', () => {
    expect(validate(schema, parse(exampleDocument()))).toEqual([]);
  });

  it('is a Federation v2 subgraph schema: @link and the @keys are printed', () => {
    expect(committed).toMatch(/@link\(url: "https:\/\/specs\.apollo\.dev\/federation\/v2\.6"/);
    expect(committed).toMatch(/type PlaidItem\s+@key\(fields: "id"\)/);
    expect(committed).toMatch(/type User\s+@key\(fields: "id"\)/);
  });
});
