/**
 * The shipped demo model (models/shapes): a diffusers directory that diffusers itself would load,
 * fp16 weights within the 20 MB budget, loaded and run through exactly the code path real SD
 * weights take; its generations show their captions; `ptp demo` writes every picture; a small
 * seeded subset of the quality report's edits stays within loose bounds.
 */
import { expect } from 'chai';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { loadPipelineFromDirectory } from '../src/node/pipeline.js';
import { bundledTokenizerDir, demoModelDir } from '../src/node/package-files.js';
import { UNet2DConditionModel } from '../src/models/unet/unet.js';
import { AutoencoderKL } from '../src/models/vae/autoencoder-kl.js';
import { DDIMScheduler } from '../src/models/schedulers/ddim.js';
import { imageToUint8 } from '../src/util/image.js';
import { checkGeneration } from '../src/world/index.js';
import { qualityEdits } from '../src/node/quality/edit-set.js';
import { DEFAULT_QUALITY_SETTINGS, scoreEdit, summarise, type EditScore } from '../src/node/quality/score.js';
import type { StableDiffusionPipeline } from '../src/pipeline/pipeline.js';
import { ptp } from './helpers/cli.js';
import { DEMO_GENERATIONS, DEMO_STEPS } from '../src/cli/commands/demo.js';
import { tempDirForSuite } from './helpers/tmp.js';

const MODEL = demoModelDir();
const json = (rel: string) => JSON.parse(readFileSync(join(MODEL, rel), 'utf8')) as Record<string, unknown>;

/** The dtypes and byte size of a safetensors file, from its header. */
function safetensorsSummary(path: string): { dtypes: Set<string>; bytes: number } {
  const buf = readFileSync(path);
  const n = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8')) as Record<string, { dtype: string }>;
  const dtypes = new Set(Object.entries(header).filter(([k]) => k !== '__metadata__').map(([, v]) => v.dtype));
  return { dtypes, bytes: buf.byteLength };
}

describe('shipped demo model (models/shapes)', function () {
  let pipe: StableDiffusionPipeline;
  const tmp = tempDirForSuite('shipped');

  before(async () => {
    pipe = await loadPipelineFromDirectory(MODEL);
  });
  after(() => pipe?.dispose());

  it('is a diffusers StableDiffusionPipeline directory with fp16 weights of at most 20 MB', () => {
    const index = json('model_index.json');
    expect(index._class_name).to.equal('StableDiffusionPipeline');
    expect(index.unet).to.deep.equal(['diffusers', 'UNet2DConditionModel']);
    expect(index.vae).to.deep.equal(['diffusers', 'AutoencoderKL']);
    expect(index.text_encoder).to.deep.equal(['transformers', 'CLIPTextModel']);
    expect(index.tokenizer).to.deep.equal(['transformers', 'CLIPTokenizer']);
    expect((index.scheduler as string[])[0]).to.equal('diffusers');
    expect(json('unet/config.json')._class_name).to.equal('UNet2DConditionModel');
    expect(json('vae/config.json')._class_name).to.equal('AutoencoderKL');
    expect(json('text_encoder/config.json').architectures).to.deep.equal(['CLIPTextModel']);
    let bytes = 0;
    for (const f of ['unet/diffusion_pytorch_model.safetensors', 'vae/diffusion_pytorch_model.safetensors', 'text_encoder/model.safetensors']) {
      const s = safetensorsSummary(join(MODEL, f));
      expect([...s.dtypes], f).to.deep.equal(['F16']);
      bytes += s.bytes;
    }
    expect(bytes).to.be.below(20e6);
    // Nothing else that weighs: no checkpoints or optimiser state in the package.
    const walk = (d: string): string[] => readdirSync(d, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(join(d, e.name)) : [join(d, e.name)]));
    const total = walk(MODEL).reduce((s, f) => s + statSync(f).size, 0);
    expect(total - bytes).to.be.below(3e6);
  });

  it('uses the real SD-1.5 CLIP tokenizer (the bundled files, byte for byte)', () => {
    for (const f of ['vocab.json', 'merges.txt']) {
      expect(readFileSync(join(MODEL, 'tokenizer', f)).equals(readFileSync(join(bundledTokenizerDir(), f))), f).to.equal(true);
    }
  });

  it('loads through the same classes as real SD weights: latents large enough for 8×8 attention maps', () => {
    const { unet, vae } = pipe.components;
    expect(unet).to.be.instanceOf(UNet2DConditionModel);
    expect(vae).to.be.instanceOf(AutoencoderKL);
    expect(pipe.scheduler('ddim')).to.be.instanceOf(DDIMScheduler);
    expect(pipe.defaultSize).to.be.at.least(64);
    // LocalBlend and the attention grids use maps at latent/4 (the 16×16-at-64² resolution of SD).
    expect(pipe.defaultSize / pipe.vaeScaleFactor / 4).to.be.at.least(8);
  });

  it('draws the demo captions (their seeds as in ptp demo): at least 3 of 4 show their caption', async () => {
    let ok = 0;
    for (const [i, caption] of DEMO_GENERATIONS.entries()) {
      const im = (await pipe.generate({ prompts: [caption], steps: DEMO_STEPS, guidance: 7.5, seed: i, scheduler: 'ddim' })).images[0];
      const c = checkGeneration({ width: im.width, height: im.height, data: imageToUint8(im) }, caption);
      if (c.backgroundOk && c.objects.every((o) => o.found)) ok++;
    }
    expect(ok).to.be.at.least(3);
  });

  it('keeps the layout better with Prompt-to-Prompt than by regenerating (a seeded subset of npm run quality)', async () => {
    // Loose bounds: the shipped model is far from the targets (README: "The demo model").
    const edits = qualityEdits({ colourSingle: 4, colourPair: 0, shapePair: 0 });
    const scores: EditScore[] = [];
    for (const e of edits) scores.push(await scoreEdit(pipe, e, DEFAULT_QUALITY_SETTINGS));
    const s = summarise(scores);
    expect(s.iou_p2p_mean).to.be.above(s.iou_plain_mean + 0.05);
    expect(s.background_change_p2p).to.be.below(s.background_change_plain);
  });

  it('ptp inspect without a path inspects the shipped model', async () => {
    const r = await ptp('inspect');
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.contain(MODEL);
  });

  it('ptp demo writes the generation, every edit and the attention maps', async () => {
    const out = join(tmp(), 'demo');
    const r = await ptp('demo', '--out', out, '--steps', '3');
    expect(r.code, r.stderr).to.equal(0);
    for (const f of ['generate.png', 'replace-colour.png', 'blend-shape.png', 'refine.png', 'reweight.png', 'attention.png']) {
      expect(existsSync(join(out, f)), f).to.equal(true);
      const png = PNG.sync.read(readFileSync(join(out, f)));
      expect(png.width * png.height, f).to.be.above(0);
      expect(r.stdout).to.contain(`wrote ${join(out, f)}`);
    }
    // Source | edit side by side; the reweight adds the down-weighted panel.
    const size = pipe.defaultSize;
    expect(PNG.sync.read(readFileSync(join(out, 'replace-colour.png'))).width).to.be.at.least(2 * size);
    expect(PNG.sync.read(readFileSync(join(out, 'reweight.png'))).width).to.be.at.least(3 * size);
    expect((await ptp('demo', '--out', out, '--steps', '0')).code).to.equal(2);
  });
});
