/** The document every anchor answers: the service's own refreshIdentity, selecting what the bare anchors have too. */
export const ANCHOR_DOCUMENT =
  'mutation ($itemId: ID!) { refreshIdentity(itemId: $itemId) { __typename ... on RefreshIdentitySuccess { requestId } } }';

/** A success is the union's success member, from the service and every anchor alike. */
export const isAnchorSuccess = (body: string) => body.includes('"__typename":"RefreshIdentitySuccess"');

/** One request body per Item, sent in turn. */
export const anchorBodies = (items: readonly { readonly id: string }[]) =>
  items.map((item) => JSON.stringify({ query: ANCHOR_DOCUMENT, variables: { itemId: item.id } }));
