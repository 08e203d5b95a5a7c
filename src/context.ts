/** Per-request context: who is calling, the services, and fresh DataLoaders (one batch per request). */
import DataLoader from 'dataloader';
import { GraphQLError } from 'graphql';
import type { Viewer } from './auth/authenticate.js';
import type { OutcomeSink, RootFieldOutcome } from './graphql/root-field-outcomes.js';
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
  readonly services: Services;
  readonly loaders: {
    /** The viewer's Items by id; null for unknown ids and for other viewers' Items. */
    readonly item: DataLoader<string, VaultItem | null>;
    /** Last refreshes per Item id (every product), one query for all Items of a request. */
    readonly refreshes: DataLoader<string, ProductRefresh[]>;
  };
}

export function createContext(services: Services, viewer: Viewer | null, requestId: string): Context {
  return {
    requestId,
    outcomes: [] as RootFieldOutcome[],
    viewer,
    services,
    loaders: {
      item: new DataLoader<string, VaultItem | null>(async (ids) => {
        const found = await services.vault.getItems(ids);
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

/** The caller, or a GraphQL error with code UNAUTHENTICATED. */
export function requireViewer(context: Context): Viewer {
  if (context.viewer) return context.viewer;
  throw new GraphQLError('authentication required: send Authorization: Bearer <JWT>', {
    extensions: { code: 'UNAUTHENTICATED', http: { status: 401 } },
  });
}
