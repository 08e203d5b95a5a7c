import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { CHEAP_NAME_FUNCTION, CHEAP_NAME_HELPER, ESBUILD_NAME_HELPER, bundle, namesOfClassesAndFunctions } from '../../scripts/bundle.mjs';

const outdir = mkdtempSync(join(tmpdir(), 'bundle-names-'));
afterAll(() => rmSync(outdir, { recursive: true, force: true }));

describe('bundles: keepNames names classes and functions, not every closure', () => {
  it('keeps class names that esbuild renamed, through the cheaper helper', async () => {
    const { outputFiles } = await bundle({
      entryPoints: ['test/fixtures/bundle-names/entry.ts'],
      outdir,
      entryNames: '[name]',
      write: false,
    });
    const js = outputFiles.find((file) => file.path.endsWith('.js'));
    if (!js) throw new Error('no bundle');
    const text = Buffer.from(js.contents).toString();
    expect(text).toContain(CHEAP_NAME_HELPER);
    expect(text).not.toContain(ESBUILD_NAME_HELPER);
    // One of the two classes was renamed, so only the helper keeps its name.
    expect(text).toMatch(/\bThing2\b/);
    const file = join(outdir, 'entry.mjs');
    writeFileSync(file, text.replace(/^\/\/# sourceMappingURL=.*$/m, ''));
    const loaded = (await import(pathToFileURL(file).href)) as {
      Thing: new () => unknown;
      OtherThing: new () => unknown;
      makeClosure: (n: number) => () => number;
    };
    expect([loaded.Thing.name, loaded.OtherThing.name]).toEqual(['Thing', 'Thing']);
    expect(loaded.makeClosure(3)()).toBe(3);
  });

  it('leaves a closure as V8 made it (no own name defined on it), and still names classes and functions', async () => {
    // The helpers as a bundle runs them, with esbuild's __defProp.
    type Name = <T extends object>(target: T, value: string) => T;
    const load = async (helper: string, file: string): Promise<Name> => {
      writeFileSync(
        join(outdir, file),
        `var __defProp = Object.defineProperty;\nvar ${helper};\n${CHEAP_NAME_FUNCTION}\nexport { __name };\n`,
      );
      return ((await import(pathToFileURL(join(outdir, file)).href)) as { __name: Name }).__name;
    };
    const cheap = await load(CHEAP_NAME_HELPER, 'cheap.mjs');
    const esbuild = await load(ESBUILD_NAME_HELPER, 'esbuild.mjs');
    const arrow = () => 1;
    expect(cheap(arrow, 'lead')).toBe(arrow);
    expect(arrow.name).toBe('arrow');
    expect(esbuild(() => 1, 'lead').name).toBe('lead');
    class Renamed2 {}
    function renamed2(): void {}
    expect(cheap(Renamed2, 'Renamed').name).toBe('Renamed');
    expect(cheap(renamed2, 'renamed').name).toBe('renamed');
  });

  it('keeps every column where it was (the source map) and the map comment last', () => {
    const before = `var __defProp=Object.defineProperty,${ESBUILD_NAME_HELPER},__require=1;class A{}\nx();\n//# sourceMappingURL=main.js.map\n`;
    const after = namesOfClassesAndFunctions(before);
    const [first, second, third, ...rest] = after.split('\n');
    expect(first).toHaveLength(before.split('\n')[0]?.length ?? 0);
    expect(first).toContain(CHEAP_NAME_HELPER);
    expect(first?.endsWith(',__require=1;class A{}')).toBe(true);
    expect([second, third, ...rest]).toEqual(['x();', CHEAP_NAME_FUNCTION, '//# sourceMappingURL=main.js.map', '']);
  });

  it('fails rather than keep esbuild helper when esbuild writes it otherwise', () => {
    expect(() => namesOfClassesAndFunctions('var __name = (t, v) => other(t, v);')).toThrow(/keepNames helper changed/);
    expect(namesOfClassesAndFunctions('const x = 1;')).toBe('const x = 1;');
  });
});
