/**
 * A development JWT (`npm run --silent token -- --sub alice [--expires-in 1h] [--issuer I] [--audience A]`):
 * HS256 under AUTH_JWT_SECRET, signed as the embedded demo's token is (signViewerToken), with the
 * issuer and audience defaulting to AUTH_ISSUER / AUTH_AUDIENCE, so the service started with the same
 * variables accepts it. Prints the token alone on stdout.
 *
 * Refused (exit code 1, one line on stderr) with NODE_ENV=production (tokens there come from the
 * identity provider), without AUTH_JWT_SECRET, and for anything the service would refuse anyway: a
 * secret under 32 characters, a subject it does not take as a viewer id, a lifetime over
 * AUTH_MAX_TOKEN_LIFETIME_SECONDS.
 */
import { parseArgs } from 'node:util';
import { AUTH_DEFAULTS } from '../auth/authenticate.js';
import { signViewerToken } from '../demo/seed.js';
import { idProblem } from '../util/ids.js';
import { isEntryPoint } from './is-entry-point.js';
import type { CliOutput } from './rotate-keys.js';

const USAGE = 'usage: npm run --silent token -- --sub <viewer id> [--expires-in 1h] [--issuer <iss>] [--audience <aud>]';
/** The service refuses shorter HS256 secrets (src/config.ts). */
const MIN_JWT_SECRET_LENGTH = 32;

export async function main(args: readonly string[], env: NodeJS.ProcessEnv = process.env, out: CliOutput = console): Promise<number> {
  const refuse = (why: string) => {
    out.error(`token: ${why}`);
    return 1;
  };
  let values: { sub?: string; 'expires-in'?: string; issuer?: string; audience?: string; help?: boolean };
  try {
    ({ values } = parseArgs({
      args: [...args],
      options: {
        sub: { type: 'string' },
        'expires-in': { type: 'string' },
        issuer: { type: 'string' },
        audience: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    return refuse(`${(error as Error).message}; ${USAGE}`);
  }
  if (values.help) {
    out.log(USAGE);
    return 0;
  }
  if (env.NODE_ENV === 'production') {
    return refuse(
      'refused with NODE_ENV=production: development tokens are not for production (there, tokens come from your identity provider)',
    );
  }
  const secret = env.AUTH_JWT_SECRET?.trim() ? env.AUTH_JWT_SECRET : undefined;
  if (!secret) return refuse('AUTH_JWT_SECRET is not set: set it to the secret the service is started with (at least 32 characters)');
  if (secret.length < MIN_JWT_SECRET_LENGTH)
    return refuse(`AUTH_JWT_SECRET must be at least ${MIN_JWT_SECRET_LENGTH} characters (the service refuses shorter ones)`);
  if (values.sub === undefined) return refuse(`--sub is required; ${USAGE}`);
  const subProblem = idProblem(values.sub);
  if (subProblem) return refuse(`--sub ${subProblem} (the service refuses such a subject)`);

  const expiresIn = values['expires-in'] ?? '1h';
  const issuer = values.issuer ?? (env.AUTH_ISSUER?.trim() || null);
  const audience = values.audience ?? (env.AUTH_AUDIENCE?.trim() || null);
  let token: string;
  try {
    token = await signViewerToken(secret, values.sub, { issuer, audience, expiresIn });
  } catch {
    return refuse(`--expires-in ${JSON.stringify(expiresIn)} is not a time span (e.g. 30m, 1h, 12h)`);
  }
  const lifetime = lifetimeSeconds(token);
  const maxLifetime = Number(env.AUTH_MAX_TOKEN_LIFETIME_SECONDS?.trim() || AUTH_DEFAULTS.maxTokenLifetimeSeconds);
  if (lifetime <= 0) return refuse(`--expires-in ${JSON.stringify(expiresIn)} must lie in the future`);
  if (Number.isFinite(maxLifetime) && lifetime > maxLifetime) {
    return refuse(
      `--expires-in ${expiresIn} is longer than AUTH_MAX_TOKEN_LIFETIME_SECONDS (${maxLifetime} s): the service would refuse the token`,
    );
  }
  out.log(token);
  return 0;
}

/** exp - iat of a token just signed (its payload, not verified: we made it). */
function lifetimeSeconds(token: string): number {
  const payload = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as { exp: number; iat: number };
  return payload.exp - payload.iat;
}

if (await isEntryPoint(import.meta.url)) process.exitCode = await main(process.argv.slice(2));
