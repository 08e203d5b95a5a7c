import { describe, expect, it } from 'vitest';
import { PlaidConnectionFailedError, PlaidConnectionResetError, PlaidTimeoutError, transportErrorFrom } from '../../src/plaid/errors.js';

const withCode = (code: string, message = code) => Object.assign(new Error(message), { code });

describe('transportErrorFrom: undici failures normalised once', () => {
  it.each([
    ['ECONNREFUSED', withCode('ECONNREFUSED'), PlaidConnectionFailedError, false],
    ['ENOTFOUND', withCode('ENOTFOUND'), PlaidConnectionFailedError, false],
    ['UND_ERR_CONNECT_TIMEOUT', withCode('UND_ERR_CONNECT_TIMEOUT'), PlaidConnectionFailedError, false],
    [
      'refused, wrapped in a TypeError cause',
      new TypeError('fetch failed', { cause: withCode('ECONNREFUSED') }),
      PlaidConnectionFailedError,
      false,
    ],
    ['ECONNRESET', withCode('ECONNRESET'), PlaidConnectionResetError, true],
    ['UND_ERR_SOCKET (other side closed)', withCode('UND_ERR_SOCKET'), PlaidConnectionResetError, true],
    ['EPIPE', withCode('EPIPE'), PlaidConnectionResetError, true],
    ['an error with no code', new Error('???'), PlaidConnectionResetError, true],
    ['UND_ERR_HEADERS_TIMEOUT', withCode('UND_ERR_HEADERS_TIMEOUT'), PlaidTimeoutError, true],
    ['AbortSignal.timeout', new DOMException('The operation was aborted due to timeout', 'TimeoutError'), PlaidTimeoutError, true],
  ])('%s', (_label, raw, Class, mayHaveRun) => {
    const error = transportErrorFrom(raw, 1_000);
    expect(error).toBeInstanceOf(Class);
    expect(error.mayHaveRun).toBe(mayHaveRun);
  });
});
