/**
 * 4. Entities: a router's `_entities` with many PlaidItem representations resolves through the
 * request's DataLoader: one vault query for all of them (counted in the service process), timed.
 */
import type { ServiceChild } from '../children.js';
import { median } from '../load.js';
import { graphql } from '../requests.js';

export interface EntitiesOptions {
  readonly representations: number;
  readonly rounds: number;
}

export interface EntitiesResult {
  readonly options: EntitiesOptions;
  /** Vault queries per request (every round). */
  readonly vaultQueries: readonly number[];
  /** Representations that resolved to the caller's Item (all of them are the caller's). */
  readonly resolved: number;
  readonly medianMs: number;
  /** The service's CPU time per request (ms), where its child reports it. */
  readonly cpuMs: readonly number[];
  readonly timesMs: readonly number[];
}

const QUERY = /* GraphQL */ `
  query Entities($representations: [_Any!]!) {
    _entities(representations: $representations) {
      ... on PlaidItem {
        id
        institutionId
        institutionName
        products
        linkedAt
      }
    }
  }
`;

export async function entities(service: ServiceChild, options: EntitiesOptions): Promise<EntitiesResult> {
  const { ready } = service;
  const ids = ready.items.slice(0, options.representations).map((item) => item.id);
  if (ids.length < options.representations)
    throw new Error(`entities needs ${options.representations} Items, the service has ${ids.length}`);
  const representations = ids.map((id) => ({ __typename: 'PlaidItem', id }));
  const timesMs: number[] = [];
  const cpuMs: number[] = [];
  const vaultQueries: number[] = [];
  let resolved = 0;
  // One unmeasured round first (JIT, vault pages).
  for (let round = -1; round < options.rounds; round++) {
    const statsBefore = await service.stats();
    const before = statsBefore.vaultQueries;
    const started = performance.now();
    const answer = await graphql<{ _entities: ({ id: string } | null)[] }>(ready.url, ready.token, QUERY, { representations });
    const elapsed = performance.now() - started;
    const statsAfter = await service.stats();
    const after = statsAfter.vaultQueries;
    if (answer.errors?.length) throw new Error(`_entities failed: ${answer.errors.map((e) => e.message).join('; ')}`);
    if (round < 0) continue;
    timesMs.push(elapsed);
    if (statsBefore.cpuMs !== undefined && statsAfter.cpuMs !== undefined) cpuMs.push(statsAfter.cpuMs - statsBefore.cpuMs);
    vaultQueries.push(after - before);
    resolved = answer.data?._entities.filter((entity, i) => entity?.id === ids[i]).length ?? 0;
  }
  return { options, vaultQueries, resolved, medianMs: median(timesMs), timesMs, cpuMs };
}
