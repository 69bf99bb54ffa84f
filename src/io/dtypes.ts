/** safetensors dtypes and conversions between them and float32. */

export type StDtype = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'BOOL';

/** Host copy of a float tensor: float32 values, or float16 bits kept as Uint16Array (half the memory). */
export type HostValues = Float32Array | Uint16Array;

export const DTYPE_BYTES: Readonly<Record<StDtype, number>> = {
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U8: 1,
  BOOL: 1,
};

export function isStDtype(s: unknown): s is StDtype {
  return typeof s === 'string' && Object.prototype.hasOwnProperty.call(DTYPE_BYTES, s);
}

let f16Table: Float32Array | undefined;

/** Lookup table from every float16 bit pattern to its float32 value. */
function halfTable(): Float32Array {
  if (f16Table) return f16Table;
  const t = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const s = h & 0x8000 ? -1 : 1;
    const e = (h >> 10) & 0x1f;
    const m = h & 0x3ff;
    if (e === 0) t[h] = s * m * 2 ** -24;
    else if (e === 31) t[h] = m ? NaN : s * Infinity;
    else t[h] = s * (1 + m / 1024) * 2 ** (e - 15);
  }
  return (f16Table = t);
}

/** float16 bits → float32 values. */
export function f16ToF32(src: Uint16Array, dst = new Float32Array(src.length)): Float32Array {
  const t = halfTable();
  for (let i = 0; i < src.length; i++) dst[i] = t[src[i]];
  return dst;
}

/** bfloat16 bits → float32 values (bf16 is the top half of a float32). */
export function bf16ToF32(src: Uint16Array, dst = new Float32Array(src.length)): Float32Array {
  const u = new Uint32Array(dst.buffer, dst.byteOffset, dst.length);
  for (let i = 0; i < src.length; i++) u[i] = src[i] << 16;
  return dst;
}

const f32Scratch = new Float32Array(1);
const u32Scratch = new Uint32Array(f32Scratch.buffer);

/** float32 bit pattern → float16 bits, round to nearest even (as numpy/torch `.half()`). */
function f32BitsToF16Bits(x: number): number {
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    let r = mant >> shift;
    const rem = mant & ((1 << shift) - 1);
    if (rem > half || (rem === half && r & 1)) r++;
    return sign | r;
  }
  let r = (e << 10) | (mant >> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && r & 1)) r++;
  return sign | r;
}

/** One float32 → float16 bits, round to nearest even (as numpy/torch `.half()`). */
export function f32ToF16Bits(v: number): number {
  f32Scratch[0] = v;
  return f32BitsToF16Bits(u32Scratch[0]);
}

/** float32 values → float16 bits. */
export function f32ToF16(src: ArrayLike<number>): Uint16Array {
  const out = new Uint16Array(src.length);
  if (src instanceof Float32Array && src.byteOffset % 4 === 0) {
    const bits = new Uint32Array(src.buffer, src.byteOffset, src.length);
    for (let i = 0; i < bits.length; i++) out[i] = f32BitsToF16Bits(bits[i]);
    return out;
  }
  for (let i = 0; i < src.length; i++) out[i] = f32ToF16Bits(src[i]);
  return out;
}

/** Copies `bytes` into a fresh, aligned buffer (file offsets need not be aligned). */
function aligned(bytes: Uint8Array): ArrayBuffer {
  return bytes.slice().buffer as ArrayBuffer;
}

/** Decodes little-endian raw tensor bytes of any supported dtype to float32. */
export function decodeToFloat32(bytes: Uint8Array, dtype: StDtype): Float32Array {
  const buf = aligned(bytes);
  switch (dtype) {
    case 'F32':
      return new Float32Array(buf);
    case 'F16':
      return f16ToF32(new Uint16Array(buf));
    case 'BF16':
      return bf16ToF32(new Uint16Array(buf));
    case 'F64':
      return Float32Array.from(new Float64Array(buf));
    case 'I64':
      return Float32Array.from(new BigInt64Array(buf), (v) => Number(v));
    case 'I32':
      return Float32Array.from(new Int32Array(buf));
    case 'I16':
      return Float32Array.from(new Int16Array(buf));
    case 'I8':
      return Float32Array.from(new Int8Array(buf));
    case 'U8':
    case 'BOOL':
      return Float32Array.from(new Uint8Array(buf));
  }
}

/** Decodes integer tensor bytes (I64/I32/I16/I8/U8/BOOL) to int32; I64 values must fit. */
export function decodeToInt32(bytes: Uint8Array, dtype: StDtype, what = 'tensor'): Int32Array {
  const buf = aligned(bytes);
  switch (dtype) {
    case 'I64': {
      const src = new BigInt64Array(buf);
      const out = new Int32Array(src.length);
      for (let i = 0; i < src.length; i++) {
        const v = src[i];
        if (v > 2147483647n || v < -2147483648n) throw new Error(`${what}: int64 value ${v} does not fit in int32`);
        out[i] = Number(v);
      }
      return out;
    }
    case 'I32':
      return new Int32Array(buf);
    case 'I16':
      return Int32Array.from(new Int16Array(buf));
    case 'I8':
      return Int32Array.from(new Int8Array(buf));
    case 'U8':
    case 'BOOL':
      return Int32Array.from(new Uint8Array(buf));
    default:
      throw new Error(`${what}: dtype ${dtype} is not an integer type`);
  }
}

/**
 * Re-encodes float tensor bytes (F32/F16/BF16/F64) as F32 or F16; the input is returned as is
 * when the dtypes match. `what` names the tensor in errors.
 */
export function castFloatBytes(bytes: Uint8Array, from: StDtype, to: 'F32' | 'F16', what = 'tensor'): Uint8Array {
  if (from === to) return bytes;
  if (from !== 'F32' && from !== 'F16' && from !== 'BF16' && from !== 'F64')
    throw new Error(`${what}: dtype ${from} is not a float type`);
  const f32 = decodeToFloat32(bytes, from);
  const out = to === 'F32' ? f32 : f32ToF16(f32);
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
}
