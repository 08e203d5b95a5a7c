/**
 * Fixture Items: recipes for Items that cover the happy path and the common failures, linked
 * through the same calls a real client makes against Plaid Sandbox (/user/create,
 * /sandbox/public_token/create, /item/public_token/exchange, /sandbox/item/reset_login).
 * Tests and the embedded demo use `linkFixtures`; docs/simulator.md lists what each one answers.
 */
import type { PlaidClient } from '../plaid/client.js';

export interface FixtureItem {
  readonly key: FixtureKey;
  readonly institutionId: string;
  readonly username: string;
  readonly products: readonly string[];
  /** Put the Item into ITEM_LOGIN_REQUIRED after linking (/sandbox/item/reset_login). */
  readonly resetLogin?: boolean;
  /** Part of the fixture user's bundle (/user/financial_data/refresh). */
  readonly inUserBundle?: boolean;
  readonly answers: string;
}

export type FixtureKey =
  | 'healthy'
  | 'oauthLoginRequired'
  | 'capitalOneCredit'
  | 'transactionsOnly'
  | 'institutionDown'
  | 'internalError'
  | 'invalidProduct'
  | 'refreshLimit';

export const FIXTURE_ITEMS: readonly FixtureItem[] = [
  {
    key: 'healthy',
    institutionId: 'ins_109508',
    username: 'user_good',
    products: ['transactions', 'identity'],
    inUserBundle: true,
    answers: 'every refresh succeeds (until the 2-per-minute /transactions/refresh limit)',
  },
  {
    key: 'oauthLoginRequired',
    institutionId: 'ins_127287',
    username: 'user_good',
    products: ['transactions', 'identity'],
    resetLogin: true,
    inUserBundle: true,
    answers: 'ITEM_LOGIN_REQUIRED (400) with error_code_reason OAUTH_INVALID_TOKEN',
  },
  {
    key: 'capitalOneCredit',
    institutionId: 'ins_128026',
    username: 'user_good',
    products: ['transactions', 'identity'],
    answers: 'transactions and cashflow refresh: PRODUCTS_NOT_SUPPORTED (credit cards only); identity succeeds',
  },
  {
    key: 'transactionsOnly',
    institutionId: 'ins_109509',
    username: 'user_good',
    products: ['transactions'],
    answers: 'identity refresh: PRODUCT_NOT_ENABLED; transactions and cashflow succeed',
  },
  {
    key: 'institutionDown',
    institutionId: 'ins_132361',
    username: 'user_good',
    products: ['transactions', 'identity'],
    inUserBundle: true,
    answers: 'INSTITUTION_DOWN (400) on every refresh',
  },
  {
    key: 'internalError',
    institutionId: 'ins_109511',
    username: 'sim_error_INTERNAL_SERVER_ERROR',
    products: ['transactions', 'identity'],
    answers: 'INTERNAL_SERVER_ERROR (500) on every refresh',
  },
  {
    key: 'invalidProduct',
    institutionId: 'ins_109510',
    username: 'sim_error_INVALID_PRODUCT',
    products: ['transactions', 'identity'],
    answers: 'INVALID_PRODUCT (400), as for a Plaid account without the refresh add-on',
  },
  {
    key: 'refreshLimit',
    institutionId: 'ins_109512',
    username: 'sim_error_TRANSACTIONS_REFRESH_LIMIT',
    products: ['transactions', 'identity'],
    answers: 'TRANSACTIONS_REFRESH_LIMIT (429) on every refresh',
  },
];

/** The fixture user's `client_user_id`; its bundle mixes a success and per-Item errors. */
export const FIXTURE_USER_CLIENT_ID = 'fixture-user-mixed';

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
