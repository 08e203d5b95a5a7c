/** Linking an Item: the server side of Plaid Link (public token -> access token, kept in the vault). */
import type { PlaidClient } from '../plaid/client.js';
import { PlaidClientError } from '../plaid/errors.js';
import type { TokenVault, VaultItem } from '../vault/vault.js';
import { InputValidationError } from './errors.js';
import { callPlaid } from './plaid-call.js';

const MAX_PUBLIC_TOKEN_LENGTH = 512;

export class LinkService {
  constructor(private readonly deps: { readonly vault: TokenVault; readonly plaid: PlaidClient }) {}

  async linkItem(viewerId: string, publicToken: string): Promise<VaultItem> {
    const token = publicToken.trim();
    if (token.length === 0 || token.length > MAX_PUBLIC_TOKEN_LENGTH) {
      throw new InputValidationError('publicToken', `must be 1 to ${MAX_PUBLIC_TOKEN_LENGTH} characters`);
    }
    if (!/^public-[a-z]+-[\w-]+$/.test(token)) {
      throw new InputValidationError('publicToken', 'is not a Plaid public token (public-<environment>-<id>)');
    }
    const { accessToken, itemId } = await callPlaid(() => this.deps.plaid.exchangePublicToken(token));
    // From here the Item exists at Plaid and the public token is spent: the access token must be
    // kept whatever /item/get says, or the user would have to link again. Details are cosmetic.
    const details = await this.deps.plaid.getItem(accessToken).catch((error: unknown) => {
      if (error instanceof PlaidClientError) return null;
      throw error;
    });
    return this.deps.vault.saveItem({
      viewerId,
      itemId,
      accessToken,
      institutionId: details?.institutionId ?? 'unknown',
      institutionName: details?.institutionName ?? details?.institutionId ?? 'Unknown institution',
      products: details?.products ?? [],
    });
  }
}
