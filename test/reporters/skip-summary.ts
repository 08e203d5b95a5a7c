/**
 * A vitest reporter beside the default one (vitest.config.ts): at the end of the run it says which
 * tests were skipped and what turns each group on, so a run without DATABASE_URL or REDIS_URL does
 * not look like a run of everything. The reason comes from `needs()` (test/helpers/needs.ts), which
 * puts it in the test's meta; a skip without one (it.skip, `.only` elsewhere, a -t filter) is
 * listed as such, and `ctx.skip(note)`'s note is used when there is one.
 *
 *   skipped 41 tests: needs DATABASE_URL (PostgreSQL); to run: set DATABASE_URL=... (bash .ci/run does)
 *     test/vault/vault.test.ts (12), test/vault/key-check.test.ts (10), ...
 */
import type { Reporter, TestCase, TestModule } from 'vitest/node';

export interface SkippedTest {
  /** The test file, relative to the project root. */
  readonly file: string;
  readonly fullName: string;
  readonly needs?: string | undefined;
  readonly turnOn?: string | undefined;
  /** `ctx.skip(note)`'s note. */
  readonly note?: string | undefined;
  /** `it.todo`: not a skip for lack of anything. */
  readonly todo?: boolean;
}

const NO_REASON = 'no reason given (it.skip or describe.skip, `.only` elsewhere, or a -t filter)';

function plural(count: number, word: string): string {
  return `${count} ${word}${count === 1 ? '' : 's'}`;
}

/** The summary's lines: one group per reason, the largest first, each with its files. */
export function summariseSkips(skipped: readonly SkippedTest[]): string[] {
  if (skipped.length === 0) return ['skip summary: no test was skipped'];
  const groups = new Map<string, { turnOn?: string | undefined; tests: SkippedTest[] }>();
  for (const test of skipped) {
    const reason = test.todo ? 'todo' : test.needs ? `needs ${test.needs}` : test.note ? test.note : NO_REASON;
    const group = groups.get(reason) ?? { turnOn: test.turnOn, tests: [] };
    group.tests.push(test);
    groups.set(reason, group);
  }
  const lines = [`skip summary: ${plural(skipped.length, 'test')} skipped`];
  const ordered = [...groups].sort(([a, x], [b, y]) => y.tests.length - x.tests.length || a.localeCompare(b));
  for (const [reason, group] of ordered) {
    lines.push(`  skipped ${plural(group.tests.length, 'test')}: ${reason}${group.turnOn ? `; to run: ${group.turnOn}` : ''}`);
    const perFile = new Map<string, number>();
    for (const test of group.tests) perFile.set(test.file, (perFile.get(test.file) ?? 0) + 1);
    if (reason === NO_REASON && group.tests.length <= 10) {
      // Unexplained skips are the ones to look at: name each.
      for (const test of group.tests) lines.push(`    ${test.file} > ${test.fullName}`);
    } else {
      lines.push(`    ${[...perFile].map(([file, count]) => `${file} (${count})`).join(', ')}`);
    }
  }
  return lines;
}

export function skippedTest(test: TestCase, root: string): SkippedTest | undefined {
  const result = test.result();
  if (result.state !== 'skipped') return undefined;
  const meta = test.meta();
  const id = test.module.moduleId;
  return {
    file: id.startsWith(root) ? id.slice(root.length).replace(/^\/+/, '') : id,
    fullName: test.fullName,
    needs: meta.needs,
    turnOn: meta.turnOn,
    note: result.note,
    todo: test.options.mode === 'todo',
  };
}

export default class SkipSummaryReporter implements Reporter {
  private root = process.cwd();
  private readonly write: (text: string) => void;

  /** vitest passes the reporter's options from the config (none here); tests pass `write`. */
  constructor(options: { write?: (text: string) => void } = {}) {
    this.write = options.write ?? ((text) => void process.stdout.write(text));
  }

  onInit(vitest: { config: { root: string } }): void {
    this.root = vitest.config.root;
  }

  onTestRunEnd(testModules: readonly TestModule[]): void {
    const skipped: SkippedTest[] = [];
    for (const module of testModules) {
      for (const test of module.children.allTests()) {
        const entry = skippedTest(test, this.root);
        if (entry) skipped.push(entry);
      }
    }
    this.write(`\n${summariseSkips(skipped).join('\n')}\n`);
  }
}
