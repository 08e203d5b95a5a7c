/**
 * What a test needs from the machine, said where it is skipped: `describe(name, needs('DATABASE_URL'), fn)`
 * (or `it(name, needs(...), fn)`) skips the block when a requirement is missing and records which
 * one in the test's `meta`. test/reporters/skip-summary.ts prints, at the end of `npm test`, every
 * skipped test grouped by that reason and what turns it on. A plain `skipIf` would skip silently.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

declare module 'vitest' {
  interface TaskMeta {
    /** Why the test is skipped here: the missing requirements, e.g. "DATABASE_URL (PostgreSQL)". */
    needs?: string;
    /** What turns it on. */
    turnOn?: string;
  }
}

export interface Requirement {
  /** Short, as the summary prints it after "needs". */
  readonly label: string;
  /** What to do so the tests run. */
  readonly turnOn: string;
  available(): boolean;
}

const env = (name: string) => () => (process.env[name] ?? '') !== '';

let docker: boolean | undefined;
/** Asked once, and only by a file that needs it (`docker info` can take seconds without an engine). */
const dockerAnswers = () => (docker ??= spawnSync('docker', ['info'], { stdio: 'ignore', timeout: 15_000 }).status === 0);

/** The research catalogue beside the repository (shared/ in CI, ../shared on a developer machine). */
export const researchCataloguePath: string | undefined = [
  '../../../shared/plaid/plaid-errors.json',
  '../../../../shared/plaid/plaid-errors.json',
]
  .map((path) => fileURLToPath(new URL(path, import.meta.url)))
  .find((path) => existsSync(path));

export const REQUIREMENTS = {
  DATABASE_URL: {
    label: 'DATABASE_URL (PostgreSQL)',
    turnOn: 'set DATABASE_URL=postgres://postgres@127.0.0.1:5432/test (bash .ci/run does)',
    available: env('DATABASE_URL'),
  },
  REDIS_URL: {
    label: 'REDIS_URL (Redis)',
    turnOn: 'set REDIS_URL=redis://127.0.0.1:6379 (bash .ci/run does)',
    available: env('REDIS_URL'),
  },
  docker: {
    label: 'a Docker engine (`docker info`)',
    turnOn: "run where `docker info` succeeds (this team's CI machines have none)",
    available: dockerAnswers,
  },
  chromium: {
    label: 'Chromium (/usr/bin/chromium)',
    turnOn: 'apt-get install chromium (bash .ci/run does; with CI set the test runs, and fails without it)',
    // Never skipped on CI: a missing browser there is a broken machine, not a reason to skip.
    available: () => existsSync('/usr/bin/chromium') || Boolean(process.env.CI),
  },
  researchCatalogue: {
    label: 'the research catalogue (shared/plaid/plaid-errors.json)',
    turnOn: 'check out shared/ beside the repository (CI has it)',
    available: () => researchCataloguePath !== undefined,
  },
} as const satisfies Record<string, Requirement>;

export type RequirementName = keyof typeof REQUIREMENTS;

/** Test options: skipped when a requirement is missing, with the missing ones in `meta`. */
export function needs(...requirements: readonly (RequirementName | Requirement)[]): {
  skip: boolean;
  meta: { needs?: string; turnOn?: string };
} {
  const missing = requirements
    .map((r) => (typeof r === 'string' ? REQUIREMENTS[r] : r))
    .filter((r) => !r.available())
    // One order, so needs('A', 'B') and needs('B', 'A') are one group in the summary.
    .sort((a, b) => a.label.localeCompare(b.label));
  if (missing.length === 0) return { skip: false, meta: {} };
  return {
    skip: true,
    meta: { needs: missing.map((r) => r.label).join(' and '), turnOn: missing.map((r) => r.turnOn).join('; ') },
  };
}

/** Whether the requirements are met (for code outside test declarations, e.g. which clients to open). */
export function has(...requirements: readonly RequirementName[]): boolean {
  return requirements.every((name) => REQUIREMENTS[name].available());
}
