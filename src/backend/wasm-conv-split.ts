/**
 * Convolutions with many input channels, split into channel chunks on tfjs-backend-wasm.
 *
 * XNNPACK's GEMM walks the whole reduction (kh·kw·Cin) for every tile of outputs without
 * blocking it, so once a tile's packed filter column (kh·kw·Cin × 8 floats) and input rows no
 * longer fit in L2 — the UNet's 3×3 convs with 1280–2560 input channels — it streams them from
 * memory and runs at a third of its usual rate. conv(x, w) = Σ_chunks conv(x[…, c], w[:, :, c, :]),
 * so the kernels below run the stock kernel on chunks of ≤ CHUNK_K / (kh·kw) input channels and
 * add the partial outputs (bias on the first chunk; only linear activations are split).
 */
import * as tf from '@tensorflow/tfjs-core';

/** Largest reduction length (kh·kw·Cin) run in one piece: 3×3 convs with ≤ 320 channels. */
const CHUNK_K = 9 * 320;
/**
 * Convs whose reduction is at most this are left alone: measured A/B (2 threads, weights
 * uploaded per call as when streamed), 3×3 convs with 960–2560 input channels ran 1.6–1.8×
 * faster split, 640 channels about the same; splitting also re-packs resident filters per call.
 */
const SPLIT_ABOVE_K = 9 * 640;

let enabled = true;
let installed = false;

/** Turns the splitting on or off (A/B measurements, tests); on by default once installed. */
export function setConvSplit(on: boolean): void {
  enabled = on;
}

type KernelArgs = {
  inputs: { [name: string]: tf.TensorInfo | undefined };
  attrs: tf.NamedAttrMap;
  backend: { disposeData(id: object): void };
};
type Kernel = (args: KernelArgs) => tf.TensorInfo;

/** Input-channel chunk sizes (multiples of 4 where possible) for a filter [kh, kw, cin, cout]. */
export function convChunks(filterShape: readonly number[]): number[] {
  const [kh, kw, cin] = filterShape;
  if (kh * kw * cin <= SPLIT_ABOVE_K) return [cin];
  const parts = Math.ceil((kh * kw * cin) / CHUNK_K);
  const size = Math.ceil(cin / parts / 4) * 4;
  const out: number[] = [];
  for (let c = 0; c < cin; c += size) out.push(Math.min(size, cin - c));
  return out;
}

function splitting(conv: Kernel, slice: Kernel, add: Kernel): Kernel {
  return (args) => {
    const { x, filter, bias, preluActivationWeights } = args.inputs;
    const attrs = args.attrs;
    const act = (attrs.activation as string | undefined) ?? 'linear';
    const chunks = convChunks(filter!.shape);
    const nhwc = attrs.dataFormat === undefined || attrs.dataFormat === 'NHWC';
    if (!enabled || chunks.length < 2 || act !== 'linear' || preluActivationWeights || !nhwc || x!.dtype !== 'float32')
      return conv(args);
    const { backend } = args;
    const [n, h, w] = x!.shape;
    const [kh, kw, , cout] = filter!.shape;
    let acc: tf.TensorInfo | undefined;
    let c0 = 0;
    for (const c of chunks) {
      const xs = slice({ inputs: { x }, attrs: { begin: [0, 0, 0, c0], size: [n, h, w, c] }, backend });
      const fs = slice({ inputs: { x: filter }, attrs: { begin: [0, 0, c0, 0], size: [kh, kw, c, cout] }, backend });
      const y = conv({ inputs: { x: xs, filter: fs, bias: acc ? undefined : bias }, attrs, backend });
      backend.disposeData(xs.dataId);
      backend.disposeData(fs.dataId);
      if (acc) {
        const sum = add({ inputs: { a: acc, b: y }, attrs: {}, backend });
        backend.disposeData(acc.dataId);
        backend.disposeData(y.dataId);
        acc = sum;
      } else {
        acc = y;
      }
      c0 += c;
    }
    return acc!;
  };
}

/** Wraps the active wasm backend's Conv2D and FusedConv2D kernels (idempotent). */
export function installConvSplit(): void {
  if (installed || tf.getBackend() !== 'wasm') return;
  const get = (name: string) => tf.getKernel(name, 'wasm');
  const slice = get('Slice');
  const add = get('Add');
  if (!slice || !add) return;
  for (const name of ['Conv2D', 'FusedConv2D']) {
    const orig = get(name);
    if (!orig) continue;
    tf.unregisterKernel(name, 'wasm');
    tf.registerKernel({
      ...orig,
      kernelFunc: splitting(
        orig.kernelFunc as unknown as Kernel,
        slice.kernelFunc as unknown as Kernel,
        add.kernelFunc as unknown as Kernel,
      ) as unknown as tf.KernelFunc,
    });
  }
  installed = true;
}
