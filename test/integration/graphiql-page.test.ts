/**
 * GraphiQL over HTTP: a small page (it carries this start's token and defaults, so it is
 * revalidated every time) and its assets apart under /graphiql/assets/<name>-<hash>.<ext>, compressed
 * as the client asks and cached for a year, with ETags and 304s. Nothing is loaded from elsewhere.
 */
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { preferredEncoding } from '../../src/http/static-body.js';
import type { Runtime } from '../../src/runtime.js';
import { startTestService } from '../helpers/service.js';

let runtime: Runtime;

beforeAll(async () => {
  ({ runtime } = await startTestService());
}, 60_000);

afterAll(async () => {
  await runtime?.close();
});

const get = (path: string, headers: Record<string, string> = {}, method = 'GET') =>
  runtime.app.fetch(`http://localhost${path}`, { method, headers });
const page = (headers: Record<string, string> = {}) => get('/graphql', { accept: 'text/html', ...headers });

/** The asset URLs the page names: stylesheet, scripts, favicon, and the workers in its boot data. */
function assetPaths(html: string): string[] {
  return [...new Set([...html.matchAll(/\/graphiql\/assets\/[\w.-]+/g)].map((m) => m[0]))];
}

const decode = (bytes: Buffer, encoding: string | null) =>
  encoding === 'br' ? brotliDecompressSync(bytes) : encoding === 'gzip' ? gunzipSync(bytes) : bytes;

describe('the GraphiQL page', () => {
  it('is small, revalidated every time, and names only our own assets', async () => {
    const response = await page();
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(response.headers.get('cache-control')).toBe('private, no-cache');
    expect(response.headers.get('vary')).toBe('Accept-Encoding, Accept');
    expect(response.headers.get('etag')).toMatch(/^"[0-9a-f]{20}"$/);
    const html = await response.text();
    expect(Buffer.byteLength(html)).toBeLessThan(50_000);
    // No script, stylesheet or icon from anywhere else.
    expect(html).not.toMatch(/<(script|link)[^>]+(src|href)="(https?:)?\/\//i);
    const paths = assetPaths(html);
    expect(paths.filter((p) => p.endsWith('.js'))).toHaveLength(5); // GraphiQL, boot, three Monaco workers
    expect(paths.filter((p) => p.endsWith('.css'))).toHaveLength(1);
    // Pre-filled as before: the demo token and the healthy demo Item.
    expect(html).toContain(runtime.demo?.token);
    expect(html).toContain(runtime.demo?.fixtures.items.healthy.itemId);
  });

  it('is compressed when asked, and answers 304 to its ETag', async () => {
    const plain = await (await page()).arrayBuffer();
    for (const encoding of ['br', 'gzip']) {
      const response = await page({ 'accept-encoding': encoding });
      expect(response.headers.get('content-encoding')).toBe(encoding);
      expect(decode(Buffer.from(await response.arrayBuffer()), encoding).equals(Buffer.from(plain))).toBe(true);
    }
    const etag = (await page()).headers.get('etag') ?? '';
    const revalidated = await page({ 'if-none-match': etag });
    expect(revalidated.status).toBe(304);
    expect(await revalidated.text()).toBe('');
  });

  it('serves every asset compressed as asked, cached for a year, with an ETag and 304 on If-None-Match', async () => {
    const paths = assetPaths(await (await page()).text());
    for (const path of paths) {
      const plain = await get(path);
      expect(plain.status, path).toBe(200);
      expect(plain.headers.get('cache-control'), path).toBe('public, max-age=31536000, immutable');
      expect(plain.headers.get('content-encoding'), path).toBeNull();
      const identity = Buffer.from(await plain.arrayBuffer());
      expect(plain.headers.get('content-length'), path).toBe(String(identity.byteLength));
      // The name carries the content's hash, so a new build gets new URLs.
      expect(path).toContain(/"([0-9a-f]{20})"/.exec(plain.headers.get('etag') ?? '')?.[1]);

      for (const [accept, expected] of [
        ['gzip, deflate, br, zstd', 'br'],
        ['gzip', 'gzip'],
        ['br;q=0.5, gzip', 'gzip'],
      ] as const) {
        const response = await get(path, { 'accept-encoding': accept });
        const bytes = Buffer.from(await response.arrayBuffer());
        const encoding = response.headers.get('content-encoding');
        if (identity.byteLength >= 512) {
          expect(encoding, `${path} for ${accept}`).toBe(expected);
          expect(bytes.byteLength, path).toBeLessThan(identity.byteLength);
        }
        // Buffer.equals: toEqual compares 5 MB element by element.
        expect(decode(bytes, encoding).equals(identity), path).toBe(true);
        expect(response.headers.get('vary'), path).toBe('Accept-Encoding');

        const revalidated = await get(path, { 'accept-encoding': accept, 'if-none-match': response.headers.get('etag') ?? '' });
        expect(revalidated.status, path).toBe(304);
        expect(revalidated.headers.get('etag')).toBe(response.headers.get('etag'));
      }
    }
    const script = paths.find((p) => p.includes('/graphiql-') && p.endsWith('.js')) ?? '';
    const head = await get(script, { 'accept-encoding': 'br' }, 'HEAD');
    expect(head.status).toBe(200);
    expect(head.headers.get('content-encoding')).toBe('br');
    expect(await head.text()).toBe('');
  });

  it('answers 404 for an asset it does not have, and nothing under /graphiql/assets/ when GraphiQL is off', async () => {
    expect((await get('/graphiql/assets/graphiql-0000.js')).status).toBe(404);
    const { runtime: off } = await startTestService({ GRAPHIQL: 'false' });
    try {
      const paths = assetPaths(await (await page()).text());
      const response = await off.app.fetch(`http://localhost${paths[0] ?? ''}`);
      expect(response.status).toBe(404);
      expect(await response.text()).not.toContain('YogaGraphiQL');
    } finally {
      await off.close();
    }
  });
});

describe('Accept-Encoding', () => {
  it.each([
    [null, 'identity'],
    ['', 'identity'],
    ['identity', 'identity'],
    ['gzip, deflate', 'gzip'],
    ['gzip, deflate, br, zstd', 'br'],
    ['br;q=0, gzip', 'gzip'],
    ['gzip;q=1.0, br;q=0.8', 'gzip'],
    ['*', 'br'],
    ['*;q=0', 'identity'],
    ['GZIP', 'gzip'],
  ] as const)('%s -> %s', (header, expected) => {
    expect(preferredEncoding(header)).toBe(expected);
  });
});
