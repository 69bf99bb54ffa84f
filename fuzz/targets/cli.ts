/**
 * Command-line arguments: the real `ptp` commands (in-process, as the executable runs them) with
 * random flag/value combinations over a small model on disk: steps 0, negative or huge, sizes not
 * multiples of 8 or huge, guidance NaN, seeds out of range, unknown and repeated flags, missing
 * values, hostile prompts and words, latents files of the wrong shape, outputs that cannot be
 * written. The interrupt signal is already aborted, so a valid run stops where Ctrl-C would stop
 * it — after every check, before the weights load (exit 130) — and the fuzz never samples.
 * Exit 0/130 is `ok`; 1 and 2 are clean errors when the command failed with an Error of ours
 * (checked on the thrown error itself) and said so in one line.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Interrupted, runCli } from '../../src/cli/cli.js';
import type { Command } from '../../src/cli/command.js';
import { commands as realCommands } from '../../src/cli/commands/index.js';
import { floatTensor, writeSafetensors } from '../../src/io/safetensors.js';
import { MemoryByteSink } from '../../src/io/byte-source.js';
import { classify, Violation } from '../outcome.js';
import { rngFor, type Rng } from '../rng.js';
import { fuzzModelFiles } from './model-dir.js';
import { hostilePrompt } from './tokenizer.js';
import type { FuzzTarget } from './target.js';

interface CliContext {
  dir: string;
  model: string;
  files: Record<string, string>;
  /** The error the last command threw (the CLI itself prints only its message). */
  thrown: { error?: unknown };
  commands: Command[];
}

const NUMBERS = ['0', '-1', '1', '2', '7', '50', '1e9', '1e308', 'NaN', 'Infinity', '-Infinity', '1.5', '', ' ', 'abc', '0x10', '08', '-0', '999999999999999999999'];
const SIZES = ['64', '72', '100', '0', '-64', '8', '4096', '65536', '1e6', '63.9', 'NaN', '128', '16'];

function pathValue(rng: Rng, ctx: CliContext): string {
  return rng.pick([join(ctx.dir, 'out.png'), join(ctx.dir, 'nope', 'x.png'), ctx.dir, '/proc/x.png', join(ctx.dir, 'lat.safetensors'), '', '-', ctx.files.badLatents, ctx.files.garbage]);
}

/** A random argument vector for `ptp`. */
function randomArgs(rng: Rng, ctx: CliContext): string[] {
  const command = rng.pick(['generate', 'generate', 'edit', 'edit', 'attention', 'inspect', 'convert', 'help', 'nonsense', '']);
  const args: string[] = command ? [command] : [];
  const flag = (name: string, value?: string) => (rng.chance(0.15) && value !== undefined ? args.push(`--${name}=${value}`) : args.push(`--${name}`, ...(value === undefined ? [] : [value])));
  if (command === 'inspect') {
    args.push(rng.pick([ctx.model, join(ctx.model, 'unet'), join(ctx.model, 'unet/diffusion_pytorch_model.safetensors'), ctx.files.garbage, ctx.files.badLatents, '/nonexistent', ctx.dir]));
    for (const f of ['tensors', 'check', 'json']) if (rng.chance(0.3)) flag(f);
    if (rng.chance(0.2)) flag('variant', rng.pick(['fp16', 'x', '']));
  } else if (command === 'convert') {
    args.push(rng.pick([ctx.files.garbage, join(ctx.model, 'unet/diffusion_pytorch_model.safetensors'), ctx.files.badLatents, '/nonexistent.safetensors', 'model.ckpt']));
    args.push(rng.pick([join(ctx.dir, `conv-${rng.int(1e6)}`), ctx.model, join(ctx.dir, 'nope', 'deeper', 'out')]));
    if (rng.chance(0.3)) flag('fp16');
    if (rng.chance(0.3)) flag('force');
  } else if (command) {
    if (rng.chance(0.9)) flag('model', rng.chance(0.9) ? ctx.model : pathValue(rng, ctx));
    const prompt = () => (rng.chance(0.6) ? rng.pick(['a cat riding a bicycle', 'a dog riding a bicycle', 'a fluffy cat riding a red bicycle']) : hostilePrompt(rng));
    if (command === 'edit') {
      if (rng.chance(0.9)) flag('source', prompt());
      for (let k = rng.int(3); k > 0; k--) flag('target', prompt());
      if (rng.chance(0.2)) flag('mode', rng.pick(['replace', 'refine', 'reweight', 'swap']));
      if (rng.chance(0.2)) flag('cross', rng.pick(['0.8', '1,dog=0.2', 'dog=2', '-1', 'NaN', '1,=0.2', ',', '0.5,cat=0.1,cat=0.2']));
      if (rng.chance(0.2)) flag('self', rng.pick(NUMBERS));
      if (rng.chance(0.2)) flag('blend', rng.pick(['cat,dog', 'cat', '', ',', 'horse,dog', 'a,a,a']));
      if (rng.chance(0.1)) flag('blend-threshold', rng.pick(NUMBERS));
      if (rng.chance(0.2)) flag('reweight', rng.pick(['bicycle=2', 'bicycle=-2', 'cat=NaN', 'bicycle', '=3', 'cat=1,dog=2', 'bicycle=1e400']));
    } else {
      if (rng.chance(0.9)) flag('prompt', prompt());
      if (command === 'generate' && rng.chance(0.2)) flag('negative', prompt());
      if (command === 'attention') {
        if (rng.chance(0.3)) flag('res', rng.pick(NUMBERS));
        if (rng.chance(0.3)) flag('from', rng.pick(['up', 'up,down', 'mid', 'sideways', '', 'up,up']));
        if (rng.chance(0.2)) flag('self-components', rng.pick(NUMBERS));
        if (rng.chance(0.2)) flag('self-out', pathValue(rng, ctx));
        if (rng.chance(0.2)) flag('image', pathValue(rng, ctx));
      }
    }
    for (const [name, values] of [['steps', NUMBERS], ['guidance', NUMBERS], ['seed', NUMBERS], ['height', SIZES], ['width', SIZES], ['attention-slice', NUMBERS]] as const) {
      if (rng.chance(0.35)) flag(name, rng.pick(values));
    }
    if (rng.chance(0.2)) flag('scheduler', rng.pick(['ddim', 'pndm', 'euler', 'lms', 'dpmpp', 'DDIMScheduler', 'nope']));
    if (rng.chance(0.15)) flag('residency', rng.pick(['auto', 'resident', 'stream', 'x']));
    if (rng.chance(0.1)) flag('variant', rng.pick(['fp16', 'bf16', '']));
    if (rng.chance(0.15)) flag('latents', rng.pick([ctx.files.badLatents, ctx.files.goodLatents, ctx.files.garbage, '/nonexistent']));
    if (rng.chance(0.15)) flag('save-latents', pathValue(rng, ctx));
    if (rng.chance(0.9)) flag('out', rng.chance(0.8) ? join(ctx.dir, 'out.png') : pathValue(rng, ctx));
  }
  // Noise: unknown flags, a dangling flag, stray positionals, help, verbose.
  if (rng.chance(0.1)) args.push(rng.pick(['--bogus', '-x', '--steps', '--', 'extra', '-', '--out=', '--verbose', '-h', '--help']));
  if (rng.chance(0.05)) args.splice(rng.int(args.length + 1), 0, rng.pick(['--verbose', '-v', '--version', '---', '--=']));
  return args;
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
    const files = { garbage: join(dir, 'garbage.safetensors'), badLatents: join(dir, 'bad-latents.safetensors'), goodLatents: join(dir, 'latents.safetensors') };
    writeFileSync(files.garbage, 'not a safetensors file at all');
    await latentsFile(files.badLatents, [1, 3, 5]);
    await latentsFile(files.goodLatents, [1, 4, 8, 8]);
    const thrown: CliContext['thrown'] = {};
    // The real commands, recording what they throw (the CLI prints only the message).
    const commands = realCommands.map((c) => ({
      ...c,
      async run(args: Parameters<Command['run']>[0], cctx: Parameters<Command['run']>[1]) {
        try {
          await c.run(args, cctx);
        } catch (e) {
          thrown.error = e;
          throw e;
        }
      },
    }));
    return { dir, model, files, thrown, commands };
  },
  async run(ctx, rng) {
    const argv = randomArgs(rng, ctx);
    const interrupt = new AbortController();
    interrupt.abort(new Interrupted('fuzz'));
    ctx.thrown.error = undefined;
    let stderr = '';
    const code = await runCli(argv, { stdout: () => undefined, stderr: (t) => (stderr += t), signal: interrupt.signal }, ctx.commands);
    const said = stderr.split('\n').filter((l) => l.startsWith('ptp'));
    if (code === 0 || code === 130) return;
    if (code !== 1 && code !== 2) throw new Violation(`exit status ${code} for ${JSON.stringify(argv)}`);
    const verbose = argv.some((a) => a === '--verbose' || a === '-v');
    if (!verbose && stderr.includes('    at ')) throw new Violation(`stack trace printed without --verbose for ${JSON.stringify(argv)}`);
    if (said.length === 0) throw new Violation(`exit ${code} without a "ptp ..." line for ${JSON.stringify(argv)}`);
    // What the command threw decides (a TypeError printed as one line is still a crash).
    const e = ctx.thrown.error ?? new Error(said[said.length - 1]);
    const verdict = classify(e);
    if (verdict.outcome !== 'clean_error') throw new Violation(`${verdict.detail} for ${JSON.stringify(argv)}`);
    throw e;
  },
  async teardown(ctx) {
    rmSync(ctx.dir, { recursive: true, force: true });
  },
};
