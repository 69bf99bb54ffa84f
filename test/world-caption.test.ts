import { expect } from 'chai';
import { Rng } from '../src/shapes/world/rng.js';
import { sampleScene } from '../src/shapes/world/scene.js';
import { article, captionOf, parseCaption, sceneFromCaption } from '../src/shapes/world/caption.js';

describe('world: caption grammar', () => {
  it('writes the articles and optional words of the grammar', () => {
    expect(captionOf({ background: 'blue', objects: [{ colour: 'orange', shape: 'circle' }] })).to.equal(
      'an orange circle on a blue background',
    );
    expect(captionOf({ background: 'orange', objects: [{ colour: 'orange', shape: 'circle', size: 'big' }] })).to.equal(
      'a big orange circle on an orange background',
    );
    expect(
      captionOf({
        background: 'white',
        objects: [
          { colour: 'red', shape: 'star', size: 'small' },
          { colour: 'orange', shape: 'triangle' },
        ],
      }),
    ).to.equal('a small red star and an orange triangle on a white background');
    expect(article('orange')).to.equal('an');
    expect(article('yellow')).to.equal('a');
  });

  it('parse ∘ captionOf round-trips on 1000 random scenes', () => {
    const rng = new Rng(17);
    for (let i = 0; i < 1000; i++) {
      const s = sampleScene(rng);
      const text = captionOf(s);
      const d = parseCaption(text);
      expect(d.background).to.equal(s.background);
      expect(d.objects).to.deep.equal(
        s.objects.map((o) =>
          o.size ? { colour: o.colour, shape: o.shape, size: o.size } : { colour: o.colour, shape: o.shape },
        ),
      );
      expect(captionOf(d)).to.equal(text);
    }
  });

  it('forgives case and spacing only', () => {
    expect(parseCaption('  A  Big RED square on a  blue background ')).to.deep.equal({
      background: 'blue',
      objects: [{ colour: 'red', shape: 'square', size: 'big' }],
    });
  });

  const bad: [string, RegExp][] = [
    ['a red blob on a blue background', /"blob" \(word 3\) is not a shape/],
    ['a huge red circle on a blue background', /"huge" \(word 2\) is not a size or colour/],
    ['a big huge circle on a blue background', /"huge" \(word 3\) is not a colour/],
    ['an red circle on a blue background', /"an" \(word 1\) should be "a" before "red"/],
    ['a orange circle on a blue background', /"a" \(word 1\) should be "an" before "orange"/],
    ['a red circle on a orange background', /"a" \(word 5\) should be "an" before "orange"/],
    ['red circle on a blue background', /expected "a" or "an" but found "red" \(word 1\)/],
    ['a red circle in a blue background', /expected "and" or "on" but found "in" \(word 4\)/],
    [
      'a red circle and a blue square and a green star on a white background',
      /expected "on" but found "and" \(word 8\)/,
    ],
    ['a red circle on a blue', /expected "background" but found the end of the caption/],
    ['a red circle on a blue background please', /unexpected "please" \(word 8\) after "background"/],
    ['a red circle on a red background', /"red" is the background's colour too/],
    ['a red circle on a pink background', /"pink" \(word 6\) is not a background colour/],
    ['', /empty caption/],
  ];
  for (const [text, why] of bad) {
    it(`rejects "${text}" with a one-line error naming the word`, () => {
      let message = '';
      try {
        parseCaption(text);
      } catch (e) {
        message = (e as Error).message;
      }
      expect(message).to.match(why);
      expect(message).to.not.include('\n');
      expect(message).to.include(`caption "${text}"`);
    });
  }

  it('sceneFromCaption places what the caption says, seeded', () => {
    const text = 'a small black circle and a big yellow star on a green background';
    const a = sceneFromCaption(text, new Rng(4));
    expect(captionOf(a)).to.equal(text);
    expect(a.objects[0].extent).to.be.within(0.12, 0.18);
    expect(a.objects[1].extent).to.be.within(0.34, 0.46);
    expect(sceneFromCaption(text, new Rng(4))).to.deep.equal(a);
    expect(sceneFromCaption(text, new Rng(5))).to.not.deep.equal(a);
  });
});
