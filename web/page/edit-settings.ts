/**
 * The page's text settings → a checked edit (the library's parsers; one error naming the field at
 * fault). Runs in the worker, where the library is loaded.
 */
import {
  EditSpecError,
  parseCross,
  parseFraction,
  parseWordFactors,
  parseWords,
  type EditSpec,
} from '../../src/index.js';
import type { PageSettings } from './protocol.js';

export interface CheckedEdit {
  spec: EditSpec;
  steps: number;
  guidance: number;
  seed: number;
  /** Null-text inversion of an uploaded image: Adam iterations per step at most. */
  innerSteps: number;
}

function integer(raw: string, label: string, min: number, max: number): number {
  const v = Number(raw);
  if (raw.trim() === '' || !Number.isInteger(v) || v < min || v > max)
    throw new EditSpecError(`${label}: expected a whole number from ${min} to ${max}, got "${raw}"`);
  return v;
}

function decimal(raw: string, label: string, min: number, max: number): number {
  const v = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(v) || v < min || v > max)
    throw new EditSpecError(`${label}: expected a number from ${min} to ${max}, got "${raw}"`);
  return v;
}

/**
 * Checks the settings (`upload`: an uploaded image is edited, whose caption is the source
 * prompt); throws an EditSpecError with a one-line message.
 */
export function checkSettings(s: PageSettings, opts: { upload?: boolean } = {}): CheckedEdit {
  const source = s.source.trim();
  if (!source)
    throw new EditSpecError(
      opts.upload
        ? 'source prompt: empty; type the caption of the uploaded image'
        : 'source prompt: empty; type the prompt of the image to edit',
    );
  const targets = s.targets.map((t) => t.trim()).filter((t) => t !== '');
  const spec: EditSpec = {
    source,
    targets,
    mode: s.mode === 'auto' ? undefined : s.mode,
    cross: parseCross(s.cross, 'cross'),
    self: parseFraction(s.self, 'self'),
    blend: s.blend.trim() ? parseWords(s.blend, 'blend') : undefined,
    reweight: s.reweight.trim() ? parseWordFactors(s.reweight, 'reweight') : undefined,
  };
  const guidance = decimal(s.guidance, 'guidance', 0, 100);
  if (opts.upload && guidance <= 1)
    throw new EditSpecError(
      `guidance: editing an uploaded image needs guidance above 1 (its null-text inversion is optimised for guided sampling), got "${s.guidance}"`,
    );
  return {
    spec,
    steps: integer(s.steps, 'steps', 1, 1000),
    guidance,
    seed: integer(s.seed, 'seed', 0, Number.MAX_SAFE_INTEGER),
    innerSteps: integer(s.inner, 'inner steps', 1, 1000),
  };
}
