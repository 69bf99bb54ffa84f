/**
 * `npm run bench` over several backends in one run: each backend runs bench.ts in a child
 * process of its own (its own heap, RSS and kernels), its tables streamed through, then one
 * comparison table and one merged JSON line. The base keys are those of the wasm run (as when
 * benchmarking wasm alone); every other run's keys are added with its prefix (`native_`,
 * `native_bf16_`), with ratios to onnxruntime-node and PyTorch.
 *
 * Backends: `native` (fp32), `native-unpacked` (fp32 with weights reordered on every call instead
 * of packed once: the before of weight packing), `native-bf16`, `wasm`; the first runs `only` (every section by
 * default), the others `others` (ops, unet, vae) with one profiled run after a warm-up.
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';

export interface BackendRun {
  /** `native`, `native-unpacked`, `native-bf16` or `wasm`. */
  name: string;
  env: Record<string, string>;
  prefix: string;
}

export function backendRun(name: string): BackendRun {
  switch (name) {
    case 'native':
      return { name, env: { PTP_BACKEND: 'native', PTP_PRECISION: 'fp32' }, prefix: 'native_' };
    case 'native-unpacked':
      return {
        name,
        env: { PTP_BACKEND: 'native', PTP_PRECISION: 'fp32', PTP_NATIVE_PACK: '0' },
        prefix: 'native_unpacked_',
      };
    case 'native-bf16':
      return { name, env: { PTP_BACKEND: 'native', PTP_PRECISION: 'bf16' }, prefix: 'native_bf16_' };
    case 'wasm':
      return { name, env: { PTP_BACKEND: 'wasm' }, prefix: '' };
    default:
      throw new Error(`--backends: unknown backend "${name}"; choose from native, native-unpacked, native-bf16, wasm`);
  }
}

/** Runs bench.ts for one backend with `args`, echoing its output; resolves to its JSON line. */
function runChild(script: string, run: BackendRun, args: string[]): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    console.log(`\n# ${run.name}`);
    const child = spawn(process.execPath, [...process.execArgv, script, `--backends=${run.name}`, ...args], {
      env: { ...process.env, ...run.env, PTP_BENCH_CHILD: '1' },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let last = '';
    createInterface({ input: child.stdout }).on('line', (line) => {
      if (last) console.log(last);
      last = line;
    });
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(`bench for ${run.name} exited with status ${code}`));
      try {
        resolve(JSON.parse(last) as Record<string, unknown>);
      } catch {
        reject(new Error(`bench for ${run.name} printed no JSON line`));
      }
    });
  });
}

const num = (x: unknown) => (typeof x === 'number' && Number.isFinite(x) ? x : undefined);
const fmt = (x: number | undefined, d = 2) => (x === undefined ? '–' : x.toFixed(d));
const ratio = (a: number | undefined, b: number | undefined) => (a !== undefined && b ? +(a / b).toFixed(3) : null);

/**
 * The comparison over `names`; returns the merged JSON object. `live` holds the figures of
 * onnxruntime-node run in this sitting (bench/ort-unet.ts), which the UNet ratios use.
 */
export async function compareBackends(
  script: string,
  names: string[],
  only: string,
  others: string,
  pass: string[],
  live: Record<string, unknown> = {},
): Promise<Record<string, unknown>> {
  const runs = names.map(backendRun);
  const results: Record<string, Record<string, unknown>> = {};
  for (const [i, run] of runs.entries()) {
    const sections = i === 0 ? only : others;
    const args = [`--only=${sections}`, ...(i === 0 ? pass : ['--unet-reps=0', '--reps=0'])];
    results[run.name] = await runChild(script, run, args);
  }
  const base = results.wasm ?? results[runs[0].name];
  const out: Record<string, unknown> = { ...base, ...live, backends: names };
  const ortLive = num(live.ort_live_unet_step_s);
  for (const run of runs) {
    if (!run.prefix) continue;
    for (const [k, v] of Object.entries(results[run.name])) out[`${run.prefix}${k}`] = v;
  }
  const modules = [
    ['unet_step_s', 'ort_unet_step_s', 'torch_unet_step_s', 'SD-1.5 UNet step (batch 2, 64²)'],
    ['vae_decode_s', 'ort_vae_decode_s', 'torch_vae_decode_s', 'SD-1.5 VAE decode 64²→512²'],
    ['text_encoder_s', 'ort_text_encoder_s', 'torch_text_encoder_s', 'SD-1.5 text encoder'],
    [
      'sdxl_unet_step_1024_s',
      'ort_sdxl_unet_step_1024_s',
      'torch_sdxl_unet_step_1024_s',
      'SD-XL UNet step (batch 2, 128²)',
    ],
  ] as const;
  const rows = [
    [
      'module',
      ...runs.map((r) => `${r.name} s (CPU s)`),
      'torch s',
      'ORT s',
      ...runs.map((r) => `${r.name}/ORT`),
      ...runs.map((r) => `${r.name}/torch`),
    ],
  ];
  for (const [key, ortKey, torchKey, label] of modules) {
    const secs = runs.map((r) => num(results[r.name][key]));
    if (secs.every((s) => s === undefined)) continue;
    const ort = runs.map((r) => num(results[r.name][ortKey])).find((x) => x !== undefined);
    const torch = runs.map((r) => num(results[r.name][torchKey])).find((x) => x !== undefined);
    const cpu = runs.map((r) => num(results[r.name][key.replace(/_s$/, '_cpu_s')]));
    const ours = secs.map((s, i) => `${fmt(s, 2)} (${fmt(cpu[i], 1)})`);
    rows.push([
      label,
      ...ours,
      fmt(torch, 2),
      fmt(ort, 2),
      ...secs.map((s) => fmt(ort && s && s / ort, 2)),
      ...secs.map((s) => fmt(torch && s && s / torch, 2)),
    ]);
    if (key === 'unet_step_s' && ortLive !== undefined) {
      const liveCpu = fmt(num(live.ort_live_unet_step_cpu_s), 1);
      rows.push([
        `${label}, ORT live`,
        ...ours,
        '',
        `${fmt(ortLive, 2)} (${liveCpu})`,
        ...secs.map((s) => fmt(s && s / ortLive, 2)),
        ...runs.map(() => ''),
      ]);
    }
  }
  const gemm = [['GEMM peak (matMul 1024³) GFLOP/s', ...runs.map((r) => fmt(num(results[r.name].matmul_gflops), 1))]];
  for (const [t, label] of [
    ['conv', 'UNet conv'],
    ['matmul', 'UNet matmul'],
    ['attention', 'UNet attention'],
  ] as const) {
    gemm.push([
      `${label} GFLOP/s (% of that run's GEMM peak)`,
      ...runs.map((r) => {
        const g = num(results[r.name][`unet_${t}_gflops`]);
        const peak = num(results[r.name].matmul_gflops);
        return g === undefined ? '–' : `${g.toFixed(1)} (${peak ? ((100 * g) / peak).toFixed(0) : '–'} %)`;
      }),
    ]);
  }
  console.log(
    '\n## Backends side by side (one run; ratio = ours / theirs, lower is better; CPU s = process CPU time of all threads, which load does not inflate;' +
      ' "ORT live" = onnxruntime-node timed in this run, the other ORT and torch figures are the stored ones of ../shared/reference/bench.json)',
  );
  printTable(rows);
  console.log('');
  printTable([['rate', ...runs.map((r) => r.name)], ...gemm]);
  const ortUnet = num(base.ort_unet_step_s) ?? num(out.native_ort_unet_step_s);
  const ortVae = num(base.ort_vae_decode_s) ?? num(out.native_ort_vae_decode_s);
  Object.assign(out, {
    native_unet_step_s: num(out.native_unet_step_s) ?? null,
    native_bf16_unet_step_s: num(out.native_bf16_unet_step_s) ?? null,
    ratio_native_vs_ort: ratio(num(out.native_unet_step_s), ortUnet),
    ratio_native_bf16_vs_ort: ratio(num(out.native_bf16_unet_step_s), ortUnet),
    ratio_native_vae_vs_ort: ratio(num(out.native_vae_decode_s), ortVae),
    ratio_native_vs_ort_live: ratio(num(out.native_unet_step_s), ortLive),
    ratio_native_bf16_vs_ort_live: ratio(num(out.native_bf16_unet_step_s), ortLive),
    ratio_wasm_vs_ort_live: ratio(num(results.wasm?.unet_step_s), ortLive),
    ratio_native_packed_vs_unpacked_unet: ratio(num(out.native_unet_step_s), num(out.native_unpacked_unet_step_s)),
    ratio_native_packed_vs_unpacked_vae: ratio(num(out.native_vae_decode_s), num(out.native_unpacked_vae_decode_s)),
    ratio_native_vs_wasm_unet: ratio(num(out.native_unet_step_s), num(results.wasm?.unet_step_s)),
    ratio_native_vs_wasm_vae: ratio(num(out.native_vae_decode_s), num(results.wasm?.vae_decode_s)),
    ratio_native_vs_wasm_sdxl_unet: ratio(
      num(out.native_sdxl_unet_step_1024_s),
      num(results.wasm?.sdxl_unet_step_1024_s),
    ),
  });
  return out;
}

export function printTable(rows: string[][]): void {
  const w = rows[0].map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  rows.forEach((r, k) => {
    console.log(r.map((c, i) => (i === 0 ? c.padEnd(w[i]) : c.padStart(w[i]))).join('  '));
    if (k === 0) console.log(w.map((n) => '-'.repeat(n)).join('  '));
  });
}
