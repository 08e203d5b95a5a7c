import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { VaultUnavailableError, isOutage, viaDatabase } from '../../src/vault/errors.js';

const dbError = (code: string) => Object.assign(new pg.DatabaseError('boom', 0, 'error'), { code });
const sys = (message: string, code?: string) => Object.assign(new Error(message), code ? { code } : {});

describe('vault errors: outage or bug, and whether a write may have landed', () => {
  it.each<[string, unknown, boolean, boolean | null]>([
    ['connection refused', sys('connect ECONNREFUSED 127.0.0.1:5432', 'ECONNREFUSED'), true, false],
    ["the pool's connect timeout", sys('timeout exceeded when trying to connect'), true, false],
    ['a connection timeout while connecting', sys('Connection terminated due to connection timeout'), true, false],
    ['statement_timeout (57014): the server cancelled it', dbError('57014'), true, false],
    ['too many connections (53300)', dbError('53300'), true, false],
    ['the server is starting up (57P03)', dbError('57P03'), true, false],
    ['a reset mid-statement: may have committed', sys('read ECONNRESET', 'ECONNRESET'), true, true],
    ['connection terminated unexpectedly', sys('Connection terminated unexpectedly'), true, true],
    ["the client's read timeout (a blackhole)", sys('Query read timeout'), true, true],
    ['admin shutdown (57P01)', dbError('57P01'), true, true],
    ['invalid byte sequence (22021): a bad value, a bug not an outage', dbError('22021'), false, null],
    ['a unique violation (23505)', dbError('23505'), false, null],
    ['a syntax error (42601)', dbError('42601'), false, null],
    ['a TypeError of our own', new TypeError('x is undefined'), false, null],
  ])('%s -> outage %s, may have written %s', async (_label, error, outage, mayHaveWritten) => {
    expect(isOutage(error)).toBe(outage);
    const thrown = await viaDatabase(() => Promise.reject(error as Error)).catch((e: unknown) => e);
    if (!outage) {
      expect(thrown).toBe(error);
      return;
    }
    expect(thrown).toBeInstanceOf(VaultUnavailableError);
    expect((thrown as VaultUnavailableError).mayHaveWritten).toBe(mayHaveWritten);
    expect((thrown as VaultUnavailableError).cause).toBe(error);
  });
});
