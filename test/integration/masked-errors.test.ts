/** Unexpected faults: masked for the client, logged with the request id the client is given. */
import { describe, expect, it } from 'vitest';
import { createApp } from '../../src/app.js';
import type { Services } from '../../src/context.js';
import { memoryLogger } from '../helpers/logs.js';

describe('unexpected errors', () => {
  it('reach the client as "Unexpected error." with a request id, and the log has the details', async () => {
    const { logger, lines } = memoryLogger();
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
    expect(body.errors[0]).toMatchObject({
      message: 'Unexpected error.',
      extensions: { code: 'INTERNAL_SERVER_ERROR', requestId: 'req-abc' },
    });
    expect(JSON.stringify(body)).not.toContain('exploded');
    const logged = lines.filter((line) => line.msg === 'unexpected error');
    expect(logged).toHaveLength(1);
    expect(logged[0]).toMatchObject({ level: 'error', requestId: 'req-abc', path: 'refreshIdentity' });
    expect(JSON.stringify(logged[0]?.err)).toContain('database exploded');
    // The request's own line names the field, that it failed, and the masked code.
    expect(lines.find((line) => line.msg === 'graphql request')).toMatchObject({
      requestId: 'req-abc',
      operationType: 'mutation',
      fields: [{ field: 'refreshIdentity', result: 'ERROR' }],
      errors: ['INTERNAL_SERVER_ERROR'],
    });
  });
});
