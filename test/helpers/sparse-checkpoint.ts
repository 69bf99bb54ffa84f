/** Sparse fake single-file checkpoints (real keys and shapes, zeros except marked values) and reading their conversions back. */
import { open } from 'node:fs/promises';
import type { StDtype } from '../../src/io/dtypes.js';
import { f16ToF32, f32ToF16 } from '../../src/io/dtypes.js';
import type { ModelDir } from '../../src/io/model-dir.js';
import { rawSafetensors } from './tmp.js';
import { convertCheckpoint, type ConvertOptions, type ConvertResult } from '../../weights-tools/convert.js';

export interface FakeTensor {
  name: string;
  shape: number[];
  dtype: StDtype;
}

export const numel = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);
const BYTES: Partial<Record<StDtype, number>> = { F32: 4, F16: 2, BF16: 2, I64: 8 };

/** Values written at the head and tail of tensor number `i` (all exact in float16). */
export function pattern(i: number): { head: number[]; tail: number[] } {
  return {
    head: [(i % 500) + 0.5, -((i % 300) + 0.25), 0.125 * ((i % 7) + 1), 1000 + (i % 900)],
    tail: [-(i % 97) - 0.75, 3, (i % 11) * 0.0625, -2048],
  };
}

export function encode(values: number[], dtype: StDtype): Uint8Array {
  if (dtype === 'F32') return new Uint8Array(Float32Array.from(values).buffer);
  if (dtype === 'F16') return new Uint8Array(f32ToF16(values).buffer);
  if (dtype === 'BF16')
    return new Uint8Array(Uint16Array.from(new Uint32Array(Float32Array.from(values).buffer), (u) => u >>> 16).buffer);
  throw new Error(dtype);
}

/**
 * Writes a sparse safetensors file: header, then ftruncate to full size (zeros), then the head/tail
 * patterns of the tensors whose index is in `marked`, then any `extra` values (at an element offset
 * of a named tensor).
 */
export async function writeSparse(
  path: string,
  tensors: FakeTensor[],
  marked: Set<number>,
  extra: readonly { name: string; at: number; values: number[] }[] = [],
): Promise<void> {
  const header: Record<string, unknown> = {};
  let off = 0;
  for (const t of tensors) {
    const len = numel(t.shape) * BYTES[t.dtype]!;
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [off, off + len] };
    off += len;
  }
  const head = rawSafetensors(header);
  const fh = await open(path, 'w');
  try {
    await fh.write(head, 0, head.length, 0);
    await fh.truncate(head.length + off);
    for (const [i, t] of tensors.entries()) {
      if (!marked.has(i) || t.dtype === 'I64') continue;
      const start = head.length + (header[t.name] as { data_offsets: number[] }).data_offsets[0];
      const n = numel(t.shape);
      const p = pattern(i);
      const b = BYTES[t.dtype]!;
      const h = encode(p.head.slice(0, n), t.dtype);
      await fh.write(h, 0, h.length, start);
      if (n >= 8) {
        const tl = encode(p.tail, t.dtype);
        await fh.write(tl, 0, tl.length, start + (n - 4) * b);
      }
    }
    for (const x of extra) {
      const t = tensors.find((u) => u.name === x.name)!;
      const bytes = encode(x.values, t.dtype);
      await fh.write(
        bytes,
        0,
        bytes.length,
        head.length + (header[t.name] as { data_offsets: number[] }).data_offsets[0] + x.at * BYTES[t.dtype]!,
      );
    }
  } finally {
    await fh.close();
  }
}

/** First and last 4 values of a converted tensor, read by offset (not the whole tensor). */
export async function ends(dir: ModelDir, c: string, key: string): Promise<{ head: number[]; tail: number[] }> {
  const file = dir.weights(c as 'unet').files.find((f) => f.has(key))!;
  const info = file.info(key);
  const b = info.dtype === 'F16' ? 2 : 4;
  const n = info.byteLength / b;
  const dec = (bytes: Uint8Array) => [
    ...(b === 2 ? f16ToF32(new Uint16Array(bytes.slice().buffer)) : new Float32Array(bytes.slice().buffer)),
  ];
  const k = Math.min(4, n);
  return {
    head: dec(await file.source.read(info.start, k * b)),
    tail: n >= 8 ? dec(await file.source.read(info.start + (n - 4) * b, 4 * b)) : [],
  };
}

/** `convertCheckpoint` with its wall time and the growth of the process RSS high-water mark (sampled every 20 ms). */
export async function convertMeasured(
  input: string,
  out: string,
  opts: ConvertOptions,
): Promise<{ result: ConvertResult; seconds: number; peakRssGrowth: number }> {
  const rss0 = process.memoryUsage().rss;
  let peak = rss0;
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
  const t0 = Date.now();
  try {
    const result = await convertCheckpoint(input, out, opts);
    return { result, seconds: (Date.now() - t0) / 1000, peakRssGrowth: peak - rss0 };
  } finally {
    clearInterval(timer);
  }
}
