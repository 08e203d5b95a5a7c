/**
 * scripts/bundle.mjs `ownCodeOnly`: a bundle's source map keeps the mappings into src/ only, wherever
 * the map is written. `npm start` writes its bundle under node_modules/.cache/, where a dependency's
 * source is `../../../graphql/...`: judged by the path as written, those mappings stayed, and the
 * first stack trace of a process made Node parse all ~545,000 of them (+60 MB RSS at rest).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { decode, encode, type SourceMapSegment } from '@jridgewell/sourcemap-codec';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT, START_CACHE, bundle, ownCodeOnly } from '../../scripts/bundle.mjs';

const outdir = mkdtempSync(join(tmpdir(), 'bundle-source-map-'));
afterAll(() => rmSync(outdir, { recursive: true, force: true }));

/** One generated line: src at columns 0 and 20, dependencies at 10, 30 and 40. */
const LINE: SourceMapSegment[] = [
  [0, 0, 0, 0],
  [10, 1, 0, 0],
  [20, 0, 5, 0],
  [30, 1, 1, 0],
  [40, 2, 2, 0],
];
/** What stays: src's segments, each run of dependency code one unmapped segment. */
const OWN: SourceMapSegment[] = [[0, 0, 0, 0], [10], [20, 0, 5, 0], [30]];

describe('bundle source maps: mappings into src/ only', () => {
  it.each([
    [
      'dist/ (npm run build)',
      join(ROOT, 'dist'),
      ['../src/main.ts', '../node_modules/graphql/index.js', '../node_modules/@a/b/node_modules/c/d.js'],
    ],
    [
      'node_modules/.cache/ (npm start)',
      START_CACHE,
      ['../../../../src/main.ts', '../../../graphql/index.js', '../../../@a/b/node_modules/c/d.js'],
    ],
    [
      'another copy of src/ (the bench)',
      join(ROOT, 'dist'),
      ['/tmp/base/src/main.ts', '../node_modules/graphql/index.js', '../node_modules/c/d.js'],
    ],
  ])('from %s', (_where, directory, sources) => {
    const map = { version: 3, sources, names: [], mappings: encode([LINE, [[0, 1, 7, 0]], LINE]) };
    const kept = JSON.parse(ownCodeOnly(JSON.stringify(map), directory)) as typeof map;
    expect(decode(kept.mappings)).toEqual([OWN, [[0]], OWN]);
    expect(kept.sources).toEqual(sources);
  });

  it('keeps one segment per source line: the first of each run on a generated line', () => {
    // src/main.ts line 3 (three tokens), line 4, a dependency, line 4 again, then line 3 again.
    const line: SourceMapSegment[] = [
      [0, 0, 3, 0],
      [4, 0, 3, 6],
      [9, 0, 3, 12, 0],
      [15, 0, 4, 0],
      [20, 1, 0, 0],
      [25, 0, 4, 2],
      [30, 0, 3, 1],
    ];
    const map = { version: 3, sources: ['../src/main.ts', '../node_modules/x/y.js'], names: ['n'], mappings: encode([line]) };
    const kept = JSON.parse(ownCodeOnly(JSON.stringify(map), join(ROOT, 'dist'))) as typeof map;
    expect(decode(kept.mappings)).toEqual([[[0, 0, 3, 0], [15, 0, 4, 0], [20], [25, 0, 4, 2], [30, 0, 3, 1]]]);
  });

  it('names the file and line of a frame in src/, the bundle’s for one in a dependency', async () => {
    await bundle({ entryPoints: ['test/fixtures/bundle-source-map/entry.ts'], outdir, entryNames: '[name]' });
    const script = `const m = await import(${JSON.stringify(pathToFileURL(join(outdir, 'entry.js')).href)});
      for (const f of [m.ownThrow, m.dependencyThrow]) try { f(); } catch (e) { console.log(e.stack + '\\n--'); }`;
    const [own = '', dependency = ''] = execFileSync(
      process.execPath,
      ['--enable-source-maps', '--stack-trace-limit=50', '--input-type=module', '-e', script],
      {
        encoding: 'utf8',
      },
    ).split('\n--');
    const fixture = join('test', 'fixtures', 'bundle-source-map', 'entry.ts');
    expect(own).toContain('thrown from own code');
    expect(own).toContain(`${fixture}:6:`);
    // graphql's frames point into the bundle; the caller's frame into the fixture.
    expect(dependency).toContain('Syntax Error');
    expect(dependency).toContain(`${join(outdir, 'entry.js')}:`);
    expect(dependency).toContain(`${fixture}:10:`);
    expect(dependency).not.toContain('node_modules');
  });

  it('resolves the sources against the map’s sourceRoot', () => {
    const map = {
      version: 3,
      sourceRoot: '../../..',
      sources: ['src/main.ts', 'node_modules/x.js'],
      names: [],
      mappings: encode([
        [
          [0, 0, 0, 0],
          [5, 1, 0, 0],
        ],
      ]),
    };
    expect(decode((JSON.parse(ownCodeOnly(JSON.stringify(map), join(ROOT, 'a', 'b', 'c'))) as typeof map).mappings)).toEqual([
      [[0, 0, 0, 0], [5]],
    ]);
  });
});
