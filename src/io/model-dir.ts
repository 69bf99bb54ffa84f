/**
 * Diffusers-layout model directories (what `StableDiffusionPipeline.save_pretrained` writes):
 *
 *   model_index.json
 *   unet/config.json          + weights (diffusion_pytorch_model[.fp16].safetensors or shards)
 *   vae/config.json           + weights
 *   text_encoder/config.json  + weights (model[.fp16].safetensors or shards)
 *   tokenizer/vocab.json, merges.txt (+ tokenizer_config.json, special_tokens_map.json)
 *   scheduler/scheduler_config.json
 *   text_encoder_2/, tokenizer_2/  SD-XL (StableDiffusionXLPipeline): read when model_index.json lists them
 *
 * `openModelDir` checks everything up front (every file, every safetensors header, shard maps) and
 * reports all problems in one error. Platform-neutral: files come through a FileStore.
 */
import type { JsonObject } from './config.js';
import type { FileStore } from './file-store.js';
import { SafetensorsFile } from './safetensors.js';
import { findWeightFiles, type WeightFiles } from './weight-files.js';
import { SafetensorsWeightSource } from './weights.js';
import { log } from '../util/log.js';

/** Pipeline components every model has. */
export const MODEL_COMPONENTS = ['unet', 'vae', 'text_encoder', 'tokenizer', 'scheduler'] as const;
/** SD-XL's second text encoder and tokenizer: read when model_index.json lists them. */
export const SDXL_COMPONENTS = ['text_encoder_2', 'tokenizer_2'] as const;
export type ModelComponent = (typeof MODEL_COMPONENTS)[number] | (typeof SDXL_COMPONENTS)[number];
/** Components that have weights. */
export type WeightComponent = 'unet' | 'vae' | 'text_encoder' | 'text_encoder_2';
const WEIGHT_COMPONENTS: readonly WeightComponent[] = ['unet', 'vae', 'text_encoder', 'text_encoder_2'];
/** Components with a config file. */
export type ConfigComponent = Exclude<ModelComponent, 'tokenizer' | 'tokenizer_2'>;
const CONFIG_COMPONENTS: readonly ConfigComponent[] = ['unet', 'vae', 'text_encoder', 'text_encoder_2', 'scheduler'];

export type { JsonObject } from './config.js';

/** Config file of each component, relative to the model root. */
export const CONFIG_FILES: Readonly<Record<ConfigComponent, string>> = {
  unet: 'unet/config.json',
  vae: 'vae/config.json',
  text_encoder: 'text_encoder/config.json',
  text_encoder_2: 'text_encoder_2/config.json',
  scheduler: 'scheduler/scheduler_config.json',
};

/** The CLIP BPE tokenizer files. */
export interface TokenizerFiles {
  /** token → id (vocab.json). */
  vocab: Record<string, number>;
  /** merges.txt as text (first line is a "#version" header). */
  merges: string;
  /** tokenizer_config.json, if present. */
  config?: JsonObject;
  /** special_tokens_map.json, if present. */
  specialTokens?: JsonObject;
}

export interface ModelDirOptions {
  /** Preferred weights variant (diffusers `variant`, e.g. "fp16"); the plain files are the fallback. */
  variant?: string;
  /**
   * Components that must be present (default: all of MODEL_COMPONENTS, plus text_encoder_2 and
   * tokenizer_2 when model_index.json lists them, as SD-XL's does).
   */
  components?: readonly ModelComponent[];
  /** Receives each fallback note (default: logged, as a warning when `variant` was asked for). */
  onNote?: (note: string) => void;
}

/** Thrown when a model directory is incomplete or broken; lists every problem. */
export class ModelDirError extends Error {
  constructor(
    readonly root: string,
    readonly problems: readonly string[],
  ) {
    super(
      `${root}: cannot use this model directory (${problems.length} problem${problems.length === 1 ? '' : 's'}):\n${problems.map((p) => `  - ${p}`).join('\n')}`,
    );
    this.name = 'ModelDirError';
  }
}

/** An opened, validated model directory. Close it to release the weight files. */
export class ModelDir {
  constructor(
    readonly store: FileStore,
    /** model_index.json ({} when not required and absent). */
    readonly modelIndex: JsonObject,
    /** Parsed config of each present component. */
    readonly configs: Readonly<Partial<Record<ConfigComponent, JsonObject>>>,
    readonly tokenizer: TokenizerFiles | undefined,
    /** The weight files picked for each component. */
    readonly weightFiles: Readonly<Partial<Record<WeightComponent, WeightFiles>>>,
    private readonly sources: Partial<Record<WeightComponent, SafetensorsWeightSource>>,
    /** Fallbacks taken while resolving (also logged). */
    readonly notes: readonly string[],
    /** SD-XL's second tokenizer (tokenizer_2/), when the model has one. */
    readonly tokenizer2?: TokenizerFiles,
  ) {}

  /** Whether this is an SD-XL model directory (a second text encoder). */
  get hasTextEncoder2(): boolean {
    return this.configs.text_encoder_2 !== undefined;
  }

  get name(): string {
    return this.store.name;
  }

  /** Config of a component; throws naming the file if it was not loaded. */
  config(c: ConfigComponent): JsonObject {
    const cfg = this.configs[c];
    if (!cfg) throw new Error(`${this.name}: ${CONFIG_FILES[c]} was not loaded`);
    return cfg;
  }

  /** The weights of a component (all shards as one source; headers already validated). */
  weights(c: WeightComponent): SafetensorsWeightSource {
    const src = this.sources[c];
    if (!src) throw new Error(`${this.name}: no weights were loaded for ${c}`);
    return src;
  }

  /** Components with weights, in pipeline order. */
  weightComponents(): WeightComponent[] {
    return WEIGHT_COMPONENTS.filter((c) => this.sources[c]);
  }

  async close(): Promise<void> {
    for (const c of WEIGHT_COMPONENTS) await this.sources[c]?.close();
  }
}

/** Reads a JSON object; a missing or broken file becomes a problem line. */
async function readJson(
  store: FileStore,
  path: string,
  problems: string[],
  required: boolean,
): Promise<JsonObject | undefined> {
  if (!(await store.exists(path))) {
    if (required) problems.push(`missing: ${path}`);
    return undefined;
  }
  try {
    const v: unknown = JSON.parse(await store.readText(path));
    if (typeof v === 'object' && v !== null && !Array.isArray(v)) return v as JsonObject;
    problems.push(`${path}: not a JSON object`);
  } catch (e) {
    problems.push(`${path}: invalid JSON (${(e as Error).message})`);
  }
  return undefined;
}

async function readTokenizer(store: FileStore, dir: string, problems: string[]): Promise<TokenizerFiles | undefined> {
  const before = problems.length;
  const vocab = await readJson(store, `${dir}/vocab.json`, problems, true);
  if (vocab && !Object.values(vocab).every((v) => Number.isInteger(v)))
    problems.push(`${dir}/vocab.json: not a map of token → integer id`);
  let merges: string | undefined;
  if (await store.exists(`${dir}/merges.txt`)) merges = await store.readText(`${dir}/merges.txt`);
  else problems.push(`missing: ${dir}/merges.txt`);
  const config = await readJson(store, `${dir}/tokenizer_config.json`, problems, false);
  const specialTokens = await readJson(store, `${dir}/special_tokens_map.json`, problems, false);
  if (problems.length > before || !vocab || merges === undefined) return undefined;
  return { vocab: vocab as Record<string, number>, merges, config, specialTokens };
}

/** Opens every file of `w` and checks the shard map against the shards' headers. */
async function openWeights(
  store: FileStore,
  w: WeightFiles,
  problems: string[],
): Promise<SafetensorsWeightSource | undefined> {
  const files: SafetensorsFile[] = [];
  const before = problems.length;
  for (const path of w.files) {
    try {
      files.push(await SafetensorsFile.open(await store.openBytes(path)));
    } catch (e) {
      problems.push((e as Error).message);
    }
  }
  if (problems.length === before && w.weightMap) {
    const byPath = new Map(files.map((f, i) => [w.files[i], f]));
    for (const [key, path] of Object.entries(w.weightMap)) {
      if (!byPath.get(path)?.has(key)) problems.push(`${w.index}: maps "${key}" to ${path}, which does not contain it`);
    }
  }
  if (problems.length === before) {
    try {
      return new SafetensorsWeightSource(files);
    } catch (e) {
      problems.push((e as Error).message);
    }
  }
  for (const f of files) await f.close();
  return undefined;
}

/**
 * Opens and validates a diffusers model directory. Every missing file, unreadable config, pickle
 * in place of safetensors, broken safetensors header and shard-map mismatch is collected and
 * thrown together as one ModelDirError.
 */
export async function openModelDir(store: FileStore, opts: ModelDirOptions = {}): Promise<ModelDir> {
  const want = new Set<ModelComponent>(opts.components ?? MODEL_COMPONENTS);
  const problems: string[] = [];
  const notes: string[] = [];
  const modelIndex = await readJson(store, 'model_index.json', problems, true);
  const listed = (c: string) => Array.isArray(modelIndex?.[c]) && (modelIndex![c] as unknown[])[1] != null;
  for (const c of modelIndex ? want : []) {
    if (!listed(c)) problems.push(`model_index.json: no "${c}" component listed`);
  }
  // SD-XL: the second text encoder and tokenizer come with the model when its index lists them.
  if (!opts.components) for (const c of SDXL_COMPONENTS) if (listed(c)) want.add(c);
  const configs: Partial<Record<ConfigComponent, JsonObject>> = {};
  for (const c of CONFIG_COMPONENTS) {
    if (want.has(c)) configs[c] = await readJson(store, CONFIG_FILES[c], problems, true);
  }
  const tokenizer = want.has('tokenizer') ? await readTokenizer(store, 'tokenizer', problems) : undefined;
  const tokenizer2 = want.has('tokenizer_2') ? await readTokenizer(store, 'tokenizer_2', problems) : undefined;
  const weightFiles: Partial<Record<WeightComponent, WeightFiles>> = {};
  for (const c of WEIGHT_COMPONENTS) {
    if (!want.has(c)) continue;
    const r = await findWeightFiles(store, c, opts.variant);
    problems.push(...r.problems);
    notes.push(...r.notes);
    if (r.files) weightFiles[c] = r.files;
  }
  const sources: Partial<Record<WeightComponent, SafetensorsWeightSource>> = {};
  for (const c of WEIGHT_COMPONENTS) {
    const w = weightFiles[c];
    if (w) sources[c] = await openWeights(store, w, problems);
  }
  if (problems.length) {
    for (const s of Object.values(sources)) await s?.close();
    throw new ModelDirError(store.name, problems);
  }
  for (const n of notes) (opts.onNote ?? (opts.variant ? log.warn : log.info))(n);
  return new ModelDir(store, modelIndex ?? {}, configs, tokenizer, weightFiles, sources, notes, tokenizer2);
}
