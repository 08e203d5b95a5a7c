/** Per-request context: who is calling, the services, and fresh DataLoaders (one batch per request). */
import DataLoader from 'dataloader';
import { GraphQLError } from 'graphql';
import type { Viewer } from './auth/authenticate.js';
import type { OutcomeSink, RootFieldOutcome } from './observability/outcomes.js';
import type { Caller } from './services/caller.js';
import type {
  ItemHealthRecord,
  ItemService,
  PlaidItemRecord,
  ProductRefreshRecord,
  RefreshEventView,
  RefreshRun,
} from './services/item-service.js';
import type { NoticeFilter, RefreshNotice } from './services/refresh-lifecycle.js';
import type { LinkService } from './services/link-service.js';
import type { RefreshService } from './services/refresh-service.js';

/** The use cases the schema may call; the vault, the guard and the Plaid client stay behind them. */
export interface Services {
  readonly items: ItemService;
  readonly refresh: RefreshService;
  readonly link: LinkService;
  /** Notices of changed refreshes, from every replica (subscriptions listen here). */
  readonly notices: NoticeSource;
}

/** Where subscriptions hear of changes: an async iterable of notices per subscriber. */
export interface NoticeSource {
  /** Only the notices `filter` asks for (the source routes them; a subscriber never sees another viewer's). */
  subscribe(filter: NoticeFilter): AsyncIterable<RefreshNotice>;
  /** Called for each notice handed to a subscriber (metrics: deliveries, latency). */
  delivered(notice: RefreshNotice): void;
}

export interface Context extends OutcomeSink {
  readonly requestId: string;
  readonly viewer: Viewer | null;
  /** Epoch ms by which this request must be answered; every wait in it ends by then. */
  readonly deadline: number;
  readonly services: Services;
  readonly loaders: {
    /** The viewer's Items by id; null for unknown ids and for other viewers' Items. */
    readonly item: DataLoader<string, PlaidItemRecord | null>;
    /** Last refreshes per Item id (every product), one query for all Items of a request. */
    readonly refreshes: DataLoader<string, ProductRefreshRecord[]>;
    /** The viewer's refreshes by id (null for others'). */
    readonly refreshRun: DataLoader<string, RefreshRun | null>;
    /** The latest refresh of each product, per Item id. */
    readonly latestRuns: DataLoader<string, RefreshRun[]>;
    /** Each refresh's events. */
    readonly runEvents: DataLoader<string, RefreshEventView[]>;
    /** Health per Item id (null: never observed), one query for all Items of a request. */
    readonly health: DataLoader<string, ItemHealthRecord | null>;
  };
}

export function createContext(services: Services, viewer: Viewer | null, requestId: string, deadline: number): Context {
  return {
    requestId,
    outcomes: [] as RootFieldOutcome[],
    viewer,
    deadline,
    services,
    loaders: createLoaders(services, viewer?.id ?? null),
  };
}

/**
 * The request's DataLoaders, each made when first used: a subscription holds its context for as
 * long as it is open, and most requests use one or two loaders of the six.
 */
function createLoaders(services: Services, viewerId: string | null): Context['loaders'] {
  let item: Context['loaders']['item'] | undefined;
  let refreshes: Context['loaders']['refreshes'] | undefined;
  let refreshRun: Context['loaders']['refreshRun'] | undefined;
  let latestRuns: Context['loaders']['latestRuns'] | undefined;
  let runEvents: Context['loaders']['runEvents'] | undefined;
  let health: Context['loaders']['health'] | undefined;
  return {
    get item() {
      return (item ??= new DataLoader<string, PlaidItemRecord | null>((ids) => services.items.ownItems(viewerId, ids)));
    },
    get refreshes() {
      return (refreshes ??= new DataLoader<string, ProductRefreshRecord[]>((ids) => services.items.lastRefreshes(ids)));
    },
    get refreshRun() {
      return (refreshRun ??= new DataLoader<string, RefreshRun | null>((ids) => services.items.refreshes(viewerId, ids)));
    },
    get latestRuns() {
      return (latestRuns ??= new DataLoader<string, RefreshRun[]>((ids) => services.items.latestRefreshes(ids)));
    },
    get runEvents() {
      return (runEvents ??= new DataLoader<string, RefreshEventView[]>((ids) => services.items.refreshEvents(ids)));
    },
    get health() {
      return (health ??= new DataLoader<string, ItemHealthRecord | null>((ids) => services.items.health(ids)));
    },
  };
}

/** The caller and the request's deadline, as the services take them; UNAUTHENTICATED without a viewer. */
export function requireCaller(context: Context): Caller {
  return { viewerId: requireViewer(context).id, deadline: context.deadline };
}

/** The caller, or a GraphQL error with code UNAUTHENTICATED. */
export function requireViewer(context: Context): Viewer {
  if (context.viewer) return context.viewer;
  throw new GraphQLError('authentication required: send Authorization: Bearer <JWT>', {
    extensions: { code: 'UNAUTHENTICATED', http: { status: 401 } },
  });
}
