/**
 * Persistent vault stores for tests that open one vault several times with different keys: PGlite
 * in a temporary data directory always, PostgreSQL in a schema of its own when DATABASE_URL is set.
 * PGlite allows one process per data directory, so a store is opened by one thing at a time.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openPglite, openPostgres, type SqlExecutor } from '../../src/vault/sql.js';
import type { RequirementName } from './needs.js';

export interface VaultStore {
  /** What openVault and the CLIs take: where the vault is (keys are added by the test). */
  readonly location: { readonly databaseUrl?: string; readonly dataDir?: string; readonly schema?: string };
  /** The same settings as the service's environment variables. */
  readonly env: Readonly<Record<string, string>>;
  /** A raw connection to the store, behind the vault's back (close it before opening the vault on PGlite). */
  raw(): Promise<SqlExecutor>;
  cleanup(): Promise<void>;
}

export interface StoreBackend {
  readonly name: string;
  /** What the machine must have for it (none: always runs); a suite skips with `needs(...requires)`. */
  readonly requires: readonly RequirementName[];
  create(): Promise<VaultStore>;
}

const DATABASE_URL = process.env.DATABASE_URL;

export const STORE_BACKENDS: readonly StoreBackend[] = [
  {
    name: 'PGlite (data directory)',
    requires: [],
    async create() {
      const dataDir = await mkdtemp(join(tmpdir(), 'vault-keys-'));
      return {
        location: { dataDir },
        env: { VAULT_DATA_DIR: dataDir },
        raw: () => openPglite(dataDir),
        cleanup: () => rm(dataDir, { recursive: true, force: true }),
      };
    },
  },
  {
    name: 'PostgreSQL (own schema)',
    requires: ['DATABASE_URL'],
    create() {
      const databaseUrl = DATABASE_URL ?? '';
      const schema = `vault_keys_test_${randomBytes(6).toString('hex')}`;
      return Promise.resolve({
        location: { databaseUrl, schema },
        env: { DATABASE_URL: databaseUrl, DATABASE_SCHEMA: schema },
        raw: () => openPostgres(databaseUrl, { schema }),
        async cleanup() {
          const admin = await openPostgres(databaseUrl);
          try {
            await admin.query(`drop schema if exists ${schema} cascade`);
          } finally {
            await admin.close();
          }
        },
      });
    },
  },
];

/** A fresh key as TOKEN_ENCRYPTION_KEY takes it. */
export const newKey = (): string => randomBytes(32).toString('base64');
