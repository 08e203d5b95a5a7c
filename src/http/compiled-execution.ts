/**
 * Compiled execution (graphql-jit) for queries and mutations, answering exactly as yoga's own
 * executor (`@graphql-tools/executor`) does. graphql-jit compiles a document once into a function
 * per operation; this plugin keeps those per document (a bounded LRU) and runs them, with three
 * differences of graphql-jit's made good here:
 *
 * - Variables: every request's variables are first coerced as graphql-js does; a request whose
 *   variables do not coerce, or that graphql-jit refuses where graphql-js did not, goes to the
 *   usual executor (no resolver has run by then), which answers with its own wording and status.
 * - Abstract types: graphql-jit calls `resolveType(value, context, info)` without the abstract type
 *   (Pothos' unions then throw in `defaultTypeResolver`), cannot wait for a promise, and lets a
 *   throw escape its bookkeeping (the request never settles). Each abstract type's resolver is
 *   wrapped once: called with four arguments (graphql-js, our own outcome log) it is the same
 *   function; called by graphql-jit it gets its type, and anything but a valid type name becomes
 *   the error graphql-js would report, handed over through a placeholder type name.
 * - Field errors: graphql-jit's own error objects (no `extensions`, no `nodes`, some without
 *   `originalError`) become the GraphQLErrors the usual executor reports: `locatedError` of the
 *   raw error at the field's nodes and path, so masking, codes and logging see the same errors.
 *
 * Documents that read the schema (`__schema`, `__type`), and those graphql-jit cannot compile, run
 * on the usual executor; so does every request `useUsualExecutor` picks (traced ones). Subscriptions
 * never come through here (yoga subscribes through onSubscribe, and each event runs graphql-js's
 * `execute` in useSharedSubscriptionEvents or yoga's executor).
 */
import {
  getLocation,
  getOperationAST,
  getVariableValues,
  GraphQLError,
  isAbstractType,
  isObjectType,
  locatedError,
  OperationTypeNode,
  visit,
  type DocumentNode,
  type ExecutionArgs,
  type ExecutionResult,
  type FieldNode,
  type GraphQLAbstractType,
  type GraphQLResolveInfo,
  type GraphQLSchema,
  type GraphQLTypeResolver,
  type VariableDefinitionNode,
} from 'graphql';
import { inspect } from 'graphql/jsutils/inspect.js';
import { createRequire } from 'node:module';
import { compileQuery, isCompiledQuery, type CompiledQuery } from 'graphql-jit';
import * as jitRuntimeModule from 'graphql-jit/dist/runtime.js';
import type { Plugin } from 'graphql-yoga';
import { LRUCache } from 'lru-cache';

export interface CompiledExecutionOptions {
  /** False: every request on the usual executor (still counted). */
  readonly enabled?: boolean;
  /** Told which executor ran each query or mutation. */
  readonly onExecution?: (executor: 'compiled' | 'usual') => void;
  /** Requests to leave on the usual executor (e.g. those whose fields are traced one by one). */
  readonly useUsualExecutor?: (args: ExecutionArgs) => boolean;
  /** Documents whose compiled form is kept (least recently used go first). */
  readonly maxDocuments?: number;
}

/** What runs a document's operation: its compiled function, or the usual executor. */
type Plan =
  | {
      readonly compiled: CompiledQuery;
      readonly variables: readonly VariableDefinitionNode[];
      readonly fieldNodes: FieldNodesByLocation;
    }
  | 'usual';
type FieldNodesByLocation = () => ReadonlyMap<string, FieldNode>;
type Execute = (args: ExecutionArgs) => unknown;

export function useCompiledExecution(options: CompiledExecutionOptions = {}): Plugin {
  const enabled = options.enabled ?? true;
  const onExecution = options.onExecution ?? (() => undefined);
  const plans = new LRUCache<DocumentNode, Map<string, Plan>>({ max: options.maxDocuments ?? 1_000 });
  let planned: GraphQLSchema | undefined;
  const planFor = (args: ExecutionArgs): Plan => {
    if (planned !== args.schema) {
      plans.clear();
      planned = args.schema;
      fillInAbstractTypes(args.schema);
    }
    let byOperation = plans.get(args.document);
    if (!byOperation) {
      byOperation = new Map();
      plans.set(args.document, byOperation);
    }
    const name = args.operationName ?? '';
    let plan = byOperation.get(name);
    if (!plan) {
      plan = makePlan(args);
      byOperation.set(name, plan);
    }
    return plan;
  };
  return {
    onExecute({ args, executeFn, setExecuteFn }) {
      const usual = executeFn as Execute;
      const plan = enabled && !options.useUsualExecutor?.(args) ? planFor(args) : 'usual';
      setExecuteFn(((executeArgs: ExecutionArgs) => {
        if (plan !== 'usual') return runCompiled(plan, executeArgs, usual, onExecution);
        onExecution('usual');
        return usual(executeArgs);
      }) as typeof executeFn);
    },
  };
}

function makePlan(args: ExecutionArgs): Plan {
  const operation = getOperationAST(args.document, args.operationName);
  // Unknown or ambiguous operation names: the usual executor's errors.
  if (!operation || operation.operation === OperationTypeNode.SUBSCRIPTION || readsSchema(args.document)) return 'usual';
  const compiled = compileQuery(args.schema, args.document, args.operationName ?? undefined);
  if (!isCompiledQuery(compiled)) return 'usual';
  let nodes: ReadonlyMap<string, FieldNode> | undefined;
  return { compiled, variables: operation.variableDefinitions ?? [], fieldNodes: () => (nodes ??= fieldNodesByLocation(args.document)) };
}

function runCompiled(
  plan: Exclude<Plan, 'usual'>,
  args: ExecutionArgs,
  usual: Execute,
  told: (executor: 'compiled' | 'usual') => void,
): unknown {
  const onUsual = () => {
    told('usual');
    return usual(args);
  };
  // graphql-js decides which variables are accepted, and words the refusal.
  const coerced = getVariableValues(args.schema, plan.variables, args.variableValues ?? {}, { maxErrors: 50 });
  if (coerced.errors) return onUsual();
  const context = args.contextValue;
  const result = plan.compiled.query(args.rootValue, context, args.variableValues);
  const finish = (done: ExecutionResult): unknown => {
    // Only refused variables answer without data: nothing has run yet.
    if (!('data' in done)) return onUsual();
    told('compiled');
    if (!done.errors?.length) return done;
    return { ...done, errors: done.errors.map((error) => asExecutorError(error, plan.fieldNodes, context)) };
  };
  return isPromiseLike(result) ? Promise.resolve(result).then(finish) : finish(result);
}

/**
 * The error yoga's executor reports for a graphql-jit field error: `locatedError` of the raw
 * error at the field's nodes and path. Errors graphql-jit raises itself carry no original; those
 * the executor raises as GraphQLErrors (unexpected lists and objects) get one, the others (a null
 * in a non-null field, a value a scalar cannot serialise) a plain Error, as the executor throws them.
 */
function asExecutorError(error: GraphQLError, fieldNodes: FieldNodesByLocation, context: unknown): GraphQLError {
  const nodes = error.locations?.map((location) => fieldNodes().get(`${location.line}:${location.column}`));
  const known = nodes?.every((node): node is FieldNode => node !== undefined) ? nodes : undefined;
  const located = (raw: unknown) => locatedError(raw, known, error.path);
  if (error.originalError !== undefined) return located(coerceError(error.originalError));
  const typeError = takeTypeResolutionError(error.message, context);
  if (typeError !== undefined) return located(coerceError(typeError));
  const iterable = /^Expected Iterable, but did not find one for field (\S+)\.$/.exec(error.message);
  if (iterable) return located(new GraphQLError(`Expected Iterable, but did not find one for field "${iterable[1]}".`));
  if (error.message.startsWith('Expected value of type ')) return located(new GraphQLError(error.message));
  return located(new Error(error.message));
}

/** As the executor turns a thrown value into an Error. */
function coerceError(raw: unknown): Error {
  if (raw instanceof Error) return raw;
  if (typeof raw === 'object' && raw !== null && 'message' in raw && typeof raw.message === 'string') {
    const error = new Error(raw.message, 'cause' in raw ? { cause: raw.cause } : undefined);
    if ('stack' in raw && typeof raw.stack === 'string') error.stack = raw.stack;
    if ('name' in raw && typeof raw.name === 'string') error.name = raw.name;
    return error;
  }
  return new Error(String(raw));
}

// ---- lists ----

type JitRuntime = typeof jitRuntimeModule.jitRuntime;
const SETTLES_ITEMS_IN_PLACE = Symbol('compiledExecutionListItems');

/**
 * graphql-jit puts a list item whose promise rejects at the end of the list (`push(null)`) rather
 * than at its index: `_entities` with a bad representation first answered `[null, item, null]` for
 * two. A rejection is handed on as the item's value instead, an Error, which the compiled code
 * reports at the item's own index and path, as it does for an Error returned in a list and as the
 * usual executor does for both. Its runtime is one object shared by every compiled query; it is
 * loaded both as CommonJS (what graphql-jit's entry point uses) and as ESM, so both are fixed. In
 * the bundle (scripts/bundle.mjs) the ESM import below is aliased to the CommonJS file, the copy
 * bundled for graphql-jit; test/integration/start-script.test.ts checks the fix holds there.
 */
function settleListItemsInPlace(runtime: JitRuntime & { [SETTLES_ITEMS_IN_PLACE]?: true }): void {
  if (runtime[SETTLES_ITEMS_IN_PLACE]) return;
  const handle = runtime.handleListItemResult.bind(runtime);
  runtime.handleListItemResult = (ctx, item, onSuccess) => handle(ctx, item, onSuccess, (error) => onSuccess(coerceError(error)));
  runtime[SETTLES_ITEMS_IN_PLACE] = true;
}
settleListItemsInPlace(jitRuntimeModule.jitRuntime);
settleListItemsInPlace((createRequire(import.meta.url)('graphql-jit/dist/runtime.js') as typeof jitRuntimeModule).jitRuntime);

// ---- abstract types ----

const FILLED_IN = Symbol('compiledExecutionResolveType');
/**
 * The placeholder type name graphql-jit is given for a failed resolution; it reports it as "not a
 * possible type". No type can have this name ("!" is not allowed in a name).
 */
const PLACEHOLDER = '!type-resolution-failed-';
const PLACEHOLDER_IN_MESSAGE = /^Runtime Object type "!type-resolution-failed-(\d+)" is not a possible type for "[^"]*"\.$/;
/** Failed resolutions of each request (its context), until its errors are read. */
const typeErrors = new WeakMap<object, Map<string, unknown>>();
let placeholders = 0;

type Marked = GraphQLTypeResolver<unknown, unknown> & { [FILLED_IN]?: true };

/** Wraps every abstract type's resolveType once (idempotent); graphql-js's four-argument calls reach the original. */
function fillInAbstractTypes(schema: GraphQLSchema): void {
  for (const type of Object.values(schema.getTypeMap())) {
    if (!isAbstractType(type) || !type.resolveType || (type.resolveType as Marked)[FILLED_IN]) continue;
    const original = type.resolveType;
    const filledIn: Marked = (value, context, info, abstractType) =>
      abstractType !== undefined ? original(value, context, info, abstractType) : resolveForJit(original, type, value, context, info);
    filledIn[FILLED_IN] = true;
    type.resolveType = filledIn;
  }
}

/** A valid type name, or a placeholder for the error graphql-js's executor would report (ensureValidRuntimeType). */
function resolveForJit(
  original: GraphQLTypeResolver<unknown, unknown>,
  type: GraphQLAbstractType,
  value: unknown,
  context: unknown,
  info: GraphQLResolveInfo,
): string {
  let failure: unknown;
  try {
    const name = original(value, context, info, type);
    const where = `for field "${info.parentType.name}.${info.fieldName}"`;
    if (name === null || name === undefined) {
      failure = new GraphQLError(
        `Abstract type "${type.name}" must resolve to an Object type at runtime ${where}. Either the "${type.name}" type should provide a "resolveType" function or each possible type should provide an "isTypeOf" function.`,
      );
    } else if (isPromiseLike(name)) {
      // graphql-jit completes abstract values synchronously; none of this schema's resolvers is async.
      failure = new Error(`compiled execution cannot wait for the resolveType of "${type.name}"`);
    } else if (typeof name !== 'string') {
      failure = new GraphQLError(
        isObjectType(name)
          ? 'Support for returning GraphQLObjectType from resolveType was removed in graphql-js@16.0.0 please return type name instead.'
          : `Abstract type "${type.name}" must resolve to an Object type at runtime ${where} with value ${inspect(value)}, received "${inspect(name)}".`,
      );
    } else {
      const runtime = info.schema.getType(name);
      if (!runtime)
        failure = new GraphQLError(`Abstract type "${type.name}" was resolved to a type "${name}" that does not exist inside the schema.`);
      else if (!isObjectType(runtime))
        failure = new GraphQLError(`Abstract type "${type.name}" was resolved to a non-object type "${name}".`);
      else if (!info.schema.isSubType(type, runtime))
        failure = new GraphQLError(`Runtime Object type "${name}" is not a possible type for "${type.name}".`);
      else return name;
    }
  } catch (error) {
    failure = error;
  }
  if (typeof context !== 'object' || context === null) throw failure;
  const id = String(placeholders++);
  let failures = typeErrors.get(context);
  if (!failures) {
    failures = new Map();
    typeErrors.set(context, failures);
  }
  failures.set(id, failure);
  return `${PLACEHOLDER}${id}`;
}

function takeTypeResolutionError(message: string, context: unknown): unknown {
  const id = PLACEHOLDER_IN_MESSAGE.exec(message)?.[1];
  if (id === undefined || typeof context !== 'object' || context === null) return undefined;
  const failures = typeErrors.get(context);
  const failure = failures?.get(id);
  failures?.delete(id);
  return failure;
}

// ---- documents ----

/** Whether the document asks for introspection (`__schema`, `__type`): left to graphql-js, which the introspection switch was tested with. */
function readsSchema(document: DocumentNode): boolean {
  let found = false;
  visit(document, {
    Field(node) {
      if (node.name.value === '__schema' || node.name.value === '__type') found = true;
    },
  });
  return found;
}

/** Every field node of the document by where it starts (graphql-jit's error locations), to give errors the nodes graphql-js gives them. */
function fieldNodesByLocation(document: DocumentNode): ReadonlyMap<string, FieldNode> {
  const byLocation = new Map<string, FieldNode>();
  const source = document.loc?.source;
  if (!source) return byLocation;
  visit(document, {
    Field(node) {
      if (!node.loc) return;
      const { line, column } = getLocation(source, node.loc.start);
      byLocation.set(`${line}:${column}`, node);
    },
  });
  return byLocation;
}

function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as { then?: unknown } | null)?.then === 'function';
}
