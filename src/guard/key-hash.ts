/**
 * Key names in Redis must not reveal who they are about: a Plaid user id is kept encrypted in the
 * vault, so Redis (readable by whoever operates it) gets a keyed hash of it instead.
 */
import { createHmac, hkdfSync } from 'node:crypto';

export type KeyHash = (id: string) => string;

/**
 * HMAC-SHA256 under a key derived from `secret` (the vault's encryption key), truncated to 128 bits:
 * stable across replicas that share the secret, meaningless without it.
 */
export function keyedHash(secret: string | Buffer): KeyHash {
  const key = Buffer.from(hkdfSync('sha256', secret, Buffer.alloc(0), 'plaid-refresh-graphql redis key names', 32));
  return (id) => createHmac('sha256', key).update(id).digest('base64url').slice(0, 22);
}
