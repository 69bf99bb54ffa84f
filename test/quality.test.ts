import { expect } from 'chai';
import { qualityEdits, DEFAULT_EDIT_SET, type QualityEdit } from '../src/node/quality/edit-set.js';
import { DEFAULT_QUALITY_SETTINGS, scoreEdit, summarise } from '../src/node/quality/score.js';
import { changedObjects, parseCaption, PALETTE, Rng, renderScene, sceneFromCaption, type Scene } from '../src/world/index.js';
import type { StableDiffusionPipeline } from '../src/pipeline/pipeline.js';
import type { FloatImage, RgbImage } from '../src/util/image.js';
import { loadClipTokenizer } from '../src/node/clip-tokenizer.js';
import { bundledTokenizerDir } from '../src/node/package-files.js';
import type { ClipTokenizer } from '../src/models/clip/tokenizer.js';

const float = (im: RgbImage): FloatImage => ({ width: im.width, height: im.height, data: Float32Array.from(im.data, (v) => v / 255) });

/**
 * A stand-in for a model that draws exactly what its captions say: the "edit" keeps the source's
 * layout and changes only the edited object (ideal Prompt-to-Prompt), or — `broken` — returns the
 * source unchanged; the plain generation places the target's objects anew.
 */
function fakePipeline(tokenizer: ClipTokenizer, broken = false): StableDiffusionPipeline {
  const place = (caption: string, seed: number) => sceneFromCaption(caption, new Rng(seed), { jitter: 0 });
  return {
    tokenizer,
    async edit(o: { prompts: readonly string[]; seed?: number }) {
      const [source, target] = o.prompts;
      const s = place(source, o.seed!);
      const t: Scene = { ...s, objects: s.objects.map((obj, i) => {
        const want = parseCaption(target).objects[i];
        return broken ? obj : { ...obj, ...want, rgb: PALETTE[want.colour] };
      }) };
      return { images: [float(renderScene(s, 64)), float(renderScene(t, 64))] };
    },
    async generate(o: { prompts: readonly string[]; seed?: number }) {
      return { images: [float(renderScene(place(o.prompts[0], o.seed! + 1), 64))] };
    },
  } as unknown as StableDiffusionPipeline;
}

/** A stand-in whose every image is one flat field of the source's first object colour. */
function floodPipeline(tokenizer: ClipTokenizer): StableDiffusionPipeline {
  const flat = (caption: string): FloatImage => {
    const rgb = PALETTE[parseCaption(caption).objects[0].colour];
    const data = new Float32Array(64 * 64 * 3);
    for (let i = 0; i < data.length; i++) data[i] = rgb[i % 3] / 255;
    return { width: 64, height: 64, data };
  };
  return {
    tokenizer,
    async edit(o: { prompts: readonly string[] }) {
      return { images: [flat(o.prompts[0]), flat(o.prompts[0])] };
    },
    async generate(o: { prompts: readonly string[] }) {
      return { images: [flat(o.prompts[0])] };
    },
  } as unknown as StableDiffusionPipeline;
}

describe('quality report: the edit set and its scoring', function () {
  this.timeout(120000);
  let tokenizer: ClipTokenizer;
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

  it('an ideal editor scores full marks, a plain regeneration moves the object, an editor that changes nothing fails', async () => {
    const edits: QualityEdit[] = qualityEdits({ colourSingle: 4, colourPair: 3, shapePair: 3 });
    const ideal = summarise(await Promise.all(edits.map((e) => scoreEdit(fakePipeline(tokenizer), e, DEFAULT_QUALITY_SETTINGS))));
    expect(ideal.attribute_ok_fraction).to.equal(1);
    expect(ideal.generation_ok_fraction).to.equal(1);
    expect(ideal.iou_p2p_mean).to.be.greaterThan(0.95);
    expect(ideal.iou_plain_mean).to.be.lessThan(0.5);
    expect(ideal.untouched_iou_mean).to.be.greaterThan(0.95);
    expect(ideal.background_change_p2p).to.be.lessThan(1);
    // A model that paints the whole image in an object's colour leaves no background to compare:
    // that edit is left out of the background means (it does not stop the report).
    const flooded = await scoreEdit(floodPipeline(tokenizer), edits[0], DEFAULT_QUALITY_SETTINGS);
    expect(flooded.backgroundP2p).to.equal(undefined);
    expect(flooded.attributeOk).to.equal(false);
    const idealScores = await Promise.all(edits.map((e) => scoreEdit(fakePipeline(tokenizer), e, DEFAULT_QUALITY_SETTINGS)));
    expect(summarise([...idealScores, flooded]).background_change_p2p).to.equal(summarise(idealScores).background_change_p2p);
    const broken = summarise(await Promise.all(edits.map((e) => scoreEdit(fakePipeline(tokenizer, true), e, DEFAULT_QUALITY_SETTINGS))));
    expect(broken.attribute_ok_fraction).to.equal(0);
    expect(broken.iou_p2p_mean).to.equal(0);
  });
});
