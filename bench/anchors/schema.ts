/** The one mutation the GraphQL anchors serve, in SDL: a union of a success and Plaid's error, as the service answers. */
export const ANCHOR_SDL = /* GraphQL */ `
  type Query {
    ok: Boolean!
  }
  type RefreshIdentitySuccess {
    requestId: String!
  }
  type PlaidError {
    errorCode: String!
    message: String!
  }
  union RefreshIdentityResult = RefreshIdentitySuccess | PlaidError
  type Mutation {
    refreshIdentity(itemId: ID!): RefreshIdentityResult!
  }
`;

export type AnchorResult =
  | { readonly __typename: 'RefreshIdentitySuccess'; readonly requestId: string }
  | {
      readonly __typename: 'PlaidError';
      readonly errorCode: string;
      readonly message: string;
    };

/** The resolver both anchors share: one Plaid call, its answer as a union member. */
export function refreshIdentityResolver(call: (accessToken: string) => Promise<{ requestId: string }>) {
  return async (_: unknown, args: { itemId: string }): Promise<AnchorResult> => {
    try {
      const { requestId } = await call(args.itemId);
      return { __typename: 'RefreshIdentitySuccess', requestId };
    } catch (error) {
      return { __typename: 'PlaidError', errorCode: 'PLAID_UNAVAILABLE', message: String(error) };
    }
  };
}
