/**
 * Command-line arguments: the real `ptp` commands (in-process, as the executable runs them) with
 * random flag/value combinations, on the shipped model (models/shapes) and on a small random
 * model written to disk. Half the cases run for real and reach sampling and decoding: their
 * steps are 1–3 and their sizes at most 128 px (or an invalid value of either), so every run
 * ends in seconds; an `ok` run of generate/edit/attention must have written its PNG, and counts
 * as "sampled". The other half take any values (steps 1e9, 65536-px sizes, ...) with the
 * interrupt signal already aborted, so a valid command stops where Ctrl-C would stop it — after
 * every check, before the weights load (exit 130). Besides that: steps 0 or negative, sizes not
 * multiples of 8, guidance NaN, seeds out of range, unknown and repeated flags, missing values,
 * hostile prompts and words, latents files of the wrong shape, outputs that cannot be written.
 * Exit 0 (and 130 when interrupted) is `ok`; 1 and 2 are clean errors when the command failed
 * with an error that fuzz/outcome.ts calls clean (checked on the thrown error itself) and said so
 * in one line.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Interrupted, runCli } from '../../src/cli/cli.js';
import { floatTensor, writeSafetensors } from '../../src/io/safetensors.js';
import { MemoryByteSink } from '../../src/io/byte-source.js';
import { decodePng } from '../../src/node/png.js';
import { classify, Violation } from '../outcome.js';
import { rngFor, type Rng } from '../rng.js';
import { fuzzModelFiles } from './model-dir.js';
import { hostilePrompt } from './tokenizer.js';
import type { FuzzTarget } from './target.js';

interface CliContext {
  dir: string;
  /** The shipped model (models/shapes). */
  shipped: string;
  /** A small random model written by the set-up. */
  model: string;
  files: Record<string, string>;
}

const NUMBERS = [
  '0',
  '-1',
  '1',
  '2',
  '7',
  '50',
  '1e9',
  '1e308',
  'NaN',
  'Infinity',
  '-Infinity',
  '1.5',
  '',
  ' ',
  'abc',
  '0x10',
  '08',
  '-0',
  '999999999999999999999',
];
const SIZES = ['64', '72', '100', '0', '-64', '8', '4096', '65536', '1e6', '63.9', 'NaN', '128', '16'];

const SHIPPED = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'models', 'shapes');

/** Whether `argv` only asks for help or the version (nothing runs). */
const helpOnly = (argv: readonly string[]) =>
  argv.some((a) => ['-h', '--help', '--version'].includes(a)) || argv[0] === 'help';

function pathValue(rng: Rng, ctx: CliContext): string {
  return rng.pick([
    join(ctx.dir, 'out.png'),
    join(ctx.dir, 'nope', 'x.png'),
    ctx.dir,
    '/proc/x.png',
    join(ctx.dir, 'lat.safetensors'),
    '',
    '-',
    ctx.files.badLatents,
    ctx.files.garbage,
  ]);
}

/**
 * A random argument vector for `ptp`. `run` (see the file comment): a sampling command whose
 * values are valid nine times in ten (steps 1–3, sizes ≤ 128 px, the shipped model mostly),
 * hostile otherwise; without `run`, any value. Also returns the --out path when it is the
 * writable one (where an `ok` run's image must be).
 */
function randomArgs(rng: Rng, ctx: CliContext, run: boolean): { argv: string[]; out?: string } {
  let out: string | undefined;
  /** A valid value (mostly, in a run) or a hostile one. */
  const v = (valid: readonly string[], hostile: readonly string[]) =>
    run ? (rng.chance(0.9) ? rng.pick(valid) : rng.pick(hostile)) : rng.pick([...valid, ...hostile]);
  /** Whether an optional flag is given: `p`, or `pRun` in a run. */
  const maybe = (p: number, pRun = p) => rng.chance(run ? pRun : p);
  const command = run
    ? rng.pick(['generate', 'generate', 'edit', 'edit', 'attention'])
    : rng.pick(['generate', 'generate', 'edit', 'edit', 'attention', 'inspect', 'convert', 'help', 'nonsense', '']);
  const args: string[] = command ? [command] : [];
  const flag = (name: string, value?: string) =>
    rng.chance(0.15) && value !== undefined
      ? args.push(`--${name}=${value}`)
      : args.push(`--${name}`, ...(value === undefined ? [] : [value]));
  if (command === 'inspect') {
    args.push(
      rng.pick([
        ctx.model,
        ctx.shipped,
        join(ctx.model, 'unet'),
        join(ctx.model, 'unet/diffusion_pytorch_model.safetensors'),
        ctx.files.garbage,
        ctx.files.badLatents,
        '/nonexistent',
        ctx.dir,
      ]),
    );
    for (const f of ['tensors', 'check', 'json']) if (rng.chance(0.3)) flag(f);
    if (rng.chance(0.2)) flag('variant', rng.pick(['fp16', 'x', '']));
  } else if (command === 'convert') {
    args.push(
      rng.pick([
        ctx.files.garbage,
        join(ctx.model, 'unet/diffusion_pytorch_model.safetensors'),
        ctx.files.badLatents,
        '/nonexistent.safetensors',
        'model.ckpt',
      ]),
    );
    args.push(rng.pick([join(ctx.dir, `conv-${rng.int(1e6)}`), ctx.model, join(ctx.dir, 'nope', 'deeper', 'out')]));
    if (rng.chance(0.3)) flag('fp16');
    if (rng.chance(0.3)) flag('force');
  } else if (command) {
    if (maybe(0.9, 1))
      flag(
        'model',
        run && rng.chance(0.9)
          ? rng.chance(0.85)
            ? ctx.shipped
            : ctx.model
          : rng.chance(0.9)
            ? rng.pick([ctx.shipped, ctx.model])
            : pathValue(rng, ctx),
      );
    const prompt = () =>
      v(
        [
          'a cat riding a bicycle',
          'a dog riding a bicycle',
          'a fluffy cat riding a red bicycle',
          'a red circle on a white background',
          'a blue circle on a white background',
        ],
        [hostilePrompt(rng)],
      );
    if (command === 'edit') {
      if (maybe(0.9, 0.97)) flag('source', prompt());
      for (let k = run ? 1 + rng.int(2) : rng.int(3); k > 0; k--) flag('target', prompt());
      if (maybe(0.2)) flag('mode', v(['replace', 'refine', 'reweight'], ['swap']));
      if (maybe(0.2))
        flag('cross', v(['0.8', '1,dog=0.2', '0.5'], ['dog=2', '-1', 'NaN', '1,=0.2', ',', '0.5,cat=0.1,cat=0.2']));
      if (maybe(0.2)) flag('self', v(['0.4', '0', '1'], NUMBERS));
      if (maybe(0.2)) flag('blend', v(['cat,dog', 'cat', 'circle'], ['', ',', 'horse,dog', 'a,a,a']));
      if (maybe(0.1)) flag('blend-threshold', v(['0.3', '0.5'], NUMBERS));
      if (maybe(0.2))
        flag('reweight', v(['bicycle=2', 'bicycle=-2', 'cat=1,dog=2'], ['cat=NaN', 'bicycle', '=3', 'bicycle=1e400']));
    } else {
      if (maybe(0.9, 0.97)) flag('prompt', prompt());
      if (command === 'generate' && maybe(0.2)) flag('negative', prompt());
      if (command === 'attention') {
        if (maybe(0.3)) flag('res', v(['4', '8', '16'], NUMBERS));
        if (maybe(0.3)) flag('from', v(['up', 'up,down', 'mid'], ['sideways', '', 'up,up']));
        if (maybe(0.2)) flag('self-components', v(['3', '6'], NUMBERS));
        if (maybe(0.2)) flag('self-out', v([join(ctx.dir, 'self.png')], [pathValue(rng, ctx)]));
        if (maybe(0.2)) flag('image', v([join(ctx.dir, 'image.png')], [pathValue(rng, ctx)]));
      }
    }
    // A run always bounds its steps (the default is 50); its sizes default to the model's (≤ 128 px for both).
    if (maybe(0.35, 1))
      flag(
        'steps',
        run
          ? v(['1', '2', '3'], ['0', '-1', '1.5', 'NaN', '', 'abc', '1e9', '5000', '-0', 'Infinity'])
          : rng.pick(NUMBERS),
      );
    if (maybe(0.35)) flag('guidance', v(['1', '3', '7.5'], NUMBERS));
    if (maybe(0.35)) flag('seed', v(['0', '1', '42', '4294967295'], NUMBERS));
    for (const side of ['height', 'width']) {
      if (maybe(0.35))
        flag(
          side,
          run
            ? v(['32', '64', '96', '128'], ['0', '-64', '8', '16', '72', '100', '63.9', 'NaN', 'abc'])
            : rng.pick(SIZES),
        );
    }
    if (maybe(0.35, 0.15)) flag('attention-slice', v(['16', '64', '1024'], NUMBERS));
    if (maybe(0.2)) flag('scheduler', v(['ddim', 'pndm', 'euler', 'lms', 'dpmpp'], ['DDIMScheduler', 'nope']));
    if (maybe(0.15)) flag('residency', v(['auto', 'resident', 'stream'], ['x']));
    if (maybe(0.1, 0.03)) flag('variant', rng.pick(['fp16', 'bf16', '']));
    if (maybe(0.15))
      flag('latents', v([ctx.files.goodLatents], [ctx.files.badLatents, ctx.files.garbage, '/nonexistent']));
    if (maybe(0.15)) flag('save-latents', v([join(ctx.dir, 'lat.safetensors')], [pathValue(rng, ctx)]));
    if (maybe(0.9, 1)) {
      const writable = rng.chance(run ? 0.95 : 0.8);
      if (writable) out = join(ctx.dir, 'out.png');
      flag('out', writable ? out! : pathValue(rng, ctx));
    }
  }
  // Noise: unknown flags, a dangling flag, stray positionals, help, verbose.
  if (maybe(0.1, 0.03))
    args.push(rng.pick(['--bogus', '-x', '--steps', '--', 'extra', '-', '--out=', '--verbose', '-h', '--help']));
  if (maybe(0.05, 0.02))
    args.splice(rng.int(args.length + 1), 0, rng.pick(['--verbose', '-v', '--version', '---', '--=']));
  return { argv: args, out };
}

/** An `ok` run of a sampling command: its PNG must be there, decodable, of a plausible size. */
function checkWritten(argv: readonly string[], out: string | undefined): string | undefined {
  if (!out || helpOnly(argv) || !['generate', 'edit', 'attention'].includes(argv[0])) return undefined;
  // A repeated --out may have put the image elsewhere, and another output (--save-latents,
  // --self-out, --image) may have overwritten it: only a path named once by a single --out is checked.
  if (argv.filter((a) => a === '-o' || a.startsWith('--out')).length !== 1) return undefined;
  if (argv.filter((a) => a.endsWith(out)).length !== 1) return undefined;
  if (!existsSync(out)) throw new Violation(`exit 0 without the image ${out} for ${JSON.stringify(argv)}`);
  let img: ReturnType<typeof decodePng>;
  try {
    img = decodePng(readFileSync(out));
  } catch (e) {
    throw new Violation(`the image written is not a PNG (${(e as Error).message}) for ${JSON.stringify(argv)}`);
  }
  if (!(img.width >= 8 && img.height >= 8 && img.data.length === img.width * img.height * 3))
    throw new Violation(`an image of ${img.width}×${img.height} written for ${JSON.stringify(argv)}`);
  return argv[0] === 'attention' ? 'sampled (attention maps)' : 'sampled and decoded';
}

async function latentsFile(path: string, shape: number[]): Promise<void> {
  const sink = new MemoryByteSink();
  await writeSafetensors(sink, [floatTensor('latents', shape, new Float32Array(shape.reduce((a, b) => a * b, 1)))]);
  writeFileSync(path, sink.bytes());
}

export const cliTarget: FuzzTarget<CliContext> = {
  name: 'cli',
  share: 0.15,
  async setup() {
    const dir = mkdtempSync(join(tmpdir(), 'ptp-fuzz-cli-'));
    const model = join(dir, 'model');
    const base = await fuzzModelFiles(rngFor('model-dir base'));
    for (const [rel, data] of Object.entries(base.files)) {
      mkdirSync(join(model, rel, '..'), { recursive: true });
      writeFileSync(join(model, rel), data);
    }
    const files = {
      garbage: join(dir, 'garbage.safetensors'),
      badLatents: join(dir, 'bad-latents.safetensors'),
      goodLatents: join(dir, 'latents.safetensors'),
    };
    writeFileSync(files.garbage, 'not a safetensors file at all');
    await latentsFile(files.badLatents, [1, 3, 5]);
    await latentsFile(files.goodLatents, [1, 4, 8, 8]);
    return { dir, shipped: SHIPPED, model, files };
  },
  async run(ctx, rng) {
    const run = rng.chance(0.5);
    const { argv, out } = randomArgs(rng, ctx, run);
    const interrupt = new AbortController();
    if (!run) interrupt.abort(new Interrupted('fuzz'));
    if (out) rmSync(out, { force: true });
    let thrown: { error: unknown } | undefined;
    let stderr = '';
    const code = await runCli(argv, {
      stdout: () => undefined,
      stderr: (t) => (stderr += t),
      signal: interrupt.signal,
      onError: (error) => (thrown = { error }),
    });
    const said = stderr.split('\n').filter((l) => l.startsWith('ptp'));
    if (code === 0) return run ? checkWritten(argv, out) : undefined;
    if (code === 130) {
      if (run) throw new Violation(`exit 130 (interrupted) without an interrupt for ${JSON.stringify(argv)}`);
      return;
    }
    if (code !== 1 && code !== 2) throw new Violation(`exit status ${code} for ${JSON.stringify(argv)}`);
    const verbose = argv.some((a) => a === '--verbose' || a === '-v');
    if (!verbose && stderr.includes('    at '))
      throw new Violation(`stack trace printed without --verbose for ${JSON.stringify(argv)}`);
    if (said.length === 0) throw new Violation(`exit ${code} without a "ptp ..." line for ${JSON.stringify(argv)}`);
    // `ptp` without a command prints the usage and exits 2 without an error.
    if (!thrown && code === 2 && stderr.startsWith('ptp — ')) return;
    if (!thrown) throw new Violation(`exit ${code} without an error for ${JSON.stringify(argv)}`);
    // What the command threw decides (a TypeError printed as one line is still a crash).
    const e = thrown.error;
    const verdict = classify(e);
    if (verdict.outcome !== 'clean_error') throw new Violation(`${verdict.detail} for ${JSON.stringify(argv)}`);
    throw e;
  },
  async teardown(ctx) {
    rmSync(ctx.dir, { recursive: true, force: true });
  },
};
