import { defineItemRefreshMutation } from './item-refresh.js';

defineItemRefreshMutation({
  field: 'refreshTransactions',
  product: 'transactions',
  description:
    'Asks Plaid for the newest transactions of one Item (/transactions/refresh). Billed per call by Plaid; limited to 2 per Item per minute.',
});
