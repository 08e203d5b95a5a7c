/**
 * Why a vault could not be opened, as typed errors whose message is one line that names the cause
 * and the variable to fix. No message holds a key or a token.
 */

/** The vault's settings are unusable: a missing or malformed key. */
export class VaultConfigError extends Error {
  override name = 'VaultConfigError';
}

/**
 * The configured keys do not fit the data in the vault: it holds values written under a key that
 * is not configured, or a configured key does not decrypt its canary. Refusing to start beats
 * failing every refresh and writing new values under the wrong key.
 */
export class VaultKeyMismatchError extends Error {
  override name = 'VaultKeyMismatchError';
}
