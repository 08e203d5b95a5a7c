/**
 * scripts/bundle.mjs `ownCodeOnly`: a bundle's source map keeps the mappings into src/ only, wherever
 * the map is written. `npm start` writes its bundle under node_modules/.cache/, where a dependency's
 * source is `../../../graphql/...`: judged by the path as written, those mappings stayed, and the
 * first stack trace of a process made Node parse all ~545,000 of them (+60 MB RSS at rest).
 */
import { join } from 'node:path';
import { decode, encode, type SourceMapSegment } from '@jridgewell/sourcemap-codec';
import { describe, expect, it } from 'vitest';
import { ROOT, START_CACHE, ownCodeOnly } from '../../scripts/bundle.mjs';

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
