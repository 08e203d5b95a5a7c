/** Per-request context: who is calling, the services, and fresh DataLoaders (one batch per request). */
import DataLoader from 'dataloader';
import { GraphQLError } from 'graphql';
import type { Viewer } from './auth/authenticate.js';
import type { OutcomeSink, RootFieldOutcome } from './graphql/root-field-outcomes.js';
import type { Caller } from './services/caller.js';
import { isPlausibleId } from './util/ids.js';
import type { LinkService } from './services/link-service.js';
import type { RefreshService } from './services/refresh-service.js';
import type { ProductRefresh, TokenVault, VaultItem } from './vault/vault.js';

export interface Services {
  readonly vault: TokenVault;
  readonly refresh: RefreshService;
  readonly link: LinkService;
}

export interface Context extends OutcomeSink {
  readonly requestId: string;
  readonly viewer: Viewer | null;
  /** Epoch ms by which this request must be answered; every wait in it ends by then. */
  readonly deadline: number;
  readonly services: Services;
  readonly loaders: {
    /** The viewer's Items by id; null for unknown ids and for other viewers' Items. */
    readonly item: DataLoader<string, VaultItem | null>;
    /** Last refreshes per Item id (every product), one query for all Items of a request. */
    readonly refreshes: DataLoader<string, ProductRefresh[]>;
  };
}

export function createContext(services: Services, viewer: Viewer | null, requestId: string, deadline: number): Context {
  return {
    requestId,
    outcomes: [] as RootFieldOutcome[],
    viewer,
    deadline,
    services,
    loaders: {
      item: new DataLoader<string, VaultItem | null>(async (ids) => {
        // An id that cannot exist (NUL, too long) resolves to null without reaching SQL.
        const found = await services.vault.getItems(ids.filter(isPlausibleId));
        const mine = new Map(found.filter((item) => item.viewerId === viewer?.id).map((item) => [item.id, item]));
        return ids.map((id) => mine.get(id) ?? null);
      }),
      refreshes: new DataLoader<string, ProductRefresh[]>(async (ids) => {
        const byItem = new Map<string, ProductRefresh[]>();
        for (const row of await services.vault.getRefreshes(ids)) {
          const rows = byItem.get(row.itemId);
          if (rows) rows.push(row);
          else byItem.set(row.itemId, [row]);
        }
        return ids.map((id) => byItem.get(id) ?? []);
      }),
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
