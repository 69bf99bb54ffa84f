/** Plans a single-file SD-1.x/2.x/XL → diffusers conversion from the checkpoint's header alone (no data read). */
import type { StDtype } from '../src/io/dtypes.js';
import { componentPrefix, layoutComponents, mapSd1Key, type Sd1Component, type Sd1Layout } from './sd1-keymap.js';

/** A tensor as described by the checkpoint header. */
export interface SourceTensor {
  readonly name: string;
  readonly shape: readonly number[];
  readonly dtype?: StDtype;
}

/** One tensor to write: where it comes from and where it goes. */
export interface PlanEntry {
  readonly src: string;
  readonly component: Sd1Component;
  readonly dst: string;
  readonly srcShape: readonly number[];
  readonly dstShape: readonly number[];
  readonly dtype?: StDtype;
  /** Rows [start, stop) of the source along dim 0 (a part of a fused tensor); absent = the whole tensor. */
  readonly rows?: readonly [number, number];
  /** The 2-D source is written transposed (dstShape = the source shape reversed). */
  readonly transpose?: boolean;
}

export interface Sd1Plan {
  /** Sorted by component, then diffusers key. */
  readonly entries: readonly PlanEntry[];
  /** Keys deliberately left out, with the reason. */
  readonly ignored: readonly { key: string; reason: string }[];
  /** Everything that prevents the conversion, one line each. */
  readonly problems: readonly string[];
}

const FLOAT_DTYPES = new Set<StDtype>(['F32', 'F16', 'BF16', 'F64']);
const COMPONENT_ORDER: readonly Sd1Component[] = ['unet', 'vae', 'text_encoder', 'text_encoder_2'];
const fmt = (s: readonly number[]) => `[${s.join(', ')}]`;

/** [C, C, 1, 1] → [C, C]; already-2-D shapes pass; anything else is undefined. */
function squeeze1x1(shape: readonly number[]): number[] | undefined {
  if (shape.length === 2) return [...shape];
  if (shape.length === 4 && shape[2] === 1 && shape[3] === 1) return [shape[0], shape[1]];
  return undefined;
}

/** Maps every key; collects all unknown/unsupported keys and shape/dtype problems at once. */
export function planSd1Conversion(tensors: Iterable<SourceTensor>, layout: Sd1Layout): Sd1Plan {
  const entries: PlanEntry[] = [];
  const ignored: { key: string; reason: string }[] = [];
  const problems: string[] = [];
  const unsupported = new Map<string, string[]>();
  const bySrc = new Map<string, string>();
  for (const t of tensors) {
    const m = mapSd1Key(t.name, layout);
    if (m.kind === 'ignore') ignored.push({ key: t.name, reason: m.reason });
    else if (m.kind === 'unsupported') unsupported.set(m.reason, [...(unsupported.get(m.reason) ?? []), t.name]);
    else if (m.kind === 'unknown') problems.push(`no rule maps "${t.name}" ${fmt(t.shape)}`);
    else if (m.kind === 'split') {
      const n = t.shape[0];
      if (t.shape.length < 1 || t.shape.length > 2 || n % 3 !== 0) {
        problems.push(`"${t.name}": expected a fused q/k/v tensor [3·C(, C)], got ${fmt(t.shape)}`);
        continue;
      }
      if (t.dtype && !FLOAT_DTYPES.has(t.dtype)) {
        problems.push(`"${t.name}": dtype ${t.dtype} is not a float type`);
        continue;
      }
      const third = n / 3;
      for (const p of m.parts) {
        const rows: [number, number] = [(p.part ?? 0) * third, ((p.part ?? 0) + 1) * third];
        const dstKey = `${m.component}/${p.key}`;
        if (bySrc.has(dstKey)) {
          problems.push(`"${t.name}" and "${bySrc.get(dstKey)}" both map to ${m.component} "${p.key}"`);
          continue;
        }
        bySrc.set(dstKey, t.name);
        entries.push({
          src: t.name,
          component: m.component,
          dst: p.key,
          srcShape: t.shape,
          dstShape: [third, ...t.shape.slice(1)],
          dtype: t.dtype,
          rows,
        });
      }
    } else {
      const dstShape = m.squeeze
        ? squeeze1x1(t.shape)
        : m.transpose
          ? t.shape.length === 2
            ? [t.shape[1], t.shape[0]]
            : undefined
          : [...t.shape];
      const dstKey = `${m.component}/${m.key}`;
      if (!dstShape)
        problems.push(
          `"${t.name}": expected ${m.transpose ? 'a 2-D matrix to transpose' : 'a 1×1 conv weight [C, C, 1, 1]'}, got ${fmt(t.shape)}`,
        );
      else if (t.dtype && !FLOAT_DTYPES.has(t.dtype))
        problems.push(`"${t.name}": dtype ${t.dtype} is not a float type`);
      else if (bySrc.has(dstKey))
        problems.push(`"${t.name}" and "${bySrc.get(dstKey)}" both map to ${m.component} "${m.key}"`);
      else {
        bySrc.set(dstKey, t.name);
        entries.push({
          src: t.name,
          component: m.component,
          dst: m.key,
          srcShape: t.shape,
          dstShape,
          dtype: t.dtype,
          ...(m.transpose ? { transpose: true } : {}),
        });
      }
    }
  }
  for (const [reason, keys] of unsupported) {
    problems.unshift(`${keys.length} key${keys.length === 1 ? '' : 's'} like "${keys[0]}": ${reason}`);
  }
  for (const c of layoutComponents(layout)) {
    if (!entries.some((e) => e.component === c))
      problems.push(
        `no ${componentPrefix(c, layout)}* tensors: the ${c} is missing (not a full Stable Diffusion checkpoint?)`,
      );
  }
  entries.sort(
    (a, b) =>
      COMPONENT_ORDER.indexOf(a.component) - COMPONENT_ORDER.indexOf(b.component) ||
      (a.dst < b.dst ? -1 : a.dst > b.dst ? 1 : 0),
  );
  return { entries, ignored, problems };
}
