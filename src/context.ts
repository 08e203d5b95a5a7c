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
  readonly loaders: Loaders;
}

/** The request's DataLoaders: one batch per request. */
export interface Loaders {
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
}

export function createContext(services: Services, viewer: Viewer | null, requestId: string, deadline: number): Context {
  return {
    requestId,
    outcomes: [] as RootFieldOutcome[],
    viewer,
    deadline,
    services,
    loaders: new RequestLoaders(services.items, viewer?.id ?? null),
  };
}

/**
 * The request's DataLoaders, each made on first use: most requests (a refresh waiting seconds on
 * Plaid) use none or one, and 10,000 of them in flight would otherwise hold six loaders each.
 */
class RequestLoaders implements Loaders {
  private itemLoader: Loaders['item'] | null = null;
  private refreshesLoader: Loaders['refreshes'] | null = null;
  private refreshRunLoader: Loaders['refreshRun'] | null = null;
  private latestRunsLoader: Loaders['latestRuns'] | null = null;
  private runEventsLoader: Loaders['runEvents'] | null = null;
  private healthLoader: Loaders['health'] | null = null;

  constructor(
    private readonly items: ItemService,
    private readonly viewerId: string | null,
  ) {}

  get item(): Loaders['item'] {
    return (this.itemLoader ??= new DataLoader((ids) => this.items.ownItems(this.viewerId, ids)));
  }

  get refreshes(): Loaders['refreshes'] {
    return (this.refreshesLoader ??= new DataLoader((ids) => this.items.lastRefreshes(ids)));
  }

  get refreshRun(): Loaders['refreshRun'] {
    return (this.refreshRunLoader ??= new DataLoader((ids) => this.items.refreshes(this.viewerId, ids)));
  }

  get latestRuns(): Loaders['latestRuns'] {
    return (this.latestRunsLoader ??= new DataLoader((ids) => this.items.latestRefreshes(ids)));
  }

  get runEvents(): Loaders['runEvents'] {
    return (this.runEventsLoader ??= new DataLoader((ids) => this.items.refreshEvents(ids)));
  }

  get health(): Loaders['health'] {
    return (this.healthLoader ??= new DataLoader((ids) => this.items.health(ids)));
  }
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
