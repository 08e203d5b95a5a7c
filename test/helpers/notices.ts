/** A refresh notice as the lifecycle publishes it, for tests of the notice bus and its subscribers. */
import type { RefreshNotice } from '../../src/services/refresh-lifecycle.js';

export const notice = (viewerId: string, itemId: string, refreshIds: string[] = []): RefreshNotice => ({
  viewerId,
  itemId,
  refreshIds,
  eventIds: [],
  occurredAt: Date.now(),
});
