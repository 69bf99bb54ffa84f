/** weights-tools inspect: summaries of files and model directories, formatting, --check. */
import { expect } from 'chai';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { MemoryByteSource } from '../src/io/byte-source.js';
import { SafetensorsFile } from '../src/io/safetensors.js';
import { SafetensorsWeightSource } from '../src/io/weights.js';
import { openModelDirectory } from '../src/node/model-dir.js';
import { checkWeights, formatCheck } from '../weights-tools/check.js';
import { formatBytes, formatCount } from '../weights-tools/format.js';
import { formatSummary, summarizeFile, summarizeModelDir } from '../weights-tools/inspect.js';
import { inspectPath } from '../weights-tools/inspect-path.js';
import { describeRef, tinySdDir } from './helpers/reference.js';
import { linkCopy, removeFiles } from './helpers/model-copy.js';
import { rawSafetensors, tempDirForSuite } from './helpers/tmp.js';

function compvisFile(): Promise<SafetensorsFile> {
  const header = {
    __metadata__: { format: 'pt' },
    'model.diffusion_model.input_blocks.0.0.weight': { dtype: 'F16', shape: [320, 4, 3, 3], data_offsets: [0, 23040] },
    'first_stage_model.quant_conv.bias': { dtype: 'F32', shape: [8], data_offsets: [23040, 23072] },
    'cond_stage_model.transformer.text_model.embeddings.position_ids': {
      dtype: 'I64',
      shape: [1, 77],
      data_offsets: [23072, 23688],
    },
    betas: { dtype: 'F32', shape: [1000], data_offsets: [23688, 27688] },
  };
  return SafetensorsFile.open(
    new MemoryByteSource(rawSafetensors(header, new Uint8Array(27688)), 'single.safetensors'),
  );
}

describe('inspect: formatting helpers', () => {
  it('counts and sizes', () => {
    expect(formatCount(859520964)).to.equal('859,520,964');
    expect(formatCount(12)).to.equal('12');
    expect(formatBytes(512)).to.equal('512 B');
    expect(formatBytes(1536)).to.equal('1.5 KiB');
    expect(formatBytes(4.27e9)).to.equal('4.0 GiB');
  });
});

describe('inspect: single files', () => {
  it('groups CompVis keys by component, with parameter counts, dtypes and bytes', async () => {
    const s = summarizeFile(await compvisFile());
    expect(s.groups.map((g) => [g.name, g.tensors.length, g.params, g.bytes])).to.deep.equal([
      ['unet (model.diffusion_model.*)', 1, 11520, 23040],
      ['vae (first_stage_model.*)', 1, 8, 32],
      ['text_encoder (cond_stage_model.*)', 1, 77, 616],
      ['other', 1, 1000, 4000],
    ]);
    expect([s.tensorCount, s.params, s.bytes]).to.deep.equal([4, 12605, 27688]);
    expect(s.metadata).to.deep.equal({ format: 'pt' });
    const text = formatSummary(s, { tensors: true });
    expect(text).to.contain('file: single.safetensors').and.contain('metadata: format=pt');
    expect(text).to.match(/unet \(model\.diffusion_model\.\*\)\s+1\s+11,520\s+F16\s+22\.5 KiB/);
    expect(text).to.match(/total\s+4\s+12,605\s+27\.0 KiB/);
    expect(text).to.match(
      /\n {2}model\.diffusion_model\.input_blocks\.0\.0\.weight\s+F16\s+\[320, 4, 3, 3\]\s+11,520\n/,
    );
    expect(formatSummary(s)).to.not.contain('input_blocks.0.0.weight');
  });

  it('--check finds non-finite values', async () => {
    const data = new Float32Array([1, NaN, -3, Infinity, 0.5, 2]);
    const f = await SafetensorsFile.open(
      new MemoryByteSource(
        rawSafetensors(
          {
            a: { dtype: 'F32', shape: [4], data_offsets: [0, 16] },
            b: { dtype: 'F32', shape: [2], data_offsets: [16, 24] },
          },
          new Uint8Array(data.buffer),
        ),
        'nan.safetensors',
      ),
    );
    const r = await checkWeights('nan.safetensors', new SafetensorsWeightSource([f]));
    expect(r).to.deep.include({ tensors: 2, values: 6, min: -3, max: 2 });
    expect(r.nonFinite).to.deep.equal([{ key: 'a', count: 2 }]);
    expect(formatCheck([r])).to.equal(
      'check nan.safetensors: read 2 tensors, 1 with non-finite values, values in [-3.000, 2.000]\n  non-finite: a (2 values)',
    );
  });
});

describeRef('inspect: tiny-sd through the model-directory path', () => {
  const tmp = tempDirForSuite('inspect');

  it('summarises every component (parameter counts as in the reference README)', async () => {
    const dir = await openModelDirectory(tinySdDir);
    const s = summarizeModelDir(dir);
    await dir.close();
    expect(s.groups.map((g) => [g.name, g.params, g.files])).to.deep.equal([
      ['unet', 3222692, ['unet/diffusion_pytorch_model.safetensors']],
      ['vae', 1399879, ['vae/diffusion_pytorch_model.safetensors']],
      ['text_encoder', 1621696, ['text_encoder/model.safetensors']],
    ]);
    expect(s.params).to.equal(3222692 + 1399879 + 1621696);
    expect(s.bytes).to.equal(4 * s.params);
    expect(s.tokenizer).to.deep.equal({ vocabSize: 49408, merges: 48894 });
    expect(s.scheduler?._class_name).to.equal('PNDMScheduler');
    expect(s.groups[0].config).to.deep.include({ cross_attention_dim: 32, block_out_channels: [32, 64, 64, 64] });
    const text = formatSummary(s);
    expect(text).to.match(/^model directory: .*tiny-sd\npipeline: StableDiffusionPipeline \(diffusers 0\.25\.0\)/);
    expect(text).to.match(/\nunet\s+\d+\s+3,222,692\s+F32\s+12\.3 MiB\s+unet\/diffusion_pytorch_model\.safetensors\n/);
    expect(text).to.match(/\ntotal\s+\d+\s+6,244,267\s+23\.8 MiB\n/);
    expect(text).to.contain('tokenizer: 49,408 tokens, 48,894 merges');
  });

  it('inspectPath: model dir with fp16 variant and --check, a component folder, a file', async () => {
    const r = await inspectPath(tinySdDir, { variant: 'fp16', check: true });
    expect(r.summary.kind).to.equal('model-dir');
    expect(r.summary.groups[0]).to.deep.include({ name: 'unet', variant: 'fp16', bytes: 2 * 3222692 });
    expect(r.summary.kind === 'model-dir' && r.summary.notes).to.have.length(2);
    expect(r.checks!.map((c) => [c.name, c.nonFinite.length])).to.deep.equal([
      ['unet', 0],
      ['vae', 0],
      ['text_encoder', 0],
    ]);
    const comp = await inspectPath(join(tinySdDir, 'vae'));
    expect(comp.summary.groups.map((g) => [g.name, g.params])).to.deep.equal([['vae', 1399879]]);
    const file = await inspectPath(join(tinySdDir, 'text_encoder/model.safetensors'));
    expect(file.summary).to.deep.include({ kind: 'file', params: 1621696 });
  });

  it('inspectPath errors: incomplete directory (all problems), pickle, missing path', async () => {
    const d = linkCopy(tinySdDir, join(tmp(), 'broken'));
    removeFiles(d, 'unet/config.json', 'vae/diffusion_pytorch_model.safetensors');
    let msg = '';
    await inspectPath(d).catch((e: Error) => (msg = e.message));
    expect(msg.split('\n')).to.deep.equal([
      `${d}: cannot use this model directory (2 problems):`,
      '  - missing: unet/config.json',
      '  - missing: vae/diffusion_pytorch_model.safetensors (or model.safetensors, a sharded *.safetensors.index.json)',
    ]);
    const ckpt = join(tmp(), 'sd.ckpt');
    await writeFile(ckpt, 'PK');
    await inspectPath(ckpt).catch((e: Error) => (msg = e.message));
    expect(msg).to.match(/sd\.ckpt: this is a PyTorch pickle checkpoint/);
    await inspectPath(join(tmp(), 'nothing')).catch((e: Error) => (msg = e.message));
    expect(msg).to.match(/nothing: cannot inspect \(ENOENT\)$/);
    await inspectPath(join(tmp(), 'broken', 'tokenizer')).catch((e: Error) => (msg = e.message));
    expect(msg).to.match(
      /tokenizer: cannot use this model directory \(2 problems\):\n {2}- missing: model_index\.json \(not a diffusers pipeline folder\)\n {2}- missing: diffusion_pytorch_model\.safetensors/,
    );
  });
});
