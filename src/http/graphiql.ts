/**
 * GraphiQL, served whole by us, with no CDN: @graphql-yoga/render-graphiql ships GraphiQL's JS, CSS
 * and Monaco workers as strings, which we serve as assets of their own under
 * /graphiql/assets/<name>-<hash>.<ext> (immutable, a year in caches, brotli or gzip), so the page
 * itself is a few KB (`no-cache`: it carries this start's token and defaults). Works offline and
 * behind strict company proxies. The default document is the example operations in
 * operations/*.graphql; the page always opens on it.
 *
 * GraphiQL keeps its tabs in localStorage. Ours live under a namespace named after the example
 * document, its default variables and the GraphiQL build, so a tab saved against another version
 * of them (operations or Items that may be gone) is dropped rather than shown. Headers (the demo
 * token) are never stored.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { GraphiQLOptions, Plugin } from 'graphql-yoga';
import { StaticBody, preferredEncoding, staticResponse, type ContentEncoding } from './static-body.js';

/**
 * operations/ at the project's root: the nearest directory above this module that has a
 * package.json. This module is src/http/graphiql.ts, or part of a bundle (dist/main.js, or npm
 * start's under node_modules/.cache/), so no fixed relative path fits every case.
 */
function operationsDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`no package.json above ${fileURLToPath(import.meta.url)}`);
    dir = parent;
  }
  return join(dir, 'operations');
}

export const GRAPHIQL_ASSET_PATH = '/graphiql/assets/';
const IMMUTABLE = 'public, max-age=31536000, immutable';
/** The page holds a bearer token in embedded mode: revalidated every time, kept out of shared caches. */
const PAGE_CACHE_CONTROL = 'private, no-cache';

/** Example operations, fragments last, as one document GraphiQL can run operation by operation. */
export function exampleDocument(): string {
  const dir = operationsDir();
  const files = readdirSync(dir)
    .filter((name) => name.endsWith('.graphql'))
    .sort((a, b) => Number(a === 'fragments.graphql') - Number(b === 'fragments.graphql') || a.localeCompare(b));
  return files.map((name) => readFileSync(join(dir, name), 'utf8').trim()).join('\n\n') + '\n';
}

/**
 * What the page hands yoga's GraphiQL. `query` becomes GraphiQL's initialQuery, so a returning
 * visitor opens on it too (GraphiQL activates the stored tab that holds it, or adds one), where
 * `defaultQuery`/`defaultTabs` count only when nothing is stored; `variables` fills the variables
 * editor. Yoga's type lists neither.
 */
export type GraphiQLPageOptions = GraphiQLOptions & { readonly query?: string; readonly variables?: string };

export function graphiqlOptions(
  headers: Record<string, string>,
  variables: Record<string, unknown> = {},
  query = exampleDocument(),
): GraphiQLPageOptions {
  const headerText = JSON.stringify(headers, null, 2);
  return {
    title: 'Plaid refresh GraphQL',
    query,
    defaultQuery: query,
    variables: JSON.stringify(variables, null, 2),
    // The first tab's headers are taken from `headers`; new tabs get `defaultHeaders`.
    headers: headerText,
    defaultHeaders: headerText,
    // Tokens stay out of the browser's localStorage.
    shouldPersistHeaders: false,
  };
}

export interface GraphiQLPageConfig {
  /** Where the page is served (GET with Accept: text/html), and where it sends operations. */
  readonly endpoint: string;
  readonly options: GraphiQLPageOptions;
  /** Prefix of this page's localStorage keys, e.g. the service's name. */
  readonly storageNamespace: string;
}

/**
 * Serves GraphiQL's page at `endpoint` and its assets under /graphiql/assets/, before anything
 * else (CSRF, body limit, the operation log) sees the request.
 */
export function useGraphiQL(config: GraphiQLPageConfig): Plugin {
  let page: Promise<StaticBody> | null = null;
  const endpoints = new Set([config.endpoint, `${config.endpoint}/`]);
  return {
    onRequest(payload) {
      const { request, url, fetchAPI } = payload;
      const { method } = request;
      if (url.pathname.startsWith(GRAPHIQL_ASSET_PATH) && (method === 'GET' || method === 'HEAD')) {
        return graphiqlAssets().then(async (assets) => {
          const asset = assets.byPath.get(url.pathname);
          payload.endResponse(
            asset
              ? await staticResponse(asset, request, fetchAPI, { cacheControl: IMMUTABLE })
              : new fetchAPI.Response('Not found', { status: 404, headers: { 'content-type': 'text/plain', 'cache-control': 'no-store' } }),
          );
        });
      }
      // As yoga decides for its own GraphiQL.
      if (method !== 'GET' || !endpoints.has(url.pathname) || !request.headers.get('accept')?.includes('text/html')) return;
      page ??= graphiqlAssets().then((assets) => new StaticBody(renderGraphiQLPage(config, assets), 'text/html; charset=utf-8'));
      page.catch(() => (page = null));
      return page.then(async (body) => {
        // The browser asks for the assets next: have them compressed by then.
        void graphiqlAssets().then((assets) => assets.prepare(preferredEncoding(request.headers.get('accept-encoding'))));
        payload.endResponse(await staticResponse(body, request, fetchAPI, { cacheControl: PAGE_CACHE_CONTROL, varyAlso: ['Accept'] }));
      });
    },
  };
}

interface GraphiQLAssets {
  readonly css: string;
  readonly js: string;
  readonly boot: string;
  readonly favicon: string;
  readonly workers: { readonly editorWorkerService: string; readonly json: string; readonly graphql: string };
  /** Changes with any asset: part of the storage namespace. */
  readonly build: string;
  readonly byPath: ReadonlyMap<string, StaticBody>;
  /** Compresses every asset in this encoding, in the background. */
  prepare(encoding: ContentEncoding): void;
}

let assets: Promise<GraphiQLAssets> | null = null;

/** Loaded on first use: the renderer is 9 MB of assets that most processes never serve. Shared by every app in the process. */
function graphiqlAssets(): Promise<GraphiQLAssets> {
  assets ??= loadAssets();
  assets.catch(() => (assets = null));
  return assets;
}

async function loadAssets(): Promise<GraphiQLAssets> {
  const bundle = await import('@graphql-yoga/render-graphiql/graphiql');
  const byPath = new Map<string, StaticBody>();
  const add = (name: string, extension: string, body: StaticBody): string => {
    const path = `${GRAPHIQL_ASSET_PATH}${name}-${body.hash}.${extension}`;
    byPath.set(path, body);
    return path;
  };
  const script = (name: string, source: string) => add(name, 'js', new StaticBody(source, 'text/javascript; charset=utf-8'));
  const icon = /^data:([^;,]+);base64,(.*)$/.exec(bundle.favicon);
  const iconType = icon?.[1] ?? '';
  const favicon = icon
    ? add(
        'favicon',
        iconType.endsWith('icon') ? 'ico' : (iconType.split('/')[1] ?? 'img'),
        new StaticBody(Buffer.from(icon[2] ?? '', 'base64'), iconType),
      )
    : bundle.favicon;
  const result = {
    css: add('graphiql', 'css', new StaticBody(bundle.css, 'text/css; charset=utf-8')),
    js: script('graphiql', bundle.js),
    boot: script('boot', BOOT_SCRIPT),
    favicon,
    workers: {
      editorWorkerService: script('editor.worker', bundle.editorWorkerService),
      json: script('json.worker', bundle.jsonWorker),
      graphql: script('graphql.worker', bundle.graphqlWorker),
    },
    build: createHash('sha256')
      .update([...byPath.keys()].join('\n'))
      .digest('hex')
      .slice(0, 12),
    byPath,
    prepare(encoding: ContentEncoding) {
      for (const body of byPath.values()) body.encodedAs(encoding).catch(() => {});
    },
  };
  return result;
}

/**
 * The page: links to the assets, and this app's options as JSON for the boot script (no inline
 * script). `</` cannot end the JSON's script element early: `<` is escaped.
 */
function renderGraphiQLPage(config: GraphiQLPageConfig, assets: GraphiQLAssets): string {
  const { options } = config;
  const version = createHash('sha256')
    .update([assets.build, options.query ?? options.defaultQuery ?? '', options.variables ?? ''].join('\0'))
    .digest('hex')
    .slice(0, 12);
  const boot = {
    options,
    workers: assets.workers,
    storage: { family: `${config.storageNamespace}:`, prefix: `${config.storageNamespace}:${version}:` },
  };
  const title = escapeHtml(options.title ?? 'GraphiQL');
  return `<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8" />
    <title>${title}</title>
    <link rel="icon" href="${escapeHtml(options.favicon ?? assets.favicon)}" />
    <link rel="stylesheet" href="${assets.css}" />
    <script defer src="${assets.js}"></script>
    <script defer src="${assets.boot}"></script>
  </head>
  <body id="body" class="no-focus-outline">
    <noscript>You need to enable JavaScript to run this app.</noscript>
    <div id="root"></div>
    <script type="application/json" id="graphiql-boot">${JSON.stringify(boot).replace(/</g, '\\u003c')}</script>
  </body>
</html>
`;
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/**
 * Runs after GraphiQL's script (both deferred): Monaco's workers from our asset URLs, GraphiQL's
 * storage under this page's namespace (keys of other versions of it removed), then the render.
 */
const BOOT_SCRIPT = `(function () {
  'use strict';
  var boot = JSON.parse(document.getElementById('graphiql-boot').textContent);
  self.MonacoEnvironment = {
    globalAPI: false,
    getWorkerUrl: function (moduleId, label) {
      return boot.workers[label];
    },
  };
  var storage = null;
  try {
    var local = window.localStorage;
    var family = boot.storage.family;
    var prefix = boot.storage.prefix;
    var ours = function () {
      var keys = [];
      for (var i = 0; i < local.length; i++) {
        var key = local.key(i);
        if (key !== null && key.indexOf(prefix) === 0) keys.push(key);
      }
      return keys;
    };
    for (var i = local.length - 1; i >= 0; i--) {
      var key = local.key(i);
      if (key !== null && key.indexOf(family) === 0 && key.indexOf(prefix) !== 0) local.removeItem(key);
    }
    storage = {
      getItem: function (key) { return local.getItem(prefix + key); },
      setItem: function (key, value) { local.setItem(prefix + key, value); },
      removeItem: function (key) { local.removeItem(prefix + key); },
      clear: function () { ours().forEach(function (key) { local.removeItem(key); }); },
      get length() { return ours().length; },
    };
  } catch (error) {
    // No localStorage (blocked, or a sandboxed frame): GraphiQL runs without persistence.
  }
  var options = Object.assign({}, boot.options, { storage: storage });
  YogaGraphiQL.renderYogaGraphiQL(document.getElementById('root'), options);
})();
`;
