import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BEGIN, END, writeReport } from '../../bench/report.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'bench-report-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

describe('writeReport', () => {
  it('replaces only what lies between the markers, keeping the hand-written text around them', async () => {
    const file = join(dir, 'benchmarks.md');
    await writeFile(file, `# Title\n\nmethod notes\n\n${BEGIN}\nold figures\n${END}\n\n## What changed\nnotes\n`);
    writeReport(file, 'new figures');
    expect(await readFile(file, 'utf8')).toBe(`# Title\n\nmethod notes\n\n${BEGIN}\nnew figures\n${END}\n\n## What changed\nnotes\n`);
  });

  it('starts a new file with a title and the markers', async () => {
    const file = join(dir, 'new.md');
    writeReport(file, 'figures');
    expect(await readFile(file, 'utf8')).toBe(`# Benchmarks\n\n${BEGIN}\nfigures\n${END}\n`);
  });
});
