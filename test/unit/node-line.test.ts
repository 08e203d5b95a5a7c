/**
 * The Node the tests run on, and that the processes they start run on the same one: those started
 * with process.execPath, and `node` through PATH (what `npm run`, shebangs and the HEALTHCHECK
 * command use). Under scripts/test-node-lines.sh (EXPECTED_NODE_MAJOR set) it also proves the line
 * asked for is the one running.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const expectedMajor = process.env.EXPECTED_NODE_MAJOR;
const version = (command: string) => execFileSync(command, ['-p', 'process.version'], { encoding: 'utf8' }).trim();

describe(`the Node line (${process.version}, ${process.execPath})`, () => {
  it('runs child processes on the same version, started with process.execPath or as `node` through PATH', () => {
    expect(version(process.execPath)).toBe(process.version);
    expect(version('node')).toBe(process.version);
  });

  it('is one that engines in package.json names', () => {
    const { engines } = JSON.parse(readFileSync(fileURLToPath(new URL('../../package.json', import.meta.url)), 'utf8')) as {
      engines: { node: string };
    };
    expect(engines.node).toBe('^20.19.0 || ^22.13.0 || >=24');
    const [major = 0, minor = 0] = process.versions.node.split('.').map(Number);
    const supported = (major === 20 && minor >= 19) || (major === 22 && minor >= 13) || major >= 24;
    expect(supported, `Node ${process.versions.node} is outside engines`).toBe(true);
  });

  it('is the line scripts/test-node-lines.sh asked for, when it asked', () => {
    if (expectedMajor) expect(process.versions.node.split('.')[0]).toBe(expectedMajor);
  });
});
