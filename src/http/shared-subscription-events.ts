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
 *
 * Per open subscription this keeps little (issue #16, 10,000 of them on one process): the key
 * names the document by a digest of its text, not the text itself (a subscription's key was
 * ~1.5 KB of escaped document), and the stream is one object whose methods are on its prototype
 * (a closure-based iterator map is ~1 KB of closures and scopes each).
 */
import { createHash } from 'node:crypto';
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
import { isAsyncIterable, type Plugin } from 'graphql-yoga';
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
      // A digest of the printed document: equal documents share, and each key stays short.
      document = createHash('sha256').update(print(args.document)).digest('base64');
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
  /**
   * The keys of the open streams, one string for all streams of a key (an Item's 1,000 tabs keep
   * one), counted by stream and dropped with the last. JSON.stringify with a replacer builds its
   * result as a tree of string parts; the kept copy is flattened once.
   */
  const openKeys = new Map<string, { readonly key: string; streams: number }>();
  const holdKey = (key: string): string => {
    let held = openKeys.get(key);
    if (!held) {
      held = { key: flatString(key), streams: 0 };
      openKeys.set(held.key, held);
    }
    held.streams += 1;
    return held.key;
  };
  const releaseKey = (key: string): void => {
    const held = openKeys.get(key);
    if (held && --held.streams === 0) openKeys.delete(key);
  };
  return {
    onSubscribe({ args, subscribeFn, setSubscribeFn }) {
      const caller = options.sharingKey(args.contextValue);
      if (caller === null) return;
      setSubscribeFn(async (subscribeArgs: ExecutionArgs) => {
        const stream = await createSourceEventStream(subscribeArgs);
        // Refused (variables, the field's subscribe threw): the executor answers, with its status codes, as before.
        if (!isAsyncIterable(stream)) return (await subscribeFn(subscribeArgs)) as ExecutionResult | AsyncGenerator<ExecutionResult>;
        return new SharedEventStream(
          stream[Symbol.asyncIterator](),
          subscribeArgs,
          holdKey(keyOf(subscribeArgs, caller)),
          executeEvent,
          releaseKey,
        );
      });
    },
  };
}

type ExecuteEvent = (args: ExecutionArgs, key: string, payload: unknown) => Promise<ExecutionResult> | ExecutionResult;

/** A flat copy of a string (a rope of parts costs a node per part). */
function flatString(value: string): string {
  return Buffer.from(value, 'utf8').toString('utf8');
}

/**
 * The subscription's results: each source event executed (or shared) by `execute`. As
 * mapAsyncIterator does it: a failed execution or source ends the source, then rejects; the
 * source's failure is reported as the executor reports it, located at the operation.
 */
class SharedEventStream implements AsyncIterableIterator<ExecutionResult> {
  private released = false;

  constructor(
    private readonly source: AsyncIterator<unknown>,
    private readonly args: ExecutionArgs,
    private readonly key: string,
    private readonly execute: ExecuteEvent,
    private readonly releaseKey: (key: string) => void,
  ) {}

  next(): Promise<IteratorResult<ExecutionResult>> {
    if (this.released) return Promise.resolve({ done: true, value: undefined });
    return this.source.next().then(
      (event) => this.resultOf(event),
      (error: unknown) => this.failed(error),
    );
  }

  return(): Promise<IteratorResult<ExecutionResult>> {
    this.release();
    const ended = this.source.return?.();
    return ended
      ? ended.then(
          (event) => this.resultOf(event),
          (error: unknown) => this.failed(error),
        )
      : Promise.resolve({ done: true, value: undefined });
  }

  throw(error: unknown): Promise<IteratorResult<ExecutionResult>> {
    if (this.source.throw) {
      return this.source.throw(error).then(
        (event) => this.resultOf(event),
        (thrown: unknown) => this.failed(thrown),
      );
    }
    return this.closeAndThrow(error);
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  /** The stream is over (returned, done or failed): its key is no longer held. */
  private release(): void {
    if (this.released) return;
    this.released = true;
    this.releaseKey(this.key);
  }

  private async resultOf(event: IteratorResult<unknown>): Promise<IteratorResult<ExecutionResult>> {
    if (event.done) {
      this.release();
      return { done: true, value: undefined };
    }
    let value: ExecutionResult;
    try {
      value = await this.execute(this.args, this.key, event.value);
    } catch (error) {
      return this.closeAndThrow(error);
    }
    return { done: false, value };
  }

  private failed(error: unknown): Promise<IteratorResult<ExecutionResult>> {
    const original = error instanceof Error ? error : new Error(String(error));
    const operation = getOperationAST(this.args.document, this.args.operationName);
    return this.closeAndThrow(
      new GraphQLError(original.message, { originalError: original, ...(operation ? { nodes: [operation] } : {}) }),
    );
  }

  private async closeAndThrow(error: unknown): Promise<never> {
    this.release();
    try {
      await this.source.return?.();
    } catch {
      // The first failure is the one reported.
    }
    throw error;
  }
}

/** Gives a shared result one JSON serialisation for all its subscribers; a copy (errors masked) is serialised as usual. */
function serialisedOnce(result: ExecutionResult): ExecutionResult {
  let json: string | undefined;
  Object.defineProperty(result, 'stringify', {
    value: (value: ExecutionResult) => (value === result ? (json ??= JSON.stringify(value)) : JSON.stringify(value)),
  } satisfies PropertyDescriptor & { value: NonNullable<SelfSerialising['stringify']> });
  return result;
}
