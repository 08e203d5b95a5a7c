/**
 * Embedded mode's demo viewer: a Plaid user and one Item per simulator fixture, linked through the
 * same public-token exchange (LinkService) a real client uses, plus a ready-to-use JWT.
 */
import { SignJWT } from 'jose';
import type { PlaidClient } from '../plaid/client.js';
import type { LinkService } from '../services/link-service.js';
import { linkFixtures, type LinkedFixtures } from './link-fixtures.js';
import type { TokenVault } from '../vault/vault.js';
import { callerFor } from '../services/caller.js';

export const DEMO_VIEWER_ID = 'demo';

export async function seedDemoViewer(deps: { plaid: PlaidClient; vault: TokenVault; link: LinkService }): Promise<LinkedFixtures> {
  const fixtures = await linkFixtures(deps.plaid, {
    clientUserId: DEMO_VIEWER_ID,
    exchange: async (publicToken) => {
      const item = await deps.link.linkItem(callerFor(DEMO_VIEWER_ID), publicToken);
      const accessToken = await deps.vault.getAccessToken(DEMO_VIEWER_ID, item.id);
      if (accessToken === null) throw new Error('the demo Item was not stored');
      return { itemId: item.id, accessToken };
    },
  });
  await deps.vault.setPlaidUserId(DEMO_VIEWER_ID, fixtures.userId);
  return fixtures;
}

/** An HS256 token for `sub`, as the company's identity provider would issue it. */
export async function signViewerToken(
  secret: string,
  sub: string,
  options: { issuer?: string | null; audience?: string | null; expiresIn?: string } = {},
): Promise<string> {
  let jwt = new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject(sub).setIssuedAt().setExpirationTime(options.expiresIn ?? '12h');
  if (options.issuer) jwt = jwt.setIssuer(options.issuer);
  if (options.audience) jwt = jwt.setAudience(options.audience);
  return jwt.sign(new TextEncoder().encode(secret));
}
