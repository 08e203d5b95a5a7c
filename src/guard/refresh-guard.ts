/**
 * The cost guard around every refresh: concurrent refreshes of the same thing share one Plaid call
 * (single flight), and a refresh that would pass a Plaid limit is refused before it is sent.
 */
import { PlaidRateLimitExceededError } from '../plaid/errors.js';
import { RefreshThrottledError, type ThrottleScope } from '../services/errors.js';
import type { QuotaLimiter, QuotaRule } from './quota.js';
import type { RedisFlight } from './redis-flight.js';
import { SingleFlight, type FlightResult } from './single-flight.js';

/** Per-minute limits of one endpoint: per Item (or per user for the bundle) and per Plaid client. */
export interface EndpointLimits {
  readonly perTarget: number;
  readonly perClient: number;
}

export type GuardedEndpoint = '/transactions/refresh' | '/identity/refresh' | '/cashflow_report/refresh' | '/user/financial_data/refresh';

/**
 * Plaid documents 2 per Item and 100 per client per minute for /transactions/refresh. It documents
 * none for the others; since they are billed (or refresh whole bundles) the same budget is the default.
 */
export const DEFAULT_LIMITS: Readonly<Record<GuardedEndpoint, EndpointLimits>> = {
  '/transactions/refresh': { perTarget: 2, perClient: 100 },
  '/identity/refresh': { perTarget: 2, perClient: 100 },
  '/cashflow_report/refresh': { perTarget: 2, perClient: 100 },
  '/user/financial_data/refresh': { perTarget: 2, perClient: 100 },
};

const WINDOW_MS = 60_000;

/** What the guard did instead of calling Plaid, for metrics. */
export interface GuardObserver {
  joined(endpoint: GuardedEndpoint): void;
  throttled(endpoint: GuardedEndpoint, scope: ThrottleScope): void;
}

export class RefreshGuard {
  private readonly flight = new SingleFlight();

  constructor(
    private readonly quota: QuotaLimiter,
    private readonly limits: Readonly<Record<GuardedEndpoint, EndpointLimits>> = DEFAULT_LIMITS,
    /** Single flight across replicas (Redis); without it, single flight is per process. */
    private readonly distributed: RedisFlight | null = null,
    private readonly observer: GuardObserver | null = null,
  ) {}

  /**
   * Runs `call` at most once for concurrent callers of the same `flightKey`; the leader checks the
   * quota first. `target` is the Item id (or the user for the bundle).
   */
  async run<T>(
    endpoint: GuardedEndpoint,
    target: { scope: 'ITEM' | 'USER'; id: string },
    flightKey: string,
    call: () => Promise<T>,
  ): Promise<FlightResult<T>> {
    const key = `${endpoint}|${flightKey}`;
    const lead = async (): Promise<T> => {
      const limits = this.limits[endpoint];
      const targetRule: QuotaRule = { key: `${target.scope.toLowerCase()}:${target.id}:${endpoint}`, limit: limits.perTarget, windowMs: WINDOW_MS };
      const clientRule: QuotaRule = { key: `client:${endpoint}`, limit: limits.perClient, windowMs: WINDOW_MS };
      const decision = await this.quota.take([targetRule, clientRule]);
      if (!decision.allowed) {
        const scope: ThrottleScope = decision.key === clientRule.key ? 'CLIENT' : target.scope;
        this.observer?.throttled(endpoint, scope);
        throw new RefreshThrottledError(scope, Math.max(1, Math.ceil(decision.retryAfterMs / 1000)));
      }
      try {
        return await call();
      } catch (error) {
        // Plaid rejected it anyway (other clients of the key, other limits): believe Plaid for a window.
        if (error instanceof PlaidRateLimitExceededError) await this.quota.block(targetRule.key, WINDOW_MS);
        throw error;
      }
    };
    // Callers in this process share one flight; with Redis, that flight joins other replicas' too.
    const shared = await this.flight.run(key, () =>
      this.distributed ? this.distributed.run(key, lead) : lead().then((value) => ({ value, joined: false })),
    );
    const joined = shared.joined || shared.value.joined;
    if (joined) this.observer?.joined(endpoint);
    return { value: shared.value.value, joined };
  }
}
