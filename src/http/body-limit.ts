/**
 * Request body size limit for POST /graphql: a declared Content-Length over the limit is refused
 * before a byte is read, and JSON bodies are read as a stream and cut off at the limit, so a
 * chunked upload cannot make the process buffer more than `maxBytes`. Other content types must
 * declare their length (they are not what GraphQL clients send; yoga would buffer them whole).
 */
import { createGraphQLError, type Plugin } from 'graphql-yoga';

const JSON_TYPES = ['application/json', 'application/graphql+json'];

function tooLarge(maxBytes: number) {
  return createGraphQLError(`request body is larger than the limit of ${maxBytes} bytes`, {
    extensions: { code: 'PAYLOAD_TOO_LARGE', http: { status: 413 } },
  });
}

export function useBodyLimit(maxBytes: number): Plugin {
  return {
    onRequestParse({ request, setRequestParser }) {
      if (request.method !== 'POST') return;
      const declared = request.headers.get('content-length');
      if (declared !== null && Number(declared) > maxBytes) throw tooLarge(maxBytes);
      const contentType = (request.headers.get('content-type') ?? '').toLowerCase();
      if (!JSON_TYPES.some((type) => contentType.startsWith(type))) {
        if (declared === null) {
          throw createGraphQLError('Content-Length is required for this content type', {
            extensions: { code: 'LENGTH_REQUIRED', http: { status: 411 } },
          });
        }
        return;
      }
      // A subscription over SSE holds its request while it is open: its body is read from the stream,
      // so the fetch adapter keeps no copy of it (text() caches the bytes and the string on the request).
      const streaming = (request.headers.get('accept') ?? '').includes('text/event-stream');
      setRequestParser(async (req) => {
        // With a Content-Length (checked above) node's parser reads that many bytes and no more, so
        // the fetch adapter's own buffering is bounded; only a chunked body is read and counted here.
        const text = declared !== null && !streaming ? await req.text() : await readLimited(req, maxBytes);
        let body: unknown;
        try {
          body = JSON.parse(text);
        } catch {
          throw createGraphQLError('POST body sent invalid JSON.', { extensions: { code: 'BAD_REQUEST', http: { status: 400 } } });
        }
        if (typeof body !== 'object' || body === null) {
          throw createGraphQLError(`POST body is expected to be an object, got ${body === null ? 'null' : typeof body}`, {
            extensions: { code: 'BAD_REQUEST', http: { status: 400 } },
          });
        }
        return body;
      });
    },
  };
}

async function readLimited(request: Request, maxBytes: number): Promise<string> {
  if (!request.body) return '';
  const reader = request.body.getReader();
  const decoder = new TextDecoder();
  let size = 0;
  let text = '';
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > maxBytes) {
      await reader.cancel().catch(() => {});
      throw tooLarge(maxBytes);
    }
    text += decoder.decode(value, { stream: true });
  }
  return text + decoder.decode();
}
