/**
 * Linking an Item: the server side of Plaid Link (public token -> access token, kept in the vault).
 *
 * Once the public token is exchanged the Item exists at Plaid and the public token is spent, so
 * the access token must not be lost to a vault fault: the write is retried with backoff within
 * the request; if the vault still fails, the Item is removed at Plaid (nothing is billed for an
 * Item nobody holds), and if Plaid cannot be reached either, it goes to the local spool, which
 * saves it once the vault is back. When the last write may have landed (its answer was lost), the
 * spool comes first: removing the Item at Plaid would leave a vault row with a dead token, while
 * saving it again is harmless. The caller hears which of these happened.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { RefreshGuard } from '../guard/refresh-guard.js';
import type { Logger } from '../observability/logger.js';
import { silentLogger } from '../observability/logger.js';
import type { PlaidClient } from '../plaid/client.js';
import { PlaidClientError, PlaidResponseError } from '../plaid/errors.js';
import { VaultUnavailableError } from '../vault/errors.js';
import type { LinkSpool } from '../vault/link-spool.js';
import type { SaveItemInput, TokenVault, VaultItem } from '../vault/vault.js';
import type { Caller } from './caller.js';
import { InputValidationError, LinkNotSavedError, type LinkNotSavedOutcome } from './errors.js';
import { translated } from './translate-errors.js';

const MAX_PUBLIC_TOKEN_LENGTH = 512;
/** How long the vault write is retried within the request before the Item is given up on (at most half the time left: the rescue needs the rest). */
const SAVE_RETRY_BUDGET_MS = 5_000;
const SAVE_RETRY_FIRST_DELAY_MS = 100;
/** Codes /item/remove answers for an Item that is already gone: removed all the same. */
const ALREADY_GONE = new Set(['INVALID_ACCESS_TOKEN', 'ITEM_NOT_FOUND']);

export interface LinkServiceDeps {
  readonly vault: TokenVault;
  readonly plaid: PlaidClient;
  /** The linkItem limits (each link spends a Plaid exchange). */
  readonly guard: RefreshGuard;
  /** Where an Item goes when neither the vault nor /item/remove works; without it that Item is lost (and logged). */
  readonly spool?: LinkSpool | null;
  readonly logger?: Logger;
  /** What became of each Item whose save failed (metrics). */
  readonly onNotSaved?: (outcome: LinkNotSavedOutcome) => void;
}

export class LinkService {
  private readonly logger: Logger;

  constructor(private readonly deps: LinkServiceDeps) {
    this.logger = deps.logger ?? silentLogger;
  }

  async linkItem(caller: Caller, publicToken: string): Promise<VaultItem> {
    const token = publicToken.trim();
    if (token.length === 0 || token.length > MAX_PUBLIC_TOKEN_LENGTH) {
      throw new InputValidationError('publicToken', `must be 1 to ${MAX_PUBLIC_TOKEN_LENGTH} characters`);
    }
    if (!/^public-[a-z]+-[\w-]+$/.test(token)) {
      throw new InputValidationError('publicToken', 'is not a Plaid public token (public-<environment>-<id>)');
    }
    await translated(() => this.deps.guard.takeLink(caller.viewerId), 'link');
    const { accessToken, itemId } = await translated(() => this.deps.plaid.exchangePublicToken(token));
    // From here the Item exists at Plaid and the public token is spent: the access token must be
    // kept whatever /item/get says, or the user would have to link again. Details are cosmetic.
    const details = await this.deps.plaid.getItem(accessToken).catch((error: unknown) => {
      if (error instanceof PlaidClientError) return null;
      throw error;
    });
    const input: SaveItemInput = {
      viewerId: caller.viewerId,
      itemId,
      accessToken,
      institutionId: details?.institutionId ?? 'unknown',
      institutionName: details?.institutionName ?? details?.institutionId ?? 'Unknown institution',
      products: details?.products ?? [],
    };
    try {
      return await this.saveWithRetry(input, caller.deadline);
    } catch (error) {
      if (!(error instanceof VaultUnavailableError)) throw error;
      const outcome = await this.rescue(input, caller.deadline, error.mayHaveWritten);
      this.deps.onNotSaved?.(outcome);
      throw new LinkNotSavedError(outcome, { cause: error });
    }
  }

  private async saveWithRetry(input: SaveItemInput, deadline: number): Promise<VaultItem> {
    const giveUpAt = Date.now() + Math.min(SAVE_RETRY_BUDGET_MS, (deadline - Date.now()) / 2);
    // Any attempt whose answer was lost may have committed, whatever the later ones say.
    let mayHaveWritten = false;
    for (let delay = SAVE_RETRY_FIRST_DELAY_MS; ; delay *= 2) {
      try {
        return await this.deps.vault.saveItem(input);
      } catch (error) {
        if (!(error instanceof VaultUnavailableError)) throw error;
        mayHaveWritten ||= error.mayHaveWritten;
        if (Date.now() + delay >= giveUpAt)
          throw error.mayHaveWritten === mayHaveWritten ? error : new VaultUnavailableError({ cause: error, mayHaveWritten });
        this.logger.warn({ err: error, itemId: input.itemId, retryInMs: delay }, 'linked Item not saved yet; retrying');
        await sleep(delay);
      }
    }
  }

  /** The vault will not take the Item: remove it at Plaid or keep it in the spool, in the order that cannot leave a dead row. */
  private async rescue(input: SaveItemInput, deadline: number, mayHaveWritten: boolean): Promise<LinkNotSavedOutcome> {
    const steps = mayHaveWritten
      ? [() => this.spool(input), () => this.removeAtPlaid(input, deadline)]
      : [() => this.removeAtPlaid(input, deadline), () => this.spool(input)];
    const failures: unknown[] = [];
    for (const step of steps) {
      try {
        return await step();
      } catch (error) {
        failures.push(error);
      }
    }
    // Nothing more can be done; the id lets support remove the Item at Plaid by hand.
    this.logger.error(
      { itemId: input.itemId, err: failures[0], also: failures[1] },
      'exchanged access token lost: the vault, /item/remove and the link spool all failed',
    );
    return 'NOT_KEPT';
  }

  private async removeAtPlaid(input: SaveItemInput, deadline: number): Promise<LinkNotSavedOutcome> {
    await this.deps.plaid.removeItem(input.accessToken, { deadline }).catch((error: unknown) => {
      if (error instanceof PlaidResponseError && ALREADY_GONE.has(error.errorCode)) return;
      throw error;
    });
    this.logger.warn({ itemId: input.itemId }, 'linked Item removed at Plaid: the vault could not store it');
    return 'REMOVED_AT_PLAID';
  }

  private async spool(input: SaveItemInput): Promise<LinkNotSavedOutcome> {
    if (!this.deps.spool) throw new Error('no link spool configured');
    await this.deps.spool.put(input);
    this.logger.warn({ itemId: input.itemId }, 'linked Item kept in the link spool until the vault is back');
    return 'KEPT_FOR_LATER';
  }
}
