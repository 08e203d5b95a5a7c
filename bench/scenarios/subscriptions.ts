/**
 * 7. Subscriptions at scale (issue #16): (a) many SSE subscriptions open on one service process,
 * its RSS and heap idle and with all open; (b) a webhook that ends a refresh of one Item, fanned out
 * to that Item's subscribers while all the others stay open: webhook-to-event latency per
 * subscriber; (c) verified webhook ingest: signed webhooks POSTed concurrently, accepted per
 * second, then all of them processed.
 *
 * The simulator runs in this process, so the bench signs webhooks with the simulator's own key
 * ring (src/simulator/webhook-keys.ts) and the service fetches the public key from the simulator's
 * /webhook_verification_key/get, as in production: verification and the inbox are the real ones.
 * The subscribers use the frontends' own document (operations/lifecycle.graphql, RefreshEvents).
 */
import { print } from 'graphql';
import { Pool } from 'undici';
import { RefreshEventsDocument } from '../../operations/generated/graphql.js';
import { startSimulator } from '../../src/simulator/server.js';
import { startServiceChild } from '../children.js';
import type { ChildStats } from '../protocol.js';
import { graphqlHeaders, refreshBody } from '../requests.js';
import { openSubscribers, type SseSubscriber } from '../sse-subscribers.js';

export interface SubscriptionsOptions {
  /** Subscriptions open at once, spread evenly over `items` Items (one Item each). */
  readonly subscriptions: number;
  /** Items subscribed to; each is refreshed and ended by a webhook in turn (a fan-out round each). */
  readonly items: number;
  /** Signed webhooks POSTed for the ingest figure, and how many at a time. */
  readonly ingestWebhooks: number;
  readonly ingestConcurrency: number;
  readonly databaseUrl?: string;
  /** Another copy of src/ for the service (before/after runs, as bench/ab.ts does). */
  readonly src?: string;
}

export interface FanOutRound {
  /** From the POST to its 200 (verified and durable in the inbox). */
  readonly answeredMs: number;
  readonly subscribers: number;
  readonly received: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
}

export interface SubscriptionsResult {
  readonly options: SubscriptionsOptions;
  readonly opened: number;
  readonly openFailures: number;
  /** Subscribers that received both events of their Item's round (the refresh start and its end). */
  readonly receiving: number;
  /** Still open after every round. */
  readonly stillOpen: number;
  /** Why subscriptions that opened ended on their own, by reason: before the rounds, and by their end. */
  readonly ended: { readonly beforeRounds: Record<string, number>; readonly afterRounds: Record<string, number> };
  readonly openMs: number;
  /** From the clients closing every socket to the service counting no open subscription, and how many it still counted then. */
  readonly closedMs: number;
  readonly openAfterClose: number;
  readonly idle: ChildStats;
  readonly allOpen: ChildStats;
  readonly rounds: readonly FanOutRound[];
  /** The median round's figures (by p99). */
  readonly fanOut: FanOutRound;
  readonly ingest: {
    readonly sent: number;
    readonly accepted: number;
    readonly refused: Record<string, number>;
    readonly wallMs: number;
    readonly perSecond: number;
    /** Handled by the inbox processor once ingest was over, and how long until all were. */
    readonly processed: number;
    readonly processedMs: number;
  };
}

const SUBSCRIPTION = print(RefreshEventsDocument);
const OPEN_CONCURRENCY = 200;
const ROUND_TIMEOUT_MS = 30_000;

export async function subscriptions(options: SubscriptionsOptions): Promise<SubscriptionsResult> {
  const simulator = await startSimulator({
    host: '127.0.0.1',
    port: 0,
    controlApi: true,
    rules: { transactionsRefreshPerItem: Number.POSITIVE_INFINITY, transactionsRefreshPerClient: Number.POSITIVE_INFINITY },
  });
  const service = await startServiceChild({
    items: options.items,
    ...(options.databaseUrl ? { databaseUrl: options.databaseUrl } : {}),
    execArgv: ['--expose-gc'],
    env: {
      BENCH_SIMULATOR_URL: simulator.url,
      BENCH_SIMULATOR_CLIENT_ID: simulator.clientId,
      BENCH_SIMULATOR_SECRET: simulator.secret,
      ...(options.src ? { BENCH_SRC: options.src } : {}),
    },
  });
  const { ready } = service;
  const pool = new Pool(ready.url, { connections: Math.max(options.ingestConcurrency, 8) });
  let subscribers: SseSubscriber[] = [];
  try {
    const items = ready.items.slice(0, options.items);
    const itemOf = (index: number) => items[index % items.length]?.id ?? '';
    const idle = await service.stats(true, true);

    // (a) open them all
    const openStarted = performance.now();
    const opened = await openSubscribers(options.subscriptions, OPEN_CONCURRENCY, (index, subscriber) =>
      subscriber.start(ready.url, ready.token, SUBSCRIPTION, { itemIds: [itemOf(index)] }),
    );
    const openMs = performance.now() - openStarted;
    subscribers = opened.subscribers;
    // Settled: the connections' buffers allocated, garbage of the opening collected.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const allOpen = await service.stats(true, true);
    const endedEarly = countBy(subscribers.filter((s) => !s.open).map((s) => s.endedBy ?? 'unknown'));

    // (b) one round per Item: a refresh starts (every subscriber of the Item hears it), then a signed webhook ends it
    const rounds: FanOutRound[] = [];
    let receiving = 0;
    for (const [i, item] of items.entries()) {
      const mine = subscribers.filter((s, index) => index % items.length === i && s.open);
      const before = new Map(mine.map((s) => [s, s.events.length]));
      const refresh = await post(pool, '/graphql', graphqlHeaders(ready.token), refreshBody(item.id));
      if (!refresh.text.includes('RefreshTransactionsSuccess')) throw new Error(`refresh failed: ${refresh.text}`);
      await until(() => mine.every((s) => s.events.length > (before.get(s) ?? 0)), ROUND_TIMEOUT_MS);
      const body = webhookBody({
        webhook_type: 'TRANSACTIONS',
        webhook_code: 'SYNC_UPDATES_AVAILABLE',
        item_id: item.id,
        initial_update_complete: true,
        historical_update_complete: true,
        environment: 'sandbox',
      });
      const headers = { 'content-type': 'application/json', 'plaid-verification': simulator.webhooks.keys.sign(body) };
      // BENCH_PROFILE_FANOUT=<file>: the service's CPU profile of the last round, from the webhook on.
      const profileRound = process.env.BENCH_PROFILE_FANOUT && i === items.length - 1 ? process.env.BENCH_PROFILE_FANOUT : null;
      if (profileRound) await service.profile('start');
      const sentAt = performance.now();
      const answer = await post(pool, '/webhooks/plaid', headers, body);
      const answeredMs = performance.now() - sentAt;
      if (answer.status !== 200) throw new Error(`webhook answered ${answer.status}: ${answer.text}`);
      const ended = (s: SseSubscriber) => s.events.slice((before.get(s) ?? 0) + 1).find((e) => endsRefresh(e.data));
      await until(() => mine.every((s) => ended(s) !== undefined), ROUND_TIMEOUT_MS).catch(() => {});
      if (profileRound) await service.profile('stop', profileRound);
      const latencies = mine
        .map((s) => ended(s)?.at)
        .filter((at): at is number => at !== undefined)
        .map((at) => at - sentAt)
        .sort((a, b) => a - b);
      receiving += latencies.length;
      rounds.push({
        answeredMs,
        subscribers: mine.length,
        received: latencies.length,
        p50Ms: quantile(latencies, 0.5),
        p99Ms: quantile(latencies, 0.99),
        maxMs: latencies.at(-1) ?? Number.NaN,
      });
    }
    const stillOpen = subscribers.filter((s) => s.open).length;
    const endedLater = countBy(subscribers.filter((s) => !s.open).map((s) => s.endedBy ?? 'unknown'));
    for (const subscriber of subscribers) subscriber.close();
    subscribers = [];
    // The service ends each subscription when it notices its socket closed; ingest starts on a service without any.
    const closeStarted = performance.now();
    await until(async () => (await metric(ready.url, 'graphql_subscriptions_open')) === 0, 60_000, 50).catch(() => {});
    const closedMs = performance.now() - closeStarted;
    const openAfterClose = await metric(ready.url, 'graphql_subscriptions_open');

    // (c) ingest: distinct signed bodies (a re-sent body would be a duplicate), all at once
    const processedBefore = await metric(ready.url, 'plaid_webhooks_processed_total', 'result="handled"');
    const deliveries = Array.from({ length: options.ingestWebhooks }, (_, n) => {
      const body = webhookBody({
        webhook_type: 'TRANSACTIONS',
        webhook_code: 'DEFAULT_UPDATE',
        item_id: itemOf(n),
        new_transactions: n + 1,
        environment: 'sandbox',
      });
      return { body, headers: { 'content-type': 'application/json', 'plaid-verification': simulator.webhooks.keys.sign(body) } };
    });
    const refused: Record<string, number> = {};
    let accepted = 0;
    let next = 0;
    // BENCH_PROFILE_INGEST=<file>: the service's CPU profile of the ingest alone (summarise with bench/cpuprofile.ts).
    const profileTo = process.env.BENCH_PROFILE_INGEST;
    if (profileTo) await service.profile('start');
    const ingestStarted = performance.now();
    await Promise.all(
      Array.from({ length: options.ingestConcurrency }, async () => {
        while (next < deliveries.length) {
          const delivery = deliveries[next++];
          if (!delivery) break;
          const answer = await post(pool, '/webhooks/plaid', delivery.headers, delivery.body);
          if (answer.status === 200 && answer.text.includes('"duplicate":false')) accepted++;
          else refused[`${answer.status}`] = (refused[`${answer.status}`] ?? 0) + 1;
        }
      }),
    );
    const wallMs = performance.now() - ingestStarted;
    if (profileTo) await service.profile('stop', profileTo);
    let processed = 0;
    await until(
      async () => {
        processed = (await metric(ready.url, 'plaid_webhooks_processed_total', 'result="handled"')) - processedBefore;
        return processed >= accepted;
      },
      120_000,
      100,
    ).catch(() => {});
    const processedMs = performance.now() - ingestStarted - wallMs;
    const byP99 = [...rounds].sort((a, b) => a.p99Ms - b.p99Ms);
    const median = byP99[Math.floor((byP99.length - 1) / 2)];
    if (!median) throw new Error('no fan-out round');
    return {
      options,
      opened: options.subscriptions - opened.failures,
      openFailures: opened.failures,
      receiving,
      stillOpen,
      ended: { beforeRounds: endedEarly, afterRounds: endedLater },
      closedMs,
      openAfterClose,
      openMs,
      idle,
      allOpen,
      rounds,
      fanOut: median,
      ingest: {
        sent: deliveries.length,
        accepted,
        refused,
        wallMs,
        perSecond: (accepted / wallMs) * 1_000,
        processed,
        processedMs,
      },
    };
  } finally {
    for (const subscriber of subscribers) subscriber.close();
    await pool.close();
    await service.close();
    await simulator.close();
  }
}

function countBy(keys: readonly string[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const key of keys) counts[key] = (counts[key] ?? 0) + 1;
  return counts;
}

/** Plaid's own layout: JSON with 2-space indentation. */
const webhookBody = (fields: Record<string, unknown>) => JSON.stringify(fields, null, 2);

/** The update that says the refresh is over: a refresh DATA_AVAILABLE with the webhook's event. */
function endsRefresh(data: unknown): boolean {
  const update = (data as { data?: { refreshEvents?: { refreshes?: { status: string }[]; events?: unknown[] } } }).data?.refreshEvents;
  return (update?.events?.length ?? 0) > 0 && (update?.refreshes ?? []).some((r) => r.status === 'DATA_AVAILABLE');
}

async function post(pool: Pool, path: string, headers: Record<string, string>, body: string): Promise<{ status: number; text: string }> {
  const response = await pool.request({ path, method: 'POST', headers, body });
  return { status: response.statusCode, text: await response.body.text() };
}

/** One value of the service's /metrics (the first line of that name holding `label`). */
async function metric(url: string, name: string, label = ''): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const line = text.split('\n').find((l) => (l.startsWith(`${name} `) || l.startsWith(`${name}{`)) && l.includes(label));
  return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : Number.NaN;
}

async function until(done: () => boolean | Promise<boolean>, timeoutMs: number, everyMs = 5): Promise<void> {
  const started = performance.now();
  while (!(await done())) {
    if (performance.now() - started > timeoutMs) throw new Error(`not done within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}

function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] ?? Number.NaN;
}

const ms = (n: number) => (Number.isFinite(n) ? `${n.toFixed(n < 10 ? 2 : n < 100 ? 1 : 0)} ms` : 'n/a');
const mb = (bytes: number) => `${(bytes / 2 ** 20).toFixed(0)} MB`;

export const SUBSCRIPTION_TARGETS = { rssBytes: 400 * 2 ** 20, fanOutP99Ms: 100, ingestPerSecond: 1_000 } as const;
const verdict = (ok: boolean) => (ok ? 'met' : '**missed**');

/** Summary rows (`| 7 | ... |` per backend cell) and the section, as report.ts lays them out. */
export function subscriptionSummaryRows(results: readonly SubscriptionsResult[]): string[] {
  const first = results[0];
  if (!first) return [];
  const o = first.options;
  const row = (name: string, target: string, cell: (r: SubscriptionsResult) => string) =>
    `| 7 | ${name} | ${target} | ${results.map(cell).join(' | ')} |`;
  return [
    row(`Subscriptions: ${o.subscriptions} SSE open, RSS with all open (idle)`, `< ${mb(SUBSCRIPTION_TARGETS.rssBytes)}`, (r) => {
      const ok = r.opened === o.subscriptions && r.receiving === o.subscriptions && r.allOpen.rssBytes < SUBSCRIPTION_TARGETS.rssBytes;
      return `${r.opened} open, ${r.receiving} receiving, ${mb(r.allOpen.rssBytes)} (${mb(r.idle.rssBytes)}) ${verdict(ok)}`;
    }),
    row(
      `Subscriptions: webhook to event, ${Math.round(o.subscriptions / o.items)} subscribers of one Item, p99`,
      `< ${ms(SUBSCRIPTION_TARGETS.fanOutP99Ms)}, all received`,
      (r) =>
        `${ms(r.fanOut.p99Ms)} (${r.fanOut.received}/${r.fanOut.subscribers}) ${verdict(r.fanOut.p99Ms < SUBSCRIPTION_TARGETS.fanOutP99Ms && r.rounds.every((round) => round.received === round.subscribers))}`,
    ),
    row('Subscriptions: verified webhook ingest', `≥ ${SUBSCRIPTION_TARGETS.ingestPerSecond}/s, all processed`, (r) => {
      const ok = r.ingest.perSecond >= SUBSCRIPTION_TARGETS.ingestPerSecond && r.ingest.processed >= r.ingest.accepted;
      return `${r.ingest.perSecond.toFixed(0)}/s (${r.ingest.accepted}/${r.ingest.sent}, ${r.ingest.processed} processed) ${verdict(ok)}`;
    }),
  ];
}

function endedText(ended: Record<string, number>): string {
  const entries = Object.entries(ended);
  return entries.length === 0 ? '' : ` (ended: ${entries.map(([reason, n]) => `${n} ${reason}`).join(', ')})`;
}

export function renderSubscriptions(name: string, r: SubscriptionsResult): string {
  const o = r.options;
  const perSubscription = (r.allOpen.rssBytes - r.idle.rssBytes) / Math.max(1, r.opened);
  const heapPer = (r.allOpen.heapUsedBytes - r.idle.heapUsedBytes) / Math.max(1, r.opened);
  const failures = Object.entries(r.ingest.refused).map(([status, n]) => `${n} × ${status}`);
  return [
    `#### 7. Subscriptions (${name})`,
    '',
    `${o.subscriptions} SSE subscriptions (\`RefreshEvents\` of operations/lifecycle.graphql, one socket each, ${o.items} Items with ${Math.round(o.subscriptions / o.items)} subscribers each) ` +
      `opened in ${ms(r.openMs)}: ${r.opened} open (${r.openFailures} failed), ${r.receiving} received their Item's events, ${r.stillOpen} still open at the end${endedText(r.ended.afterRounds)}. ` +
      `Service RSS ${mb(r.idle.rssBytes)} idle, ${mb(r.allOpen.rssBytes)} with all open (${(perSubscription / 1024).toFixed(1)} KB each); ` +
      `heap used after GC ${mb(r.idle.heapUsedBytes)} → ${mb(r.allOpen.heapUsedBytes)} (${(heapPer / 1024).toFixed(1)} KB each). ` +
      `Closed by the clients: the service had ended them all ${ms(r.closedMs)} later (${r.openAfterClose} left).`,
    '',
    'Fan-out: per Item in turn, a refresh starts, then one signed `TRANSACTIONS: SYNC_UPDATES_AVAILABLE` ends it; latency from the POST to each subscriber reading the DATA_AVAILABLE update, the others staying open:',
    '',
    '| Round | Webhook answered 200 | Received | p50 | p99 | max |',
    '|---|---|---|---|---|---|',
    ...r.rounds.map(
      (round, i) =>
        `| ${i + 1} | ${ms(round.answeredMs)} | ${round.received}/${round.subscribers} | ${ms(round.p50Ms)} | ${ms(round.p99Ms)} | ${ms(round.maxMs)} |`,
    ),
    '',
    `Ingest: ${r.ingest.sent} distinct signed webhooks, ${o.ingestConcurrency} at a time: ${r.ingest.accepted} stored in ${ms(r.ingest.wallMs)} ` +
      `(**${r.ingest.perSecond.toFixed(0)}/s**)${failures.length > 0 ? `, not stored: ${failures.join(', ')}` : ''}; ` +
      `${r.ingest.processed} processed, the last ${ms(r.ingest.processedMs)} after the last was stored.`,
    '',
  ].join('\n');
}
