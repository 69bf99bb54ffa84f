/**
 * `convert`: a fake SD-1.5 single-file checkpoint with the real 1130 keys and shapes (a sparse
 * 4.3 GB file: zeros except recognisable values at both ends of a sample of tensors) → diffusers
 * directory, checked key by key against sd15-manifest.json and loaded back through openModelDir.
 */
import { expect } from 'chai';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { StDtype } from '../src/io/dtypes.js';
import { castFloatBytes } from '../src/io/dtypes.js';
import type { ModelDir } from '../src/io/model-dir.js';
import { openModelDirectory } from '../src/node/model-dir.js';
import { convertCheckpoint } from '../weights-tools/convert.js';
import type { Sd1Component } from '../weights-tools/sd1-keymap.js';
import { describeRef, readJson } from './helpers/reference.js';
import { tempDirForSuite } from './helpers/tmp.js';
import { ptp } from './helpers/cli.js';
import {
  convertMeasured,
  encode,
  ends,
  numel,
  pattern,
  writeSparse,
  type FakeTensor,
} from './helpers/sparse-checkpoint.js';

interface MappingEntry {
  original: string;
  original_shape: number[];
  diffusers_shape: number[];
}
type Manifest = { original_to_diffusers: { mapping: Record<Sd1Component, Record<string, MappingEntry>> } };
const COMPONENTS: Sd1Component[] = ['unet', 'vae', 'text_encoder'];

describeRef('convert: full-size SD-1.5 single-file checkpoint (sparse) → diffusers directory', function () {
  this.timeout(600000);
  const tmp = tempDirForSuite('convert');
  const mapping = readJson<Manifest>('sd15-manifest.json').original_to_diffusers.mapping;
  const entries = COMPONENTS.flatMap((c) => Object.entries(mapping[c]).map(([dst, e]) => ({ c, dst, e })));
  const tensors: FakeTensor[] = [
    ...entries.map(({ e }) => ({ name: e.original, shape: e.original_shape, dtype: 'F32' as const })),
    // Extras every real checkpoint has; the converter must leave them out.
    { name: 'betas', shape: [1000], dtype: 'F32' },
    { name: 'alphas_cumprod', shape: [1000], dtype: 'F32' },
    { name: 'model_ema.decay', shape: [], dtype: 'F32' },
    { name: 'model_ema.diffusion_modelinput_blocks00weight', shape: [320, 4, 3, 3], dtype: 'F32' },
    { name: 'cond_stage_model.transformer.text_model.embeddings.position_ids', shape: [1, 77], dtype: 'I64' },
  ];
  const VAE_ATTN = 'decoder.mid_block.attentions.0.to_q.weight';
  const special = [
    VAE_ATTN,
    'encoder.mid_block.attentions.0.to_out.0.weight',
    'conv_in.weight',
    'text_model.embeddings.token_embedding.weight',
    'up_blocks.3.attentions.2.proj_out.weight',
  ];
  const marked = new Set(entries.flatMap(({ dst }, i) => (i % 23 === 0 || special.includes(dst) ? [i] : [])));
  let out = '';
  let dir: ModelDir;
  let result: Awaited<ReturnType<typeof convertCheckpoint>>;
  let measured: Awaited<ReturnType<typeof convertMeasured>>;

  before(async function () {
    const input = join(tmp(), 'v1-5-fake.safetensors');
    await writeSparse(input, tensors, marked);
    out = join(tmp(), 'sd15');
    measured = await convertMeasured(input, out, { fp16: true });
    result = measured.result;
    dir = await openModelDirectory(out);
  });
  after(async () => dir?.close());

  it('writes a complete, loadable diffusers directory', async () => {
    expect((await readdir(out)).sort()).to.deep.equal([
      'model_index.json',
      'scheduler',
      'text_encoder',
      'tokenizer',
      'unet',
      'vae',
    ]);
    expect(dir.weightFiles.unet!.files).to.deep.equal(['unet/diffusion_pytorch_model.safetensors']);
    expect(dir.weightFiles.text_encoder!.files).to.deep.equal(['text_encoder/model.safetensors']);
    expect(dir.config('unet').cross_attention_dim).to.equal(768);
    expect(Object.keys(dir.tokenizer!.vocab)).to.have.length(49408);
    const index = JSON.parse(await readFile(join(out, 'model_index.json'), 'utf8'));
    expect(index.safety_checker).to.deep.equal([null, null]);
    expect(index.requires_safety_checker).to.equal(false);
    expect(dir.weights('unet').files[0].metadata).to.deep.equal({ format: 'pt' });
  });

  it('produces every manifest diffusers key with its shape, as F16, and nothing else', () => {
    const wrong: string[] = [];
    for (const c of COMPONENTS) {
      const src = dir.weights(c);
      expect(src.keys().sort(), c).to.deep.equal(Object.keys(mapping[c]).sort());
      for (const [k, e] of Object.entries(mapping[c])) {
        const info = src.info(k)!;
        if (JSON.stringify(info.shape) !== JSON.stringify(e.diffusers_shape))
          wrong.push(`${c} ${k}: ${info.shape} vs ${e.diffusers_shape}`);
        if (info.dtype !== 'F16') wrong.push(`${c} ${k}: dtype ${info.dtype}`);
      }
    }
    expect(wrong).to.deep.equal([]);
    expect(dir.weights('vae').info(VAE_ATTN)!.shape).to.deep.equal([512, 512]);
    expect(result.components.map((c) => [c.component, c.tensors, c.params])).to.deep.equal([
      ['unet', 686, 859520964],
      ['vae', 248, 83653863],
      ['text_encoder', 196, 123060480],
    ]);
  });

  it('moves the data: head and tail values of sampled tensors, incl. the reshaped VAE attention weights', async () => {
    expect(marked.size).to.be.greaterThan(50);
    for (const [i, { c, dst }] of entries.entries()) {
      if (!marked.has(i)) continue;
      const got = await ends(dir, c, dst);
      const want = pattern(i);
      const n = numel(mapping[c][dst].diffusers_shape);
      expect(got.head, `${c} ${dst} head`).to.deep.equal(want.head.slice(0, Math.min(4, n)));
      if (n >= 8) expect(got.tail, `${c} ${dst} tail`).to.deep.equal(want.tail);
    }
    // An unmarked tensor stays zero.
    const zero = entries.findIndex((_, i) => !marked.has(i));
    expect((await ends(dir, entries[zero].c, entries[zero].dst)).head).to.deep.equal([0, 0, 0, 0]);
  });

  it('leaves out EMA weights, schedule buffers and position_ids, and says so', () => {
    expect(result.ignored.map((i) => i.key).sort()).to.deep.equal(
      [
        'alphas_cumprod',
        'betas',
        'cond_stage_model.transformer.text_model.embeddings.position_ids',
        'model_ema.decay',
        'model_ema.diffusion_modelinput_blocks00weight',
      ].sort(),
    );
  });

  it('streams: memory stays far below the 4.3 GB checkpoint', () => {
    console.log(
      `      [convert: ${measured.seconds.toFixed(1)} s, peak RSS +${(measured.peakRssGrowth / 2 ** 20).toFixed(0)} MiB]`,
    );
    expect(measured.peakRssGrowth).to.be.lessThan(1.5 * 2 ** 30);
  });
});

describe('convert: small checkpoints and errors', () => {
  const tmp = tempDirForSuite('convert-small');
  let n = 0;
  const next = () => join(tmp(), `case${n++}`);

  /** A minimal single file with a few real SD-1.x keys per component. */
  function small(dtype: StDtype, extra: FakeTensor[] = []): FakeTensor[] {
    return [
      { name: 'model.diffusion_model.input_blocks.0.0.bias', shape: [320], dtype },
      { name: 'model.diffusion_model.out.2.bias', shape: [4], dtype },
      { name: 'first_stage_model.decoder.mid.attn_1.q.weight', shape: [512, 512, 1, 1], dtype },
      { name: 'first_stage_model.quant_conv.bias', shape: [8], dtype },
      { name: 'cond_stage_model.transformer.text_model.final_layer_norm.bias', shape: [768], dtype },
      ...extra,
    ];
  }

  for (const dtype of ['F16', 'BF16', 'F32'] as const) {
    it(`${dtype} input → float32 output by default`, async () => {
      const input = `${next()}.safetensors`;
      const ts = small(dtype);
      await writeSparse(input, ts, new Set(ts.map((_, i) => i)));
      const out = next();
      const r = await convertCheckpoint(input, out);
      expect(r.dtype).to.equal('F32');
      const dir = await openModelDirectory(out);
      try {
        const attn = await ends(dir, 'vae', 'decoder.mid_block.attentions.0.to_q.weight');
        expect(dir.weights('vae').info('decoder.mid_block.attentions.0.to_q.weight')).to.deep.include({ dtype: 'F32' });
        // What the file holds in its dtype (BF16 keeps 8 significant bits), decoded.
        const stored = (v: number[]) => [
          ...new Float32Array(castFloatBytes(encode(v, dtype), dtype, 'F32').slice().buffer),
        ];
        expect(attn).to.deep.equal({ head: stored(pattern(2).head), tail: stored(pattern(2).tail) });
        expect((await ends(dir, 'unet', 'conv_out.bias')).head).to.deep.equal(stored(pattern(1).head));
        expect(dir.weights('text_encoder').keys()).to.deep.equal(['text_model.final_layer_norm.bias']);
      } finally {
        await dir.close();
      }
    });
  }

  it('carries a different UNet input width (inpainting) into unet/config.json', async () => {
    const input = `${next()}.safetensors`;
    await writeSparse(
      input,
      small('F16', [{ name: 'model.diffusion_model.input_blocks.0.0.weight', shape: [320, 9, 3, 3], dtype: 'F16' }]),
      new Set(),
    );
    const out = next();
    const r = await convertCheckpoint(input, out, { fp16: true });
    expect(r.notes).to.deep.equal(['unet conv_in takes 9 channels (SD-1.5: 4); unet/config.json in_channels set to 9']);
    expect(JSON.parse(await readFile(join(out, 'unet/config.json'), 'utf8')).in_channels).to.equal(9);
  });

  async function convertError(input: string, out = next()): Promise<string> {
    try {
      await convertCheckpoint(input, out);
    } catch (e) {
      return (e as Error).message;
    }
    throw new Error('expected convert to fail');
  }

  it('refuses pickle checkpoints (.ckpt by name, zip/pickle by content)', async () => {
    const ckpt = `${next()}.ckpt`;
    await writeFile(ckpt, Uint8Array.from([0x50, 0x4b, 3, 4, 1, 2, 3, 4, 5, 6]));
    expect(await convertError(ckpt)).to.match(
      new RegExp(`^${ckpt.replace(/\./g, '\\.')}: this is a PyTorch pickle checkpoint; pickle files .* out of scope`),
    );
    const disguised = `${next()}.safetensors`;
    await writeFile(
      disguised,
      Uint8Array.from([0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8]),
    );
    expect(await convertError(disguised)).to.match(/: this is a PyTorch pickle checkpoint/);
  });

  it('lists every unknown key and names unsupported model families', async () => {
    const input = `${next()}.safetensors`;
    await writeSparse(
      input,
      small('F16', [
        { name: 'model.diffusion_model.input_blocks.1.0.in_layers.1.weight', shape: [320], dtype: 'F16' },
        { name: 'first_stage_model.encoder.mid.attn_2.q.weight', shape: [512, 512, 1, 1], dtype: 'F16' },
        { name: 'cond_stage_model.model.transformer.resblocks.0.ln_1.weight', shape: [1024], dtype: 'F16' },
      ]),
      new Set(),
    );
    const msg = await convertError(input);
    expect(msg.split('\n')).to.deep.equal([
      `${input}: cannot convert (3 problems):`,
      '  - 1 key like "cond_stage_model.model.transformer.resblocks.0.ln_1.weight": OpenCLIP text encoder (SD-2.x) keys in an SD-1.x checkpoint',
      '  - no rule maps "model.diffusion_model.input_blocks.1.0.in_layers.1.weight" [320]',
      '  - no rule maps "first_stage_model.encoder.mid.attn_2.q.weight" [512, 512, 1, 1]',
    ]);
  });

  it('rejects a checkpoint whose shapes are not SD-1.x (cross-attention width)', async () => {
    const input = `${next()}.safetensors`;
    await writeSparse(
      input,
      small('F16', [
        {
          name: 'model.diffusion_model.input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight',
          shape: [320, 1024],
          dtype: 'F16',
        },
      ]),
      new Set(),
    );
    expect(await convertError(input)).to.contain(
      'unet down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k.weight has cross-attention width 1024, SD-1.x has 768: not a Stable Diffusion 1.x checkpoint',
    );
  });

  it('refuses a non-empty output directory unless forced (ptp convert --force), and a missing input', async () => {
    const input = `${next()}.safetensors`;
    await writeSparse(input, small('F16'), new Set());
    const out = next();
    await convertCheckpoint(input, out);
    await writeFile(join(out, 'mine.txt'), 'keep me');
    expect(await convertError(input, out)).to.equal(
      `${out}: folder exists and is not empty; choose a new or empty folder, or replace it (--force)`,
    );
    expect(await readFile(join(out, 'mine.txt'), 'utf8')).to.equal('keep me');
    const cli = await ptp('convert', input, out);
    expect([cli.code, cli.stderr.trim()]).to.deep.equal([
      1,
      `ptp convert: ${out}: folder exists and is not empty; choose a new or empty folder, or replace it (--force)`,
    ]);
    const forced = await ptp('convert', input, out, '--force');
    expect(forced.code, forced.stderr).to.equal(0);
    expect((await readdir(out)).sort()).to.deep.equal([
      'model_index.json',
      'scheduler',
      'text_encoder',
      'tokenizer',
      'unet',
      'vae',
    ]);
    expect(await readdir(tmp())).to.satisfy(
      (names: string[]) => names.every((f) => !f.startsWith('.')),
      'no temporary folder left',
    );
    // An empty folder is fine without --force.
    const empty = next();
    await mkdir(empty);
    await convertCheckpoint(input, empty);
    expect(await convertError(join(tmp(), 'nope.safetensors'))).to.match(/nope\.safetensors: cannot open \(ENOENT\)$/);
  });

  it('an interrupted conversion leaves no output folder (and no temporary one), and keeps a replaced one intact', async () => {
    const input = `${next()}.safetensors`;
    await writeSparse(input, small('F16'), new Set());
    const stopAfter = (n: number) => ({
      onProgress: (done: number) => {
        if (done === n) throw new Error('interrupted');
      },
    });
    for (const n of [1, 3, 5]) {
      const out = next();
      await convertCheckpoint(input, out, stopAfter(n)).then(
        () => expect.fail('should stop'),
        (e: Error) => expect(e.message).to.equal('interrupted'),
      );
      expect(existsSync(out), `after ${n} tensors`).to.equal(false);
    }
    const out = next();
    await convertCheckpoint(input, out);
    const before = await readFile(join(out, 'unet/diffusion_pytorch_model.safetensors'));
    await convertCheckpoint(input, out, { ...stopAfter(4), fp16: true, force: true }).catch(() => undefined);
    expect(
      (await readFile(join(out, 'unet/diffusion_pytorch_model.safetensors'))).equals(before),
      'previous output untouched',
    ).to.equal(true);
    expect((await readdir(tmp())).filter((f) => f.startsWith('.'))).to.deep.equal([]);
  });
});
