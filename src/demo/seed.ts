/**
 * Embedded mode's demo viewer: a Plaid user and one Item per simulator fixture, linked through the
 * same public-token exchange (LinkService) a real client uses, plus a ready-to-use JWT. The
 * embedded simulator is seeded (DEMO_SIMULATOR_SEED), so the demo Items get the same ids on every
 * start: a GraphiQL tab or a script that names one keeps working after a restart.
 */
import { SignJWT } from 'jose';
import type { PlaidClient } from '../plaid/client.js';
import type { LinkService } from '../services/link-service.js';
import { FIXTURE_ITEMS } from '../simulator/fixtures.js';
import { INSTITUTIONS } from '../simulator/institutions.js';
import { linkFixtures, type LinkedFixtures } from './link-fixtures.js';
import type { TokenVault } from '../vault/vault.js';
import { callerFor } from '../services/caller.js';

export const DEMO_VIEWER_ID = 'demo';
/** The embedded simulator's id seed: the same fixtures, linked in the same order, get the same ids. */
export const DEMO_SIMULATOR_SEED = 'plaid-refresh-graphql embedded demo';

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
  let jwt = new SignJWT({})
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(sub)
    .setIssuedAt()
    .setExpirationTime(options.expiresIn ?? '12h');
  if (options.issuer) jwt = jwt.setIssuer(options.issuer);
  if (options.audience) jwt = jwt.setAudience(options.audience);
  return jwt.sign(new TextEncoder().encode(secret));
}

/**
 * The demo Items for the start-up banner, one line each: id, institution, what a refresh answers;
 * `*` marks the Items in the demo user's bundle (refreshUserFinancialData).
 */
export function describeDemoItems(fixtures: LinkedFixtures, indent = '    '): string[] {
  const rows = FIXTURE_ITEMS.map((fixture) => ({
    id: fixtures.items[fixture.key].itemId,
    institution: INSTITUTIONS.get(fixture.institutionId)?.name ?? fixture.institutionId,
    answers: `${fixture.inUserBundle ? '* ' : '  '}${fixture.answers}`,
  }));
  const width = Math.max(...rows.map((row) => row.institution.length));
  return [
    ...rows.map((row) => `${indent}${row.id}  ${row.institution.padEnd(width)}  ${row.answers}`.trimEnd()),
    `${indent}(* in the demo user's bundle: refreshUserFinancialData)`,
  ];
}
