/**
 * Encryption at rest for the vault: AES-256-GCM with a random 12-byte IV per value and an AAD
 * that names the row, so a ciphertext copied into another row (or column) does not decrypt.
 *
 * Several keys may be configured (rotation): new values are written under the current key and
 * carry its key id, `v2.<keyId>.<iv>.<tag>.<ciphertext>`; older keys stay readable. Values from
 * before key ids, `v1.<iv>.<tag>.<ciphertext>`, are read with whichever configured key authenticates.
 */
import { createCipheriv, createDecipheriv, createHmac, createSecretKey, randomBytes, type KeyObject } from 'node:crypto';

const KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const LEGACY_VERSION = 'v1';
const FORMAT_VERSION = 'v2';
const KEY_ID_BYTES = 8;
const KEY_ID_LABEL = 'plaid-refresh-graphql key id';
/** 8 bytes in base64url, no padding. */
const KEY_ID = /^[A-Za-z0-9_-]{11}$/;

const HEX_KEY = /^[0-9a-fA-F]{64}$/;
// Standard or URL-safe alphabet; 32 bytes always encode to 43 characters and one '='.
const BASE64_KEY = /^[A-Za-z0-9+/_-]{43}=$/;

/**
 * Reads a 32-byte key given as base64 (44 characters) or hex (64 characters). Surrounding
 * whitespace is ignored. The error names only the length, never the value: keys end up in logs.
 */
export function parseEncryptionKey(text: string): Buffer {
  const trimmed = text.trim();
  let key: Buffer | null = null;
  if (HEX_KEY.test(trimmed)) key = Buffer.from(trimmed, 'hex');
  else if (BASE64_KEY.test(trimmed)) key = Buffer.from(trimmed.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
  if (key === null || key.length !== KEY_BYTES) {
    throw new Error(
      `encryption key must be ${KEY_BYTES} bytes written as base64 (44 characters) or hex (64 characters); ` +
        `got ${trimmed.length} characters that are neither (generate one with: openssl rand -base64 32)`,
    );
  }
  return key;
}

/** TOKEN_ENCRYPTION_PREVIOUS_KEYS: comma-separated, blanks ignored (base64 and hex hold no commas). */
export function splitKeyList(text: string | null | undefined): string[] {
  return (text ?? '')
    .split(',')
    .map((key) => key.trim())
    .filter((key) => key !== '');
}

/**
 * A key's public name: the first 8 bytes of HMAC-SHA256(key, label), base64url. It tells keys
 * apart in stored values and messages without revealing anything usable about the key.
 */
export function keyIdOf(key: Buffer): string {
  return createHmac('sha256', key).update(KEY_ID_LABEL).digest().subarray(0, KEY_ID_BYTES).toString('base64url');
}

/** The key id a stored value names; null for a v1 value (written before key ids) or text in neither format. */
export function storedKeyId(stored: string): string | null {
  const parts = stored.split('.');
  return parts.length === 5 && parts[0] === FORMAT_VERSION && KEY_ID.test(parts[1] ?? '') ? (parts[1] ?? null) : null;
}

/** The prefix every value written under `keyId` starts with (for SQL `starts_with`). */
export function storedPrefixFor(keyId: string): string {
  return `${FORMAT_VERSION}.${keyId}.`;
}

/** A stored value that does not decrypt: wrong key, altered bytes, or moved from another row. */
export class TokenDecryptionError extends Error {
  override name = 'TokenDecryptionError';
}

interface CipherKey {
  readonly id: string;
  // A KeyObject, not a Buffer field, so the key never shows up when the cipher is logged or inspected.
  readonly key: KeyObject;
}

/** Encrypts under the current key and decrypts under any configured one. */
export class TokenCipher {
  readonly #current: CipherKey;
  readonly #byId: ReadonlyMap<string, CipherKey>;

  /** `previous`: older keys still accepted for reading (rotation); a repeat of the current key is ignored. */
  constructor(current: Buffer, previous: readonly Buffer[] = []) {
    const keys: CipherKey[] = [];
    const byId = new Map<string, CipherKey>();
    for (const raw of [current, ...previous]) {
      if (raw.length !== KEY_BYTES) throw new Error(`encryption key must be ${KEY_BYTES} bytes, got ${raw.length}`);
      const entry = { id: keyIdOf(raw), key: createSecretKey(Buffer.from(raw)) };
      const seen = byId.get(entry.id);
      if (seen) {
        // Two different keys with one 64-bit id would make stored values ambiguous; refuse rather than guess.
        if (!seen.key.equals(entry.key))
          throw new Error(`two configured encryption keys share the key id ${entry.id}; generate another key`);
        continue;
      }
      byId.set(entry.id, entry);
      keys.push(entry);
    }
    this.#current = keys[0] as CipherKey;
    this.#byId = byId;
  }

  /** A cipher with a random key: only for the in-memory vault, whose data dies with the process anyway. */
  static ephemeral(): TokenCipher {
    return new TokenCipher(randomBytes(KEY_BYTES));
  }

  /** The id of the key new values are written under. */
  get currentKeyId(): string {
    return this.#current.id;
  }

  /** Every configured key id, the current one first. */
  get keyIds(): readonly string[] {
    return [...this.#byId.keys()];
  }

  hasKey(keyId: string): boolean {
    return this.#byId.has(keyId);
  }

  /** Whether a stored value is written under the current key (rotation skips those). */
  isCurrent(stored: string): boolean {
    return storedKeyId(stored) === this.#current.id;
  }

  /** `aad` is authenticated but not stored: decrypt must be given the same text. */
  encrypt(plaintext: string, aad: string): string {
    return this.encryptUnder(this.#current, plaintext, aad);
  }

  /**
   * Encrypts under a configured key that is not necessarily the current one. Only for the vault's
   * key canaries, which prove each recorded key; everything else is written with `encrypt`.
   */
  encryptWithKey(keyId: string, plaintext: string, aad: string): string {
    const entry = this.#byId.get(keyId);
    if (!entry) throw new Error(`key id ${keyId} is not configured`);
    return this.encryptUnder(entry, plaintext, aad);
  }

  /** Throws TokenDecryptionError (which never holds the stored text) when the value does not authenticate. */
  decrypt(stored: string, aad: string): string {
    return this.decryptWithKeyId(stored, aad).plaintext;
  }

  /** As `decrypt`, and which key it took: the one a v2 value names, or for v1 the first configured key that authenticates. */
  decryptWithKeyId(stored: string, aad: string): { plaintext: string; keyId: string } {
    const parts = stored.split('.');
    if (parts[0] === FORMAT_VERSION && parts.length === 5) {
      const [, keyId = '', ivText = '', tagText = '', ciphertextText = ''] = parts;
      if (!KEY_ID.test(keyId)) throw new TokenDecryptionError(`stored value is not in the ${FORMAT_VERSION} format`);
      const entry = this.#byId.get(keyId);
      if (!entry) throw new TokenDecryptionError(`stored value was written under key id ${keyId}, which is not configured`);
      const plaintext = openSealed(entry.key, ivText, tagText, ciphertextText, aad);
      if (plaintext === null) throw undecryptable();
      return { plaintext, keyId };
    }
    if (parts[0] === LEGACY_VERSION && parts.length === 4) {
      const [, ivText = '', tagText = '', ciphertextText = ''] = parts;
      for (const entry of this.#byId.values()) {
        const plaintext = openSealed(entry.key, ivText, tagText, ciphertextText, aad);
        if (plaintext !== null) return { plaintext, keyId: entry.id };
      }
      throw undecryptable();
    }
    throw new TokenDecryptionError(`stored value is in neither the ${FORMAT_VERSION} nor the ${LEGACY_VERSION} format`);
  }

  private encryptUnder(entry: CipherKey, plaintext: string, aad: string): string {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', entry.key, iv, { authTagLength: TAG_BYTES });
    cipher.setAAD(Buffer.from(aad, 'utf8'));
    const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    const tag = cipher.getAuthTag();
    return [FORMAT_VERSION, entry.id, iv.toString('base64url'), tag.toString('base64url'), ciphertext.toString('base64url')].join('.');
  }
}

/** The plaintext, or null when the value does not authenticate under `key` (or is malformed). */
function openSealed(key: KeyObject, ivText: string, tagText: string, ciphertextText: string, aad: string): string | null {
  const iv = Buffer.from(ivText, 'base64url');
  const tag = Buffer.from(tagText, 'base64url');
  if (iv.length !== IV_BYTES || tag.length !== TAG_BYTES) return null;
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
    decipher.setAAD(Buffer.from(aad, 'utf8'));
    decipher.setAuthTag(tag);
    return Buffer.concat([decipher.update(Buffer.from(ciphertextText, 'base64url')), decipher.final()]).toString('utf8');
  } catch {
    // node's message ("Unsupported state or unable to authenticate data") says no more than ours.
    return null;
  }
}

function undecryptable(): TokenDecryptionError {
  return new TokenDecryptionError('stored value does not decrypt: wrong key, altered, or copied from another row');
}
