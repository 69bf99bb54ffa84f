import * as tf from '@tensorflow/tfjs-core';
import { join } from 'node:path';
import { expect } from 'chai';
import { AutoencoderKL } from '../src/models/vae/autoencoder-kl.js';
import { parseVaeConfig, DEFAULT_VAE_SCALING_FACTOR } from '../src/models/vae/config.js';
import { renameLegacyVaeKey } from '../src/models/vae/load.js';
import { loadWeights } from '../src/nn/load-weights.js';
import { SafetensorsFile, floatTensor, writeSafetensors } from '../src/io/safetensors.js';
import { MemoryByteSink, MemoryByteSource } from '../src/io/byte-source.js';
import { SafetensorsWeightSource, type WeightSource } from '../src/io/weights.js';
import { openWeightFiles } from '../src/node/weights.js';
import { GroupNorm } from '../src/nn/norm.js';
import { caseTolerance, describeRef, fixtureNhwc, readJson, tinySdDir } from './helpers/reference.js';
import { expectClose, type Tol } from './helpers/close.js';
import { expectNoLeak } from './helpers/leaks.js';

const DEC = 'cases/vae_decode.safetensors';
const ENC = 'cases/vae_encode.safetensors';
const tinyConfig = () => parseVaeConfig(readJson('tiny-sd/vae/config.json'), 'tiny-sd/vae/config.json');

/**
 * Tolerance of an output: the one recorded in cases/index.json, or, for intermediates that have
 * none (they exist only to localise a bug), the README's rule without the fp64 term:
 * atol = max(1e-5, 1e-4·max|value|), rtol = 1e-4, from the recorded output_stats.
 */
function tolerance(caseName: string, output: string): Tol {
  const c = readJson('cases/index.json').cases[caseName];
  if (c.tolerance?.[output]) return caseTolerance(caseName, output);
  const s = c.output_stats[output];
  return { atol: Math.max(1e-5, 1e-4 * Math.max(Math.abs(s.min), Math.abs(s.max))), rtol: 1e-4 };
}

async function loadTiny(
  opts: { encoder?: boolean } = {},
  residency?: 'resident' | 'stream',
): Promise<{ vae: AutoencoderKL; src: SafetensorsWeightSource }> {
  const src = await openWeightFiles(join(tinySdDir, 'vae', 'diffusion_pytorch_model.safetensors'));
  const vae = new AutoencoderKL(tinyConfig(), opts);
  await loadWeights(vae, src, { residency });
  return { vae, src };
}

/** The same tensors as `src`, with the mid-block attention keys renamed to a legacy scheme in memory. */
async function legacyCopy(src: WeightSource): Promise<SafetensorsWeightSource> {
  const legacyName: Record<string, string> = { to_q: 'query', to_k: 'key', to_v: 'value', 'to_out.0': 'proj_attn' };
  const compVis: Record<string, string> = {
    to_q: 'q',
    to_k: 'k',
    to_v: 'v',
    'to_out.0': 'proj_out',
    group_norm: 'norm',
  };
  const tensors = [];
  for (const key of src.keys()) {
    let name = key;
    let shape = [...src.info(key)!.shape];
    const m =
      /^(encoder|decoder)(\.mid_block\.attentions\.0\.)(to_q|to_k|to_v|to_out\.0|group_norm)\.(weight|bias)$/.exec(key);
    if (m && m[1] === 'decoder' && legacyName[m[3]]) name = `${m[1]}${m[2]}${legacyName[m[3]]}.${m[4]}`;
    if (m && m[1] === 'encoder') {
      name = `${m[1]}${m[2]}${compVis[m[3]]}.${m[4]}`;
      if (m[3] !== 'group_norm' && m[4] === 'weight') shape = [...shape, 1, 1];
    }
    tensors.push(floatTensor(name, shape, (await src.read(key, true)) as Float32Array));
  }
  const sink = new MemoryByteSink('legacy-vae.safetensors');
  await writeSafetensors(sink, tensors);
  return new SafetensorsWeightSource([
    await SafetensorsFile.open(new MemoryByteSource(sink.bytes(), 'legacy-vae.safetensors')),
  ]);
}

describeRef('AutoencoderKL (VAE) vs reference', () => {
  let vae: AutoencoderKL;
  let src: SafetensorsWeightSource;
  before(async () => {
    ({ vae, src } = await loadTiny());
  });
  after(async () => {
    vae.dispose();
    await src.close();
  });

  describe('vae_decode, stage by stage (each stage fed the reference input)', () => {
    const stage = (name: string, input: string | null, run: (x: tf.Tensor4D) => tf.Tensor4D) =>
      it(name, async () => {
        const x = input
          ? await fixtureNhwc(DEC, input)
          : tf.tidy(() => tf.div(latents, DEFAULT_VAE_SCALING_FACTOR) as tf.Tensor4D);
        const y = run(x);
        const exp = await fixtureNhwc(DEC, name);
        expectClose(y, exp, tolerance('vae_decode', name), name);
        tf.dispose([x, y, exp]);
      });
    let latents: tf.Tensor4D;
    before(async () => {
      latents = await fixtureNhwc(DEC, 'latents');
    });
    after(() => latents.dispose());

    stage('post_quant_conv.out', null, (z) => vae.postQuantConv!.forward(z));
    stage('decoder.conv_in.out', 'post_quant_conv.out', (x) => vae.decoder.convIn.forward(x));
    stage('decoder.mid_block.out', 'decoder.conv_in.out', (x) => vae.decoder.midBlock.forward(x));
    stage('decoder.up_blocks.0.out', 'decoder.mid_block.out', (x) => vae.decoder.upBlocks[0].forward(x));
    stage('image', null, (z) => vae.decode(z));

    it('decodeLatents = clamp(image / 2 + 0.5, 0, 1)', async () => {
      const img = vae.decodeLatents(latents);
      const ref = await fixtureNhwc(DEC, 'image');
      const exp = tf.tidy(() => tf.clipByValue(tf.add(tf.div(ref, 2), 0.5), 0, 1));
      expect(img.shape).to.deep.equal([1, 256, 256, 3]);
      // x/2 + 0.5 halves the decoder's error, so the image tolerance applies unchanged.
      expectClose(img, exp, tolerance('vae_decode', 'image'), 'decodeLatents');
      tf.dispose([img, ref, exp]);
    });
  });

  describe('vae_encode', () => {
    it('moments, mean, std, logvar; encodeLatents = mean·scaling_factor', async () => {
      const image = await fixtureNhwc(ENC, 'image');
      const dist = vae.encode(image);
      for (const [name, t] of [
        ['moments', dist.moments],
        ['mean', dist.mean],
        ['std', dist.std],
        ['logvar', dist.logvar],
      ] as const) {
        const exp = await fixtureNhwc(ENC, name);
        expectClose(t, exp, tolerance('vae_encode', name), name);
        exp.dispose();
      }
      const lat = vae.encodeLatents(image);
      const expLat = tf.tidy(() => tf.mul(dist.mean, DEFAULT_VAE_SCALING_FACTOR));
      expectClose(lat, expLat, { atol: 0 }, 'encodeLatents');
      const noise = tf.zerosLike(dist.mean);
      const sampled = vae.encodeLatents(image, noise);
      expectClose(sampled, expLat, { atol: 0 }, 'encodeLatents with zero noise');
      tf.dispose([image, lat, expLat, noise, sampled]);
      dist.dispose();
    });
  });

  describe('memory', () => {
    it('decode, decodeLatents, encode, encodeLatents leave live tensors and backend bytes unchanged', async () => {
      const z = tf.randomNormal([1, 8, 8, 4]) as tf.Tensor4D;
      const x = tf.randomUniform([1, 32, 32, 3], -1, 1) as tf.Tensor4D;
      await expectNoLeak('VAE calls', () => {
        tf.dispose([
          vae.decode(z),
          vae.decodeLatents(z),
          vae.encodeLatents(x),
          vae.encodeLatents(x, (s) => tf.randomNormal(s)),
        ]);
        const dist = vae.encode(x);
        tf.dispose([dist.sample(), dist.mode()]);
        dist.dispose();
      });
      tf.dispose([z, x]);
    });
  });

  describe('loading', () => {
    it('legacy attention names (query/key/value/proj_attn; q/k/v/proj_out/norm with 1×1 conv weights) load the same numbers', async () => {
      const legacy = await legacyCopy(src);
      expect(legacy.keys()).to.include('decoder.mid_block.attentions.0.proj_attn.weight');
      expect(legacy.info('encoder.mid_block.attentions.0.q.weight')!.shape).to.deep.equal([64, 64, 1, 1]);
      const other = new AutoencoderKL(tinyConfig());
      await loadWeights(other, legacy);
      const mine = new Map(vae.namedParams());
      for (const [key, p] of other.namedParams()) {
        expect([...p.values()], key).to.deep.equal([...mine.get(key)!.values()]);
      }
      const z = tf.randomNormal([1, 4, 4, 4]) as tf.Tensor4D;
      const a = vae.decode(z);
      const b = other.decode(z);
      expectClose(b, a, { atol: 0 }, 'decode after legacy load');
      tf.dispose([z, a, b]);
      other.dispose();
      expect(renameLegacyVaeKey('decoder.mid_block.attentions.0.proj_attn.bias')).to.equal(
        'decoder.mid_block.attentions.0.to_out.0.bias',
      );
      expect(renameLegacyVaeKey('decoder.mid_block.resnets.0.norm1.weight')).to.equal(undefined);
    });

    it('decoder-only model ignores the encoder weights, decodes the same, and streams the same', async () => {
      const dec = new AutoencoderKL(tinyConfig(), { encoder: false });
      await loadWeights(dec, src);
      expect([...dec.namedParams()].some(([k]) => k.startsWith('encoder.') || k.startsWith('quant_conv.'))).to.equal(
        false,
      );
      const img = tf.zeros([1, 8, 8, 3]) as tf.Tensor4D;
      expect(() => dec.encode(img)).to.throw(/without the encoder/);
      img.dispose();
      const z = tf.randomNormal([1, 8, 8, 4]) as tf.Tensor4D;
      const a = vae.decode(z);
      const b = dec.decode(z);
      expectClose(b, a, { atol: 0 }, 'decoder-only decode');
      dec.setResidency('stream');
      const before = tf.memory().numTensors;
      const c = dec.decode(z);
      expect(tf.memory().numTensors).to.equal(before + 1);
      expectClose(c, a, { atol: 0 }, 'streamed decode');
      tf.dispose([z, a, b, c]);
      dec.dispose();
    });

    it('a model without the encoder rejects loading when the decoder weights are missing, naming them', async () => {
      const dec = new AutoencoderKL(tinyConfig(), { encoder: false });
      const onlyEncoder: WeightSource = {
        name: 'encoder-only',
        keys: () => src.keys().filter((k) => k.startsWith('encoder.')),
        info: (k) => src.info(k),
        read: (k, f) => src.read(k, f),
      };
      let err: Error | undefined;
      await loadWeights(dec, onlyEncoder).catch((e: Error) => (err = e));
      expect(err?.message).to.match(/missing: decoder\.conv_in\.weight \[64, 4, 3, 3\]/);
      expect(err?.message).to.match(/0 unexpected/);
      expect(err?.message).not.to.match(/unexpected: encoder/);
      dec.dispose();
    });
  });
});

describe('GroupNorm precision on VAE-sized groups', () => {
  it('[1, 256, 256, 8] in 2 groups (262,144 values each) stays within fp32 noise of a float64 reference', () => {
    const [h, w, c, g] = [256, 256, 8, 2];
    const xs = Float32Array.from({ length: h * w * c }, (_, i) => 1.5 + 3 * ((Math.sin(i * 12.9898) * 43758.5453) % 1));
    const ref = new Float64Array(xs.length);
    for (let k = 0; k < g; k++) {
      const at = (p: number, j: number) => p * c + k * (c / g) + j;
      let s = 0;
      for (let p = 0; p < h * w; p++) for (let j = 0; j < c / g; j++) s += xs[at(p, j)];
      const mean = s / ((h * w * c) / g);
      let s2 = 0;
      for (let p = 0; p < h * w; p++) for (let j = 0; j < c / g; j++) s2 += (xs[at(p, j)] - mean) ** 2;
      const rstd = 1 / Math.sqrt(s2 / ((h * w * c) / g) + 1e-6);
      for (let p = 0; p < h * w; p++) for (let j = 0; j < c / g; j++) ref[at(p, j)] = (xs[at(p, j)] - mean) * rstd;
    }
    const gn = new GroupNorm(g, c, 1e-6, false);
    const x = tf.tensor4d(xs, [1, h, w, c]);
    const y = gn.forward(x);
    // A single float32 running sum over each group (stock tfjs-wasm) is off by ~5e-5 here.
    expectClose(y, ref, { atol: 5e-6 }, 'GroupNorm vs float64');
    tf.dispose([x, y]);
  });
});

describeRef('AutoencoderKL built from the SD-1.5 config', () => {
  it('the model built from sd15-config/vae/config.json has exactly the manifest keys and shapes', () => {
    const manifest = readJson('sd15-manifest.json').vae;
    const cfg = parseVaeConfig(readJson('sd15-config/vae/config.json'), 'sd15-config/vae/config.json');
    expect(cfg.scalingFactor).to.equal(0.18215);
    const vae = new AutoencoderKL(cfg);
    const got: Record<string, number[]> = {};
    for (const [k, p] of vae.namedParams()) got[k] = [...p.torchShape];
    const want: Record<string, number[]> = {};
    for (const [k, v] of Object.entries(manifest.state_dict as Record<string, { shape: number[] }>)) want[k] = v.shape;
    expect(
      Object.keys(got).filter((k) => !(k in want)),
      'keys not in the manifest',
    ).to.deep.equal([]);
    expect(
      Object.keys(want).filter((k) => !(k in got)),
      'manifest keys missing',
    ).to.deep.equal([]);
    for (const k of Object.keys(want)) expect(got[k], k).to.deep.equal(want[k]);
    expect(Object.keys(got).length).to.equal(manifest.num_state_dict_tensors);
    expect(vae.numParams()).to.equal(manifest.num_parameters);
    const dec = new AutoencoderKL(cfg, { encoder: false });
    expect(
      [...dec.namedParams()].every(([k]) => k.startsWith('decoder.') || k.startsWith('post_quant_conv.')),
    ).to.equal(true);
  });
});

describe('AutoencoderKL config', () => {
  const base = {
    in_channels: 3,
    out_channels: 3,
    latent_channels: 4,
    layers_per_block: 2,
    norm_num_groups: 8,
    act_fn: 'silu',
    sample_size: 64,
    block_out_channels: [32, 64],
    down_block_types: ['DownEncoderBlock2D', 'DownEncoderBlock2D'],
    up_block_types: ['UpDecoderBlock2D', 'UpDecoderBlock2D'],
  };

  it('a missing field gives an error naming it and the file', () => {
    for (const field of Object.keys(base)) {
      const cfg: Record<string, unknown> = { ...base };
      delete cfg[field];
      expect(() => parseVaeConfig(cfg, 'my/vae/config.json'), field).to.throw(
        `my/vae/config.json: missing required field "${field}"`,
      );
    }
    expect(parseVaeConfig(base).scalingFactor).to.equal(0.18215);
    expect(parseVaeConfig({ ...base, scaling_factor: 0.13025 }).scalingFactor).to.equal(0.13025);
  });

  it('ill-typed and unsupported fields give clear errors', () => {
    expect(() => parseVaeConfig({ ...base, latent_channels: '4' })).to.throw(
      /"latent_channels" must be a positive integer/,
    );
    expect(() => parseVaeConfig({ ...base, up_block_types: ['AttnUpDecoderBlock2D', 'UpDecoderBlock2D'] })).to.throw(
      /up_block_types\[0\] is "AttnUpDecoderBlock2D"/,
    );
    expect(() => parseVaeConfig({ ...base, block_out_channels: [32, 64, 64] })).to.throw(/same length/);
    expect(() => parseVaeConfig({ ...base, block_out_channels: [32, 60] })).to.throw(
      /block_out_channels\[1\] = 60 is not divisible by norm_num_groups = 8/,
    );
    expect(() => parseVaeConfig([])).to.throw(/not a JSON object/);
  });

  it('small random model: decode/encode shapes, and input checks', () => {
    const vae = new AutoencoderKL(parseVaeConfig(base));
    for (const [, p] of vae.namedParams())
      p.setTorchValues(Float32Array.from({ length: p.size }, (_, i) => Math.sin(i) * 0.05));
    const z = tf.randomNormal([2, 3, 5, 4]) as tf.Tensor4D;
    const img = vae.decodeLatents(z);
    expect(img.shape).to.deep.equal([2, 6, 10, 3]);
    const x = tf.tidy(() => tf.sub(tf.mul(img, 2), 1)) as tf.Tensor4D;
    const dist = vae.encode(x);
    expect(dist.mean.shape).to.deep.equal([2, 3, 5, 4]);
    const [bad1, bad2] = [tf.zeros([1, 4, 4, 3]) as tf.Tensor4D, tf.zeros([1, 3, 8, 8]) as tf.Tensor4D];
    expect(() => vae.decode(bad1)).to.throw(/expected NHWC latents \[B, h, w, 4\], got \[1, 4, 4, 3\]/);
    expect(() => vae.encode(bad2)).to.throw(/expected an NHWC image \[B, H, W, 3\], got \[1, 3, 8, 8\]/);
    tf.dispose([z, img, x, bad1, bad2]);
    dist.dispose();
    vae.dispose();
  });
});
