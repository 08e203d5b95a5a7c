/**
 * Registers PLAID_WEBHOOK_URL on every Item in the vault (`npm run items:update-webhook
 * [-- --concurrency N] [-- --batch-size N]`): /item/webhook/update per Item, read in pages of
 * `--batch-size` (default 100) by item id, at most `--concurrency` (default 4) calls at a time.
 * Items linked before webhooks were set up, or after PLAID_WEBHOOK_URL changed, then send their
 * webhooks to this service. Same variables as the service (Plaid credentials, DATABASE_URL or
 * VAULT_DATA_DIR, DATABASE_SCHEMA, the keys). Safe to re-run: setting the same URL again changes
 * nothing at Plaid (it acknowledges each update with an ITEM WEBHOOK_UPDATE_ACKNOWLEDGED webhook).
 * Prints counts only (by Plaid error code for failures), never a token or an Item id.
 *
 * Exit code 0: every Item was updated; 2: some were not (see the counts; run it again); 1: it could not run.
 */
import { loadPlaidConfig } from '../config.js';
import { PlaidClient } from '../plaid/client.js';
import { PlaidResponseError } from '../plaid/errors.js';
import { openVault, vaultOptionsFromEnv } from '../vault/open-vault.js';
import type { ItemToken, TokenVault } from '../vault/vault.js';
import { isEntryPoint } from './is-entry-point.js';
import type { CliOutput } from './rotate-keys.js';

const USAGE = 'usage: items:update-webhook [--concurrency N] [--batch-size N]';
const DEFAULTS = { concurrency: 4, batchSize: 100 };
/** A progress line at most this often, so a large vault shows it is moving without flooding the terminal. */
const PROGRESS_INTERVAL_MS = 5_000;

export interface UpdateWebhooksReport {
  updated: number;
  /** Failures by Plaid error_code, or by the transport failure's class (PlaidTimeoutError, ...). */
  failed: Map<string, number>;
  /** Items whose access token no configured key decrypts. */
  unreadable: number;
}

/** Calls `update` for every Item in the vault, page by page, at most `concurrency` at a time. */
export async function updateItemWebhooks(
  vault: Pick<TokenVault, 'listItemTokens'>,
  update: (accessToken: string) => Promise<unknown>,
  options: { concurrency: number; batchSize: number; onProgress?: (report: UpdateWebhooksReport) => void },
): Promise<UpdateWebhooksReport> {
  const report: UpdateWebhooksReport = { updated: 0, failed: new Map(), unreadable: 0 };
  let after: string | null = null;
  for (;;) {
    const page: ItemToken[] = await vault.listItemTokens(after, options.batchSize);
    const last = page.at(-1);
    if (!last) return report;
    after = last.item.id;
    let next = 0;
    const worker = async () => {
      while (next < page.length) {
        const entry = page[next++];
        if (!entry) continue;
        if (entry.accessToken === null) {
          report.unreadable++;
          continue;
        }
        try {
          await update(entry.accessToken);
          report.updated++;
        } catch (error) {
          const cause = error instanceof PlaidResponseError ? error.errorCode : error instanceof Error ? error.name : 'Error';
          report.failed.set(cause, (report.failed.get(cause) ?? 0) + 1);
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(options.concurrency, page.length) }, worker));
    options.onProgress?.(report);
    if (page.length < options.batchSize) return report;
  }
}

export async function main(args: readonly string[], env: NodeJS.ProcessEnv = process.env, out: CliOutput = console): Promise<number> {
  const parsed = parseArgs(args);
  if (parsed === null) {
    out.error(USAGE);
    return 1;
  }
  let plaid: PlaidClient | undefined;
  let vault: TokenVault | undefined;
  try {
    const config = loadPlaidConfig(env);
    const problems = [
      ...(config.webhooks.url === null ? ['set PLAID_WEBHOOK_URL (the public URL Plaid posts to, served by /webhooks/plaid)'] : []),
      ...(config.credentials === null ? ['set PLAID_CLIENT_ID and PLAID_SECRET'] : []),
      ...(!env.DATABASE_URL && !env.VAULT_DATA_DIR ? ['set DATABASE_URL or VAULT_DATA_DIR (the vault the service uses)'] : []),
    ];
    const webhookUrl = config.webhooks.url;
    if (problems.length > 0 || webhookUrl === null || config.credentials === null) {
      out.error(`webhook update failed: ${problems.join('; ')}`);
      return 1;
    }
    // Opens and checks exactly as the service does: a vault holding data under an unconfigured key is refused.
    vault = await openVault(vaultOptionsFromEnv(env));
    const client = new PlaidClient({
      baseUrl: config.baseUrl,
      ...config.credentials,
      timeoutMs: config.timeoutMs,
      retry: config.retry,
      maxConnections: parsed.concurrency,
    });
    plaid = client;
    let lastProgress = Date.now();
    const report = await updateItemWebhooks(vault, (accessToken) => client.updateItemWebhook(accessToken, webhookUrl), {
      ...parsed,
      onProgress: (progress) => {
        if (Date.now() - lastProgress < PROGRESS_INTERVAL_MS) return;
        lastProgress = Date.now();
        out.log(`  ${progress.updated} updated so far`);
      },
    });
    const failed = [...report.failed.values()].reduce((sum, count) => sum + count, 0);
    out.log(`Items: ${report.updated} updated, ${failed} failed, ${report.unreadable} unreadable`);
    for (const [cause, count] of [...report.failed].sort(([a], [b]) => a.localeCompare(b))) out.log(`  failed with ${cause}: ${count}`);
    if (report.unreadable > 0) out.log(`  unreadable: no configured key decrypts their access token`);
    const complete = failed === 0 && report.unreadable === 0;
    out.log(
      complete ? 'done: every Item sends its webhooks to PLAID_WEBHOOK_URL' : 'not finished: some Items were not updated (see above)',
    );
    return complete ? 0 : 2;
  } catch (error) {
    out.error(`webhook update failed: ${error instanceof Error ? error.message : String(error)}`);
    return 1;
  } finally {
    await plaid?.close();
    await vault?.close();
  }
}

/** The options (defaults where not given), or null for arguments it does not understand. */
function parseArgs(args: readonly string[]): { concurrency: number; batchSize: number } | null {
  const options = { ...DEFAULTS };
  const limits = { concurrency: 64, batchSize: 10_000 };
  const flags: Record<string, keyof typeof DEFAULTS> = { '--concurrency': 'concurrency', '--batch-size': 'batchSize' };
  const rest = args.flatMap((arg) => (arg.startsWith('--') && arg.includes('=') ? arg.split(/=(.*)/s, 2) : [arg]));
  for (let i = 0; i < rest.length; i += 2) {
    const name = flags[rest[i] ?? ''];
    const value = rest[i + 1];
    if (name === undefined || value === undefined || !/^\d+$/.test(value)) return null;
    const number = Number(value);
    if (number < 1 || number > limits[name]) return null;
    options[name] = number;
  }
  return options;
}

if (await isEntryPoint(import.meta.url)) process.exitCode = await main(process.argv.slice(2));
