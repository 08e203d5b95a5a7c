/**
 * GraphiQL in a real browser: headless Chromium opens the page the embedded service serves, picks
 * RefreshTransactions from the execute button's operation menu and runs it with the pre-filled
 * demo token and variables. Every request must stay on loopback (the page inlines its assets).
 */
import { chromium, type Browser, type BrowserContext, type Locator } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { listen } from '../../src/http/listen.js';
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

// Debian's chromium (`apt-get install chromium`; .ci/run installs it). Skipped only outside CI.
describe('GraphiQL in headless Chromium (embedded mode)', needs('chromium'), () => {
  let runtime: Runtime;
  let http: Awaited<ReturnType<typeof listen>>;
  let browser: Browser;
  let context: BrowserContext;
  /** Requests that tried to leave loopback: aborted, and the test fails if there are any. */
  const blocked: string[] = [];

  beforeAll(async () => {
    runtime = await createRuntime(loadConfig({ NODE_ENV: 'test', PORT: '0' }));
    http = await listen(runtime.app, '127.0.0.1', 0);
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS, timeout: 60_000 });
    context = await browser.newContext();
    await context.route('**/*', (route) => {
      const url = new URL(route.request().url());
      if (url.protocol === 'blob:' || url.protocol === 'data:' || LOOPBACK_HOSTS.has(url.hostname)) return route.continue();
      blocked.push(url.href);
      return route.abort('blockedbyclient');
    });
  }, 90_000);

  afterAll(async () => {
    await context?.close().catch(() => {});
    await browser?.close().catch(() => {});
    await http?.close();
    await runtime?.close();
  }, 30_000);

  it('runs RefreshTransactions from the operation menu against the simulator, all on loopback', async () => {
    const simulator = runtime.simulator;
    const demo = runtime.demo;
    if (!simulator || !demo) throw new Error('expected embedded mode with a demo viewer');
    const itemId = demo.fixtures.items.healthy.itemId;
    const refreshCalls = () => simulator.state.requests({ path: '/transactions/refresh', itemId });
    expect(refreshCalls()).toHaveLength(0);

    const page = await context.newPage();
    await page.goto(`${http.url}/graphql`, { waitUntil: 'domcontentloaded', timeout: 60_000 });
    // Yoga wraps GraphiQL's own .graphiql-container in one of its own, hence first().
    await page.locator('.graphiql-container').first().waitFor({ timeout: 60_000 });
    await page.locator('.graphiql-query-editor .monaco-editor').first().waitFor({ timeout: 60_000 });

    // The service pre-fills the demo Item (and the token, checked on the request below); without
    // them the operation cannot succeed. The variables tab is the one shown.
    const variables = page.locator('.monaco-editor[data-uri$="-variables.json"] .view-lines');
    await expect
      .poll(() => editorText(variables), { timeout: 15_000, message: 'variables editor pre-filled with the healthy demo Item' })
      .toContain(`"itemId": "${itemId}"`);

    // The default document holds several operations, so the execute button opens a menu of them.
    const sent = page.waitForRequest((request) => request.method() === 'POST' && request.postData()?.includes('"operationName":"RefreshTransactions"') === true, {
      timeout: 30_000,
    });
    await page.locator('.graphiql-execute-button').first().click();
    const menu = page.locator('.graphiql-dropdown-content[role="menu"]');
    await menu.waitFor({ timeout: 15_000 });
    await menu.getByRole('menuitem', { name: 'RefreshTransactions', exact: true }).click();

    const request = await sent;
    expect(new URL(request.url()).pathname).toBe('/graphql');
    expect(await request.headerValue('authorization')).toBe(`Bearer ${demo.token}`);
    expect(request.postDataJSON()).toMatchObject({ operationName: 'RefreshTransactions', variables: { itemId } });

    const response = page.locator('.graphiql-response .view-lines');
    await expect.poll(() => editorText(response), { timeout: 30_000, interval: 250 }).toContain('RefreshTransactionsSuccess');
    const text = await editorText(response);
    expect(text).toContain('"__typename": "RefreshTransactionsSuccess"');
    expect(text).toMatch(/"requestId": "[^"]+"/);

    // Exactly one refresh reached the simulator, for the demo Item, and nothing else was refreshed.
    const calls = refreshCalls();
    expect(calls).toHaveLength(1);
    expect(calls[0]?.status).toBe(200);
    expect(simulator.state.requests({ path: '/transactions/refresh' })).toHaveLength(1);

    await page.close();
    expect(blocked).toEqual([]);
  }, 90_000);
});
