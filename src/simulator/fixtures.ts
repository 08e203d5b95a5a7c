/**
 * Fixture Items: recipes for Items that cover the happy path and the common failures, made through
 * the same calls a real client makes against Plaid Sandbox (src/demo/link-fixtures.ts links them);
 * docs/simulator.md lists what each one answers. The simulator's side only: it knows nothing of the client.
 */

export interface FixtureItem {
  readonly key: FixtureKey;
  readonly institutionId: string;
  readonly username: string;
  readonly products: readonly string[];
  /** Put the Item into ITEM_LOGIN_REQUIRED after linking (/sandbox/item/reset_login). */
  readonly resetLogin?: boolean;
  /** Part of the fixture user's bundle (/user/financial_data/refresh). */
  readonly inUserBundle?: boolean;
  /** What a refresh of it answers, in one line (the embedded banner prints it). */
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
    answers: 'success (transactions: until the limit of 2 per minute)',
  },
  {
    key: 'oauthLoginRequired',
    institutionId: 'ins_127287',
    username: 'user_good',
    products: ['transactions', 'identity'],
    resetLogin: true,
    inUserBundle: true,
    answers: 'ITEM_LOGIN_REQUIRED (400), reason OAUTH_INVALID_TOKEN',
  },
  {
    key: 'capitalOneCredit',
    institutionId: 'ins_128026',
    username: 'user_good',
    products: ['transactions', 'identity'],
    answers: 'identity: success; transactions, cashflow: PRODUCTS_NOT_SUPPORTED',
  },
  {
    key: 'transactionsOnly',
    institutionId: 'ins_109509',
    username: 'user_good',
    products: ['transactions'],
    answers: 'identity: PRODUCT_NOT_ENABLED; transactions, cashflow: success',
  },
  {
    key: 'institutionDown',
    institutionId: 'ins_132361',
    username: 'user_good',
    products: ['transactions', 'identity'],
    inUserBundle: true,
    answers: 'INSTITUTION_DOWN (400)',
  },
  {
    key: 'internalError',
    institutionId: 'ins_109511',
    username: 'sim_error_INTERNAL_SERVER_ERROR',
    products: ['transactions', 'identity'],
    answers: 'INTERNAL_SERVER_ERROR (500)',
  },
  {
    key: 'invalidProduct',
    institutionId: 'ins_109510',
    username: 'sim_error_INVALID_PRODUCT',
    products: ['transactions', 'identity'],
    answers: 'INVALID_PRODUCT (400), as without the refresh add-on',
  },
  {
    key: 'refreshLimit',
    institutionId: 'ins_109512',
    username: 'sim_error_TRANSACTIONS_REFRESH_LIMIT',
    products: ['transactions', 'identity'],
    answers: 'TRANSACTIONS_REFRESH_LIMIT (429)',
  },
];

/** The fixture user's `client_user_id`; its bundle mixes a success and per-Item errors. */
export const FIXTURE_USER_CLIENT_ID = 'fixture-user-mixed';
