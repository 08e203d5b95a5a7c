/** Whether a module is the script node was started with (so importing a CLI from a test runs nothing). */
import { realpath } from 'node:fs/promises';
import { pathToFileURL } from 'node:url';

export async function isEntryPoint(moduleUrl: string): Promise<boolean> {
  const script = process.argv[1];
  if (script === undefined) return false;
  try {
    // import.meta.url is the resolved path; argv[1] may go through a symlink.
    return moduleUrl === pathToFileURL(await realpath(script)).href;
  } catch {
    return false;
  }
}
