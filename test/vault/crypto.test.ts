import { randomBytes } from 'node:crypto';
import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { TokenCipher, TokenDecryptionError, parseEncryptionKey } from '../../src/vault/crypto.js';

const key = randomBytes(32);

describe('parseEncryptionKey', () => {
  it.each<[string, string]>([
    ['base64', key.toString('base64')],
    ['base64url', key.toString('base64url') + '='],
    ['hex', key.toString('hex')],
    ['upper-case hex', key.toString('hex').toUpperCase()],
    ['base64 with a trailing newline', `${key.toString('base64')}\n`],
  ])('accepts %s', (_label, text) => {
    expect(parseEncryptionKey(text).equals(key)).toBe(true);
  });

  it.each<[string, string]>([
    ['empty', ''],
    ['a passphrase', 'correct-horse-battery-staple'],
    ['32 raw characters', 'zyxwvutsrqponmlkzyxwvutsrqponmlk'],
    ['31 bytes as base64', randomBytes(31).toString('base64')],
    ['33 bytes as base64', randomBytes(33).toString('base64')],
    ['base64 without padding', key.toString('base64url')],
    ['31 bytes as hex', randomBytes(31).toString('hex')],
    ['64 bytes as hex', randomBytes(64).toString('hex')],
    ['64 characters, not hex', 'zz' + key.toString('hex').slice(2)],
    ['44 characters, not base64', '!' + key.toString('base64').slice(1)],
  ])('rejects %s without echoing it', (_label, text) => {
    let message = '';
    try {
      parseEncryptionKey(text);
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toMatch(/32 bytes .*base64 \(44 characters\) or hex \(64 characters\)/);
    if (text !== '') expect(message).not.toContain(text.trim());
  });
});

describe('TokenCipher', () => {
  const cipher = new TokenCipher(key);

  it('round-trips with the same AAD, in the v1 format, with a fresh IV each time', () => {
    const a = cipher.encrypt('access-sandbox-123', 'item-1');
    const b = cipher.encrypt('access-sandbox-123', 'item-1');
    expect(a).toMatch(/^v1\.[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]+$/);
    expect(a).not.toBe(b);
    expect(a).not.toContain('access-sandbox-123');
    expect(cipher.decrypt(a, 'item-1')).toBe('access-sandbox-123');
    expect(cipher.decrypt(b, 'item-1')).toBe('access-sandbox-123');
    expect(cipher.decrypt(cipher.encrypt('', 'x'), 'x')).toBe('');
    expect(cipher.decrypt(cipher.encrypt('ünïcødé ✓', 'x'), 'x')).toBe('ünïcødé ✓');
  });

  it('fails with another AAD (a value moved to another row)', () => {
    const stored = cipher.encrypt('access-sandbox-123', 'item-1');
    expect(() => cipher.decrypt(stored, 'item-2')).toThrow(TokenDecryptionError);
  });

  it('fails with another key', () => {
    const stored = cipher.encrypt('access-sandbox-123', 'item-1');
    expect(() => new TokenCipher(randomBytes(32)).decrypt(stored, 'item-1')).toThrow(TokenDecryptionError);
    expect(() => TokenCipher.ephemeral().decrypt(stored, 'item-1')).toThrow(TokenDecryptionError);
  });

  it('fails when the tag, the ciphertext or the IV is altered', () => {
    const stored = cipher.encrypt('access-sandbox-123', 'item-1');
    const [version, iv, tag, body] = stored.split('.') as [string, string, string, string];
    const flip = (part: string) => {
      const bytes = Buffer.from(part, 'base64url');
      bytes[0] = (bytes[0] ?? 0) ^ 1;
      return bytes.toString('base64url');
    };
    for (const altered of [
      [version, iv, flip(tag), body],
      [version, iv, tag, flip(body)],
      [version, flip(iv), tag, body],
    ]) {
      expect(() => cipher.decrypt(altered.join('.'), 'item-1')).toThrow(TokenDecryptionError);
    }
  });

  it('rejects values that are not in the v1 format, without quoting them', () => {
    for (const stored of ['access-sandbox-123', 'v2.a.b.c', 'v1.a.b', 'v1.AAAA.AAAA.AAAA']) {
      expect(() => cipher.decrypt(stored, 'item-1')).toThrow(TokenDecryptionError);
      try {
        cipher.decrypt(stored, 'item-1');
      } catch (error) {
        expect((error as Error).message).not.toContain(stored);
      }
    }
  });

  it('refuses a key of the wrong size and does not show its key when inspected', () => {
    expect(() => new TokenCipher(randomBytes(16))).toThrow(/32 bytes/);
    const shown = inspect(cipher, { showHidden: true, depth: 5 });
    expect(shown).not.toContain(key.toString('hex'));
    expect(shown).not.toContain(key.toString('base64'));
  });
});
