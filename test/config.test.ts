/** The one config reader of UNet, VAE, CLIP and schedulers: every problem in one error, unknown fields warned. */
import { expect } from 'chai';
import { ConfigReader } from '../src/io/config.js';
import { parseUNetConfig } from '../src/models/unet/config.js';
import { parseVaeConfig } from '../src/models/vae/config.js';
import { parseClipTextConfig } from '../src/models/clip/config.js';
import { createScheduler } from '../src/models/schedulers/index.js';
import { getLogLevel, setLogLevel } from '../src/util/log.js';
import { describeRef, readJson } from './helpers/reference.js';
import { shapesVaeConfig } from '../src/shapes/configs.js';

/** Runs `f` and returns what the library logged as warnings. */
function warnings(f: () => void): string[] {
  const seen: string[] = [];
  const orig = console.warn;
  const level = getLogLevel();
  console.warn = (...a: unknown[]) => void seen.push(a.join(' '));
  setLogLevel('warn');
  try {
    f();
  } finally {
    console.warn = orig;
    setLogLevel(level);
  }
  return seen;
}

describe('config reader', () => {
  it('lists every missing required field together, then the other problems, in one line naming the file', () => {
    const r = new ConfigReader({ b: 'x', c: 1.5 }, 'my/config.json');
    r.int('a');
    r.int('b');
    r.int('c', 0, 1);
    r.int('d');
    expect(() => r.done()).to.throw(
      'my/config.json: missing required fields "a", "d"; "b" must be a non-negative integer, got "x"; "c" must be a positive integer, got 1.5',
    );
  });

  it('refuses integers beyond any real config (sizes above 2^20, more than 1000 layers), naming the field', () => {
    const r = new ConfigReader({ n: 2 ** 20 + 1, m: 2 ** 20, big: Number.MAX_SAFE_INTEGER }, 'x.json');
    r.int('n');
    r.int('m');
    r.int('big', undefined, 1, 1000);
    expect(() => r.done()).to.throw(
      'x.json: "n" must be at most 1048576, got 1048577; "big" must be at most 1000, got 9007199254740991',
    );
    expect(() => parseVaeConfig({ ...shapesVaeConfig, layers_per_block: 1e9 }, 'vae.json')).to.throw(
      '"layers_per_block" must be at most 1000, got 1000000000',
    );
  });

  it('warns once about unknown fields (not "_" metadata, not fields known to have no effect)', () => {
    const r = new ConfigReader({ _class_name: 'X', a: 1, known: 2, typo_field: 3, other: 4 }, 'my/config.json');
    r.int('a');
    expect(warnings(() => r.done(['known']))).to.deep.equal([
      '[ptp] my/config.json: ignoring unknown fields "typo_field", "other"',
    ]);
  });

  it('UNet, VAE, CLIP and scheduler configs report all missing fields at once and warn about unknown ones', () => {
    expect(() =>
      parseUNetConfig({ down_block_types: ['DownBlock2D'], up_block_types: ['UpBlock2D'] }, 'u.json'),
    ).to.throw(
      /^u\.json: missing required fields "block_out_channels", "attention_head_dim", "norm_num_groups", "in_channels", "out_channels", "layers_per_block", "cross_attention_dim"$/,
    );
    expect(() => parseVaeConfig({}, 'v.json')).to.throw(
      /^v\.json: missing required fields "block_out_channels", "down_block_types", "up_block_types", "norm_num_groups", "act_fn", "sample_size", "in_channels", "out_channels", "layers_per_block", "latent_channels"$/,
    );
    expect(() => parseClipTextConfig({ vocab_size: 10 }, 't.json')).to.throw(
      /^t\.json: missing required fields "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads", "max_position_embeddings"$/,
    );
    const clip = {
      vocab_size: 10,
      hidden_size: 8,
      intermediate_size: 16,
      num_hidden_layers: 1,
      num_attention_heads: 2,
      max_position_embeddings: 77,
    };
    expect(warnings(() => parseClipTextConfig({ ...clip, hiden_act: 'gelu' }, 't.json'))).to.deep.equal([
      '[ptp] t.json: ignoring unknown field "hiden_act"',
    ]);
    const ddim = { _class_name: 'DDIMScheduler', beta_schedule: 'scaled_linear', stepz_offset: 1 };
    expect(warnings(() => createScheduler(ddim))).to.deep.equal([
      '[ptp] DDIMScheduler config: ignoring unknown field "stepz_offset"',
    ]);
  });
});

describeRef('config reader on the reference configs', () => {
  it('tiny-sd, SD-1.5 and SD-2.1 configs read without warnings, as their own scheduler and as DDIM/Euler/LMS/DPM++', () => {
    const logged = warnings(() => {
      for (const m of ['tiny-sd', 'sd15-config', 'sd21-config', 'sd21-base-config', 'tiny-sd2']) {
        parseUNetConfig(readJson(`${m}/unet/config.json`));
        parseVaeConfig(readJson(`${m}/vae/config.json`));
        parseClipTextConfig(readJson(`${m}/text_encoder/config.json`));
        const sched = readJson(`${m}/scheduler/scheduler_config.json`);
        createScheduler(sched);
        for (const type of ['ddim', 'euler', 'lms', 'dpmpp']) createScheduler(sched, { type });
      }
    });
    expect(logged).to.deep.equal([]);
  });
});
