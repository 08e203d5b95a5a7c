/**
 * The simulator knows Plaid's errors on its own (src/simulator/plaid-errors.ts), as Plaid stands
 * apart from its clients; the client has its own catalogue (src/plaid/error-catalogue.ts). Written
 * separately from Plaid's docs, they must agree: a wrong entry on either side shows here.
 */
import { describe, expect, it } from 'vitest';
import { ERROR_CATALOGUE } from '../../src/plaid/error-catalogue.js';
import { plaidErrorFromResponse } from '../../src/plaid/errors.js';
import { plaidError } from '../../src/simulator/error-bodies.js';
import { PLAID_ERRORS } from '../../src/simulator/plaid-errors.js';

describe("the simulator's error table and the client's catalogue", () => {
  it.each(Object.entries(ERROR_CATALOGUE))('%s: the same error_type and HTTP status on both sides', (code, entry) => {
    const fact = PLAID_ERRORS[code];
    expect(fact, `the simulator does not know ${code}`).toBeDefined();
    expect({ type: fact?.[0], status: fact?.[1] }).toEqual({ type: entry.errorType, status: entry.status });
  });

  it.each(Object.keys(ERROR_CATALOGUE))('%s: what the simulator sends, the client reads back as that type, code and status', (code) => {
    const { status, body } = plaidError(code, 'req_123');
    const error = plaidErrorFromResponse(status, body);
    expect(error).toMatchObject({ errorType: ERROR_CATALOGUE[code]?.errorType, errorCode: code, status });
    expect(body.documentation_url).toMatch(/^https:\/\/plaid\.com\/docs\/errors\/[a-z-]+\/#[a-z_]+$/);
  });

  it('every simulator entry is a Plaid-shaped fact: a type ending in _ERROR or a known one, a 4xx/5xx status, a message', () => {
    for (const [code, [type, status, message]] of Object.entries(PLAID_ERRORS)) {
      expect(code).toMatch(/^[A-Z][A-Z0-9_]+$/);
      expect(type).toMatch(/^(?:[A-Z_]+_ERROR|INVALID_REQUEST|INVALID_INPUT|INVALID_RESULT|RATE_LIMIT_EXCEEDED)$/);
      expect(status).toBeGreaterThanOrEqual(400);
      expect(status).toBeLessThan(600);
      expect(typeof message).toBe('string');
    }
  });
});
