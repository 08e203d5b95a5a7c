/** The webhook settings (PLAID_WEBHOOK_*): defaults, what is accepted, and what is refused by name. */
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, loadPlaidConfig } from '../../src/config.js';

describe('webhook settings', () => {
  it('default: no URL to register, a 2 s key timeout, a 15 minute dedupe window, a 1 minute lease, a 5 s poll', () => {
    expect(loadConfig({}).plaid.webhooks).toEqual({
      url: null,
      keyTimeoutMs: 2_000,
      dedupeWindowSeconds: 900,
      leaseMs: 60_000,
      pollMs: 5_000,
    });
    expect(loadPlaidConfig({ PLAID_WEBHOOK_URL: '  ' }).webhooks.url).toBeNull();
  });

  it('takes an http(s) URL and the bounds', () => {
    const config = loadPlaidConfig({
      PLAID_WEBHOOK_URL: 'https://api.example.com/webhooks/plaid',
      PLAID_WEBHOOK_KEY_TIMEOUT_MS: '500',
      PLAID_WEBHOOK_DEDUPE_SECONDS: '0',
      PLAID_WEBHOOK_LEASE_MS: '4000',
      PLAID_WEBHOOK_POLL_MS: '250',
    });
    expect(config.webhooks).toEqual({
      url: 'https://api.example.com/webhooks/plaid',
      keyTimeoutMs: 500,
      dedupeWindowSeconds: 0,
      leaseMs: 4000,
      pollMs: 250,
    });
  });

  it.each([
    ['PLAID_WEBHOOK_URL', 'not a url'],
    ['PLAID_WEBHOOK_URL', 'ftp://files.example.com/hook'],
    ['PLAID_WEBHOOK_KEY_TIMEOUT_MS', '50'],
    ['PLAID_WEBHOOK_KEY_TIMEOUT_MS', '60000'],
    ['PLAID_WEBHOOK_DEDUPE_SECONDS', '-1'],
    ['PLAID_WEBHOOK_DEDUPE_SECONDS', '90000'],
    ['PLAID_WEBHOOK_LEASE_MS', '500'],
    ['PLAID_WEBHOOK_POLL_MS', '0'],
  ])('refuses %s=%s, naming it', (name, value) => {
    let error: unknown;
    try {
      loadConfig({ [name]: value });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).problems).toEqual([expect.stringMatching(new RegExp(`^${name}: `))]);
  });
});
