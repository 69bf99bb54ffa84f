/** Messages between the page (main thread) and the model worker, and the settings they carry. */

export const BACKENDS = ['webgl', 'webgpu', 'wasm'] as const;
export type PageBackend = (typeof BACKENDS)[number];

export const MODES = ['auto', 'replace', 'refine', 'reweight'] as const;
export type PageMode = (typeof MODES)[number];

/**
 * An edit's settings as typed on the page (and kept in the URL). Text stays text here: the worker
 * checks it (one error naming the field at fault) with the library's parsers.
 */
export interface PageSettings {
  /** URL of a diffusers directory (relative to the page, or absolute with CORS). */
  model: string;
  backend: PageBackend;
  source: string;
  /** Edited prompts, one per line on the page; none = reweight the source itself. */
  targets: string[];
  mode: PageMode;
  /** `word=factor[,word=factor...]`, or empty. */
  reweight: string;
  /** Local blend words `word[,word...]`, or empty. */
  blend: string;
  /** Fraction of the steps with cross-attention replaced, or per word: `1,dog=0.2`. */
  cross: string;
  /** Fraction of the steps with self-attention replaced. */
  self: string;
  steps: string;
  guidance: string;
  seed: string;
}

export type ToWorker =
  | { type: 'run'; settings: PageSettings; modelUrl: string; wasmPaths: string }
  | { type: 'cancel' }
  /** Automation: lose the WebGL context (WEBGL_lose_context) to exercise the context-lost path. */
  | { type: 'lose-gpu-context' };

/** An image for the page: a PNG made in the worker (OffscreenCanvas), or raw RGB where there is none. */
export interface PageImage {
  width: number;
  height: number;
  png?: Blob;
  rgb?: Uint8Array;
}

/** How the run went, shown on the page. */
export interface RunPerf {
  /** Backend description, e.g. "webgl (ANGLE (Google, Vulkan 1.3.0 (SwiftShader Device ...)))". */
  backend: string;
  /** Model download + weight upload, seconds; undefined when the model was already loaded. */
  loadSeconds?: number;
  /** Text encoding and the first step (shader compilation on GPUs). */
  firstStepSeconds: number;
  /** Mean of the steps after the first (the first when there is one step). */
  secondsPerStep: number;
  decodeSeconds: number;
  totalSeconds: number;
  /** How step times are taken: the GPU is waited for without reading tensors back. */
  stepSync: string;
  /** Tensor reads from the backend to the CPU between the start of the run and the end of the last step. */
  readbacksDuringSteps: number;
}

export interface AttentionMaps {
  /** One label per token of the source prompt (start and end tokens included). */
  labels: string[];
  /** One map per label, normalised to its maximum. */
  maps: PageImage[];
  /** All maps in one labelled image (for download). */
  grid: PageImage;
  /** Map size, e.g. "8×8". */
  size: string;
}

export type FromWorker =
  | { type: 'phase'; text: string }
  | { type: 'note'; text: string }
  | { type: 'step'; step: number; steps: number; itPerSec: number; secondsPerStep: number }
  | { type: 'done'; description: string; prompts: string[]; images: PageImage[]; attention: AttentionMaps; perf: RunPerf }
  | { type: 'cancelled'; stepsDone: number; steps: number }
  | { type: 'error'; message: string; fatal: boolean };
