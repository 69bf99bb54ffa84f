/**
 * A read-only tree of files addressed by relative '/'-separated paths: a directory on disk, a URL
 * prefix served over HTTP, or memory. Platform-neutral; model directories are read through it.
 */
import { MemoryByteSource, type ByteSource } from './byte-source.js';

export interface FileStore {
  /** Where the files come from (directory path, base URL), used in messages. */
  readonly name: string;
  /** UTF-8 text of `path`; rejects with a message naming the path when it cannot be read. */
  readText(path: string): Promise<string>;
  /** True when `path` exists as a file. */
  exists(path: string): Promise<boolean>;
  /** Random-access bytes of `path` (the caller closes it). */
  openBytes(path: string): Promise<ByteSource>;
  /**
   * Names of the files directly inside `dir` ('' = root), sorted. [] when the folder does not
   * exist or the store cannot list (HTTP); used only for diagnostics.
   */
  list(dir: string): Promise<string[]>;
}

/** Joins relative store paths with '/', dropping empty segments and './'. */
export function joinPath(...parts: string[]): string {
  return parts
    .flatMap((p) => p.split('/'))
    .filter((s) => s !== '' && s !== '.')
    .join('/');
}

/** Rejects paths that leave the store root ('..' segments, absolute paths). */
export function checkRelative(store: string, path: string): string {
  const p = joinPath(path);
  if (path.startsWith('/') || p.split('/').includes('..'))
    throw new Error(`${store}: path "${path}" leaves the store root`);
  return p;
}

/** A FileStore over an in-memory map of path → contents (tests, browser uploads). */
export class MemoryFileStore implements FileStore {
  private readonly files = new Map<string, Uint8Array>();

  constructor(
    files: Record<string, Uint8Array | string>,
    readonly name = '<memory>',
  ) {
    for (const [path, data] of Object.entries(files)) {
      this.files.set(joinPath(path), typeof data === 'string' ? new TextEncoder().encode(data) : data);
    }
  }

  private get(path: string): Uint8Array {
    const bytes = this.files.get(checkRelative(this.name, path));
    if (!bytes) throw new Error(`${this.name}/${path}: no such file`);
    return bytes;
  }

  async readText(path: string): Promise<string> {
    return new TextDecoder().decode(this.get(path));
  }

  async exists(path: string): Promise<boolean> {
    return this.files.has(joinPath(path));
  }

  async openBytes(path: string): Promise<ByteSource> {
    return new MemoryByteSource(this.get(path), `${this.name}/${joinPath(path)}`);
  }

  async list(dir: string): Promise<string[]> {
    const prefix = joinPath(dir);
    const out: string[] = [];
    for (const p of this.files.keys()) {
      const rest = prefix ? (p.startsWith(`${prefix}/`) ? p.slice(prefix.length + 1) : undefined) : p;
      if (rest !== undefined && !rest.includes('/')) out.push(rest);
    }
    return out.sort();
  }
}
