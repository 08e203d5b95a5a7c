/**
 * The additional authenticated data of each encrypted column: it names the column and the row, so
 * a ciphertext moved elsewhere does not decrypt. Shared by the vault and key rotation, which must
 * seal values exactly as the vault reads them.
 */

// An access token is bound to its owner as well, so a row whose viewer_id was rewritten in the
// database no longer yields a token to the new "owner".
export const accessTokenAad = (itemId: string, viewerId: string) => JSON.stringify(['vault_items.access_token', itemId, viewerId]);

export const plaidUserIdAad = (viewerId: string) => JSON.stringify(['vault_viewers.plaid_user_id', viewerId]);

export const keyCanaryAad = (keyId: string) => JSON.stringify(['vault_keys.canary', keyId]);

/** An Item waiting in the link spool (a file, not a column; see link-spool.ts). */
export const linkSpoolAad = JSON.stringify(['link_spool.item']);
