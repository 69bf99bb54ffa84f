/**
 * Outputs that are never half-written: a file or folder is written under a temporary name in the
 * same folder (same file system, so the final rename is atomic) and renamed over the target only
 * when complete. An error, Ctrl-C or a crash therefore leaves either the old target or the new
 * one, never a truncated file or a folder that looks complete. Temporary names left by a process
 * that exits early are removed on exit.
 */
import { rmSync, type Stats } from 'node:fs';
import { mkdir, open, readdir, rename, rm, stat, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

const pending = new Set<string>();
let exitHook = false;

/** A hidden temporary name beside `path`, removed on process exit unless renamed before. */
function temporaryBeside(path: string, kind: string): string {
  const tmp = join(
    dirname(path),
    `.${basename(path)}.${kind}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`,
  );
  pending.add(tmp);
  if (!exitHook) {
    exitHook = true;
    process.on('exit', () => {
      for (const p of pending) rmSync(p, { recursive: true, force: true });
    });
  }
  return tmp;
}

async function discard(tmp: string): Promise<void> {
  await rm(tmp, { recursive: true, force: true });
  pending.delete(tmp);
}

/**
 * Writes the file `path` atomically: `write` creates the file at the temporary path it is given;
 * on success it is renamed to `path` (replacing an existing file), on failure removed.
 */
export async function writeFileAtomic(path: string, write: (tmp: string) => Promise<void>): Promise<void> {
  const tmp = temporaryBeside(path, 'partial');
  try {
    await write(tmp);
    await rename(tmp, path);
    pending.delete(tmp);
  } catch (e) {
    await discard(tmp);
    throw e;
  }
}

/**
 * Writes the folder `dir` atomically: `write` fills the (new, empty) temporary folder it is given;
 * on success that folder becomes `dir`. An existing `dir` is replaced only with `replace`
 * (otherwise it must be absent or empty), and only once the new folder is complete.
 */
export async function writeDirAtomic(
  dir: string,
  write: (tmpDir: string) => Promise<void>,
  opts: { replace?: boolean } = {},
): Promise<void> {
  await checkDirTarget(dir, opts.replace);
  const tmp = temporaryBeside(dir, 'partial');
  try {
    await mkdir(tmp);
    await write(tmp);
    // Checked again: the folder may have been created while writing.
    const old = (await checkDirTarget(dir, opts.replace)) ? temporaryBeside(dir, 'old') : undefined;
    if (old) await rename(dir, old);
    try {
      await rename(tmp, dir);
    } catch (e) {
      if (old) await rename(old, dir);
      throw e;
    }
    pending.delete(tmp);
    if (old) await discard(old);
  } catch (e) {
    await discard(tmp);
    throw e;
  }
}

/**
 * Whether the output folder `dir` exists (then it is replaced); throws when it is a file, or a
 * non-empty folder and `replace` is not set.
 */
export async function checkDirTarget(dir: string, replace = false): Promise<boolean> {
  const st = await statOrUndefined(dir);
  if (!st) return false;
  if (!st.isDirectory()) throw new Error(`${dir}: exists and is not a folder`);
  if (!replace && (await readdir(dir)).length > 0)
    throw new Error(`${dir}: folder exists and is not empty; choose a new or empty folder, or replace it (--force)`);
  return true;
}

async function statOrUndefined(path: string): Promise<Stats | undefined> {
  try {
    return await stat(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new Error(`${path}: cannot use (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
}

/**
 * Checks, before any work, that the file `path` can be written: its folder exists and accepts a
 * new file, and `path` is not a folder. Throws a one-line error naming `what` (e.g. "--out") and
 * the reason.
 */
export async function checkWritableFile(path: string, what: string): Promise<void> {
  const fail = (why: string): never => {
    throw new Error(`${what} ${path}: cannot write there (${why})`);
  };
  if (path === '' || path.endsWith('/')) fail('not a file name');
  const st = await statOrUndefined(path).catch((e: Error) => fail(e.message));
  if (st?.isDirectory()) fail('it is a folder');
  const dir = dirname(path);
  const dst = await statOrUndefined(dir).catch((e: Error) => fail(e.message));
  if (!dst) fail(`folder ${dir} does not exist`);
  if (!dst!.isDirectory()) fail(`${dir} is not a folder`);
  const probe = temporaryBeside(path, 'probe');
  try {
    await (await open(probe, 'wx')).close();
    await unlink(probe);
  } catch (e) {
    fail(`${(e as NodeJS.ErrnoException).code ?? (e as Error).message} in ${dir}`);
  } finally {
    pending.delete(probe);
  }
}
