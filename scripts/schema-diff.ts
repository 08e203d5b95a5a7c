/**
 * `npm run schema:diff`: schema.graphql against the last released schema (schema.released.graphql),
 * each change classified by GraphQL Inspector as breaking, dangerous or safe. Fails (exit code 1)
 * on a breaking change that CHANGELOG.md's Unreleased section does not announce, i.e. does not name
 * by its coordinate (`User.plaidItems`, `ThrottleScope.VIEWER`, a type name, ...). Dangerous
 * changes (a union member or enum value added: clients' exhaustive switches) are listed, not fatal.
 *
 * Why a committed baseline rather than HEAD~1 or origin/main: Unreleased means "since the last
 * release", so that release's schema is what a breaking change is measured against, however many
 * commits it took; and CI has a clean clone whose history depth nothing guarantees. At a release,
 * the Unreleased section becomes the version's and `npm run schema:diff -- --release` copies
 * schema.graphql to schema.released.graphql.
 *
 * Options: --baseline <file>, --schema <file>, --changelog <file> (defaults as above, from the
 * repository root), --verbose (list the safe changes too), --release (write the baseline instead).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { CriticalityLevel, diff } from '@graphql-inspector/core';
import { buildSchema } from 'graphql';
import { isEntryPoint } from '../src/cli/is-entry-point.js';

const ROOT = fileURLToPath(new URL('../', import.meta.url));

/** The baseline's first lines (GraphQL comments), then the released SDL. */
export const BASELINE_HEADER =
  '# The last released schema (see CHANGELOG.md): what npm run schema:diff compares schema.graphql\n' +
  '# against. Written at a release by `npm run schema:diff -- --release`; do not edit by hand.\n\n';

export interface ClassifiedChange {
  /** Schema coordinate the change is about (Type, Type.field, Enum.VALUE, Type.field.arg). */
  readonly coordinate: string;
  readonly message: string;
  readonly type: string;
  /** Breaking changes only: whether CHANGELOG.md's Unreleased section names the coordinate. */
  readonly announced?: boolean;
}

export interface SchemaDiff {
  readonly breaking: readonly ClassifiedChange[];
  readonly dangerous: readonly ClassifiedChange[];
  readonly safe: readonly ClassifiedChange[];
  /** Breaking changes the changelog does not announce: what fails the check. */
  readonly unannounced: readonly ClassifiedChange[];
}

/** The text of the `## [Unreleased]` section (up to the next `## ` heading), or '' when there is none. */
export function unreleasedSection(changelog: string): string {
  const start = /^## \[?Unreleased\]?.*$/im.exec(changelog);
  if (!start) return '';
  const rest = changelog.slice(start.index + start[0].length);
  const next = /^## /m.exec(rest);
  return next ? rest.slice(0, next.index) : rest;
}

/** Whether `text` names `coordinate` as a whole: `User.plaidItems` is not announced by `User.plaidItemsCount`, nor `User` by `User.id`. */
export function mentions(text: string, coordinate: string): boolean {
  const escaped = coordinate.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`(?<![\\w.])${escaped}(?!\\w|\\.\\w)`).test(text);
}

interface InspectorChange {
  readonly message: string;
  readonly path?: string;
  readonly type: string;
  readonly criticality: { readonly level: CriticalityLevel };
}

/** Subgraph SDL (with @link, @key) builds without the federation definitions it refers to. */
const build = (sdl: string) => buildSchema(sdl, { assumeValidSDL: true });

export async function diffSchemas(before: string, after: string, changelog: string): Promise<SchemaDiff> {
  const unreleased = unreleasedSection(changelog);
  // Change's type parameter defaults to `any`; these are the fields read here.
  const changes = (await diff(build(before), build(after))) as unknown as readonly InspectorChange[];
  const classify = (change: InspectorChange): ClassifiedChange => ({
    coordinate: change.path ?? change.type,
    message: change.message,
    type: change.type,
  });
  const breaking = changes
    .filter((c) => c.criticality.level === CriticalityLevel.Breaking)
    .map((c) => {
      const classified = classify(c);
      return { ...classified, announced: mentions(unreleased, classified.coordinate) };
    });
  return {
    breaking,
    dangerous: changes.filter((c) => c.criticality.level === CriticalityLevel.Dangerous).map(classify),
    safe: changes.filter((c) => c.criticality.level === CriticalityLevel.NonBreaking).map(classify),
    unannounced: breaking.filter((c) => !c.announced),
  };
}

/** The report's lines and whether the check passes. */
export function report(
  result: SchemaDiff,
  names: { schema: string; baseline: string; changelog: string },
  verbose = false,
): { lines: string[]; ok: boolean } {
  const lines = [
    `schema diff: ${names.schema} against ${names.baseline} (the last released schema): ` +
      `${result.breaking.length} breaking, ${result.dangerous.length} dangerous, ${result.safe.length} safe`,
  ];
  for (const change of result.breaking) {
    lines.push(
      `  breaking   ${change.coordinate}: ${change.message} (${change.announced ? `announced in ${names.changelog}` : 'NOT ANNOUNCED'})`,
    );
  }
  for (const change of result.dangerous) lines.push(`  dangerous  ${change.coordinate}: ${change.message}`);
  if (verbose) for (const change of result.safe) lines.push(`  safe       ${change.coordinate}: ${change.message}`);
  const ok = result.unannounced.length === 0;
  if (ok) {
    lines.push(
      result.breaking.length === 0 ? 'schema diff: ok, no breaking change' : 'schema diff: ok, every breaking change is announced',
    );
  } else {
    lines.push(
      `schema diff: ${result.unannounced.length} breaking change(s) not announced: name ${result.unannounced.map((c) => `\`${c.coordinate}\``).join(', ')} ` +
        `in ${names.changelog}'s Unreleased section (what changes for supergraph consumers and what they do), or make the change compatible`,
    );
  }
  return { lines, ok };
}

async function main(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      baseline: { type: 'string', default: 'schema.released.graphql' },
      schema: { type: 'string', default: 'schema.graphql' },
      changelog: { type: 'string', default: 'CHANGELOG.md' },
      verbose: { type: 'boolean', default: false },
      release: { type: 'boolean', default: false },
    },
  });
  const read = (file: string) => readFileSync(resolve(ROOT, file), 'utf8');
  if (values.release) {
    writeFileSync(resolve(ROOT, values.baseline), BASELINE_HEADER + read(values.schema));
    console.log(`wrote ${values.baseline} from ${values.schema}: the next diff starts from this release`);
    return 0;
  }
  const result = await diffSchemas(read(values.baseline), read(values.schema), read(values.changelog));
  const { lines, ok } = report(result, { schema: values.schema, baseline: values.baseline, changelog: values.changelog }, values.verbose);
  for (const line of lines) (ok ? console.log : console.error)(line);
  return ok ? 0 : 1;
}

if (await isEntryPoint(import.meta.url)) process.exitCode = await main(process.argv.slice(2));
