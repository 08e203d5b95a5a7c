/**
 * GraphiQL in a real browser: headless Chromium opens the page the embedded service serves, picks
 * RefreshTransactions from the execute button's operation menu and runs it with the pre-filled
 * demo token and variables. Every request must stay on loopback (the assets are ours, compressed
 * and cached), and the token never lands in localStorage. Then the service restarts on the same
 * port (same origin, so the same localStorage), and the reloaded page opens on the example
 * document again and runs against the demo Item, which the new process has too.
 */
import { chromium, type Browser, type BrowserContext, type Locator, type Page, type Response } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { exampleDocument } from '../../src/http/graphiql.js';
import { listen } from '../../src/http/listen.js';
import { PLAID_WEBHOOK_PATH } from '../../src/http/plaid-webhooks.js';
import { createRuntime, type Runtime } from '../../src/runtime.js';
import { needs } from '../helpers/needs.js';

const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]']);

/** A Monaco editor's visible text; Monaco renders spaces as no-break spaces. */
async function editorText(lines: Locator): Promise<string> {
  if ((await lines.count()) === 0) return '';
  return (await lines.first().innerText()).replace(/\u00a0/g, ' ');
}

/** Everything the page keeps in localStorage, as one string to search. */
const storedText = (page: Page) => page.evaluate(() => JSON.stringify(Object.entries(window.localStorage)));

async function openGraphiQL(page: Page, how: { goto: string } | 'reload'): Promise<void> {
  if (how === 'reload') await page.reload({ waitUntil: 'domcontentloaded', timeout: 60_000 });
  else await page.goto(how.goto, { waitUntil: 'domcontentloaded', timeout: 60_000 });
  // Yoga wraps GraphiQL's own .graphiql-container in one of its own, hence first().
  await page.locator('.graphiql-container').first().waitFor({ timeout: 60_000 });
  await page.locator('.graphiql-query-editor .monaco-editor').first().waitFor({ timeout: 60_000 });
}

/** Picks an operation from the execute button's menu (the document holds several operations). */
async function pickOperation(page: Page, name: string): Promise<void> {
  await page.locator('.graphiql-execute-button').first().click();
  const menu = page.locator('.graphiql-dropdown-content[role="menu"]');
  await menu.waitFor({ timeout: 15_000 });
  await menu.getByRole('menuitem', { name, exact: true }).click();
}

/** Picks RefreshTransactions from the execute button's menu and waits for its answer. */
async function runRefreshTransactions(page: Page) {
  const sent = page.waitForRequest(
    (request) => request.method() === 'POST' && request.postData()?.includes('"operationName":"RefreshTransactions"') === true,
    {
      timeout: 30_000,
    },
  );
  await pickOperation(page, 'RefreshTransactions');
  const request = await sent;
  const response = page.locator('.graphiql-response .view-lines');
  await expect.poll(() => editorText(response), { timeout: 30_000, interval: 250 }).toContain('RefreshTransactionsSuccess');
  return { request, text: await editorText(response) };
}

// Debian's chromium (`apt-get install chromium`; .ci/run installs it). Skipped only outside CI.
describe('GraphiQL in headless Chromium (embedded mode)', needs('chromium'), () => {
  let runtime: Runtime;
  let http: Awaited<ReturnType<typeof listen>>;
  let browser: Browser;
  let context: BrowserContext;
  /** Requests that tried to leave loopback: aborted, and the test fails if there are any. */
  const blocked: string[] = [];
  /** The GraphiQL assets the browser received. */
  const assets: Response[] = [];

  /** The service in embedded mode, as `npm start` runs it; on `port` when given (a restart). */
  async function start(port = 0): Promise<void> {
    runtime = await createRuntime(loadConfig({ NODE_ENV: 'test', PORT: '0' }));
    http = await listen(runtime.app, '127.0.0.1', port);
    // As main.ts does: the simulator's webhooks come back to this service.
    await runtime.useOwnWebhookUrl(`${http.url}${PLAID_WEBHOOK_PATH}`);
  }

  async function stop(): Promise<void> {
    await http.close(1_000);
    await runtime.close();
  }

  beforeAll(async () => {
    await start();
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS, timeout: 60_000 });
    context = await browser.newContext();
    await context.route('**/*', (route) => {
      const url = new URL(route.request().url());
      if (url.protocol === 'blob:' || url.protocol === 'data:' || LOOPBACK_HOSTS.has(url.hostname)) return route.continue();
      blocked.push(url.href);
      return route.abort('blockedbyclient');
    });
    context.on('response', (response) => {
      if (new URL(response.url()).pathname.startsWith('/graphiql/assets/')) assets.push(response);
    });
  }, 90_000);

  afterAll(async () => {
    await context?.close().catch(() => {});
    await browser?.close().catch(() => {});
    await stop().catch(() => {});
  }, 30_000);

  it('runs RefreshTransactions from the operation menu against the simulator, all on loopback', async () => {
    const simulator = runtime.simulator;
    const demo = runtime.demo;
    if (!simulator || !demo) throw new Error('expected embedded mode with a demo viewer');
    const itemId = demo.fixtures.items.healthy.itemId;
    const refreshCalls = () => simulator.state.requests({ path: '/transactions/refresh', itemId });
    expect(refreshCalls()).toHaveLength(0);

    const page = await context.newPage();
    await openGraphiQL(page, { goto: `${http.url}/graphql` });

    // The service pre-fills the demo Item (and the token, checked on the request below); without
    // them the operation cannot succeed. The variables tab is the one shown.
    const variables = page.locator('.monaco-editor[data-uri$="-variables.json"] .view-lines');
    await expect
      .poll(() => editorText(variables), { timeout: 15_000, message: 'variables editor pre-filled with the healthy demo Item' })
      .toContain(`"itemId": "${itemId}"`);

    const { request, text } = await runRefreshTransactions(page);
    expect(new URL(request.url()).pathname).toBe('/graphql');
    expect(await request.headerValue('authorization')).toBe(`Bearer ${demo.token}`);
    expect(request.postDataJSON()).toMatchObject({ operationName: 'RefreshTransactions', variables: { itemId } });
    expect(text).toContain('"__typename": "RefreshTransactionsSuccess"');
    expect(text).toMatch(/"requestId": "[^"]+"/);

    // Exactly one refresh reached the simulator, for the demo Item, and nothing else was refreshed.
    const calls = refreshCalls();
    expect(calls).toHaveLength(1);
    expect(calls[0]?.status).toBe(200);
    expect(simulator.state.requests({ path: '/transactions/refresh' })).toHaveLength(1);

    // The script, the stylesheet and the three Monaco workers, each compressed and cacheable for good.
    const received = await Promise.all(
      assets.map(async (response) => ({ path: new URL(response.url()).pathname, headers: await response.allHeaders() })),
    );
    expect(received.filter((asset) => asset.path.endsWith('.js')).length).toBeGreaterThanOrEqual(5);
    for (const asset of received.filter((a) => !a.path.endsWith('.ico'))) {
      expect(asset.headers['content-encoding'], asset.path).toBe('br');
      expect(asset.headers['cache-control'], asset.path).toBe('public, max-age=31536000, immutable');
    }

    // GraphiQL saved its tabs (debounced), without the headers and so without the token.
    await expect.poll(() => storedText(page), { timeout: 10_000 }).toContain('tabState');
    expect(await storedText(page)).not.toContain(demo.token);

    await page.close();
    expect(blocked).toEqual([]);
  }, 90_000);

  it('runs the RefreshEvents subscription: a refresh made elsewhere shows up as DATA_AVAILABLE once its webhook arrived', async () => {
    const demo = runtime.demo;
    if (!demo) throw new Error('expected embedded mode with a demo viewer');
    // Not the healthy Item: the first test refreshed it, and a second refresh finds nothing new (no webhook, as at Plaid).
    const itemId = demo.fixtures.items.transactionsOnly.itemId;
    const page = await context.newPage();
    await openGraphiQL(page, { goto: `${http.url}/graphql` });
    // GraphiQL subscribes over SSE with a GET (the document in the query string), the token in its header.
    const opened = page.waitForRequest(
      (request) => request.method() === 'GET' && new URL(request.url()).searchParams.get('operationName') === 'RefreshEvents',
      { timeout: 30_000 },
    );
    await pickOperation(page, 'RefreshEvents');
    const request = await opened;
    expect((await request.response())?.status()).toBe(200);
    expect(await request.headerValue('authorization')).toBe(`Bearer ${demo.token}`);
    // The stream is open once the service counts it; then the refresh, as another tab or app would make it.
    await expect
      .poll(async () => (await runtime.metrics.registry.getSingleMetricAsString('graphql_subscriptions_open')).match(/ (\d+)$/m)?.[1], {
        timeout: 15_000,
      })
      .toBe('1');
    const refreshed = await runtime.app.fetch('http://localhost/graphql', {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${demo.token}` },
      body: JSON.stringify({
        query:
          'mutation ($itemId: ID!) { refreshTransactions(itemId: $itemId) { __typename ... on RefreshTransactionsSuccess { refresh { id } } } }',
        variables: { itemId },
      }),
    });
    const body = (await refreshed.json()) as { data: { refreshTransactions: { __typename: string; refresh?: { id: string } } } };
    expect(body.data.refreshTransactions.__typename).toBe('RefreshTransactionsSuccess');
    const refreshId = body.data.refreshTransactions.refresh?.id ?? '';

    // GraphiQL's response pane shows each event as it comes: PENDING first, then the webhook's.
    const response = page.locator('.graphiql-response .view-lines');
    await expect.poll(() => editorText(response), { timeout: 30_000, interval: 250 }).toContain('"status": "DATA_AVAILABLE"');
    const text = await editorText(response);
    expect(text).toContain(refreshId);
    expect(text).toMatch(/Transactions(DefaultUpdate|SyncUpdatesAvailable)Event/);
    await page.close();
    expect(blocked).toEqual([]);
  }, 90_000);

  it('after a restart, opens on the example document again and runs against a demo Item that still exists', async () => {
    const page = await context.newPage();
    await openGraphiQL(page, { goto: `${http.url}/graphql` });
    const before = { token: runtime.demo?.token ?? '', itemId: runtime.demo?.fixtures.items.healthy.itemId ?? '' };
    await expect.poll(() => storedText(page), { timeout: 10_000 }).toContain('tabState');

    // `npm start` again. A new runtime on the same port keeps the origin, and so the localStorage
    // GraphiQL reads its tabs from, as a new process on the same port would.
    const port = Number(new URL(http.url).port);
    await stop();
    await start(port);
    const demo = runtime.demo;
    const simulator = runtime.simulator;
    if (!demo || !simulator) throw new Error('expected embedded mode with a demo viewer');
    const itemId = demo.fixtures.items.healthy.itemId;
    expect(itemId).toBe(before.itemId);
    expect(demo.token).not.toBe(before.token);

    await openGraphiQL(page, 'reload');
    const query = page.locator('.graphiql-query-editor .view-lines').first();
    const opening = exampleDocument().split('\n').slice(0, 2).join('\n');
    await expect
      .poll(() => editorText(query), { timeout: 15_000, message: 'the active tab holds the example document' })
      .toContain(opening);
    const variables = page.locator('.monaco-editor[data-uri$="-variables.json"] .view-lines');
    await expect.poll(() => editorText(variables), { timeout: 15_000 }).toContain(`"itemId": "${itemId}"`);

    const { request, text } = await runRefreshTransactions(page);
    expect(await request.headerValue('authorization')).toBe(`Bearer ${demo.token}`);
    expect(request.postDataJSON()).toMatchObject({ operationName: 'RefreshTransactions', variables: { itemId } });
    expect(text).toContain('"__typename": "RefreshTransactionsSuccess"');
    expect(simulator.state.requests({ path: '/transactions/refresh', itemId }).map((call) => call.status)).toEqual([200]);

    const stored = await storedText(page);
    expect(stored).not.toContain(before.token);
    expect(stored).not.toContain(demo.token);
    await page.close();
    expect(blocked).toEqual([]);
  }, 120_000);
});
