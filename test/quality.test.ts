/**
 * The quality report's measures against stand-in pipelines drawn from the shapes world's renderer:
 * an ideal editor meets every target; each adversarial fake (a blob elsewhere, stripes of every
 * colour, an editor that changes nothing, a flood, the attribute given to the other object, a model
 * that takes its background from the noise's mean) fails its measure. No model is needed.
 */
import { expect } from 'chai';
import * as tf from '@tensorflow/tfjs-core';
import { qualityEdits, DEFAULT_EDIT_SET, type QualityEdit } from '../src/node/quality/edit-set.js';
import { DEFAULT_QUALITY_SETTINGS, scoreEdit, summarise, type QualitySummary } from '../src/node/quality/score.js';
import {
  MAX_PROBE_SEEDS,
  NOISE_MEAN_SCALE,
  paletteLatentMeans,
  probeCases,
  runBackgroundProbes,
  shiftNoiseMean,
  summariseProbes,
  type ProbeSummary,
} from '../src/node/quality/probes.js';
import { QUALITY_TARGETS, SHIPPED_FLOORS, missedTargets, qualityTarget } from '../src/node/quality/targets.js';
import {
  COLOURS,
  Rng,
  changedObjects,
  parseCaption,
  placeScene,
  renderScene,
  sceneFromCaption,
  type ColourName,
  type RgbImage,
  type Scene,
} from '../src/shapes/world/index.js';
import type { StableDiffusionPipeline } from '../src/pipeline/pipeline.js';
import type { HostTensor } from '../src/pipeline/host-tensor.js';
import type { FloatImage } from '../src/util/image.js';
import { loadClipTokenizer } from '../src/node/clip-tokenizer.js';
import { bundledTokenizerDir } from '../src/node/package-files.js';
import type { ClipTokenizer } from '../src/models/clip/tokenizer.js';
import { changed, flood, stripes, withBlob } from './helpers/world.js';
import { lines, ptp } from './helpers/cli.js';

const SIZE = 64;
const float = (im: RgbImage): FloatImage => ({
  width: im.width,
  height: im.height,
  data: Float32Array.from(im.data, (v) => v / 255),
});
const place = (caption: string, seed: number): Scene => sceneFromCaption(caption, new Rng(seed), { jitter: 0 });

/** What a fake editor draws for the edited prompt, given the source scene, the target caption and the edited object. */
type Editor = (source: Scene, target: string, index: number) => RgbImage;

const EDITORS: Record<string, Editor> = {
  /** Prompt-to-Prompt as it should be: the source's layout, the edited object changed. */
  ideal: (s, target, i) => renderScene(changed(s, i, parseCaption(target).objects[i]), SIZE),
  /** Changes nothing. */
  noop: (s) => renderScene(s, SIZE),
  /** Leaves the object and adds a small object of the target colour and shape in a corner. */
  blob: (s, target, i) => {
    const t = parseCaption(target).objects[i];
    return renderScene(withBlob(s, t.colour, t.shape, 7 / SIZE), SIZE);
  },
  /** Paints the whole image in the target object's colour. */
  flood: (_s, target, i) => flood(SIZE, parseCaption(target).objects[i].colour),
  /** Gives the new attribute to the other object (two-object edits). */
  swapped: (s, target, i) => {
    const from = s.objects[i],
      to = parseCaption(target).objects[i];
    const change = to.colour !== from.colour ? { colour: to.colour } : { shape: to.shape };
    return renderScene(changed(s, 1 - i, change), SIZE);
  },
};

/** A stand-in pipeline: source and plain generations are placed anew per seed (or `generator` draws them), edits by `editor`. */
function fakePipeline(
  tokenizer: ClipTokenizer,
  editor: Editor,
  generator?: (caption: string) => RgbImage,
): StableDiffusionPipeline {
  const draw = (caption: string, seed: number) => generator?.(caption) ?? renderScene(place(caption, seed), SIZE);
  return {
    tokenizer,
    async edit(o: { prompts: readonly string[]; seed?: number }) {
      const [source, target] = o.prompts;
      const index = changedObjects(source, target)[0];
      return {
        images: [
          float(draw(source, o.seed!)),
          float(generator?.(target) ?? editor(place(source, o.seed!), target, index)),
        ],
      };
    },
    async generate(o: { prompts: readonly string[]; seed?: number }) {
      return { images: [float(draw(o.prompts[0], o.seed! + 1))] };
    },
  } as unknown as StableDiffusionPipeline;
}

async function scoreWith(pipe: StableDiffusionPipeline, edits: QualityEdit[]) {
  return Promise.all(edits.map((e) => scoreEdit(pipe, e, DEFAULT_QUALITY_SETTINGS)));
}

/** Background probe results where every background followed (both probes). */
const perfectProbes: ProbeSummary = {
  background_follows_caption: Object.fromEntries(COLOURS.map((c) => [c, 1])) as Record<ColourName, number>,
  background_follows_caption_min: 1,
  noise_mean_probe: 1,
};

describe('quality report: the edit set, its scoring and the targets', function () {
  this.timeout(300000);
  let tokenizer: ClipTokenizer;
  const edits: QualityEdit[] = qualityEdits({ colourSingle: 4, colourPair: 3, shapePair: 3 });
  const pairs = edits.filter((e) => parseCaption(e.source).objects.length === 2);
  before(async () => {
    tokenizer = await loadClipTokenizer(bundledTokenizerDir());
  });

  it('the edit set is fixed, valid and changes exactly the named object', () => {
    const a = qualityEdits();
    expect(a).to.deep.equal(qualityEdits());
    expect(a.length).to.equal(DEFAULT_EDIT_SET.colourSingle + DEFAULT_EDIT_SET.colourPair + DEFAULT_EDIT_SET.shapePair);
    for (const e of a) {
      expect(changedObjects(e.source, e.target), `${e.source} → ${e.target}`).to.deep.equal([e.object]);
      const [s, t] = [parseCaption(e.source).objects[e.object], parseCaption(e.target).objects[e.object]];
      if (e.kind === 'colour') expect(t.colour).to.not.equal(s.colour);
      else expect(t.shape).to.not.equal(s.shape);
      for (const w of e.blend ?? []) expect(`${e.source} ${e.target}`.split(' ')).to.include(w);
    }
    expect(new Set(a.map((e) => e.seed)).size).to.be.greaterThan(a.length - 3);
  });

  it('an ideal editor meets every target; a plain regeneration moves the object', async () => {
    const ideal = summarise(await scoreWith(fakePipeline(tokenizer, EDITORS.ideal), edits));
    expect(ideal.attribute_ok_fraction).to.equal(1);
    expect(ideal.generation_ok_fraction).to.equal(1);
    expect(ideal.iou_p2p_mean).to.be.greaterThan(0.95);
    expect(ideal.iou_plain_mean).to.be.lessThan(0.5);
    expect(ideal.untouched_iou_mean).to.be.greaterThan(0.95);
    expect(ideal.background_change_edits).to.equal(edits.length);
    expect(ideal.background_change_p2p).to.be.lessThan(1);
    expect(missedTargets({ ...ideal, ...perfectProbes })).to.deep.equal([]);
  });

  it('an editor that changes nothing fails attribute_ok, and its unchanged background is not counted as kept', async () => {
    const scores = await scoreWith(fakePipeline(tokenizer, EDITORS.noop), edits);
    const s = summarise(scores);
    expect(s.attribute_ok_fraction).to.equal(0);
    expect(s.iou_p2p_mean).to.equal(0);
    expect(s.background_change_edits).to.equal(0);
    // eslint-disable-next-line @typescript-eslint/no-unused-expressions -- a chai property assertion
    expect(s.background_change_p2p).to.be.NaN;
    // per edit the background did not change at all: that alone must not look good
    expect(scores.every((x) => x.backgroundP2p === 0)).to.equal(true);
    expect(missedTargets({ ...s, ...perfectProbes })).to.include.members([
      'attribute_ok_fraction 0.000 < 0.85',
      'iou_p2p_mean 0.000 < 0.8',
    ]);
  });

  it('a blob of the target colour and shape elsewhere fails attribute_ok', async () => {
    const s = summarise(await scoreWith(fakePipeline(tokenizer, EDITORS.blob), edits));
    expect(s.attribute_ok_fraction).to.equal(0);
    expect(s.iou_p2p_mean).to.equal(0);
    expect(s.generation_ok_fraction).to.equal(1); // the generations themselves are right
  });

  it('a flood of the target colour fails attribute_ok; its edits are left out of the background means', async () => {
    const scores = await scoreWith(fakePipeline(tokenizer, EDITORS.flood), edits);
    expect(scores.every((x) => !x.attributeOk)).to.equal(true);
    expect(scores[0].backgroundP2p).to.equal(undefined); // no background left to compare
    expect(summarise(scores).background_change_edits).to.equal(0);
  });

  it('the attribute given to the other object fails attribute_ok (two-object edits)', async () => {
    const scores = await scoreWith(fakePipeline(tokenizer, EDITORS.swapped), pairs);
    expect(scores.map((x) => x.attributeOk)).to.deep.equal(pairs.map(() => false));
    expect(scores.filter((x) => x.iouP2p !== undefined).every((x) => x.iouP2p === 0)).to.equal(true);
  });

  it('stripes of every colour inside a frame of the background fail generation_ok (and every edit)', async () => {
    const frame = (caption: string) => stripes(SIZE, parseCaption(caption).background);
    const s = summarise(await scoreWith(fakePipeline(tokenizer, EDITORS.ideal, frame), edits));
    expect(s.generation_ok_fraction).to.equal(0);
    expect(s.generation_background_ok_fraction).to.equal(0);
    expect(s.attribute_ok_fraction).to.equal(0);
    expect(missedTargets({ ...s, ...perfectProbes })[0]).to.equal('generation_ok_fraction 0.000 < 0.9');
  });

  it('the targets: declared once, each missed or unmeasured one named on its own line', () => {
    expect(QUALITY_TARGETS.map((t) => [t.name, t.min])).to.deep.equal([
      ['generation_ok_fraction', 0.9],
      ['attribute_ok_fraction', 0.85],
      ['iou_p2p_mean', 0.8],
      ['iou_p2p_mean - iou_plain_mean', 0.3],
      ['untouched_iou_mean', 0.9],
      ['background_follows_caption_min', 0.75],
      ['noise_mean_probe', 0.9],
    ]);
    const good: QualitySummary & ProbeSummary = {
      edits: 60,
      generation_ok_fraction: 0.9,
      generation_background_ok_fraction: 1,
      attribute_ok_fraction: 0.85,
      iou_p2p_mean: 0.85,
      iou_plain_mean: 0.5,
      untouched_iou_mean: 0.95,
      background_change_p2p: 1,
      background_change_plain: 20,
      background_change_edits: 51,
      ...perfectProbes,
    };
    expect(missedTargets(good)).to.deep.equal([]);
    expect(missedTargets({ ...good, iou_plain_mean: 0.6 })).to.deep.equal([
      'iou_p2p_mean - iou_plain_mean 0.250 < 0.3',
    ]);
    expect(missedTargets({ ...good, background_follows_caption_min: 0.5, noise_mean_probe: 0.2 })).to.deep.equal([
      'background_follows_caption_min 0.500 < 0.75',
      'noise_mean_probe 0.200 < 0.9',
    ]);
    expect(missedTargets({ ...good, untouched_iou_mean: NaN })).to.deep.equal([
      'untouched_iou_mean not measured (target ≥ 0.9)',
    ]);
    const { noise_mean_probe: _, ...noProbe } = good;
    expect(missedTargets(noProbe)).to.deep.equal(['noise_mean_probe not measured (target ≥ 0.9)']);
    expect(qualityTarget('attribute_ok_fraction').min).to.equal(0.85);
    expect(() => qualityTarget('speed')).to.throw(/no quality target "speed"/);
  });

  it("the shipped model's floors: each stands in for a declared target, below it, on a measure an ideal model passes", () => {
    const ideal: QualitySummary & ProbeSummary = {
      edits: 60,
      generation_ok_fraction: 1,
      generation_background_ok_fraction: 1,
      attribute_ok_fraction: 1,
      iou_p2p_mean: 1,
      iou_plain_mean: 0.2,
      untouched_iou_mean: 1,
      background_change_p2p: 0,
      background_change_plain: 20,
      background_change_edits: 60,
      ...perfectProbes,
    };
    const none: QualitySummary & ProbeSummary = {
      ...ideal,
      generation_background_ok_fraction: 0,
      attribute_ok_fraction: 0,
      iou_p2p_mean: 0,
      iou_plain_mean: 0,
      untouched_iou_mean: 0,
    };
    expect(SHIPPED_FLOORS.length).to.be.above(0);
    for (const f of SHIPPED_FLOORS) {
      const t = qualityTarget(f.target);
      expect(f.min, f.name).to.be.above(0).and.below(t.min);
      expect(f.value(ideal)!, f.name).to.be.at.least(f.min);
      expect(f.value(none)!, f.name).to.be.below(f.min);
    }
  });
});

/**
 * A stand-in model for the background probes: its "VAE" encodes an image as its 4×4-pooled RGB plus
 * their mean (4 channels), × 5 (so a colour's scaled latent mean stands out of the plain noise's mean); its generations draw the caption's object and take the background from
 * the caption — or, when `leaky`, from the noise whenever the noise's mean is nearer to a colour's
 * scaled latent mean than to zero (the flaw of SD's schedule the probe looks for).
 */
function probePipeline(tokenizer: ClipTokenizer, leaky: boolean): StableDiffusionPipeline {
  const vae = {
    hasEncoder: true,
    encodeLatents: (x: tf.Tensor4D) =>
      tf.tidy(() => {
        const pooled = tf.avgPool(x, 4, 4, 'valid');
        return tf.mul(tf.concat([pooled, tf.mean(pooled, 3, true)], 3), 5) as tf.Tensor4D;
      }),
  };
  const pipe = {
    tokenizer,
    components: { vae },
    defaultSize: SIZE,
    vaeScaleFactor: 4,
    async generate(o: { prompts: readonly string[]; latents: HostTensor }) {
      const means = paletteLatentMeans(pipe);
      const [n, c, h, w] = o.latents.shape;
      return {
        images: o.prompts.map((caption, k) => {
          const d = parseCaption(caption);
          const m = Array.from(
            { length: c },
            (_, ch) =>
              o.latents.data.subarray((k * c + ch) * h * w, (k * c + ch + 1) * h * w).reduce((a, b) => a + b, 0) /
              (h * w),
          );
          const dist = (v: readonly number[]) => Math.hypot(...m.map((x, i) => x - NOISE_MEAN_SCALE * v[i]));
          const nearest = COLOURS.reduce((a, b) => (dist(means[b]) < dist(means[a]) ? b : a));
          const background = leaky && dist(means[nearest]) < Math.hypot(...m) ? nearest : d.background;
          const objects = d.objects.map((x) =>
            x.colour === background ? { ...x, colour: COLOURS.find((y) => y !== background)! } : x,
          );
          expect(n).to.equal(o.prompts.length);
          return float(renderScene(placeScene({ objects, background }, new Rng(k)), SIZE));
        }),
      };
    },
  } as unknown as StableDiffusionPipeline;
  return pipe;
}

describe('quality report: the background probes', function () {
  this.timeout(120000);
  let tokenizer: ClipTokenizer;
  before(async () => {
    tokenizer = await loadClipTokenizer(bundledTokenizerDir());
  });

  it('the cases: 8 backgrounds per seed, captions valid, noise colour never the background or the object', () => {
    const cases = probeCases(MAX_PROBE_SEEDS);
    expect(cases.length).to.equal(MAX_PROBE_SEEDS);
    for (const [s, row] of cases.entries()) {
      expect(row.map((c) => c.background)).to.deep.equal([...COLOURS]);
      for (const c of row) {
        const d = parseCaption(c.caption);
        expect(d.background).to.equal(c.background);
        expect(c.seed).to.equal(s);
        expect([c.background, d.objects[0].colour]).to.not.include(c.noiseColour);
      }
    }
    expect(probeCases(0)).to.deep.equal([]);
    expect(() => probeCases(MAX_PROBE_SEEDS + 1)).to.throw(/seeds must be an integer in 0–4, got 5/);
  });

  it("the noise-mean scale is √ᾱ at t = 951 of SD's scaled-linear schedule; the shift sets each channel's mean", () => {
    expect(NOISE_MEAN_SCALE).to.be.closeTo(0.0903, 5e-5);
    const shape = [1, 2, 3, 3];
    const noise = Float32Array.from({ length: 18 }, (_, i) => Math.sin(i) + 0.3);
    const shifted = shiftNoiseMean(noise, shape, [1, -2]);
    const mean = (a: Float32Array) => a.reduce((x, y) => x + y, 0) / a.length;
    expect(mean(shifted.subarray(0, 9))).to.be.closeTo(NOISE_MEAN_SCALE, 1e-6);
    expect(mean(shifted.subarray(9))).to.be.closeTo(-2 * NOISE_MEAN_SCALE, 1e-6);
    // only the mean moves
    expect(shifted[1] - shifted[0]).to.be.closeTo(noise[1] - noise[0], 1e-6);
  });

  it('a model that follows its captions passes both probes; one that takes the background from the noise mean fails the noise-mean probe', async () => {
    const good = summariseProbes(
      await runBackgroundProbes(probePipeline(tokenizer, false), DEFAULT_QUALITY_SETTINGS, 2),
    );
    expect(good).to.deep.equal(perfectProbes);
    const seen: string[] = [];
    const leaky = summariseProbes(
      await runBackgroundProbes(probePipeline(tokenizer, true), DEFAULT_QUALITY_SETTINGS, 2, (r) =>
        seen.push(r.case.caption),
      ),
    );
    expect(seen.length).to.equal(16);
    expect(leaky.background_follows_caption_min).to.equal(1); // plain noise: the caption's background
    expect(leaky.noise_mean_probe).to.equal(0);
    expect(missedTargets({ ...leaky })).to.include('noise_mean_probe 0.000 < 0.9');
    // eslint-disable-next-line @typescript-eslint/no-unused-expressions -- a chai property assertion
    expect(summariseProbes([]).noise_mean_probe).to.be.NaN;
  });

  it('the noise-mean probe needs the VAE encoder', () => {
    const pipe = {
      components: { vae: { hasEncoder: false } },
      defaultSize: SIZE,
    } as unknown as StableDiffusionPipeline;
    expect(() => paletteLatentMeans(pipe)).to.throw(
      /needs the VAE encoder: load the pipeline with \{ vaeEncoder: true \}/,
    );
  });
});

describe('ptp quality --check', function () {
  this.timeout(600000);
  it('exits 1 with one line per missed target; the report prints each target', async () => {
    // Two denoising steps and no probes: targets are missed (the probes' two are not measured).
    const r = await ptp('quality', '--edits', '1,0,0', '--probe-seeds', '0', '--steps', '2', '--check');
    expect(r.code, r.stderr).to.equal(1);
    const missed = lines(r.stderr).filter((l) => l.startsWith('missed: '));
    expect(missed).to.include.members([
      'missed: background_follows_caption_min not measured (target ≥ 0.75)',
      'missed: noise_mean_probe not measured (target ≥ 0.9)',
    ]);
    expect(r.stderr).to.contain(`ptp quality: ${missed.length} of ${QUALITY_TARGETS.length} quality targets missed`);
    for (const t of QUALITY_TARGETS)
      expect(r.stdout).to.match(new RegExp(`${t.name.replace(/[-]/g, '\\-')} .* target ≥ ${t.min}  (met|MISSED)`));
    const json = JSON.parse(lines(r.stdout).at(-1)!) as Record<string, unknown>;
    expect(json).to.include({ edits: 1, probe_seeds: 0, steps: 2 });
    expect((await ptp('quality', '--probe-seeds', '5')).code).to.equal(2);
  });
});
