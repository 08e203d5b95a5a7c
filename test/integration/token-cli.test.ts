/**
 * `npm run token` (src/cli/token.ts), as a developer runs it: the real process. Its token verifies
 * with the secret and the configured issuer and audience, and the service started with the same
 * variables signs its subject in; production and a missing secret are refused with one line.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { jwtVerify } from 'jose';
import { describe, expect, it } from 'vitest';
import { ViewerDocument } from '../../operations/generated/graphql.js';
import { TEST_JWT_SECRET, execute, startTestService } from '../helpers/service.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** Nothing inherited but PATH, so the caller's AUTH_* or NODE_ENV cannot change the answer. */
async function token(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, ['--import', 'tsx', 'src/cli/token.ts', ...args], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', ...env },
      timeout: 30_000,
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code?: number; stdout?: string; stderr?: string };
    return { code: failed.code ?? -1, stdout: failed.stdout ?? '', stderr: failed.stderr ?? '' };
  }
}

const key = new TextEncoder().encode(TEST_JWT_SECRET);

describe('npm run token', () => {
  it('prints an HS256 token for --sub, 1 h by default, with AUTH_ISSUER and AUTH_AUDIENCE, that the service accepts', async () => {
    const result = await token(['--sub', 'alice'], {
      AUTH_JWT_SECRET: TEST_JWT_SECRET,
      AUTH_ISSUER: 'https://idp.test',
      AUTH_AUDIENCE: 'plaid-refresh',
    });
    expect(result).toMatchObject({ code: 0, stderr: '' });
    const printed = result.stdout.trim();
    expect(result.stdout).toBe(`${printed}\n`); // the token alone: TOKEN=$(npm run --silent token -- --sub alice)
    const { payload, protectedHeader } = await jwtVerify(printed, key, { issuer: 'https://idp.test', audience: 'plaid-refresh' });
    expect(protectedHeader.alg).toBe('HS256');
    expect(payload.sub).toBe('alice');
    expect((payload.exp ?? 0) - (payload.iat ?? 0)).toBe(3_600);

    const { runtime } = await startTestService({ AUTH_ISSUER: 'https://idp.test', AUTH_AUDIENCE: 'plaid-refresh' });
    try {
      const response = await execute(runtime, ViewerDocument, {}, printed);
      expect(response.errors).toBeUndefined();
      expect(response.data?.viewer.id).toBe('alice');
    } finally {
      await runtime.close();
    }
  });

  it('takes --expires-in, --issuer and --audience over the environment', async () => {
    const result = await token(['--sub', 'bob', '--expires-in', '30m', '--issuer', 'other-iss', '--audience', 'other-aud'], {
      AUTH_JWT_SECRET: TEST_JWT_SECRET,
      AUTH_ISSUER: 'env-iss',
    });
    expect(result.code).toBe(0);
    const { payload } = await jwtVerify(result.stdout.trim(), key, { issuer: 'other-iss', audience: 'other-aud' });
    expect((payload.exp ?? 0) - (payload.iat ?? 0)).toBe(1_800);
  });

  it.each([
    [
      'with NODE_ENV=production',
      ['--sub', 'alice'],
      { NODE_ENV: 'production', AUTH_JWT_SECRET: TEST_JWT_SECRET },
      /^token: refused with NODE_ENV=production: /,
    ],
    ['without AUTH_JWT_SECRET', ['--sub', 'alice'], {}, /^token: AUTH_JWT_SECRET is not set/],
    [
      'with a secret the service would refuse',
      ['--sub', 'alice'],
      { AUTH_JWT_SECRET: 'short' },
      /^token: AUTH_JWT_SECRET must be at least 32 characters/,
    ],
    ['without --sub', [], { AUTH_JWT_SECRET: TEST_JWT_SECRET }, /^token: --sub is required; usage: /],
    [
      'for a subject the service refuses',
      ['--sub', 'a\u0001b'],
      { AUTH_JWT_SECRET: TEST_JWT_SECRET },
      /^token: --sub must not contain control characters/,
    ],
    ['for an unknown option', ['--sub', 'alice', '--bogus'], { AUTH_JWT_SECRET: TEST_JWT_SECRET }, /^token: Unknown option '--bogus'/],
    [
      'for a lifetime the service refuses',
      ['--sub', 'alice', '--expires-in', '2d'],
      { AUTH_JWT_SECRET: TEST_JWT_SECRET },
      /^token: --expires-in 2d is longer than AUTH_MAX_TOKEN_LIFETIME_SECONDS \(86400 s\)/,
    ],
    [
      'for a lifetime that is not one',
      ['--sub', 'alice', '--expires-in', 'soon'],
      { AUTH_JWT_SECRET: TEST_JWT_SECRET },
      /^token: --expires-in "soon" is not a time span/,
    ],
  ])('is refused %s: exit code 1, one line on stderr, no token', async (_case, args, env, line) => {
    const result = await token(args, env);
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr.trim()).toMatch(line);
    expect(result.stderr).not.toContain(TEST_JWT_SECRET);
  });
});
