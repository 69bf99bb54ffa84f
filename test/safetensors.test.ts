/** safetensors reader/writer: round trips, every malformed input, and a sparse > 2 GiB file. */
import { expect } from 'chai';
import { open, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { MemoryByteSink, MemoryByteSource } from '../src/io/byte-source.js';
import { castFloatBytes, f16ToF32, f32ToF16, f32ToF16Bits } from '../src/io/dtypes.js';
import {
  floatTensor,
  MAX_HEADER_BYTES,
  SafetensorsFile,
  writeSafetensors,
  type TensorToWrite,
} from '../src/io/safetensors.js';
import { FileByteSink, FileByteSource } from '../src/node/file-source.js';
import { rawSafetensors, tempDirForSuite } from './helpers/tmp.js';

const NAME = 'bad.safetensors';
const openMem = (bytes: Uint8Array, name = NAME) => SafetensorsFile.open(new MemoryByteSource(bytes, name));
const bytesOf = (a: ArrayBufferView) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

/** Expects opening `bytes` to fail with a message that starts with the file name and matches `re`. */
async function expectOpenError(bytes: Uint8Array, re: RegExp): Promise<string> {
  try {
    await openMem(bytes);
  } catch (e) {
    const msg = (e as Error).message;
    expect(msg.startsWith(`${NAME}: `), msg).to.equal(true);
    expect(msg).to.match(re);
    return msg;
  }
  throw new Error(`expected opening to fail with ${re}`);
}

async function roundTrip(tensors: TensorToWrite[], metadata?: Record<string, string>): Promise<SafetensorsFile> {
  const sink = new MemoryByteSink('rt.safetensors');
  await writeSafetensors(sink, tensors, metadata);
  return openMem(sink.bytes(), 'rt.safetensors');
}

describe('safetensors: round trip', () => {
  it('F32 and F16 tensors, metadata, shapes, header padding', async () => {
    const a = Float32Array.from({ length: 24 }, (_, i) => (i - 12) * 0.37);
    const b = Float32Array.from([0, 1, -2, 0.5, 65504, -0.25]);
    const f = await roundTrip(
      [
        floatTensor('a', [2, 3, 4], a),
        floatTensor('b.half', [6], b, 'F16'),
        floatTensor('empty', [0, 3], new Float32Array(0)),
      ],
      {
        format: 'pt',
        note: 'é ✓',
      },
    );
    expect(f.keys()).to.deep.equal(['a', 'b.half', 'empty']);
    expect(f.metadata).to.deep.equal({ format: 'pt', note: 'é ✓' });
    expect(f.info('a')).to.include({ dtype: 'F32', byteLength: 96 });
    expect(f.info('a').shape).to.deep.equal([2, 3, 4]);
    expect(f.info('b.half').dtype).to.equal('F16');
    expect(f.dataStart % 8).to.equal(0);
    expect([...(await f.readFloat32('a'))]).to.deep.equal([...a]);
    expect([...(await f.readFloat32('b.half'))]).to.deep.equal([...b]);
    expect(await f.readFloat32('empty')).to.have.length(0);
  });

  it('no __metadata__ when none is given', async () => {
    const sink = new MemoryByteSink();
    await writeSafetensors(sink, [floatTensor('x', [1], Float32Array.of(1))]);
    const bytes = sink.bytes();
    const len = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    expect(new TextDecoder().decode(bytes.subarray(8, 8 + len))).to.not.contain('__metadata__');
    expect((await openMem(bytes)).metadata).to.deep.equal({});
  });

  it('float16 encoding rounds to nearest even like torch .half()', () => {
    const cases: [number, number][] = [
      [1, 0x3c00],
      [-2, 0xc000],
      [1 / 3, 0x3555],
      [65504, 0x7bff],
      [65520, 0x7c00],
      [1e6, 0x7c00],
      [-Infinity, 0xfc00],
      [2 ** -24, 0x0001],
      [2 ** -25, 0x0000],
      [1.5 * 2 ** -25, 0x0001],
      [2 ** -14, 0x0400],
      [1 + 2 ** -11, 0x3c00],
      [1 + 3 * 2 ** -11, 0x3c02],
      [-0, 0x8000],
      [0.1, 0x2e66],
    ];
    for (const [v, bits] of cases) expect(f32ToF16Bits(v), `f16(${v})`).to.equal(bits);
    expect(f32ToF16Bits(NaN) & 0x7c00).to.equal(0x7c00);
    expect(f32ToF16Bits(NaN) & 0x3ff).to.not.equal(0);
    // The typed-array fast path agrees with the scalar one, also for an unaligned copy.
    const vals = Float32Array.from(cases.map(([v]) => v));
    expect([...f32ToF16(vals)]).to.deep.equal(cases.map(([, b]) => b));
    expect([...f32ToF16([...vals])]).to.deep.equal(cases.map(([, b]) => b));
    const back = f16ToF32(Uint16Array.from([0x3c00, 0x0001, 0x7bff, 0xfc00, 0x8000]));
    expect([...back]).to.deep.equal([1, 2 ** -24, 65504, -Infinity, -0]);
  });

  it('decodes BF16 to float32', async () => {
    const bits = Uint16Array.from([0x3f80, 0xc020, 0x4049, 0x0000, 0x8000, 0x7f80]);
    const f = await openMem(
      rawSafetensors({ w: { dtype: 'BF16', shape: [2, 3], data_offsets: [0, 12] } }, bytesOf(bits)),
    );
    expect([...(await f.readFloat32('w'))]).to.deep.equal([1, -2.5, 3.140625, 0, -0, Infinity]);
  });

  it('integer tensors: I64, I32, U8, BOOL as int32 and float32', async () => {
    const i64 = BigInt64Array.from([0n, -5n, 2147483647n, -2147483648n]);
    const i32 = Int32Array.from([7, -8, 123456789]);
    const u8 = Uint8Array.from([0, 255, 17]);
    const bool = Uint8Array.from([1, 0]);
    const f = await roundTrip([
      { name: 'i64', dtype: 'I64', shape: [4], data: bytesOf(i64) },
      { name: 'i32', dtype: 'I32', shape: [3], data: async () => bytesOf(i32) },
      { name: 'u8', dtype: 'U8', shape: [3], data: u8 },
      { name: 'bool', dtype: 'BOOL', shape: [2], data: bool },
    ]);
    expect([...(await f.readInt32('i64'))]).to.deep.equal([0, -5, 2147483647, -2147483648]);
    expect([...(await f.readInt32('i32'))]).to.deep.equal([...i32]);
    expect([...(await f.readInt32('u8'))]).to.deep.equal([0, 255, 17]);
    expect([...(await f.readInt32('bool'))]).to.deep.equal([1, 0]);
    expect([...(await f.readFloat32('i64'))]).to.deep.equal([0, -5, Math.fround(2147483647), -2147483648]);
    expect([...(await f.readFloat32('u8'))]).to.deep.equal([0, 255, 17]);
  });

  it('an I64 value outside int32 is an error naming file and tensor', async () => {
    const f = await roundTrip([{ name: 'ids', dtype: 'I64', shape: [1], data: bytesOf(BigInt64Array.of(2n ** 40n)) }]);
    await expectReject(
      f.readInt32('ids'),
      /^rt\.safetensors: tensor "ids": int64 value 1099511627776 does not fit in int32$/,
    );
  });

  it('castFloatBytes converts F32/F16/BF16 to F32 or F16 and refuses integers', () => {
    const f32 = Float32Array.of(1.5, -0.1, 3);
    const h = castFloatBytes(bytesOf(f32), 'F32', 'F16');
    expect([...new Uint16Array(h.slice().buffer)]).to.deep.equal([...f32ToF16(f32)]);
    const back = castFloatBytes(h, 'F16', 'F32');
    expect([...new Float32Array(back.slice().buffer)]).to.deep.equal([1.5, f16ToF32(f32ToF16([-0.1]))[0], 3]);
    const same = bytesOf(f32);
    expect(castFloatBytes(same, 'F32', 'F32')).to.equal(same);
    expect(() => castFloatBytes(new Uint8Array(8), 'I64', 'F16', 'x.safetensors: tensor "ids"')).to.throw(
      'x.safetensors: tensor "ids": dtype I64 is not a float type',
    );
  });

  it('writer: lazy producers run in order, one at a time, and the sink is closed', async () => {
    const log: string[] = [];
    let active = 0;
    const lazy = (name: string): TensorToWrite => ({
      name,
      dtype: 'F32',
      shape: [2],
      data: async () => {
        expect(++active).to.equal(1);
        log.push(name);
        await new Promise((r) => setTimeout(r, 1));
        active--;
        return bytesOf(Float32Array.of(1, 2));
      },
    });
    let closed = false;
    const sink = Object.assign(new MemoryByteSink(), { close: async () => void (closed = true) });
    await writeSafetensors(sink, [lazy('t0'), lazy('t1'), lazy('t2')]);
    expect(log).to.deep.equal(['t0', 't1', 't2']);
    expect(closed).to.equal(true);
  });

  it('writer errors name the output and the tensor; the sink is closed on error', async () => {
    let closed = false;
    const sink = Object.assign(new MemoryByteSink('out.safetensors'), { close: async () => void (closed = true) });
    await expectReject(
      writeSafetensors(sink, [{ name: 'w', dtype: 'F32', shape: [2, 2], data: new Uint8Array(12) }]),
      /^out\.safetensors: tensor "w" has 12 bytes, shape \[2, 2\] × F32 needs 16$/,
    );
    expect(closed).to.equal(true);
    await expectReject(
      writeSafetensors(new MemoryByteSink(), [
        floatTensor('a', [1], Float32Array.of(1)),
        floatTensor('a', [1], Float32Array.of(1)),
      ]),
      /duplicate tensor name "a"/,
    );
    await expectReject(
      writeSafetensors(new MemoryByteSink(), [floatTensor('__metadata__', [1], Float32Array.of(1))]),
      /"__metadata__" is reserved/,
    );
    await expectReject(
      writeSafetensors(new MemoryByteSink(), [{ name: 'n', dtype: 'F32', shape: [-1], data: new Uint8Array(0) }]),
      /tensor "n" has invalid shape \[-1\]/,
    );
  });
});

async function expectReject(p: Promise<unknown>, re: RegExp): Promise<void> {
  try {
    await p;
  } catch (e) {
    expect((e as Error).message).to.match(re);
    return;
  }
  throw new Error(`expected a rejection matching ${re}`);
}

describe('safetensors: malformed input (errors name the file and the tensor)', () => {
  const good = (extra: object = {}) => ({ a: { dtype: 'F32', shape: [2, 2], data_offsets: [0, 16] }, ...extra });

  it('file smaller than the 8-byte length field', async () => {
    await expectOpenError(new Uint8Array(5), /file is 5 bytes, too small for the 8-byte header length/);
  });

  it('truncated file: header intact, data cut short', async () => {
    const full = rawSafetensors(good(), new Uint8Array(16));
    await expectOpenError(
      full.subarray(0, full.length - 4),
      /tensor "a": data_offsets \[0, 16\] run past the end of the data \(12 bytes\); file truncated\?/,
    );
  });

  it('truncated file: cut inside the header', async () => {
    const full = rawSafetensors(good(), new Uint8Array(16));
    await expectOpenError(
      full.subarray(0, 20),
      /header length \d+ is larger than the file allows \(12 bytes after the length field\)/,
    );
  });

  it('header length lying (larger than the file)', async () => {
    await expectOpenError(
      rawSafetensors(good(), new Uint8Array(16), 5000),
      /header length 5000 is larger than the file allows/,
    );
  });

  it('header length above the 100 MB limit', async () => {
    await expectOpenError(
      rawSafetensors(good(), new Uint8Array(16), MAX_HEADER_BYTES + 1),
      /header length 100000001 exceeds the 100000000-byte limit/,
    );
  });

  it('header that is not JSON, not UTF-8, or not an object', async () => {
    await expectOpenError(rawSafetensors('{"a": {"dtype": "F32",', new Uint8Array(0)), /header is not valid JSON/);
    const bad = rawSafetensors('{"a":1}');
    bad[9] = 0xff;
    await expectOpenError(bad, /header is not valid UTF-8/);
    await expectOpenError(rawSafetensors('[1, 2]'), /header is not a JSON object/);
  });

  it('unknown dtype', async () => {
    await expectOpenError(
      rawSafetensors({ w: { dtype: 'F8_E4M3', shape: [2], data_offsets: [0, 2] } }, new Uint8Array(2)),
      /tensor "w": unknown dtype "F8_E4M3"/,
    );
  });

  it('a missing field is named as missing', async () => {
    await expectOpenError(
      rawSafetensors({ w: { shape: [1], data_offsets: [0, 4] } }, new Uint8Array(4)),
      /tensor "w": "dtype" is missing$/,
    );
    await expectOpenError(
      rawSafetensors({ w: { dtype: 'F32', data_offsets: [0, 4] } }, new Uint8Array(4)),
      /tensor "w": "shape" is missing$/,
    );
    await expectOpenError(
      rawSafetensors({ w: { dtype: 'F32', shape: [1] } }, new Uint8Array(4)),
      /tensor "w": "data_offsets" is missing$/,
    );
  });

  it('shape × dtype size different from the byte span', async () => {
    await expectOpenError(
      rawSafetensors({ w: { dtype: 'F32', shape: [2, 3], data_offsets: [0, 20] } }, new Uint8Array(24)),
      /tensor "w": shape \[2, 3\] × F32 \(4 bytes\) = 24 bytes, but data_offsets span 20/,
    );
  });

  it('offsets past the end of the data', async () => {
    await expectOpenError(
      rawSafetensors(good({ b: { dtype: 'F16', shape: [200], data_offsets: [16, 416] } }), new Uint8Array(32)),
      /tensor "b": data_offsets \[16, 416\] run past the end of the data \(32 bytes\)/,
    );
  });

  it('overlapping offsets', async () => {
    await expectOpenError(
      rawSafetensors(
        {
          a: { dtype: 'F32', shape: [4], data_offsets: [0, 16] },
          b: { dtype: 'F32', shape: [4], data_offsets: [8, 24] },
        },
        new Uint8Array(24),
      ),
      /tensors "a" \[0, 16\] and "b" \[8, 24\] overlap/,
    );
    // Empty tensors occupy no bytes and never overlap.
    const ok = await openMem(
      rawSafetensors(good({ e: { dtype: 'F32', shape: [0], data_offsets: [4, 4] } }), new Uint8Array(16)),
    );
    expect(ok.keys()).to.have.members(['a', 'e']);
  });

  it('end before begin', async () => {
    await expectOpenError(
      rawSafetensors({ w: { dtype: 'U8', shape: [0], data_offsets: [16, 8] } }, new Uint8Array(16)),
      /tensor "w": data_offsets \[16, 8\] end before begin/,
    );
  });

  it('malformed entries: not an object, bad shape, bad data_offsets', async () => {
    await expectOpenError(rawSafetensors({ w: [1, 2] }), /tensor "w": entry is not an object/);
    await expectOpenError(
      rawSafetensors({ w: { dtype: 'F32', shape: [2, -1], data_offsets: [0, 0] } }),
      /tensor "w": shape \[2,-1\] is not a list of non-negative integers/,
    );
    await expectOpenError(
      rawSafetensors({ w: { dtype: 'F32', shape: [1.5], data_offsets: [0, 0] } }),
      /tensor "w": shape \[1\.5\] is not a list/,
    );
    await expectOpenError(
      rawSafetensors({ w: { dtype: 'F32', shape: [1], data_offsets: [0] } }),
      /tensor "w": data_offsets \[0\] is not \[begin, end\]/,
    );
  });

  it('bad __metadata__', async () => {
    await expectOpenError(
      rawSafetensors(good({ __metadata__: ['x'] }), new Uint8Array(16)),
      /__metadata__ is not an object/,
    );
    await expectOpenError(
      rawSafetensors(good({ __metadata__: null }), new Uint8Array(16)),
      /__metadata__ is not an object/,
    );
    await expectOpenError(
      rawSafetensors(good({ __metadata__: { format: 'pt', step: 3 } }), new Uint8Array(16)),
      /__metadata__\.step is not a string/,
    );
  });

  it('a PyTorch pickle / zip checkpoint gets the out-of-scope message', async () => {
    const zip = Uint8Array.from([0x50, 0x4b, 0x03, 0x04, 0x14, 0x00, 0x08, 0x08, 0, 0, 0, 0]);
    await expectOpenError(
      zip,
      /PyTorch pickle checkpoint; pickle files .* are out of scope.*convert it to safetensors/i,
    );
    await expectOpenError(
      Uint8Array.from([0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20]),
      /PyTorch pickle checkpoint/,
    );
  });

  it('closes the source when opening fails (no leaked file handles)', async () => {
    let closed = 0;
    const src = Object.assign(new MemoryByteSource(rawSafetensors('not json'), NAME), {
      close: async () => void closed++,
    });
    await expectReject(SafetensorsFile.open(src), /header is not valid JSON/);
    expect(closed).to.equal(1);
  });

  it('asking for a tensor that is not there names file and key', async () => {
    const f = await openMem(rawSafetensors(good(), new Uint8Array(16)));
    expect(() => f.info('nope')).to.throw(`${NAME}: no tensor named "nope"`);
  });
});

describe('safetensors: files on disk', () => {
  const tmp = tempDirForSuite('st');

  it('writes with FileByteSink and reads back with FileByteSource; errors carry the path', async () => {
    const path = join(tmp(), 'rt.safetensors');
    await writeSafetensors(await FileByteSink.create(path), [floatTensor('w', [3], Float32Array.of(1, 2, 3), 'F16')], {
      k: 'v',
    });
    const f = await SafetensorsFile.open(await FileByteSource.open(path));
    expect([...(await f.readFloat32('w'))]).to.deep.equal([1, 2, 3]);
    expect(f.metadata).to.deep.equal({ k: 'v' });
    await f.close();
    const bad = join(tmp(), 'lying.safetensors');
    await writeFile(bad, rawSafetensors({ w: { dtype: 'F32', shape: [4], data_offsets: [0, 16] } }, new Uint8Array(8)));
    await expectReject(
      FileByteSource.open(bad).then((s) => SafetensorsFile.open(s)),
      new RegExp(`^${bad.replace(/[.]/g, '\\.')}: tensor "w": data_offsets \\[0, 16\\] run past the end`),
    );
    await expectReject(
      FileByteSource.open(join(tmp(), 'missing.safetensors')),
      /missing\.safetensors: cannot open \(ENOENT\)/,
    );
    await expectReject(FileByteSource.open(tmp()), /: not a regular file$/);
  });

  it('reads a tensor beyond 2 GiB of a 2.5 GiB sparse file lazily', async function () {
    this.timeout(60000);
    const path = join(tmp(), 'sparse.safetensors');
    const gap = 2 ** 31 + 1000; // the far tensor starts past the 2 GiB mark
    const far = Float32Array.of(3.5, -1.25, 1e-3, 42);
    const header = {
      __metadata__: { kind: 'sparse' },
      filler: { dtype: 'U8', shape: [gap], data_offsets: [0, gap] },
      far: { dtype: 'F32', shape: [2, 2], data_offsets: [gap, gap + 16] },
    };
    const head = rawSafetensors(header);
    const fh = await open(path, 'w');
    await fh.write(head, 0, head.length, 0);
    await fh.truncate(2.5 * 2 ** 30);
    await fh.write(bytesOf(far), 0, 16, head.length + gap);
    await fh.close();

    const rss0 = process.memoryUsage().rss;
    const src = await FileByteSource.open(path);
    expect(src.size).to.equal(2.5 * 2 ** 30);
    const f = await SafetensorsFile.open(src);
    expect(f.info('far').start).to.be.greaterThan(2 ** 31);
    expect(f.metadata).to.deep.equal({ kind: 'sparse' });
    expect([...(await f.readFloat32('far'))]).to.deep.equal([...far]);
    const tail = await src.read(src.size - 8, 8);
    expect([...tail]).to.deep.equal([0, 0, 0, 0, 0, 0, 0, 0]);
    expect(process.memoryUsage().rss - rss0, 'memory grew as if the file were loaded').to.be.lessThan(256 * 2 ** 20);
    await f.close();
  });
});
