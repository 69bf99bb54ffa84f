/** Node file implementations of ByteSource / ByteSink (positional reads: files over 2 GB work). */
import { open, type FileHandle } from 'node:fs/promises';
import type { ByteSink, ByteSource } from '../io/byte-source.js';

function reason(e: unknown): string {
  return (e as NodeJS.ErrnoException).code ?? (e as Error).message;
}

export class FileByteSource implements ByteSource {
  private constructor(
    private readonly fh: FileHandle,
    readonly name: string,
    readonly size: number,
  ) {}

  /**
   * Opens `path` for random-access reads; rejects naming the file if it is missing or not a
   * regular file. `name` (default: the path) is what messages call it.
   */
  static async open(path: string, name = path): Promise<FileByteSource> {
    let fh: FileHandle;
    try {
      fh = await open(path, 'r');
    } catch (e) {
      throw new Error(`${name}: cannot open (${reason(e)})`);
    }
    const st = await fh.stat();
    if (!st.isFile()) {
      await fh.close();
      throw new Error(`${name}: not a regular file`);
    }
    return new FileByteSource(fh, name, st.size);
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    if (offset < 0 || length < 0 || offset + length > this.size) {
      throw new Error(`${this.name}: read of ${length} bytes at ${offset} is past the end (${this.size} bytes)`);
    }
    const buf = new Uint8Array(length);
    let done = 0;
    while (done < length) {
      // Reads are capped below 2 GiB each; positions are plain numbers (exact up to 2^53).
      const chunk = Math.min(length - done, 1 << 30);
      let bytesRead: number;
      try {
        ({ bytesRead } = await this.fh.read(buf, done, chunk, offset + done));
      } catch (e) {
        throw new Error(`${this.name}: read of ${length} bytes at ${offset} failed (${reason(e)})`);
      }
      if (bytesRead === 0) throw new Error(`${this.name}: unexpected end of file at ${offset + done} (file shrank?)`);
      done += bytesRead;
    }
    return buf;
  }

  async close(): Promise<void> {
    await this.fh.close();
  }
}

export class FileByteSink implements ByteSink {
  private closed = false;
  private constructor(
    private readonly fh: FileHandle,
    readonly name: string,
  ) {}

  /** Creates (or truncates) `path` for sequential writes. */
  static async create(path: string): Promise<FileByteSink> {
    try {
      return new FileByteSink(await open(path, 'w'), path);
    } catch (e) {
      throw new Error(`${path}: cannot create (${reason(e)})`);
    }
  }

  async write(bytes: Uint8Array): Promise<void> {
    let done = 0;
    while (done < bytes.byteLength) {
      try {
        const { bytesWritten } = await this.fh.write(bytes, done, Math.min(bytes.byteLength - done, 1 << 30));
        done += bytesWritten;
      } catch (e) {
        throw new Error(`${this.name}: write failed (${reason(e)})`);
      }
    }
  }

  /** Closes the file (idempotent). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.fh.close();
  }
}
