/** `npm start` on Node 24 and later: an embedded start runs itself again with `--liftoff-only` (scripts/baseline-wasm.mjs). */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { baselineWasmRelaunch } from '../../scripts/baseline-wasm.mjs';

const base = { nodeMajor: 24, env: {}, execArgv: [], argv: ['/usr/bin/node', '/app/scripts/start.mjs', '--x'], execPath: '/usr/bin/node' };

describe('baselineWasmRelaunch', () => {
  it.each([
    [
      'Node 24, embedded: again, the flag first, the rest as given',
      base,
      ['/usr/bin/node', '--liftoff-only', '/app/scripts/start.mjs', '--x'],
    ],
    [
      'Node 26, its own node flags kept',
      { ...base, nodeMajor: 26, execArgv: ['--enable-source-maps'] },
      ['/usr/bin/node', '--liftoff-only', '--enable-source-maps', '/app/scripts/start.mjs', '--x'],
    ],
    ['Node 22: the vault sets the flag at run time', { ...base, nodeMajor: 22 }, null],
    ['Node 20: the same', { ...base, nodeMajor: 20 }, null],
    ['PostgreSQL: no PGlite, and llhttp keeps its optimizing tier', { ...base, env: { DATABASE_URL: 'postgres://db/x' } }, null],
    ['already given (after the relaunch itself)', { ...base, execArgv: ['--liftoff-only'] }, null],
    ['a tiering flag of the caller on the command line', { ...base, execArgv: ['--no-liftoff-only'] }, null],
    ['... or in NODE_OPTIONS', { ...base, env: { NODE_OPTIONS: '--wasm-tier-up' } }, null],
    ['no script to run again (node -e)', { ...base, argv: ['/usr/bin/node'] }, null],
  ])('%s', (_name, self, expected) => {
    expect(baselineWasmRelaunch(self)).toEqual(expected);
  });
});

describe('the relaunch', () => {
  const dir = mkdtempSync(join(tmpdir(), 'baseline-wasm-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const relaunch = new URL('../../scripts/baseline-wasm-relaunch.mjs', import.meta.url).href;
  const script = join(dir, 'probe.mjs');
  writeFileSync(
    script,
    `import ${JSON.stringify(relaunch)};\nconsole.log(JSON.stringify({ pid: process.pid, execArgv: process.execArgv, argv: process.argv.slice(2) }));\n`,
  );
  const run = (env: NodeJS.ProcessEnv) => {
    const child = spawnSync(process.execPath, [script, 'an-argument'], { env, encoding: 'utf8', timeout: 20_000 });
    expect(child.status, child.stderr).toBe(0);
    return { child, seen: JSON.parse(child.stdout) as { pid: number; execArgv: string[]; argv: string[] } };
  };
  const { DATABASE_URL: _database, NODE_OPTIONS: _options, ...embedded } = process.env;

  it('embedded: on Node 24 and later the same process, run again with --liftoff-only and its arguments; before that, as it was', () => {
    const { child, seen } = run(embedded);
    const relaunched = Number(process.versions.node.split('.')[0]) >= 24;
    expect(seen).toEqual({ pid: child.pid, execArgv: relaunched ? ['--liftoff-only'] : [], argv: ['an-argument'] });
  });

  it('with DATABASE_URL: as it was', () => {
    const { seen } = run({ ...embedded, DATABASE_URL: 'postgres://127.0.0.1:9/none' });
    expect(seen.execArgv).toEqual([]);
  });
});
