/**
 * The quality targets of the shipped shapes-world model (issues 18 and 19), declared once: `ptp
 * quality` prints them next to the measures and `--check` fails below them; the shipped-model tests
 * hold the model to them.
 */
import type { QualitySummary } from './score.js';
import type { ProbeSummary } from './probes.js';

/** Everything a target can be measured on: the edit report's summary and the background probes. */
export type QualityMeasures = Partial<QualitySummary> & Partial<ProbeSummary>;

export interface QualityTarget {
  /** What is measured, as the report names it. */
  name: string;
  /** The least value that meets the target. */
  min: number;
  /** The measured value (NaN or undefined: not measured). */
  value(m: QualityMeasures): number | undefined;
}

const diff = (a: number | undefined, b: number | undefined) => (a === undefined || b === undefined ? undefined : a - b);

export const QUALITY_TARGETS: readonly QualityTarget[] = [
  { name: 'generation_ok_fraction', min: 0.9, value: (m) => m.generation_ok_fraction },
  { name: 'attribute_ok_fraction', min: 0.85, value: (m) => m.attribute_ok_fraction },
  { name: 'iou_p2p_mean', min: 0.8, value: (m) => m.iou_p2p_mean },
  { name: 'iou_p2p_mean - iou_plain_mean', min: 0.3, value: (m) => diff(m.iou_p2p_mean, m.iou_plain_mean) },
  { name: 'untouched_iou_mean', min: 0.9, value: (m) => m.untouched_iou_mean },
  // "The background follows the caption for every one of the 8 colours": each colour's share of
  // seeds whose background follows, at least 3 of 4 (the report's default of 4 seeds per colour).
  { name: 'background_follows_caption_min', min: 0.75, value: (m) => m.background_follows_caption_min },
  { name: 'noise_mean_probe', min: 0.9, value: (m) => m.noise_mean_probe },
];

/** The target of `name` (throws for a name that is not one). */
export function qualityTarget(name: string): QualityTarget {
  const t = QUALITY_TARGETS.find((x) => x.name === name);
  if (!t) throw new Error(`no quality target "${name}" (${QUALITY_TARGETS.map((x) => x.name).join(', ')})`);
  return t;
}

/** Whether a value meets a target: not when it was not measured. */
export const meets = (t: QualityTarget, m: QualityMeasures): boolean => {
  const v = t.value(m);
  return v !== undefined && Number.isFinite(v) && v >= t.min;
};

/** One line per target missed (or not measured), e.g. "attribute_ok_fraction 0.017 < 0.85". */
export function missedTargets(m: QualityMeasures): string[] {
  return QUALITY_TARGETS.filter((t) => !meets(t, m)).map((t) => {
    const v = t.value(m);
    return v === undefined || !Number.isFinite(v)
      ? `${t.name} not measured (target ≥ ${t.min})`
      : `${t.name} ${v.toFixed(3)} < ${t.min}`;
  });
}

/**
 * A floor the shipped model is held to (test/shipped-model.test.ts) on a measure whose target it
 * does not meet yet: the value measured on that test's fixed subset when the model was exported,
 * less a margin. A floor guards against regressions without pretending the target is met; it is
 * raised with each better model and removed once its target is reached.
 */
export interface ShippedFloor {
  /** The measure, as the report names it. */
  name: string;
  /** The target it stands in for (a name in QUALITY_TARGETS). */
  target: string;
  min: number;
  value(m: QualityMeasures): number | undefined;
}

/**
 * models/shapes as exported on 2026-12-05 (zero-terminal-SNR v-prediction, 13000 steps), measured
 * on the test's subset: generation background 0.600 (no generation shows every object in its
 * shape), attribute_ok 0.200, iou_p2p 0.541 vs plain 0.300, untouched 0.277.
 */
export const SHIPPED_FLOORS: readonly ShippedFloor[] = [
  {
    name: 'generation_background_ok_fraction',
    target: 'generation_ok_fraction',
    min: 0.5,
    value: (m) => m.generation_background_ok_fraction,
  },
  { name: 'attribute_ok_fraction', target: 'attribute_ok_fraction', min: 0.1, value: (m) => m.attribute_ok_fraction },
  { name: 'iou_p2p_mean', target: 'iou_p2p_mean', min: 0.45, value: (m) => m.iou_p2p_mean },
  {
    name: 'iou_p2p_mean - iou_plain_mean',
    target: 'iou_p2p_mean - iou_plain_mean',
    min: 0.15,
    value: (m) => diff(m.iou_p2p_mean, m.iou_plain_mean),
  },
  { name: 'untouched_iou_mean', target: 'untouched_iou_mean', min: 0.2, value: (m) => m.untouched_iou_mean },
];

/** The floor standing in for target `target`, if the shipped model is below that target. */
export const shippedFloor = (target: string): ShippedFloor | undefined =>
  SHIPPED_FLOORS.find((f) => f.target === target);
