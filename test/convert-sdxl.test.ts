/**
 * `convert` of SD-XL single-file checkpoints: the key rules on every key of SD-XL base 1.0
 * (written out from the architecture in helpers/sdxl-checkpoint.ts) against the state dicts of the
 * models built from the bundled SD-XL base 1.0 configs (keys, shapes, the published parameter
 * counts), the bundled configs against tiny-sdxl's (the same configs sized down), and a sparse
 * full-size SD-XL file end to end.
 */
import { expect } from 'chai';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ModelDir } from '../src/io/model-dir.js';
import { openModelDirectory } from '../src/node/model-dir.js';
import { loadClipTokenizer } from '../src/node/clip-tokenizer.js';
import { UNet2DConditionModel } from '../src/models/unet/unet.js';
import { AutoencoderKL } from '../src/models/vae/autoencoder-kl.js';
import { ClipTextModel, ClipTextModelWithProjection } from '../src/models/clip/text-model.js';
import type { Module } from '../src/nn/module.js';
import { chooseConfigSet, detectFamily } from '../weights-tools/convert.js';
import { configSetFiles, readConfigSetFile, readConfigSetJson } from '../weights-tools/config-sets.js';
import { sd1LayoutFromConfigs, type Sd1Component, type Sd1Layout } from '../weights-tools/sd1-keymap.js';
import { planSd1Conversion } from '../weights-tools/sd1-plan.js';
import { describeRef, readJson, referenceDir } from './helpers/reference.js';
import { tempDirForSuite } from './helpers/tmp.js';
import { convertMeasured, ends, numel, pattern, writeSparse, type FakeTensor } from './helpers/sparse-checkpoint.js';
import { sdxlBaseWeights } from './helpers/sdxl-checkpoint.js';
import { lines, ptp } from './helpers/cli.js';

const COMPONENTS: Sd1Component[] = ['unet', 'vae', 'text_encoder', 'text_encoder_2'];
/** Parameters of SD-XL base 1.0's diffusers components (as published; the VAE is SD-1's). */
const PARAMS = { unet: 2_567_463_684, vae: 83_653_863, text_encoder: 123_060_480, text_encoder_2: 694_659_840 };

async function layout(): Promise<Sd1Layout> {
  const l = sd1LayoutFromConfigs(
    await readConfigSetJson('sdxl', 'unet/config.json'),
    await readConfigSetJson('sdxl', 'vae/config.json'),
  );
  return {
    ...l,
    sdxl: {
      openClipLayers2: (await readConfigSetJson('sdxl', 'text_encoder_2/config.json')).num_hidden_layers as number,
    },
  };
}

/** The state dict (key → torch shape) of each component built from configs. */
function stateDicts(cfg: (rel: string) => Record<string, unknown>): Record<Sd1Component, Record<string, number[]>> {
  const models: Record<Sd1Component, Module> = {
    unet: UNet2DConditionModel.fromConfig(cfg('unet/config.json')),
    vae: AutoencoderKL.fromConfig(cfg('vae/config.json'), { encoder: true }),
    text_encoder: ClipTextModel.fromConfig(cfg('text_encoder/config.json')),
    text_encoder_2: ClipTextModelWithProjection.fromConfig(cfg('text_encoder_2/config.json')),
  };
  const out = {} as Record<Sd1Component, Record<string, number[]>>;
  for (const c of COMPONENTS)
    out[c] = Object.fromEntries([...models[c].namedParams()].map(([k, p]) => [k, [...p.torchShape]]));
  return out;
}

describe('SD-XL key rules: every key of sd_xl_base_1.0.safetensors', () => {
  const weights = sdxlBaseWeights();
  const all = [
    ...COMPONENTS.flatMap((c) => weights[c]),
    {
      name: 'conditioner.embedders.0.transformer.text_model.embeddings.position_ids',
      shape: [1, 77],
      dtype: 'I64' as const,
    },
    { name: 'conditioner.embedders.1.model.logit_scale', shape: [], dtype: 'F16' as const },
  ];

  it("the written-out checkpoint has SD-XL base's parameter counts per component", () => {
    for (const c of COMPONENTS) {
      const n = weights[c].reduce((s, t) => s + numel(t.shape), 0);
      expect(n, c).to.equal(PARAMS[c]);
    }
    expect(detectFamily(all.map((t) => t.name))).to.equal('sdxl');
  });

  it('maps every key to the state dicts of the models built from the bundled SD-XL base 1.0 configs; leaves out position_ids and logit_scale', async () => {
    const plan = planSd1Conversion(all, await layout());
    expect(plan.problems).to.deep.equal([]);
    expect(plan.ignored.map((i) => i.key)).to.deep.equal([
      'conditioner.embedders.0.transformer.text_model.embeddings.position_ids',
      'conditioner.embedders.1.model.logit_scale',
    ]);
    const cfgs: Record<string, Record<string, unknown>> = {};
    for (const rel of configSetFiles('sdxl').filter((f) => f.endsWith('config.json')))
      cfgs[rel] = await readConfigSetJson('sdxl', rel);
    const want = stateDicts((rel) => cfgs[rel]);
    for (const c of COMPONENTS) {
      const got = Object.fromEntries(
        plan.entries.filter((e) => e.component === c).map((e) => [e.dst, [...e.dstShape]]),
      );
      expect(got, c).to.deep.equal(want[c]);
      expect(
        Object.values(got).reduce((s, sh) => s + numel(sh), 0),
        `${c} parameters`,
      ).to.equal(PARAMS[c]);
    }
    expect(Object.keys(want.unet)).to.have.length(1680);
    expect(Object.keys(want.vae)).to.have.length(248);
  });

  it('SD-XL specifics: label_emb → add_embedding, text_projection transposed, bigG q/k/v split, SpatialTransformer depth → transformer_blocks', async () => {
    const plan = planSd1Conversion(all, await layout());
    const by = (src: string) => plan.entries.filter((e) => e.src === src);
    expect(by('model.diffusion_model.label_emb.0.0.weight').map((e) => [e.dst, e.dstShape])).to.deep.equal([
      ['add_embedding.linear_1.weight', [1280, 2816]],
    ]);
    expect(
      by('conditioner.embedders.1.model.text_projection').map((e) => [e.component, e.dst, e.transpose]),
    ).to.deep.equal([['text_encoder_2', 'text_projection.weight', true]]);
    expect(
      by('conditioner.embedders.1.model.transformer.resblocks.31.attn.in_proj_weight').map((e) => [e.dst, e.rows]),
    ).to.have.deep.members([
      ['text_model.encoder.layers.31.self_attn.q_proj.weight', [0, 1280]],
      ['text_model.encoder.layers.31.self_attn.k_proj.weight', [1280, 2560]],
      ['text_model.encoder.layers.31.self_attn.v_proj.weight', [2560, 3840]],
    ]);
    expect(
      by('model.diffusion_model.output_blocks.2.1.transformer_blocks.9.attn2.to_k.weight').map((e) => [
        e.dst,
        e.dstShape,
      ]),
    ).to.deep.equal([['up_blocks.0.attentions.2.transformer_blocks.9.attn2.to_k.weight', [1280, 2048]]]);
    expect(by('model.diffusion_model.output_blocks.2.2.conv.weight').map((e) => e.dst)).to.deep.equal([
      'up_blocks.0.upsamplers.0.conv.weight',
    ]);
    expect(by('model.diffusion_model.output_blocks.5.2.conv.weight').map((e) => e.dst)).to.deep.equal([
      'up_blocks.1.upsamplers.0.conv.weight',
    ]);
    expect(plan.entries.filter((e) => e.dst.startsWith('down_blocks.0.attentions'))).to.deep.equal([]);
  });

  it('names what is missing or foreign: no text_encoder_2, refiner embedders, SD-1 text keys', async () => {
    const l = await layout();
    const missing = planSd1Conversion(
      all.filter((t) => !t.name.startsWith('conditioner.embedders.1.')),
      l,
    );
    expect(missing.problems).to.deep.equal([
      'no conditioner.embedders.1.model.* tensors: the text_encoder_2 is missing (not a full Stable Diffusion checkpoint?)',
    ]);
    const refiner = planSd1Conversion(
      [...all, { name: 'conditioner.embedders.0.model.ln_final.weight', shape: [1280], dtype: 'F16' }],
      l,
    );
    expect(refiner.problems[0]).to.match(
      /^1 key like "conditioner\.embedders\.0\.model\.ln_final\.weight": SD-XL refiner conditioner/,
    );
    const sd1 = planSd1Conversion(
      [...all, { name: 'cond_stage_model.transformer.text_model.final_layer_norm.weight', shape: [768], dtype: 'F16' }],
      l,
    );
    expect(sd1.problems[0]).to.match(/SD-1\.x\/2\.x text encoder keys in an SD-XL checkpoint/);
    expect(chooseConfigSet('sdxl', {})).to.deep.equal({ set: 'sdxl', predictionType: 'epsilon', imageSize: 1024 });
  });
});

describeRef('bundled SD-XL base 1.0 configs vs tiny-sdxl (the same configs with sizes changed)', () => {
  /** Size fields tiny-sdxl changes (its README), plus diffusers/transformers versions and names. */
  const SIZES: Record<string, string[]> = {
    'unet/config.json': [
      'attention_head_dim',
      'block_out_channels',
      'norm_num_groups',
      'transformer_layers_per_block',
      'cross_attention_dim',
      'addition_time_embed_dim',
      'projection_class_embeddings_input_dim',
      'sample_size',
    ],
    'vae/config.json': ['block_out_channels', 'norm_num_groups', 'sample_size'],
    'text_encoder/config.json': [
      'hidden_size',
      'intermediate_size',
      'num_attention_heads',
      'num_hidden_layers',
      'projection_dim',
      'torch_dtype',
    ],
    'text_encoder_2/config.json': [
      'hidden_size',
      'intermediate_size',
      'num_attention_heads',
      'num_hidden_layers',
      'projection_dim',
      'torch_dtype',
    ],
  };
  const meta = (k: string) => k.startsWith('_') || k === 'transformers_version';
  /** Fields diffusers 0.25 writes that the 0.19-era SD-XL file predates (with their defaults). */
  const NEWER: Record<string, Record<string, unknown>> = {
    'unet/config.json': { attention_type: 'default', dropout: 0, reverse_transformer_layers_per_block: null },
  };

  for (const [rel, sizes] of Object.entries(SIZES)) {
    it(`${rel}: every other field equal`, async () => {
      const ours = await readConfigSetJson('sdxl', rel);
      const tiny = readJson(`tiny-sdxl/${rel}`) as Record<string, unknown>;
      const keys = (o: Record<string, unknown>) =>
        Object.keys(o)
          .filter((k) => !meta(k) && !sizes.includes(k))
          .sort();
      const newer = NEWER[rel] ?? {};
      expect(keys(ours), 'fields').to.deep.equal(keys(tiny).filter((k) => !(k in newer)));
      for (const k of keys(ours)) expect(ours[k], k).to.deep.equal(tiny[k]);
      for (const [k, v] of Object.entries(newer)) expect(tiny[k], k).to.deep.equal(v);
    });
  }

  it('the scheduler config is SD-XL base\'s verbatim (tiny-sdxl copies it); tokenizer_2 pads with "!"; model_index lists both encoders', async () => {
    expect(await readConfigSetFile('sdxl', 'scheduler/scheduler_config.json')).to.equal(
      await readFile(join(referenceDir, 'tiny-sdxl/scheduler/scheduler_config.json'), 'utf8'),
    );
    for (const f of ['tokenizer_config.json', 'special_tokens_map.json']) {
      expect(JSON.parse(await readConfigSetFile('sdxl', `tokenizer_2/${f}`)).pad_token, f).to.equal('!');
      expect(JSON.parse(await readConfigSetFile('sdxl', `tokenizer/${f}`)).pad_token, f).to.equal('<|endoftext|>');
    }
    for (const f of ['vocab.json', 'merges.txt'])
      expect(await readConfigSetFile('sdxl', `tokenizer_2/${f}`)).to.equal(
        await readFile(join(referenceDir, 'tiny-sdxl/tokenizer_2', f), 'utf8'),
      );
    const index = JSON.parse(await readConfigSetFile('sdxl', 'model_index.json'));
    const tiny = readJson('tiny-sdxl/model_index.json');
    for (const k of [
      '_class_name',
      'force_zeros_for_empty_prompt',
      'scheduler',
      'text_encoder',
      'text_encoder_2',
      'tokenizer',
      'tokenizer_2',
      'unet',
      'vae',
    ])
      expect(index[k], k).to.deep.equal(tiny[k]);
  });
});

describe('convert: full-size SD-XL base single-file checkpoint (sparse, fp16) → diffusers directory', function () {
  this.timeout(1800000);
  const tmp = tempDirForSuite('convert-sdxl');
  const weights = sdxlBaseWeights();
  const tensors: FakeTensor[] = [
    ...COMPONENTS.flatMap((c) => weights[c]),
    { name: 'conditioner.embedders.0.transformer.text_model.embeddings.position_ids', shape: [1, 77], dtype: 'I64' },
    { name: 'conditioner.embedders.1.model.logit_scale', shape: [], dtype: 'F16' },
    { name: 'denoiser.sigmas', shape: [1000], dtype: 'F16' },
  ];
  const index = new Map(tensors.map((t, i) => [t.name, i]));
  const PROJ = 'conditioner.embedders.1.model.text_projection';
  const IN_PROJ = 'conditioner.embedders.1.model.transformer.resblocks.7.attn.in_proj_weight';
  const marked = new Set(
    tensors.flatMap((t, i) => (i % 19 === 0 && t.name !== PROJ && t.name !== IN_PROJ && t.dtype === 'F16' ? [i] : [])),
  );
  // text_projection P[1, 0] = 7 and P[0, 1] = -3 (at element 1280): the converted weight is Pᵀ. A q/k/v split's k and v rows.
  const extra = [
    { name: PROJ, at: 1, values: [-3] },
    { name: PROJ, at: 1280, values: [7] },
    { name: IN_PROJ, at: 1280 * 1280, values: [11, 12] },
    { name: IN_PROJ, at: 2 * 1280 * 1280, values: [21, 22] },
  ];
  let out = '';
  let input = '';
  let dir: ModelDir;
  let measured: Awaited<ReturnType<typeof convertMeasured>>;

  before(async function () {
    input = join(tmp(), 'sd_xl_base_fake.safetensors');
    await writeSparse(input, tensors, marked, extra);
    out = join(tmp(), 'sdxl');
    measured = await convertMeasured(input, out, { fp16: true });
    dir = await openModelDirectory(out);
  });
  after(async () => dir?.close());

  it('writes the SD-XL directory: four weight files, SD-XL base configs, both tokenizers; leaves out buffers and says why', async () => {
    const r = measured.result;
    expect([r.family, r.configSet, r.predictionType, r.imageSize, r.notes]).to.deep.equal([
      'sdxl',
      'sdxl',
      'epsilon',
      1024,
      [],
    ]);
    expect(r.components.map((c) => [c.component, c.params])).to.deep.equal(COMPONENTS.map((c) => [c, PARAMS[c]]));
    expect(r.ignored.map((i) => i.key).sort()).to.deep.equal([
      'conditioner.embedders.0.transformer.text_model.embeddings.position_ids',
      'conditioner.embedders.1.model.logit_scale',
      'denoiser.sigmas',
    ]);
    expect(dir.hasTextEncoder2).to.equal(true);
    expect(dir.weightComponents()).to.deep.equal(COMPONENTS);
    expect(dir.config('unet')).to.include({
      addition_embed_type: 'text_time',
      sample_size: 128,
      cross_attention_dim: 2048,
    });
    expect((await loadClipTokenizer(join(out, 'tokenizer_2'))).padTokenId).to.equal(0);
    expect((await loadClipTokenizer(join(out, 'tokenizer'))).padTokenId).to.equal(49407);
  });

  it('every key and shape is the state dict of the models built from the written configs, as F16', () => {
    const want = stateDicts((rel) => dir.config(rel.split('/')[0] as 'unet'));
    for (const c of COMPONENTS) {
      const src = dir.weights(c);
      expect(Object.fromEntries(src.keys().map((k) => [k, [...src.info(k)!.shape]])), c).to.deep.equal(want[c]);
      expect(
        src.keys().every((k) => src.info(k)!.dtype === 'F16'),
        `${c} F16`,
      ).to.equal(true);
    }
  });

  it('moves the data: sampled tensors end to end, the transposed projection, the q/k/v rows', async () => {
    let checked = 0;
    const plan = planSd1Conversion(tensors, await layout());
    for (const e of plan.entries) {
      const i = index.get(e.src)!;
      if (!marked.has(i) || e.rows || e.transpose) continue;
      const got = await ends(dir, e.component, e.dst);
      const p = pattern(i);
      expect(got.head, `${e.dst} head`).to.deep.equal(p.head.slice(0, Math.min(4, numel(e.dstShape))));
      if (numel(e.dstShape) >= 8) expect(got.tail, `${e.dst} tail`).to.deep.equal(p.tail);
      checked++;
    }
    expect(checked).to.be.greaterThan(120);
    // Pᵀ: weight[0, 1] = P[1, 0] = 7, weight[1, 0] = P[0, 1] = -3.
    const proj = dir.weights('text_encoder_2');
    expect((await ends(dir, 'text_encoder_2', 'text_projection.weight')).head).to.deep.equal([0, 7, 0, 0]);
    expect(
      Array.from((await proj.read('text_projection.weight', true)) as Float32Array).slice(1280, 1282),
    ).to.deep.equal([-3, 0]);
    expect(
      (await ends(dir, 'text_encoder_2', 'text_model.encoder.layers.7.self_attn.k_proj.weight')).head,
    ).to.deep.equal([11, 12, 0, 0]);
    expect(
      (await ends(dir, 'text_encoder_2', 'text_model.encoder.layers.7.self_attn.v_proj.weight')).head,
    ).to.deep.equal([21, 22, 0, 0]);
  });

  it('streams: memory stays far below the 6.9 GB checkpoint', () => {
    console.log(
      `      [convert SD-XL: ${measured.seconds.toFixed(1)} s, peak RSS +${(measured.peakRssGrowth / 2 ** 20).toFixed(0)} MiB]`,
    );
    expect(measured.peakRssGrowth).to.be.lessThan(1.5 * 2 ** 30);
  });

  it('ptp inspect recognises the single file and the converted directory as SD-XL', async () => {
    const f = await ptp('inspect', input);
    expect(f.code, f.stderr).to.equal(0);
    expect(lines(f.stdout)).to.include('model: SD-XL single-file checkpoint');
    expect(f.stdout, f.stdout).to.match(/text_encoder_2 \(conditioner\.embedders\.1\.\*\) +390 +694,659,841/);
    const r = await ptp('inspect', out);
    expect(r.code, r.stderr).to.equal(0);
    expect(lines(r.stdout)).to.include.members([
      'pipeline: StableDiffusionXLPipeline (diffusers 0.19.0.dev0)',
      'model: SD-XL (two text encoders, text_time added conditioning)',
    ]);
    expect(r.stdout).to.match(/text_encoder_2 +517 +694,659,840/);
  });
});
