/**
 * `convert` of SD-2.x single-file checkpoints: the key rules against sd21-manifest.json (every
 * original key, its diffusers key, shape and q/k/v split), the bundled SD-2.1 configs against the
 * reference copies, a sparse full-size SD-2.1 file end to end, and the prediction-type decision.
 */
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ModelDir } from '../src/io/model-dir.js';
import { openModelDirectory } from '../src/node/model-dir.js';
import { loadClipTokenizer } from '../src/node/clip-tokenizer.js';
import { UNet2DConditionModel } from '../src/models/unet/unet.js';
import { ClipTextModel } from '../src/models/clip/text-model.js';
import { chooseConfigSet, convertCheckpoint, detectFamily } from '../weights-tools/convert.js';
import { CONFIG_SET_FILES, readConfigSetFile } from '../weights-tools/config-sets.js';
import { sd1LayoutFromConfigs, type Sd1Component } from '../weights-tools/sd1-keymap.js';
import { planSd1Conversion, type SourceTensor } from '../weights-tools/sd1-plan.js';
import { describeRef, readJson, referenceDir, repoRoot } from './helpers/reference.js';
import { tempDirForSuite } from './helpers/tmp.js';
import { convertMeasured, ends, numel, pattern, writeSparse, type FakeTensor } from './helpers/sparse-checkpoint.js';
import { lines, ptp } from './helpers/cli.js';

interface MappingEntry {
  original: string;
  original_shape: number[];
  diffusers_shape: number[];
  split?: { dim: number; start: number; stop: number; part: string };
}
interface Manifest {
  original_to_diffusers: {
    mapping: Record<Sd1Component, Record<string, MappingEntry>>;
    original_keys: Record<string, { shape: number[]; model?: string; diffusers?: string[] }>;
    dropped: Record<string, { shape: number[]; reason: string }>;
    num_original_keys: number;
  };
}

const COMPONENTS: Sd1Component[] = ['unet', 'vae', 'text_encoder'];
const bundled = (rel: string) => JSON.parse(readFileSync(join(repoRoot, 'weights-tools', 'sd21-config', rel), 'utf8'));
const sd2Layout = () => ({
  ...sd1LayoutFromConfigs(bundled('unet/config.json'), bundled('vae/config.json')),
  openClipLayers: 23,
});

describeRef('SD-2.x key rules vs sd21-manifest.json (all 1228 original keys)', () => {
  const manifest = readJson<Manifest>('sd21-manifest.json').original_to_diffusers;
  const originals: SourceTensor[] = Object.entries(manifest.original_keys).map(([name, e]) => ({
    name,
    shape: e.shape,
    dtype: 'F32' as const,
  }));

  it('has 1228 original keys; the family is SD-2.x (OpenCLIP text keys)', () => {
    expect(originals).to.have.length(manifest.num_original_keys).and.length(1228);
    expect(detectFamily(originals.map((o) => o.name))).to.equal('sd2');
  });

  it('maps every original key to the manifest diffusers keys, shapes and q/k/v rows; drops the 14 the converter drops', () => {
    const plan = planSd1Conversion(originals, sd2Layout());
    expect(plan.problems).to.deep.equal([]);
    expect(plan.ignored.map((i) => i.key).sort()).to.deep.equal(Object.keys(manifest.dropped).sort());
    const wrong: string[] = [];
    for (const c of COMPONENTS) {
      const got = plan.entries.filter((e) => e.component === c);
      expect(got.map((e) => e.dst).sort(), c).to.deep.equal(Object.keys(manifest.mapping[c]).sort());
      for (const e of got) {
        const w = manifest.mapping[c][e.dst];
        if (w.original !== e.src) wrong.push(`${c} ${e.dst}: from ${e.src}, manifest says ${w.original}`);
        if (JSON.stringify(w.diffusers_shape) !== JSON.stringify(e.dstShape))
          wrong.push(`${c} ${e.dst}: shape ${e.dstShape}, manifest ${w.diffusers_shape}`);
        const rows = w.split ? [w.split.start, w.split.stop] : undefined;
        if (JSON.stringify(rows) !== JSON.stringify(e.rows))
          wrong.push(`${c} ${e.dst}: rows ${e.rows}, manifest ${rows}`);
      }
    }
    expect(wrong, wrong.slice(0, 20).join('\n')).to.deep.equal([]);
    expect(plan.entries.filter((e) => e.rows)).to.have.length(138);
  });

  it('keeps the SD-2 Linear attention projections [C, C] as they are and reshapes only the 8 VAE attention weights', () => {
    const plan = planSd1Conversion(originals, sd2Layout());
    const proj = plan.entries.filter((e) => /proj_(in|out)\.weight$/.test(e.dst));
    expect(proj).to.have.length(32);
    expect(proj.every((e) => e.srcShape.length === 2 && e.dstShape.length === 2)).to.equal(true);
    const reshaped = plan.entries.filter((e) => !e.rows && JSON.stringify(e.srcShape) !== JSON.stringify(e.dstShape));
    expect(
      reshaped
        .map((e) => e.dst)
        .every((k) => /^(en|de)coder\.mid_block\.attentions\.0\.to_(q|k|v|out\.0)\.weight$/.test(k)),
    ).to.equal(true);
    expect(reshaped).to.have.length(8);
  });

  it('a checkpoint with the whole OpenCLIP tower but no model_ema/buffers still plans; a 24-block model would keep block 23', () => {
    const plan = planSd1Conversion(originals, { ...sd2Layout(), openClipLayers: 24 });
    expect(plan.entries.filter((e) => e.dst.startsWith('text_model.encoder.layers.23.'))).to.have.length(16);
  });
});

describeRef('bundled SD-2.1 config sets = the reference copies', () => {
  for (const [set, dir] of [
    ['sd21', 'sd21-config'],
    ['sd21-base', 'sd21-base-config'],
  ] as const) {
    it(`${set}: every file (vocab/merges shared with SD-1.5) is identical to ${dir}/`, async () => {
      for (const rel of CONFIG_SET_FILES) {
        const want = await readFile(join(referenceDir, dir, rel), 'utf8');
        expect(await readConfigSetFile(set, rel), `${dir}/${rel}`).to.equal(want);
      }
    });
  }
});

describe('SD-2.x prediction type and image size: never guessed', () => {
  it('needs --prediction-type (or a 512/768 image size) and picks the matching config set', () => {
    expect(() => chooseConfigSet('sd2', {})).to.throw(
      /an SD-2\.x checkpoint: .*--prediction-type epsilon for stable-diffusion-2\(-1\)-base, --prediction-type v_prediction/,
    );
    expect(chooseConfigSet('sd2', { predictionType: 'v_prediction' })).to.deep.equal({
      set: 'sd21',
      predictionType: 'v_prediction',
      imageSize: 768,
    });
    expect(chooseConfigSet('sd2', { predictionType: 'epsilon' })).to.deep.equal({
      set: 'sd21-base',
      predictionType: 'epsilon',
      imageSize: 512,
    });
    expect(chooseConfigSet('sd2', { imageSize: 768 })).to.deep.equal({
      set: 'sd21',
      predictionType: 'v_prediction',
      imageSize: 768,
    });
    expect(chooseConfigSet('sd2', { imageSize: 512 })).to.deep.equal({
      set: 'sd21-base',
      predictionType: 'epsilon',
      imageSize: 512,
    });
    expect(() => chooseConfigSet('sd2', { imageSize: 640 })).to.throw(/an SD-2\.x checkpoint/);
    expect(chooseConfigSet('sd2', { imageSize: 640, predictionType: 'v_prediction' })).to.deep.equal({
      set: 'sd21',
      predictionType: 'v_prediction',
      imageSize: 640,
    });
    expect(chooseConfigSet('sd1', {})).to.deep.equal({ set: 'sd15', predictionType: 'epsilon', imageSize: 512 });
    expect(() => chooseConfigSet('sd1', { imageSize: 500 })).to.throw(
      /image size 500 must be a positive multiple of 64/,
    );
  });
});

describe('convert: small SD-2.x checkpoints', () => {
  const tmp = tempDirForSuite('convert-sd2-small');
  let n = 0;
  const next = () => join(tmp(), `case${n++}`);
  const small = (extra: FakeTensor[] = []): FakeTensor[] => [
    { name: 'model.diffusion_model.input_blocks.1.1.proj_in.weight', shape: [320, 320], dtype: 'F16' },
    { name: 'model.diffusion_model.out.2.bias', shape: [4], dtype: 'F16' },
    { name: 'first_stage_model.quant_conv.bias', shape: [8], dtype: 'F16' },
    { name: 'cond_stage_model.model.transformer.resblocks.0.attn.in_proj_bias', shape: [3072], dtype: 'F16' },
    { name: 'cond_stage_model.model.transformer.resblocks.23.attn.in_proj_bias', shape: [3072], dtype: 'F16' },
    { name: 'cond_stage_model.model.text_projection', shape: [1024, 1024], dtype: 'F16' },
    ...extra,
  ];

  it('ptp convert without --prediction-type: usage error (exit 2) naming both choices, nothing written', async () => {
    const input = `${next()}.safetensors`;
    await writeSparse(input, small(), new Set());
    const out = next();
    const r = await ptp('convert', input, out);
    expect(r.code).to.equal(2);
    expect(lines(r.stderr).at(-1)).to.match(
      /^ptp convert: .*case\d\.safetensors: an SD-2\.x checkpoint: .* --prediction-type v_prediction for stable-diffusion-2\(-1\) \(768\).* \(see 'ptp convert --help'\)$/,
    );
    const bad = await ptp('convert', input, out, '--image-size', '500');
    expect(lines(bad.stderr).at(-1)).to.equal(
      "ptp convert: --image-size must be a positive multiple of 64, got 500 (see 'ptp convert --help')",
    );
  });

  it('--image-size 512 → the SD-2.1-base set (PNDM, epsilon, sample_size 64); the q/k/v split moves the right rows', async () => {
    const input = `${next()}.safetensors`;
    const bias = 'cond_stage_model.model.transformer.resblocks.0.attn.in_proj_bias';
    await writeSparse(input, small(), new Set(), [
      { name: bias, at: 0, values: [1, 2] },
      { name: bias, at: 1024, values: [3, 4] },
      { name: bias, at: 2048, values: [5, 6] },
      { name: bias, at: 3070, values: [7, 8] },
    ]);
    const out = next();
    const r = await ptp('convert', input, out, '--image-size', '512');
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.contain(`→ ${out} (SD-2.x, F32, epsilon, 512×512)`);
    expect(r.stdout).to.contain('left out 2 keys: 1 × OpenCLIP text blocks from 23 on');
    const cfg = async (rel: string) => JSON.parse(await readFile(join(out, rel), 'utf8'));
    expect((await cfg('scheduler/scheduler_config.json'))._class_name).to.equal('PNDMScheduler');
    expect((await cfg('scheduler/scheduler_config.json')).prediction_type).to.equal('epsilon');
    expect((await cfg('unet/config.json')).sample_size).to.equal(64);
    expect((await cfg('unet/config.json')).use_linear_projection).to.equal(true);
    const dir = await openModelDirectory(out);
    try {
      const p = (k: string) => ends(dir, 'text_encoder', `text_model.encoder.layers.0.self_attn.${k}_proj.bias`);
      expect((await p('q')).head).to.deep.equal([1, 2, 0, 0]);
      expect((await p('k')).head).to.deep.equal([3, 4, 0, 0]);
      expect((await p('v')).head).to.deep.equal([5, 6, 0, 0]);
      expect((await p('v')).tail).to.deep.equal([0, 0, 7, 8]);
      expect(dir.weights('unet').info('down_blocks.0.attentions.0.proj_in.weight')!.shape).to.deep.equal([320, 320]);
    } finally {
      await dir.close();
    }
    expect((await loadClipTokenizer(join(out, 'tokenizer'))).padTokenId).to.equal(0);
  });

  it('SD-2.x with 1×1-conv attention projections: use_linear_projection false, noted', async () => {
    const input = `${next()}.safetensors`;
    await writeSparse(
      input,
      small([
        { name: 'model.diffusion_model.input_blocks.1.1.proj_out.weight', shape: [320, 320, 1, 1], dtype: 'F16' },
      ]).slice(1),
      new Set(),
    );
    const out = next();
    const r = await convertCheckpoint(input, out, { predictionType: 'v_prediction', imageSize: 512 });
    expect(r.notes).to.deep.equal([
      'unet attention projections are 1×1 convs [C, C, 1, 1] (SD-2.1: Linear); unet/config.json use_linear_projection set to false',
      'unet sample_size set to 64 for 512×512 images (SD-2.1: 96)',
    ]);
    expect(JSON.parse(await readFile(join(out, 'unet/config.json'), 'utf8')).use_linear_projection).to.equal(false);
  });
});

describeRef('convert: full-size SD-2.1 single-file checkpoint (sparse) → diffusers directory', function () {
  this.timeout(900000);
  const tmp = tempDirForSuite('convert-sd2');
  const manifest = readJson<Manifest>('sd21-manifest.json').original_to_diffusers;
  const originals = Object.entries(manifest.original_keys);
  const tensors: FakeTensor[] = [
    ...originals.map(([name, e]) => ({ name, shape: e.shape, dtype: 'F32' as const })),
    { name: 'betas', shape: [1000], dtype: 'F32' },
    { name: 'model_ema.decay', shape: [], dtype: 'F32' },
    { name: 'model_ema.num_updates', shape: [], dtype: 'I64' },
  ];
  const index = new Map(tensors.map((t, i) => [t.name, i]));
  const marked = new Set(tensors.flatMap((t, i) => (i % 19 === 0 || t.name.endsWith('in_proj_weight') ? [i] : [])));
  /** For each fused in_proj_weight: values at the first element of its k and v rows. */
  const rowStarts = originals
    .filter(([name]) => name.endsWith('attn.in_proj_weight'))
    .flatMap(([name, e]) =>
      [1, 2].map((part) => ({
        name,
        at: part * (e.shape[0] / 3) * e.shape[1],
        values: [part * 100 + (index.get(name)! % 50), -part],
      })),
    );
  let out = '';
  let dir: ModelDir;
  let result: Awaited<ReturnType<typeof convertCheckpoint>>;
  let measured: Awaited<ReturnType<typeof convertMeasured>>;

  before(async function () {
    const input = join(tmp(), 'v2-1_768-fake.safetensors');
    await writeSparse(input, tensors, marked, rowStarts);
    out = join(tmp(), 'sd21');
    measured = await convertMeasured(input, out, { fp16: true, predictionType: 'v_prediction' });
    result = measured.result;
    dir = await openModelDirectory(out);
  });
  after(async () => dir?.close());

  it('writes the SD-2.1 (768, v-prediction) directory: configs, pad-"!" tokenizer', async () => {
    expect(result.family).to.equal('sd2');
    expect(result.configSet).to.equal('sd21');
    expect(result.notes).to.deep.equal([]);
    expect(dir.config('unet').sample_size).to.equal(96);
    expect(dir.config('scheduler')).to.include({ _class_name: 'DDIMScheduler', prediction_type: 'v_prediction' });
    expect(dir.config('text_encoder')).to.include({ hidden_act: 'gelu', num_hidden_layers: 23, hidden_size: 1024 });
    expect((await loadClipTokenizer(join(out, 'tokenizer'))).padTokenId).to.equal(0);
  });

  it("produces every manifest diffusers key with its shape as F16, the models' exact state dicts", () => {
    const wrong: string[] = [];
    for (const c of COMPONENTS) {
      const src = dir.weights(c);
      expect(src.keys().sort(), c).to.deep.equal(Object.keys(manifest.mapping[c]).sort());
      for (const [k, e] of Object.entries(manifest.mapping[c])) {
        const info = src.info(k)!;
        if (JSON.stringify(info.shape) !== JSON.stringify(e.diffusers_shape))
          wrong.push(`${c} ${k}: ${info.shape} vs ${e.diffusers_shape}`);
        if (info.dtype !== 'F16') wrong.push(`${c} ${k}: dtype ${info.dtype}`);
      }
    }
    expect(wrong).to.deep.equal([]);
    expect(result.components.map((c) => [c.component, c.tensors, c.params])).to.deep.equal([
      ['unet', 686, 865910724],
      ['vae', 248, 83653863],
      ['text_encoder', 372, 340387840],
    ]);
    // The modules built from the written configs want exactly these keys and shapes.
    for (const [c, model] of [
      ['unet', UNet2DConditionModel.fromConfig(dir.config('unet'))],
      ['text_encoder', ClipTextModel.fromConfig(dir.config('text_encoder'))],
    ] as const) {
      const want = Object.fromEntries([...model.namedParams()].map(([k, p]) => [k, [...p.torchShape]]));
      const got = Object.fromEntries(
        dir
          .weights(c)
          .keys()
          .map((k) => [k, [...dir.weights(c).info(k)!.shape]]),
      );
      expect(got, c).to.deep.equal(want);
    }
  });

  it('moves the data: sampled tensors end to end, each q/k/v part from its own rows of in_proj_weight', async () => {
    let checked = 0;
    for (const c of COMPONENTS) {
      for (const [dst, e] of Object.entries(manifest.mapping[c])) {
        const i = index.get(e.original)!;
        if (!marked.has(i)) continue;
        const got = await ends(dir, c, dst);
        const p = pattern(i);
        const part = e.split?.part;
        const n = numel(e.diffusers_shape);
        if (!e.split || !e.original.endsWith('in_proj_weight')) {
          if (e.split) continue; // in_proj_bias: only marked at its ends, covered by the small test
          expect(got.head, `${c} ${dst} head`).to.deep.equal(p.head.slice(0, Math.min(4, n)));
          if (n >= 8) expect(got.tail, `${c} ${dst} tail`).to.deep.equal(p.tail);
        } else {
          const k = ['q', 'k', 'v'].indexOf(part!);
          const head = k === 0 ? p.head : [k * 100 + (i % 50), -k, 0, 0];
          expect(got.head, `${c} ${dst} head (${part})`).to.deep.equal(head);
          expect(got.tail, `${c} ${dst} tail (${part})`).to.deep.equal(k === 2 ? p.tail : [0, 0, 0, 0]);
        }
        checked++;
      }
    }
    expect(checked).to.be.greaterThan(120);
  });

  it('leaves out the EMA/schedule extras and the 14 keys diffusers drops, and says so', () => {
    expect(result.ignored.map((i) => i.key).sort()).to.deep.equal(
      [...Object.keys(manifest.dropped), 'betas', 'model_ema.decay', 'model_ema.num_updates'].sort(),
    );
  });

  it('streams: memory stays far below the 5.2 GB checkpoint', () => {
    console.log(
      `      [convert SD-2.1: ${measured.seconds.toFixed(1)} s, peak RSS +${(measured.peakRssGrowth / 2 ** 20).toFixed(0)} MiB]`,
    );
    expect(measured.peakRssGrowth).to.be.lessThan(1.5 * 2 ** 30);
  });
});
