/**
 * The v1 stored format (`v1.<iv>.<tag>.<ciphertext>`, no key id), as the releases before key ids
 * wrote it: tests seed vaults with it to prove such values stay readable.
 */
import { createCipheriv, randomBytes } from 'node:crypto';

export function sealV1(key: Buffer, plaintext: string, aad: string): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv, { authTagLength: 16 });
  cipher.setAAD(Buffer.from(aad, 'utf8'));
  const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return ['v1', iv.toString('base64url'), cipher.getAuthTag().toString('base64url'), ciphertext.toString('base64url')].join('.');
}
