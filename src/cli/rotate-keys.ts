/**
 * Re-encrypts the vault under the current key (`npm run vault:rotate-keys [-- --batch-size N]`):
 * every access token and Plaid user id written under an older key (TOKEN_ENCRYPTION_PREVIOUS_KEYS),
 * or before key ids were recorded, is rewritten under TOKEN_ENCRYPTION_KEY. Same variables as the
 * service (DATABASE_URL or VAULT_DATA_DIR, DATABASE_SCHEMA, the keys); safe to run while it serves
 * and to run again. Prints counts and key ids only, never a token, a user id or a key.
 *
 * Exit code 0: no value uses an old key any more (those keys can be removed from the configuration);
 * 2: some still do (changed meanwhile, or undecryptable), see the output; 1: it could not run.
 */
import { keyIdOf, parseEncryptionKey, splitKeyList } from '../vault/crypto.js';
import { rotateKeys, type ColumnRotation } from '../vault/key-rotation.js';
import { openVaultDatabase, vaultOptionsFromEnv } from '../vault/open-vault.js';
import type { SqlExecutor } from '../vault/sql.js';
import { recordedKeys } from '../vault/key-registry.js';
import { isEntryPoint } from './is-entry-point.js';

const USAGE = 'usage: vault:rotate-keys [--batch-size N]';
/** A progress line at most this often, so a large vault shows it is moving without flooding the terminal. */
const PROGRESS_INTERVAL_MS = 5_000;

export interface CliOutput {
  log(line: string): void;
  error(line: string): void;
}

export async function main(args: readonly string[], env: NodeJS.ProcessEnv = process.env, out: CliOutput = console): Promise<number> {
  const batchSize = parseArgs(args);
  if (batchSize === null) {
    out.error(USAGE);
    return 1;
  }
  if (!env.DATABASE_URL && !env.VAULT_DATA_DIR) {
    out.error('key rotation failed: set DATABASE_URL or VAULT_DATA_DIR (the vault the service uses)');
    return 1;
  }
  let db: SqlExecutor | undefined;
  try {
    // Opens and checks exactly as the service does: a vault holding data under an unconfigured key is refused.
    const opened = await openVaultDatabase(vaultOptionsFromEnv(env));
    db = opened.db;
    const labels = keyLabels(env);
    const label = (keyId: string) => `key id ${keyId}${labels.has(keyId) ? ` (${labels.get(keyId) ?? ''})` : ''}`;
    out.log(`current ${label(opened.cipher.currentKeyId)}`);

    let lastProgress = Date.now();
    const report = await rotateKeys(db, opened.cipher, {
      ...(batchSize !== undefined ? { batchSize } : {}),
      onBatch: (progress) => {
        if (Date.now() - lastProgress < PROGRESS_INTERVAL_MS) return;
        lastProgress = Date.now();
        out.log(`  ${progress.column}: ${progress.reencrypted} re-encrypted so far`);
      },
    });
    for (const column of report.columns) out.log(describeColumn(column));

    const stillRecorded = new Set((await recordedKeys(db)).map((key) => key.keyId));
    let incomplete = false;
    for (const keyId of opened.cipher.keyIds) {
      if (keyId === report.currentKeyId) continue;
      const left = report.remaining[keyId] ?? 0;
      if (left > 0) {
        incomplete = true;
        out.log(`${label(keyId)}: ${left} value(s) still use it (changed meanwhile or do not decrypt); run again before removing it`);
      } else if (stillRecorded.has(keyId)) {
        incomplete = true;
        out.log(`${label(keyId)}: a value was written under it while this ran; run again before removing it`);
      } else {
        out.log(`${label(keyId)}: no value uses it any more; it can be removed from TOKEN_ENCRYPTION_PREVIOUS_KEYS`);
      }
    }
    const legacy = report.remaining.v1 ?? 0;
    if (legacy > 0) {
      incomplete = true;
      out.log(`${legacy} value(s) without a key id remain: no configured key decrypts them`);
    }
    for (const [keyId, left] of Object.entries(report.remaining)) {
      // Under a key id that is neither configured nor recorded: altered or foreign values.
      if (keyId === 'v1' || opened.cipher.hasKey(keyId)) continue;
      incomplete = true;
      out.log(`${label(keyId)}: ${left} value(s) name this key, which is not configured; they cannot be read`);
    }
    out.log(
      incomplete ? 'not finished: some values are not under the current key (see above)' : 'done: every value is under the current key',
    );
    return incomplete ? 2 : 0;
  } catch (error) {
    out.error(`key rotation failed: ${error instanceof Error ? error.message : String(error)}`);
    return 1;
  } finally {
    await db?.close();
  }
}

function describeColumn(column: ColumnRotation): string {
  const parts = [`${column.reencrypted} re-encrypted`];
  if (column.changedMeanwhile > 0) parts.push(`${column.changedMeanwhile} changed meanwhile (left to the writer)`);
  if (column.undecryptable > 0) parts.push(`${column.undecryptable} do not decrypt with any configured key (left as they are)`);
  return `${column.column}: ${parts.join(', ')}`;
}

/** Which variable holds which key id, so the output says which entry to remove. Keys were validated when the vault opened. */
function keyLabels(env: NodeJS.ProcessEnv): Map<string, string> {
  const labels = new Map<string, string>();
  const add = (text: string, name: string) => {
    const keyId = keyIdOf(parseEncryptionKey(text));
    if (!labels.has(keyId)) labels.set(keyId, name);
  };
  if (env.TOKEN_ENCRYPTION_KEY) add(env.TOKEN_ENCRYPTION_KEY, 'TOKEN_ENCRYPTION_KEY');
  splitKeyList(env.TOKEN_ENCRYPTION_PREVIOUS_KEYS).forEach((text, index) => add(text, `TOKEN_ENCRYPTION_PREVIOUS_KEYS entry ${index + 1}`));
  return labels;
}

/** The batch size (undefined: the default), or null for arguments it does not understand. */
function parseArgs(args: readonly string[]): number | undefined | null {
  if (args.length === 0) return undefined;
  const [flag, value, ...rest] = args.length === 1 && args[0]?.startsWith('--batch-size=') ? ['--batch-size', args[0].slice(13)] : args;
  if (flag !== '--batch-size' || value === undefined || rest.length > 0 || !/^\d+$/.test(value)) return null;
  const size = Number(value);
  return size >= 1 && size <= 100_000 ? size : null;
}

if (await isEntryPoint(import.meta.url)) process.exitCode = await main(process.argv.slice(2));
