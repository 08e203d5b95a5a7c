import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ERROR_CATALOGUE, catalogueEntry, documentationUrl } from '../../src/plaid/error-catalogue.js';
import { needs, researchCataloguePath } from '../helpers/needs.js';

interface ResearchEntry {
  error_type: string;
  error_code: string;
  http_status: number | null;
  retry: string;
  applies_to: string[];
}

describe('our error catalogue', () => {
  it('answers unknown codes with undefined, not a prototype property', () => {
    expect(catalogueEntry('SOMETHING_NEW')).toBeUndefined();
    expect(catalogueEntry('toString')).toBeUndefined();
  });

  it('builds Plaid documentation links', () => {
    expect(documentationUrl('ITEM_ERROR', 'ITEM_LOGIN_REQUIRED')).toBe('https://plaid.com/docs/errors/item/#item_login_required');
    expect(documentationUrl('RATE_LIMIT_EXCEEDED', 'RATE_LIMIT')).toBe('https://plaid.com/docs/errors/rate-limit-exceeded/#rate_limit');
    expect(documentationUrl('INVALID_REQUEST', 'MISSING_FIELDS')).toBe('https://plaid.com/docs/errors/invalid-request/#missing_fields');
  });

  it('agrees with the research catalogue on type, status and retry class', needs('researchCatalogue'), () => {
    const research = JSON.parse(readFileSync(researchCataloguePath as string, 'utf8')) as ResearchEntry[];
    const byCode = new Map(research.map((r) => [r.error_code, r]));
    // Every code the research ties to a refresh endpoint is in our table.
    const refreshCodes = research.filter((r) => r.applies_to.length > 0).map((r) => r.error_code);
    expect(refreshCodes.filter((code) => !(code in ERROR_CATALOGUE))).toEqual([]);
    // And where both list a code, they agree.
    for (const [code, ours] of Object.entries(ERROR_CATALOGUE)) {
      const theirs = byCode.get(code);
      if (!theirs) continue;
      expect({ code, type: ours.errorType, status: ours.status, retry: ours.retry }).toEqual({
        code,
        type: theirs.error_type,
        status: theirs.http_status,
        retry: theirs.retry,
      });
    }
  });
});
