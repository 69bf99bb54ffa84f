/**
 * Finding a component's weight files in a diffusers folder: `diffusion_pytorch_model.safetensors`
 * (diffusers models) or `model.safetensors` (transformers), their `fp16` variants
 * (`*.fp16.safetensors`), or sharded weights described by `*.safetensors.index[.fp16].json`.
 */
import { joinPath, type FileStore } from './file-store.js';
import { isPickleName, pickleMessage } from './pickle.js';

/** Weight file stems: diffusers models, transformers models. */
export const WEIGHT_BASENAMES: readonly string[] = ['diffusion_pytorch_model', 'model'];

/** The stems in order of preference for `dir` (transformers' name first for text_encoder and text_encoder_2). */
function basenamesFor(dir: string): readonly string[] {
  return /^text_encoder(_2)?$/.test(dir.split('/').pop()!) ? [...WEIGHT_BASENAMES].reverse() : WEIGHT_BASENAMES;
}

/** The weight files found for one component. */
export interface WeightFiles {
  /** Component folder, e.g. "unet". */
  readonly dir: string;
  /** Store paths of the safetensors file(s): one, or every shard. */
  readonly files: readonly string[];
  /** Store path of the shard index (sharded weights only). */
  readonly index?: string;
  /** The variant picked (e.g. "fp16"), undefined for the plain files. */
  readonly variant?: string;
  /** Sharded only: tensor key → store path of the shard holding it. */
  readonly weightMap?: Readonly<Record<string, string>>;
}

export interface WeightFilesResult {
  files?: WeightFiles;
  /** What is wrong (missing files, pickles, bad index), one line each. */
  problems: string[];
  /** Fallbacks taken (e.g. fp16 asked but absent). */
  notes: string[];
}

/** diffusers' variant naming: "a.safetensors" → "a.fp16.safetensors", "a.safetensors.index.json" → "a.safetensors.index.fp16.json". */
export function variantName(file: string, variant?: string): string {
  if (!variant) return file;
  const parts = file.split('.');
  parts.splice(parts.length - 1, 0, variant);
  return parts.join('.');
}

async function readIndex(
  store: FileStore,
  dir: string,
  index: string,
  variant: string | undefined,
): Promise<WeightFilesResult> {
  const problems: string[] = [];
  let parsed: unknown;
  try {
    parsed = JSON.parse(await store.readText(index));
  } catch (e) {
    return { problems: [`${index}: not a valid shard index (${(e as Error).message})`], notes: [] };
  }
  const map = (parsed as { weight_map?: unknown } | null)?.weight_map;
  if (
    typeof map !== 'object' ||
    map === null ||
    Array.isArray(map) ||
    !Object.values(map).every((v) => typeof v === 'string')
  ) {
    return { problems: [`${index}: has no "weight_map" object of key → shard file name`], notes: [] };
  }
  const weightMap: Record<string, string> = {};
  for (const [k, v] of Object.entries(map as Record<string, string>)) weightMap[k] = joinPath(dir, v);
  const files = [...new Set(Object.values(weightMap))].sort();
  if (!files.length) problems.push(`${index}: "weight_map" is empty`);
  for (const f of files) {
    if (!(await store.exists(f))) problems.push(`missing: ${f} (a shard listed in ${index})`);
  }
  return { files: problems.length ? undefined : { dir, files, index, variant, weightMap }, problems, notes: [] };
}

async function findExact(
  store: FileStore,
  dir: string,
  variant: string | undefined,
): Promise<WeightFilesResult | undefined> {
  for (const base of basenamesFor(dir)) {
    const single = joinPath(dir, variantName(`${base}.safetensors`, variant));
    if (await store.exists(single)) return { files: { dir, files: [single], variant }, problems: [], notes: [] };
    const index = joinPath(dir, variantName(`${base}.safetensors.index.json`, variant));
    if (await store.exists(index)) return readIndex(store, dir, index, variant);
  }
  return undefined;
}

function describe(dir: string, variant: string | undefined): string {
  return joinPath(dir, variantName(`${basenamesFor(dir)[0]}.safetensors`, variant));
}

/**
 * Finds the weights in `dir`. With `variant` (e.g. "fp16") the variant files are preferred and
 * the plain ones are the fallback; without it the plain files are preferred and an fp16 variant is
 * the fallback. A fallback is reported in `notes`. Nothing found → `problems` says what is
 * missing, or that a PyTorch pickle is there instead.
 */
export async function findWeightFiles(store: FileStore, dir: string, variant?: string): Promise<WeightFilesResult> {
  const order = variant ? [variant, undefined] : [undefined, 'fp16'];
  for (const v of order) {
    const found = await findExact(store, dir, v);
    if (!found) continue;
    if (found.files && v !== variant) {
      const used = found.files.index ?? found.files.files[0];
      found.notes.push(
        variant
          ? `${dir || '.'}: no ${variant} variant, using ${used}`
          : `${dir || '.'}: no plain weights, using the ${v} variant ${used}`,
      );
    }
    return found;
  }
  const listed = await store.list(dir);
  const pickles = listed.filter(isPickleName);
  if (pickles.length) {
    return { problems: pickles.map((p) => `${joinPath(dir, p)}: ${pickleMessage()}`), notes: [] };
  }
  const others = listed.filter((f) => f.endsWith('.safetensors'));
  const alt = basenamesFor(dir)
    .slice(1)
    .map((b) => `${b}.safetensors`);
  return {
    problems: [
      `missing: ${describe(dir, variant)} (or ${alt.join(', ')}, a sharded *.safetensors.index.json${variant ? ', or the plain files' : ''})` +
        (others.length ? `; found ${others.join(', ')} (not a recognised weight file name)` : ''),
    ],
    notes: [],
  };
}
