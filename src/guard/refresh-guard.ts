/**
 * The cost guard around every Plaid call that is billed or rate-limited: concurrent refreshes of the
 * same thing share one Plaid call (single flight), and a call that would pass a quota (per Item or
 * Plaid user, per viewer, per Plaid client) is refused before it is sent. Every attempt counts,
 * re-sends included, since each one spends Plaid's quota.
 */
import type { RefreshEndpoint } from '../catalogue/refresh-products.js';
import { PlaidRateLimitExceededError } from '../plaid/errors.js';
import { QuotaExceededError, type QuotaScope } from './errors.js';
import type { KeyHash } from './key-hash.js';
import type { QuotaLimiter, QuotaRule } from './quota.js';
import type { RedisFlight } from './redis-flight.js';
import { SingleFlight, asLeader, type FlightResult } from '../util/single-flight.js';

/** Per-minute limits of one endpoint: per Item (or Plaid user for the bundle), per viewer, per Plaid client. */
export interface EndpointLimits {
  readonly perTarget: number;
  readonly perViewer: number;
  readonly perClient: number;
}

/** linkItem: each one spends a Plaid exchange call. Per viewer per hour, per Plaid client per minute. */
export interface LinkLimits {
  readonly perViewerPerHour: number;
  readonly perClientPerMinute: number;
}

/** Every refresh endpoint of the catalogue is guarded. */
export type GuardedEndpoint = RefreshEndpoint;

export interface GuardLimits {
  readonly endpoints: Readonly<Record<GuardedEndpoint, EndpointLimits>>;
  readonly link: LinkLimits;
  /** createLinkToken: a /link/token/create each (free at Plaid, but rate-limited); default DEFAULT_LINK_TOKEN_LIMITS. */
  readonly linkToken?: LinkLimits;
}

/** Link sessions a viewer may open per hour (a few retries of a few Items), and everyone per minute. */
export const DEFAULT_LINK_TOKEN_LIMITS: LinkLimits = Object.freeze({ perViewerPerHour: 30, perClientPerMinute: 300 });

/** One guarded call: what it is, who asks, and until when the asker waits. */
export interface GuardedCall {
  readonly endpoint: GuardedEndpoint;
  readonly viewerId: string;
  /** The Item, or the Plaid user for the bundle. */
  readonly target: { readonly scope: 'ITEM' | 'USER'; readonly id: string };
  /** Tells apart calls of one endpoint and target that are not identical (cashflow `days`). */
  readonly variant?: string;
  /** Epoch ms: a follower stops waiting for the shared call then. */
  readonly deadline: number;
}

/** Asks the quotas for room before the same call is sent to Plaid again; false means do not re-send. */
export type ResendGate = () => Promise<boolean>;

/** What the guard did instead of calling Plaid, for metrics. */
export interface GuardObserver {
  joined(endpoint: string): void;
  throttled(endpoint: string, scope: QuotaScope): void;
}

export interface RefreshGuardOptions {
  /** Single flight across replicas (Redis); without it, single flight is per process. */
  readonly distributed?: RedisFlight | null;
  readonly observer?: GuardObserver | null;
  /** Hashes ids that must not appear in key names (viewers, Plaid users). */
  readonly keyHash?: KeyHash;
}

const MINUTE_MS = 60_000;
const yes = () => true;
const no = () => false;
const HOUR_MS = 60 * MINUTE_MS;

export class RefreshGuard {
  private readonly flight = new SingleFlight();
  private readonly distributed: RedisFlight | null;
  private readonly observer: GuardObserver | null;
  private readonly hash: KeyHash;

  constructor(
    private readonly quota: QuotaLimiter,
    private readonly limits: GuardLimits,
    options: RefreshGuardOptions = {},
  ) {
    this.distributed = options.distributed ?? null;
    this.observer = options.observer ?? null;
    this.hash = options.keyHash ?? ((id) => id);
  }

  /**
   * Runs `call` at most once for concurrent identical calls; the leader takes the quotas first and
   * `call` gets a gate to ask again before each re-send. Rejects with QuotaExceededError before
   * anything is sent when a quota is spent.
   */
  async run<T>(request: GuardedCall, call: (resend: ResendGate) => Promise<T>): Promise<FlightResult<T>> {
    const { endpoint, target } = request;
    const targetId = target.scope === 'USER' ? this.hash(target.id) : target.id;
    const key = `${endpoint}|${target.scope}:${targetId}|${request.variant ?? ''}`;
    // Callers in this process share one flight; with Redis, that flight joins other replicas' too.
    const distributed = this.distributed;
    const shared = await this.flight.run(key, () =>
      distributed
        ? distributed.run(key, () => this.lead(request, targetId, call), request.deadline)
        : this.lead(request, targetId, call).then(asLeader),
    );
    const joined = shared.joined || shared.value.joined;
    if (joined) this.observer?.joined(endpoint);
    return { value: shared.value.value, joined };
  }

  /**
   * The leader's call: the quotas first, then `call` with a gate for each re-send. The rules are
   * made again where they are needed rather than kept: a refresh waits on Plaid for seconds, and
   * 10,000 in flight would each hold three rules and their key strings (issue #16, target 2).
   */
  private async lead<T>(request: GuardedCall, targetId: string, call: (resend: ResendGate) => Promise<T>): Promise<T> {
    const { endpoint } = request;
    await this.take(endpoint, this.rulesOf(request, targetId));
    // A refused or uncoordinated re-send is simply not made: the caller gets Plaid's own answer.
    const resend: ResendGate = () => this.take(endpoint, this.rulesOf(request, targetId), false).then(yes, no);
    try {
      return await call(resend);
    } catch (error) {
      // Plaid rejected it anyway (other clients of the key, other limits): believe Plaid for a window.
      if (error instanceof PlaidRateLimitExceededError)
        await this.quota.block(this.rulesOf(request, targetId)[0]?.key ?? '', MINUTE_MS).catch(() => {});
      throw error;
    }
  }

  /** The per-minute rules of one refresh: its Item or Plaid user, its viewer, the Plaid client. */
  private rulesOf(request: GuardedCall, targetId: string): readonly (QuotaRule & { scope: QuotaScope })[] {
    const { endpoint, target } = request;
    const limits = this.limits.endpoints[endpoint];
    return [
      { scope: target.scope, key: `${target.scope.toLowerCase()}:${targetId}:${endpoint}`, limit: limits.perTarget, windowMs: MINUTE_MS },
      { scope: 'VIEWER', key: `viewer:${this.hash(request.viewerId)}:${endpoint}`, limit: limits.perViewer, windowMs: MINUTE_MS },
      { scope: 'CLIENT', key: `client:${endpoint}`, limit: limits.perClient, windowMs: MINUTE_MS },
    ];
  }

  /** Takes one linkItem from the viewer's and the client's budget, or throws QuotaExceededError. */
  async takeLink(viewerId: string): Promise<void> {
    const { perViewerPerHour, perClientPerMinute } = this.limits.link;
    await this.take('/item/public_token/exchange', [
      { scope: 'VIEWER', key: `viewer:${this.hash(viewerId)}:link`, limit: perViewerPerHour, windowMs: HOUR_MS },
      { scope: 'CLIENT', key: 'client:link', limit: perClientPerMinute, windowMs: MINUTE_MS },
    ]);
  }

  /** Takes one createLinkToken from the viewer's and the client's budget, or throws QuotaExceededError. */
  async takeLinkToken(viewerId: string): Promise<void> {
    const { perViewerPerHour, perClientPerMinute } = this.limits.linkToken ?? DEFAULT_LINK_TOKEN_LIMITS;
    await this.take('/link/token/create', [
      { scope: 'VIEWER', key: `viewer:${this.hash(viewerId)}:link-token`, limit: perViewerPerHour, windowMs: HOUR_MS },
      { scope: 'CLIENT', key: 'client:link-token', limit: perClientPerMinute, windowMs: MINUTE_MS },
    ]);
  }

  private async take(endpoint: string, rules: readonly (QuotaRule & { scope: QuotaScope })[], observe = true): Promise<void> {
    const decision = await this.quota.take(rules);
    if (decision.allowed) return;
    const scope = rules.find((rule) => rule.key === decision.key)?.scope ?? 'CLIENT';
    if (observe) this.observer?.throttled(endpoint, scope);
    throw new QuotaExceededError(scope, decision.retryAfterMs);
  }
}
