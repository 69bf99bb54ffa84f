/** FileStore over a directory on disk. */
import { readdir, readFile, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { ByteSource } from '../io/byte-source.js';
import { checkRelative, type FileStore } from '../io/file-store.js';
import { FileByteSource } from './file-source.js';

export class NodeFileStore implements FileStore {
  /** The directory as given (used in messages). */
  readonly name: string;
  private readonly root: string;

  constructor(dir: string) {
    this.name = dir.replace(/\/+$/, '') || '/';
    this.root = resolve(dir);
  }

  /** Absolute path of a store path. */
  path(rel: string): string {
    return join(this.root, ...checkRelative(this.name, rel).split('/'));
  }

  private display(rel: string): string {
    return join(this.name, rel);
  }

  async readText(rel: string): Promise<string> {
    try {
      return await readFile(this.path(rel), 'utf8');
    } catch (e) {
      throw new Error(
        `${this.display(rel)}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`,
      );
    }
  }

  async exists(rel: string): Promise<boolean> {
    try {
      return (await stat(this.path(rel))).isFile();
    } catch {
      return false;
    }
  }

  openBytes(rel: string): Promise<ByteSource> {
    return FileByteSource.open(this.path(rel), this.display(rel));
  }

  async list(dir: string): Promise<string[]> {
    try {
      const entries = await readdir(this.path(dir), { withFileTypes: true });
      return entries
        .filter((e) => e.isFile())
        .map((e) => e.name)
        .sort();
    } catch {
      return [];
    }
  }
}
