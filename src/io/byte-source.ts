/** Random-access bytes: a file, a URL with range requests, or memory. Platform-neutral. */
export interface ByteSource {
  /** Where the bytes come from (file path, URL), used in error messages. */
  readonly name: string;
  /** Total size in bytes. */
  readonly size: number;
  /** Reads exactly `length` bytes at `offset`; rejects if the range is out of bounds. */
  read(offset: number, length: number): Promise<Uint8Array>;
  close?(): Promise<void>;
}

/** Sequential output (a file, memory). */
export interface ByteSink {
  readonly name: string;
  write(bytes: Uint8Array): Promise<void>;
  close?(): Promise<void>;
}

/** ByteSource over an in-memory buffer. */
export class MemoryByteSource implements ByteSource {
  readonly size: number;
  constructor(
    private readonly bytes: Uint8Array,
    readonly name = '<memory>',
  ) {
    this.size = bytes.byteLength;
  }
  async read(offset: number, length: number): Promise<Uint8Array> {
    if (offset < 0 || length < 0 || offset + length > this.size) {
      throw new Error(`${this.name}: read of ${length} bytes at ${offset} is past the end (${this.size} bytes)`);
    }
    return this.bytes.subarray(offset, offset + length);
  }
}

/** ByteSink collecting everything in memory. */
export class MemoryByteSink implements ByteSink {
  private chunks: Uint8Array[] = [];
  constructor(readonly name = '<memory>') {}
  async write(bytes: Uint8Array): Promise<void> {
    this.chunks.push(bytes.slice());
  }
  /** All written bytes, concatenated. */
  bytes(): Uint8Array {
    const total = this.chunks.reduce((s, c) => s + c.byteLength, 0);
    const out = new Uint8Array(total);
    let o = 0;
    for (const c of this.chunks) {
      out.set(c, o);
      o += c.byteLength;
    }
    return out;
  }
}
