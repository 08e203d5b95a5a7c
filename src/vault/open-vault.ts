/**
 * Picks the vault's backend and key from configuration: PostgreSQL when a connection string is
 * given, else embedded PGlite (on disk with a data dir, in memory without).
 */
import { TokenCipher, parseEncryptionKey } from './crypto.js';
import { openPglite, openPostgres, type SqlExecutor } from './sql.js';
import { SqlTokenVault, type TokenVault } from './vault.js';

/** Where the vault lives and how it is encrypted; empty strings count as absent. */
export interface OpenVaultOptions {
  /** PostgreSQL connection string (DATABASE_URL); wins over `dataDir`. */
  databaseUrl?: string | null;
  /** PGlite data directory (VAULT_DATA_DIR); without it and without `databaseUrl` the vault is in memory. */
  dataDir?: string | null;
  /** 32 bytes as base64 or hex (TOKEN_ENCRYPTION_KEY); optional only for the in-memory vault. */
  encryptionKey?: string | null;
  /** PostgreSQL schema for the tables (ignored by PGlite). */
  schema?: string;
  /** PostgreSQL timeouts and pool size (see openPostgres). */
  connectTimeoutMs?: number;
  statementTimeoutMs?: number;
  poolSize?: number;
}

/** Opens the vault and applies migrations. The key is checked before any connection is made. */
export async function openVault(options: OpenVaultOptions): Promise<TokenVault> {
  const databaseUrl = present(options.databaseUrl);
  const dataDir = present(options.dataDir);
  const encryptionKey = present(options.encryptionKey);
  const inMemory = databaseUrl === null && dataDir === null;

  let cipher: TokenCipher;
  if (encryptionKey !== null) {
    try {
      cipher = new TokenCipher(parseEncryptionKey(encryptionKey));
    } catch (error) {
      throw new Error(`TOKEN_ENCRYPTION_KEY is invalid: ${(error as Error).message}`, { cause: error });
    }
  } else if (inMemory) {
    // Nothing outlives the process, so a random key loses nothing.
    cipher = TokenCipher.ephemeral();
  } else {
    throw new Error(
      'TOKEN_ENCRYPTION_KEY is required for a persistent vault (DATABASE_URL or VAULT_DATA_DIR); ' +
        'generate one with: openssl rand -base64 32',
    );
  }

  const db: SqlExecutor =
    databaseUrl !== null
      ? await openPostgres(databaseUrl, {
          ...(options.schema !== undefined ? { schema: options.schema } : {}),
          ...(options.connectTimeoutMs !== undefined ? { connectTimeoutMs: options.connectTimeoutMs } : {}),
          ...(options.statementTimeoutMs !== undefined ? { statementTimeoutMs: options.statementTimeoutMs } : {}),
          ...(options.poolSize !== undefined ? { max: options.poolSize } : {}),
        })
      : await openPglite(dataDir ?? undefined);
  try {
    return await SqlTokenVault.open(db, cipher);
  } catch (error) {
    await db.close().catch(() => {});
    throw error;
  }
}

function present(value: string | null | undefined): string | null {
  return value === undefined || value === null || value.trim() === '' ? null : value;
}
