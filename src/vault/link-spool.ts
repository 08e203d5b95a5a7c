/**
 * The last resort for an exchanged access token that the vault could not store and Plaid could not
 * remove: one encrypted file per Item in a local directory (written to a temporary name, fsynced,
 * renamed), saved into the vault by `replay` once the database is back, at start and every so often.
 * Local to the replica: it survives a restart of the process (and of the container when the
 * directory is a volume), not the loss of the machine.
 */
import { createHash } from 'node:crypto';
import { mkdir, open, readdir, readFile, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { isOutage } from './errors.js';
import type { SaveItemInput, TokenVault } from './vault.js';

const SUFFIX = '.item';

export class LinkSpool {
  constructor(
    readonly directory: string,
    private readonly vault: Pick<TokenVault, 'seal' | 'unseal' | 'saveItem'>,
  ) {}

  /** Keeps `input` durably; resolves only once it is on disk. */
  async put(input: SaveItemInput): Promise<void> {
    await mkdir(this.directory, { recursive: true, mode: 0o700 });
    // Named by a hash: item ids in file names would tell who linked what to anyone listing the directory.
    const name = createHash('sha256').update(input.itemId).digest('hex').slice(0, 32);
    const temporary = join(this.directory, `${name}.tmp`);
    const file = await open(temporary, 'w', 0o600);
    try {
      await file.writeFile(this.vault.seal(input));
      await file.sync();
    } finally {
      await file.close();
    }
    await rename(temporary, join(this.directory, name + SUFFIX));
  }

  /** Items waiting. */
  async size(): Promise<number> {
    return (await this.files()).length;
  }

  /**
   * Saves every waiting Item into the vault and deletes its file; stops at the first outage (the
   * database is still down: the rest waits for the next replay). A file that does not unseal
   * (another key, damaged) or that the vault refuses is left in place and counted, never deleted.
   */
  async replay(): Promise<{ readonly saved: number; readonly left: number; readonly unreadable: number; readonly refused: number }> {
    const files = await this.files();
    let saved = 0;
    let unreadable = 0;
    let refused = 0;
    for (const name of files) {
      const path = join(this.directory, name);
      let input: SaveItemInput;
      try {
        input = this.vault.unseal(await readFile(path, 'utf8'));
      } catch {
        unreadable++;
        continue;
      }
      try {
        await this.vault.saveItem(input);
      } catch (error) {
        if (isOutage(error)) break;
        refused++;
        continue;
      }
      await unlink(path);
      saved++;
    }
    return { saved, left: files.length - saved, unreadable, refused };
  }

  private async files(): Promise<string[]> {
    try {
      return (await readdir(this.directory)).filter((name) => name.endsWith(SUFFIX)).sort();
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    }
  }
}
