/** The document every anchor answers: the service's own refreshIdentity, selecting what the bare anchors have too. */
export const ANCHOR_DOCUMENT =
  'mutation ($itemId: ID!) { refreshIdentity(itemId: $itemId) { __typename ... on RefreshIdentitySuccess { requestId } } }';
