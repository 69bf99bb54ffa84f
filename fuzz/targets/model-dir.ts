/**
 * Model directories: a small valid SD-1 directory (random weights, the real tokenizer) with files
 * missing or added, configs garbled (JSON garbage, wrong types, strange values, unknown fields),
 * weights of the wrong shape or name, and shard indexes pointing outside the folder, at missing
 * shards or at shards without the key. Each case opens the directory; a third also builds every
 * model from its config and loads the weights, the tokenizer and the scheduler.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { MemoryFileStore, type FileStore } from '../../src/io/file-store.js';
import type { ByteSource } from '../../src/io/byte-source.js';
import { CheckedSource } from './safetensors.js';
import { MemoryByteSink } from '../../src/io/byte-source.js';
import { openModelDir } from '../../src/io/model-dir.js';
import { floatTensor, writeSafetensors, type TensorToWrite } from '../../src/io/safetensors.js';
import type { Module } from '../../src/nn/module.js';
import { loadWeights } from '../../src/nn/load-weights.js';
import { UNet2DConditionModel } from '../../src/models/unet/unet.js';
import { AutoencoderKL } from '../../src/models/vae/autoencoder-kl.js';
import { ClipTextModel } from '../../src/models/clip/text-model.js';
import { ClipTokenizer } from '../../src/models/clip/tokenizer.js';
import { createScheduler } from '../../src/models/schedulers/index.js';
import { bundledTokenizerDir } from '../../src/node/package-files.js';
import { rngFor, type Rng } from '../rng.js';
import type { FuzzTarget } from './target.js';
import { initNodeBackend } from '../../src/node/backend.js';

/** A small SD-1 layout (the shapes of SD-1.5's configs, tiny widths). */
export const FUZZ_CONFIGS = {
  'model_index.json': {
    _class_name: 'StableDiffusionPipeline',
    unet: ['diffusers', 'UNet2DConditionModel'],
    vae: ['diffusers', 'AutoencoderKL'],
    text_encoder: ['transformers', 'CLIPTextModel'],
    tokenizer: ['transformers', 'CLIPTokenizer'],
    scheduler: ['diffusers', 'DDIMScheduler'],
  },
  'unet/config.json': {
    _class_name: 'UNet2DConditionModel',
    act_fn: 'silu',
    attention_head_dim: 2,
    block_out_channels: [8, 16],
    cross_attention_dim: 8,
    down_block_types: ['CrossAttnDownBlock2D', 'DownBlock2D'],
    up_block_types: ['UpBlock2D', 'CrossAttnUpBlock2D'],
    in_channels: 4,
    out_channels: 4,
    layers_per_block: 1,
    norm_num_groups: 4,
    sample_size: 8,
    flip_sin_to_cos: true,
    freq_shift: 0,
    downsample_padding: 1,
    mid_block_scale_factor: 1,
    center_input_sample: false,
    norm_eps: 1e-5,
  },
  'vae/config.json': {
    _class_name: 'AutoencoderKL',
    act_fn: 'silu',
    block_out_channels: [8, 8],
    down_block_types: ['DownEncoderBlock2D', 'DownEncoderBlock2D'],
    up_block_types: ['UpDecoderBlock2D', 'UpDecoderBlock2D'],
    in_channels: 3,
    out_channels: 3,
    latent_channels: 4,
    layers_per_block: 1,
    norm_num_groups: 4,
    sample_size: 16,
    scaling_factor: 0.18215,
  },
  'text_encoder/config.json': {
    architectures: ['CLIPTextModel'],
    hidden_act: 'quick_gelu',
    hidden_size: 8,
    intermediate_size: 16,
    layer_norm_eps: 1e-5,
    max_position_embeddings: 77,
    num_attention_heads: 2,
    num_hidden_layers: 1,
    vocab_size: 714,
    bos_token_id: 0,
    eos_token_id: 2,
    pad_token_id: 1,
  },
  'scheduler/scheduler_config.json': {
    _class_name: 'DDIMScheduler',
    beta_start: 0.00085,
    beta_end: 0.012,
    beta_schedule: 'scaled_linear',
    num_train_timesteps: 1000,
    clip_sample: false,
    set_alpha_to_one: false,
    steps_offset: 1,
  },
};

const WEIGHT_FILES = {
  unet: 'unet/diffusion_pytorch_model.safetensors',
  vae: 'vae/diffusion_pytorch_model.safetensors',
  text_encoder: 'text_encoder/model.safetensors',
} as const;
type Component = keyof typeof WEIGHT_FILES;

/** Random weights of `m` (every parameter, torch layout). */
function moduleTensors(m: Module, rng: Rng): TensorToWrite[] {
  return [...m.namedParams()].map(([k, p]) =>
    floatTensor(
      k,
      p.torchShape,
      Float32Array.from({ length: p.size }, () => rng.next() - 0.5),
      'F16',
    ),
  );
}

async function encode(tensors: readonly TensorToWrite[]): Promise<Uint8Array> {
  const sink = new MemoryByteSink();
  await writeSafetensors(sink, tensors, { format: 'pt' });
  return sink.bytes();
}

function build(c: Component, cfg: unknown): Module {
  if (c === 'unet') return UNet2DConditionModel.fromConfig(cfg as never);
  if (c === 'vae') return AutoencoderKL.fromConfig(cfg as never, { encoder: true });
  return ClipTextModel.fromConfig(cfg as never);
}

/** The valid directory: file → contents, and each component's weights as tensors. */
export interface ModelDirBase {
  files: Record<string, Uint8Array | string>;
  tensors: Record<Component, TensorToWrite[]>;
}

/** Builds the valid small model directory (deterministic). */
export async function fuzzModelFiles(rng: Rng): Promise<ModelDirBase> {
  const files: Record<string, Uint8Array | string> = {};
  for (const [path, json] of Object.entries(FUZZ_CONFIGS)) files[path] = JSON.stringify(json);
  const tensors = {} as Record<Component, TensorToWrite[]>;
  for (const c of Object.keys(WEIGHT_FILES) as Component[]) {
    const m = build(c, FUZZ_CONFIGS[`${c}/config.json` as keyof typeof FUZZ_CONFIGS]);
    tensors[c] = moduleTensors(m, rng);
    files[WEIGHT_FILES[c]] = await encode(tensors[c]);
  }
  Object.assign(files, await compactTokenizer());
  return { files, tensors };
}

/** Ids kept from the real CLIP vocabulary: the 512 byte tokens and the first merges' results. */
const KEPT_IDS = 712;

/**
 * The real CLIP tokenizer files cut to its first 712 tokens (and merges), the two special tokens
 * renumbered after them: a valid tokenizer that parses in well under a millisecond.
 */
async function compactTokenizer(): Promise<Record<string, string>> {
  const dir = bundledTokenizerDir();
  const vocab = JSON.parse(await readFile(join(dir, 'vocab.json'), 'utf8')) as Record<string, number>;
  const small: Record<string, number> = Object.fromEntries(Object.entries(vocab).filter(([, id]) => id < KEPT_IDS));
  small['<|startoftext|>'] = KEPT_IDS;
  small['<|endoftext|>'] = KEPT_IDS + 1;
  const merges = (await readFile(join(dir, 'merges.txt'), 'utf8')).split('\n');
  return {
    'tokenizer/vocab.json': JSON.stringify(small),
    'tokenizer/merges.txt': merges.slice(0, 1 + KEPT_IDS - 512).join('\n'),
    'tokenizer/tokenizer_config.json': await readFile(join(dir, 'tokenizer_config.json'), 'utf8'),
    'tokenizer/special_tokens_map.json': await readFile(join(dir, 'special_tokens_map.json'), 'utf8'),
  };
}

const STRANGE: unknown[] = [
  null,
  -1,
  0,
  0.5,
  1e9,
  -1e9,
  'x',
  '',
  true,
  [],
  {},
  [0],
  [-1, 2],
  [1e9],
  { a: 1 },
  Number.MAX_SAFE_INTEGER,
  'silu',
  'gelu',
  [8, 16, 32],
];

/** A config with one strange change (`text` may already be garbled: then the valid one is changed). */
function garbleConfig(rng: Rng, text: string, valid: object): string {
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(text) as Record<string, unknown>;
    if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new Error('not an object');
  } catch {
    json = structuredClone(valid) as Record<string, unknown>;
  }
  const keys = Object.keys(json);
  switch (rng.int(6)) {
    case 0:
      return rng.pick(['', '{', 'null', '[]', '"text"', '{"a": 1,}', '\u0000']);
    case 1:
      delete json[rng.pick(keys)];
      break;
    case 2:
      json[`unknown_${rng.int(99)}`] = rng.pick(STRANGE);
      break;
    case 3: // a list of the wrong length
      for (const k of keys)
        if (Array.isArray(json[k]) && rng.chance(0.5)) (json[k] as unknown[]).push(rng.pick(STRANGE));
      break;
    default:
      json[rng.pick(keys)] = rng.pick(STRANGE);
  }
  return JSON.stringify(json);
}

/** The weights of `c` with one tensor renamed, reshaped, dropped, duplicated or retyped. */
async function garbleWeights(rng: Rng, tensors: readonly TensorToWrite[]): Promise<Uint8Array> {
  const list = [...tensors];
  const i = rng.int(list.length);
  const t = list[i];
  switch (rng.int(4)) {
    case 0:
      list[i] = { ...t, name: `${t.name}.renamed` };
      break;
    case 1: {
      const n = (t.data as Uint8Array).byteLength / 2;
      list[i] = { ...t, shape: rng.chance(0.5) ? [n] : [1, n], data: t.data };
      break;
    }
    case 2:
      list.splice(i, 1);
      break;
    default:
      list.push({ ...t, name: `extra.${rng.int(9)}.weight` });
  }
  return encode(list);
}

/** A shard index for `c` that is broken in one way. */
function badIndex(
  rng: Rng,
  c: Component,
  tensors: readonly TensorToWrite[],
): { index: string; shards: Record<string, Uint8Array | string> } {
  const keys = tensors.map((t) => t.name);
  const target = rng.pick([
    '../../etc/passwd',
    '/etc/passwd',
    'missing-00001.safetensors',
    '../unet/diffusion_pytorch_model.safetensors',
    'shard.ckpt',
    '',
    'a/../../b.safetensors',
    'shard.safetensors',
  ]);
  const weightMap: Record<string, unknown> = Object.fromEntries(keys.map((k) => [k, target]));
  if (rng.chance(0.3)) weightMap[rng.pick(keys)] = rng.pick(STRANGE);
  const index = rng.chance(0.2)
    ? rng.pick(['{}', '[]', '{"weight_map": 3}', 'garbage'])
    : JSON.stringify({ metadata: { total_size: 1 }, weight_map: weightMap });
  // A shard that exists but holds no tensors.
  return {
    index,
    shards:
      target === 'shard.safetensors'
        ? { [`${c}/shard.safetensors`]: new Uint8Array([2, 0, 0, 0, 0, 0, 0, 0, 123, 125]) }
        : {},
  };
}

/** One mutated directory. */
async function mutate(rng: Rng, base: ModelDirBase): Promise<Record<string, Uint8Array | string>> {
  const files = { ...base.files };
  const paths = Object.keys(files);
  const changes = 1 + (rng.chance(0.3) ? rng.int(3) : 0);
  for (let k = 0; k < changes; k++) {
    const c = rng.pick(Object.keys(WEIGHT_FILES) as Component[]);
    switch (rng.int(8)) {
      case 0:
        delete files[rng.pick(paths)];
        break;
      case 1: // extra or unexpected files
        files[
          rng.pick([
            'unet/diffusion_pytorch_model.fp16.safetensors',
            'unet/diffusion_pytorch_model.bin',
            'vae/model.safetensors',
            'text_encoder/model.ckpt',
            'notes.txt',
          ])
        ] = rng.bytes(rng.int(40));
        break;
      case 2:
      case 3: {
        const cfg = rng.pick(Object.keys(FUZZ_CONFIGS));
        const valid = FUZZ_CONFIGS[cfg as keyof typeof FUZZ_CONFIGS];
        files[cfg] = garbleConfig(
          rng,
          typeof files[cfg] === 'string' ? (files[cfg] as string) : JSON.stringify(valid),
          valid,
        );
        break;
      }
      case 4:
        files[WEIGHT_FILES[c]] = await garbleWeights(rng, base.tensors[c]);
        break;
      case 5: {
        // sharded weights with a broken index
        delete files[WEIGHT_FILES[c]];
        const { index, shards } = badIndex(rng, c, base.tensors[c]);
        files[`${WEIGHT_FILES[c]}.index.json`] = index;
        Object.assign(files, shards);
        break;
      }
      case 6: // tokenizer files
        files[rng.pick(['tokenizer/vocab.json', 'tokenizer/merges.txt', 'tokenizer/tokenizer_config.json'])] = rng.pick(
          ['', '{"a": "b"}', '[]', '#version: 0.2\na\n', '{"a": 1.5}', 'not json', '#version: 0.2\nx y z\n'],
        );
        break;
      default: // model_index.json
        files['model_index.json'] = rng.pick([
          '{}',
          '{"unet": ["diffusers"]}',
          '[]',
          'x',
          JSON.stringify({ ...FUZZ_CONFIGS['model_index.json'], vae: null }),
        ]);
    }
  }
  return files;
}

/** The store with every weight file read through a CheckedSource (a read outside a file is a violation). */
function checked(store: FileStore): FileStore {
  return {
    name: store.name,
    readText: (p) => store.readText(p),
    exists: (p) => store.exists(p),
    list: (d) => store.list(d),
    openBytes: async (p): Promise<ByteSource> => new CheckedSource(await store.openBytes(p)),
  };
}

export const modelDirTarget: FuzzTarget<ModelDirBase> = {
  name: 'model-dir',
  share: 0.15,
  async setup() {
    await initNodeBackend('wasm'); // weights are loaded
    return fuzzModelFiles(rngFor('model-dir base'));
  },
  async run(base, rng) {
    const store = checked(new MemoryFileStore(rng.chance(0.1) ? base.files : await mutate(rng, base), 'fuzz-model'));
    const dir = await openModelDir(store, { variant: rng.chance(0.2) ? 'fp16' : undefined, onNote: () => undefined });
    try {
      if (!rng.chance(0.35)) return;
      for (const c of ['text_encoder', 'vae', 'unet'] as const) {
        const m = build(c, dir.config(c));
        try {
          await loadWeights(m, dir.weights(c));
        } finally {
          m.dispose();
        }
      }
      ClipTokenizer.fromVocab(dir.tokenizer!.vocab, dir.tokenizer!.merges);
      createScheduler(dir.config('scheduler'), {
        type: rng.pick(['ddim', 'pndm', 'euler', 'lms', 'dpmpp']),
      }).setTimesteps(1 + rng.int(60));
    } finally {
      await dir.close();
    }
  },
};
