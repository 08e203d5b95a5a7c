/**
 * The skip summary (test/reporters/skip-summary.ts): its grouping from fake runs, and a real vitest
 * run of a fixture with every kind of skip, as `npm test` prints it.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { TestModule } from 'vitest/node';
import { describe, expect, it } from 'vitest';
import SkipSummaryReporter, { summariseSkips, type SkippedTest } from './skip-summary.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

const pg = { needs: 'DATABASE_URL (PostgreSQL)', turnOn: 'set DATABASE_URL' };
const redis = { needs: 'REDIS_URL (Redis)', turnOn: 'set REDIS_URL' };

describe('summariseSkips', () => {
  it('says so when nothing was skipped', () => {
    expect(summariseSkips([])).toEqual(['skip summary: no test was skipped']);
  });

  it('groups by reason, the largest group first, with what turns it on and the files with their counts', () => {
    const skipped: SkippedTest[] = [
      { file: 'test/vault/vault.test.ts', fullName: 'a', ...pg },
      { file: 'test/vault/vault.test.ts', fullName: 'b', ...pg },
      { file: 'test/vault/key-check.test.ts', fullName: 'c', ...pg },
      { file: 'test/integration/redis-flight.test.ts', fullName: 'd', ...redis },
    ];
    expect(summariseSkips(skipped)).toEqual([
      'skip summary: 4 tests skipped',
      '  skipped 3 tests: needs DATABASE_URL (PostgreSQL); to run: set DATABASE_URL',
      '    test/vault/vault.test.ts (2), test/vault/key-check.test.ts (1)',
      '  skipped 1 test: needs REDIS_URL (Redis); to run: set REDIS_URL',
      '    test/integration/redis-flight.test.ts (1)',
    ]);
  });

  it('names each skip that gives no reason, and keeps todos and ctx.skip notes apart', () => {
    const lines = summariseSkips([
      { file: 'test/x.test.ts', fullName: 'suite > forgotten' },
      { file: 'test/x.test.ts', fullName: 'later', todo: true },
      { file: 'test/y.test.ts', fullName: 'noted', note: 'no network' },
    ]);
    expect(lines).toContain('  skipped 1 test: no reason given (it.skip or describe.skip, `.only` elsewhere, or a -t filter)');
    expect(lines).toContain('    test/x.test.ts > suite > forgotten');
    expect(lines).toContain('  skipped 1 test: todo');
    expect(lines).toContain('  skipped 1 test: no network');
  });
});

describe('SkipSummaryReporter', () => {
  it('collects the skipped tests of every module at the end of the run, with the reason from meta', () => {
    const fakeTest = (name: string, state: string, meta: Record<string, string> = {}) => ({
      name,
      fullName: `suite > ${name}`,
      module: { moduleId: '/repo/test/vault/vault.test.ts' },
      options: { mode: state === 'skipped' ? 'skip' : 'run' },
      meta: () => meta,
      result: () => ({ state, note: undefined }),
    });
    const module = {
      children: {
        *allTests() {
          yield* [fakeTest('ran', 'passed'), fakeTest('pg', 'skipped', pg), fakeTest('plain', 'skipped')];
        },
      },
    };
    let printed = '';
    const reporter = new SkipSummaryReporter({ write: (text) => (printed += text) });
    reporter.onInit({ config: { root: '/repo' } });
    reporter.onTestRunEnd([module as unknown as TestModule]);
    expect(printed).toContain('skip summary: 2 tests skipped');
    expect(printed).toContain(
      'skipped 1 test: needs DATABASE_URL (PostgreSQL); to run: set DATABASE_URL\n    test/vault/vault.test.ts (1)',
    );
    expect(printed).toContain('test/vault/vault.test.ts > suite > plain');
  });

  it('in a real vitest run: needs() on a describe reaches every test inside, on an it its own test', async () => {
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['node_modules/vitest/vitest.mjs', 'run', '--config', 'test/reporters/fixture/vitest.config.ts'],
      { cwd: ROOT, env: { ...process.env, CI: '', NO_COLOR: '1' }, timeout: 60_000 },
    );
    expect(stdout).toContain('skip summary: 8 tests skipped');
    expect(stdout).toContain('  skipped 3 tests: needs THING_A; to run: install THING_A\n    skips.fixture.ts (3)');
    // Only the missing requirements, in one order whatever the order given.
    expect(stdout).toContain('  skipped 1 test: needs THING_A and THING_B; to run: install THING_A; install THING_B');
    expect(stdout).toContain('  skipped 1 test: needs THING_B; to run: install THING_B');
    expect(stdout).toContain('    skips.fixture.ts > a plain skip');
    expect(stdout).toContain('  skipped 1 test: the note says why');
    expect(stdout).toContain('  skipped 1 test: todo');
  });
});
