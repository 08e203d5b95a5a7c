/**
 * Links the simulator's fixture Items through the same calls a real client makes against Plaid
 * Sandbox (/user/create, /sandbox/public_token/create, /item/public_token/exchange,
 * /sandbox/item/reset_login). Tests and the embedded demo use it.
 */
import type { PlaidClient } from '../plaid/client.js';
import { FIXTURE_ITEMS, FIXTURE_USER_CLIENT_ID, type FixtureKey } from '../simulator/fixtures.js';

export interface LinkedItem {
  readonly itemId: string;
  readonly accessToken: string;
  readonly institutionId: string;
  readonly products: readonly string[];
}

export interface LinkedFixtures {
  readonly userId: string;
  readonly items: Readonly<Record<FixtureKey, LinkedItem>>;
}

export interface LinkFixturesOptions {
  readonly clientUserId?: string;
  /**
   * Turns a public token into a linked Item. Defaults to /item/public_token/exchange; the embedded
   * demo passes its own Link flow, so fixtures land in the vault the way a real client's Items do.
   */
  readonly exchange?: (publicToken: string) => Promise<{ itemId: string; accessToken: string }>;
}

/** Links every fixture Item (and the fixture user) through Plaid's Sandbox flow. */
export async function linkFixtures(client: PlaidClient, options: LinkFixturesOptions = {}): Promise<LinkedFixtures> {
  const exchange = options.exchange ?? ((publicToken: string) => client.exchangePublicToken(publicToken));
  const { userId } = await client.createUser(options.clientUserId ?? FIXTURE_USER_CLIENT_ID);
  // One at a time, so the user's bundle lists its Items in FIXTURE_ITEMS order.
  const entries: [FixtureKey, LinkedItem][] = [];
  for (const fixture of FIXTURE_ITEMS) {
    const { publicToken } = await client.createSandboxPublicToken({
      institutionId: fixture.institutionId,
      initialProducts: fixture.products,
      username: fixture.username,
      password: 'pass_good',
      ...(fixture.inUserBundle ? { userId } : {}),
    });
    const { accessToken, itemId } = await exchange(publicToken);
    if (fixture.resetLogin) await client.resetSandboxItemLogin(accessToken);
    entries.push([fixture.key, { itemId, accessToken, institutionId: fixture.institutionId, products: fixture.products }]);
  }
  return { userId, items: Object.fromEntries(entries) as Record<FixtureKey, LinkedItem> };
}
