/** Embedded mode's demo token stays usable whatever AUTH_MAX_TOKEN_LIFETIME_SECONDS allows. */
import { describe, expect, it } from 'vitest';
import { decodeJwt } from 'jose';
import { ViewerDocument } from '../../operations/generated/graphql.js';
import { execute, startTestService } from '../helpers/service.js';

describe('the demo token', () => {
  it('lives 12 h, or less when the maximum token lifetime is shorter, and signs in either way', async () => {
    const { runtime } = await startTestService({ AUTH_MAX_TOKEN_LIFETIME_SECONDS: '3600' });
    try {
      const token = runtime.demo?.token;
      if (!token) throw new Error('embedded mode has a demo token');
      const { iat = 0, exp = 0 } = decodeJwt(token);
      expect(exp - iat).toBe(3_600);
      const response = await execute(runtime, ViewerDocument, {}, token);
      expect(response.errors).toBeUndefined();
      expect(response.data?.viewer.id).toBe('demo');
    } finally {
      await runtime.close();
    }
  });
});
