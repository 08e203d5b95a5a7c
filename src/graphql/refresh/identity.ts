import { defineItemRefreshMutation } from './item-refresh.js';

defineItemRefreshMutation({
  field: 'refreshIdentity',
  product: 'identity',
  description: 'Asks Plaid for fresh identity data of one Item (/identity/refresh). Billed per call by Plaid.',
});
