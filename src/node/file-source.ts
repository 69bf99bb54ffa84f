/** Node file implementations of ByteSource / ByteSink (positional reads: files over 2 GB work). */
import { open, type FileHandle } from 'node:fs/promises';
import type { ByteSink, ByteSource } from '../io/byte-source.js';

export class FileByteSource implements ByteSource {
  private constructor(private readonly fh: FileHandle, readonly name: string, readonly size: number) {}

  static async open(path: string): Promise<FileByteSource> {
    let fh: FileHandle;
    try {
      fh = await open(path, 'r');
    } catch (e) {
      throw new Error(`${path}: cannot open (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
    }
    const st = await fh.stat();
    return new FileByteSource(fh, path, st.size);
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
      const { bytesRead } = await this.fh.read(buf, done, chunk, offset + done);
      if (bytesRead === 0) throw new Error(`${this.name}: unexpected end of file at ${offset + done}`);
      done += bytesRead;
    }
    return buf;
  }

  async close(): Promise<void> {
    await this.fh.close();
  }
}

export class FileByteSink implements ByteSink {
  private constructor(private readonly fh: FileHandle, readonly name: string) {}

  static async create(path: string): Promise<FileByteSink> {
    return new FileByteSink(await open(path, 'w'), path);
  }

  async write(bytes: Uint8Array): Promise<void> {
    let done = 0;
    while (done < bytes.byteLength) {
      const { bytesWritten } = await this.fh.write(bytes, done, Math.min(bytes.byteLength - done, 1 << 30));
      done += bytesWritten;
    }
  }

  async close(): Promise<void> {
    await this.fh.close();
  }
}
