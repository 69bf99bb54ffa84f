/**
 * A weight: host-side values in the tfjs layout (Float32Array, or float16 bits kept as
 * Uint16Array to halve host memory) plus an optional resident backend tensor.
 *
 * Resident mode uploads every weight once. Streaming mode uploads a weight each time
 * `tensor()` is called, inside the caller's `tf.tidy`, so it is freed when the block that
 * used it finishes: the backend holds one block's weights at a time. Trainable mode holds the
 * weight in a `tf.Variable` that optimisers update in place (gradients flow to it).
 */
import * as tf from '@tensorflow/tfjs-core';
import { f16ToF32, f32ToF16, type HostValues } from '../io/dtypes.js';
import { markWeight, newWeightKey, releaseWeightKey } from '../backend/packed-weights.js';
import { uploadWeight } from '../backend/weight-upload.js';

export type { HostValues } from '../io/dtypes.js';

/** How a PyTorch weight is rearranged for tfjs. */
export type Layout =
  | 'none'
  /** torch Linear [out, in] → [in, out] (so y = x·W, no transposed matmul). */
  | 'linear'
  /** torch Conv2d [out, in, kh, kw] → [kh, kw, in, out] (tfjs NHWC filter). */
  | 'conv2d'
  /** torch 1×1 Conv2d [out, in, 1, 1] stored as a Linear [in, out]. */
  | 'conv1x1-as-linear';

export type Residency = 'resident' | 'stream';

function transposeHost<T extends HostValues>(src: T, rows: number, cols: number): T {
  const out = new (src.constructor as new (n: number) => T)(src.length);
  for (let r = 0; r < rows; r++) {
    const base = r * cols;
    for (let c = 0; c < cols; c++) out[c * rows + r] = src[base + c];
  }
  return out;
}

/** [kh, kw, I, O] → torch [O, I, kh, kw]. */
function hwioToConv<T extends HostValues>(src: T, o: number, i: number, kh: number, kw: number): T {
  const out = new (src.constructor as new (n: number) => T)(src.length);
  for (let a = 0; a < o; a++)
    for (let b = 0; b < i; b++)
      for (let y = 0; y < kh; y++)
        for (let x = 0; x < kw; x++) out[((a * i + b) * kh + y) * kw + x] = src[((y * kw + x) * i + b) * o + a];
  return out;
}

/** torch [O, I, kh, kw] → [kh, kw, I, O]. */
function convToHwio<T extends HostValues>(src: T, o: number, i: number, kh: number, kw: number): T {
  const out = new (src.constructor as new (n: number) => T)(src.length);
  for (let a = 0; a < o; a++)
    for (let b = 0; b < i; b++)
      for (let y = 0; y < kh; y++)
        for (let x = 0; x < kw; x++) out[((y * kw + x) * i + b) * o + a] = src[((a * i + b) * kh + y) * kw + x];
  return out;
}

export function tfShapeOf(torchShape: readonly number[], layout: Layout): number[] {
  switch (layout) {
    case 'none':
      return [...torchShape];
    case 'linear':
      return [torchShape[1], torchShape[0]];
    case 'conv2d':
      return [torchShape[2], torchShape[3], torchShape[1], torchShape[0]];
    case 'conv1x1-as-linear':
      return [torchShape[1], torchShape[0]];
  }
}

let variableCounter = 0;

export class Param {
  private host?: HostValues;
  private resident?: tf.Tensor;
  private variable?: tf.Variable;
  private residency: Residency = 'resident';
  private derivedCache = new Map<string, tf.Tensor>();
  /** Keys under which a backend may keep this weight (and what is derived from it) packed; -1 until first used. */
  private packKey = -1;
  private derivedKeys = new Map<string, number>();
  /** Shape in the tfjs layout. */
  readonly shape: readonly number[];

  /** @param torchShape shape of the tensor in the checkpoint (PyTorch layout). */
  constructor(
    readonly torchShape: readonly number[],
    readonly layout: Layout = 'none',
  ) {
    this.shape = tfShapeOf(torchShape, layout);
  }

  get size(): number {
    return this.torchShape.reduce((a, b) => a * b, 1);
  }

  get isLoaded(): boolean {
    return this.host !== undefined || this.resident !== undefined || this.variable !== undefined;
  }

  /** Whether the weight is a trainable variable (see `setTrainable`). */
  get trainable(): boolean {
    return this.variable !== undefined;
  }

  /** The variable of a trainable weight (optimisers update it in place). */
  get trainableVariable(): tf.Variable | undefined {
    return this.variable;
  }

  /**
   * Makes the weight a float32 `tf.Variable` (resident; gradients flow to it and `tensor()`
   * returns it) or turns it back into a host copy holding the trained values. `name` must be
   * unique among live variables (default: a fresh one).
   */
  setTrainable(on: boolean, name?: string): void {
    if (on === this.trainable) return;
    this.valuesChanged();
    if (on) {
      const init = this.values();
      this.dropBackend();
      this.host = undefined;
      this.variable = tf.variable(
        tf.tensor(init, this.shape as number[], 'float32'),
        true,
        name ?? `ptp_param_${variableCounter++}`,
      );
      return;
    }
    const values = this.variable!.dataSync() as Float32Array;
    this.variable!.dispose();
    this.variable = undefined;
    this.host = Float32Array.from(values);
    if (this.residency === 'resident') this.upload();
  }

  /** Sets the values from PyTorch-layout data (float32 values or float16 bits). */
  setTorchValues(values: HostValues): void {
    if (values.length !== this.size) {
      throw new Error(`expected ${this.size} values for shape [${this.torchShape.join(', ')}], got ${values.length}`);
    }
    const s = this.torchShape;
    let v: HostValues = values;
    if (this.layout === 'linear') v = transposeHost(values, s[0], s[1]);
    else if (this.layout === 'conv2d') v = convToHwio(values, s[0], s[1], s[2], s[3]);
    else if (this.layout === 'conv1x1-as-linear') v = transposeHost(values, s[0], s[1]);
    this.valuesChanged();
    if (this.variable) {
      const t = tf.tensor(v instanceof Float32Array ? v : f16ToF32(v), this.shape as number[], 'float32');
      this.variable.assign(t);
      t.dispose();
      return;
    }
    this.dropBackend();
    this.host = v;
    if (this.residency === 'resident') this.upload();
  }

  /** Float32 values in the tfjs layout (host copy, upcast from float16 when needed, or the variable's). */
  values(): Float32Array {
    if (this.variable) return this.variable.dataSync() as Float32Array;
    if (!this.host) throw new Error('weight not loaded');
    return this.host instanceof Float32Array ? this.host : f16ToF32(this.host);
  }

  /** Float32 values in the PyTorch layout of the checkpoint (for saving). */
  torchValues(): Float32Array {
    const v = this.values();
    const s = this.torchShape;
    if (this.layout === 'linear' || this.layout === 'conv1x1-as-linear') return transposeHost(v, s[1], s[0]);
    if (this.layout === 'conv2d') return hwioToConv(v, s[0], s[1], s[2], s[3]);
    return v;
  }

  /**
   * Converts the host copy to float16 bits (half the host memory; values rounded to fp16, as an
   * fp16 weights file holds them) or back to float32. Resident tensors are refreshed.
   */
  setHostPrecision(precision: 'float16' | 'float32'): void {
    if (!this.host) return;
    const isHalf = this.host instanceof Uint16Array;
    if ((precision === 'float16') === isHalf) return;
    this.valuesChanged();
    this.host = precision === 'float16' ? f32ToF16(this.host) : f16ToF32(this.host as Uint16Array);
    if (this.resident) {
      this.dropBackend();
      this.upload();
    }
  }

  /** Switches between resident and streamed storage (trainable weights stay variables). */
  setResidency(r: Residency): void {
    this.residency = r;
    if (this.variable) return;
    if (r === 'resident') {
      if (this.host) this.upload();
    } else {
      this.dropBackend();
    }
  }

  private upload(): void {
    if (!this.host || this.resident) return;
    this.resident = tf.keep(this.markedUpload());
  }

  /** The host values as a new backend tensor, marked as this weight (backend/packed-weights.ts). */
  private markedUpload(): tf.Tensor {
    if (!this.host) throw new Error('weight not loaded');
    if (this.packKey < 0) this.packKey = newWeightKey();
    return markWeight(uploadWeight(this.host, this.shape as number[]), this.packKey);
  }

  /** `t`, derived from this weight under `key`, marked as a weight of its own. */
  private markDerived<T extends tf.Tensor>(key: string, t: T): T {
    let k = this.derivedKeys.get(key);
    if (k === undefined) this.derivedKeys.set(key, (k = newWeightKey()));
    return markWeight(t, k);
  }

  /** The values changed (or go away): what a backend packed from them is stale. */
  private valuesChanged(): void {
    if (this.packKey >= 0) releaseWeightKey(this.packKey);
    for (const k of this.derivedKeys.values()) releaseWeightKey(k);
    this.packKey = -1;
    this.derivedKeys.clear();
  }

  private dropBackend(): void {
    this.resident?.dispose();
    this.resident = undefined;
    for (const t of this.derivedCache.values()) t.dispose();
    this.derivedCache.clear();
  }

  /**
   * The weight as a backend tensor. Resident: the shared tensor (do not dispose). Streaming: a
   * fresh upload owned by the caller's tidy scope.
   */
  tensor(): tf.Tensor {
    if (this.variable) return this.variable;
    if (this.resident) return this.resident;
    if (!this.host) throw new Error('weight not loaded');
    return this.markedUpload();
  }

  /**
   * A tensor computed from this weight (e.g. a per-head slice), cached while resident and
   * recomputed per call while streaming.
   */
  derived(key: string, make: (w: tf.Tensor) => tf.Tensor): tf.Tensor {
    if (this.variable) return make(this.variable);
    if (!this.resident) return this.markDerived(key, make(this.tensor()));
    let t = this.derivedCache.get(key);
    if (!t) {
      t = tf.keep(
        this.markDerived(
          key,
          tf.tidy(() => make(this.resident!)),
        ),
      );
      this.derivedCache.set(key, t);
    }
    return t;
  }

  /** Frees backend and host memory. */
  dispose(): void {
    this.valuesChanged();
    this.dropBackend();
    this.variable?.dispose();
    this.variable = undefined;
    this.host = undefined;
  }
}
