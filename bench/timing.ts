/** Timing helpers for the benchmark scripts: medians of repeated runs, peak RSS and backend bytes. */
import * as tf from '@tensorflow/tfjs-core';

export interface Timing {
  /** Median seconds. */
  median: number;
  /** All timed runs in seconds. */
  runs: number[];
  /** Median process CPU seconds (all threads) of the timed runs: a load-independent figure. */
  cpuMedian: number;
}

function medianOf(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/**
 * Runs `f` `warmup` times untimed, then `reps` times timed; the result of each call is read
 * back (`dataSync` of one element would not force async backends; wasm and cpu are synchronous,
 * so disposal is enough there) and disposed.
 */
export async function timeIt(
  f: () => tf.Tensor | tf.Tensor[] | void | Promise<unknown>,
  reps: number,
  warmup = 1,
): Promise<Timing> {
  const runs: number[] = [];
  const cpu: number[] = [];
  for (let r = 0; r < warmup + reps; r++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    const out = await f();
    if (out instanceof tf.Tensor || Array.isArray(out)) {
      const list = [out].flat() as tf.Tensor[];
      if (!['wasm', 'cpu'].includes(tf.getBackend())) await Promise.all(list.map((t) => t.data()));
      tf.dispose(list);
    }
    const t = (performance.now() - t0) / 1000;
    const c = process.cpuUsage(c0);
    if (r >= warmup) {
      runs.push(t);
      cpu.push((c.user + c.system) / 1e6);
    }
    tracker.sample();
  }
  return { median: runs.length ? medianOf(runs) : NaN, runs, cpuMedian: cpu.length ? medianOf(cpu) : NaN };
}

/** Peak process RSS and peak live backend bytes, sampled between runs and on a timer. */
class PeakTracker {
  rss = 0;
  backend = 0;
  private timer?: ReturnType<typeof setInterval>;
  sample(): void {
    this.rss = Math.max(this.rss, process.memoryUsage.rss());
    this.backend = Math.max(this.backend, tf.memory().numBytes);
  }
  start(): void {
    this.timer ??= setInterval(() => this.sample(), 200);
    this.timer.unref?.();
  }
  /** process.resourceUsage().maxRSS is the kernel's own high-water mark (KiB). */
  peakRssBytes(): number {
    return Math.max(this.rss, process.resourceUsage().maxRSS * 1024);
  }
}
export const tracker = new PeakTracker();

export const gflops = (flop: number, seconds: number) => flop / seconds / 1e9;
