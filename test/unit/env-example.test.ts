/**
 * .env.example lists every variable the configuration schema reads (src/config.ts), and nothing
 * else, with example values the schema accepts; docs/operations.md's configuration table names every
 * one too. Adding a variable to the schema without documenting it fails here.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { z } from 'zod';
import { AppEnv, PlaidEnv, QuotaEnv } from '../../src/config.js';
import { SimulatorEnv } from '../../src/simulator/config.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const read = (path: string) => readFileSync(`${ROOT}${path}`, 'utf8');

const SCHEMAS: Record<string, z.ZodObject> = { AppEnv, PlaidEnv, QuotaEnv, SimulatorEnv };
const fields = new Map<string, z.ZodType>(
  Object.values(SCHEMAS).flatMap((schema) => Object.entries(schema.shape as Record<string, z.ZodType>)),
);

/** Every `NAME=value` line, commented out (`# NAME=value`: a default or example) or not. */
const assignments = read('.env.example')
  .split('\n')
  .flatMap((line) => {
    const match = /^(#\s*)?([A-Z][A-Z0-9_]*)=(.*)$/.exec(line);
    return match ? [{ name: match[2] ?? '', value: match[3] ?? '', active: match[1] === undefined }] : [];
  });

describe('.env.example', () => {
  it('reads variables from the three schemas (and they are not empty)', () => {
    expect(fields.size).toBeGreaterThan(60);
  });

  it('lists every variable of the configuration schema', () => {
    const listed = new Set(assignments.map((a) => a.name));
    expect([...fields.keys()].filter((name) => !listed.has(name))).toEqual([]);
  });

  it('lists nothing the service does not read, and each variable once', () => {
    expect(assignments.map((a) => a.name).filter((name) => !fields.has(name))).toEqual([]);
    const names = assignments.map((a) => a.name);
    expect(names.filter((name, index) => names.indexOf(name) !== index)).toEqual([]);
  });

  it('gives values the schema accepts', () => {
    const refused = assignments.filter((a) => !(fields.get(a.name) as z.ZodType).safeParse(a.value).success);
    expect(refused.map((a) => `${a.name}=${a.value}`)).toEqual([]);
  });

  it('sets no secret: the active lines are empty placeholders', () => {
    expect(assignments.filter((a) => a.active && a.value !== '').map((a) => a.name)).toEqual([]);
  });
});
describe("docs/operations.md's configuration table", () => {
  it('names every variable of the configuration schema', () => {
    const doc = read('docs/operations.md');
    const section = doc.slice(doc.indexOf('## Configuration'));
    // QUOTA_* stands for the quota variables, each named in the cost guard's table.
    const missing = [...fields.keys()].filter(
      (name) => !section.includes(`\`${name}\``) && !(name.startsWith('QUOTA_') && doc.includes(`\`${name}\``)),
    );
    expect(missing).toEqual([]);
  });
});
