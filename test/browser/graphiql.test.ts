/**
 * GraphiQL in a real browser: headless Chromium opens the page the embedded service serves, picks
 * RefreshTransactions from the execute button's operation menu and runs it with the pre-filled
 * demo token and variables. Every request must stay on loopback (the page inlines its assets).
 */
import { chromium, type Browser, type BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { createRuntime, listen, type Runtime } from '../../src/runtime.js';

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

describe('GraphiQL in headless Chromium (embedded mode)', () => {
  let runtime: Runtime;
  let http: Awaited<ReturnType<typeof listen>>;
  let browser: Browser;
  let context: BrowserContext;
  /** Requests that tried to leave loopback; aborted, and the test fails if any. */
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
    page.on('request', (r) => { if (r.method() === 'POST') console.log('POST', r.url(), JSON.stringify(r.headers()).slice(0, 400), (r.postData() ?? '').slice(0, 200), '...', (r.postData() ?? '').slice(-300)); });
    page.on('console', (m) => console.log('CONSOLE', m.type(), m.text().slice(0, 300)));
    await page.goto(`${http.url}/graphql`, { waitUntil: 'domcontentloaded', timeout: 60_000 });
    await page.locator('.graphiql-container').first().waitFor({ timeout: 60_000 });
    await page.locator('.graphiql-query-editor .monaco-editor').first().waitFor({ timeout: 60_000 });

    await page.waitForTimeout(1500);
    console.log('CONTAINERS', await page.evaluate(() => Array.from(document.querySelectorAll('.graphiql-container')).map((e) => e.parentElement?.className + ' | ' + e.className + ' | ' + (e as HTMLElement).innerText.slice(0, 200))));
    console.log('EDITORS', await page.evaluate(() => Array.from(document.querySelectorAll('.monaco-editor')).map((e) => (e.getAttribute('data-uri') ?? '') + ' => ' + (e.querySelector('.view-lines') as HTMLElement | null)?.innerText.slice(0, 300))));
    console.log('TABS', await page.evaluate(() => Array.from(document.querySelectorAll('.graphiql-tab, [role=tab]')).map((e) => (e as HTMLElement).innerText)));
    console.log('LS', await page.evaluate(() => JSON.stringify(Object.fromEntries(Object.entries(localStorage)).__proto__ ? Object.keys(localStorage) : [])));
    // The default document holds several operations, so the execute button opens a menu of them.
    await page.locator('.graphiql-execute-button').first().click();
    const menu = page.locator('.graphiql-dropdown-content[role="menu"]');
    await menu.waitFor({ timeout: 15_000 });
    await menu.getByRole('menuitem', { name: 'RefreshTransactions', exact: true }).click();

    const responseLines = page.locator('.graphiql-response .view-lines');
    const responseText = async () => ((await responseLines.count()) > 0 ? (await responseLines.first().innerText()).replace(/\u00a0/g, ' ') : '');
    await expect.poll(responseText, { timeout: 30_000, interval: 250 }).toContain('RefreshTransactionsSuccess');
    const text = await responseText();
    expect(text).toContain('"__typename": "RefreshTransactionsSuccess"');
    expect(text).toMatch(/"requestId": "[^"]+"/);

    const calls = refreshCalls();
    expect(calls).toHaveLength(1);
    expect(calls[0]?.status).toBe(200);
    expect(simulator.state.requests({ path: '/transactions/refresh' })).toHaveLength(1);

    await page.close();
    expect(blocked).toEqual([]);
  }, 90_000);
});
