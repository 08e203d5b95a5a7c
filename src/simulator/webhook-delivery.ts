/**
 * Sends webhooks as Plaid does: a POST of the JSON body with 2-space indentation, signed in the
 * `Plaid-Verification` header, to the Item's webhook URL, a while after the call that caused it;
 * anything but a 200 within 10 s is retried 30 s later, then ×4 each time, for up to 24 h.
 * Tests scale those waits down (`retryScale`). Faults (duplicates, reordering, delays, bad
 * signatures, stale `iat`) are injected here, and every attempt is logged for the control API.
 * A failing or hanging receiver never blocks or crashes the simulator.
 */
import { Agent, request } from 'undici';
import { z } from 'zod';
import type { WebhookKeyRing } from './webhook-keys.js';
import type { WebhookPayload } from './webhook-payloads.js';
import { plaidId, type SimItem } from './state.js';

/** Plaid's documented delivery rules (plaid.com/docs/api/webhooks/). */
export const PLAID_WEBHOOK_DELIVERY = Object.freeze({
  /** The receiver must answer 200 within this long. */
  timeoutMs: 10_000,
  firstRetryMs: 30_000,
  retryFactor: 4,
  /** Plaid retries for up to this long after the first attempt. */
  retryWindowMs: 24 * 3_600_000,
});

/** The waits before each retry, unscaled: 30 s, ×4 each time, while their sum stays within 24 h (6 retries). */
export function plaidRetryDelaysMs(): number[] {
  const { firstRetryMs, retryFactor, retryWindowMs } = PLAID_WEBHOOK_DELIVERY;
  const delays: number[] = [];
  let total = 0;
  for (let next = firstRetryMs; total + next <= retryWindowMs; next *= retryFactor) {
    delays.push(next);
    total += next;
  }
  return delays;
}

// ---- faults ---------------------------------------------------------------------------------

export const WebhookFaultEffect = z.discriminatedUnion('type', [
  /** The same body delivered twice. */
  z.strictObject({ type: z.literal('duplicate') }),
  /** The webhooks of one call (e.g. DEFAULT_UPDATE then SYNC_UPDATES_AVAILABLE) sent in reverse. */
  z.strictObject({ type: z.literal('out_of_order') }),
  /** The first attempt goes out this much later, on its own: the call's other webhooks overtake it. */
  z.strictObject({ type: z.literal('delay'), ms: z.number().int().min(0).max(600_000) }),
  /** The first attempt signed by a key Plaid never published (same kid), or its body changed after signing. */
  z.strictObject({ type: z.literal('bad_signature'), mode: z.enum(['foreign_key', 'tampered_body']).default('foreign_key') }),
  /** The first attempt's `iat` this far in the past (Plaid's receivers reject over 5 minutes). */
  z.strictObject({
    type: z.literal('stale_iat'),
    age_seconds: z
      .number()
      .int()
      .min(1)
      .max(30 * 86_400)
      .default(600),
  }),
]);
export type WebhookFaultEffect = z.infer<typeof WebhookFaultEffect>;

export const WebhookFaultInput = z.strictObject({
  item_id: z.string().min(1).optional(),
  webhook_type: z.string().min(1).optional(),
  webhook_code: z.string().min(1).optional(),
  /** How many webhooks (or, for out_of_order, calls) it applies to; absent = until removed. */
  count: z.number().int().min(1).optional(),
  effect: WebhookFaultEffect,
});
export type WebhookFaultInput = z.infer<typeof WebhookFaultInput>;

export interface WebhookFault extends WebhookFaultInput {
  readonly id: string;
  remaining: number | null;
}

// ---- the delivery log -----------------------------------------------------------------------

/** One attempt to deliver one webhook. Logged when sent; the answer fills in `status` or `error`. */
export interface WebhookDelivery {
  readonly seq: number;
  /** The webhook's id in the simulator (not part of Plaid's body): the same for its retries and duplicate. */
  readonly id: string;
  readonly at: string;
  readonly url: string;
  readonly itemId: string | null;
  readonly webhookType: string;
  readonly webhookCode: string;
  /** The exact bytes sent. */
  readonly body: string;
  readonly plaidVerification: string;
  /** 1 for the first attempt, 2 for the first retry, ... */
  readonly attempt: number;
  status: number | null;
  /** Why no status: `timeout`, a connection error code, or `closed`. */
  error: string | null;
  readonly fault: string | null;
  /** The wait before the next retry (scaled); null when none follows (a 200, a duplicate, or given up). */
  retryInMs: number | null;
}

export interface DeliveryFilter {
  readonly itemId?: string;
  readonly webhookType?: string;
  readonly webhookCode?: string;
}

/** What the routes need to send webhooks: the signing keys and a way to queue one call's webhooks. */
export interface WebhookOutbox {
  readonly keys: WebhookKeyRing;
  /** Queues one call's webhooks, in order, for `url` (default: the Item's webhook URL); nothing without one. */
  send(item: SimItem, payloads: readonly WebhookPayload[], url?: string | null): void;
}

export interface WebhookSenderOptions {
  readonly keys: WebhookKeyRing;
  /** Wait between the call and its webhooks' first attempt. */
  readonly delayMs: number;
  /** Multiplies Plaid's retry waits (0.001 makes 30 s into 30 ms). */
  readonly retryScale: number;
  readonly timeoutMs: number;
  readonly now: () => number;
}

interface Outgoing {
  readonly id: string;
  readonly url: string;
  readonly itemId: string;
  readonly payload: WebhookPayload;
  readonly body: string;
  readonly faults: {
    readonly duplicate: boolean;
    readonly delayMs: number | null;
    readonly badSignature: 'foreign_key' | 'tampered_body' | null;
    readonly staleSeconds: number | null;
  };
}

const LOG_LIMIT = 10_000;
const CLOSE_WAIT_MS = 2_000;

export class WebhookSender implements WebhookOutbox {
  readonly keys: WebhookKeyRing;
  private readonly retryDelays: readonly number[];
  private faults: WebhookFault[] = [];
  private log: WebhookDelivery[] = [];
  private seq = 0;
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly running = new Set<Promise<void>>();
  /** Webhooks whose delivery is not over (scheduled, in flight or waiting for a retry). */
  private pending = 0;
  private idleWaiters: (() => void)[] = [];
  /** Bumped by reset and close: chains of an older generation stop. */
  private generation = 0;
  private closed = false;
  private readonly stop = new AbortController();
  private readonly agent: Agent;

  constructor(private readonly options: WebhookSenderOptions) {
    this.keys = options.keys;
    this.retryDelays = plaidRetryDelaysMs().map((ms) => Math.max(0, Math.round(ms * options.retryScale)));
    this.agent = new Agent({ connect: { timeout: options.timeoutMs }, keepAliveTimeout: 1_000 });
  }

  send(item: SimItem, payloads: readonly WebhookPayload[], url: string | null = item.webhook ?? null): void {
    if (url === null || payloads.length === 0 || this.closed) return;
    const ordered = this.takeBatchFault(item.itemId, payloads) ? [...payloads].reverse() : [...payloads];
    const outgoing = ordered.map((payload): Outgoing => {
      const delay = this.take('delay', item.itemId, payload);
      const bad = this.take('bad_signature', item.itemId, payload);
      const stale = this.take('stale_iat', item.itemId, payload);
      return {
        id: `whk_${plaidId(16)}`,
        url,
        itemId: item.itemId,
        payload,
        body: JSON.stringify(payload, null, 2),
        faults: {
          duplicate: this.take('duplicate', item.itemId, payload) !== null,
          delayMs: delay?.type === 'delay' ? delay.ms : null,
          badSignature: bad?.type === 'bad_signature' ? bad.mode : null,
          staleSeconds: stale?.type === 'stale_iat' ? stale.age_seconds : null,
        },
      };
    });
    this.pending += outgoing.length;
    const generation = this.generation;
    // One after another, so the receiver sees them in order; a delayed one goes on its own.
    const inOrder = outgoing.filter((w) => w.faults.delayMs === null);
    this.later(this.options.delayMs, generation, async () => {
      for (const webhook of inOrder) await this.first(webhook, generation);
    });
    for (const webhook of outgoing.filter((w) => w.faults.delayMs !== null)) {
      this.later(this.options.delayMs + (webhook.faults.delayMs ?? 0), generation, () => this.first(webhook, generation));
    }
  }

  /** The attempts made, oldest first. */
  deliveries(filter: DeliveryFilter = {}): readonly WebhookDelivery[] {
    return this.log.filter(
      (d) =>
        (filter.itemId === undefined || d.itemId === filter.itemId) &&
        (filter.webhookType === undefined || d.webhookType === filter.webhookType) &&
        (filter.webhookCode === undefined || d.webhookCode === filter.webhookCode),
    );
  }

  /** How many webhooks are still to be delivered or retried. */
  get pendingCount(): number {
    return this.pending;
  }

  /** Resolves once no webhook is scheduled, in flight or waiting for a retry. */
  idle(): Promise<void> {
    if (this.pending === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  clearDeliveries(): void {
    this.log = [];
  }

  // ---- faults -------------------------------------------------------------------------------

  /** Adds a fault (validated, defaults applied, as the control API does). */
  addFault(input: z.input<typeof WebhookFaultInput>): WebhookFault {
    const parsed = WebhookFaultInput.parse(input);
    const fault: WebhookFault = { ...parsed, id: `wfl_${plaidId(10)}`, remaining: parsed.count ?? null };
    this.faults.push(fault);
    return fault;
  }

  listFaults(): readonly WebhookFault[] {
    return this.faults;
  }

  removeFault(id: string): boolean {
    const before = this.faults.length;
    this.faults = this.faults.filter((f) => f.id !== id);
    return this.faults.length !== before;
  }

  clearFaults(): void {
    this.faults = [];
  }

  /** Forgets the log and the faults and drops every delivery not yet made; the keys stay. */
  reset(): void {
    this.generation += 1;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    this.log = [];
    this.faults = [];
    this.settle(this.pending);
  }

  /** Stops every pending delivery and retry; resolves within a bound even if a receiver hangs. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.reset();
    this.stop.abort();
    const settled = Promise.allSettled([...this.running]);
    await Promise.race([settled, new Promise((resolve) => setTimeout(resolve, CLOSE_WAIT_MS).unref())]);
    await this.agent.destroy().catch(() => undefined);
  }

  // ---- delivery -----------------------------------------------------------------------------

  private matches(fault: WebhookFault, itemId: string, payload: WebhookPayload): boolean {
    return (
      (fault.item_id === undefined || fault.item_id === itemId) &&
      (fault.webhook_type === undefined || fault.webhook_type === payload.webhook_type) &&
      (fault.webhook_code === undefined || fault.webhook_code === payload.webhook_code)
    );
  }

  private consume(fault: WebhookFault): void {
    if (fault.remaining === null) return;
    fault.remaining -= 1;
    if (fault.remaining <= 0) this.faults = this.faults.filter((f) => f !== fault);
  }

  /** The first fault of this type matching the webhook, one use of it consumed. */
  private take(type: WebhookFaultEffect['type'], itemId: string, payload: WebhookPayload): WebhookFaultEffect | null {
    const fault = this.faults.find((f) => f.effect.type === type && this.matches(f, itemId, payload));
    if (!fault) return null;
    this.consume(fault);
    return fault.effect;
  }

  /** An out_of_order fault matching any webhook of a call that sends at least two. */
  private takeBatchFault(itemId: string, payloads: readonly WebhookPayload[]): boolean {
    if (payloads.length < 2) return false;
    const fault = this.faults.find((f) => f.effect.type === 'out_of_order' && payloads.some((p) => this.matches(f, itemId, p)));
    if (!fault) return false;
    this.consume(fault);
    return true;
  }

  private later(ms: number, generation: number, run: () => Promise<void>): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      if (generation !== this.generation) return;
      const task: Promise<void> = run()
        .catch(() => undefined)
        .finally(() => this.running.delete(task));
      this.running.add(task);
    }, ms);
    // Pending webhooks must not keep a test process (or a closing simulator) alive.
    timer.unref();
    this.timers.add(timer);
  }

  private async first(webhook: Outgoing, generation: number): Promise<void> {
    const ok = await this.attempt(webhook, 1, generation);
    if (webhook.faults.duplicate && generation === this.generation) await this.attempt(webhook, 1, generation, true);
    this.afterAttempt(webhook, 1, ok, generation);
  }

  private afterAttempt(webhook: Outgoing, attempt: number, ok: boolean, generation: number): void {
    if (generation !== this.generation) return;
    const wait = this.retryDelays[attempt - 1];
    if (ok || wait === undefined) {
      this.settle(1);
      return;
    }
    this.later(wait, generation, async () => {
      const next = attempt + 1;
      this.afterAttempt(webhook, next, await this.attempt(webhook, next, generation), generation);
    });
  }

  /** One POST (`copy`: the duplicate of the first); true when the receiver answered 200. */
  private async attempt(webhook: Outgoing, attempt: number, generation: number, copy = false): Promise<boolean> {
    const { badSignature, staleSeconds } = webhook.faults;
    // Faults touch the first attempt only: Plaid's retries of the webhook are genuine.
    const forged = attempt === 1 && !copy ? badSignature : null;
    const stale = attempt === 1 && !copy ? staleSeconds : null;
    const body = forged === 'tampered_body' ? JSON.stringify({ ...webhook.payload, tampered: true }, null, 2) : webhook.body;
    const signature = this.keys.sign(webhook.body, {
      foreignKey: forged === 'foreign_key',
      ...(stale === null ? {} : { ageSeconds: stale }),
    });
    const touched = [
      copy ? 'duplicate' : null,
      attempt === 1 && !copy && webhook.faults.delayMs !== null ? 'delay' : null,
      forged ? `bad_signature:${forged}` : null,
      stale === null ? null : 'stale_iat',
    ].filter((f) => f !== null);
    const fault = touched.length > 0 ? touched.join(',') : null;
    const entry = this.record({
      id: webhook.id,
      url: webhook.url,
      itemId: webhook.itemId,
      webhookType: webhook.payload.webhook_type,
      webhookCode: webhook.payload.webhook_code,
      body,
      plaidVerification: signature,
      attempt,
      status: null,
      error: null,
      fault,
      retryInMs: null,
    });
    const timeout = AbortSignal.timeout(this.options.timeoutMs);
    try {
      const response = await request(webhook.url, {
        method: 'POST',
        dispatcher: this.agent,
        headers: { 'Content-Type': 'application/json', 'Plaid-Verification': signature },
        body,
        signal: AbortSignal.any([this.stop.signal, timeout]),
      });
      entry.status = response.statusCode;
      await response.body.dump({ limit: 64 * 1024 }).catch(() => undefined);
    } catch (error) {
      entry.error = this.stop.signal.aborted ? 'closed' : timeout.aborted ? 'timeout' : errorCode(error);
    }
    const ok = entry.status === 200;
    if (!ok && !copy && generation === this.generation) entry.retryInMs = this.retryDelays[attempt - 1] ?? null;
    return ok;
  }

  private record(entry: Omit<WebhookDelivery, 'seq' | 'at'>): WebhookDelivery {
    const logged: WebhookDelivery = { seq: ++this.seq, at: new Date(this.options.now()).toISOString(), ...entry };
    this.log.push(logged);
    if (this.log.length > LOG_LIMIT + LOG_LIMIT / 10) this.log = this.log.slice(-LOG_LIMIT);
    return logged;
  }

  private settle(count: number): void {
    this.pending = Math.max(0, this.pending - count);
    if (this.pending > 0) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const resolve of waiters) resolve();
  }
}

function errorCode(error: unknown): string {
  const code = (error as { code?: unknown; cause?: { code?: unknown } } | null)?.cause?.code ?? (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string') return code;
  return error instanceof Error ? error.message : String(error);
}

/** A delivery as the control API lists it. */
export function deliveryToWire(d: WebhookDelivery) {
  return {
    seq: d.seq,
    id: d.id,
    at: d.at,
    url: d.url,
    item_id: d.itemId,
    webhook_type: d.webhookType,
    webhook_code: d.webhookCode,
    body: d.body,
    plaid_verification: d.plaidVerification,
    attempt: d.attempt,
    status: d.status,
    error: d.error,
    fault: d.fault,
    retry_in_ms: d.retryInMs,
  };
}
