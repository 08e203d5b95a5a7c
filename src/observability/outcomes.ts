/**
 * What each root field (Query and Mutation) of a request resolved to, collected into the request's
 * context by src/graphql/root-field-outcomes.ts and read by the operation log line and the metrics.
 */
export interface RootFieldOutcome {
  readonly field: string;
  /** The GraphQL type the value resolved to (the union member), `null`, or `ERROR` when it threw. */
  readonly result: string;
  readonly durationMs: number;
  /** Plaid request_id(s) the value carries (success receipts and Plaid errors have one). */
  readonly plaidRequestIds: readonly string[];
}

/** What a context must offer to be instrumented. */
export interface OutcomeSink {
  readonly outcomes: RootFieldOutcome[];
}
