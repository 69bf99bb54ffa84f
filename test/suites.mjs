// Which test files run where, declared once (test/run.mjs reads it; names are test/<name>.test.ts).

/**
 * The slow half (`npm run test:slow`; `.ci/run` runs it after `npm test`): the long cases —
 * full-size memory runs, CLI end-to-end runs that spawn a process per command, the browser, the
 * fuzzer, training runs, the shipped model's quality subset. Measured per file in DEVELOPING.md.
 */
export const SLOW = [
  // training runs end to end (four `ptp train` processes; the CLI and its objectives on tiny runs)
  'train-resume',
  'train',
  'native-train-kernels',
  // full pipelines against PyTorch with every controller, and null-text inversion (kernels and
  // components keep their parity tests in the fast half)
  'pipeline',
  'ptp-pipeline',
  'ptp-null-text',
  // the browser: the web page on wasm, WebGL and WebGPU, and the browser bundle
  'web',
  'web-webgpu',
  'browser',
  // the CLI end to end, a process per command; conversions of whole checkpoints; the fuzzer
  'cli-ptp',
  'cli-invert',
  'cli-sdxl',
  'convert',
  'convert-sd2',
  'convert-sdxl',
  'fuzz',
  // the shipped model's quality subset; full-size memory and context-length runs
  'shipped-model',
  'backend-wasm-heap',
  'context-length',
];

/** The numeric parity and gradient suites, run a second time on the native backend. */
export const NATIVE_PARITY = [
  'attention',
  'attention-fused',
  'attention-slicing',
  'embeddings',
  'resnet',
  'transformer',
  'unet',
  'vae',
  'text-encoder',
  'schedulers',
  'pipeline',
  'pipeline-sd2',
  'ptp-sd2',
  'sdxl-text',
  'unet-sdxl',
  'pipeline-sdxl',
  'ptp-sdxl',
  'ptp-attention-layer',
  'ptp-controllers',
  'ptp-blend',
  'ptp-store',
  'ptp-aggregate',
  'ptp-invert',
  'ptp-pipeline',
  'autograd',
  'diffusion-gradients',
  'segment-tape',
  'train',
  'ptp-null-text',
  'native-train-kernels',
  'bench-profile',
];
