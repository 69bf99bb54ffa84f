/**
 * safetensors files and headers: valid files (every dtype, metadata, empty tensors) mutated at the
 * byte level (bit flips, truncation, the length field) and at the header level (offsets negative,
 * fractional, huge or overlapping; shapes; dtypes; duplicate keys; JSON garbage; deep nesting),
 * then opened and every tensor read. Reads outside the file are violations.
 */
import { MemoryByteSource, type ByteSource } from '../../src/io/byte-source.js';
import { DTYPE_BYTES, type StDtype } from '../../src/io/dtypes.js';
import { SafetensorsFile, writeSafetensors, type TensorToWrite } from '../../src/io/safetensors.js';
import { MemoryByteSink } from '../../src/io/byte-source.js';
import { Violation } from '../outcome.js';
import type { Rng } from '../rng.js';
import type { FuzzTarget } from './target.js';

const DTYPES = Object.keys(DTYPE_BYTES) as StDtype[];

/** A ByteSource that reports any read outside [0, size) as a violation before delegating. */
export class CheckedSource implements ByteSource {
  readonly size: number;
  constructor(private readonly inner: ByteSource) {
    this.size = inner.size;
  }
  get name(): string {
    return this.inner.name;
  }
  close(): Promise<void> {
    return this.inner.close?.() ?? Promise.resolve();
  }
  read(offset: number, length: number): Promise<Uint8Array> {
    if (
      !Number.isSafeInteger(offset) ||
      !Number.isSafeInteger(length) ||
      offset < 0 ||
      length < 0 ||
      offset + length > this.size
    ) {
      throw new Violation(`read of ${length} bytes at ${offset} outside the ${this.size}-byte file`);
    }
    return this.inner.read(offset, length);
  }
}

/** A valid file with a few tensors of random dtypes and shapes. */
async function baseFile(rng: Rng): Promise<Uint8Array> {
  const tensors: TensorToWrite[] = [];
  const n = 1 + rng.int(5);
  for (let i = 0; i < n; i++) {
    const dtype = rng.pick(DTYPES);
    const shape = Array.from({ length: rng.int(4) }, () => rng.int(6));
    const len = shape.reduce((a, b) => a * b, 1) * DTYPE_BYTES[dtype];
    tensors.push({
      name: rng.chance(0.2) ? `weird "name" ${i} \u00e9\u4e2d` : `layer.${i}.weight`,
      dtype,
      shape,
      data: rng.bytes(len),
    });
  }
  const sink = new MemoryByteSink('base.safetensors');
  await writeSafetensors(sink, tensors, rng.chance(0.5) ? { format: 'pt', note: 'x'.repeat(rng.int(40)) } : undefined);
  return sink.bytes();
}

function headerOf(file: Uint8Array): { json: Record<string, unknown>; data: Uint8Array } {
  const n = Number(new DataView(file.buffer, file.byteOffset, 8).getBigUint64(0, true));
  return { json: JSON.parse(new TextDecoder().decode(file.subarray(8, 8 + n))), data: file.subarray(8 + n) };
}

function assemble(headerText: string, data: Uint8Array, lengthField?: bigint): Uint8Array {
  const h = new TextEncoder().encode(headerText);
  const out = new Uint8Array(8 + h.byteLength + data.byteLength);
  new DataView(out.buffer).setBigUint64(0, lengthField ?? BigInt(h.byteLength), true);
  out.set(h, 8);
  out.set(data, 8 + h.byteLength);
  return out;
}

const STRANGE_NUMBERS = [
  -1,
  -8,
  0.5,
  1e20,
  2 ** 53,
  2 ** 53 + 2,
  Number.MAX_SAFE_INTEGER,
  2 ** 31,
  2 ** 32 + 4,
  1e308,
  -0,
  3.0000001,
];
const STRANGE_VALUES: unknown[] = [null, true, 'F32', '12', [], {}, [1, 2, 3], ...STRANGE_NUMBERS];

/** A structured change of one header entry. */
function mutateHeader(rng: Rng, json: Record<string, unknown>): string {
  const keys = Object.keys(json).filter((k) => k !== '__metadata__');
  const key = keys.length ? rng.pick(keys) : 'x';
  const entry = (json[key] ?? {}) as Record<string, unknown>;
  switch (rng.int(12)) {
    case 0: // offsets
      entry.data_offsets = [rng.pick(STRANGE_NUMBERS), rng.pick(STRANGE_NUMBERS)];
      break;
    case 1: // one offset off by a little
      entry.data_offsets = ((entry.data_offsets as number[]) ?? [0, 0]).map((o) => o + rng.int(9) - 4);
      break;
    case 2: // shape
      entry.shape = rng.chance(0.5)
        ? Array.from({ length: rng.int(6) }, () => rng.pick([...STRANGE_NUMBERS, 0, 1, 3]))
        : rng.pick(STRANGE_VALUES);
      break;
    case 3: // dtype
      entry.dtype = rng.pick(['F8', 'f32', 'F32 ', '', 'I64', 'BOOL', 'BF16', 'U64', 'complex64', 7, null, 'F64']);
      break;
    case 4: // entry replaced
      json[key] = rng.pick(STRANGE_VALUES);
      break;
    case 5: // fields removed
      delete entry[rng.pick(['dtype', 'shape', 'data_offsets'])];
      break;
    case 6: // metadata
      json.__metadata__ = rng.pick([{ a: 1 }, 'text', [], { nested: { x: 'y' } }, null, { k: 'v' }]);
      break;
    case 7: // overlapping copy of another tensor
      json[`${key}.copy`] = { ...entry };
      break;
    case 8: {
      // deep nesting
      const depth = rng.pick([10, 1000, 100000]);
      return `{${JSON.stringify(key)}: ${'['.repeat(depth)}${']'.repeat(depth)}}`;
    }
    case 9: {
      // duplicate keys (text level)
      const text = JSON.stringify(json);
      return text.replace(
        /^\{/,
        `{${JSON.stringify(key)}: ${JSON.stringify({ dtype: 'F32', shape: [1], data_offsets: [0, 4] })},`,
      );
    }
    case 10: // empty name, __metadata__ as a tensor
      json[rng.pick(['', '__metadata__', ' '])] = { dtype: 'F32', shape: [1], data_offsets: [0, 4] };
      break;
    default: // many tensors
      for (let i = 0; i < 50; i++)
        json[`t${i}`] = { dtype: 'U8', shape: [rng.int(3)], data_offsets: [i, i + rng.int(3)] };
  }
  if (typeof json[key] === 'object' && json[key] !== null && !Array.isArray(json[key])) json[key] = entry;
  return JSON.stringify(json);
}

const GARBAGE = [
  '',
  '{',
  '[]',
  'null',
  '"x"',
  '{"a": }',
  '\u0000\u0001',
  '{"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}} trailing',
  '\ufeff{}',
  '{"__proto__": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}',
];

/** One mutated file. */
async function mutated(rng: Rng): Promise<Uint8Array> {
  const file = await baseFile(rng);
  const { json, data } = headerOf(file);
  switch (rng.int(9)) {
    case 0: {
      // bit flips: mostly in the header text, sometimes in the length field or the data
      const out = file.slice();
      const headerEnd = out.byteLength - data.byteLength;
      for (let k = 1 + rng.int(4); k > 0; k--) {
        const at = rng.chance(0.15)
          ? rng.int(8)
          : rng.chance(0.8)
            ? 8 + rng.int(Math.max(1, headerEnd - 8))
            : rng.int(out.byteLength);
        out[Math.min(at, out.byteLength - 1)] ^= 1 << rng.int(8);
      }
      return out;
    }
    case 1: // truncation
      return file.slice(0, rng.int(file.byteLength));
    case 2: // the length field
      return assemble(
        JSON.stringify(json),
        data,
        BigInt(rng.pick([0, 1, 7, 2 ** 32, 100_000_001, 2 ** 53, 2 ** 63])) + BigInt(rng.int(3)),
      );
    case 3: // JSON garbage
      return assemble(rng.pick(GARBAGE), data);
    case 4: // random bytes as the whole file
      return rng.bytes(rng.int(64));
    default: // structured header change, data possibly shortened
      return assemble(mutateHeader(rng, json), rng.chance(0.3) ? data.subarray(0, rng.int(data.byteLength + 1)) : data);
  }
}

export const safetensorsTarget: FuzzTarget<undefined> = {
  name: 'safetensors',
  share: 0.45,
  async setup() {
    return undefined;
  },
  async run(_ctx, rng) {
    const bytes = await mutated(rng);
    const f = await SafetensorsFile.open(new CheckedSource(new MemoryByteSource(bytes, 'fuzz.safetensors')));
    for (const k of f.keys()) {
      const info = f.info(k);
      const n = info.shape.reduce((a, b) => a * b, 1);
      if (info.byteLength !== n * DTYPE_BYTES[info.dtype])
        throw new Violation(`tensor "${k}" accepted with ${info.byteLength} bytes for [${info.shape}] ${info.dtype}`);
      if (info.start < 8 || info.start + info.byteLength > bytes.byteLength)
        throw new Violation(`tensor "${k}" accepted outside the file`);
      const values =
        ['F64', 'F32', 'F16', 'BF16'].includes(info.dtype) || rng.chance(0.5)
          ? await f.readFloat32(k)
          : await f.readInt32(k);
      if (values.length !== n)
        throw new Violation(`tensor "${k}" decoded to ${values.length} values, shape [${info.shape}] has ${n}`);
    }
    await f.close();
  },
};
