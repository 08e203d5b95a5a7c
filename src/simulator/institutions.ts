/**
 * Plaid's Sandbox-only institutions, with the ids Plaid gives them (plaid.com/docs/sandbox/institutions),
 * and how each behaves in the simulator when its Items are refreshed.
 */

export interface SimInstitution {
  readonly id: string;
  readonly name: string;
  readonly oauth: boolean;
  /** Error code every refresh of its Items answers, for institutions that are unhealthy by design. */
  readonly refreshError: string | null;
  /** Items hold only non-depository accounts (credit cards), which transactions/cashflow refresh reject. */
  readonly nonDepositoryOnly: boolean;
}

const institution = (
  id: string,
  name: string,
  extra: Partial<Pick<SimInstitution, 'oauth' | 'refreshError' | 'nonDepositoryOnly'>> = {},
): SimInstitution => ({
  id,
  name,
  oauth: extra.oauth ?? false,
  refreshError: extra.refreshError ?? null,
  nonDepositoryOnly: extra.nonDepositoryOnly ?? false,
});

export const INSTITUTIONS: ReadonlyMap<string, SimInstitution> = new Map(
  [
    institution('ins_109508', 'First Platypus Bank'),
    institution('ins_130016', 'First Platypus Balance Bank'),
    institution('ins_109509', 'First Gingham Credit Union'),
    institution('ins_109510', 'Tattersall Federal Credit Union'),
    institution('ins_109511', 'Tartan Bank'),
    institution('ins_109512', 'Houndstooth Bank'),
    institution('ins_43', 'Tartan-Dominion Bank of Canada'),
    institution('ins_127287', 'Platypus OAuth Bank', { oauth: true }),
    institution('ins_132241', 'First Platypus OAuth App2App Bank', { oauth: true }),
    institution('ins_117650', 'Royal Bank of Plaid', { oauth: true }),
    institution('ins_132363', 'Unhealthy Platypus Bank - Degraded', { refreshError: 'INSTITUTION_NOT_RESPONDING' }),
    institution('ins_132361', 'Unhealthy Platypus Bank - Down', { refreshError: 'INSTITUTION_DOWN' }),
    // A real Production institution; in Sandbox its Items are credit-card only, as the refresh docs warn.
    institution('ins_128026', 'Capital One', { oauth: true, nonDepositoryOnly: true }),
  ].map((i) => [i.id, i]),
);
