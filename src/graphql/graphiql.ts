/**
 * GraphiQL, served whole by us: @graphql-yoga/render-graphiql inlines GraphiQL's JS and CSS in the
 * page, so it works offline and behind strict company proxies (yoga's default page loads a CDN).
 * The default document is the example operations in operations/*.graphql.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { GraphiQLOptions } from 'graphql-yoga';

const OPERATIONS_DIR = fileURLToPath(new URL('../../operations/', import.meta.url));

/** Example operations, fragments last, as one document GraphiQL can run operation by operation. */
export function exampleDocument(): string {
  const files = readdirSync(OPERATIONS_DIR)
    .filter((name) => name.endsWith('.graphql'))
    .sort((a, b) => Number(a === 'fragments.graphql') - Number(b === 'fragments.graphql') || a.localeCompare(b));
  return files.map((name) => readFileSync(`${OPERATIONS_DIR}${name}`, 'utf8').trim()).join('\n\n') + '\n';
}

export function graphiqlOptions(headers: Record<string, string>, variables: Record<string, unknown> = {}): GraphiQLOptions {
  const headerText = JSON.stringify(headers, null, 2);
  const variableText = JSON.stringify(variables, null, 2);
  const query = exampleDocument();
  // GraphiQL fills its variables editor only from `variables` (yoga passes it on as
  // initialVariables), not from the first tab; yoga's type does not list it, hence the spread.
  const initialVariables = { variables: variableText } as Partial<GraphiQLOptions>;
  return {
    ...initialVariables,
    title: 'Plaid refresh GraphQL',
    defaultQuery: query,
    // The first tab's headers are taken from `headers`; new tabs get `defaultHeaders`.
    headers: headerText,
    defaultHeaders: headerText,
    defaultTabs: [{ query, headers: headerText, variables: variableText }],
    // Tokens stay out of the browser's localStorage.
    shouldPersistHeaders: false,
  };
}

/** Loaded on first use: the renderer is 9 MB of inlined assets that most processes never serve. */
export async function renderGraphiQL(options: GraphiQLOptions): Promise<string> {
  const { renderGraphiQL: render } = await import('@graphql-yoga/render-graphiql');
  return render(options);
}
