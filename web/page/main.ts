/**
 * The page (main thread): the form and its settings in the URL, an uploaded image to edit, the
 * model worker, progress and Cancel, results (images with downloads, per-token attention maps,
 * performance) and errors. The model never runs here.
 * `document.body.dataset.state` is idle | running | done | error.
 */
import {
  type AttentionMaps,
  type FromWorker,
  type PageBackend,
  type PageImage,
  type PageMode,
  type PageSettings,
  type PageUpload,
  type RunPerf,
  type RunPhase,
  type ToWorker,
} from './protocol.js';
import { settingsFromQuery, settingsToQuery, TEXT_KEYS, type TextKey } from './settings.js';
import { sentence } from './errors.js';
import { probeWebGPU } from '../../src/browser/webgpu-probe.js';
import { renderComparison, type BackendRun } from './perf-compare.js';

type State = 'idle' | 'running' | 'done' | 'error';

const $ = <T extends Element>(role: string): T => {
  const el = document.querySelector<T>(`[data-role="${role}"]`);
  if (!el) throw new Error(`the page has no [data-role="${role}"]`);
  return el;
};

const form = $<HTMLFormElement>('settings');
const field = (name: string) =>
  form.elements.namedItem(name) as HTMLInputElement | HTMLTextAreaElement | HTMLSelectElement;
const ui = {
  generate: $<HTMLButtonElement>('generate'),
  cancel: $<HTMLButtonElement>('cancel'),
  status: $<HTMLElement>('status'),
  note: $<HTMLElement>('note'),
  progress: $<HTMLProgressElement>('progress'),
  error: $<HTMLElement>('error'),
  images: $<HTMLElement>('images'),
  attention: $<HTMLElement>('attention'),
  attentionDownload: $<HTMLAnchorElement>('download-attention'),
  perf: $<HTMLElement>('perf'),
  upload: $<HTMLInputElement>('upload'),
  uploadPreview: $<HTMLElement>('upload-preview'),
  uploadThumbnail: $<HTMLImageElement>('upload-thumbnail'),
  uploadName: $<HTMLElement>('upload-name'),
  clearUpload: $<HTMLButtonElement>('clear-upload'),
  sourceLabel: $<HTMLElement>('source-label'),
  backendNote: $<HTMLElement>('backend-note'),
  compare: $<HTMLTableSectionElement>('perf-compare'),
};

function readForm(): PageSettings {
  const s = Object.fromEntries(TEXT_KEYS.map((k) => [k, field(k).value])) as Pick<PageSettings, TextKey>;
  const targets = field('targets')
    .value.split('\n')
    .map((t) => t.trim())
    .filter((t) => t !== '');
  return { ...s, targets, mode: field('mode').value as PageMode, backend: field('backend').value as PageBackend };
}

function fillForm(s: PageSettings): void {
  for (const k of TEXT_KEYS) field(k).value = s[k];
  field('targets').value = s.targets.join('\n');
  field('mode').value = s.mode;
  field('backend').value = s.backend;
}

function setState(state: State): void {
  document.body.dataset.state = state;
  const running = state === 'running';
  // Controls inside a disabled fieldset (the real-image one) stay disabled whatever their own flag.
  form.querySelectorAll<HTMLInputElement>('input, textarea, select, button').forEach((el) => {
    if (el !== ui.cancel) el.disabled = running;
  });
  ui.cancel.disabled = !running;
}

function showError(message: string): void {
  ui.error.textContent = message;
  ui.error.hidden = false;
  ui.status.textContent = 'Stopped by an error.';
  setState('error');
}

// --- object URLs of the shown images (revoked when replaced) ---------------------------------
let urls: string[] = [];

/** A URL for a worker image: its PNG, or (without OffscreenCanvas in the worker) PNG-encoded here. */
async function imageUrl(img: PageImage): Promise<string> {
  let blob = img.png;
  if (!blob) {
    const canvas = document.createElement('canvas');
    canvas.width = img.width;
    canvas.height = img.height;
    const data = new ImageData(img.width, img.height);
    for (let p = 0; p < img.width * img.height; p++)
      data.data.set([img.rgb![p * 3], img.rgb![p * 3 + 1], img.rgb![p * 3 + 2], 255], p * 4);
    canvas.getContext('2d')!.putImageData(data, 0, 0);
    blob = await new Promise<Blob>((ok, fail) =>
      canvas.toBlob((b) => (b ? ok(b) : fail(new Error('PNG encoding failed'))), 'image/png'),
    );
  }
  const url = URL.createObjectURL(blob);
  urls.push(url);
  return url;
}

function clearResults(): void {
  for (const u of urls) URL.revokeObjectURL(u);
  urls = [];
  ui.images.replaceChildren();
  ui.attention.replaceChildren();
  ui.perf.replaceChildren();
  (ui.attention.closest('section') as HTMLElement).hidden = true;
  (ui.perf.closest('section') as HTMLElement).hidden = true;
}

const slug = (text: string) =>
  text
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-|-$/g, '')
    .slice(0, 60) || 'image';

/** A figure with the image, its caption and a download button. */
async function figure(img: PageImage, role: string, caption: string, file: string, alt: string): Promise<HTMLElement> {
  const url = await imageUrl(img);
  const fig = document.createElement('figure');
  const el = document.createElement('img');
  el.src = url;
  el.alt = alt;
  el.dataset.role = role;
  el.width = img.width;
  el.height = img.height;
  const cap = document.createElement('figcaption');
  cap.textContent = caption;
  const a = document.createElement('a');
  a.className = 'button';
  a.href = url;
  a.download = file;
  a.textContent = 'Download';
  a.dataset.role = 'download';
  fig.append(el, cap, a);
  return fig;
}

/** The images: an uploaded input first (as the model saw it), then the source (its reconstruction) and the edits. */
async function showImages(
  prompts: string[],
  images: PageImage[],
  description: string,
  input?: PageImage,
  psnr?: number,
): Promise<void> {
  const figures = await Promise.all(
    images.map((img, i) => {
      const what =
        i > 0
          ? `edit ${i} (${description})`
          : input
            ? `source: the reconstruction (PSNR ${psnr!.toFixed(1)} dB)`
            : 'source';
      return figure(
        img,
        i === 0 ? 'source' : 'edit',
        `${what}: ${prompts[i]}`,
        `${i === 0 ? 'source' : `edit-${i}`}-${slug(prompts[i])}.png`,
        prompts[i],
      );
    }),
  );
  if (input)
    figures.unshift(
      await figure(
        input,
        'input',
        `input, cropped and resized to ${input.width}×${input.height}`,
        'input.png',
        'the uploaded image',
      ),
    );
  ui.images.replaceChildren(...figures);
}

async function showAttention(att: AttentionMaps): Promise<void> {
  const figures = await Promise.all(
    att.maps.map(async (m, k) => {
      const fig = document.createElement('figure');
      fig.dataset.token = String(k);
      const el = document.createElement('img');
      el.src = await imageUrl(m);
      el.alt = `attention to ${att.labels[k]}`;
      const cap = document.createElement('figcaption');
      cap.textContent = att.labels[k];
      fig.append(el, cap);
      return fig;
    }),
  );
  ui.attention.replaceChildren(...figures);
  ui.attention.dataset.size = att.size;
  ui.attentionDownload.href = await imageUrl(att.grid);
  (ui.attention.closest('section') as HTMLElement).hidden = false;
}

function showPerf(p: RunPerf, steps: number): void {
  const s = (v: number) => `${v.toFixed(2)} s`;
  const rows: [string, string][] = [
    ['backend', p.backend],
    ['model load', p.loadSeconds === undefined ? 'already loaded' : s(p.loadSeconds)],
    ['first step (text encoder, shader set-up)', s(p.firstStepSeconds)],
    [
      steps > 1 ? `seconds per step (steps 2–${steps})` : 'seconds per step',
      `${s(p.secondsPerStep)} (${(1 / p.secondsPerStep).toFixed(2)} it/s)`,
    ],
    ['decode', s(p.decodeSeconds)],
    ['total', s(p.totalSeconds)],
    ['step timing', p.stepSync],
    ['tensor reads to the CPU during sampling', `${p.readbacksDuringSteps} (${p.readbacksTotal} with decoding)`],
    [
      'synchronous reads (dataSync and the like)',
      `${p.syncReads}${p.kernelSyncReads ? ` (and ${p.kernelSyncReads} by the backend's own kernels, in its memory)` : ''}`,
    ],
  ];
  const inv = p.inversion;
  if (inv) {
    rows.splice(
      2,
      0,
      [
        'inversion',
        inv.reused
          ? 'reused (same image, caption and settings)'
          : `DDIM ${s(inv.ddimSeconds)}, null-text ${s(inv.nullTextSeconds)} (${inv.iterations} of at most ${inv.maxIterations} Adam iterations)`,
      ],
      ['reconstruction PSNR', `${inv.psnr.toFixed(2)} dB`],
    );
  }
  ui.perf.replaceChildren(
    ...rows.flatMap(([k, v]) => {
      const dt = document.createElement('dt');
      dt.textContent = k;
      const dd = document.createElement('dd');
      dd.textContent = v;
      return [dt, dd];
    }),
  );
  Object.assign(ui.perf.dataset, {
    backend: p.backend,
    secondsPerStep: String(p.secondsPerStep),
    readbacks: String(p.readbacksDuringSteps),
    readbacksTotal: String(p.readbacksTotal),
    syncReads: String(p.syncReads),
    kernelSyncReads: String(p.kernelSyncReads),
    firstStepSeconds: String(p.firstStepSeconds),
    loadSeconds: String(p.loadSeconds ?? ''),
    decodeSeconds: String(p.decodeSeconds),
  });
  (ui.perf.closest('section') as HTMLElement).hidden = false;
}

// --- an uploaded image ----------------------------------------------------------------------
let upload: PageUpload | undefined;
let uploads = 0;

function setUpload(file: File | undefined): void {
  if (ui.uploadThumbnail.src) URL.revokeObjectURL(ui.uploadThumbnail.src);
  ui.uploadThumbnail.removeAttribute('src');
  upload = file && { id: ++uploads, name: file.name, file };
  ui.uploadPreview.hidden = !upload;
  ui.uploadName.textContent = upload ? upload.name : '';
  if (file) ui.uploadThumbnail.src = URL.createObjectURL(file);
  else ui.upload.value = '';
  ui.sourceLabel.textContent = upload ? 'Source prompt: the caption of the image' : 'Source prompt';
  ui.generate.textContent = upload ? 'Invert and edit' : 'Generate';
}

ui.upload.addEventListener('change', () => setUpload(ui.upload.files?.[0]));
ui.clearUpload.addEventListener('click', () => setUpload(undefined));

// --- the worker ---------------------------------------------------------------------------
/** The worker, its backend, and its cancel flag (a SharedArrayBuffer where the page is cross-origin isolated). */
let worker: { w: Worker; backend: PageBackend; cancelFlag?: SharedArrayBuffer } | undefined;
let steps = 0;
let phase: RunPhase | undefined;
/** The settings of the run in progress, and the last finished run on each backend (the comparison table). */
let launched: { backend: PageBackend; model: string; upload: boolean } | undefined;
const lastRuns = new Map<PageBackend, BackendRun>();

const PHASE_NAMES: Record<RunPhase, string> = {
  inversion: 'DDIM inversion',
  'null-text': 'null-text inversion',
  sampling: 'sampling',
};
const capitalised = (text: string) => `${text[0].toUpperCase()}${text.slice(1)}`;

function dropWorker(): void {
  worker?.w.terminate();
  worker = undefined;
}

function workerFor(backend: PageBackend): Worker {
  if (worker && worker.backend !== backend) dropWorker();
  if (!worker) {
    const w = new Worker(new URL('worker.js', document.baseURI), { type: 'module' });
    w.onmessage = (ev: MessageEvent<FromWorker>) => void onWorkerMessage(ev.data);
    w.onerror = (ev) => {
      ev.preventDefault();
      dropWorker();
      showError(`The model worker stopped: ${ev.message || 'it could not be started'}.`);
    };
    worker = { w, backend, cancelFlag: globalThis.crossOriginIsolated ? new SharedArrayBuffer(4) : undefined };
  }
  return worker.w;
}

async function onWorkerMessage(m: FromWorker): Promise<void> {
  switch (m.type) {
    case 'phase':
      ui.status.textContent = `${capitalised(m.text)}…`;
      break;
    case 'note':
      ui.note.textContent = m.text;
      break;
    case 'step':
      phase = m.phase;
      ui.progress.dataset.phase = m.phase;
      ui.progress.max = m.steps;
      ui.progress.value = m.step;
      if (m.phase === 'sampling') {
        steps = m.steps;
        ui.progress.dataset.step = String(m.step);
        ui.status.textContent = `Step ${m.step} / ${m.steps} · ${m.itPerSec.toFixed(2)} it/s · ${m.secondsPerStep.toFixed(2)} s/step`;
      } else {
        ui.status.textContent = `${capitalised(PHASE_NAMES[m.phase])}: step ${m.step} / ${m.steps} · ${m.itPerSec.toFixed(2)} steps/s`;
      }
      break;
    case 'iteration':
      phase = 'null-text';
      ui.progress.dataset.phase = phase;
      ui.progress.max = m.steps * m.iterations;
      ui.progress.value = m.step * m.iterations + m.iteration + 1;
      ui.status.textContent = `Null-text inversion: step ${m.step + 1} / ${m.steps}, iteration ${m.iteration + 1} (at most ${m.iterations}) · loss ${m.loss.toExponential(2)}`;
      break;
    case 'done': {
      await showImages(m.prompts, m.images, m.description, m.input, m.perf.inversion?.psnr);
      await showAttention(m.attention);
      showPerf(m.perf, steps);
      const run: BackendRun = {
        backend: launched!.backend,
        perf: m.perf,
        key: `${m.prompts.length} prompts × ${steps} steps, ${launched!.model}${launched!.upload ? ', uploaded image' : ''}`,
      };
      lastRuns.set(run.backend, run);
      renderComparison(ui.compare, lastRuns, run);
      ui.status.textContent = `Done: ${m.description}, ${m.perf.secondsPerStep.toFixed(2)} s/step on ${m.perf.backend.split(' ')[0]}.`;
      setState('done');
      break;
    }
    case 'cancelled':
      ui.status.textContent =
        m.phase === 'sampling'
          ? `Cancelled after ${m.stepsDone} of ${m.steps} steps.`
          : `Cancelled during the ${PHASE_NAMES[m.phase]}.`;
      setState('idle');
      break;
    case 'error':
      if (m.fatal) dropWorker();
      showError(m.message);
      break;
  }
}

/**
 * WebGPU in the backend menu only where the browser has an adapter; elsewhere the option is
 * disabled, one sentence under the menu says why, and a run asked for on webgpu (in the URL) goes
 * to webgl instead. Resolves to whether WebGPU is usable.
 */
async function checkWebGPU(): Promise<boolean> {
  const probe = await probeWebGPU();
  const select = field('backend') as HTMLSelectElement;
  const opt = select.querySelector<HTMLOptionElement>('option[value="webgpu"]')!;
  if (probe.available) {
    opt.textContent = `webgpu (${probe.description || 'adapter'})`;
    return true;
  }
  opt.disabled = true;
  opt.textContent = 'webgpu (no adapter)';
  const asked = select.value === 'webgpu';
  if (asked) select.value = 'webgl';
  ui.backendNote.textContent = sentence(
    `WebGPU is not available: ${probe.reason}, so the page runs on ${asked ? 'webgl instead' : 'webgl or wasm'}`,
  );
  ui.backendNote.hidden = false;
  return false;
}
const webgpuUsable = checkWebGPU();

/** Starts a run: the page is 'running' at once, and the worker gets the run once the WebGPU check has answered. */
function start(): void {
  clearResults();
  ui.error.hidden = true;
  ui.note.textContent = '';
  ui.progress.value = 0;
  delete ui.progress.dataset.step;
  delete ui.progress.dataset.phase;
  steps = 0;
  phase = undefined;
  setState('running');
  ui.status.textContent = 'Starting…';
  void webgpuUsable.then(launch);
}

function launch(webgpu: boolean): void {
  const settings = readForm();
  history.replaceState(null, '', settingsToQuery(settings));
  if (settings.backend === 'webgpu' && !webgpu) {
    showError(ui.backendNote.textContent ?? 'WebGPU is not available.');
    return;
  }
  launched = { backend: settings.backend, model: settings.model, upload: upload !== undefined };
  const w = workerFor(settings.backend);
  const msg: ToWorker = {
    type: 'run',
    settings,
    modelUrl: new URL(settings.model || '.', document.baseURI).href,
    wasmPaths: new URL('tfjs-wasm/', document.baseURI).href,
    upload,
    cancelFlag: worker!.cancelFlag,
  };
  w.postMessage(msg);
}

form.addEventListener('submit', (ev) => {
  ev.preventDefault();
  if (document.body.dataset.state !== 'running') start();
});

ui.cancel.addEventListener('click', () => {
  if (!worker || document.body.dataset.state !== 'running') return;
  if (phase === 'null-text' && !worker.cancelFlag) {
    // Not cross-origin isolated: the optimisation cannot be told to stop, so its worker goes.
    dropWorker();
    ui.status.textContent =
      'Cancelled during the null-text inversion (its worker was stopped; the model loads again on the next run).';
    setState('idle');
    return;
  }
  ui.status.textContent =
    phase === 'null-text' ? 'Cancelling after this iteration…' : 'Cancelling at the end of this step…';
  if (worker.cancelFlag) Atomics.store(new Int32Array(worker.cancelFlag), 0, 1);
  worker.w.postMessage({ type: 'cancel' } satisfies ToWorker);
});

/** For automation (tests): lose the worker's WebGL context, as a GPU reset would. */
(globalThis as unknown as { ptpPage: unknown }).ptpPage = {
  loseGpuContext: () => worker?.w.postMessage({ type: 'lose-gpu-context' } satisfies ToWorker),
};

const initial = settingsFromQuery(location.search);
fillForm(initial.settings);
setState('idle');
if (initial.run) start();
