/**
 * An Item's health: the last Plaid error seen for it that needs the end user in Plaid Link
 * (login required, consent or access revoked, the Item gone), or none once it was seen working.
 * Errors that say nothing about the connection (an outage, a rate limit, a product the Item lacks,
 * this service's configuration) neither set nor clear it. Observations come from refresh answers
 * (RefreshService), links (LinkService) and Plaid's Item webhooks (ItemService.observeHealth).
 */
import type { Logger } from '../observability/logger.js';
import type { PlaidErrorData } from '../plaid/errors.js';
import type { ItemHealthSource, StoredPlaidError, TokenVault } from '../vault/vault.js';
import { adviceForPlaidError, needsLink } from './next-action.js';

/** One observation: Plaid's error for the Item, or null when Plaid answered it with a success. */
export interface HealthObservation {
  readonly itemId: string;
  readonly error: PlaidErrorData | null;
}

/** Whether Plaid's error makes its Item unhealthy: only errors whose next step is Plaid Link. */
export function affectsHealth(error: Pick<PlaidErrorData, 'errorType' | 'errorCode'>): boolean {
  return needsLink(adviceForPlaidError(error.errorType, error.errorCode));
}

/** Plaid's error as plain data, field by field: a thrown error also carries its raw body and stack, which the vault does not keep. */
function stored(error: PlaidErrorData): StoredPlaidError {
  return {
    message: error.message,
    status: error.status,
    errorType: error.errorType,
    errorCode: error.errorCode,
    errorCodeReason: error.errorCodeReason,
    errorMessage: error.errorMessage,
    displayMessage: error.displayMessage,
    requestId: error.requestId,
    causes: error.causes,
    documentationUrl: error.documentationUrl,
    suggestedAction: error.suggestedAction,
    requiredAccountSubtypes: error.requiredAccountSubtypes,
    providedAccountSubtypes: error.providedAccountSubtypes,
  };
}

/** The observations that change health, as the vault stores them; issued together, so they go as one statement. */
export async function recordHealth(
  vault: TokenVault,
  observations: readonly HealthObservation[],
  source: ItemHealthSource,
  observedAt: Date = new Date(),
): Promise<boolean[]> {
  return Promise.all(
    observations.map(async (o) => {
      if (o.error !== null && !affectsHealth(o.error)) return false;
      // A link that works (update mode, or a new Item) renews consent: an announced expiry is over.
      if (source === 'LINK' && o.error === null) await vault.recordItemExpiry(o.itemId, null, observedAt);
      return vault.recordItemHealth(o.itemId, o.error && stored(o.error), source, observedAt);
    }),
  );
}

/** Like recordHealth, but never throws: the answer Plaid gave must reach the caller; stale health is only logged. */
export async function keepHealth(
  vault: TokenVault,
  logger: Logger,
  observations: readonly HealthObservation[],
  source: ItemHealthSource,
): Promise<void> {
  if (observations.length === 0) return;
  try {
    await recordHealth(vault, observations, source);
  } catch (error) {
    logger.warn({ err: error, items: observations.length, source }, 'Item health not recorded');
  }
}
