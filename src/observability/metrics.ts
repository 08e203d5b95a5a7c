/**
 * Prometheus metrics (prom-client) on a registry of their own, so two runtimes in one process
 * (tests, benchmarks) never share counters. Label values are bounded: GraphQL root field names and
 * result type names come from the schema, Plaid error codes are checked against a pattern.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** One attempt sent to Plaid, as the client reports it (src/plaid/client.ts PlaidAttemptEvent). */
export interface PlaidAttemptSample {
  readonly endpoint: string;
  readonly durationMs: number;
  readonly status: number | null;
  readonly errorCode: string | null;
  readonly error: { readonly name: string } | null;
  readonly decision: { readonly retry: boolean } | null;
}

export interface Metrics {
  readonly registry: Registry;
  /** One GraphQL root field resolved, with the type name it resolved to. */
  operation(event: { readonly field: string; readonly result: string; readonly durationMs: number }): void;
  /** One HTTP response of the GraphQL endpoint (refused requests included). */
  request(status: number): void;
  /** One query or mutation executed: `compiled` (graphql-jit) or `usual` (yoga's executor). */
  execution(executor: 'compiled' | 'usual'): void;
  plaidAttempt(event: PlaidAttemptSample): void;
  flightJoined(endpoint: string): void;
  throttled(endpoint: string, scope: string): void;
  /** A refresh Plaid accepted whose record the vault could not write (the caller still heard yes). */
  refreshRecordDropped(): void;
  /** An exchanged Item the vault could not store, by what became of it. */
  linkNotSaved(outcome: string): void;
  /** One refresh notice published (a refresh started or changed, a webhook applied). */
  noticePublished(): void;
  /** One notice handed to a subscriber, `latencyMs` after what it announces happened. */
  noticeDelivered(latencyMs: number): void;
  /** Reads the open subscriptions when /metrics is scraped. */
  watchSubscriptions(count: () => number): void;
  /** One SQL statement the vault sent. */
  vaultStatement(): void;
  /** Statements the vault sent so far (tests and benchmarks prove batching with it). */
  vaultStatements(): number;
  /** A POST to the Plaid webhook endpoint, whatever became of it. */
  webhookReceived(): void;
  /** Its signature, age and body hash checked out. */
  webhookVerified(): void;
  /** Not taken: a verification reason (src/webhooks/verification.ts), BODY_TOO_LARGE or STORAGE_UNAVAILABLE. */
  webhookRefused(reason: string): void;
  /** Verified, and an identical body was already in the inbox. */
  webhookDuplicate(): void;
  /** From the request's arrival to the webhook being durable in the inbox (or found there). */
  webhookIngested(durationMs: number): void;
  /** One webhook handed to the processor's handler: `handled`, or `failed` (to be retried). */
  webhookProcessed(result: 'handled' | 'failed'): void;
}

const PLAID_CODE = /^[A-Z][A-Z0-9_]{0,63}$/;
const INGEST_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const REASON = /^[A-Z][A-Z0-9_]{0,39}$/;
const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];

export function createMetrics(options: { readonly defaultMetrics?: boolean } = {}): Metrics {
  const registry = new Registry();
  // Process and runtime metrics, including event-loop delay (nodejs_eventloop_lag_*).
  if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: 10 });

  const operations = new Counter({
    name: 'graphql_operations_total',
    help: 'GraphQL root fields resolved, by field and result type (__typename, or ERROR when the field failed).',
    labelNames: ['operation', 'result'] as const,
    registers: [registry],
  });
  const operationSeconds = new Histogram({
    name: 'graphql_operation_duration_seconds',
    help: 'Time to resolve a GraphQL root field.',
    labelNames: ['operation'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  });
  const executions = new Counter({
    name: 'graphql_executions_total',
    help: "Queries and mutations executed, by executor: compiled (graphql-jit) or usual (yoga's: introspection, traced requests, refused variables).",
    labelNames: ['executor'] as const,
    registers: [registry],
  });
  const responses = new Counter({
    name: 'graphql_http_responses_total',
    help: 'HTTP responses of the GraphQL endpoint by status (4xx: refused before execution: limits, CSRF, bad JSON).',
    labelNames: ['status'] as const,
    registers: [registry],
  });
  const plaidRequests = new Counter({
    name: 'plaid_requests_total',
    help: 'Attempts sent to Plaid, by endpoint, HTTP status (none: no answer) and error_code (or the transport failure).',
    labelNames: ['endpoint', 'status', 'error_code'] as const,
    registers: [registry],
  });
  const plaidSeconds = new Histogram({
    name: 'plaid_request_duration_seconds',
    help: 'Duration of one attempt sent to Plaid.',
    labelNames: ['endpoint'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  });
  const plaidRetries = new Counter({
    name: 'plaid_retries_total',
    help: 'Attempts the retry policy re-sent, by endpoint and the error that caused it.',
    labelNames: ['endpoint', 'cause'] as const,
    registers: [registry],
  });
  const joins = new Counter({
    name: 'refresh_single_flight_joins_total',
    help: 'Refreshes that joined an identical refresh already in flight instead of calling Plaid.',
    labelNames: ['endpoint'] as const,
    registers: [registry],
  });
  const throttles = new Counter({
    name: 'refresh_throttled_total',
    help: 'Refreshes refused before calling Plaid because a quota was spent, by scope (ITEM, USER, VIEWER, CLIENT).',
    labelNames: ['endpoint', 'scope'] as const,
    registers: [registry],
  });

  const recordsDropped = new Counter({
    name: 'refresh_records_dropped_total',
    help: 'Refreshes Plaid accepted (and the caller was told so) whose record could not be written to the vault.',
    registers: [registry],
  });
  const linksNotSaved = new Counter({
    name: 'link_items_not_saved_total',
    help: 'Exchanged Items the vault could not store, by outcome (REMOVED_AT_PLAID, KEPT_FOR_LATER, NOT_KEPT).',
    labelNames: ['outcome'] as const,
    registers: [registry],
  });

  const statements = new Counter({
    name: 'vault_statements_total',
    help: "SQL statements the vault sent for requests (grouped reads and writes count once; the webhook processor's background claims are not counted).",
    registers: [registry],
  });
  const noticesPublished = new Counter({
    name: 'refresh_notices_published_total',
    help: 'Refresh notices published (a refresh started or changed status, a webhook brought an event).',
    registers: [registry],
  });
  const noticesDelivered = new Counter({
    name: 'refresh_events_delivered_total',
    help: 'Notices handed to subscribers (one per subscriber that asked for them).',
    registers: [registry],
  });
  const deliveryLatency = new Histogram({
    name: 'refresh_event_delivery_seconds',
    help: 'From what a notice announces (webhook received, refresh accepted) to its delivery to a subscriber.',
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });
  let subscriptionCount: () => number = () => 0;
  new Gauge({
    name: 'graphql_subscriptions_open',
    help: 'Subscriptions open on this replica (SSE and WebSocket).',
    registers: [registry],
    collect() {
      this.set(subscriptionCount());
    },
  });
  const webhooksReceived = new Counter({
    name: 'plaid_webhooks_received_total',
    help: 'POSTs to the Plaid webhook endpoint (/webhooks/plaid).',
    registers: [registry],
  });
  const webhooksVerified = new Counter({
    name: 'plaid_webhooks_verified_total',
    help: 'Webhooks whose Plaid-Verification signature, age and body hash checked out.',
    registers: [registry],
  });
  const webhooksRefused = new Counter({
    name: 'plaid_webhooks_refused_total',
    help: 'Webhooks not taken, by reason (verification reasons, BODY_TOO_LARGE, STORAGE_UNAVAILABLE).',
    labelNames: ['reason'] as const,
    registers: [registry],
  });
  const webhooksDuplicate = new Counter({
    name: 'plaid_webhooks_duplicate_total',
    help: 'Verified webhooks whose identical body was already in the inbox (answered 200, not stored again).',
    registers: [registry],
  });
  const webhookIngestSeconds = new Histogram({
    name: 'plaid_webhook_ingest_seconds',
    help: 'Time from a webhook request arriving to the webhook being durable in the inbox.',
    buckets: INGEST_BUCKETS,
    registers: [registry],
  });
  const webhooksProcessed = new Counter({
    name: 'plaid_webhooks_processed_total',
    help: 'Webhooks handed to the inbox processor, by result (handled, failed: retried later).',
    labelNames: ['result'] as const,
    registers: [registry],
  });

  // prom-client reads counters asynchronously; the running total is kept here for synchronous readers.
  let statementTotal = 0;

  return {
    registry,
    operation({ field, result, durationMs }) {
      operations.inc({ operation: field, result });
      operationSeconds.observe({ operation: field }, durationMs / 1000);
    },
    execution(executor) {
      executions.inc({ executor });
    },
    request(status) {
      responses.inc({ status: String(status) });
    },
    plaidAttempt(event) {
      // A Plaid error_code, else the transport failure's class (PlaidTimeoutError, ...), else ''.
      const cause = event.errorCode !== null ? (PLAID_CODE.test(event.errorCode) ? event.errorCode : 'OTHER') : (event.error?.name ?? '');
      plaidRequests.inc({ endpoint: event.endpoint, status: event.status === null ? 'none' : String(event.status), error_code: cause });
      plaidSeconds.observe({ endpoint: event.endpoint }, event.durationMs / 1000);
      if (event.decision?.retry) plaidRetries.inc({ endpoint: event.endpoint, cause });
    },
    flightJoined(endpoint) {
      joins.inc({ endpoint });
    },
    throttled(endpoint, scope) {
      throttles.inc({ endpoint, scope });
    },
    refreshRecordDropped() {
      recordsDropped.inc();
    },
    linkNotSaved(outcome) {
      linksNotSaved.inc({ outcome });
    },
    noticePublished() {
      noticesPublished.inc();
    },
    noticeDelivered(latencyMs) {
      noticesDelivered.inc();
      deliveryLatency.observe(Math.max(0, latencyMs) / 1000);
    },
    watchSubscriptions(count) {
      subscriptionCount = count;
    },
    vaultStatement() {
      statementTotal++;
      statements.inc();
    },
    vaultStatements: () => statementTotal,
    webhookReceived() {
      webhooksReceived.inc();
    },
    webhookVerified() {
      webhooksVerified.inc();
    },
    webhookRefused(reason) {
      webhooksRefused.inc({ reason: REASON.test(reason) ? reason : 'OTHER' });
    },
    webhookDuplicate() {
      webhooksDuplicate.inc();
    },
    webhookIngested(durationMs) {
      webhookIngestSeconds.observe(durationMs / 1000);
    },
    webhookProcessed(result) {
      webhooksProcessed.inc({ result });
    },
  };
}
