/**
 * Models whose text context is not CLIP's 77 tokens (the shipped demo model uses 16): the
 * tokenizer's model_max_length sets the length everywhere. The controllers at 16 tokens compute
 * exactly the first 16 token columns of the 77-token controllers (checked against the official
 * code by the ptp-* parity suites) when the prompts fit; a 16-token tiny-sd (its text encoder's
 * position table cut to 16 rows) runs generate, Replace + LocalBlend, Refine, Reweight, the
 * attention store and maps, DDIM and null-text inversion and the CLI; mismatched lengths are
 * one-line errors naming both files.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'chai';
import { ClipTokenizer, DEFAULT_MODEL_MAX_LENGTH } from '../src/models/clip/tokenizer.js';
import { ClipPromptEncoder } from '../src/models/clip/prompt-encoder.js';
import { ClipTextModel } from '../src/models/clip/text-model.js';
import { refinementMappers, replacementMappers } from '../src/ptp/align.js';
import { timeWordAlpha } from '../src/ptp/schedule.js';
import { getEqualizer } from '../src/ptp/equalizer.js';
import { LocalBlend } from '../src/ptp/local-blend.js';
import { AttentionReplace } from '../src/ptp/replace.js';
import { AttentionRefine } from '../src/ptp/refine.js';
import { AttentionReweight } from '../src/ptp/reweight.js';
import type { AttentionEdit } from '../src/ptp/edit.js';
import { AttentionStore, type StoredMap } from '../src/ptp/store.js';
import { crossAttentionGrid, tokenLabels } from '../src/ptp/render.js';
import { loadPipelineFromDirectory } from '../src/node/pipeline.js';
import { openModelDirectory } from '../src/node/model-dir.js';
import { modelContextLength } from '../src/pipeline/load.js';
import type { StableDiffusionPipeline } from '../src/pipeline/pipeline.js';
import { readInversionFile, writeInversionFile } from '../src/node/inversion-file.js';
import type { RgbImage } from '../src/util/image.js';
import { writePng } from '../src/node/png.js';
import { describeRef, tinySdDir } from './helpers/reference.js';
import { clipTokenizer, ctxOf } from './helpers/ptp.js';
import { tempDirForSuite } from './helpers/tmp.js';
import { shortContextModel } from './helpers/short-context.js';
import { ptp } from './helpers/cli.js';

const T = 16;
const K = DEFAULT_MODEL_MAX_LENGTH;
const NUMBERS =
  'one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen twenty'.split(
    ' ',
  );

function tokenizer16(): ClipTokenizer {
  const f = (n: string) => readFileSync(join(tinySdDir, 'tokenizer', n), 'utf8');
  return ClipTokenizer.fromFiles(f('vocab.json'), f('merges.txt'), { modelMaxLength: T });
}

/** The first `n` entries of every length-`k` row of `data`. */
function firstColumns(data: ArrayLike<number>, k: number, n: number): number[] {
  const out: number[] = [];
  for (let r = 0; r < data.length / k; r++) for (let j = 0; j < n; j++) out.push(data[r * k + j]);
  return out;
}

/** Random attention probabilities [rows, q, 77] (rows sum to 1) and their first 16 key columns. */
function probsPair(rows: number, q: number, seed: number): [tf.Tensor3D, tf.Tensor3D] {
  return tf.tidy(() => {
    const p = tf.softmax(tf.randomNormal([rows, q, K], 0, 3, 'float32', seed)) as tf.Tensor3D;
    return [p, tf.slice(p, [0, 0, 0], [rows, q, T])];
  });
}

async function expectFirstColumns(full: tf.Tensor, short: tf.Tensor, what: string): Promise<void> {
  expect(short.shape[short.rank - 1], what).to.equal(T);
  const want = firstColumns(await full.data(), K, T);
  const got = Array.from(await short.data());
  const worst = got.reduce((m, v, i) => Math.max(m, Math.abs(v - want[i])), 0);
  expect(worst, `${what}: max |Δ| against the 77-token result`).to.be.below(1e-6);
}

describeRef('text context length: P2P at 16 tokens = the first 16 token columns at 77', () => {
  const tok77 = clipTokenizer();
  const tok16 = tokenizer16();
  const swap = ['a cat riding a bicycle', 'a dog riding a bicycle', 'a hippopotamus riding a bicycle'];
  const refine = ['a cat riding a bicycle', 'a fluffy cat riding a red bicycle'];
  let before = 0;
  beforeEach(() => (before = tf.memory().numTensors));
  afterEach(() => expect(tf.memory().numTensors, 'tensors leaked').to.equal(before));

  it('the tokenizer pads and truncates to its model_max_length, with the warning', () => {
    expect(tok16.modelMaxLength).to.equal(T);
    const enc = tok16.call(['a cat']);
    expect(enc.inputIds[0]).to.have.length(T);
    expect(enc.inputIds[0].slice(0, 4)).to.deep.equal(tok77.call(['a cat']).inputIds[0].slice(0, 4));
    const long = NUMBERS.join(' ');
    const seen: string[] = [];
    const cut = tok16.call([long], { onTruncate: (t) => seen.push(`${t.numTokens} ${t.maxLength} ${t.dropped}`) });
    expect(seen).to.deep.equal([`${tok16.encode(long).length} 16 ${tok16.encode(long).length - 16}`]);
    expect(cut.inputIds[0]).to.deep.equal([...tok16.encode(long).slice(0, 15), tok16.eosTokenId]);
    expect(() =>
      ClipTokenizer.fromFiles('{"<|startoftext|>":0,"<|endoftext|>":1}', '#version: 0.2\n', { modelMaxLength: 1 }),
    ).to.throw(/modelMaxLength must be an integer ≥ 2 \(BOS and EOS\), got 1/);
  });

  it('alignment works on the model length: replacement and refinement mappers, schedules, equalizers', () => {
    const r77 = replacementMappers(tok77, swap);
    const r16 = replacementMappers(tok16, swap);
    r16.forEach((m, b) => {
      expect(m).to.have.length(T * T);
      const block = Array.from({ length: T * T }, (_, i) => r77[b][Math.floor(i / T) * K + (i % T)]);
      expect(Array.from(m), `replacement mapper ${b}`).to.deep.equal(block);
    });
    const f77 = refinementMappers(tok77, refine);
    const f16 = refinementMappers(tok16, refine);
    expect(Array.from(f16[0].mapper)).to.deep.equal(Array.from(f77[0].mapper).slice(0, T));
    expect(Array.from(f16[0].alphas)).to.deep.equal(Array.from(f77[0].alphas).slice(0, T));
    expect(Array.from(f16[0].mapper)).to.include(-1); // "fluffy" and "red" are insertions
    const steps = { default_: 0.8, dog: [0.2, 0.6] as const };
    const a77 = timeWordAlpha(tok77, swap, 10, steps);
    const a16 = timeWordAlpha(tok16, swap, 10, steps);
    expect(a16.tokens).to.equal(T);
    expect(Array.from(a16.data)).to.deep.equal(firstColumns(a77.data, K, T));
    const e16 = getEqualizer(tok16, swap[0], ['bicycle', 'cat'], [-2, 3]);
    expect(Array.from(e16)).to.deep.equal(
      Array.from(getEqualizer(tok77, swap[0], ['bicycle', 'cat'], [-2, 3])).slice(0, T),
    );
    expect(() =>
      replacementMappers(tok16, ['a cat ' + 'very '.repeat(14) + 'big', 'a dog ' + 'very '.repeat(14) + 'big']),
    ).to.throw(/has 19 tokens with BOS\/EOS; at most 16 fit the text encoder/);
  });

  const controllers: [string, (tok: ClipTokenizer) => AttentionEdit, number][] = [
    [
      'Replace',
      (tokenizer) =>
        new AttentionReplace({
          tokenizer,
          prompts: swap,
          numSteps: 4,
          crossReplaceSteps: { default_: 0.8, dog: 0.4 },
          selfReplaceSteps: 0.5,
        }),
      3,
    ],
    [
      'Refine',
      (tokenizer) =>
        new AttentionRefine({ tokenizer, prompts: refine, numSteps: 4, crossReplaceSteps: 0.8, selfReplaceSteps: 0.5 }),
      2,
    ],
    [
      'Reweight after Refine',
      (tokenizer) => {
        const opts = { tokenizer, prompts: refine, numSteps: 4, crossReplaceSteps: 0.8, selfReplaceSteps: 0.5 };
        return new AttentionReweight({
          ...opts,
          equalizer: getEqualizer(tokenizer, refine[1], 'fluffy', 4),
          prev: new AttentionRefine(opts),
        });
      },
      2,
    ],
  ];
  for (const [name, make, n] of controllers) {
    it(`${name}: edited cross-attention at 16 keys equals the 77-key controller's first 16 columns`, async () => {
      const c77 = make(tok77);
      const c16 = make(tok16);
      expect(c16.tokens).to.equal(T);
      const heads = 2;
      const [p77, p16] = probsPair(2 * n * heads, 16, 7);
      for (const step of [0, 2]) {
        const base = { isCross: true, step, batch: 2 * n, heads, height: 4, width: 4 };
        const o77 = c77.onAttention(p77, ctxOf({ ...base, keys: K }));
        const o16 = c16.onAttention(p16, ctxOf({ ...base, keys: T }));
        await expectFirstColumns(o77, o16, `${name} step ${step}`);
        tf.dispose([o77, o16]);
      }
      expect(() =>
        c16.onAttention(p77, ctxOf({ isCross: true, step: 0, batch: 2 * n, heads, height: 4, width: 4, keys: K })),
      ).to.throw(/cross-attention over 77 keys; this edit controller was built for 16 text tokens/);
      tf.dispose([p77, p16]);
      c77.dispose();
      c16.dispose();
    });
  }

  it('LocalBlend: the mask from 16-key maps equals the 77-key one; mismatched lengths are refused', async () => {
    const words = ['cat', 'dog'];
    const prompts = swap.slice(0, 2);
    const lb77 = new LocalBlend(tok77, prompts, words);
    const lb16 = new LocalBlend(tok16, prompts, words);
    expect(lb16.tokens).to.equal(T);
    const heads = 2;
    const maps77: StoredMap[] = [];
    const maps16: StoredMap[] = [];
    for (const [i, place] of (['down', 'down', 'up', 'up', 'up'] as const).entries()) {
      const [a, b] = probsPair(2 * heads, 16 * 16, 20 + i);
      const m = { place, isCross: true, height: 16, width: 16, heads, name: `l${i}` };
      maps77.push({ ...m, probs: a });
      maps16.push({ ...m, probs: b });
    }
    const latent = { height: 64, width: 64 };
    const m77 = lb77.mask(maps77, latent);
    const m16 = lb16.mask(maps16, latent);
    const got = await m16.data();
    expect(Array.from(got)).to.deep.equal(Array.from(await m77.data()));
    const frac = Array.from(got).reduce((a, b) => a + b, 0) / got.length;
    expect(frac, 'the mask is partial').to.be.within(0.02, 0.98);
    expect(() => lb16.mask(maps77, latent)).to.throw(/does not hold 2 prompts × 2 heads × 16·16 queries × 16 tokens/);
    expect(
      () =>
        new AttentionReplace({
          tokenizer: tok16,
          prompts,
          crossReplaceSteps: 0.8,
          selfReplaceSteps: 0.4,
          localBlend: lb77,
        }),
    ).to.throw(/LocalBlend was built for 77 text tokens, the edit's tokenizer has 16/);
    tf.dispose([m77, m16, ...maps77.map((m) => m.probs), ...maps16.map((m) => m.probs)]);
  });

  it("token labels follow the tokenizer's truncation", () => {
    const long = NUMBERS.join(' ');
    const labels = tokenLabels(tok16, long);
    expect(labels).to.have.length(T);
    expect(labels[0]).to.equal('<|startoftext|>');
    expect(labels[T - 1]).to.equal('<|endoftext|>');
    expect(tokenLabels(tok16, 'a cat')).to.deep.equal(tokenLabels(tok77, 'a cat'));
  });
});

describeRef('text context length: a 16-token tiny-sd end to end', function () {
  this.timeout(600000);
  const tmp = tempDirForSuite('ctx16');
  let dir = '';
  let pipe: StableDiffusionPipeline;
  const size = { height: 128, width: 128 };

  before(async () => {
    dir = await shortContextModel(join(tmp(), 'tiny16'));
    pipe = await loadPipelineFromDirectory(dir, { vaeEncoder: true });
  });
  after(() => pipe?.dispose());

  it("loads with context length 16; the embeddings are the 77-token model's first 16 rows (causal text encoder)", async () => {
    expect(pipe.contextLength).to.equal(T);
    expect(pipe.tokenizer.modelMaxLength).to.equal(T);
    const full = await loadPipelineFromDirectory(tinySdDir);
    try {
      expect(full.contextLength).to.equal(K);
      const prompts = ['a cat riding a bicycle', ''];
      const e16 = pipe.encodePrompts(prompts);
      const e77 = full.encodePrompts(prompts);
      expect(e16.shape).to.deep.equal([2, T, 32]);
      const head = tf.slice(e77, [0, 0, 0], [2, T, 32]);
      const worst = (await tf.max(tf.abs(tf.sub(head, e16))).data())[0];
      expect(worst).to.be.below(1e-5);
      tf.dispose([e16, e77, head]);
    } finally {
      full.dispose();
    }
  });

  it('generate: every cross-attention layer attends to 16 tokens; a prompt over 16 tokens is truncated with the warning', async () => {
    const store = new AttentionStore({ numPrompts: 1 });
    const r = await pipe.generate({
      prompts: ['a red circle'],
      steps: 2,
      seed: 3,
      ...size,
      scheduler: 'ddim',
      controller: store,
    });
    expect(r.latents.data.every(Number.isFinite)).to.equal(true);
    const cross = Object.entries(store.storedShapes())
      .filter(([k]) => k.endsWith('cross'))
      .flatMap(([, shapes]) => shapes);
    expect(cross.length).to.be.above(0);
    for (const s of cross) expect(s[2], 'keys of a stored cross-attention map').to.equal(T);
    const maps = store.aggregateAttention(4, ['up', 'down'], true, 0);
    expect(maps.shape).to.deep.equal([4, 4, T]);
    const labels = tokenLabels(pipe.tokenizer, 'a red circle');
    const grid = crossAttentionGrid({ data: await maps.data(), height: 4, width: 4, channels: T }, labels, {
      cell: 16,
    });
    expect(grid.width).to.equal(labels.length * 16 + (labels.length - 1) * 4);
    maps.dispose();
    store.dispose();

    const words = NUMBERS; // one token each up to "fourteen"
    const warned: string[] = [];
    const warn = console.warn;
    console.warn = (...a: unknown[]) => void warned.push(a.join(' '));
    let long: tf.Tensor3D;
    try {
      long = pipe.encodePrompts([words.join(' ')]);
    } finally {
      console.warn = warn;
    }
    expect(warned.join('\n')).to.contain(
      'needs 23 tokens but CLIP takes 16: 7 tokens were dropped: "fifteen sixteen seventeen eighteen nineteen twenty"',
    );
    const kept = pipe.encodePrompts([words.slice(0, 14).join(' ')]);
    expect(Array.from(await long.data())).to.deep.equal(Array.from(await kept.data()));
    tf.dispose([long, kept]);
  });

  /** Final latents NCHW of one prompt of a result. */
  const image = (latents: { shape: number[]; data: Float32Array }, i: number) => {
    const per = latents.data.length / latents.shape[0];
    return latents.data.subarray(i * per, (i + 1) * per);
  };
  const maxDiff = (a: Float32Array, b: Float32Array) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);

  it("Replace + LocalBlend: outside the words' mask the edited latents are the source's, inside they change", async () => {
    const prompts = ['a red circle on a blue background', 'a red square on a blue background'];
    // The tiny model's random weights attend almost uniformly: a high threshold makes the mask partial.
    const localBlend = new LocalBlend(pipe.tokenizer, prompts, ['circle', 'square'], { threshold: 0.95 });
    const c = new AttentionReplace({
      tokenizer: pipe.tokenizer,
      prompts,
      crossReplaceSteps: 0.8,
      selfReplaceSteps: 0.4,
      localBlend,
    });
    const r = await pipe.edit({ prompts, steps: 3, seed: 5, ...size, scheduler: 'ddim', controller: c, decode: false });
    const mask = localBlend.mask([...c.summedMaps('down_cross'), ...c.summedMaps('up_cross')], {
      height: 16,
      width: 16,
    });
    const m = await mask.data();
    mask.dispose();
    c.dispose();
    const frac = Array.from(m).reduce((a, b) => a + b, 0) / m.length;
    expect(frac, 'the blend mask is partial').to.be.within(0.02, 0.98);
    const [src, edited] = [image(r.latents, 0), image(r.latents, 1)];
    let inside = 0;
    for (let ch = 0; ch < 4; ch++) {
      for (let p = 0; p < 256; p++) {
        const d = Math.abs(src[ch * 256 + p] - edited[ch * 256 + p]);
        if (m[p] === 0) expect(d, `latent ${ch},${p} outside the mask`).to.equal(0);
        else inside = Math.max(inside, d);
      }
    }
    expect(inside, 'the edit changes the masked region').to.be.above(1e-3);
  });

  it('Refine and Reweight edit the edited prompt only; the source is the plain generation', async () => {
    const prompts = ['a red circle', 'a small red circle'];
    const common = { prompts, steps: 3, seed: 9, ...size, scheduler: 'ddim', decode: false } as const;
    const plain = await pipe.generate({
      prompts: prompts.slice(0, 1),
      steps: 3,
      seed: 9,
      ...size,
      scheduler: 'ddim',
      decode: false,
    });
    const none = await pipe.edit(common);
    const refine = new AttentionRefine({
      tokenizer: pipe.tokenizer,
      prompts,
      crossReplaceSteps: 0.8,
      selfReplaceSteps: 0.4,
    });
    const rr = await pipe.edit({ ...common, controller: refine });
    refine.dispose();
    const equalizer = getEqualizer(pipe.tokenizer, prompts[1], 'small', 5);
    expect(equalizer).to.have.length(T);
    const reweight = new AttentionReweight({
      tokenizer: pipe.tokenizer,
      prompts,
      crossReplaceSteps: 0.8,
      selfReplaceSteps: 0.4,
      equalizer,
    });
    const rw = await pipe.edit({ ...common, controller: reweight });
    reweight.dispose();
    for (const [name, r] of [
      ['refine', rr],
      ['reweight', rw],
    ] as const) {
      expect(maxDiff(image(r.latents, 0), image(plain.latents, 0)), `${name}: source vs plain`).to.be.below(1e-4);
      expect(maxDiff(image(r.latents, 1), image(none.latents, 1)), `${name}: edited vs uncontrolled`).to.be.above(1e-3);
    }
    expect(maxDiff(image(rr.latents, 1), image(rw.latents, 1)), 'refine vs reweight').to.be.above(1e-3);
    expect(
      () =>
        new AttentionReweight({
          tokenizer: pipe.tokenizer,
          prompts,
          crossReplaceSteps: 0.8,
          selfReplaceSteps: 0.4,
          equalizer: new Float32Array(K).fill(1),
        }),
    ).to.throw(/equalizer row 0 has 77 values, expected 16 \(one per text token\)/);
  });

  it('DDIM and null-text inversion: embeddings [steps, 16, D] reconstruct; 77-token embeddings are refused', async () => {
    const img: RgbImage = { width: 64, height: 64, data: new Uint8Array(64 * 64 * 3) };
    for (let y = 0; y < 64; y++)
      for (let x = 0; x < 64; x++)
        img.data.set((x - 32) ** 2 + (y - 32) ** 2 < 225 ? [220, 40, 40] : [30, 60, 200], (y * 64 + x) * 3);
    const inv = await pipe.invert({ image: img, prompt: 'a red circle', steps: 3 });
    expect(inv.latents.shape).to.deep.equal([1, 4, 8, 8]);
    expect(inv.trajectory.shape).to.deep.equal([4, 1, 4, 8, 8]);
    const nt = await pipe.invertNullText({ image: img, prompt: 'a red circle', steps: 3, innerSteps: 2 });
    expect(nt.uncondEmbeddings.shape).to.deep.equal([3, T, 32]);
    const run = {
      prompts: ['a red circle'],
      latents: nt.latents,
      steps: 3,
      guidance: nt.guidance,
      scheduler: pipe.scheduler('ddim'),
      decode: false,
    };
    const withNt = await pipe.generate({ ...run, uncondEmbeddings: nt.uncondEmbeddings });
    const without = await pipe.generate(run);
    const x0 = nt.imageLatents.data;
    expect(maxDiff(withNt.latents.data, x0), 'null-text reconstructs better than plain guidance').to.be.below(
      maxDiff(without.latents.data, x0),
    );
    let err: Error | undefined;
    await pipe
      .generate({ ...run, uncondEmbeddings: { shape: [3, K, 32], data: new Float32Array(3 * K * 32) } })
      .catch((e: Error) => (err = e));
    expect(err?.message).to.equal('uncondEmbeddings have shape [3, 77, 32], expected [steps, 16, 32] for this model');
  });

  it('CLI: invert and edit with the 16-token model; an inversion file of 77-token embeddings is refused', async () => {
    const photo = join(tmp(), 'photo.png');
    const inv = join(tmp(), 'inv16.safetensors');
    const out = join(tmp(), 'edit.png');
    await writePng(photo, {
      width: 64,
      height: 64,
      data: new Uint8Array(64 * 64 * 3).map((_, i) => (i % 3 === 0 ? 200 : 40)),
    });
    const model = ['--model', dir, '--steps', '2', '--height', '64', '--width', '64'];
    const a = await ptp(
      'invert',
      ...model,
      '--inner-steps',
      '2',
      '--image',
      photo,
      '--prompt',
      'a red square',
      '--out',
      inv,
    );
    expect(a.code, a.stderr).to.equal(0);
    const data = await readInversionFile(inv);
    expect(data.uncondEmbeddings.shape).to.deep.equal([2, T, 32]);
    const b = await ptp(
      'edit',
      '--model',
      dir,
      '--inversion',
      inv,
      '--target',
      'a red circle',
      '--blend',
      'square,circle',
      '--out',
      out,
    );
    expect(b.code, b.stderr).to.equal(0);
    expect(b.stdout).to.contain(`wrote ${out}`);
    const wide = join(tmp(), 'inv77.safetensors');
    await writeInversionFile(wide, {
      ...data,
      uncondEmbeddings: { shape: [2, K, 32], data: new Float32Array(2 * K * 32) },
    });
    const c = await ptp('edit', '--model', dir, '--inversion', wide, '--target', 'a red circle', '--out', out);
    expect(c.code).to.equal(2);
    expect(c.stderr).to.contain(
      `ptp edit: ${wide}: uncond_embeddings [2, 77, 32], expected [2, 16, 32] for this model`,
    );
  });
});

describeRef('text context length: tokenizer and text encoder must agree', function () {
  this.timeout(120000);
  const tmp = tempDirForSuite('ctx-mismatch');

  const cases: [string, { positions: number; tokenizerLength: number | null }, number, number][] = [
    ['tokenizer 77, text encoder 16', { positions: 16, tokenizerLength: 77 }, 77, 16],
    ['no model_max_length (77), text encoder 16', { positions: 16, tokenizerLength: null }, 77, 16],
    ['tokenizer 16, text encoder 24', { positions: 24, tokenizerLength: 16 }, 16, 24],
  ];
  for (const [name, opts, length, positions] of cases) {
    it(`${name}: a one-line error naming both files, from loading and from the CLI`, async () => {
      const dir = await shortContextModel(join(tmp(), name.replace(/\W+/g, '-')), opts);
      const want = `${dir}/tokenizer/tokenizer_config.json: model_max_length ${length} does not match max_position_embeddings ${positions} of ${dir}/text_encoder/config.json (a tokenizer_config.json without model_max_length means 77)`;
      let err: Error | undefined;
      await loadPipelineFromDirectory(dir).catch((e: Error) => (err = e));
      expect(err?.message).to.equal(want);
      const d = await openModelDirectory(dir);
      try {
        expect(() => modelContextLength(d)).to.throw(want);
      } finally {
        await d.close();
      }
      const r = await ptp(
        'generate',
        '--model',
        dir,
        '--prompt',
        'a cat',
        '--steps',
        '1',
        '--height',
        '64',
        '--width',
        '64',
        '--out',
        join(tmp(), 'x.png'),
      );
      expect(r.code).to.not.equal(0);
      expect(r.stderr).to.contain(want);
    });
  }

  it('ClipPromptEncoder refuses a tokenizer of another length than its text model', () => {
    const text = ClipTextModel.fromConfig({
      ...JSON.parse(readFileSync(join(tinySdDir, 'text_encoder', 'config.json'), 'utf8')),
      max_position_embeddings: 16,
    });
    expect(() => new ClipPromptEncoder(clipTokenizer(), text)).to.throw(
      /^the tokenizer: model_max_length 77 does not match max_position_embeddings 16 of the text encoder/,
    );
    expect(new ClipPromptEncoder(tokenizer16(), text).contextLength).to.equal(T);
    text.dispose();
  });
});
