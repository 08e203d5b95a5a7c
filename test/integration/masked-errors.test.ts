/** Unexpected faults: masked for the client, logged with the request id the client is given. */
import { describe, expect, it } from 'vitest';
import { createApp, type Logger } from '../../src/app.js';
import type { Services } from '../../src/context.js';

describe('unexpected errors', () => {
  it('reach the client as "Unexpected error." with a request id, and the log has the details', async () => {
    const logged: { message: string; fields?: Record<string, unknown> }[] = [];
    const logger: Logger = {
      info: () => {},
      warn: () => {},
      error: (message, fields) => logged.push({ message, ...(fields ? { fields } : {}) }),
    };
    const services = {
      refresh: { refreshItem: () => Promise.reject(new Error('database exploded at row 42')) },
    } as unknown as Services;
    const app = createApp({ services, authenticate: () => Promise.resolve({ id: 'v1' }), logger });
    const response = await app.fetch('http://localhost/graphql', {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-request-id': 'req-abc' },
      body: JSON.stringify({ query: 'mutation { refreshIdentity(itemId: "i1") { __typename } }' }),
    });
    const body = (await response.json()) as { data: unknown; errors: { message: string; extensions: Record<string, unknown> }[] };
    expect(body.data).toEqual({ refreshIdentity: null });
    expect(body.errors[0]).toMatchObject({ message: 'Unexpected error.', extensions: { code: 'INTERNAL_SERVER_ERROR', requestId: 'req-abc' } });
    expect(JSON.stringify(body)).not.toContain('exploded');
    expect(logged).toHaveLength(1);
    expect(logged[0]?.fields).toMatchObject({ requestId: 'req-abc', path: 'refreshIdentity' });
    expect(String(logged[0]?.fields?.error)).toContain('database exploded');
  });
});
