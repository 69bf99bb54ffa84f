/** The web page's pure parts (no browser): URL settings, checking them, and one-sentence errors. */
import { expect } from 'chai';
import { checkSettings } from '../web/page/edit-settings.js';
import {
  BackendUnusableError,
  CancelledError,
  describeError,
  GpuLostError,
  isFatal,
  ModelLoadError,
  sentence,
  UploadError,
} from '../web/page/errors.js';
import { DEFAULTS, settingsFromQuery, settingsToQuery } from '../web/page/settings.js';
import { EditSpecError } from '../src/index.js';

describe('web page: settings in the URL', () => {
  it('reads every setting, repeated targets, run=1; unknown backend/mode values keep the defaults', () => {
    const q =
      '?source=a+red+circle+on+a+white+background&target=a+blue+circle+on+a+white+background&target=a+red+square+on+a+white+background' +
      '&mode=replace&steps=5&seed=42&guidance=3&cross=1%2Cblue%3D0.2&self=0.3&blend=circle&reweight=red%3D2&backend=wasm&model=https%3A%2F%2Fx.org%2Fm%2F&inner=4&run=1';
    const { settings, run } = settingsFromQuery(q);
    expect(run).to.equal(true);
    expect(settings).to.deep.equal({
      model: 'https://x.org/m/',
      backend: 'wasm',
      source: 'a red circle on a white background',
      targets: ['a blue circle on a white background', 'a red square on a white background'],
      mode: 'replace',
      reweight: 'red=2',
      blend: 'circle',
      cross: '1,blue=0.2',
      self: '0.3',
      steps: '5',
      guidance: '3',
      seed: '42',
      inner: '4',
    });
    expect(settingsFromQuery(settingsToQuery(settings)).settings).to.deep.equal(settings);
    expect(settingsFromQuery('?backend=vulkan&mode=swap')).to.deep.equal({ settings: DEFAULTS, run: false });
    expect(settingsFromQuery('')).to.deep.equal({ settings: DEFAULTS, run: false });
  });

  it('keeps "no edited prompt" (reweighting the source) through the URL; writes only non-defaults besides the prompts', () => {
    const s = { ...DEFAULTS, targets: [], reweight: 'red=2' };
    expect(settingsFromQuery(settingsToQuery(s)).settings).to.deep.equal(s);
    expect(settingsToQuery(DEFAULTS)).to.equal(
      '?source=a+red+circle+on+a+white+background&target=a+blue+circle+on+a+white+background',
    );
  });
});

describe('web page: checking the settings', () => {
  it('turns the page defaults into an automatic-mode edit of the shapes captions', () => {
    const e = checkSettings(DEFAULTS);
    expect(e).to.deep.equal({
      spec: {
        source: DEFAULTS.source,
        targets: DEFAULTS.targets,
        mode: undefined,
        cross: 0.8,
        self: 0.4,
        blend: undefined,
        reweight: undefined,
      },
      steps: 20,
      guidance: 7.5,
      seed: 1,
      innerSteps: 10,
    });
    expect(
      checkSettings({ ...DEFAULTS, blend: 'red, blue', reweight: 'blue=-1.5', cross: '1,blue=0.2', mode: 'refine' })
        .spec,
    )
      .to.include({ mode: 'refine' })
      .and.deep.include({
        blend: ['red', 'blue'],
        reweight: [{ word: 'blue', value: -1.5 }],
        cross: { default_: 1, blue: 0.2 },
      });
  });

  it('names the field at fault in one line', () => {
    const cases: [Partial<typeof DEFAULTS>, string][] = [
      [{ steps: '2.5' }, 'steps: expected a whole number from 1 to 1000, got "2.5"'],
      [{ steps: '' }, 'steps: expected a whole number from 1 to 1000, got ""'],
      [{ seed: '-1' }, 'seed: expected a whole number from 0 to 9007199254740991, got "-1"'],
      [{ guidance: 'lots' }, 'guidance: expected a number from 0 to 100, got "lots"'],
      [{ cross: '1.5' }, 'cross: expected a fraction of the steps in [0, 1], got "1.5"'],
      [{ self: 'x' }, 'self: expected a fraction of the steps in [0, 1], got "x"'],
      [{ reweight: 'red' }, 'reweight: expected word=factor[,word=factor...], got "red"'],
      [{ blend: 'red circle' }, 'blend: "red circle" is not a single word'],
      [{ source: '  ' }, 'source prompt: empty; type the prompt of the image to edit'],
      [{ inner: '0' }, 'inner steps: expected a whole number from 1 to 1000, got "0"'],
    ];
    for (const [change, message] of cases) {
      expect(() => checkSettings({ ...DEFAULTS, ...change }), JSON.stringify(change)).to.throw(EditSpecError, message);
    }
  });

  it('an uploaded image: its caption is the source prompt, and its inversion needs guidance above 1', () => {
    expect(() => checkSettings({ ...DEFAULTS, source: '' }, { upload: true })).to.throw(
      EditSpecError,
      'source prompt: empty; type the caption of the uploaded image',
    );
    expect(() => checkSettings({ ...DEFAULTS, guidance: '1' }, { upload: true })).to.throw(
      EditSpecError,
      'guidance: editing an uploaded image needs guidance above 1 (its null-text inversion is optimised for guided sampling), got "1"',
    );
    expect(checkSettings({ ...DEFAULTS, guidance: '1' }).guidance).to.equal(1);
    expect(checkSettings({ ...DEFAULTS, inner: '2' }, { upload: true }).innerSteps).to.equal(2);
  });
});

describe('web page: errors as one sentence', () => {
  it('capitalises, ends with one full stop, folds lines and long text', () => {
    expect(sentence('blend: "square" is not a word of "a"')).to.equal('Blend: "square" is not a word of "a".');
    expect(sentence('done.')).to.equal('Done.');
    expect(sentence('a\n  b')).to.equal('A b.');
    expect(sentence('x'.repeat(1000))).to.have.length(400);
  });

  it('explains lost GPUs and out-of-memory, passes other messages through, and knows which leave the worker unusable', () => {
    const lost = new GpuLostError('The WebGL context was lost (the GPU was reset or ran out of memory)');
    expect(describeError(lost, 'webgl')).to.equal(
      'The WebGL context was lost (the GPU was reset or ran out of memory); run again to start a fresh webgl backend, or choose wasm.',
    );
    const oom = new Error(
      'wasm heap budget exceeded: allocating [4, 4096, 4096] float32 (256.0 MiB) with 3500.0 MiB live would pass the 3584 MiB limit\nstack...',
    );
    expect(describeError(oom, 'wasm')).to.equal(
      'The wasm backend ran out of memory (wasm heap budget exceeded: allocating [4, 4096, 4096] float32 (256.0 MiB) with 3500.0 MiB live would pass the 3584 MiB limit); try fewer edited prompts, or another backend.',
    );
    expect(describeError(new Error('Failed to create texture\n at x'), 'webgl')).to.match(
      /^The webgl backend ran out of memory \(Failed to create texture\); /,
    );
    const load = new ModelLoadError(
      'http://h/models/x',
      new Error('http://h/models/x/model_index.json: HTTP 404 Not Found'),
    );
    expect(describeError(load, 'wasm')).to.equal(
      'Could not load the model from http://h/models/x: http://h/models/x/model_index.json: HTTP 404 Not Found.',
    );
    const noRanges = new ModelLoadError(
      'http://h/m/',
      new Error(
        'http://h/m: cannot use this model directory (2 problems):\n  - http://h/m/unet/w.safetensors: range request for 8 bytes at 0 answered HTTP 200 (the server must support Range)\n  - …',
      ),
    );
    expect(describeError(noRanges, 'wasm')).to.equal(
      'Could not load the model from http://h/m/: http://h/m: cannot use this model directory (2 problems): http://h/m/unet/w.safetensors: range request for 8 bytes at 0 answered HTTP 200 (the server must support Range) …',
    );
    const unusable = new BackendUnusableError('WebGPU on this adapter cannot read tensors back synchronously');
    expect(describeError(unusable, 'webgpu')).to.equal(
      'WebGPU on this adapter cannot read tensors back synchronously.',
    );
    expect([lost, oom, unusable, new TypeError('x is undefined')].map(isFatal)).to.deep.equal([true, true, true, true]);
    expect(
      [
        load,
        new EditSpecError('blend: …'),
        new UploadError('x.gif: not a PNG or JPEG file'),
        new Error('height 100 must be a positive multiple of 32'),
      ].map(isFatal),
    ).to.deep.equal([false, false, false, false]);
    expect(new CancelledError().message).to.equal('cancelled');
  });
});
