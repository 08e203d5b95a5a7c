/**
 * Picks the vault's backend and keys from configuration: PostgreSQL when a connection string is
 * given, else embedded PGlite (on disk with a data dir, in memory without).
 */
import { TokenCipher, parseEncryptionKey, splitKeyList } from './crypto.js';
import { DATABASE_URL_FORMAT, isPostgresUrl } from './database-url.js';
import { VaultConfigError, VaultKeyMismatchError, classifyPgliteFailure, classifyPostgresFailure } from './open-errors.js';
import { migrate, MIGRATIONS_DIGEST } from './migrations.js';
import { openPglite, openPostgres, type SqlExecutor } from './sql.js';
import { SqlTokenVault, prepareVault, type TokenVault } from './vault.js';

/** Where the vault lives and how it is encrypted; empty strings count as absent. */
export interface OpenVaultOptions {
  /** PostgreSQL connection string (DATABASE_URL); wins over `dataDir`. */
  databaseUrl?: string | null;
  /** PGlite data directory (VAULT_DATA_DIR); without it and without `databaseUrl` the vault is in memory. */
  dataDir?: string | null;
  /** 32 bytes as base64 or hex (TOKEN_ENCRYPTION_KEY): the current key; optional only for the in-memory vault. */
  encryptionKey?: string | null;
  /** Older keys still accepted for reading (TOKEN_ENCRYPTION_PREVIOUS_KEYS), during a key rotation. */
  previousEncryptionKeys?: readonly string[] | null;
  /** PostgreSQL schema for the tables (ignored by PGlite). */
  schema?: string;
  /** Called for each statement the opened vault sends (metrics). */
  onStatement?: () => void;
  /** PostgreSQL timeouts and pool size (see openPostgres). */
  connectTimeoutMs?: number;
  statementTimeoutMs?: number;
  poolSize?: number;
}

/** The vault's settings from the same variables the service reads (for the command-line tools). */
export function vaultOptionsFromEnv(env: NodeJS.ProcessEnv): OpenVaultOptions {
  const schema = present(env.DATABASE_SCHEMA);
  return {
    databaseUrl: env.DATABASE_URL ?? null,
    dataDir: env.VAULT_DATA_DIR ?? null,
    encryptionKey: env.TOKEN_ENCRYPTION_KEY ?? null,
    previousEncryptionKeys: splitKeyList(env.TOKEN_ENCRYPTION_PREVIOUS_KEYS),
    ...(schema !== null ? { schema } : {}),
  };
}

/**
 * The cipher for these options; VaultConfigError (naming the variable, never the value) for a
 * missing or malformed key. Checked before any connection is made.
 */
export function cipherFor(options: OpenVaultOptions): TokenCipher {
  const encryptionKey = present(options.encryptionKey);
  const previous = (options.previousEncryptionKeys ?? []).filter((key) => present(key) !== null);
  const inMemory = present(options.databaseUrl) === null && present(options.dataDir) === null;
  if (encryptionKey === null) {
    if (previous.length > 0) throw new VaultConfigError('TOKEN_ENCRYPTION_PREVIOUS_KEYS needs TOKEN_ENCRYPTION_KEY (the current key)');
    // Nothing outlives the process, so a random key loses nothing.
    if (inMemory) return TokenCipher.ephemeral();
    throw new VaultConfigError(
      'TOKEN_ENCRYPTION_KEY is required for a persistent vault (DATABASE_URL or VAULT_DATA_DIR); ' +
        'generate one with: openssl rand -base64 32',
    );
  }
  const current = parseKey(encryptionKey, 'TOKEN_ENCRYPTION_KEY');
  const older = previous.map((key, index) => parseKey(key, `TOKEN_ENCRYPTION_PREVIOUS_KEYS entry ${index + 1}`));
  try {
    return new TokenCipher(current, older);
  } catch (error) {
    throw new VaultConfigError((error as Error).message, { cause: error });
  }
}

/**
 * Opens the vault, applies migrations and checks the keys against it (VaultKeyMismatchError when
 * it holds data under a key that is not configured). A database that cannot be reached is a
 * VaultUnreachableError naming the cause; a malformed URL or key a VaultConfigError.
 */
export async function openVault(options: OpenVaultOptions): Promise<TokenVault> {
  return withDatabase(options, (db, cipher) =>
    SqlTokenVault.open(db, cipher, options.onStatement ? { onStatement: options.onStatement } : {}),
  );
}

/**
 * The prepared database and the cipher, for tools that work below the vault's API (key rotation).
 * Checked exactly as `openVault` checks; the caller closes `db`.
 */
export async function openVaultDatabase(options: OpenVaultOptions): Promise<{ db: SqlExecutor; cipher: TokenCipher }> {
  return withDatabase(options, async (db, cipher) => {
    await prepareVault(db, cipher);
    return { db, cipher };
  });
}

/** Opens the database and runs `use`; on failure closes it and throws a typed error where the cause is known. */
async function withDatabase<T>(options: OpenVaultOptions, use: (db: SqlExecutor, cipher: TokenCipher) => Promise<T>): Promise<T> {
  const databaseUrl = present(options.databaseUrl);
  const dataDir = present(options.dataDir);
  const cipher = cipherFor(options);
  if (databaseUrl !== null && !isPostgresUrl(databaseUrl)) throw new VaultConfigError(`DATABASE_URL ${DATABASE_URL_FORMAT}`);

  let db: SqlExecutor | null = null;
  try {
    db =
      databaseUrl !== null
        ? await openPostgres(databaseUrl, {
            ...(options.schema !== undefined ? { schema: options.schema } : {}),
            ...(options.connectTimeoutMs !== undefined ? { connectTimeoutMs: options.connectTimeoutMs } : {}),
            ...(options.statementTimeoutMs !== undefined ? { statementTimeoutMs: options.statementTimeoutMs } : {}),
            ...(options.poolSize !== undefined ? { max: options.poolSize } : {}),
          })
        : dataDir !== null
          ? await openPglite(dataDir)
          : // The scratch cluster's template already holds the migrations: each start spares ~150 ms of DDL.
            await openPglite(undefined, { prepare: (fresh) => migrate(fresh), variant: `vault-${MIGRATIONS_DIGEST}` });
    return await use(db, cipher);
  } catch (error) {
    await db?.close().catch(() => {});
    if (error instanceof VaultKeyMismatchError || error instanceof VaultConfigError) throw error;
    const known =
      databaseUrl !== null ? classifyPostgresFailure(error, databaseUrl) : dataDir !== null ? classifyPgliteFailure(error, dataDir) : null;
    throw known ?? error;
  }
}

function parseKey(text: string, variable: string): Buffer {
  try {
    return parseEncryptionKey(text);
  } catch (error) {
    throw new VaultConfigError(`${variable} is invalid: ${(error as Error).message}`, { cause: error });
  }
}

function present(value: string | null | undefined): string | null {
  return value === undefined || value === null || value.trim() === '' ? null : value;
}
