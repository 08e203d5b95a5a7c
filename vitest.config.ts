import { createRequire } from 'node:module';
import { defineConfig } from 'vitest/config';

const require = createRequire(import.meta.url);

export default defineConfig({
  resolve: {
    // graphql 16 ships CJS (main) and ESM (module) builds. Node, and so yoga and Pothos from
    // node_modules, load the CJS one; Vite would give our sources the ESM one. Two graphql
    // instances break every `instanceof GraphQLError`, so our code gets Node's copy too.
    alias: [{ find: /^graphql$/, replacement: require.resolve('graphql') }],
  },
  test: {
    include: ['test/**/*.test.ts'],
    // The default output, then which tests were skipped and what turns them on (test/helpers/needs.ts).
    reporters: ['default', './test/reporters/skip-summary.ts'],
    testTimeout: 20_000,
    hookTimeout: 60_000,
  },
});
