/**
 * Imports Items linked elsewhere (access tokens) and viewers' Plaid user ids into the vault:
 *
 *   tsx src/cli/import-vault.ts tokens.json
 *
 * The file is `{ "items": [{ viewerId, itemId, accessToken, institutionId, institutionName?, products? }],
 * "users"?: [{ viewerId, plaidUserId }] }`. The vault comes from the service's variables (DATABASE_URL /
 * VAULT_DATA_DIR, DATABASE_SCHEMA, TOKEN_ENCRYPTION_KEY / _PREVIOUS_KEYS). Nothing it prints ever
 * holds a token or a user id.
 */
import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { isEntryPoint } from './is-entry-point.js';
import { openVault, vaultOptionsFromEnv } from '../vault/open-vault.js';
import type { SaveItemInput, TokenVault } from '../vault/vault.js';

const text = z.string().trim().min(1, 'must be a non-empty string');

const ImportFile = z.strictObject({
  items: z.array(
    z.strictObject({
      viewerId: text,
      itemId: text,
      accessToken: text,
      institutionId: text,
      institutionName: text.optional(),
      products: z.array(text).optional(),
    }),
  ),
  users: z.array(z.strictObject({ viewerId: text, plaidUserId: text })).optional(),
});

/** The file did not validate; `problems` name the entry and field (`items[2].accessToken: ...`), never a value. */
export class ImportError extends Error {
  override name = 'ImportError';

  constructor(readonly problems: readonly string[]) {
    super(`invalid import file:\n${problems.map((problem) => `  ${problem}`).join('\n')}`);
  }
}

/** What was imported. */
export interface ImportSummary {
  readonly items: number;
  readonly users: number;
  readonly itemIds: readonly string[];
}

/** A validated import file, ready to write. */
export interface ParsedImport {
  readonly items: readonly SaveItemInput[];
  readonly users: readonly { readonly viewerId: string; readonly plaidUserId: string }[];
}

/** Validates the whole file; throws ImportError listing every problem. */
export function parseImportFile(json: unknown): ParsedImport {
  const parsed = ImportFile.safeParse(json);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${formatPath(issue.path)}: ${issue.message}`);
    throw new ImportError(redact(problems, json));
  }
  const { items, users = [] } = parsed.data;

  const problems = [
    ...duplicates(
      items.map((item) => item.itemId),
      'items',
      'itemId',
    ),
    ...duplicates(
      users.map((user) => user.viewerId),
      'users',
      'viewerId',
    ),
  ];
  if (problems.length > 0) throw new ImportError(redact(problems, json));

  return {
    items: items.map((item) => ({
      viewerId: item.viewerId,
      itemId: item.itemId,
      accessToken: item.accessToken,
      institutionId: item.institutionId,
      // Plaid may not name the institution; its id is better than an empty label.
      institutionName: item.institutionName ?? item.institutionId,
      products: item.products ?? [],
    })),
    users,
  };
}

/**
 * Validates the whole file before writing anything, then saves every Item in one transaction (all
 * or nothing) and, after it commits, the user ids. Throws ImportError for an invalid file.
 */
export async function importTokens(vault: TokenVault, json: unknown): Promise<ImportSummary> {
  const { items, users } = parseImportFile(json);
  const saved = await vault.saveItems(items);
  for (const user of users) await vault.setPlaidUserId(user.viewerId, user.plaidUserId);
  return { items: saved.length, users: users.length, itemIds: saved.map((item) => item.id) };
}

function formatPath(path: readonly PropertyKey[]): string {
  if (path.length === 0) return '(file)';
  return path.map((key, i) => (typeof key === 'number' ? `[${key}]` : `${i === 0 ? '' : '.'}${String(key)}`)).join('');
}

function duplicates(keys: readonly string[], list: string, field: string): string[] {
  const first = new Map<string, number>();
  const problems: string[] = [];
  keys.forEach((key, index) => {
    const earlier = first.get(key);
    if (earlier === undefined) first.set(key, index);
    else problems.push(`${list}[${index}].${field}: same ${field} as ${list}[${earlier}]`);
  });
  return problems;
}

/** Belt and braces: no problem line may quote a secret from the file, whatever the validator says. */
function redact(problems: readonly string[], json: unknown): string[] {
  const secrets = collectSecrets(json).filter((secret) => secret.length >= 4);
  return problems.map((problem) => secrets.reduce((line, secret) => line.split(secret).join('[redacted]'), problem));
}

function collectSecrets(json: unknown): string[] {
  if (typeof json !== 'object' || json === null) return [];
  const secrets: string[] = [];
  for (const [list, field] of [
    ['items', 'accessToken'],
    ['users', 'plaidUserId'],
  ] as const) {
    const entries: unknown = (json as Record<string, unknown>)[list];
    if (!Array.isArray(entries)) continue;
    for (const entry of entries as unknown[]) {
      if (typeof entry !== 'object' || entry === null) continue;
      const value = (entry as Record<string, unknown>)[field];
      if (typeof value === 'string') secrets.push(value);
    }
  }
  return secrets;
}

/** The process: exit code 0 on success, 1 with one message on any failure. */
export async function main(args: readonly string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const [file, ...rest] = args;
  if (file === undefined || rest.length > 0) {
    console.error('usage: vault:import <file.json>');
    return 1;
  }
  let json: unknown;
  try {
    json = JSON.parse(await readFile(file, 'utf8'));
  } catch (error) {
    // V8's JSON error quotes the text around the fault, which may be a token: say only what failed.
    const reason = error instanceof SyntaxError ? 'is not valid JSON' : 'cannot be read';
    console.error(`vault import failed: ${file} ${reason}`);
    return 1;
  }
  if (!env.DATABASE_URL && !env.VAULT_DATA_DIR) {
    console.error('vault import failed: set DATABASE_URL or VAULT_DATA_DIR (an in-memory vault would lose the import)');
    return 1;
  }
  let vault: TokenVault | undefined;
  try {
    // A bad file is reported before any connection is made or migration applied.
    parseImportFile(json);
    // The service's variables, DATABASE_SCHEMA and TOKEN_ENCRYPTION_PREVIOUS_KEYS included.
    vault = await openVault(vaultOptionsFromEnv(env));
    const summary = await importTokens(vault, json);
    console.log(`imported ${summary.items} item(s) and ${summary.users} Plaid user id(s)`);
    for (const itemId of summary.itemIds) console.log(`  ${itemId}`);
    return 0;
  } catch (error) {
    console.error(`vault import failed: ${error instanceof Error ? error.message : String(error)}`);
    return 1;
  } finally {
    await vault?.close();
  }
}

if (await isEntryPoint(import.meta.url)) process.exitCode = await main(process.argv.slice(2));
