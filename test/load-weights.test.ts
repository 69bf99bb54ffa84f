/** loadWeights: every missing / unexpected / mis-shaped key in one error; values land in the params. */
import { expect } from 'chai';
import { MemoryByteSource } from '../src/io/byte-source.js';
import { floatTensor, SafetensorsFile, writeSafetensors, type TensorToWrite } from '../src/io/safetensors.js';
import { SafetensorsWeightSource, type WeightSource } from '../src/io/weights.js';
import { loadWeights } from '../src/nn/load-weights.js';
import { MemoryByteSink } from '../src/io/byte-source.js';
import { Module } from '../src/nn/module.js';
import type { Param } from '../src/nn/param.js';

class Lin extends Module {
  readonly weight: Param;
  readonly bias: Param;
  constructor(i: number, o: number) {
    super();
    this.weight = this.addParam('weight', [o, i], 'linear');
    this.bias = this.addParam('bias', [o]);
  }
}

class Net extends Module {
  readonly proj: Lin;
  readonly out: Lin;
  constructor() {
    super();
    this.proj = this.addModule('proj', new Lin(2, 3));
    this.out = this.addModule('out.0', new Lin(3, 1));
  }
}

async function source(tensors: TensorToWrite[], name = 'w.safetensors'): Promise<SafetensorsWeightSource> {
  const sink = new MemoryByteSink(name);
  await writeSafetensors(sink, tensors);
  return new SafetensorsWeightSource([await SafetensorsFile.open(new MemoryByteSource(sink.bytes(), name))]);
}

const t = (name: string, shape: number[]) =>
  floatTensor(
    name,
    shape,
    Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, (_, i) => i + 1),
  );

async function loadError(m: Module, src: SafetensorsWeightSource): Promise<string> {
  try {
    await loadWeights(m, src, { residency: 'stream' });
  } catch (e) {
    return (e as Error).message;
  }
  throw new Error('expected loadWeights to fail');
}

describe('loadWeights', () => {
  it('loads values (PyTorch layout → tfjs layout) when everything matches', async () => {
    const net = new Net();
    await loadWeights(
      net,
      await source([t('proj.weight', [3, 2]), t('proj.bias', [3]), t('out.0.weight', [1, 3]), t('out.0.bias', [1])]),
      { residency: 'stream' },
    );
    // [out=3, in=2] = [[1,2],[3,4],[5,6]] stored as [in, out].
    expect([...net.proj.weight.values()]).to.deep.equal([1, 3, 5, 2, 4, 6]);
    expect([...net.out.bias.values()]).to.deep.equal([1]);
    net.dispose();
  });

  it('reports all missing, unexpected and mis-shaped keys at once, with expected vs got shapes', async () => {
    const src = await source([
      t('proj.weight', [3, 4]),
      t('proj.bias', [2]),
      t('out.0.weight', [1, 3]),
      t('extra.scale', [5]),
      t('proj.weight_old', [1]),
    ]);
    const msg = await loadError(new Net(), src);
    expect(msg).to.equal(
      [
        'w.safetensors: weights do not match the model (1 missing, 2 unexpected, 2 shape mismatches):',
        '  missing: out.0.bias [1]',
        '  unexpected: extra.scale [5]',
        '  unexpected: proj.weight_old [1]',
        '  shape mismatch: proj.weight expected [3, 2], got [3, 4]',
        '  shape mismatch: proj.bias expected [3], got [2]',
      ].join('\n'),
    );
  });

  it('hints at `ptp convert` for CompVis names and at a prefix for nested keys', async () => {
    const compvis = await source([t('model.diffusion_model.proj.weight', [3, 2])]);
    expect(await loadError(new Net(), compvis)).to.match(
      /\nhint: these are original CompVis single-file checkpoint names; convert the file to a diffusers folder with `ptp convert`$/,
    );
    const nested = await source([t('unet.proj.weight', [3, 2]), t('unet.proj.bias', [3])]);
    expect(await loadError(new Net(), nested)).to.match(
      /\nhint: file keys carry the prefix "unet\." \(wrong component, or wrap the source in PrefixedWeightSource\)$/,
    );
  });

  it("ignore option and a model's checkpoint adapter (key renaming, unused keys)", async () => {
    /** Reads `out.*` from the file as `out.0.*` (a legacy name) and never uses `position_ids`. */
    class LegacyNet extends Net {
      checkpointView(src: WeightSource): WeightSource {
        const fileKey = (k: string) => (k.startsWith('out.0.') ? k.replace('out.0.', 'out.') : k);
        return {
          name: src.name,
          keys: () => src.keys().map((k) => (k.startsWith('out.') ? k.replace('out.', 'out.0.') : k)),
          info: (k) => src.info(fileKey(k)),
          read: (k, f32) => src.read(fileKey(k), f32),
        };
      }
      isUnusedKey(k: string): boolean {
        return k === 'position_ids';
      }
    }
    const net = new LegacyNet();
    const src = await source([
      t('proj.weight', [3, 2]),
      t('proj.bias', [3]),
      t('out.weight', [1, 3]),
      t('out.bias', [1]),
      t('position_ids', [4]),
      t('extra', [1]),
    ]);
    await loadWeights(net, src, { residency: 'stream', ignore: (k) => k === 'extra' });
    expect([...net.out.weight.values()]).to.deep.equal([1, 2, 3]);
  });
});
