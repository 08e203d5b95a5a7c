/**
 * The Item life cycle on the server side of Plaid Link: a link token to open Link with (for a new
 * Item, or update mode for one of the viewer's), the viewer's Plaid user when a new Item can join
 * the Financial Insights bundle, the public token's exchange (the access token kept in the vault),
 * and removing an Item (at Plaid, then from the vault). Access tokens never leave the server.
 *
 * Once the public token is exchanged the Item exists at Plaid and the public token is spent, so
 * the access token must not be lost to a vault fault: the write is retried with backoff within
 * the request; if the vault still fails, the Item is removed at Plaid (nothing is billed for an
 * Item nobody holds), and if Plaid cannot be reached either, it goes to the local spool, which
 * saves it once the vault is back. When the last write may have landed (its answer was lost), the
 * spool comes first: removing the Item at Plaid would leave a vault row with a dead token, while
 * saving it again is harmless. The caller hears which of these happened.
 */
import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { joinsUserBundle, LINK_PRODUCTS } from '../catalogue/refresh-products.js';
import type { RefreshGuard } from '../guard/refresh-guard.js';
import type { Logger } from '../observability/logger.js';
import { silentLogger } from '../observability/logger.js';
import type { PlaidClient } from '../plaid/client.js';
import { PlaidClientError, PlaidResponseError } from '../plaid/errors.js';
import { LINK_TOKEN_PRODUCTS } from '../plaid/products.js';
import { SingleFlight } from '../util/single-flight.js';
import { VaultUnavailableError } from '../vault/errors.js';
import type { LinkSpool } from '../vault/link-spool.js';
import type { SaveItemInput, TokenVault, VaultItem } from '../vault/vault.js';
import type { Caller } from './caller.js';
import {
  DependencyUnavailableError,
  InputValidationError,
  ItemNotFoundError,
  LinkNotSavedError,
  type LinkNotSavedOutcome,
} from './errors.js';
import { requireId } from './ids.js';
import { keepHealth } from './item-health.js';
import { translated } from './translate-errors.js';

const MAX_PUBLIC_TOKEN_LENGTH = 512;
/** How long the vault write is retried within the request before the Item is given up on (at most half the time left: the rescue needs the rest). */
const SAVE_RETRY_BUDGET_MS = 5_000;
const SAVE_RETRY_FIRST_DELAY_MS = 100;
/** Codes /item/remove answers for an Item that is already gone: removed all the same. */
const ALREADY_GONE = new Set(['INVALID_ACCESS_TOKEN', 'ITEM_NOT_FOUND']);
/** Plaid's limit on `client_user_id`; a longer viewer id is sent as its hash. */
const MAX_CLIENT_USER_ID_LENGTH = 128;
const MAX_LINK_PRODUCTS = 20;
/** Storing a new Plaid user id is retried this often, this far apart: Plaid makes only one user per `client_user_id`. */
const USER_SAVE_DELAYS_MS = [100, 300, 900] as const;

/** What /link/token/create is told about the application, and where the new Items' webhooks go. */
export interface LinkSettings {
  readonly clientName: string;
  readonly language: string;
  readonly countryCodes: readonly string[];
  readonly webhookUrl: string | null;
  readonly redirectUri: string | null;
}

export const DEFAULT_LINK_SETTINGS: LinkSettings = Object.freeze({
  clientName: 'plaid-refresh-graphql',
  language: 'en',
  countryCodes: Object.freeze(['US']),
  webhookUrl: null,
  redirectUri: null,
});

/** What createLinkToken asks for: update mode of one of the viewer's Items, or a new Item with these products (default: the catalogue's). */
export interface LinkTokenInput {
  readonly itemId?: string | null;
  readonly products?: readonly string[] | null;
}

/** A link token for the frontend to open Plaid Link with. */
export interface LinkTokenReceipt {
  readonly linkToken: string;
  readonly expiration: Date;
  readonly requestId: string;
  readonly mode: 'NEW_ITEM' | 'UPDATE';
  /** Update mode: the Item Link repairs. */
  readonly item: VaultItem | null;
  /** A new Item's products; empty in update mode (the Item keeps its own). */
  readonly products: readonly string[];
  /** Whether the new Item joins the viewer's Plaid user, and so `refreshUserFinancialData`. */
  readonly joinsUserBundle: boolean;
}

/** What unlinkItem did. */
export interface UnlinkReceipt {
  readonly itemId: string;
  /** Plaid no longer knew the Item (removed earlier, or by its user): only the vault's copy was left to delete. */
  readonly alreadyGoneAtPlaid: boolean;
}

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
  /** Default: DEFAULT_LINK_SETTINGS. */
  readonly settings?: LinkSettings;
}

export class LinkService {
  private readonly logger: Logger;
  private settings: LinkSettings;
  /** Concurrent first links of one viewer make one /user/create (per process; see plaidUserFor). */
  private readonly userCreations = new SingleFlight();

  constructor(private readonly deps: LinkServiceDeps) {
    this.logger = deps.logger ?? silentLogger;
    this.settings = deps.settings ?? DEFAULT_LINK_SETTINGS;
  }

  /** Where new Items' webhooks go from now on (embedded mode learns its own URL only once it listens). */
  useWebhookUrl(url: string): void {
    this.settings = { ...this.settings, webhookUrl: url };
  }

  /**
   * A link token for Plaid Link: for a new Item (`products`, default the catalogue's Link products),
   * or, with `itemId`, for update mode of one of the caller's Items (its access token goes to Plaid
   * only). A new Item that can join the Financial Insights bundle gets the caller's Plaid user,
   * created on the first such link (/user/create), so `refreshUserFinancialData` covers it.
   */
  createLinkToken(caller: Caller, input: LinkTokenInput = {}): Promise<LinkTokenReceipt> {
    return translated(async () => {
      const itemId = input.itemId ?? null;
      // Inputs first: a bad request reaches neither the vault nor Plaid.
      if (itemId !== null) requireId('itemId', itemId);
      if (itemId !== null && input.products) {
        throw new InputValidationError('products', 'not with itemId: update mode repairs the Item with the products it has');
      }
      const products = itemId === null ? linkProducts(input.products ?? null) : [];
      const found = itemId === null ? null : await this.deps.vault.getItemForRefresh(caller.viewerId, itemId);
      if (itemId !== null && found === null) throw new ItemNotFoundError(itemId);
      await this.deps.guard.takeLinkToken(caller.viewerId);
      const bundle = found === null && joinsUserBundle(products);
      const userId = bundle ? await this.plaidUserFor(caller) : null;
      const { clientName, language, countryCodes, webhookUrl, redirectUri } = this.settings;
      const created = await this.deps.plaid.createLinkToken(
        {
          clientName,
          language,
          countryCodes,
          clientUserId: clientUserIdOf(caller.viewerId),
          ...(found ? { accessToken: found.accessToken } : { products }),
          ...(userId ? { userId } : {}),
          // Plaid ignores it in update mode (an Item's webhook changes through /item/webhook/update).
          ...(webhookUrl && !found ? { webhook: webhookUrl } : {}),
          ...(redirectUri ? { redirectUri } : {}),
        },
        { deadline: caller.deadline },
      );
      return {
        ...created,
        mode: found ? 'UPDATE' : 'NEW_ITEM',
        item: found?.item ?? null,
        products,
        joinsUserBundle: bundle,
      };
    }, 'link');
  }

  /**
   * Removes one of the caller's Items: /item/remove at Plaid (billing stops, the access token dies),
   * then the vault row with its token, refresh records and health. An Item Plaid no longer knows is
   * removed all the same. A second call answers ItemNotFoundError, as for any id the caller does not
   * hold: the vault keeps no trace of a removed Item, so "already removed" and "never yours" look alike.
   */
  unlinkItem(caller: Caller, itemId: string): Promise<UnlinkReceipt> {
    return translated(async () => {
      requireId('itemId', itemId);
      const found = await this.deps.vault.getItemForRefresh(caller.viewerId, itemId);
      if (found === null) throw new ItemNotFoundError(itemId);
      let alreadyGoneAtPlaid = false;
      await this.deps.plaid.removeItem(found.accessToken, { deadline: caller.deadline }).catch((error: unknown) => {
        if (!(error instanceof PlaidResponseError && ALREADY_GONE.has(error.errorCode))) throw error;
        alreadyGoneAtPlaid = true;
      });
      // From here the token is dead at Plaid; a vault that cannot delete it now is asked again by the
      // next unlinkItem, which Plaid then answers "already gone".
      try {
        await this.deps.vault.deleteItem(caller.viewerId, itemId);
      } catch (error) {
        if (!(error instanceof VaultUnavailableError)) throw error;
        throw new DependencyUnavailableError('STORAGE', true, { cause: error });
      }
      this.logger.info({ itemId, alreadyGoneAtPlaid }, 'Item unlinked: removed at Plaid and from the vault');
      return { itemId, alreadyGoneAtPlaid };
    });
  }

  /**
   * The caller's Plaid user id, created with /user/create on first use and kept (encrypted) in the
   * vault. Plaid makes one user per `client_user_id`, so once stored it is never asked for again.
   */
  private async plaidUserFor(caller: Caller): Promise<string> {
    const stored = await this.deps.vault.getPlaidUserId(caller.viewerId);
    if (stored !== null) return stored;
    const { value } = await this.userCreations.run(caller.viewerId, async () => {
      const { userId } = await this.deps.plaid.createUser(clientUserIdOf(caller.viewerId), { deadline: caller.deadline });
      await this.keepPlaidUser(caller.viewerId, userId);
      return userId;
    });
    return value;
  }

  /** Stores a new Plaid user id, retried briefly: a lost one may not be had from Plaid again. */
  private async keepPlaidUser(viewerId: string, userId: string): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.deps.vault.setPlaidUserId(viewerId, userId);
      } catch (error) {
        const delay = USER_SAVE_DELAYS_MS[attempt];
        if (!(error instanceof VaultUnavailableError) || delay === undefined) {
          // The id itself is not logged (the vault keeps it encrypted); support finds the user by client_user_id.
          this.logger.error({ err: error, viewerId }, 'Plaid user created but not stored');
          throw error instanceof VaultUnavailableError ? new DependencyUnavailableError('STORAGE', true, { cause: error }) : error;
        }
        await sleep(delay);
      }
    }
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
      const saved = await this.saveWithRetry(input, caller.deadline);
      // The user just went through Link for it: healthy (after update mode the same item_id comes back).
      await keepHealth(this.deps.vault, this.logger, [{ itemId, error: null }], 'LINK');
      return saved;
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

/** A new Item's products: the caller's, checked against Plaid's, or the catalogue's. */
function linkProducts(given: readonly string[] | null): readonly string[] {
  if (given === null) return LINK_PRODUCTS;
  const products = [...new Set(given.map((product) => product.trim().toLowerCase()))];
  if (products.length === 0 || products.length > MAX_LINK_PRODUCTS) {
    throw new InputValidationError('products', `must name 1 to ${MAX_LINK_PRODUCTS} Plaid products, e.g. ["transactions"]`);
  }
  if (products.includes('balance')) {
    throw new InputValidationError('products', 'balance is not a Link product: Plaid initialises it with any other product');
  }
  const unknown = products.filter((product) => !LINK_TOKEN_PRODUCTS.has(product));
  if (unknown.length > 0) {
    throw new InputValidationError('products', `not Plaid products: ${unknown.slice(0, 5).join(', ').slice(0, 200)}`);
  }
  return products;
}

/** The viewer as Plaid's `client_user_id` (at most 128 characters at Plaid). */
function clientUserIdOf(viewerId: string): string {
  if (viewerId.length <= MAX_CLIENT_USER_ID_LENGTH) return viewerId;
  return `sha256-${createHash('sha256').update(viewerId).digest('hex')}`;
}
