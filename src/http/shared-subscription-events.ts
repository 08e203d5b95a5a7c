/**
 * A subscription event executed once for every subscription that would compute the same result.
 * The executor runs a subscription's selection set once per event per subscriber: one webhook to
 * an Item's 1,000 subscribers was 1,000 executions and 1,000 serialisations of one answer. Here
 * the subscribe function is graphql-js's own two steps (`createSourceEventStream`, then `execute`
 * per event, as envelop's graphql-jit plugin does it), with a memo between them: keyed by the
 * event payload (the notice bus hands one object to every subscriber of a fan-out) and by all that
 * decides the result (schema, document, operation, variables and the caller's sharing key). The
 * first subscriber to read an event executes it with its own context; the others get the same
 * ExecutionResult, which serialises itself once (yoga's `stringify`). The memo is a WeakMap on the
 * payload: it goes with the event once the last subscriber has taken it.
 */
import {
  createSourceEventStream,
  execute,
  getOperationAST,
  GraphQLError,
  print,
  type DocumentNode,
  type ExecutionArgs,
  type ExecutionResult,
  type GraphQLSchema,
} from 'graphql';
import { isAsyncIterable, mapAsyncIterator, type Plugin } from 'graphql-yoga';
import { canonicalJson } from '../util/canonical-json.js';

export interface SharedSubscriptionEventsOptions<TContext> {
  /**
   * What of the caller its subscription's results depend on (its viewer and claims), as a string:
   * equal keys may share results. It must cover every part of the context the subscription's
   * resolvers read. Null: this subscription executes its events alone.
   */
  readonly sharingKey: (context: TContext) => string | null;
}

/** What yoga serialises a result with when it carries one (ExecutionResultWithSerializer). */
type SelfSerialising = ExecutionResult & { stringify?: (result: ExecutionResult) => string };

export function useSharedSubscriptionEvents<TContext extends object>(
  options: SharedSubscriptionEventsOptions<TContext>,
): Plugin<TContext & Record<string, unknown>> {
  const executions = new WeakMap<object, Map<string, Promise<ExecutionResult>>>();
  const documents = new WeakMap<DocumentNode, string>();
  const schemas = new WeakMap<GraphQLSchema, number>();
  let schemaCount = 0;
  /** The part of the key a subscription keeps for its life: everything but the event. */
  const keyOf = (args: ExecutionArgs, caller: string): string => {
    let document = documents.get(args.document);
    if (document === undefined) {
      document = print(args.document);
      documents.set(args.document, document);
    }
    let schema = schemas.get(args.schema);
    if (schema === undefined) {
      schema = schemaCount++;
      schemas.set(args.schema, schema);
    }
    return canonicalJson([schema, document, args.operationName ?? null, args.variableValues ?? null, caller]);
  };
  /** The event's result for `key`: executed by the first subscriber to ask, shared with the others. */
  const executeEvent = (args: ExecutionArgs, key: string, payload: unknown): Promise<ExecutionResult> | ExecutionResult => {
    if (typeof payload !== 'object' || payload === null) return execute({ ...args, rootValue: payload });
    let byKey = executions.get(payload);
    if (!byKey) {
      byKey = new Map();
      executions.set(payload, byKey);
    }
    const shared = byKey.get(key);
    if (shared) return shared;
    const running = new Promise<ExecutionResult>((resolve) => resolve(execute({ ...args, rootValue: payload }))).then(serialisedOnce);
    byKey.set(key, running);
    const entries = byKey;
    // An error is not kept: a subscriber that reads the event later executes it again.
    const forget = () => {
      if (entries.get(key) === running) entries.delete(key);
    };
    running.then((result) => {
      if (result.errors) forget();
    }, forget);
    return running;
  };
  return {
    onSubscribe({ args, subscribeFn, setSubscribeFn }) {
      const caller = options.sharingKey(args.contextValue);
      if (caller === null) return;
      setSubscribeFn(async (subscribeArgs: ExecutionArgs) => {
        const stream = await createSourceEventStream(subscribeArgs);
        // Refused (variables, the field's subscribe threw): the executor answers, with its status codes, as before.
        if (!isAsyncIterable(stream)) return (await subscribeFn(subscribeArgs)) as ExecutionResult | AsyncGenerator<ExecutionResult>;
        const key = keyOf(subscribeArgs, caller);
        const operation = getOperationAST(subscribeArgs.document, subscribeArgs.operationName);
        return mapAsyncIterator(
          stream,
          (payload) => executeEvent(subscribeArgs, key, payload),
          // As the executor reports a source stream's failure: located at the operation.
          (error: unknown) => {
            const original = error instanceof Error ? error : new Error(String(error));
            throw new GraphQLError(original.message, { originalError: original, ...(operation ? { nodes: [operation] } : {}) });
          },
        ) as AsyncGenerator<ExecutionResult>;
      });
    },
  };
}

/** Gives a shared result one JSON serialisation for all its subscribers; a copy (errors masked) is serialised as usual. */
function serialisedOnce(result: ExecutionResult): ExecutionResult {
  let json: string | undefined;
  Object.defineProperty(result, 'stringify', {
    value: (value: ExecutionResult) => (value === result ? (json ??= JSON.stringify(value)) : JSON.stringify(value)),
  } satisfies PropertyDescriptor & { value: NonNullable<SelfSerialising['stringify']> });
  return result;
}
