/** The logger's second line of defence: secrets inside values and free text are replaced. */
import { describe, expect, it } from 'vitest';
import { REDACTED, SECRET_PATTERNS, createScrubber } from '../../src/util/scrub.js';
import { memoryLogger } from '../helpers/logs.js';

const SECRET = 'the-configured-jwt-secret-value';
const scrub = createScrubber([SECRET, null, 'short']);
const JWT = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJkZW1vIn0.c2lnbmF0dXJl';

describe('createScrubber', () => {
  it.each([
    ['a key that holds a token', { access_token: 'anything' }, { access_token: REDACTED }],
    [
      'keys compared without case',
      { Authorization: 'Basic x', accessToken: 'x', PUBLIC_TOKEN: 'x' },
      { Authorization: REDACTED, accessToken: REDACTED, PUBLIC_TOKEN: REDACTED },
    ],
    ['nested keys', { req: { headers: { authorization: 'x' } } }, { req: { headers: { authorization: REDACTED } } }],
    [
      'a Plaid access token in text',
      'failed for access-sandbox-8ab976e6-64bc-4b38-98f7-731e7a349970 today',
      `failed for ${REDACTED} today`,
    ],
    ['a public token in text', 'public-production-11111111-2222-3333-4444-555555555555', REDACTED],
    ['a JWT in text', `token ${JWT} rejected`, `token ${REDACTED} rejected`],
    ['a bearer header in text', 'sent Bearer abc.def-ghi', `sent ${REDACTED}`],
    ['a configured secret in text', `key=${SECRET};`, `key=${REDACTED};`],
    ['too short to be a configured secret', 'a short story', 'a short story'],
    ['plain values', { requestId: 'r1', count: 3, ok: true, none: null }, { requestId: 'r1', count: 3, ok: true, none: null }],
    ['arrays', ['x', { secret: 'y' }], ['x', { secret: REDACTED }]],
  ])('%s', (_name, input, expected) => {
    expect(scrub(input)).toEqual(expected);
  });

  it('turns errors into plain objects, scrubbing message, stack, fields and cause', () => {
    const cause = new Error(`db said ${SECRET}`);
    const error = Object.assign(new Error(`call with access-sandbox-1234 failed`, { cause }), { access_token: 'leak', code: 'E1' });
    const out = scrub(error) as Record<string, unknown>;
    expect(out).toMatchObject({ type: 'Error', message: `call with ${REDACTED} failed`, access_token: REDACTED, code: 'E1' });
    expect(String(out.stack)).not.toContain('access-sandbox-1234');
    expect(JSON.stringify(out.cause)).not.toContain(SECRET);
  });

  it('survives cycles', () => {
    const a: Record<string, unknown> = { name: 'a' };
    a.self = a;
    expect(scrub(a)).toEqual({ name: 'a', self: '[Circular]' });
  });
});

describe('the logger', () => {
  it('scrubs messages and fields of every call, errors included', () => {
    const { logger, lines } = memoryLogger({ secrets: [SECRET] });
    logger.info({ headers: { authorization: `Bearer ${JWT}` }, note: `uses ${SECRET}` }, `message with ${JWT}`);
    logger.error({ err: new Error('access-production-0000 expired') }, 'boom');
    const text = JSON.stringify(lines);
    expect(text).not.toContain(SECRET);
    expect(text).not.toContain(JWT);
    expect(text).not.toContain('access-production-0000');
    expect(lines[0]).toMatchObject({ level: 'info', msg: `message with ${REDACTED}`, headers: { authorization: REDACTED } });
    expect(lines[1]).toMatchObject({ level: 'error', err: { type: 'Error', message: `${REDACTED} expired` } });
  });
});

describe('the pre-check before the secret patterns', () => {
  // Text the patterns alone would change must still be changed: random text built from the
  // patterns' own pieces (and near misses), scrubbed, against the three replaces applied directly.
  const PIECES = [
    'access-',
    'public-',
    'link-',
    'processor-',
    'sandbox-',
    'production-',
    'development-',
    'eyJ',
    'EYJ',
    'ab',
    '.',
    '-',
    ' ',
    'Bearer ',
    'bEaReR\t',
    'bearer',
    '_x',
    'é',
  ];
  const byPatterns = (text: string) => SECRET_PATTERNS.reduce((out, pattern) => out.replace(pattern, REDACTED), text);
  const plain = createScrubber([]);

  it('lets nothing through that a pattern would replace (5,000 random texts)', () => {
    let seed = 42;
    const next = () => (seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648) / 2_147_483_648;
    let changed = 0;
    for (let i = 0; i < 5_000; i++) {
      let text = '';
      for (let n = 1 + Math.floor(next() * 8); n > 0; n--) text += PIECES[Math.floor(next() * PIECES.length)];
      const expected = byPatterns(text);
      if (expected !== text) changed++;
      expect(plain(text), text).toBe(expected);
    }
    // The sample holds secret-shaped text, so the comparison above is not vacuous.
    expect(changed).toBeGreaterThan(500);
  });
});
