/**
 * Everything the Plaid client can throw. Two families:
 * - `PlaidResponseError`: Plaid answered with its error object; one subclass per `error_type`,
 *   built by `plaidErrorFromResponse(status, body)`.
 * - `PlaidTransportError`: no usable answer (timeout, connection, a body that is not Plaid's);
 *   each says whether the refresh may have run at Plaid, which decides whether it is safe to resend.
 * Messages never carry request bodies, so access tokens and secrets cannot leak through them;
 * Plaid's own text (which an echoing Plaid could fill with them) is scrubbed by the client first.
 */
import { PlaidErrorBody } from './schemas.js';

/** Root of every error the Plaid client throws. */
export abstract class PlaidClientError extends Error {
  /** The Plaid endpoint that was called, e.g. `/transactions/refresh`. */
  endpoint: string | null = null;

  override get name(): string {
    return this.constructor.name;
  }
}

// ---- errors Plaid answered with -----------------------------------------------------------

/**
 * Plaid's error object as plain data: every field Plaid sends. What a `PlaidResponseError` carries,
 * and what the bundle's per-Item results hold (data, not thrown: one Item failing is an answer).
 */
export interface PlaidErrorData {
  /** `<error_type> <error_code>: <error_message>`, for logs. */
  readonly message: string;
  /** HTTP status of the answer (for an error inside `results[]`, Plaid's `status` field). */
  readonly status: number | null;
  readonly errorType: string;
  readonly errorCode: string;
  readonly errorCodeReason: string | null;
  readonly errorMessage: string;
  readonly displayMessage: string | null;
  readonly requestId: string | null;
  readonly causes: readonly unknown[];
  readonly documentationUrl: string | null;
  readonly suggestedAction: string | null;
  readonly requiredAccountSubtypes: readonly string[] | null;
  readonly providedAccountSubtypes: readonly string[] | null;
}

/** The plain data of one Plaid error object (top level, or inside `results[]`). */
export function plaidErrorData(status: number | null, body: PlaidErrorBody): PlaidErrorData {
  return {
    message: `${body.error_type} ${body.error_code}: ${body.error_message || '(no message)'}`,
    status: status ?? body.status,
    errorType: body.error_type,
    errorCode: body.error_code,
    errorCodeReason: body.error_code_reason,
    errorMessage: body.error_message,
    displayMessage: body.display_message,
    requestId: body.request_id,
    causes: body.causes,
    documentationUrl: body.documentation_url,
    suggestedAction: body.suggested_action,
    requiredAccountSubtypes: body.required_account_subtypes,
    providedAccountSubtypes: body.provided_account_subtypes,
  };
}

/** Raised when Plaid answers with its error object. Carries every field Plaid sent. */
export abstract class PlaidResponseError extends PlaidClientError implements PlaidErrorData {
  /** HTTP status of the answer (for an error inside `results[]`, Plaid's `status` field). */
  readonly status: number | null;
  readonly errorType: string;
  readonly errorCode: string;
  readonly errorCodeReason: string | null;
  readonly errorMessage: string;
  readonly displayMessage: string | null;
  readonly requestId: string | null;
  readonly causes: readonly unknown[];
  readonly documentationUrl: string | null;
  readonly suggestedAction: string | null;
  readonly requiredAccountSubtypes: readonly string[] | null;
  readonly providedAccountSubtypes: readonly string[] | null;
  /** The parsed body as Plaid sent it, fields we do not know yet included. */
  readonly raw: Readonly<Record<string, unknown>>;

  constructor(status: number | null, body: PlaidErrorBody) {
    const data = plaidErrorData(status, body);
    super(data.message);
    this.status = data.status;
    this.errorType = data.errorType;
    this.errorCode = data.errorCode;
    this.errorCodeReason = data.errorCodeReason;
    this.errorMessage = data.errorMessage;
    this.displayMessage = data.displayMessage;
    this.requestId = data.requestId;
    this.causes = data.causes;
    this.documentationUrl = data.documentationUrl;
    this.suggestedAction = data.suggestedAction;
    this.requiredAccountSubtypes = data.requiredAccountSubtypes;
    this.providedAccountSubtypes = data.providedAccountSubtypes;
    this.raw = body;
  }
}

/** Raised for ITEM_ERROR: the Item cannot be refreshed as it is (login required, product missing…). */
export class PlaidItemError extends PlaidResponseError {}
/** Raised for INVALID_REQUEST: the request was malformed (missing or unknown fields, bad JSON). */
export class PlaidInvalidRequestError extends PlaidResponseError {}
/** Raised for INVALID_INPUT: a value was wrong (API keys, access token, product access). */
export class PlaidInvalidInputError extends PlaidResponseError {}
/** Raised for INVALID_RESULT: Plaid could not produce a valid result for the request. */
export class PlaidInvalidResultError extends PlaidResponseError {}
/** Raised for INSTITUTION_ERROR: the bank is down, not responding or unsupported (Plaid uses 400). */
export class PlaidInstitutionError extends PlaidResponseError {}
/** Raised for RATE_LIMIT_EXCEEDED (429): a per-Item, per-client or institution limit was hit. */
export class PlaidRateLimitExceededError extends PlaidResponseError {}
/** Raised for API_ERROR: a fault on Plaid's side (INTERNAL_SERVER_ERROR, PLANNED_MAINTENANCE). */
export class PlaidApiError extends PlaidResponseError {}
/** Raised for OAUTH_ERROR: an OAuth institution rejected the connection. */
export class PlaidOAuthError extends PlaidResponseError {}
/** Raised for USER_ERROR: the Plaid user is unknown or its data is invalid. */
export class PlaidUserError extends PlaidResponseError {}
/** Raised for an `error_type` this code does not know yet (Plaid adds them without notice). */
export class PlaidUnknownTypeError extends PlaidResponseError {}

type ResponseErrorClass = new (status: number | null, body: PlaidErrorBody) => PlaidResponseError;

/** error_type -> class. Exported so the table test and the GraphQL layer use the same list. */
export const ERROR_CLASS_BY_TYPE: Readonly<Record<string, ResponseErrorClass>> = Object.freeze({
  ITEM_ERROR: PlaidItemError,
  INVALID_REQUEST: PlaidInvalidRequestError,
  INVALID_INPUT: PlaidInvalidInputError,
  INVALID_RESULT: PlaidInvalidResultError,
  INSTITUTION_ERROR: PlaidInstitutionError,
  RATE_LIMIT_EXCEEDED: PlaidRateLimitExceededError,
  API_ERROR: PlaidApiError,
  OAUTH_ERROR: PlaidOAuthError,
  USER_ERROR: PlaidUserError,
});

/** Builds the typed error for one Plaid error object (top level, or inside `results[]`). */
export function plaidErrorFromBody(status: number | null, body: PlaidErrorBody): PlaidResponseError {
  const Class = Object.hasOwn(ERROR_CLASS_BY_TYPE, body.error_type)
    ? (ERROR_CLASS_BY_TYPE[body.error_type] ?? PlaidUnknownTypeError)
    : PlaidUnknownTypeError;
  return new Class(status, body);
}

/**
 * The one factory from an HTTP error answer: a Plaid error object becomes its typed class;
 * anything else (an empty object, an array, a proxy's JSON) is a `PlaidMalformedResponseError`.
 */
export function plaidErrorFromResponse(status: number, body: unknown): PlaidClientError {
  const parsed = PlaidErrorBody.safeParse(body);
  if (parsed.success) return plaidErrorFromBody(status, parsed.data);
  return new PlaidMalformedResponseError(status, 'the error answer is not a Plaid error object');
}

// ---- transport failures ---------------------------------------------------------------------

/** Raised when no usable answer came back. `mayHaveRun` says whether Plaid may have done the work. */
export abstract class PlaidTransportError extends PlaidClientError {
  abstract readonly mayHaveRun: boolean;
}

/** Raised when the answer did not come within the timeout. The refresh may have run (and been billed). */
export class PlaidTimeoutError extends PlaidTransportError {
  readonly mayHaveRun = true;
  constructor(readonly timeoutMs: number) {
    super(`Plaid did not answer within ${timeoutMs} ms; the refresh may have run`);
  }
}

/** Raised when no connection could be made (refused, DNS, connect timeout): nothing reached Plaid. */
export class PlaidConnectionFailedError extends PlaidTransportError {
  readonly mayHaveRun = false;
  constructor(
    readonly code: string,
    options?: ErrorOptions,
  ) {
    super(`could not connect to Plaid (${code}); the request was not sent`, options);
  }
}

/** Raised when the connection dropped after the request was sent: the refresh may have run. */
export class PlaidConnectionResetError extends PlaidTransportError {
  readonly mayHaveRun = true;
  constructor(
    readonly code: string,
    options?: ErrorOptions,
  ) {
    super(`the connection to Plaid was closed before an answer (${code}); the refresh may have run`, options);
  }
}

const SNIPPET_LENGTH = 200;

/** Raised when the answer is not JSON at all (Plaid's edge sometimes answers an HTML 502). */
export class PlaidNonJsonResponseError extends PlaidTransportError {
  readonly mayHaveRun = true;
  readonly bodySnippet: string;
  constructor(
    readonly status: number,
    readonly contentType: string | null,
    body: string,
  ) {
    super(`Plaid answered HTTP ${status} with a body that is not JSON (${contentType ?? 'no content-type'})`);
    this.bodySnippet = body.slice(0, SNIPPET_LENGTH);
  }
}

/**
 * Raised when the answer is JSON of the wrong shape: a 200 without the fields the endpoint promises,
 * or an error status without a Plaid error object. The call reached Plaid, so it may have run.
 */
export class PlaidMalformedResponseError extends PlaidTransportError {
  readonly mayHaveRun = true;
  constructor(
    readonly status: number,
    readonly problem: string,
  ) {
    super(`Plaid answered HTTP ${status} with an unexpected body: ${problem}`);
  }
}

/** Normalises a failure of the HTTP stack (undici) into one of the transport errors above, once. */
export function transportErrorFrom(error: unknown, timeoutMs: number): PlaidTransportError {
  const code = errorCode(error);
  switch (code) {
    case 'ABORT_ERR':
    case 'UND_ERR_ABORTED':
    case 'UND_ERR_HEADERS_TIMEOUT':
    case 'UND_ERR_BODY_TIMEOUT':
    case 'TimeoutError':
      return new PlaidTimeoutError(timeoutMs);
    case 'ECONNREFUSED':
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
    case 'UND_ERR_CONNECT_TIMEOUT':
      return new PlaidConnectionFailedError(code, { cause: error });
    default:
      // ECONNRESET, EPIPE, UND_ERR_SOCKET ("other side closed") and anything unknown: the request
      // may have gone out, so we must assume it ran.
      return new PlaidConnectionResetError(code ?? 'UNKNOWN', { cause: error });
  }
}

function errorCode(error: unknown): string | null {
  // undici wraps socket errors; the system code sits on the error or on its cause.
  for (let e: unknown = error, depth = 0; e instanceof Error && depth < 4; e = e.cause, depth++) {
    if (e.name === 'TimeoutError' || e.name === 'AbortError') return e.name === 'TimeoutError' ? 'TimeoutError' : 'ABORT_ERR';
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') return code;
  }
  return null;
}
