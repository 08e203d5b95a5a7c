/**
 * A response body held in memory (GraphiQL's page and assets): hashed once, for its ETag and the
 * asset's file name, and compressed once per encoding on first use (brotli or gzip, whichever the
 * client's Accept-Encoding prefers), then answered from memory, or with a 304 when the client's
 * If-None-Match names it.
 */
import { createHash } from 'node:crypto';
import { promisify } from 'node:util';
import { brotliCompress, constants, gzip } from 'node:zlib';

export type ContentEncoding = 'br' | 'gzip' | 'identity';
type Bytes = Uint8Array<ArrayBuffer>;

const brotli = promisify(brotliCompress);
const gzipAsync = promisify(gzip);
/** Smaller bodies go as they are: compressing them saves less than the headers cost. */
const COMPRESS_FROM_BYTES = 512;
/**
 * Brotli 9, not 11: GraphiQL's 5 MB script takes 0.6 s at 9 and 9 s at 11 (on the 2-core CI
 * machine), for 9 % fewer bytes; either is done once per process, but a first visit waits for it.
 */
const BROTLI_QUALITY = 9;

export class StaticBody {
  readonly body: Bytes;
  /** Hex SHA-256 of the body, shortened: the ETag and the asset's name carry it. */
  readonly hash: string;
  private readonly encoded = new Map<Exclude<ContentEncoding, 'identity'>, Promise<Bytes>>();

  constructor(
    body: Bytes | string,
    readonly contentType: string,
  ) {
    this.body = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
    this.hash = createHash('sha256').update(this.body).digest('hex').slice(0, 20);
  }

  /** The encoding this body is sent in when the client prefers `wanted`. */
  encodingFor(wanted: ContentEncoding): ContentEncoding {
    return this.body.byteLength < COMPRESS_FROM_BYTES ? 'identity' : wanted;
  }

  /** The body in `encodingFor(wanted)`; each encoding is computed once. */
  async encodedAs(wanted: ContentEncoding): Promise<{ encoding: ContentEncoding; bytes: Bytes }> {
    const encoding = this.encodingFor(wanted);
    if (encoding === 'identity') return { encoding, bytes: this.body };
    let pending = this.encoded.get(encoding);
    if (!pending) {
      const text = this.contentType.startsWith('text/') || this.contentType.includes('javascript');
      pending =
        encoding === 'br'
          ? brotli(this.body, {
              params: {
                [constants.BROTLI_PARAM_QUALITY]: BROTLI_QUALITY,
                [constants.BROTLI_PARAM_SIZE_HINT]: this.body.byteLength,
                [constants.BROTLI_PARAM_MODE]: text ? constants.BROTLI_MODE_TEXT : constants.BROTLI_MODE_GENERIC,
              },
            })
          : gzipAsync(this.body);
      // A failure is not kept: the next request tries again.
      pending.catch(() => this.encoded.delete(encoding));
      this.encoded.set(encoding, pending);
    }
    return { encoding, bytes: await pending };
  }

  /** Strong ETag per encoding: the bytes differ, so caches must not mix them up. */
  etag(encoding: ContentEncoding): string {
    return encoding === 'identity' ? `"${this.hash}"` : `"${this.hash}-${encoding}"`;
  }

  /** Whether If-None-Match names this body, in any encoding (the content is the same). */
  matches(ifNoneMatch: string | null): boolean {
    if (ifNoneMatch === null) return false;
    return ifNoneMatch.split(',').some((tag) => {
      const bare = tag.trim().replace(/^W\//, '');
      return bare === '*' || bare === `"${this.hash}"` || bare.startsWith(`"${this.hash}-`);
    });
  }
}

/** brotli if the client takes it (and not less gladly than gzip), else gzip, else identity. */
export function preferredEncoding(acceptEncoding: string | null): ContentEncoding {
  if (!acceptEncoding) return 'identity';
  const weights = new Map<string, number>();
  for (const part of acceptEncoding.split(',')) {
    const [name = '', ...params] = part.split(';').map((s) => s.trim().toLowerCase());
    const q = params.find((p) => p.startsWith('q='));
    const weight = q === undefined ? 1 : Number(q.slice(2));
    if (name) weights.set(name, Number.isFinite(weight) ? weight : 0);
  }
  const weight = (name: string) => weights.get(name) ?? weights.get('*') ?? 0;
  if (weight('br') > 0 && weight('br') >= weight('gzip')) return 'br';
  if (weight('gzip') > 0) return 'gzip';
  return 'identity';
}

export interface StaticResponseOptions {
  readonly cacheControl: string;
  /** Request headers besides Accept-Encoding that choose the answer (for the Vary header). */
  readonly varyAlso?: readonly string[];
}

/** The response for `request`: 304 when its If-None-Match names the body, else the body in its preferred encoding. */
export async function staticResponse(
  body: StaticBody,
  request: Request,
  fetchAPI: { readonly Response: typeof Response },
  options: StaticResponseOptions,
): Promise<Response> {
  const wanted = preferredEncoding(request.headers.get('accept-encoding'));
  const common = {
    'cache-control': options.cacheControl,
    vary: ['Accept-Encoding', ...(options.varyAlso ?? [])].join(', '),
    'x-content-type-options': 'nosniff',
  };
  if (body.matches(request.headers.get('if-none-match'))) {
    return new fetchAPI.Response(null, { status: 304, headers: { ...common, etag: body.etag(body.encodingFor(wanted)) } });
  }
  const { encoding, bytes } = await body.encodedAs(wanted);
  return new fetchAPI.Response(request.method === 'HEAD' ? null : bytes, {
    status: 200,
    headers: {
      ...common,
      'content-type': body.contentType,
      'content-length': String(bytes.byteLength),
      etag: body.etag(encoding),
      ...(encoding === 'identity' ? {} : { 'content-encoding': encoding }),
    },
  });
}
