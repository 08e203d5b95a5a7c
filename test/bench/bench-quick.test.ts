/**
 * The benchmark harness keeps working: `npm run bench:quick` runs every scenario with tiny counts
 * into a temporary report. Its figures mean nothing at this size and are not asserted.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
let dir = '';
afterAll(() => (dir ? rm(dir, { recursive: true, force: true }) : undefined));

it('bench --quick runs all eight scenarios and writes a report with each', async () => {
  dir = await mkdtemp(join(tmpdir(), 'bench-quick-'));
  const out = join(dir, 'benchmarks.md');
  // BENCH_DATABASE_URL unset: one backend is enough to prove the harness.
  const env = { ...process.env, BENCH_DATABASE_URL: '' };
  await promisify(execFile)(process.execPath, ['--import', 'tsx', 'bench/run.ts', '--quick', '--out', out], {
    cwd: ROOT,
    env,
    maxBuffer: 1 << 24,
  });
  const report = await readFile(out, 'utf8');
  expect(report).toContain('<!-- bench:begin');
  expect(report).toContain('<!-- bench:end -->');
  for (const heading of [
    '#### 1. Overhead',
    '#### 2. Slow upstream',
    '#### 3. Single flight',
    '#### 4. Entities',
    '### 5. Cold start',
    '### 6. Refreshes in flight',
    '#### 7. Subscriptions',
    '#### 8. Viewer items',
  ]) {
    expect(report).toContain(heading);
  }
  // Summary rows for every scenario measured per vault (6, one run on one vault, has its own table);
  // a figure that could not be measured would print as n/a or NaN.
  const summaryRows = report.split('\n').filter((line) => /^\| [1-8] \|/.test(line));
  expect(new Set(summaryRows.map((line) => line.slice(2, 3)))).toEqual(new Set(['1', '2', '3', '4', '5', '7', '8']));
  expect(report).not.toMatch(/n\/a|NaN/);
}, 180_000);

it('bench:anchors with tiny counts: every anchor and the service answer the same document, and a report is written', async () => {
  dir ||= await mkdtemp(join(tmpdir(), 'bench-quick-'));
  const out = join(dir, 'anchors.md');
  const args = ['--rounds', '1', '--duration', '1', '--warmup', '0.5', '--latency', '0.3', '--items', '20', '--connections', '5'];
  await promisify(execFile)(process.execPath, ['--import', 'tsx', 'bench/anchors/run.ts', ...args, '--out', out], {
    cwd: ROOT,
    env: { ...process.env, BENCH_DATABASE_URL: '' },
    maxBuffer: 1 << 24,
  });
  const report = await readFile(out, 'utf8');
  expect(report).toContain('<!-- anchors:begin');
  for (const target of ['ceiling', 'bare graphql-yoga', 'Mercurius + graphql-jit', 'this service']) expect(report).toContain(`| ${target}`);
  // Every target answered every request with the success member (the warm-up also refuses none).
  const rows = report.split('\n').filter((line) => /^\| (ceiling|bare|Mercurius|this service)/.test(line));
  expect(rows).toHaveLength(4);
  for (const row of rows) expect(row).toContain('| 100.0% |');
  expect(report).not.toMatch(/NaN/);
}, 120_000);
