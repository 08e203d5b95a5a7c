import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/config.js';
import { listenFailure, startupFailureText, startupSecrets } from '../../src/startup-failure.js';
import { databaseTarget } from '../../src/vault/database-url.js';
import { VaultKeyMismatchError, classifyPostgresFailure } from '../../src/vault/open-errors.js';

const URL_WITH_PASSWORD = 'postgres://vault:pa55-word-long@db.internal:6543/plaid?sslmode=require';

function databaseError(code: string, message: string): pg.DatabaseError {
  const error = new pg.DatabaseError(message, message.length, 'error');
  error.code = code;
  return error;
}

function systemError(code: string): Error {
  return Object.assign(new Error(`connect ${code} 10.0.0.1:6543`), { code });
}

describe('start-up failure text', () => {
  it('is one line for known causes', () => {
    expect(startupFailureText(new ConfigError(['DATABASE_URL: bad', 'PORT: bad']))).toBe(
      'start-up failed: invalid configuration: DATABASE_URL: bad; PORT: bad',
    );
    expect(startupFailureText(new VaultKeyMismatchError('wrong encryption key: x'))).toBe('start-up failed: wrong encryption key: x');
    const listen = listenFailure(Object.assign(new Error('listen EADDRINUSE'), { code: 'EADDRINUSE' }), '::', 4000);
    expect(startupFailureText(listen)).toBe('start-up failed: cannot listen on [::]:4000: the port is already in use (PORT)');
    expect(listenFailure(new Error('other'), '0.0.0.0', 1)).toBeNull();
  });

  it('keeps the stack of an unexpected error, scrubbed of the configured secrets', () => {
    const env = {
      DATABASE_URL: URL_WITH_PASSWORD,
      TOKEN_ENCRYPTION_KEY: 'k'.repeat(44),
      TOKEN_ENCRYPTION_PREVIOUS_KEYS: `${'p'.repeat(44)},${'q'.repeat(44)}`,
    };
    const text = startupFailureText(new Error(`boom near ${URL_WITH_PASSWORD} with ${'q'.repeat(44)}`), startupSecrets(env));
    expect(text).toMatch(/^start-up failed \(unexpected error\): Error: boom near \[REDACTED\] with \[REDACTED\]\n\s+at /);
    expect(text).not.toContain('pa55-word-long');
  });
});

describe('classifyPostgresFailure', () => {
  it.each<[string, unknown, string]>([
    ['a missing database', databaseError('3D000', 'database "plaid" does not exist'), 'database "plaid" does not exist (DATABASE_URL)'],
    [
      'a wrong password',
      databaseError('28P01', 'password authentication failed for user "vault"'),
      'password authentication failed for user "vault" (DATABASE_URL)',
    ],
    [
      'a server starting up',
      databaseError('57P03', 'the database system is starting up'),
      'the database system is starting up (DATABASE_URL)',
    ],
    [
      'a connection exception',
      databaseError('08006', 'connection failure'),
      'the database at db.internal:6543/plaid refused the connection: connection failure (SQLSTATE 08006) (DATABASE_URL)',
    ],
    ['refused', systemError('ECONNREFUSED'), 'cannot connect to the database at db.internal:6543/plaid: connection refused (DATABASE_URL)'],
    [
      'an unknown host',
      systemError('ENOTFOUND'),
      'cannot connect to the database at db.internal:6543/plaid: host not found (DATABASE_URL)',
    ],
    [
      'every address refused',
      new AggregateError([systemError('ECONNREFUSED'), systemError('ECONNREFUSED')]),
      'cannot connect to the database at db.internal:6543/plaid: connection refused (DATABASE_URL)',
    ],
    [
      'a connect timeout',
      new Error('Connection terminated due to connection timeout'),
      'cannot connect to the database at db.internal:6543/plaid: no answer in time (DATABASE_URL)',
    ],
  ])('names %s in one line without the password', (_label, error, message) => {
    const classified = classifyPostgresFailure(error, URL_WITH_PASSWORD);
    expect(classified?.message).toBe(message);
    expect(classified?.variable).toBe('DATABASE_URL');
  });

  it('leaves other faults (a failing migration, a bug) to be shown whole', () => {
    expect(classifyPostgresFailure(databaseError('42601', 'syntax error at or near "x"'), URL_WITH_PASSWORD)).toBeNull();
    expect(classifyPostgresFailure(databaseError('57014', 'canceling statement due to statement timeout'), URL_WITH_PASSWORD)).toBeNull();
    expect(classifyPostgresFailure(new TypeError('x is not a function'), URL_WITH_PASSWORD)).toBeNull();
  });

  it('databaseTarget shows host, port and database only', () => {
    expect(databaseTarget(URL_WITH_PASSWORD)).toBe('db.internal:6543/plaid');
    expect(databaseTarget('postgres:///vault?host=/run/postgresql')).toBe('localhost:5432/vault');
    expect(databaseTarget('not a url')).toBe('the database');
  });
});
