/**
 * safetensors reader and writer.
 *
 * Format: 8-byte little-endian header length N, N bytes of JSON header
 * `{name: {dtype, shape, data_offsets: [begin, end]}, __metadata__?: {k: v}}`, then the data
 * section; offsets are relative to the start of the data section. The reader validates the whole
 * header up front and reads tensors lazily by offset, so files larger than 2 GB never need to fit
 * in memory.
 */
import type { ByteSink, ByteSource } from './byte-source.js';
import { DTYPE_BYTES, decodeToFloat32, decodeToInt32, f32ToF16, isStDtype, type StDtype } from './dtypes.js';
import { looksLikePickle, pickleMessage } from './pickle.js';

/** One tensor's entry in a safetensors header, with absolute byte offsets in the file. */
export interface TensorInfo {
  readonly name: string;
  readonly dtype: StDtype;
  readonly shape: readonly number[];
  /** Absolute byte offset of the first byte in the file. */
  readonly start: number;
  readonly byteLength: number;
}

/** Largest header accepted (the reference implementation uses 100 MB). */
export const MAX_HEADER_BYTES = 100_000_000;

export class SafetensorsError extends Error {
  constructor(file: string, message: string) {
    super(`${file}: ${message}`);
    this.name = 'SafetensorsError';
  }
}

function numel(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** A validated safetensors file whose tensors are read on demand. */
export class SafetensorsFile {
  private constructor(
    readonly source: ByteSource,
    readonly metadata: Readonly<Record<string, string>>,
    readonly tensors: ReadonlyMap<string, TensorInfo>,
    readonly dataStart: number,
  ) {}

  get name(): string {
    return this.source.name;
  }

  /**
   * Reads and validates the header of `source`. Throws SafetensorsError naming file and tensor;
   * the source is closed when opening fails (on success the SafetensorsFile owns it).
   */
  static async open(source: ByteSource): Promise<SafetensorsFile> {
    try {
      return await SafetensorsFile.validate(source);
    } catch (e) {
      await source.close?.();
      throw e;
    }
  }

  private static async validate(source: ByteSource): Promise<SafetensorsFile> {
    const file = source.name;
    const fail = (msg: string): never => {
      throw new SafetensorsError(file, msg);
    };
    if (source.size < 8) fail(`file is ${source.size} bytes, too small for the 8-byte header length`);
    const lenBytes = await source.read(0, 8);
    const headerLen = Number(new DataView(lenBytes.buffer, lenBytes.byteOffset, 8).getBigUint64(0, true));
    if ((headerLen > MAX_HEADER_BYTES || 8 + headerLen > source.size) && looksLikePickle(lenBytes))
      fail(pickleMessage());
    if (headerLen > MAX_HEADER_BYTES) fail(`header length ${headerLen} exceeds the ${MAX_HEADER_BYTES}-byte limit`);
    if (8 + headerLen > source.size) {
      fail(
        `header length ${headerLen} is larger than the file allows (${source.size - 8} bytes after the length field); file truncated or not safetensors`,
      );
    }
    const headerBytes = await source.read(8, headerLen);
    let headerText = '';
    try {
      headerText = new TextDecoder('utf-8', { fatal: true }).decode(headerBytes);
    } catch {
      fail('header is not valid UTF-8; not a safetensors file?');
    }
    let header: unknown;
    try {
      header = JSON.parse(headerText);
    } catch (e) {
      fail(`header is not valid JSON (${(e as Error).message})`);
    }
    if (typeof header !== 'object' || header === null || Array.isArray(header)) fail('header is not a JSON object');
    const dataStart = 8 + headerLen;
    const dataSize = source.size - dataStart;
    const metadata: Record<string, string> = {};
    const tensors = new Map<string, TensorInfo>();
    const spans: { name: string; begin: number; end: number }[] = [];
    for (const [name, raw] of Object.entries(header as Record<string, unknown>)) {
      if (name === '__metadata__') {
        if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) fail('__metadata__ is not an object');
        for (const [k, v] of Object.entries(raw as Record<string, unknown>)) {
          if (typeof v !== 'string') fail(`__metadata__.${k} is not a string`);
          metadata[k] = v as string;
        }
        continue;
      }
      const at = `tensor "${name}"`;
      if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) fail(`${at}: entry is not an object`);
      const { dtype, shape, data_offsets: offsets } = raw as Record<string, unknown>;
      for (const [field, v] of [
        ['dtype', dtype],
        ['shape', shape],
        ['data_offsets', offsets],
      ] as const) {
        if (v === undefined) fail(`${at}: "${field}" is missing`);
      }
      if (!isStDtype(dtype)) fail(`${at}: unknown dtype ${JSON.stringify(dtype)}`);
      if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
        fail(`${at}: shape ${JSON.stringify(shape)} is not a list of non-negative integers`);
      }
      if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isSafeInteger(o) && o >= 0)) {
        fail(`${at}: data_offsets ${JSON.stringify(offsets)} is not [begin, end]`);
      }
      const [begin, end] = offsets as number[];
      if (end < begin) fail(`${at}: data_offsets [${begin}, ${end}] end before begin`);
      if (end > dataSize) {
        fail(
          `${at}: data_offsets [${begin}, ${end}] run past the end of the data (${dataSize} bytes); file truncated?`,
        );
      }
      const dt = dtype as StDtype;
      const expected = numel(shape as number[]) * DTYPE_BYTES[dt];
      if (end - begin !== expected) {
        fail(
          `${at}: shape [${(shape as number[]).join(', ')}] × ${dt} (${DTYPE_BYTES[dt]} bytes) = ${expected} bytes, but data_offsets span ${end - begin}`,
        );
      }
      if (end > begin) spans.push({ name, begin, end });
      tensors.set(name, {
        name,
        dtype: dt,
        shape: shape as number[],
        start: dataStart + begin,
        byteLength: end - begin,
      });
    }
    // Empty tensors occupy no bytes and cannot overlap anything.
    spans.sort((a, b) => a.begin - b.begin || a.end - b.end);
    for (let i = 1; i < spans.length; i++) {
      const p = spans[i - 1];
      const c = spans[i];
      if (c.begin < p.end) {
        fail(`tensors "${p.name}" [${p.begin}, ${p.end}] and "${c.name}" [${c.begin}, ${c.end}] overlap`);
      }
    }
    return new SafetensorsFile(source, metadata, tensors, dataStart);
  }

  keys(): string[] {
    return [...this.tensors.keys()];
  }

  has(name: string): boolean {
    return this.tensors.has(name);
  }

  info(name: string): TensorInfo {
    const t = this.tensors.get(name);
    if (!t) throw new SafetensorsError(this.name, `no tensor named "${name}"`);
    return t;
  }

  /** Raw little-endian bytes of one tensor. */
  async readBytes(name: string): Promise<Uint8Array> {
    const t = this.info(name);
    return this.source.read(t.start, t.byteLength);
  }

  /** One tensor decoded to float32 (F32, F16, BF16, F64 and integer types). */
  async readFloat32(name: string): Promise<Float32Array> {
    const t = this.info(name);
    return decodeToFloat32(await this.readBytes(name), t.dtype);
  }

  /** One integer tensor (I64/I32/I16/I8/U8/BOOL) as int32. */
  async readInt32(name: string): Promise<Int32Array> {
    const t = this.info(name);
    return decodeToInt32(await this.readBytes(name), t.dtype, `${this.name}: tensor "${name}"`);
  }

  async close(): Promise<void> {
    await this.source.close?.();
  }
}

/** A tensor to write; `data` is produced on demand so large files stream. */
export interface TensorToWrite {
  name: string;
  dtype: StDtype;
  shape: readonly number[];
  /** Raw little-endian bytes of exactly numel × dtype size, or a producer of them. */
  data: Uint8Array | (() => Promise<Uint8Array>);
}

/** Float32 values as a TensorToWrite in F32 or F16. */
export function floatTensor(
  name: string,
  shape: readonly number[],
  values: Float32Array,
  dtype: 'F32' | 'F16' = 'F32',
): TensorToWrite {
  const bytes =
    dtype === 'F32'
      ? new Uint8Array(values.buffer, values.byteOffset, values.byteLength)
      : new Uint8Array(f32ToF16(values).buffer);
  return { name, dtype, shape, data: bytes };
}

/** Builds the header bytes (padded with spaces to a multiple of 8, as the reference writer does). */
function encodeHeader(
  tensors: readonly TensorToWrite[],
  metadata?: Record<string, string>,
): { bytes: Uint8Array; total: number } {
  const header: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length) header.__metadata__ = metadata;
  let offset = 0;
  const seen = new Set<string>();
  for (const t of tensors) {
    if (seen.has(t.name)) throw new Error(`safetensors writer: duplicate tensor name "${t.name}"`);
    if (t.name === '__metadata__')
      throw new Error('safetensors writer: "__metadata__" is reserved and cannot name a tensor');
    if (!t.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw new Error(`safetensors writer: tensor "${t.name}" has invalid shape [${t.shape.join(', ')}]`);
    }
    seen.add(t.name);
    const len = numel(t.shape) * DTYPE_BYTES[t.dtype];
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + len] };
    offset += len;
  }
  let json = JSON.stringify(header);
  const pad = (8 - (new TextEncoder().encode(json).byteLength % 8)) % 8;
  json += ' '.repeat(pad);
  const body = new TextEncoder().encode(json);
  const bytes = new Uint8Array(8 + body.byteLength);
  new DataView(bytes.buffer).setBigUint64(0, BigInt(body.byteLength), true);
  bytes.set(body, 8);
  return { bytes, total: offset };
}

/**
 * Streams a safetensors file to `sink`, one tensor at a time (lazy `data` producers are called in
 * order, so only one tensor is in memory). The sink is closed in all cases; on error the output is
 * incomplete and the caller should discard it.
 */
export async function writeSafetensors(
  sink: ByteSink,
  tensors: readonly TensorToWrite[],
  metadata?: Record<string, string>,
): Promise<void> {
  try {
    const { bytes } = encodeHeader(tensors, metadata);
    await sink.write(bytes);
    for (const t of tensors) {
      const data = typeof t.data === 'function' ? await t.data() : t.data;
      const len = numel(t.shape) * DTYPE_BYTES[t.dtype];
      if (data.byteLength !== len) {
        throw new Error(
          `${sink.name}: tensor "${t.name}" has ${data.byteLength} bytes, shape [${t.shape.join(', ')}] × ${t.dtype} needs ${len}`,
        );
      }
      await sink.write(data);
    }
  } finally {
    await sink.close?.();
  }
}
