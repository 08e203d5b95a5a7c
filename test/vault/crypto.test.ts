import { createCipheriv, createHmac, randomBytes } from 'node:crypto';
import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { TokenCipher, TokenDecryptionError, keyIdOf, parseEncryptionKey, splitKeyList, storedKeyId } from '../../src/vault/crypto.js';
import { sealV1 } from '../helpers/legacy-vault-format.js';

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

  it('round-trips with the same AAD, in the v2 format naming the key id, with a fresh IV each time', () => {
    const a = cipher.encrypt('access-sandbox-123', 'item-1');
    const b = cipher.encrypt('access-sandbox-123', 'item-1');
    expect(a).toMatch(/^v2\.[A-Za-z0-9_-]{11}\.[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]+$/);
    expect(a.split('.')[1]).toBe(keyIdOf(key));
    expect(storedKeyId(a)).toBe(cipher.currentKeyId);
    expect(cipher.isCurrent(a)).toBe(true);
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
    const [version, keyId, iv, tag, body] = stored.split('.') as [string, string, string, string, string];
    const flip = (part: string) => {
      const bytes = Buffer.from(part, 'base64url');
      bytes[0] = (bytes[0] ?? 0) ^ 1;
      return bytes.toString('base64url');
    };
    for (const altered of [
      [version, keyId, iv, flip(tag), body],
      [version, keyId, iv, tag, flip(body)],
      [version, keyId, flip(iv), tag, body],
      [version, flip(keyId), iv, tag, body],
    ]) {
      expect(() => cipher.decrypt(altered.join('.'), 'item-1')).toThrow(TokenDecryptionError);
    }
  });

  it('rejects values in neither format, without quoting them', () => {
    const id = cipher.currentKeyId;
    for (const stored of [
      'access-sandbox-123',
      'v3.a.b.c',
      'v2.a.b.c',
      `v2.${id}.a.b`,
      'v2.short.AAAA.AAAA.AAAA',
      'v1.a.b',
      'v1.AAAA.AAAA.AAAA',
      `v1.${id}.a.b.c`,
    ]) {
      expect(() => cipher.decrypt(stored, 'item-1')).toThrow(TokenDecryptionError);
      try {
        cipher.decrypt(stored, 'item-1');
      } catch (error) {
        expect((error as Error).message).not.toContain(stored);
      }
    }
  });

  it('refuses a key of the wrong size and does not show its keys when inspected', () => {
    expect(() => new TokenCipher(randomBytes(16))).toThrow(/32 bytes/);
    expect(() => new TokenCipher(key, [randomBytes(31)])).toThrow(/32 bytes/);
    const previous = randomBytes(32);
    for (const shown of [
      inspect(cipher, { showHidden: true, depth: 5 }),
      inspect(new TokenCipher(key, [previous]), { showHidden: true, depth: 5 }),
    ]) {
      for (const secret of [key, previous]) {
        expect(shown).not.toContain(secret.toString('hex'));
        expect(shown).not.toContain(secret.toString('base64'));
      }
    }
  });
});

describe('key ids', () => {
  it('are the first 8 bytes of HMAC-SHA256(key, label) in base64url: stable, distinct, not the key', () => {
    const expected = createHmac('sha256', key).update('plaid-refresh-graphql key id').digest().subarray(0, 8).toString('base64url');
    expect(keyIdOf(key)).toBe(expected);
    expect(keyIdOf(key)).toMatch(/^[A-Za-z0-9_-]{11}$/);
    expect(keyIdOf(Buffer.from(key))).toBe(keyIdOf(key));
    expect(keyIdOf(randomBytes(32))).not.toBe(keyIdOf(key));
    expect(key.toString('base64url')).not.toContain(keyIdOf(key));
    expect(new TokenCipher(key).currentKeyId).toBe(keyIdOf(key));
  });

  it('storedKeyId names the key of a v2 value and none for v1 or junk', () => {
    expect(storedKeyId(new TokenCipher(key).encrypt('x', 'a'))).toBe(keyIdOf(key));
    expect(storedKeyId(sealV1(key, 'x', 'a'))).toBeNull();
    expect(storedKeyId('v2.not-an-id.a.b.c')).toBeNull();
    expect(storedKeyId('nonsense')).toBeNull();
  });

  it('splitKeyList reads a comma-separated list, blanks ignored', () => {
    expect(splitKeyList(undefined)).toEqual([]);
    expect(splitKeyList(' , ')).toEqual([]);
    expect(splitKeyList(' a ,b,, c\n')).toEqual(['a', 'b', 'c']);
  });
});

describe('TokenCipher with previous keys (rotation)', () => {
  const oldKey = randomBytes(32);
  const olderKey = randomBytes(32);
  const before = new TokenCipher(oldKey);
  const rotated = new TokenCipher(key, [oldKey, olderKey]);

  it('writes under the current key and reads values of every configured key, picked by key id', () => {
    const written = before.encrypt('access-sandbox-old', 'item-1');
    expect(rotated.decryptWithKeyId(written, 'item-1')).toEqual({ plaintext: 'access-sandbox-old', keyId: keyIdOf(oldKey) });
    expect(rotated.isCurrent(written)).toBe(false);
    const fresh = rotated.encrypt('access-sandbox-new', 'item-1');
    expect(storedKeyId(fresh)).toBe(keyIdOf(key));
    expect(rotated.keyIds).toEqual([keyIdOf(key), keyIdOf(oldKey), keyIdOf(olderKey)]);
    expect(rotated.hasKey(keyIdOf(olderKey))).toBe(true);
    // Without the new key configured, the new value is refused with the key id it needs.
    expect(() => before.decrypt(fresh, 'item-1')).toThrow(new RegExp(`key id ${keyIdOf(key)}, which is not configured`));
  });

  it('reads v1 values (written before key ids) with whichever configured key authenticates', () => {
    expect(rotated.decryptWithKeyId(sealV1(key, 'tok-current', 'a'), 'a')).toEqual({ plaintext: 'tok-current', keyId: keyIdOf(key) });
    expect(rotated.decryptWithKeyId(sealV1(olderKey, 'tok-older', 'a'), 'a')).toEqual({ plaintext: 'tok-older', keyId: keyIdOf(olderKey) });
    expect(() => rotated.decrypt(sealV1(randomBytes(32), 'tok', 'a'), 'a')).toThrow(TokenDecryptionError);
    expect(() => rotated.decrypt(sealV1(key, 'tok', 'a'), 'b')).toThrow(TokenDecryptionError);
  });

  it('ignores the current key repeated among the previous ones; encryptWithKey only takes configured keys', () => {
    const repeated = new TokenCipher(key, [key, oldKey, oldKey]);
    expect(repeated.keyIds).toEqual([keyIdOf(key), keyIdOf(oldKey)]);
    const canary = repeated.encryptWithKey(keyIdOf(oldKey), 'canary', 'c');
    expect(storedKeyId(canary)).toBe(keyIdOf(oldKey));
    expect(before.decrypt(canary, 'c')).toBe('canary');
    expect(() => repeated.encryptWithKey(keyIdOf(randomBytes(32)), 'x', 'c')).toThrow(/not configured/);
  });

  it('a v2 value whose key id was swapped for another configured key does not decrypt', () => {
    const written = before.encrypt('access-sandbox-old', 'item-1');
    const parts = written.split('.');
    parts[1] = keyIdOf(key);
    expect(() => rotated.decrypt(parts.join('.'), 'item-1')).toThrow(TokenDecryptionError);
  });
});

// Keeps the hand-made v1 writer honest: the cipher of the previous release, byte for byte.
describe('sealV1 (the v1 writer the tests use)', () => {
  it('matches the v1 layout: v1.<iv>.<tag>.<ciphertext>, AES-256-GCM with the AAD', () => {
    const stored = sealV1(key, 'access-sandbox-123', 'item-1');
    expect(stored).toMatch(/^v1\.[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]+$/);
    const [, iv = ''] = stored.split('.');
    const again = createCipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'), { authTagLength: 16 });
    again.setAAD(Buffer.from('item-1'));
    const body = Buffer.concat([again.update('access-sandbox-123', 'utf8'), again.final()]).toString('base64url');
    expect(stored.endsWith(`.${body}`)).toBe(true);
    expect(new TokenCipher(key).decrypt(stored, 'item-1')).toBe('access-sandbox-123');
  });
});
