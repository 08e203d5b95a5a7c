/**
 * The real process (`src/main.ts`) refuses to start on a known fault with exit code 1 and one line
 * on stderr that names the cause and the variable: no stack, no password, no key. A wrong
 * encryption key, a malformed DATABASE_URL, a database that does not exist (PostgreSQL only), an
 * unreachable one, a Redis that refuses connections, and a port already in use.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keyIdOf, parseEncryptionKey } from '../../src/vault/crypto.js';
import { openVault } from '../../src/vault/open-vault.js';
import { runServiceUntilExit, type ExitedService } from '../helpers/service-process.js';
import { needs } from '../helpers/needs.js';

const DATABASE_URL = process.env.DATABASE_URL;
const KEY = randomBytes(32).toString('base64');

/** Development mode (embedded Plaid), nothing inherited that would change the vault or the guard. */
function serviceEnv(overrides: Record<string, string>): NodeJS.ProcessEnv {
  return {
    ...process.env,
    NODE_ENV: 'development',
    PORT: '0',
    LOG_LEVEL: 'warn',
    DATABASE_URL: '',
    DATABASE_SCHEMA: '',
    VAULT_DATA_DIR: '',
    REDIS_URL: '',
    ...overrides,
  };
}

function expectOneLineRefusal(result: ExitedService, expected: RegExp | string, secrets: readonly string[] = []): void {
  const lines = result.stderr.split('\n').filter((line) => line.trim() !== '');
  expect(lines, result.stderr).toHaveLength(1);
  if (typeof expected === 'string') expect(lines[0]).toBe(expected);
  else expect(lines[0]).toMatch(expected);
  expect(result.stderr).not.toMatch(/^\s+at /m);
  expect(result.code).toBe(1);
  for (const secret of secrets) expect(result.stderr + result.stdout).not.toContain(secret);
}

describe('start-up refusals (the real process)', () => {
  let dataDir: string;
  let writtenWith: string;
  beforeAll(async () => {
    // A vault on disk holding an Item written under another key.
    dataDir = await mkdtemp(join(tmpdir(), 'refusal-vault-'));
    writtenWith = randomBytes(32).toString('base64');
    const vault = await openVault({ dataDir, encryptionKey: writtenWith });
    await vault.saveItem({
      viewerId: 'v',
      itemId: 'i',
      accessToken: 'access-sandbox-x',
      institutionId: 'ins_1',
      institutionName: 'Bank',
      products: [],
    });
    await vault.close();
  });
  afterAll(async () => {
    await rm(dataDir, { recursive: true, force: true });
  });

  it('a wrong TOKEN_ENCRYPTION_KEY for the vault', async () => {
    const result = await runServiceUntilExit(serviceEnv({ VAULT_DATA_DIR: dataDir, TOKEN_ENCRYPTION_KEY: KEY }));
    const [written, configured] = [writtenWith, KEY].map((key) => keyIdOf(parseEncryptionKey(key)));
    expectOneLineRefusal(
      result,
      new RegExp(
        `^start-up failed: wrong encryption key: the vault holds data written under key id ${written}\\b.*configured: ${configured}\\b`,
      ),
      [KEY, writtenWith],
    );
  });

  it.each(['postgres://::nonsense', 'not a url'])('a malformed DATABASE_URL (%s)', async (url) => {
    const result = await runServiceUntilExit(serviceEnv({ DATABASE_URL: url, TOKEN_ENCRYPTION_KEY: KEY }));
    expectOneLineRefusal(
      result,
      'start-up failed: invalid configuration: DATABASE_URL: must be a postgres:// or postgresql:// URL, e.g. postgres://user:password@host:5432/database',
      [url, KEY],
    );
  });

  it('a database that does not exist', needs('DATABASE_URL'), async () => {
    const url = new URL(DATABASE_URL ?? '');
    url.pathname = '/does_not_exist_xyz';
    // The server trusts the connection, so the password is never checked: it must still not be printed.
    url.password = 'hunter2-never-printed';
    const result = await runServiceUntilExit(serviceEnv({ DATABASE_URL: url.href, TOKEN_ENCRYPTION_KEY: KEY }));
    expectOneLineRefusal(result, 'start-up failed: database "does_not_exist_xyz" does not exist (DATABASE_URL)', [
      'hunter2-never-printed',
      KEY,
    ]);
  });

  it('a database that refuses connections', async () => {
    const result = await runServiceUntilExit(
      serviceEnv({ DATABASE_URL: 'postgres://vault:s3cret-pw@127.0.0.1:1/vault', TOKEN_ENCRYPTION_KEY: KEY }),
    );
    expectOneLineRefusal(
      result,
      'start-up failed: cannot connect to the database at 127.0.0.1:1/vault: connection refused (DATABASE_URL)',
      ['s3cret-pw', KEY],
    );
  });

  it('a Redis that refuses connections', async () => {
    const result = await runServiceUntilExit(serviceEnv({ REDIS_URL: 'redis://:redis-pw-secret@127.0.0.1:1' }));
    expectOneLineRefusal(result, 'start-up failed: cannot connect to Redis at 127.0.0.1:1: ECONNREFUSED (REDIS_URL)', ['redis-pw-secret']);
  });

  describe('a PORT something else listens on', () => {
    let taken: Server;
    let port: number;
    beforeAll(async () => {
      taken = createServer();
      await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
      const address = taken.address();
      if (address === null || typeof address === 'string') throw new Error('no port');
      port = address.port;
    });
    afterAll(async () => {
      await new Promise<void>((resolve) => taken.close(() => resolve()));
    });

    it('is refused after closing what was opened', async () => {
      const result = await runServiceUntilExit(serviceEnv({ HOST: '127.0.0.1', PORT: String(port) }));
      expectOneLineRefusal(result, `start-up failed: cannot listen on 127.0.0.1:${port}: the port is already in use (PORT)`);
    });
  });
});
