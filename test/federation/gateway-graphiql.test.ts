/**
 * `npm run supergraph`'s gateway, started as the script starts it: its GraphiQL works offline (the
 * page names no script or stylesheet outside the gateway, and the gateway serves every asset it
 * names), opens pre-filled with the demo token and a federated query, and that query works.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FEDERATED_EXAMPLE, startLocalSupergraph, type LocalSupergraph } from '../../scripts/supergraph.js';

let supergraph: LocalSupergraph;

beforeAll(async () => {
  supergraph = await startLocalSupergraph({ gatewayPort: 0, env: { NODE_ENV: 'test' }, logging: false });
}, 60_000);

afterAll(async () => {
  await supergraph?.close();
});

describe("the local supergraph's GraphiQL", () => {
  it('loads nothing from outside the gateway, and the gateway serves what it names', async () => {
    const response = await fetch(supergraph.gatewayUrl, { headers: { accept: 'text/html', 'accept-encoding': 'br, gzip' } });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toContain('text/html');
    const html = await response.text();
    // Absolute http(s) or protocol-relative URLs need the network (Hive Gateway's own page names a CDN).
    const references = [...html.matchAll(/<(?:script|link)\b[^>]*?\b(?:src|href)=["']?([^"'\s>]+)/gi)].map((m) => m[1] ?? '');
    expect(references.filter((url) => /^(https?:)?\/\//i.test(url))).toEqual([]);
    expect(references.length).toBeGreaterThanOrEqual(4);
    // Nor does the page name one anywhere else (its boot data, a worker URL).
    expect(html.match(/(https?:)?\/\/[\w.-]+\.[a-z]{2,}\//gi) ?? []).toEqual([]);

    const assets = [...new Set([...html.matchAll(/\/graphiql\/assets\/[\w.-]+/g)].map((m) => m[0]))];
    expect(assets.length).toBeGreaterThanOrEqual(6);
    for (const path of assets) {
      const asset = await fetch(new URL(path, supergraph.gatewayUrl), { headers: { 'accept-encoding': 'br' } });
      expect(asset.status, path).toBe(200);
      expect(asset.headers.get('cache-control'), path).toBe('public, max-age=31536000, immutable');
      await asset.arrayBuffer();
    }
    // Pre-filled: the demo token in the headers, and the federated example as the document.
    expect(html).toContain(`Bearer ${supergraph.demoToken ?? 'no demo token'}`);
    expect(html).toContain(JSON.stringify(FEDERATED_EXAMPLE).slice(1, 40).replace(/</g, '\\u003c'));
  });

  it('the query it opens on works through the gateway with the demo token', async () => {
    const response = await fetch(supergraph.gatewayUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${supergraph.demoToken ?? ''}` },
      body: JSON.stringify({ query: FEDERATED_EXAMPLE }),
    });
    const body = (await response.json()) as {
      data?: { user: { name: string; plaidItems: unknown[]; pinnedPlaidItem: { institutionName: string } | null } };
      errors?: unknown;
    };
    expect(body.errors).toBeUndefined();
    expect(body.data?.user.name).toBe('Demo Viewer');
    expect(body.data?.user.plaidItems).toHaveLength(8);
    expect(body.data?.user.pinnedPlaidItem?.institutionName).toBe('First Platypus Bank');
  });
});
