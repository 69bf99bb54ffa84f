/**
 * The performance panel's comparison of backends: the last finished run on each backend in this
 * tab (wasm, webgl, webgpu side by side), with its time per step as a multiple of wasm's. Runs
 * with other settings (prompts, steps, model, an upload) are marked, since they do not compare.
 */
import type { PageBackend, RunPerf } from './protocol.js';

export interface BackendRun {
  backend: PageBackend;
  perf: RunPerf;
  /** What the run did, e.g. "2 prompts × 20 steps, models/shapes/": rows with another key do not compare. */
  key: string;
}

const ORDER: PageBackend[] = ['wasm', 'webgl', 'webgpu'];
const s = (v: number | undefined) => (v === undefined ? '–' : `${v.toFixed(2)} s`);

/** Fills `body` (a tbody) with one row per backend in `runs`; `latest` is the run just finished. */
export function renderComparison(
  body: HTMLTableSectionElement,
  runs: ReadonlyMap<PageBackend, BackendRun>,
  latest: BackendRun,
): void {
  const wasm = runs.get('wasm');
  const rows = ORDER.flatMap((b) => {
    const r = runs.get(b);
    if (!r) return [];
    const tr = document.createElement('tr');
    tr.dataset.backend = b;
    const ratio =
      wasm && wasm.key === r.key ? `${(r.perf.secondsPerStep / wasm.perf.secondsPerStep).toFixed(1)}×` : '–';
    const cells = [
      r.perf.backend,
      s(r.perf.secondsPerStep),
      ratio,
      s(r.perf.firstStepSeconds),
      s(r.perf.decodeSeconds),
      s(r.perf.loadSeconds),
      r.key === latest.key ? r.key : `${r.key} (other settings)`,
    ];
    tr.replaceChildren(
      ...cells.map((text) => {
        const td = document.createElement('td');
        td.textContent = text;
        return td;
      }),
    );
    tr.dataset.secondsPerStep = String(r.perf.secondsPerStep);
    return [tr];
  });
  body.replaceChildren(...rows);
}
