import { defineItemRefreshMutation } from './item-refresh.js';

defineItemRefreshMutation({
  field: 'refreshCashflowReport',
  product: 'cashflow_report',
  withDays: true,
  description:
    'Refreshes the Cashflow Report data of one Item (/cashflow_report/refresh). `days` outside 1..730 answers InputValidationError and calls nothing.',
});
