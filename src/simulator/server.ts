/**
 * The Plaid look-alike HTTP server. Embeddable (`startSimulator({ port: 0 })` gives its URL) and
 * runnable alone (src/simulator/main.ts). Speaks Plaid's wire format: same paths, JSON bodies,
 * credential headers, error objects and statuses, and a fresh `request_id` on every answer.
 *
 * The control API under /simulator/ (faults, request log, reset) exists only when `controlApi` is on:
 * for development and tests, never when the simulator stands in for Plaid anywhere else.
 *
 * It sends webhooks as Plaid does, signed, to the URL an Item was linked with (webhook-delivery.ts).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { plaidError, type SimError } from './error-bodies.js';
import { INSTITUTIONS } from './institutions.js';
import { isSimError, ROUTES, validateFields, type SimulatorRules } from './routes.js';
import { FaultInput, plaidId, SimulatorState, type Fault, type RequestLogEntry } from './state.js';
import { deliveryToWire, PLAID_WEBHOOK_DELIVERY, WebhookFaultInput, WebhookSender } from './webhook-delivery.js';
import { WebhookKeyRing } from './webhook-keys.js';
import { WEBHOOK_ROUTES } from './webhook-routes.js';

export interface SimulatorOptions {
  readonly host?: string;
  /** 0 (the default) picks a free port. */
  readonly port?: number;
  /** The credentials the simulator accepts (headers or body, as with Plaid). */
  readonly clientId?: string;
  readonly secret?: string;
  readonly controlApi?: boolean;
  /** Added to every Plaid call, like a real network and bank; a fixed value or a range. */
  readonly latencyMs?: number | { readonly min: number; readonly max: number };
  readonly rules?: Partial<SimulatorRules>;
  readonly now?: () => number;
  /** Item ids, access tokens and user ids derived from this instead of random (see SimulatorStateOptions.seed). */
  readonly seed?: string | null;
  // ---- webhooks ----
  /** Wait between an accepted call and the first attempt of its webhooks; default 1000 ms. */
  readonly webhookDelayMs?: number;
  /** Multiplies Plaid's retry waits (30 s, ×4 each, up to 24 h); default 1, tests use e.g. 0.001. */
  readonly webhookRetryScale?: number;
  /** How long a receiver has to answer; default Plaid's 10 s. */
  readonly webhookTimeoutMs?: number;
  /** Makes a new signing key this often (the old ones stay served, expired); default never. */
  readonly webhookKeyRotationMs?: number | null;
}

export interface Simulator {
  readonly url: string;
  readonly port: number;
  readonly clientId: string;
  readonly secret: string;
  readonly state: SimulatorState;
  /** The webhooks sent: keys (`webhooks.keys.rotate()`), deliveries, faults, `idle()`. */
  readonly webhooks: WebhookSender;
  close(): Promise<void>;
}

export const DEFAULT_SIMULATOR_CREDENTIALS = Object.freeze({ clientId: 'sim_client_id', secret: 'sim_secret' });

const MAX_BODY_BYTES = 1024 * 1024;
const DEFAULT_WEBHOOK_DELAY_MS = 1_000;
const PLAID_ROUTES = { ...ROUTES, ...WEBHOOK_ROUTES };
// Plaid's API versions (the Plaid-Version header); an unknown one is INVALID_HEADERS.
const KNOWN_VERSIONS = new Set(['2020-09-14', '2019-05-29', '2018-05-22', '2017-03-08']);

export async function startSimulator(options: SimulatorOptions = {}): Promise<Simulator> {
  const clientId = options.clientId ?? DEFAULT_SIMULATOR_CREDENTIALS.clientId;
  const secret = options.secret ?? DEFAULT_SIMULATOR_CREDENTIALS.secret;
  const state = new SimulatorState(options.now, { seed: options.seed ?? null });
  const rules: SimulatorRules = {
    transactionsRefreshPerItem: options.rules?.transactionsRefreshPerItem ?? 2,
    transactionsRefreshPerClient: options.rules?.transactionsRefreshPerClient ?? 100,
    deniedProducts: options.rules?.deniedProducts ?? new Set(),
  };
  const baseLatency = options.latencyMs ?? 0;
  const webhooks = new WebhookSender({
    keys: new WebhookKeyRing(state.now),
    delayMs: options.webhookDelayMs ?? DEFAULT_WEBHOOK_DELAY_MS,
    retryScale: options.webhookRetryScale ?? 1,
    timeoutMs: options.webhookTimeoutMs ?? PLAID_WEBHOOK_DELIVERY.timeoutMs,
    now: state.now,
  });
  const rotation = options.webhookKeyRotationMs ? setInterval(() => webhooks.keys.rotate(), options.webhookKeyRotationMs) : null;
  rotation?.unref();

  const plaid: PlaidSide = { state, rules, credentials: { clientId, secret }, baseLatency, webhooks };
  const server = createServer((req, res) => {
    const isControl = req.url?.startsWith('/simulator/') ?? false;
    // Without the control API its paths are as unknown as at Plaid.
    const handled = isControl && options.controlApi ? handleControl(req, res, state, webhooks) : answerPlaid(req, res, plaid, isControl);
    handled.catch((error: unknown) => {
      // A bug in the simulator must show up in tests as a 500, not as a hung request.
      if (!res.headersSent) sendJson(res, 500, { error: String(error) });
      else res.destroy();
    });
  });
  server.keepAliveTimeout = 65_000;
  await listen(server, options.port ?? 0, options.host ?? '127.0.0.1');
  const { port, address } = server.address() as AddressInfo;
  const host = address.includes(':') ? `[${address}]` : address;
  return {
    url: `http://${host}:${port}`,
    port,
    clientId,
    secret,
    state,
    webhooks,
    close: async () => {
      if (rotation) clearInterval(rotation);
      await webhooks.close();
      await closeServer(server);
    },
  };
}

// ---- Plaid endpoints ------------------------------------------------------------------------

/** What answering as Plaid needs, fixed for the simulator's lifetime. */
interface PlaidSide {
  readonly state: SimulatorState;
  readonly rules: SimulatorRules;
  readonly credentials: { readonly clientId: string; readonly secret: string };
  readonly baseLatency: SimulatorOptions['latencyMs'];
  readonly webhooks: WebhookSender;
}

async function answerPlaid(req: IncomingMessage, res: ServerResponse, plaid: PlaidSide, forceNotFound: boolean): Promise<void> {
  const { state, rules, credentials, baseLatency, webhooks } = plaid;
  const requestId = plaidId(15);
  const path = new URL(req.url ?? '/', 'http://simulator').pathname;
  const raw = await readBody(req);
  const route = forceNotFound || req.method !== 'POST' ? undefined : PLAID_ROUTES[path];
  let itemId: string | null = null;
  let userId: string | null = null;
  let entry: RequestLogEntry | null = null;

  const log = (status: number | null, errorCode: string | null = null): RequestLogEntry => {
    entry ??= state.record({ path, status: null, requestId, itemId, userId, errorCode: null, fault: null });
    entry.status = status;
    entry.errorCode = errorCode;
    return entry;
  };
  const finish = (status: number, body: Record<string, unknown>) => {
    log(status, typeof body.error_code === 'string' ? body.error_code : null);
    sendJson(res, status, body);
  };
  const fail = (error: SimError) => finish(error.status, { ...error.body });

  if (!route) return fail(plaidError('NOT_FOUND', requestId));
  if (raw === null) return fail(plaidError('INVALID_BODY', requestId, { error_message: 'request body is too large' }));
  if (!(req.headers['content-type'] ?? '').toLowerCase().includes('application/json')) {
    return fail(plaidError('INVALID_HEADERS', requestId, { error_message: 'Content-Type must be application/json' }));
  }
  const version = req.headers['plaid-version'];
  if (typeof version === 'string' && !KNOWN_VERSIONS.has(version)) {
    return fail(plaidError('INVALID_HEADERS', requestId, { error_message: `invalid Plaid-Version header: ${version}` }));
  }
  let body: unknown;
  try {
    body = JSON.parse(raw);
  } catch {
    return fail(plaidError('INVALID_BODY', requestId, { error_message: 'body could not be parsed as valid JSON' }));
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    return fail(plaidError('INVALID_BODY', requestId, { error_message: 'body must be a JSON object' }));
  }
  const fields = body as Record<string, unknown>;
  const sentId = headerOrField(req, fields, 'plaid-client-id', 'client_id');
  const sentSecret = headerOrField(req, fields, 'plaid-secret', 'secret');
  if (sentId !== credentials.clientId || sentSecret !== credentials.secret) {
    return fail(plaidError('INVALID_API_KEYS', requestId));
  }
  const invalid = validateFields(route, fields, requestId);
  if (invalid) return fail(invalid);
  const resolved = route.resolve?.(fields, state, requestId) ?? {};
  if (isSimError(resolved)) return fail(resolved);
  itemId = resolved.item?.itemId ?? null;
  userId = resolved.user?.userId ?? null;
  const received = log(null);

  // Faults: latency first (it delays whatever answer follows), then at most one failure.
  const { latency, failure } = state.takeFaults({ endpoint: path, itemId, userId });
  const delay = latencyOf(latency) ?? pickLatency(baseLatency);
  if (latency) received.fault = 'latency';
  if (delay > 0) await sleep(delay);
  if (failure) {
    received.fault = failure.effect.type;
    const effect = failure.effect;
    switch (effect.type) {
      case 'error': {
        const { type: _type, error_code, ...overrides } = effect;
        return fail(plaidError(error_code, requestId, overrides));
      }
      case 'connection_reset':
        req.socket.resetAndDestroy();
        return;
      case 'html_502':
        log(502);
        res.writeHead(502, { 'content-type': 'text/html' });
        res.end(
          '<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n</body>\r\n</html>\r\n',
        );
        return;
      case 'malformed_json':
        log(200);
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(`{"request_id": "${requestId}", "results": [{"item_id": `);
        return;
      case 'wrong_shape':
        return finish(200, { request: requestId, status: 'ok' });
      case 'latency':
        break;
    }
  }

  const answer = route.handle({
    body: fields,
    requestId,
    state,
    rules,
    item: resolved.item ?? null,
    user: resolved.user ?? null,
    webhooks,
  });
  if (isSimError(answer)) return fail(answer);
  return finish(200, answer);
}

function headerOrField(req: IncomingMessage, body: Record<string, unknown>, header: string, field: string): string | undefined {
  const fromHeader = req.headers[header];
  if (typeof fromHeader === 'string' && fromHeader !== '') return fromHeader;
  return typeof body[field] === 'string' ? body[field] : undefined;
}

function latencyOf(fault: Fault | null): number | null {
  if (!fault || fault.effect.type !== 'latency') return null;
  const { ms, min_ms, max_ms } = fault.effect;
  return ms ?? pickLatency({ min: min_ms ?? 0, max: max_ms ?? 0 });
}

function pickLatency(latency: SimulatorOptions['latencyMs']): number {
  if (latency === undefined) return 0;
  if (typeof latency === 'number') return latency;
  return Math.round(latency.min + Math.random() * (latency.max - latency.min));
}

// ---- control API ----------------------------------------------------------------------------

async function handleControl(req: IncomingMessage, res: ServerResponse, state: SimulatorState, webhooks: WebhookSender): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://simulator');
  const raw = await readBody(req);
  const route = `${req.method ?? 'GET'} ${url.pathname.replace(/\/+$/, '')}`;
  switch (route) {
    case 'GET /simulator/requests': {
      const filter = {
        path: url.searchParams.get('path') ?? undefined,
        itemId: url.searchParams.get('item_id') ?? undefined,
        userId: url.searchParams.get('user_id') ?? undefined,
      };
      return sendJson(res, 200, { requests: state.requests(filter).map(toWire) });
    }
    case 'DELETE /simulator/requests':
      state.clearRequests();
      return sendJson(res, 200, { ok: true });
    case 'POST /simulator/reset':
      state.reset();
      webhooks.reset();
      return sendJson(res, 200, { ok: true });
    case 'POST /simulator/link/complete':
      return completeLink(res, raw, state);
    case 'GET /simulator/faults':
      return sendJson(res, 200, { faults: state.listFaults() });
    case 'DELETE /simulator/faults':
      state.clearFaults();
      return sendJson(res, 200, { ok: true });
    case 'POST /simulator/faults': {
      let json: unknown;
      try {
        json = JSON.parse(raw ?? '');
      } catch {
        return sendJson(res, 400, { error: 'body must be JSON' });
      }
      const parsed = FaultInput.safeParse(json);
      if (!parsed.success) {
        return sendJson(res, 400, { error: 'invalid fault', issues: parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`) });
      }
      return sendJson(res, 201, { fault: state.addFault(parsed.data) });
    }
    default: {
      const match = /^DELETE \/simulator\/faults\/([\w-]+)$/.exec(route);
      if (match?.[1]) {
        return state.removeFault(match[1]) ? sendJson(res, 200, { ok: true }) : sendJson(res, 404, { error: 'no such fault' });
      }
      if (url.pathname.startsWith('/simulator/webhook')) return handleWebhookControl(route, url, raw, res, webhooks);
      return sendJson(res, 404, { error: `no control route ${route}` });
    }
  }
}

// ---- control API: webhooks ---------------------------------------------------------------------

function handleWebhookControl(route: string, url: URL, raw: string | null, res: ServerResponse, webhooks: WebhookSender): void {
  switch (route) {
    case 'GET /simulator/webhooks': {
      const filter = {
        itemId: url.searchParams.get('item_id') ?? undefined,
        webhookType: url.searchParams.get('webhook_type') ?? undefined,
        webhookCode: url.searchParams.get('webhook_code') ?? undefined,
      };
      return sendJson(res, 200, { deliveries: webhooks.deliveries(filter).map(deliveryToWire), pending: webhooks.pendingCount });
    }
    case 'DELETE /simulator/webhooks':
      webhooks.clearDeliveries();
      return sendJson(res, 200, { ok: true });
    case 'GET /simulator/webhook-keys':
      return sendJson(res, 200, { current_kid: webhooks.keys.currentKid, keys: webhooks.keys.list() });
    case 'POST /simulator/webhook-keys/rotate':
      return sendJson(res, 201, { key: webhooks.keys.rotate() });
    case 'GET /simulator/webhook-faults':
      return sendJson(res, 200, { faults: webhooks.listFaults() });
    case 'DELETE /simulator/webhook-faults':
      webhooks.clearFaults();
      return sendJson(res, 200, { ok: true });
    case 'POST /simulator/webhook-faults': {
      let json: unknown;
      try {
        json = JSON.parse(raw ?? '');
      } catch {
        return sendJson(res, 400, { error: 'body must be JSON' });
      }
      const parsed = WebhookFaultInput.safeParse(json);
      if (!parsed.success) {
        return sendJson(res, 400, {
          error: 'invalid webhook fault',
          issues: parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`),
        });
      }
      return sendJson(res, 201, { fault: webhooks.addFault(parsed.data) });
    }
    default: {
      const match = /^DELETE \/simulator\/webhook-faults\/([\w-]+)$/.exec(route);
      if (match?.[1]) {
        return webhooks.removeFault(match[1]) ? sendJson(res, 200, { ok: true }) : sendJson(res, 404, { error: 'no such webhook fault' });
      }
      return sendJson(res, 404, { error: `no control route ${route}` });
    }
  }
}

// ---- Plaid Link, played by a control call (l14: createLinkToken) --------------------------------

/**
 * POST /simulator/link/complete {link_token, institution_id?, username?}: what Plaid Link does in
 * the browser when the user succeeds. A new Item: `{public_token}` to exchange (institution
 * default ins_109508, test user default user_good). Update mode: the Item repaired and
 * `{public_token, item_id}` of that same Item. 400 with Link's error code otherwise.
 */
function completeLink(res: ServerResponse, raw: string | null, state: SimulatorState): void {
  let json: unknown;
  try {
    json = JSON.parse(raw ?? '');
  } catch {
    return sendJson(res, 400, { error: 'body must be JSON' });
  }
  const body = (typeof json === 'object' && json !== null ? json : {}) as Record<string, unknown>;
  if (typeof body.link_token !== 'string') return sendJson(res, 400, { error: 'link_token (a string) is required' });
  const institutionId = typeof body.institution_id === 'string' ? body.institution_id : 'ins_109508';
  if (!INSTITUTIONS.has(institutionId)) return sendJson(res, 400, { error: 'unknown institution_id', error_code: 'INVALID_INSTITUTION' });
  const username = typeof body.username === 'string' && body.username !== '' ? body.username : 'user_good';
  const done = state.completeLink(body.link_token, { institutionId, username });
  if ('error' in done) return sendJson(res, 400, { error: done.message, error_code: done.error });
  return sendJson(res, 200, { public_token: done.publicToken, item_id: done.itemId, update_mode: done.updateMode });
}

function toWire(entry: ReturnType<SimulatorState['requests']>[number]) {
  return {
    seq: entry.seq,
    at: entry.at,
    path: entry.path,
    status: entry.status,
    request_id: entry.requestId,
    item_id: entry.itemId,
    user_id: entry.userId,
    error_code: entry.errorCode,
    fault: entry.fault,
  };
}

// ---- HTTP plumbing --------------------------------------------------------------------------

/** The body as text, or null when it is larger than Plaid would take. */
async function readBody(req: IncomingMessage): Promise<string | null> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buffer = chunk as Buffer;
    size += buffer.length;
    if (size > MAX_BODY_BYTES) return null;
    chunks.push(buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    // Plaid takes a burst of connections without dropping SYNs; Node's default backlog (511) does not.
    server.listen({ port, host, backlog: 8_192 }, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}
