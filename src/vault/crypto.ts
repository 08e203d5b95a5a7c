/**
 * Encryption at rest for the vault: AES-256-GCM with a random 12-byte IV per value and an AAD
 * that names the row, so a ciphertext copied into another row (or column) does not decrypt.
 */
import { createCipheriv, createDecipheriv, createSecretKey, randomBytes, type KeyObject } from 'node:crypto';

const KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const FORMAT_VERSION = 'v1';

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

/** A stored value that does not decrypt: wrong key, altered bytes, or moved from another row. */
export class TokenDecryptionError extends Error {
  override name = 'TokenDecryptionError';
}

/** Encrypts and decrypts vault values; the stored text is `v1.<iv>.<tag>.<ciphertext>` in base64url. */
export class TokenCipher {
  // A KeyObject, not a Buffer field, so the key never shows up when the cipher is logged or inspected.
  readonly #key: KeyObject;

  constructor(key: Buffer) {
    if (key.length !== KEY_BYTES) throw new Error(`encryption key must be ${KEY_BYTES} bytes, got ${key.length}`);
    this.#key = createSecretKey(Buffer.from(key));
  }

  /** A cipher with a random key: only for the in-memory vault, whose data dies with the process anyway. */
  static ephemeral(): TokenCipher {
    return new TokenCipher(randomBytes(KEY_BYTES));
  }

  /** `aad` is authenticated but not stored: decrypt must be given the same text. */
  encrypt(plaintext: string, aad: string): string {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.#key, iv, { authTagLength: TAG_BYTES });
    cipher.setAAD(Buffer.from(aad, 'utf8'));
    const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    const tag = cipher.getAuthTag();
    return [FORMAT_VERSION, iv.toString('base64url'), tag.toString('base64url'), ciphertext.toString('base64url')].join('.');
  }

  /** Throws TokenDecryptionError (which never holds the stored text) when the value does not authenticate. */
  decrypt(stored: string, aad: string): string {
    const parts = stored.split('.');
    if (parts.length !== 4 || parts[0] !== FORMAT_VERSION) {
      throw new TokenDecryptionError(`stored value is not in the ${FORMAT_VERSION} format`);
    }
    const [, ivText = '', tagText = '', ciphertextText = ''] = parts;
    const iv = Buffer.from(ivText, 'base64url');
    const tag = Buffer.from(tagText, 'base64url');
    if (iv.length !== IV_BYTES || tag.length !== TAG_BYTES) {
      throw new TokenDecryptionError(`stored value is not in the ${FORMAT_VERSION} format`);
    }
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.#key, iv, { authTagLength: TAG_BYTES });
      decipher.setAAD(Buffer.from(aad, 'utf8'));
      decipher.setAuthTag(tag);
      const plaintext = Buffer.concat([decipher.update(Buffer.from(ciphertextText, 'base64url')), decipher.final()]);
      return plaintext.toString('utf8');
    } catch {
      // node's message ("Unsupported state or unable to authenticate data") says no more than this one.
      throw new TokenDecryptionError('stored value does not decrypt: wrong key, altered, or copied from another row');
    }
  }
}
