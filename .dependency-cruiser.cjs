/**
 * The layering of src/, checked in CI (`npm run lint:layers`). Data flows down and never back up:
 *
 *   main / runtime / app / context / http        wiring: builds and serves everything
 *   graphql                                      the schema: resolvers call services
 *   services   webhooks                          use cases: no GraphQL; Plaid's webhooks in (verify, inbox)
 *   guard   vault   plaid                        cost guard, token vault, Plaid client
 *   catalogue   util   observability            facts and helpers every layer may read
 *
 *   simulator                                    Plaid's look-alike: stands alone, as Plaid does
 *
 * docs/architecture.md explains the layers; this file is what holds them.
 */
const layer = (name) => `^src/${name}/`;
const WIRING = '^src/(main|runtime|app|context|startup-failure)\\.ts$|^src/http/';
// The request context (viewer, services, loaders) is the schema's own input.
const WIRING_BUT_CONTEXT = '^src/(main|runtime|app|startup-failure)\\.ts$|^src/http/';

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'A cycle means two modules are one; split the shared part out.',
      from: { path: '^src/' },
      to: { circular: true },
    },
    {
      name: 'graphql-goes-through-services',
      severity: 'error',
      comment:
        'Resolvers call services; they do not reach the vault, the guard or the Plaid client. Plaid error classes are union members, so plaid/errors.ts is allowed.',
      from: { path: layer('graphql') },
      to: {
        path: [layer('vault'), layer('guard'), layer('webhooks'), layer('simulator'), '^src/plaid/(?!errors\\.ts$)', WIRING_BUT_CONTEXT],
      },
    },
    {
      name: 'services-know-no-graphql',
      severity: 'error',
      comment: 'Services are use cases: no GraphQL, no wiring.',
      from: { path: layer('services') },
      to: {
        path: [layer('graphql'), layer('simulator'), layer('auth'), WIRING, '^graphql$|^node_modules/graphql/', '^node_modules/@pothos/'],
      },
    },
    {
      name: 'webhooks-know-no-graphql',
      severity: 'error',
      comment:
        'Webhook verification and the inbox sit beside the services: they use the Plaid client and the vault, never GraphQL or wiring.',
      from: { path: layer('webhooks') },
      to: {
        path: [
          layer('graphql'),
          layer('services'),
          layer('simulator'),
          layer('auth'),
          layer('demo'),
          layer('cli'),
          WIRING,
          '^graphql$|^node_modules/graphql/',
          '^node_modules/@pothos/',
        ],
      },
    },
    {
      name: 'lower-layers-never-up',
      severity: 'error',
      comment: 'The guard, the vault and the Plaid client serve services; they never call back up.',
      from: { path: [layer('guard'), layer('vault'), layer('plaid')] },
      to: { path: [layer('services'), layer('webhooks'), layer('graphql'), layer('auth'), layer('demo'), layer('simulator'), WIRING] },
    },
    {
      name: 'plaid-is-its-own',
      severity: 'error',
      comment: 'The Plaid client knows HTTP, zod and the catalogue, nothing of the vault or the guard.',
      from: { path: layer('plaid') },
      to: { path: [layer('vault'), layer('guard')] },
    },
    {
      name: 'guard-reads-only-plaid-errors',
      severity: 'error',
      from: { path: layer('guard') },
      to: { path: [layer('vault'), '^src/plaid/(?!errors\\.ts$|schemas\\.ts$)'] },
    },
    {
      name: 'vault-is-its-own',
      severity: 'error',
      comment: 'The vault knows SQL and encryption, nothing of Plaid or the guard.',
      from: { path: layer('vault') },
      to: { path: [layer('plaid'), layer('guard'), layer('catalogue')] },
    },
    {
      name: 'shared-layers-stay-at-the-bottom',
      severity: 'error',
      comment:
        'The catalogue, util and observability are read by every layer, so they import none of them (the catalogue reads Plaid response schemas only).',
      from: { path: [layer('catalogue'), layer('util'), layer('observability')] },
      to: {
        path: [
          layer('services'),
          layer('webhooks'),
          layer('graphql'),
          layer('guard'),
          layer('vault'),
          layer('auth'),
          layer('demo'),
          layer('simulator'),
          '^src/plaid/(?!schemas\\.ts$)',
          WIRING,
        ],
        pathNot: '^src/http/request-id\\.ts$',
      },
    },
    {
      name: 'simulator-stands-alone',
      severity: 'error',
      comment: 'The simulator plays Plaid: it imports nothing from the service side and keeps its own knowledge of Plaid.',
      from: { path: layer('simulator') },
      to: { path: '^src/', pathNot: layer('simulator') },
    },
    {
      name: 'only-embedded-mode-starts-the-simulator',
      severity: 'error',
      comment: 'The service imports the simulator only where embedded mode starts it (runtime.ts) and seeds the demo (demo/).',
      from: { path: '^src/', pathNot: [layer('simulator'), '^src/runtime\\.ts$', layer('demo')] },
      to: { path: layer('simulator') },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default'],
      extensions: ['.ts', '.js'],
    },
    reporterOptions: { text: { highlightFocused: true } },
  },
};
