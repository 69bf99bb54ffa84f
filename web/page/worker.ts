/**
 * The model worker: one backend and one loaded model per worker (the page starts a fresh worker
 * for another backend or after a fatal error). Runs an edit with progress after every step (the
 * GPU waited for with a fence, never a tensor read), stops at the next step boundary on Cancel,
 * and sends back PNGs of the images and of the source's per-token cross-attention maps. An
 * uploaded image is null-text inverted first (invert-upload.ts) and its reconstruction is the
 * source image of the edit.
 * WebGL runs here on tfjs' OffscreenCanvas (WebGL2), WebGPU and wasm run in workers as they are.
 */
import { initBrowserBackend } from '../../src/browser/index.js';
import {
  wasmHeapBudget,
  blendMapSize,
  buildEdit,
  checkRunMemory,
  countReads,
  crossAttentionGrid,
  HttpFileStore,
  loadPipeline,
  modelRunPlan,
  parseUNetConfig,
  parseVaeConfig,
  psnr,
  tokenLabels,
  toRgbImage,
  type AttentionEdit,
  type ReadCounter,
  type SelectedBackend,
  type StableDiffusionPipeline,
} from '../../src/index.js';
import { checkSettings } from './edit-settings.js';
import { CancelledError, describeError, isFatal, ModelLoadError } from './errors.js';
import { pageImage, tokenMap } from './images.js';
import { forgetInversion, invertUpload, type HeldInversion } from './invert-upload.js';
import type { AttentionMaps, FromWorker, PageBackend, PageImage, RunPerf, RunPhase, ToWorker } from './protocol.js';
import { stepSync, type StepSync } from './step-sync.js';

interface WorkerScope {
  postMessage(message: FromWorker): void;
  onmessage: ((ev: MessageEvent<ToWorker>) => void) | null;
}
const scope = self as unknown as WorkerScope;
const post = (m: FromWorker) => scope.postMessage(m);

let backend: { selected: SelectedBackend; sync: StepSync; reads: ReadCounter } | undefined;
let model: { url: string; encoder: boolean; pipe: StableDiffusionPipeline } | undefined;
let current: AbortController | undefined;

scope.onmessage = (ev) => {
  const msg = ev.data;
  if (msg.type === 'cancel') current?.abort(new CancelledError());
  else if (msg.type === 'lose-gpu-context') backend?.sync.loseContext?.();
  else void run(msg);
};

async function ensureBackend(name: PageBackend, wasmPaths: string) {
  if (backend) {
    if (backend.selected.name !== name) throw new Error(`this worker runs ${backend.selected.name}, not ${name}`);
    return backend;
  }
  post({ type: 'phase', text: `starting the ${name} backend` });
  const selected = await initBrowserBackend(name, { wasmPaths });
  backend = { selected, sync: stepSync(), reads: countReads() };
  return backend;
}

/**
 * Loads the model unless it is loaded (again with the VAE encoder when `encoder`, which only
 * uploads need); returns the seconds it took (undefined when cached).
 */
async function ensureModel(url: string, encoder: boolean): Promise<number | undefined> {
  if (model?.url === url && (model.encoder || !encoder)) return undefined;
  model?.pipe.dispose();
  model = undefined;
  forgetInversion();
  post({ type: 'phase', text: encoder ? 'loading the model (with the VAE encoder)' : 'loading the model' });
  const t = performance.now();
  try {
    model = { url, encoder, pipe: await loadPipeline(new HttpFileStore(url), { vaeEncoder: encoder }) };
  } catch (e) {
    throw new ModelLoadError(url, e);
  }
  return (performance.now() - t) / 1000;
}

/**
 * Refuses, from the UNet and VAE configs alone (before any weight downloads), an edit of `batch` UNet
 * samples at the model's default size that cannot fit the backend's memory, e.g. SD-XL at 1024×1024
 * on wasm; the error says how much it needs.
 */
async function checkRunFits(url: string, batch: number): Promise<void> {
  let plan;
  try {
    const store = new HttpFileStore(url);
    const json = async (rel: string) => JSON.parse(await store.readText(rel)) as unknown;
    plan = modelRunPlan(
      parseUNetConfig(await json('unet/config.json'), `${url}unet/config.json`),
      parseVaeConfig(await json('vae/config.json'), `${url}vae/config.json`),
      { batch },
    );
  } catch (e) {
    throw new ModelLoadError(url, e);
  }
  checkRunMemory(plan.memory, 0, wasmHeapBudget(), plan.size);
}

/** The source prompt's cross-attention per token, averaged over the steps and the up/down layers at latent/4 (as `ptp attention`). */
async function attentionMaps(
  controller: AttentionEdit,
  pipe: StableDiffusionPipeline,
  source: string,
): Promise<AttentionMaps> {
  const size = blendMapSize(controller.latentSize);
  const t = controller.aggregateAttention(size, ['up', 'down'], true, 0);
  const data = await t.data();
  const channels = t.shape[2];
  t.dispose();
  const labels = tokenLabels(pipe.tokenizer, source);
  const { height, width } = size;
  const maps = await Promise.all(labels.map((_, k) => pageImage(tokenMap(data, height, width, channels, k))));
  const grid = await pageImage(crossAttentionGrid({ data, height, width, channels }, labels));
  return { labels, maps, grid, size: `${height}×${width}` };
}

/** Every read back to the CPU: awaited, synchronous, and the backend's own kernels' synchronous ones. */
const allReads = (r: ReadCounter) => r.counts.sync + r.counts.async + r.counts.kernelSync;

async function run(msg: Extract<ToWorker, { type: 'run' }>): Promise<void> {
  const abort = new AbortController();
  current = abort;
  const cancelFlag = msg.cancelFlag ? new Int32Array(msg.cancelFlag) : undefined;
  // A Cancel of the last run may have landed after it ended; this run's Cancel comes after this message.
  if (cancelFlag) Atomics.store(cancelFlag, 0, 0);
  let controller: AttentionEdit | undefined;
  const started = performance.now();
  const stepEnds: number[] = [];
  let steps = 0;
  let phase: RunPhase = 'sampling';
  try {
    const edit = checkSettings(msg.settings, { upload: msg.upload !== undefined });
    const b = await ensureBackend(msg.settings.backend, msg.wasmPaths);
    if (model?.url !== msg.modelUrl)
      await checkRunFits(
        msg.modelUrl,
        (edit.spec.targets.length ? edit.spec.targets.length + 1 : 2) * (edit.guidance > 1 ? 2 : 1),
      );
    const loadSeconds = await ensureModel(msg.modelUrl, msg.upload !== undefined);
    abort.signal.throwIfAborted();
    const pipe = model!.pipe;
    b.reads.reset();
    // The page draws the source's cross-attention only: no self-attention maps are kept.
    const built = buildEdit(pipe.tokenizer, edit.spec, {
      note: (text) => post({ type: 'note', text }),
      storeMaps: 'cross',
    });
    controller = built.controller;
    steps = edit.steps;
    let real: { inversion: HeldInversion; reused: boolean } | undefined;
    if (msg.upload) {
      post({ type: 'phase', text: `inverting ${msg.upload.name} (DDIM, then null-text)` });
      phase = 'inversion';
      real = await invertUpload(
        pipe,
        {
          upload: msg.upload,
          modelUrl: msg.modelUrl,
          caption: edit.spec.source,
          steps: edit.steps,
          guidance: edit.guidance,
          innerSteps: edit.innerSteps,
        },
        abort.signal,
        cancelFlag,
        {
          step(p, step, n, itPerSec) {
            phase = p;
            post({ type: 'step', phase: p, step, steps: n, itPerSec, secondsPerStep: 1 / itPerSec });
          },
          iteration(step, n, iteration, iterations, loss) {
            phase = 'null-text';
            post({ type: 'iteration', step, steps: n, iteration, iterations, loss });
          },
        },
      );
      phase = 'sampling';
    }
    post({ type: 'phase', text: `sampling (${built.description})` });
    let readsInSteps = 0;
    const readsBefore = allReads(b.reads);
    const t0 = performance.now();
    const r = await pipe.edit({
      prompts: built.prompts,
      steps: edit.steps,
      guidance: edit.guidance,
      seed: edit.seed,
      scheduler: 'ddim',
      controller,
      signal: abort.signal,
      latents: real?.inversion.latents,
      uncondEmbeddings: real?.inversion.uncondEmbeddings,
      async onStep(info) {
        await b.sync.wait();
        const now = performance.now();
        stepEnds.push(now);
        readsInSteps = allReads(b.reads) - readsBefore;
        const n = stepEnds.length;
        const secondsPerStep = n > 1 ? (now - stepEnds[0]) / 1000 / (n - 1) : (now - t0) / 1000;
        post({
          type: 'step',
          phase: 'sampling',
          step: info.step + 1,
          steps: info.steps,
          itPerSec: n / ((now - t0) / 1000),
          secondsPerStep,
        });
        if (n === info.steps) post({ type: 'phase', text: 'decoding' });
      },
    });
    const readsTotal = allReads(b.reads) - readsBefore;
    const decoded = performance.now();
    const rgb = r.images.map(toRgbImage);
    const images = await Promise.all(rgb.map((im) => pageImage(im)));
    const attention = await attentionMaps(controller, pipe, built.prompts[0]);
    controller.dispose();
    controller = undefined;
    const { sync: syncReads, kernelSync: kernelSyncReads } = b.reads.counts;
    const n = stepEnds.length;
    const perf: RunPerf = {
      backend: b.selected.description,
      loadSeconds,
      firstStepSeconds: (stepEnds[0] - t0) / 1000,
      secondsPerStep: n > 1 ? (stepEnds[n - 1] - stepEnds[0]) / 1000 / (n - 1) : (stepEnds[0] - t0) / 1000,
      decodeSeconds: (decoded - stepEnds[n - 1]) / 1000,
      totalSeconds: (performance.now() - started) / 1000,
      stepSync: b.sync.description,
      readbacksDuringSteps: readsInSteps,
      readbacksTotal: readsTotal,
      syncReads,
      kernelSyncReads,
      inversion: real && { ...real.inversion.perf, reused: real.reused, psnr: psnr(rgb[0], real.inversion.input) },
    };
    const input: PageImage | undefined = real && (await pageImage(real.inversion.input));
    post({ type: 'done', description: built.description, prompts: built.prompts, images, attention, perf, input });
  } catch (e) {
    if (e instanceof CancelledError) {
      post({ type: 'cancelled', phase, stepsDone: phase === 'sampling' ? stepEnds.length : 0, steps });
    } else {
      // A lost context makes later GL calls fail in many ways: report the loss, not its symptom.
      const cause = backend?.sync.lost() ?? e;
      post({ type: 'error', message: describeError(cause, msg.settings.backend), fatal: isFatal(cause) });
    }
  } finally {
    controller?.dispose();
    if (cancelFlag) Atomics.store(cancelFlag, 0, 0);
    if (current === abort) current = undefined;
  }
}
