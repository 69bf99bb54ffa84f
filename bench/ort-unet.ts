/**
 * onnxruntime-node, live: the SD-1.5-sized UNet step (batch 2, 64² latents, 77 tokens; the same
 * random weights as bench/models.ts) exported as ONNX from our model (bench/onnx/unet.ts) into a
 * temporary directory, then timed in onnxruntime-node's CPU session as the stored peer figure was
 * (../shared/notes/ort-peer.md: every graph optimisation, intra-op threads = cores, one warm-up,
 * median of the timed runs). Run by `npm run bench` in a child process of its own; ends with one
 * JSON line (`{ ort_live_skipped }` with the reason where onnxruntime-node cannot load).
 *
 *   node dist/bench/ort-unet.js [--config=DIR] [--size=64] [--reps=2]
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { UNet2DConditionModel } from '../src/models/unet/unet.js';
import { randomizeWeights, uniformValues } from './models.js';
import { exportUNet } from './onnx/unet.js';
import { loadOrt, ortSession, ortThreads } from './onnx/ort.js';

const root = resolve(fileURLToPath(import.meta.url), '..', '..', process.argv[1]?.includes('/dist/') ? '..' : '');
const arg = (name: string) => process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1];
const configDir =
  arg('config') ?? join(process.env.PTP_REFERENCE_DIR ?? resolve(root, '..', 'shared', 'reference'), 'sd15-config');
const size = Number(arg('size') ?? 64);
const reps = Number(arg('reps') ?? 2);
const [batch, tokens] = [2, 77];

const seconds = (t0: number) => (performance.now() - t0) / 1000;
const cpuSeconds = (c: NodeJS.CpuUsage) => (c.user + c.system) / 1e6;

async function main(): Promise<Record<string, unknown>> {
  const ort = await loadOrt();
  if ('reason' in ort) {
    console.log(`onnxruntime-node live: skipped: ${ort.reason}`);
    return { ort_live_skipped: ort.reason };
  }
  const dir = mkdtempSync(join(tmpdir(), 'ptp-ort-'));
  try {
    const path = join(dir, 'unet.onnx');
    let t0 = performance.now();
    const m = UNet2DConditionModel.fromConfig(JSON.parse(readFileSync(join(configDir, 'unet', 'config.json'), 'utf8')));
    m.setResidency('stream');
    randomizeWeights(m);
    const graph = exportUNet(m, { batch, size, tokens });
    const bytes = graph.save(path);
    const channels = [m.config.inChannels, m.config.crossAttentionDim[0]];
    m.dispose();
    const exportS = seconds(t0);
    console.log(
      `exported the UNet as ONNX: ${graph.size} nodes, ${Math.round(bytes / 2 ** 20)} MiB of weights, ${exportS.toFixed(1)} s`,
    );

    const threads = ortThreads();
    t0 = performance.now();
    const session = await ortSession(ort, path, threads);
    const loadS = seconds(t0);
    const feeds = {
      sample: new ort.Tensor('float32', uniformValues(batch * channels[0] * size * size, 1), [
        batch,
        channels[0],
        size,
        size,
      ]),
      timestep: new ort.Tensor('float32', Float32Array.from([999, 999]), [batch]),
      encoder_hidden_states: new ort.Tensor('float32', uniformValues(batch * tokens * channels[1], 2), [
        batch,
        tokens,
        channels[1],
      ]),
    };
    const runs: number[] = [];
    const cpu: number[] = [];
    for (let r = 0; r <= reps; r++) {
      const c0 = process.cpuUsage();
      t0 = performance.now();
      const out = await session.run(feeds);
      const s = seconds(t0);
      if (!out.out_sample.data.every(Number.isFinite))
        throw new Error('onnxruntime-node: the UNet step gave non-finite values');
      if (r > 0 || reps === 0) {
        runs.push(s);
        cpu.push(cpuSeconds(process.cpuUsage(c0)));
      }
    }
    await session.release();
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
    const rss = process.resourceUsage().maxRSS * 1024;
    console.log(
      `onnxruntime-node ${ort.version} live, ${threads} threads: UNet step ${median(runs).toFixed(3)} s (runs ${runs.map((x) => x.toFixed(2)).join(', ')}; ${median(cpu).toFixed(2)} CPU s), session load ${loadS.toFixed(1)} s, peak RSS ${Math.round(rss / 2 ** 20)} MiB`,
    );
    return {
      ort_live_unet_step_s: +median(runs).toFixed(3),
      ort_live_unet_step_cpu_s: +median(cpu).toFixed(3),
      ort_live_runs: runs.map((x) => +x.toFixed(3)),
      ort_live_threads: threads,
      ort_live_version: ort.version,
      ort_live_load_s: +loadS.toFixed(2),
      ort_live_export_s: +exportS.toFixed(2),
      ort_live_rss_mb: Math.round(rss / 2 ** 20),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

console.log(JSON.stringify(await main()));
process.exit(0);
