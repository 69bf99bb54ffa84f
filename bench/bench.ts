/**
 * `npm run bench`: speed and memory of the SD-1.5-sized modules (random weights, configs from
 * ../shared/reference/sd15-config) and the tiny model on the selected backend, next to the
 * PyTorch CPU and onnxruntime-node figures of ../shared/reference/bench.json and to
 * onnxruntime-node timed live in the same run on the same UNet step (bench/ort-unet.ts: our
 * model exported as ONNX; skipped with one line where onnxruntime-node cannot load, or with
 * `--ort=0`); ends with one JSON line of all figures.
 *
 *   npm run bench [-- --backends=native,native-unpacked,native-bf16,wasm] [--only=ops,attention,text,unet,vae,tiny,p2p,sd21,sdxl,nulltext]
 *                    [--others=ops,unet,vae] [--reps=N] [--unet-reps=N] [--nulltext-iterations=N] [--ort=0]
 *
 * `sd21` (not in the default set: a 768² step takes minutes on wasm) times the SD-2.1-sized modules
 * (configs from weights-tools/sd21-config) at 768×768: the OpenCLIP-H text encoder, one UNet step
 * on 96² latents with CFG (weights streamed) and the VAE decode 96² → 768².
 * `sdxl` (not in the default set either) times one SD-XL base UNet step (configs from
 * weights-tools/sdxl-config: 2.6 G weights, transformer depths 1/2/10, added conditioning) at
 * 1024×1024 (128² latents, CFG batch 2), weights streamed from float16 host copies; compare backends
 * with `--backends=native,wasm --only=sdxl --others=sdxl`.
 *
 * With several backends (the default when the native addon is built: native fp32, native fp32
 * unpacked, native bf16 where the CPU has AVX512-BF16/AMX, and wasm) each runs in a child process (bench/compare.ts): the first runs the `--only`
 * sections, the others the `--others` sections with one profiled run each, then one table
 * compares them. `--reps=0`/`--unet-reps=0`: the profiled run is the timing.
 *
 * `p2p` runs bench/p2p.ts (the SD-1.5-sized 512×512 two-prompt edit, 2 steps) and `nulltext`
 * bench/null-text.ts (SD-1.5-sized null-text inversion at 512×512: seconds per Adam iteration,
 * peak heap), each in a child process, so its peak RSS is its own. `nulltext` runs only when
 * asked (`--only=nulltext`).
 *
 * Environment: PTP_BACKEND (one backend, when --backends is not given), PTP_PRECISION,
 * PTP_THREADS, PTP_WASM_THREADS, PTP_REFERENCE_DIR.
 */
import * as tf from '@tensorflow/tfjs-core';
import { readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { initNodeBackend, wasmThreadsInUse } from '../src/node/backend.js';
import { resetWasmPeakBytes, wasmPeakBytes } from '../src/backend/wasm-patches.js';
import { attentionStrategy } from '../src/nn/attention-core.js';
import { attentionCases, benchAttention } from './attention.js';
import { benchOps } from './ops.js';
import { benchTextEncoder, benchUNet, benchVae, type ModuleBench } from './models.js';
import type { Breakdown, LayerType } from './profile.js';
import { tracker } from './timing.js';
import { compareBackends } from './compare.js';
import { loadNativeAddon, nativeUnavailableReason } from '../src/node/native/addon.js';
import { setNativePrecision } from '../src/node/native/candidate.js';

const root = resolve(fileURLToPath(import.meta.url), '..', '..', process.argv[1]?.includes('/dist/') ? '..' : '');
const refDir = process.env.PTP_REFERENCE_DIR ?? resolve(root, '..', 'shared', 'reference');
const arg = (name: string) => process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1];
const onlyArg = arg('only') ?? 'ops,attention,text,unet,vae,tiny,p2p';
const only = new Set(onlyArg.split(','));
/**
 * Backends to compare: --backends, else PTP_BACKEND alone, else native fp32 (weights packed once),
 * native fp32 unpacked (the same with a filter reorder per call: the before of packing) + wasm
 * when the addon is built, + native bf16 where the CPU computes bf16 (AVX512-BF16/AMX; emulated
 * it runs 5× slower than fp32 and would not fit the bench's time).
 */
function defaultBackends(): { list: string; note?: string } {
  if (nativeUnavailableReason()) return { list: 'wasm' };
  if (loadNativeAddon().info().bf16Native) return { list: 'native,native-unpacked,native-bf16,wasm' };
  return {
    list: 'native,native-unpacked,wasm',
    note: 'native bf16 skipped: this CPU has no AVX512-BF16/AMX, oneDNN would emulate it (about 5× slower than fp32); --backends=native,native-bf16,wasm runs it anyway',
  };
}
const defaults = arg('backends') || process.env.PTP_BACKEND ? undefined : defaultBackends();
const backends = (arg('backends') ?? process.env.PTP_BACKEND ?? defaults!.list).split(',');
const reps = Number(arg('reps') ?? 3);
const bigReps = Number(arg('unet-reps') ?? 2);

interface RefFigures {
  torch?: number;
  ort?: number;
}

/** PyTorch (the lowest of the stored medians) and onnxruntime-node seconds for a module key. */
function reference(key: string): RefFigures {
  try {
    const j = JSON.parse(readFileSync(join(refDir, 'bench.json'), 'utf8'));
    const torch = [
      j[key]?.median_s,
      ...(j.peers?.['onnxruntime-node-cpu']?.modules?.[key]?.torch_same_sitting ?? []).map(
        (r: { median_s: number }) => r.median_s,
      ),
    ].filter((x) => typeof x === 'number');
    return {
      torch: torch.length ? Math.min(...torch) : undefined,
      ort: j.peers?.['onnxruntime-node-cpu']?.modules?.[key]?.ort?.median_s,
    };
  } catch {
    return {};
  }
}

const mb = (b: number) => Math.round(b / 2 ** 20);
const f = (x: number | undefined, d = 2) => (x === undefined || !Number.isFinite(x) ? '–' : x.toFixed(d));
const pad = (s: string, n: number) => (s.length >= n ? s : s + ' '.repeat(n - s.length));
const lpad = (s: string, n: number) => (s.length >= n ? s : ' '.repeat(n - s.length) + s);

function table(rows: string[][]): void {
  const w = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  rows.forEach((r, k) => {
    console.log(r.map((c, i) => (i === 0 ? pad(c, w[i]) : lpad(c, w[i]))).join('  '));
    if (k === 0) console.log(w.map((n) => '-'.repeat(n)).join('  '));
  });
}

function typeGflops(b: Breakdown, t: LayerType): number {
  return b.types[t].ms > 0 ? b.types[t].flop / b.types[t].ms / 1e6 : NaN;
}

function totalFlop(b: Breakdown): number {
  return b.types.conv.flop + b.types.matmul.flop + b.types.attention.flop;
}

/** Runs a sibling script (compiled dist/bench/x.js or bench/x.ts through tsx) in a child process; returns its JSON line. */
function childJson(name: string, args: string[]): Record<string, unknown> {
  const script = fileURLToPath(import.meta.url).replace(/bench\.(js|ts)$/, `${name}.$1`);
  const c = spawnSync(process.execPath, [...process.execArgv, '--max-old-space-size=16384', script, ...args], {
    encoding: 'utf8',
    env: process.env,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines = c.stdout.trim().split('\n');
  lines.slice(0, -1).forEach((l) => console.log(`  ${l}`));
  if (c.status !== 0) throw new Error(`bench/${name} exited with status ${c.status}`);
  return JSON.parse(lines[lines.length - 1]) as Record<string, unknown>;
}

/** onnxruntime-node's SD-1.5 UNet step timed in this run (bench/ort-unet.ts), unless `--ort=0`. */
function ortLive(): Record<string, unknown> {
  if (arg('ort') === '0') return {};
  console.log('\n## onnxruntime-node, live: SD-1.5 UNet step 64², CFG batch 2, our graph and weights (child process)');
  return childJson('ort-unet', [`--reps=${bigReps}`]);
}

/** ortLive() and our UNet step's ratio to it (`ratio_vs_ort_live`). */
function liveRatio(seconds: number): Record<string, unknown> {
  const live = ortLive();
  const ort = live.ort_live_unet_step_s;
  return { ...live, ratio_vs_ort_live: typeof ort === 'number' ? +(seconds / ort).toFixed(3) : null };
}

async function main(): Promise<void> {
  const t0 = performance.now();
  if (defaults?.note) console.log(defaults.note);
  if (backends.length > 1) {
    const pass = process.argv.slice(2).filter((a) => /^--(reps|unet-reps)=/.test(a));
    const others = arg('others') ?? 'ops,unet,vae';
    const live = [onlyArg, others].some((x) => x.split(',').includes('unet')) ? ortLive() : {};
    const out = await compareBackends(fileURLToPath(import.meta.url), backends, onlyArg, others, pass, live);
    if (defaults?.note) out.native_bf16_skipped = defaults.note;
    out.bench_s = +((performance.now() - t0) / 1000).toFixed(1);
    console.log(`\nfinished in ${f((performance.now() - t0) / 1000, 0)} s`);
    console.log(JSON.stringify(out));
    return;
  }
  if (backends[0] === 'native-bf16') setNativePrecision('bf16');
  if (backends[0] === 'native-unpacked') process.env.PTP_NATIVE_PACK = '0';
  const backend = await initNodeBackend(backends[0].startsWith('native') ? 'native' : backends[0]);
  tracker.start();
  console.log(`backend: ${backend.description}; attention strategy: ${attentionStrategy(40)}; node ${process.version}`);
  const out: Record<string, unknown> = {
    backend: backend.tfName,
    backend_description: backend.description,
    threads: wasmThreadsInUse(),
    attention_strategy: attentionStrategy(40),
  };

  let matmulGflops = NaN;
  if (only.has('ops')) {
    console.log('\n## Op reference rates (median)');
    const ops = await benchOps(5);
    table([['op', 'ms', 'GFLOP/s'], ...ops.map((o) => [o.name, f(o.seconds * 1000, 1), f(o.gflops, 1)])]);
    matmulGflops = ops[0].gflops;
    out.matmul_gflops = +matmulGflops.toFixed(2);
    out.linear_gflops = +ops[1].gflops.toFixed(2);
    out.conv_gflops = +ops[2].gflops.toFixed(2);
  }

  if (only.has('attention') && ['wasm', 'cpu'].includes(backend.tfName)) {
    console.log('\n## Attention: fused kernel vs tfjs per-head path (A/B in this process, median)');
    const cases = attentionCases.filter((c) => !c.name.startsWith('tiny'));
    const res = await benchAttention(cases, ['fused', 'per-head'], reps);
    const self = res[0];
    out.attention_self64_fused_s = +self.seconds.fused!.toFixed(4);
    out.attention_self64_perhead_s = +self.seconds['per-head']!.toFixed(4);
    out.attention_self64_speedup = +(self.seconds['per-head']! / self.seconds.fused!).toFixed(3);
    out.attention_self64_gflops = +(self.flop / self.seconds.fused! / 1e9).toFixed(2);
  }

  const modules: { key: string; label: string; r: ModuleBench; ref: RefFigures }[] = [];
  const sd = join(refDir, 'sd15-config');
  const tiny = join(refDir, 'tiny-sd');
  const runModule = async (key: string, label: string, fn: () => Promise<ModuleBench>) => {
    resetWasmPeakBytes();
    const r = await fn();
    const peak = Math.max(wasmPeakBytes(), r.breakdown.peakBytes);
    modules.push({ key, label, r: { ...r, breakdown: { ...r.breakdown, peakBytes: peak } }, ref: reference(key) });
    console.log(
      `  ${label}: ${f(r.seconds, 3)} s (runs ${r.runs.map((x) => x.toFixed(2)).join(', ')}; ${f(r.cpuSeconds, 2)} CPU s), peak backend ${mb(peak)} MiB, RSS high-water ${mb(r.rssBytes)} MiB`,
    );
    return r;
  };

  console.log('\n## Modules (random weights; median of timed runs after a warm-up)');
  if (only.has('text'))
    await runModule('sd15:text_encoder', 'SD-1.5 text encoder (batch 2×77)', () => benchTextEncoder(sd, reps));
  if (only.has('vae')) await runModule('sd15:vae', 'SD-1.5 VAE decode 64²→512²', () => benchVae(sd, bigReps));
  if (only.has('unet')) {
    const r = await runModule('sd15:unet', 'SD-1.5 UNet step 64², CFG batch 2 (weights streamed)', () =>
      benchUNet(sd, bigReps, 'stream'),
    );
    const up = (r as Awaited<ReturnType<typeof benchUNet>>).upload;
    out.unet_weight_upload_s = +up.fp32.toFixed(3);
    out.unet_weight_upload_fp16_extra_s = +up.fp16Extra.toFixed(3);
    out.unet_weight_mb = mb(up.bytes);
    console.log(
      `  UNet weight streaming: uploading all ${mb(up.bytes)} MiB once costs ${f(up.fp32, 2)} s per step from fp32 host memory; an fp16 host copy would add ~${f(up.fp16Extra, 2)} s of upcasting`,
    );
  }
  if (only.has('sd21')) {
    const sd21 = join(root, 'weights-tools', 'sd21-config');
    await runModule('sd21:text_encoder', 'SD-2.1 text encoder (OpenCLIP-H, batch 2×77)', () =>
      benchTextEncoder(sd21, reps),
    );
    await runModule('sd21:unet', 'SD-2.1 UNet step 96² (768×768), CFG batch 2 (weights streamed)', () =>
      benchUNet(sd21, bigReps, 'stream', 96),
    );
    await runModule('sd21:vae', 'SD-2.1 VAE decode 96²→768²', () => benchVae(sd21, bigReps, 96));
  }
  if (only.has('sdxl')) {
    const sdxl = join(root, 'weights-tools', 'sdxl-config');
    const r = await runModule(
      'sdxl:unet',
      'SD-XL UNet step 128² (1024×1024), CFG batch 2 (weights streamed, fp16 host)',
      () => benchUNet(sdxl, bigReps, 'stream', 128, { hostFloat16: true }),
    );
    const up = (r as Awaited<ReturnType<typeof benchUNet>>).upload;
    out.sdxl_unet_weight_upload_s = +up.fp32.toFixed(3);
    out.sdxl_unet_weight_mb = mb(up.bytes);
  }
  if (only.has('tiny')) {
    await runModule('tiny:text_encoder', 'tiny text encoder (batch 2×77)', () => benchTextEncoder(tiny, reps));
    await runModule('tiny:unet', 'tiny UNet step 64², CFG batch 2', () => benchUNet(tiny, reps, 'resident'));
    await runModule('tiny:vae', 'tiny VAE decode 64²→512²', () => benchVae(tiny, reps));
  }

  if (modules.length) {
    console.log(
      '\n## Modules vs PyTorch CPU and onnxruntime-node (bench.json; ratio = ours / theirs, lower is better)',
    );
    table([
      ['module', 'ours s', 'torch s', 'ours/torch', 'ORT s', 'ours/ORT', 'GFLOP/s', '% of matmul', 'peak backend MiB'],
      ...modules.map(({ label, r, ref }) => {
        const g = totalFlop(r.breakdown) / r.seconds / 1e9;
        return [
          label,
          f(r.seconds, 3),
          f(ref.torch, 3),
          f(ref.torch && r.seconds / ref.torch),
          f(ref.ort, 3),
          f(ref.ort && r.seconds / ref.ort),
          f(g, 1),
          f((100 * g) / matmulGflops, 0),
          String(mb(r.breakdown.peakBytes)),
        ];
      }),
    ]);
    console.log('\n## Per layer type (one profiled run; GFLOP/s of the kernels themselves)');
    const rows = [['module', 'type', 'calls', 'ms', 'GFLOP', 'GFLOP/s', '% of matmul']];
    for (const { label, r } of modules) {
      for (const t of ['conv', 'matmul', 'attention', 'other'] as LayerType[]) {
        const s = r.breakdown.types[t];
        if (!s.calls) continue;
        const g = typeGflops(r.breakdown, t);
        rows.push([
          label,
          t,
          String(s.calls),
          f(s.ms, 0),
          f(s.flop / 1e9, 1),
          t === 'other' ? '–' : f(g, 1),
          t === 'other' ? '–' : f((100 * g) / matmulGflops, 0),
        ]);
      }
      const b = r.breakdown;
      const note = (text: string) => rows.push([label, text, '', '', '', '', '']);
      note(
        `other: ${b.otherTop
          .slice(0, 4)
          .map((o) => `${o.name} ${o.ms.toFixed(0)} (${o.where})`)
          .join(', ')}`,
      );
      note(
        `other kernels not native: ${b.otherWasmMs.toFixed(0)} ms (${b.otherNotNative
          .slice(0, 5)
          .map((o) => `${o.name} ${o.ms.toFixed(1)} ×${o.calls}`)
          .join(', ')})`,
      );
      note(`outside kernels (engine, JS, uploads): ${Math.max(0, b.wallMs - b.kernelMs).toFixed(0)} ms`);
    }
    table(rows);
  }

  const get = (key: string) => modules.find((m) => m.key === key);
  const unet = get('sd15:unet');
  if (unet) {
    const b = unet.r.breakdown;
    Object.assign(out, {
      unet_step_s: +unet.r.seconds.toFixed(3),
      unet_step_cpu_s: +unet.r.cpuSeconds.toFixed(3),
      torch_unet_step_s: unet.ref.torch,
      ratio_vs_torch: unet.ref.torch ? +(unet.r.seconds / unet.ref.torch).toFixed(3) : null,
      ort_unet_step_s: unet.ref.ort,
      ratio_vs_ort: unet.ref.ort ? +(unet.r.seconds / unet.ref.ort).toFixed(3) : null,
      // Single-backend runs time onnxruntime-node here; under compare.ts the parent does.
      ...(backends.length === 1 && !process.env.PTP_BENCH_CHILD ? liveRatio(unet.r.seconds) : {}),
      unet_gflops: +(totalFlop(b) / unet.r.seconds / 1e9).toFixed(2),
      unet_tflop: +(totalFlop(b) / 1e12).toFixed(3),
      unet_conv_gflops: +typeGflops(b, 'conv').toFixed(2),
      unet_matmul_gflops: +typeGflops(b, 'matmul').toFixed(2),
      unet_attention_gflops: +typeGflops(b, 'attention').toFixed(2),
      unet_other_s: +(b.types.other.ms / 1000).toFixed(3),
      unet_other_not_native_s: +(b.otherWasmMs / 1000).toFixed(3),
      unet_outside_kernels_s: +(Math.max(0, b.wallMs - b.kernelMs) / 1000).toFixed(3),
    });
  }
  for (const [key, name] of [
    ['sd15:text_encoder', 'text_encoder'],
    ['sd15:vae', 'vae_decode'],
    ['tiny:text_encoder', 'tiny_text_encoder'],
    ['tiny:unet', 'tiny_unet_step'],
    ['tiny:vae', 'tiny_vae_decode'],
    ['sd21:text_encoder', 'sd21_text_encoder'],
    ['sd21:unet', 'sd21_unet_step_768'],
    ['sd21:vae', 'sd21_vae_decode_768'],
    ['sdxl:unet', 'sdxl_unet_step_1024'],
  ]) {
    const m = get(key);
    if (!m) continue;
    out[`${name}_s`] = +m.r.seconds.toFixed(4);
    out[`${name}_cpu_s`] = +m.r.cpuSeconds.toFixed(3);
    out[`torch_${name}_s`] = m.ref.torch;
    out[`ort_${name}_s`] = m.ref.ort;
    out[`${name}_gflops`] = +(totalFlop(m.r.breakdown) / m.r.seconds / 1e9).toFixed(2);
    out[`${name}_peak_backend_mb`] = mb(m.r.breakdown.peakBytes);
    out[`${name}_rss_mb`] = mb(m.r.rssBytes);
    for (const t of ['conv', 'matmul', 'attention'] as LayerType[]) {
      if (m.r.breakdown.types[t].calls) out[`${name}_${t}_gflops`] = +typeGflops(m.r.breakdown, t).toFixed(2);
    }
  }
  const child = (name: string, args: string[]) => Object.assign(out, childJson(name, args));
  if (only.has('p2p')) {
    console.log('\n## SD-1.5-sized Prompt-to-Prompt edit, 512×512, 2 prompts, 2 steps (child process)');
    child('p2p', ['--steps=2']);
  }
  if (only.has('nulltext')) {
    console.log('\n## SD-1.5-sized null-text inversion, 512×512: one step of Adam iterations (child process)');
    child('null-text', [`--iterations=${arg('nulltext-iterations') ?? 2}`]);
  }
  tracker.sample();
  out.peak_rss_mb = mb(tracker.peakRssBytes());
  out.peak_backend_mb = modules.length
    ? Math.max(...modules.map((m) => mb(m.r.breakdown.peakBytes)))
    : mb(wasmPeakBytes());
  if (backend.tfName === 'wasm')
    out.wasm_heap_mb = mb((tf.backend() as unknown as { wasm: { HEAPU8: Uint8Array } }).wasm.HEAPU8.length);
  out.bench_s = +((performance.now() - t0) / 1000).toFixed(1);
  console.log(`\nfinished in ${f((performance.now() - t0) / 1000, 0)} s`);
  console.log(JSON.stringify(out));
}

await main();
// Worker threads (tfjs pthreads, attention workers) never keep the process alive, but be explicit.
process.exit(0);
