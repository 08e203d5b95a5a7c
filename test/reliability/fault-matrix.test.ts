/**
 * The fault matrix: every mutation that calls Plaid against every fault the simulator can inject.
 * (createLinkToken and unlinkItem too: both Plaid calls are safe to re-send, so every fault is.)
 * Each cell must answer HTTP 200 with the typed union member the client and services are built to
 * give (never a masked "Unexpected error." or a 5xx), re-send only where src/plaid/retry.ts says it
 * is safe, and leave the service serving: the same mutation works again once the fault is gone.
 *
 * Every cell gets its own viewer, Item and Plaid user, so Plaid's 2-per-minute limit on
 * /transactions/refresh (the simulator's and the cost guard's) and the guard's one-minute block
 * after a 429 never leak from one cell into the next. The whole matrix runs with the cost guard in
 * memory, and again in Redis where REDIS_URL is set.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CreateLinkTokenDocument,
  LinkItemDocument,
  UnlinkItemDocument,
  RefreshCashflowReportDocument,
  RefreshIdentityDocument,
  RefreshTransactionsDocument,
  RefreshUserFinancialDataDocument,
} from '../../operations/generated/graphql.js';
import type { Runtime } from '../../src/runtime.js';
import type { FaultEffect, FaultInput } from '../../src/simulator/state.js';
import { execute, startTestService, tokenFor, type GraphQLResponse } from '../helpers/service.js';
import { injectFault } from '../helpers/simulator.js';
import { callerFor } from '../../src/services/caller.js';
import { needs } from '../helpers/needs.js';

const TIMEOUT_MS = 1_000; // the smallest PLAID_TIMEOUT_MS config accepts
const MAX_ATTEMPTS = 3;

const SERVICE_ENV = {
  PLAID_TIMEOUT_MS: String(TIMEOUT_MS),
  PLAID_MAX_ATTEMPTS: String(MAX_ATTEMPTS),
  // Retries in milliseconds, not seconds, so the retried cells stay fast; the budget never cuts them short.
  PLAID_RETRY_BASE_DELAY_MS: '1',
  PLAID_RETRY_MAX_DELAY_MS: '10',
  PLAID_RETRY_MAX_ELAPSED_MS: '10000',
};

/** The cost guard in memory always; in Redis too where REDIS_URL is set (CI), as replicas run it. */
const GUARD_BACKENDS: readonly (readonly [string, Record<string, string>, ReturnType<typeof needs>])[] = [
  ['guard in memory', {}, needs()],
  ['guard in Redis', { REDIS_URL: process.env.REDIS_URL ?? '' }, needs('REDIS_URL')],
];

/** The service of the backend being run; the backends' blocks run one after another. */
let runtime: Runtime;
let demoToken: string;

const sim = () => {
  if (!runtime.simulator) throw new Error('embedded mode expected');
  return runtime.simulator;
};

/** A union member as the client sees it: `__typename` and whatever the operation selected. */
type Member = { readonly __typename: string } & Record<string, unknown>;

interface Target {
  /** Which calls the fault hits: this cell's Item, user or endpoint only. */
  readonly scope: Omit<FaultInput, 'effect' | 'count'>;
  /** Calls to Plaid this cell's mutation made, from the simulator's log. */
  plaidCalls(): number;
  run(): Promise<{ response: GraphQLResponse<unknown>; result: Member | null | undefined }>;
}

interface MutationCase {
  readonly mutation: string;
  readonly success: string;
  /** Whether the cost guard fronts it, and so closes the target for a minute after Plaid's 429. */
  readonly guarded: boolean;
  /** A billed refresh: minutes-long faults (rate limits, outages) are not re-sent, and re-sends take quota. */
  readonly billed: boolean;
  /** The cost guard's per-target quota in this suite (transactions keeps Plaid's 2 per minute). */
  readonly perTargetLimit: number;
  /** Where this mutation answers a fault differently from the FAULTS table. */
  readonly outcome?: (f: FaultCase) => Pick<FaultCase, 'expected' | 'retried'>;
  /** Where the same mutation, sent again once the fault is gone, answers other than its success (and Plaid calls it makes then). */
  readonly again?: (f: FaultCase) => { readonly expected: Member; readonly calls: number } | undefined;
  prepare(viewerId: string, token: string): Promise<Target>;
}

let cellNumber = 0;

/** A fresh Item at a healthy institution, linked for `viewerId`, optionally into a Plaid user's bundle. */
async function linkFreshItem(viewerId: string, plaidUserId?: string): Promise<string> {
  const { publicToken } = await runtime.plaid.createSandboxPublicToken({
    institutionId: 'ins_109508',
    initialProducts: ['transactions', 'identity'],
    ...(plaidUserId ? { userId: plaidUserId } : {}),
  });
  return (await runtime.services.link.linkItem(callerFor(viewerId), publicToken)).id;
}

function itemCase(
  mutation: string,
  endpoint: string,
  run: (itemId: string, token: string) => Promise<GraphQLResponse<Record<string, unknown>>>,
  perTargetLimit = 1_000,
): MutationCase {
  const success = `${mutation.charAt(0).toUpperCase()}${mutation.slice(1)}Success`;
  return {
    mutation,
    success,
    guarded: true,
    billed: true,
    perTargetLimit,
    prepare: async (viewerId, token) => {
      const itemId = await linkFreshItem(viewerId);
      return {
        scope: { endpoint, item_id: itemId },
        plaidCalls: () => sim().state.requests({ path: endpoint, itemId }).length,
        run: async () => {
          const response = await run(itemId, token);
          return { response, result: response.data?.[mutation] as Member | null | undefined };
        },
      };
    },
  };
}

function linkCase(endpoint: string, outcome?: MutationCase['outcome']): MutationCase {
  return {
    mutation: `linkItem (fault at ${endpoint})`,
    success: 'LinkItemSuccess',
    guarded: false,
    billed: false,
    perTargetLimit: Number.POSITIVE_INFINITY,
    ...(outcome ? { outcome } : {}),
    prepare: (_viewerId, token) => {
      // No Item to scope by (it does not exist before the exchange): cells run one at a time, so the endpoint is enough.
      const earlier = new Set(
        sim()
          .state.requests({ path: endpoint })
          .map((r) => r.seq),
      );
      return Promise.resolve({
        scope: { endpoint },
        plaidCalls: () =>
          sim()
            .state.requests({ path: endpoint })
            .filter((r) => !earlier.has(r.seq)).length,
        run: async () => {
          // A fresh public token every time: they are single-use, and a timed-out exchange may have used it.
          const { publicToken } = await runtime.plaid.createSandboxPublicToken({
            institutionId: 'ins_109508',
            initialProducts: ['transactions'],
          });
          const response = await execute(runtime, LinkItemDocument, { publicToken }, token);
          return { response, result: response.data?.linkItem };
        },
      });
    },
  };
}

/** Calls to `endpoint` from now on (cells run one at a time): for calls no Item names before, or after, they run. */
function callsFromNow(endpoint: string): () => number {
  const earlier = new Set(
    sim()
      .state.requests({ path: endpoint })
      .map((r) => r.seq),
  );
  return () =>
    sim()
      .state.requests({ path: endpoint })
      .filter((r) => !earlier.has(r.seq)).length;
}

/** Every fault of FAULTS as it is, but re-sent: the call is safe to send again (a spare link token, an Item removed twice). */
const retriedAlways = (f: FaultCase) => ({ expected: f.expected, retried: true });

const createLinkTokenCase: MutationCase = {
  mutation: 'createLinkToken',
  success: 'CreateLinkTokenSuccess',
  guarded: false,
  billed: false,
  perTargetLimit: Number.POSITIVE_INFINITY,
  outcome: retriedAlways,
  prepare: (_viewerId, token) =>
    Promise.resolve({
      scope: { endpoint: '/link/token/create' },
      plaidCalls: callsFromNow('/link/token/create'),
      run: async () => {
        const response = await execute(runtime, CreateLinkTokenDocument, {}, token);
        return { response, result: response.data?.createLinkToken };
      },
    }),
};

const unlinkItemCase: MutationCase = {
  mutation: 'unlinkItem',
  success: 'UnlinkItemSuccess',
  guarded: false,
  billed: false,
  perTargetLimit: Number.POSITIVE_INFINITY,
  // A timed-out /item/remove still ran at Plaid: the third attempt finds the Item gone, which is removed all the same.
  outcome: (f) =>
    f.effect.type === 'latency'
      ? { expected: { __typename: 'UnlinkItemSuccess', alreadyGoneAtPlaid: true }, retried: true }
      : retriedAlways(f),
  // Then it is gone from the vault too: sent again, the answer of an Item the caller does not hold.
  again: (f) =>
    f.effect.type === 'latency' ? { expected: { __typename: 'ItemNotFoundError', nextAction: 'FIX_REQUEST' }, calls: 0 } : undefined,
  prepare: async (viewerId, token) => {
    const itemId = await linkFreshItem(viewerId);
    return {
      scope: { endpoint: '/item/remove', item_id: itemId },
      // Counted by endpoint: an attempt that finds the Item gone names no Item in the log.
      plaidCalls: callsFromNow('/item/remove'),
      run: async () => {
        const response = await execute(runtime, UnlinkItemDocument, { itemId }, token);
        return { response, result: response.data?.unlinkItem };
      },
    };
  },
};

const MUTATIONS: readonly MutationCase[] = [
  itemCase(
    'refreshTransactions',
    '/transactions/refresh',
    (itemId, token) => execute(runtime, RefreshTransactionsDocument, { itemId }, token),
    2,
  ),
  itemCase('refreshIdentity', '/identity/refresh', (itemId, token) => execute(runtime, RefreshIdentityDocument, { itemId }, token)),
  itemCase('refreshCashflowReport', '/cashflow_report/refresh', (itemId, token) =>
    execute(runtime, RefreshCashflowReportDocument, { itemId, days: 90 }, token),
  ),
  {
    mutation: 'refreshUserFinancialData',
    success: 'RefreshUserFinancialDataSuccess',
    guarded: true,
    billed: true,
    perTargetLimit: 1_000,
    prepare: async (viewerId, token) => {
      const { userId } = await runtime.plaid.createUser(viewerId);
      await linkFreshItem(viewerId, userId);
      await runtime.vault.setPlaidUserId(viewerId, userId);
      return {
        scope: { endpoint: '/user/financial_data/refresh', user_id: userId },
        plaidCalls: () => sim().state.requests({ path: '/user/financial_data/refresh', userId }).length,
        run: async () => {
          const response = await execute(runtime, RefreshUserFinancialDataDocument, {}, token);
          return { response, result: response.data?.refreshUserFinancialData };
        },
      };
    },
  },
  // Link calls Plaid twice: a fault at the exchange, and one at /item/get once the exchange succeeded.
  linkCase('/item/public_token/exchange'),
  // /item/get only reads, so every fault is retried; if it still fails, the Item is kept (the
  // access token must not be lost once the public token is spent) without institution details.
  linkCase('/item/get', () => ({
    expected: {
      __typename: 'LinkItemSuccess',
      item: expect.objectContaining({ institutionId: 'unknown', institutionName: 'Unknown institution' }) as unknown,
    },
    retried: true,
  })),
  createLinkTokenCase,
  unlinkItemCase,
];

interface FaultCase {
  readonly fault: string;
  readonly effect: FaultEffect;
  readonly expected: Member;
  /** From src/plaid/retry.ts: re-sent only where the call did not run or Plaid says to back off. */
  readonly retried: boolean;
  /** For a billed refresh: faults that last minutes go to the caller as retryAfterSeconds instead. */
  readonly retriedWhenBilled?: boolean;
}

/** No answer, or none that can be read: the call may have run at Plaid (and been billed), so it is sent once. */
const unavailable = (kind: string) => ({
  __typename: 'PlaidUnavailableError',
  kind,
  mayHaveRun: true,
  nextAction: 'RETRY_LATER',
  retryAfterSeconds: 60,
});

const FAULTS: readonly FaultCase[] = [
  {
    fault: 'latency past the timeout',
    effect: { type: 'latency', ms: TIMEOUT_MS + 500 },
    expected: unavailable('TIMEOUT'),
    retried: false,
  },
  { fault: 'connection reset', effect: { type: 'connection_reset' }, expected: unavailable('CONNECTION_RESET'), retried: false },
  { fault: 'HTML 502', effect: { type: 'html_502' }, expected: unavailable('BAD_RESPONSE'), retried: false },
  { fault: 'malformed JSON', effect: { type: 'malformed_json' }, expected: unavailable('BAD_RESPONSE'), retried: false },
  { fault: 'a 200 of the wrong shape', effect: { type: 'wrong_shape' }, expected: unavailable('BAD_RESPONSE'), retried: false },
  {
    // RATE_LIMIT: Plaid's generic 429, documented for all four refresh endpoints.
    fault: '429 RATE_LIMIT',
    effect: { type: 'error', error_code: 'RATE_LIMIT', http_status: 429 },
    expected: {
      __typename: 'PlaidRateLimitExceededError',
      errorType: 'RATE_LIMIT_EXCEEDED',
      errorCode: 'RATE_LIMIT',
      nextAction: 'RETRY_LATER',
      retryAfterSeconds: 60,
    },
    retried: true,
    retriedWhenBilled: false,
  },
  {
    fault: '500 INTERNAL_SERVER_ERROR',
    effect: { type: 'error', error_code: 'INTERNAL_SERVER_ERROR', http_status: 500 },
    expected: {
      __typename: 'PlaidApiError',
      errorType: 'API_ERROR',
      errorCode: 'INTERNAL_SERVER_ERROR',
      nextAction: 'RETRY_LATER',
      retryAfterSeconds: null,
    },
    retried: true,
  },
  {
    fault: '503 PLANNED_MAINTENANCE',
    effect: { type: 'error', error_code: 'PLANNED_MAINTENANCE', http_status: 503 },
    expected: {
      __typename: 'PlaidApiError',
      errorType: 'API_ERROR',
      errorCode: 'PLANNED_MAINTENANCE',
      nextAction: 'RETRY_LATER',
      retryAfterSeconds: null,
    },
    retried: true,
    retriedWhenBilled: false,
  },
];

const isRateLimit = (f: FaultCase) => f.expected.__typename === 'PlaidRateLimitExceededError';

/** HTTP 200, no GraphQL errors at all (so none masked), and the mutation field answered. */
function expectCleanAnswer(response: GraphQLResponse<unknown>, result: Member | null | undefined): Member {
  expect(response.status).toBe(200);
  expect(response.errors).toBeUndefined();
  expect(response.text).not.toContain('Unexpected error.');
  expect(result).toBeTruthy();
  return result as Member;
}

/** Calls that reach Plaid for one run of the cell: re-sends as the policy allows, and only while the quota has room. */
function callsFor(f: FaultCase, m: MutationCase): number {
  const { retried } = m.outcome?.(f) ?? f;
  const resent = m.billed ? (f.retriedWhenBilled ?? retried) : retried;
  return resent ? Math.min(MAX_ATTEMPTS, m.perTargetLimit) : 1;
}

/** e.g. "× HTML 502 -> PlaidUnavailableError BAD_RESPONSE (may have run), sent once". */
function cellName(f: FaultCase, m: MutationCase): string {
  const { expected } = m.outcome?.(f) ?? f;
  const { __typename, kind, errorCode } = expected;
  const detail = typeof kind === 'string' ? ` ${kind} (may have run)` : typeof errorCode === 'string' ? ` ${errorCode}` : '';
  const calls = callsFor(f, m);
  return `× ${f.fault} -> ${__typename}${detail}, ${calls === 1 ? 'sent once' : `sent ${calls} times`}`;
}

for (const [backendName, backendEnv, requirements] of GUARD_BACKENDS)
  describe(backendName, requirements, () => {
    beforeAll(async () => {
      ({ runtime } = await startTestService({ ...SERVICE_ENV, ...backendEnv }));
      demoToken = await tokenFor('demo');
    });
    afterAll(() => runtime.close());

    describe.each(MUTATIONS.map((m) => [m.mutation, m] as const))('%s', (_mutation, m) => {
      it.each(FAULTS.map((f) => [cellName(f, m), f] as const))('%s', async (_name, f) => {
        const viewerId = `fault-matrix-${++cellNumber}`;
        const token = await tokenFor(viewerId);
        const target = await m.prepare(viewerId, token);
        await injectFault(sim(), { ...target.scope, effect: f.effect });

        let answer;
        try {
          answer = await target.run();
        } finally {
          sim().state.clearFaults();
        }
        const { expected } = m.outcome?.(f) ?? f;
        expect(expectCleanAnswer(answer.response, answer.result)).toMatchObject(expected);
        expect(target.plaidCalls()).toBe(callsFor(f, m));

        // Still serving. After Plaid's 429 the cost guard closes this target for a minute by design
        // (nothing is sent), as it does once the re-sends spent the target's quota; everything else
        // works again at once.
        const before = target.plaidCalls();
        const again = await target.run();
        const member = expectCleanAnswer(again.response, again.result);
        const otherwise = m.again?.(f);
        if (otherwise) {
          expect(member).toMatchObject(otherwise.expected);
          expect(target.plaidCalls()).toBe(before + otherwise.calls);
        } else if ((isRateLimit(f) && m.guarded) || before >= m.perTargetLimit) {
          expect(member).toMatchObject({ __typename: 'RefreshThrottledError', nextAction: 'RETRY_LATER' });
          expect(target.plaidCalls()).toBe(before);
        } else {
          expect(member.__typename).toBe(m.success);
          if (m.mutation === 'refreshUserFinancialData') expect(member.results).toEqual([expect.objectContaining({ error: null })]);
          expect(target.plaidCalls()).toBe(before + 1);
        }
        // And a refresh of another, untouched Item succeeds.
        const canary = await execute(runtime, RefreshIdentityDocument, { itemId: canaryItemId() }, demoToken);
        expect(expectCleanAnswer(canary, canary.data?.refreshIdentity).__typename).toBe('RefreshIdentitySuccess');
      });
    });
  });

function canaryItemId(): string {
  if (!runtime.demo) throw new Error('demo expected');
  return runtime.demo.fixtures.items.healthy.itemId;
}
