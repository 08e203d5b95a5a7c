/**
 * npm run schema:diff (scripts/schema-diff.ts): GraphQL Inspector's classification, and a breaking
 * change passes only when CHANGELOG.md's Unreleased section names its coordinate.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { diffSchemas, mentions, report, unreleasedSection } from '../../scripts/schema-diff.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

const BEFORE = /* GraphQL */ `
  type Query {
    user(id: ID!): User
  }
  type User {
    id: ID!
    name: String!
    items: [Item!]!
  }
  type Item {
    id: ID!
  }
  enum Scope {
    ITEM
    CLIENT
  }
`;

const changelog = (unreleased: string) =>
  `# Changelog\n\n## [Unreleased]\n\n${unreleased}\n\n## [0.1.0] - 2026-11-24\n\n- \`User.name\` was added.\n`;
const NAMES = { schema: 'schema.graphql', baseline: 'schema.released.graphql', changelog: 'CHANGELOG.md' };

describe('schema diff', () => {
  it('a safe change (a field added) passes, with nothing to announce', async () => {
    const result = await diffSchemas(BEFORE, BEFORE.replace('items: [Item!]!', 'items: [Item!]! email: String'), changelog(''));
    expect(result.breaking).toEqual([]);
    expect(result.dangerous).toEqual([]);
    expect(result.safe.map((c) => c.coordinate)).toEqual(['User.email']);
    expect(report(result, NAMES)).toMatchObject({
      ok: true,
      lines: expect.arrayContaining(['schema diff: ok, no breaking change']) as unknown,
    });
  });

  it('a dangerous change (an enum value added) is listed and passes', async () => {
    const result = await diffSchemas(BEFORE, BEFORE.replace(/ITEM\s+CLIENT/, 'ITEM VIEWER CLIENT'), changelog(''));
    expect(result.dangerous.map((c) => c.coordinate)).toEqual(['Scope.VIEWER']);
    const { ok, lines } = report(result, NAMES);
    expect(ok).toBe(true);
    expect(lines).toContainEqual(expect.stringMatching(/^ {2}dangerous {2}Scope\.VIEWER: Enum value 'VIEWER' was added/));
  });

  it('a breaking change named in Unreleased passes', async () => {
    const after = BEFORE.replace('items: [Item!]!', 'items: [Item!]');
    const result = await diffSchemas(BEFORE, after, changelog('- **Breaking:** `User.items` became nullable.'));
    expect(result.breaking).toEqual([expect.objectContaining({ coordinate: 'User.items', announced: true })]);
    expect(result.unannounced).toEqual([]);
    expect(report(result, NAMES).ok).toBe(true);
  });

  it('a breaking change Unreleased does not name fails, even when an older section names it', async () => {
    const after = BEFORE.replace(' name: String!', '');
    const result = await diffSchemas(BEFORE, after, changelog('- `User.items` is unchanged; `User.nameless` is not it either.'));
    expect(result.unannounced.map((c) => c.coordinate)).toEqual(['User.name']);
    const { ok, lines } = report(result, NAMES);
    expect(ok).toBe(false);
    expect(lines).toContainEqual(expect.stringMatching(/^ {2}breaking {3}User\.name: .*NOT ANNOUNCED/));
    expect(lines.at(-1)).toMatch(
      /^schema diff: 1 breaking change\(s\) not announced: name `User\.name` in CHANGELOG\.md's Unreleased section/,
    );
  });

  it('reads the Unreleased section only, and a coordinate only as a whole', () => {
    expect(unreleasedSection(changelog('fresh'))).toContain('fresh');
    expect(unreleasedSection(changelog('fresh'))).not.toContain('User.name');
    expect(unreleasedSection('# Changelog\n\n## [0.1.0]\n\n- User.name\n')).toBe('');
    expect(mentions('`User.plaidItems` became nullable', 'User.plaidItems')).toBe(true);
    expect(mentions('User.plaidItems.', 'User.plaidItems')).toBe(true);
    expect(mentions('User.plaidItemsCount', 'User.plaidItems')).toBe(false);
    expect(mentions('`User.id`', 'User')).toBe(false);
    expect(mentions('OtherUser.plaidItems', 'User.plaidItems')).toBe(false);
  });

  it("passes on this repository: schema.graphql's breaking changes since schema.released.graphql are in CHANGELOG.md", async () => {
    const read = (file: string) => readFileSync(`${ROOT}${file}`, 'utf8');
    const result = await diffSchemas(read('schema.released.graphql'), read('schema.graphql'), read('CHANGELOG.md'));
    expect(result.unannounced).toEqual([]);
  });
});
