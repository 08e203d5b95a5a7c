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
      setRequestParser(async (req) => {
        // Read from the stream, not with req.text(): the fetch adapter's Request keeps what text()
        // read (the bytes and the string) until the request ends, 2 KiB for every refresh waiting
        // on Plaid. Counted here too, so a chunked body stops at the limit.
        const text = await readLimited(req, maxBytes);
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
