/**
 * Run-time backend selection, platform-neutral: a platform module supplies the candidates
 * (Node: tfjs-node-gpu → tfjs-node → wasm → cpu; browser: webgpu → webgl → wasm → cpu).
 */
import * as tf from '@tensorflow/tfjs-core';
import { log } from '../util/log.js';

export interface BackendCandidate {
  /** Name users pass (`--backend`, PTP_BACKEND): e.g. 'tensorflow-gpu', 'wasm'. */
  readonly name: string;
  /** Other accepted spellings. */
  readonly aliases?: readonly string[];
  /** Imports/registers the backend; returns the tfjs backend name to activate. Throws if unavailable. */
  load(): Promise<string>;
  /** Called after activation (kernel patches, thread set-up); returns a short description. */
  afterInit?(): Promise<string | void>;
}

export interface SelectedBackend {
  /** Candidate name that was picked. */
  name: string;
  /** tfjs backend name (tf.getBackend()). */
  tfName: string;
  /** One-line description (e.g. "wasm (simd, 1 thread)"). */
  description: string;
  /** Why earlier candidates were skipped. */
  skipped: { name: string; reason: string }[];
}

/**
 * The selection lives on globalThis (like tfjs' own engine), so a second copy of this module
 * (e.g. loaded once through require and once through import) sees the same active backend.
 */
const SELECTED = Symbol.for('tfjs-prompt-to-prompt.selected-backend');
const slot = globalThis as unknown as { [SELECTED]?: SelectedBackend };

/** The backend chosen by the last selectBackend call, if any. */
export function currentBackend(): SelectedBackend | undefined {
  return slot[SELECTED];
}

function firstLine(e: unknown): string {
  return String((e as Error)?.message ?? e)
    .split('\n')[0]
    .slice(0, 200);
}

/**
 * Activates the first candidate that loads, or exactly `preferred` when given (no fallback then:
 * an explicit choice that fails is an error). 'auto' or undefined means the ordered fallback.
 */
export async function selectBackend(
  candidates: readonly BackendCandidate[],
  preferred?: string,
): Promise<SelectedBackend> {
  const want = preferred && preferred !== 'auto' ? preferred.toLowerCase() : undefined;
  let list = candidates;
  if (want) {
    list = candidates.filter((c) => c.name === want || c.aliases?.includes(want));
    if (!list.length) {
      throw new Error(
        `unknown backend "${preferred}"; choose one of: auto, ${candidates.map((c) => c.name).join(', ')}`,
      );
    }
  }
  // Already active (a repeated initialisation): keep it rather than set the backend up twice.
  const active = currentBackend();
  if (active && tf.getBackend() === active.tfName && (!want || list.some((c) => c.name === active.name))) return active;
  const skipped: { name: string; reason: string }[] = [];
  for (const c of list) {
    try {
      const tfName = await c.load();
      const ok = await tf.setBackend(tfName);
      if (!ok) throw new Error(`tf.setBackend('${tfName}') failed`);
      await tf.ready();
      const extra = (await c.afterInit?.()) || tfName;
      const selected: SelectedBackend = { name: c.name, tfName, description: extra, skipped };
      slot[SELECTED] = selected;
      for (const s of skipped) log.debug(`backend ${s.name} unavailable: ${s.reason}`);
      log.info(`backend: ${extra}${skipped.length ? ` (skipped ${skipped.map((s) => s.name).join(', ')})` : ''}`);
      return selected;
    } catch (e) {
      if (want) throw new Error(`backend "${preferred}" is not available: ${firstLine(e)}`);
      skipped.push({ name: c.name, reason: firstLine(e) });
    }
  }
  throw new Error(`no backend could be loaded: ${skipped.map((s) => `${s.name}: ${s.reason}`).join('; ')}`);
}
