/**
 * `inspect`: what is in a safetensors file or a diffusers model directory — per tensor key, dtype,
 * shape; tensors, parameters and bytes per component; totals. Platform-neutral: works on an opened
 * SafetensorsFile / ModelDir (weights-tools/inspect-path.ts opens them from a path).
 */
import type { StDtype } from '../src/io/dtypes.js';
import type { ModelDir, TokenizerFiles } from '../src/io/model-dir.js';
import type { SafetensorsFile, TensorInfo } from '../src/io/safetensors.js';
import { formatBytes, formatCount, formatShape, table } from './format.js';
import { detectFamily, directoryFamily, FAMILY_NAME } from './family.js';

export interface TensorRow {
  key: string;
  dtype: StDtype;
  shape: number[];
  params: number;
  bytes: number;
}

/** A set of tensors: one component of a model directory, or one key prefix of a single file. */
export interface TensorGroup {
  name: string;
  /** Files (store paths) the tensors come from. */
  files: string[];
  /** The weights variant picked (e.g. "fp16"). */
  variant?: string;
  tensors: TensorRow[];
  params: number;
  bytes: number;
  /** Tensor count per dtype. */
  dtypes: Partial<Record<StDtype, number>>;
  /** A few salient config values (model directories only). */
  config?: Record<string, unknown>;
}

interface Totals {
  tensorCount: number;
  params: number;
  bytes: number;
}

export interface FileSummary extends Totals {
  kind: 'file';
  path: string;
  fileBytes: number;
  metadata: Record<string, string>;
  /** The Stable Diffusion family of a single-file checkpoint (undefined for other files). */
  family?: string;
  /** Tensors grouped by component prefix (CompVis single files) or one group. */
  groups: TensorGroup[];
}

export interface ModelDirSummary extends Totals {
  kind: 'model-dir';
  root: string;
  pipeline?: string;
  diffusersVersion?: string;
  /** The Stable Diffusion family from the configs, e.g. "SD-XL (two text encoders, …)" (undefined for one component folder). */
  family?: string;
  groups: TensorGroup[];
  tokenizer?: { vocabSize: number; merges: number };
  /** SD-XL's second tokenizer: its pad token. */
  tokenizer2?: { vocabSize: number; padToken?: string };
  scheduler?: Record<string, unknown>;
  notes: string[];
}

export type Summary = FileSummary | ModelDirSummary;

function row(t: TensorInfo): TensorRow {
  return {
    key: t.name,
    dtype: t.dtype,
    shape: [...t.shape],
    params: t.shape.reduce((a, b) => a * b, 1),
    bytes: t.byteLength,
  };
}

/** Groups rows into a TensorGroup with totals. */
export function makeGroup(name: string, files: string[], tensors: TensorRow[], variant?: string): TensorGroup {
  const dtypes: Partial<Record<StDtype, number>> = {};
  for (const t of tensors) dtypes[t.dtype] = (dtypes[t.dtype] ?? 0) + 1;
  return {
    name,
    files,
    variant,
    tensors,
    params: tensors.reduce((s, t) => s + t.params, 0),
    bytes: tensors.reduce((s, t) => s + t.bytes, 0),
    dtypes,
  };
}

function totals(groups: readonly TensorGroup[]): Totals {
  return {
    tensorCount: groups.reduce((s, g) => s + g.tensors.length, 0),
    params: groups.reduce((s, g) => s + g.params, 0),
    bytes: groups.reduce((s, g) => s + g.bytes, 0),
  };
}

/** Single-file (CompVis) checkpoint prefixes, shown as components. */
const FILE_GROUPS: readonly [string, string][] = [
  ['model.diffusion_model.', 'unet (model.diffusion_model.*)'],
  ['first_stage_model.', 'vae (first_stage_model.*)'],
  ['cond_stage_model.', 'text_encoder (cond_stage_model.*)'],
  ['conditioner.embedders.0.', 'text_encoder (conditioner.embedders.0.*)'],
  ['conditioner.embedders.1.', 'text_encoder_2 (conditioner.embedders.1.*)'],
  ['model_ema.', 'ema (model_ema.*)'],
];

/** Summary of one safetensors file. */
export function summarizeFile(file: SafetensorsFile): FileSummary {
  const rows = file
    .keys()
    .map((k) => row(file.info(k)))
    .sort((a, b) => (a.key < b.key ? -1 : 1));
  const groups: TensorGroup[] = [];
  const checkpoint = rows.some((r) => FILE_GROUPS.some(([p]) => r.key.startsWith(p)));
  if (checkpoint) {
    for (const [prefix, name] of FILE_GROUPS) {
      const g = rows.filter((r) => r.key.startsWith(prefix));
      if (g.length) groups.push(makeGroup(name, [file.name], g));
    }
    const rest = rows.filter((r) => !FILE_GROUPS.some(([p]) => r.key.startsWith(p)));
    if (rest.length) groups.push(makeGroup('other', [file.name], rest));
  } else {
    groups.push(makeGroup('tensors', [file.name], rows));
  }
  const family = checkpoint ? `${FAMILY_NAME[detectFamily(rows.map((r) => r.key))]} single-file checkpoint` : undefined;
  return {
    kind: 'file',
    path: file.name,
    fileBytes: file.source.size,
    metadata: { ...file.metadata },
    family,
    groups,
    ...totals(groups),
  };
}

const CONFIG_FIELDS: Record<string, readonly string[]> = {
  unet: [
    'sample_size',
    'in_channels',
    'block_out_channels',
    'layers_per_block',
    'cross_attention_dim',
    'attention_head_dim',
    'transformer_layers_per_block',
    'addition_embed_type',
  ],
  vae: ['block_out_channels', 'latent_channels', 'scaling_factor'],
  text_encoder: ['hidden_size', 'num_hidden_layers', 'num_attention_heads', 'max_position_embeddings', 'vocab_size'],
  text_encoder_2: ['hidden_size', 'num_hidden_layers', 'num_attention_heads', 'projection_dim'],
};

function pick(cfg: Record<string, unknown> | undefined, fields: readonly string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const f of fields) if (cfg && cfg[f] !== undefined) out[f] = cfg[f];
  return out;
}

/** The pad token a tokenizer folder's files name (special_tokens_map.json over tokenizer_config.json). */
function padTokenOf(t: TokenizerFiles): string | undefined {
  const v = t.specialTokens?.pad_token ?? t.config?.pad_token;
  return typeof v === 'string'
    ? v
    : typeof (v as { content?: unknown } | undefined)?.content === 'string'
      ? (v as { content: string }).content
      : undefined;
}

/** Summary of an opened model directory. */
export function summarizeModelDir(dir: ModelDir): ModelDirSummary {
  const groups = dir.weightComponents().map((c) => {
    const src = dir.weights(c);
    const rows = src.files.flatMap((f) => f.keys().map((k) => row(f.info(k)))).sort((a, b) => (a.key < b.key ? -1 : 1));
    const wf = dir.weightFiles[c]!;
    const g = makeGroup(c, wf.index ? [wf.index, ...wf.files] : [...wf.files], rows, wf.variant);
    g.config = pick(dir.configs[c], CONFIG_FIELDS[c] ?? []);
    return g;
  });
  const sched = dir.configs.scheduler;
  const merges = dir.tokenizer?.merges.split('\n').filter((l) => l && !l.startsWith('#version')).length;
  return {
    kind: 'model-dir',
    root: dir.name,
    pipeline: dir.modelIndex._class_name as string | undefined,
    diffusersVersion: dir.modelIndex._diffusers_version as string | undefined,
    family: directoryFamily(dir.configs),
    groups,
    tokenizer: dir.tokenizer && { vocabSize: Object.keys(dir.tokenizer.vocab).length, merges: merges ?? 0 },
    tokenizer2: dir.tokenizer2 && {
      vocabSize: Object.keys(dir.tokenizer2.vocab).length,
      padToken: padTokenOf(dir.tokenizer2),
    },
    scheduler:
      sched &&
      pick(sched, ['_class_name', 'num_train_timesteps', 'beta_schedule', 'beta_start', 'beta_end', 'prediction_type']),
    notes: [...dir.notes],
    ...totals(groups),
  };
}

function dtypeList(g: TensorGroup): string {
  return Object.entries(g.dtypes)
    .map(([d, n]) => (Object.keys(g.dtypes).length > 1 ? `${d}×${n}` : d))
    .join(' ');
}

function brief(cfg: Record<string, unknown>): string {
  return Object.entries(cfg)
    .map(([k, v]) => `${k} ${Array.isArray(v) ? `[${v.join(', ')}]` : String(v)}`)
    .join(', ');
}

export interface FormatOptions {
  /** List every tensor (key, dtype, shape, parameters). */
  tensors?: boolean;
}

/** Human-readable text of a summary. */
export function formatSummary(s: Summary, opts: FormatOptions = {}): string {
  const out: string[] = [];
  if (s.kind === 'file') {
    out.push(`file: ${s.path} (${formatBytes(s.fileBytes)})`);
    const meta = Object.entries(s.metadata);
    if (meta.length) out.push(`metadata: ${meta.map(([k, v]) => `${k}=${v}`).join(', ')}`);
    if (s.family) out.push(`model: ${s.family}`);
  } else {
    out.push(`model directory: ${s.root}`);
    if (s.pipeline)
      out.push(`pipeline: ${s.pipeline}${s.diffusersVersion ? ` (diffusers ${s.diffusersVersion})` : ''}`);
    if (s.family) out.push(`model: ${s.family}`);
  }
  const rows = [['component', 'tensors', 'parameters', 'dtype', 'size', s.kind === 'file' ? '' : 'weights']];
  for (const g of s.groups) {
    rows.push([
      g.name,
      String(g.tensors.length),
      formatCount(g.params),
      dtypeList(g),
      formatBytes(g.bytes),
      s.kind === 'file' ? '' : g.files.join(', '),
    ]);
  }
  rows.push(['total', String(s.tensorCount), formatCount(s.params), '', formatBytes(s.bytes), '']);
  out.push('', ...table(rows, [1, 2, 4]));
  if (s.kind === 'model-dir') {
    out.push('');
    for (const g of s.groups) if (g.config && Object.keys(g.config).length) out.push(`${g.name}: ${brief(g.config)}`);
    if (s.tokenizer)
      out.push(`tokenizer: ${formatCount(s.tokenizer.vocabSize)} tokens, ${formatCount(s.tokenizer.merges)} merges`);
    if (s.tokenizer2)
      out.push(
        `tokenizer_2: ${formatCount(s.tokenizer2.vocabSize)} tokens${s.tokenizer2.padToken ? `, pad "${s.tokenizer2.padToken}"` : ''}`,
      );
    if (s.scheduler) {
      const { _class_name: cls, ...rest } = s.scheduler;
      out.push(`scheduler: ${String(cls ?? '?')}${Object.keys(rest).length ? ` (${brief(rest)})` : ''}`);
    }
    for (const n of s.notes) out.push(`note: ${n}`);
  }
  if (opts.tensors) {
    for (const g of s.groups) {
      out.push('', `${g.name}:`);
      out.push(
        ...table(
          g.tensors.map((t) => [`  ${t.key}`, t.dtype, formatShape(t.shape), formatCount(t.params)]),
          [3],
        ),
      );
    }
  }
  return out.join('\n');
}
