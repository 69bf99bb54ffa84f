/** Writable copies of a model directory for tests: folders are recreated, files symlinked (cheap). */
import { mkdirSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Mirrors `src` into `dst` with symlinked files; returns `dst`. */
export function linkCopy(src: string, dst: string): string {
  mkdirSync(dst, { recursive: true });
  for (const e of readdirSync(src, { withFileTypes: true })) {
    if (e.isDirectory()) linkCopy(join(src, e.name), join(dst, e.name));
    else symlinkSync(join(src, e.name), join(dst, e.name));
  }
  return dst;
}

/** Removes files (paths relative to `dir`). */
export function removeFiles(dir: string, ...rel: string[]): void {
  for (const r of rel) rmSync(join(dir, r));
}

/** Replaces or creates a file (relative to `dir`). */
export function putFile(dir: string, rel: string, data: string | Uint8Array): void {
  rmSync(join(dir, rel), { force: true });
  writeFileSync(join(dir, rel), data);
}
