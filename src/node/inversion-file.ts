/**
 * Null-text inversion files (`ptp invert --out`, read by `ptp edit --inversion`): safetensors with
 * `latents` [1, 4, h, w] (x_T, NCHW), `uncond_embeddings` [steps, T, D] (T: the model's text
 * context length, 77 for SD), `timesteps` [steps] (I64), `image` [H, W, 3] (U8, the model-sized
 * input), and the settings as metadata, including a fingerprint of the model so that a file is not
 * used with another one.
 */
import { createHash } from 'node:crypto';
import type { HostTensor } from '../pipeline/host-tensor.js';
import type { RgbImage } from '../util/image.js';
import { f32ToF16 } from '../io/dtypes.js';
import { floatTensor, writeSafetensors, type TensorToWrite } from '../io/safetensors.js';
import type { ModelDir } from '../io/model-dir.js';
import { FileByteSink } from './file-source.js';
import { openSafetensors } from './weights.js';

export const INVERSION_FORMAT = 'ptp-null-text-inversion/1';

/** Settings and provenance of an inversion (stored as metadata). */
export interface InversionMeta {
  prompt: string;
  /** The model directory as given. */
  model: string;
  /** `modelFingerprint` of that model. */
  fingerprint: string;
  steps: number;
  innerSteps: number;
  earlyStop: number;
  guidance: number;
  /** The DDIM scheduler's steps_offset used. */
  stepsOffset: number;
  /** Reconstruction PSNR against `image`, dB. */
  psnr?: number;
}

export interface InversionData {
  latents: HostTensor;
  uncondEmbeddings: HostTensor;
  timesteps: number[];
  image: RgbImage;
  meta: InversionMeta;
}

/**
 * A short hash identifying a model's weights: the UNet's conv_in/conv_out and the text encoder's
 * final layer norm, rounded to float16 (so the fp16 and fp32 files of one model agree).
 */
export async function modelFingerprint(dir: ModelDir): Promise<string> {
  const h = createHash('sha256');
  const picks: [Parameters<ModelDir['weights']>[0], string][] = [
    ['unet', 'conv_in.weight'],
    ['unet', 'conv_out.weight'],
    ['unet', 'conv_out.bias'],
    ['text_encoder', 'text_model.final_layer_norm.weight'],
  ];
  // SD-XL: its second text encoder too (SD-1/2 fingerprints are unchanged).
  if (dir.hasTextEncoder2) picks.push(['text_encoder_2', 'text_model.final_layer_norm.weight']);
  for (const [component, key] of picks) {
    const src = dir.weights(component);
    if (!src.info(key)) throw new Error(`${src.name}: no tensor "${key}" to identify the model by`);
    const v = await src.read(key, true);
    h.update(key);
    h.update(f32ToF16(v as Float32Array));
  }
  return h.digest('hex').slice(0, 16);
}

/** Writes an inversion file. */
export async function writeInversionFile(path: string, d: InversionData): Promise<void> {
  const ts = new BigInt64Array(d.timesteps.map((t) => BigInt(t)));
  const tensors: TensorToWrite[] = [
    floatTensor('latents', d.latents.shape, d.latents.data),
    floatTensor('uncond_embeddings', d.uncondEmbeddings.shape, d.uncondEmbeddings.data),
    { name: 'timesteps', dtype: 'I64', shape: [ts.length], data: new Uint8Array(ts.buffer) },
    { name: 'image', dtype: 'U8', shape: [d.image.height, d.image.width, 3], data: Uint8Array.from(d.image.data) },
  ];
  const m = d.meta;
  const metadata: Record<string, string> = {
    format: INVERSION_FORMAT,
    prompt: m.prompt,
    model: m.model,
    model_fingerprint: m.fingerprint,
    steps: String(m.steps),
    inner_steps: String(m.innerSteps),
    early_stop: String(m.earlyStop),
    guidance: String(m.guidance),
    steps_offset: String(m.stepsOffset),
    ...(m.psnr !== undefined ? { reconstruction_psnr_db: m.psnr.toFixed(2) } : {}),
  };
  await writeSafetensors(await FileByteSink.create(path), tensors, metadata);
}

/** Reads and checks an inversion file; every problem is a one-line error naming the file. */
export async function readInversionFile(path: string): Promise<InversionData> {
  const f = await openSafetensors(path).catch((e: Error) => {
    throw new Error(`${path}: not a readable inversion file (${e.message.replace(/\s+/g, ' ')})`);
  });
  try {
    const fail = (what: string): never => {
      throw new Error(`${path}: ${what}`);
    };
    const md = f.metadata;
    if (md.format !== INVERSION_FORMAT)
      fail(
        `not a null-text inversion file (metadata format "${md.format ?? ''}", expected "${INVERSION_FORMAT}"; write one with ptp invert)`,
      );
    const num = (k: string, int = false) => {
      const v = Number(md[k]);
      if (md[k] === undefined || !Number.isFinite(v) || (int && !Number.isInteger(v)))
        fail(`metadata ${k} is missing or not a number`);
      return v;
    };
    const meta: InversionMeta = {
      prompt: md.prompt ?? fail('metadata prompt is missing'),
      model: md.model ?? '',
      fingerprint: md.model_fingerprint ?? fail('metadata model_fingerprint is missing'),
      steps: num('steps', true),
      innerSteps: num('inner_steps', true),
      earlyStop: num('early_stop'),
      guidance: num('guidance'),
      stepsOffset: num('steps_offset', true),
      psnr: md.reconstruction_psnr_db !== undefined ? Number(md.reconstruction_psnr_db) : undefined,
    };
    const shape = (name: string, dtype: string, rank: number) => {
      const info = f.has(name) ? f.info(name) : fail(`tensor "${name}" is missing`);
      if (info.dtype !== dtype || info.shape.length !== rank)
        fail(`tensor "${name}" is ${info.dtype} [${info.shape.join(', ')}], expected ${dtype} of rank ${rank}`);
      return [...info.shape];
    };
    const ls = shape('latents', 'F32', 4);
    const es = shape('uncond_embeddings', 'F32', 3);
    const tsShape = shape('timesteps', 'I64', 1);
    const is = shape('image', 'U8', 3);
    if (ls[0] !== 1) fail(`latents have shape [${ls.join(', ')}], expected [1, channels, h, w]`);
    if (es[0] !== meta.steps || tsShape[0] !== meta.steps)
      fail(`${es[0]} embeddings and ${tsShape[0]} timesteps for ${meta.steps} steps`);
    if (is[2] !== 3) fail(`image has shape [${is.join(', ')}], expected [height, width, 3]`);
    return {
      latents: { shape: ls, data: await f.readFloat32('latents') },
      uncondEmbeddings: { shape: es, data: await f.readFloat32('uncond_embeddings') },
      timesteps: Array.from(await f.readInt32('timesteps')),
      image: { width: is[1], height: is[0], data: await f.readBytes('image') },
      meta,
    };
  } finally {
    await f.close();
  }
}
