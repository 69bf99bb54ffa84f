/** The `ptp` CLI: argument parsing, help, exit codes, one-line errors, and its sub-commands. */
import { expect } from 'chai';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs, UsageError, type OptionSpec } from '../src/cli/args.js';
import { commands } from '../src/cli/commands/index.js';
import { RUN_DEFAULTS } from '../src/pipeline/run-plan.js';
import { describeRef, repoRoot, tinySdDir } from './helpers/reference.js';
import { linkCopy, removeFiles } from './helpers/model-copy.js';
import { rawSafetensors, tempDirForSuite } from './helpers/tmp.js';
import { lines, ptp, spawnPtp } from './helpers/cli.js';

describe('cli: argument parser', () => {
  const opts: OptionSpec[] = [
    { name: 'fp16', type: 'boolean', description: '' },
    { name: 'steps', type: 'number', description: '' },
    { name: 'mode', short: 'm', type: 'string', description: '', choices: ['a', 'b'] },
  ];
  const pos = [
    { name: 'in', description: '' },
    { name: 'out', description: '', optional: true },
  ];

  it('parses options in any position, = syntax, short aliases and --', () => {
    const r = parseArgs(['x', '--steps=20', '--fp16', '-m', 'b', '--', '--weird'], opts, pos);
    expect(r.positionals).to.deep.equal({ in: 'x', out: '--weird' });
    expect(r.options).to.deep.equal({ steps: 20, fp16: true, mode: 'b' });
    expect(parseArgs(['x'], opts, pos).positionals).to.deep.equal({ in: 'x' });
  });

  it('rejects bad input with one-line UsageErrors', () => {
    const cases: [string[], string][] = [
      [['x', '--nope'], 'unknown option --nope'],
      [['x', '--steps'], '--steps needs a value'],
      [['x', '--steps', 'many'], '--steps expects a number, got "many"'],
      [['x', '--fp16=yes'], '--fp16 takes no value'],
      [['x', '--mode', 'c'], '--mode: unknown value "c"; choose one of: a, b'],
      [[], 'missing argument <in>'],
      [['x', 'y', 'z'], 'unexpected argument "z"'],
    ];
    for (const [argv, msg] of cases) expect(() => parseArgs(argv, opts, pos), argv.join(' ')).to.throw(UsageError, msg);
  });

  it('checks declared ranges and required options while parsing, with one message style', () => {
    const specs: OptionSpec[] = [
      { name: 'n', type: 'number', description: '', range: { integer: true, min: 1 } },
      { name: 'k', type: 'number', description: '', range: { integer: true, min: 0 } },
      { name: 'f', type: 'number', description: '', range: { min: 0, max: 1 } },
      { name: 'd', type: 'number', description: '', range: { integer: true, min: 1, max: 1000 } },
      { name: 'p', type: 'number', description: '', range: { above: 0 } },
      { name: 'e', type: 'number', description: '', range: { min: 0 } },
      { name: 'px', type: 'number', description: '', range: { integer: true, above: 0, multipleOf: 64 } },
      { name: 'out', type: 'string', valueName: '<file>', description: '', required: true },
    ];
    const ok = ['--out', 'o'];
    expect(
      parseArgs(
        ['--n', '3', '--k', '0', '--f', '1', '--d', '1000', '--p', '1e-6', '--e', '0', '--px', '128', ...ok],
        specs,
      ).options,
    ).to.deep.equal({ n: 3, k: 0, f: 1, d: 1000, p: 1e-6, e: 0, px: 128, out: 'o' });
    const cases: [string[], string][] = [
      [['--n', '0'], '--n must be a positive integer, got 0'],
      [['--n', '2.5'], '--n must be a positive integer, got 2.5'],
      [['--k', '-1'], '--k must be a non-negative integer, got -1'],
      [['--f', '1.5'], '--f must be a number in [0, 1], got 1.5'],
      [['--d', '1001'], '--d must be an integer from 1 to 1000, got 1001'],
      [['--p', '0'], '--p must be a positive number, got 0'],
      [['--e', '-1e-9'], '--e must be a non-negative number, got -1e-9'],
      [['--px', '100'], '--px must be a positive multiple of 64, got 100'],
      [['--px', '-64'], '--px must be a positive multiple of 64, got -64'],
    ];
    for (const [argv, msg] of cases)
      expect(() => parseArgs([...argv, ...ok], specs), argv.join(' ')).to.throw(UsageError, msg);
    expect(() => parseArgs(['--n', '1'], specs)).to.throw(UsageError, '--out <file> is required');
  });

  it('stops at the first positional to find the sub-command', () => {
    const r = parseArgs(
      ['--verbose', 'inspect', 'dir', '--tensors'],
      [{ name: 'verbose', type: 'boolean', description: '' }],
      [],
      true,
    );
    expect(r.options).to.deep.equal({ verbose: true });
    expect(r.rest).to.deep.equal(['inspect', 'dir', '--tensors']);
  });
});

describe('cli: help and usage errors', () => {
  it('ptp --help lists every command and the global options', async () => {
    const r = await ptp('--help');
    expect(r.code).to.equal(0);
    for (const c of commands) expect(r.stdout).to.match(new RegExp(`\\n  ${c.name}\\s+${c.summary.slice(0, 20)}`));
    expect(r.stdout)
      .to.contain('--backend <name>')
      .and.contain('auto|tensorflow-gpu|tensorflow|native|wasm|cpu')
      .and.contain('--precision <p>')
      .and.contain('--verbose');
    expect((await ptp('-h')).stdout).to.equal(r.stdout);
  });

  it('every command has --help (also as `ptp help <command>`), with the global options', async () => {
    for (const c of commands) {
      const r = await ptp(c.name, '--help');
      expect(r.code, c.name).to.equal(0);
      expect(r.stdout.startsWith(`Usage: ptp ${c.name} `)).to.equal(true);
      expect(r.stdout).to.contain('--backend <name>').and.contain('--verbose');
      for (const o of c.options) expect(r.stdout).to.contain(`--${o.name}`);
      for (const o of c.options.filter((x) => x.required))
        expect(r.stdout, `${c.name} --${o.name}`).to.match(new RegExp(`--${o.name} .*\\(required\\)`));
      expect((await ptp('help', c.name)).stdout).to.equal(r.stdout);
      expect((await ptp('--verbose', c.name, 'whatever', '-h')).stdout).to.equal(r.stdout);
    }
    // The run defaults come from one place (RUN_DEFAULTS), which --help shows.
    expect((await ptp('edit', '--help')).stdout)
      .to.match(new RegExp(`--steps <n> +denoising steps \\(default ${RUN_DEFAULTS.steps}\\)`))
      .and.match(
        new RegExp(`--guidance <scale> +classifier-free guidance scale \\(default ${RUN_DEFAULTS.guidance}\\)`),
      );
    expect((await ptp('convert', '--help')).stdout)
      .to.contain('Usage: ptp convert <in.safetensors> <out-dir> [options]')
      .and.contain('--fp16');
  });

  it('bad input: non-zero exit and a one-line reason on stderr', async () => {
    const cases: [string[], string][] = [
      [
        ['frobnicate'],
        `ptp: unknown command "frobnicate"; commands: ${commands.map((c) => c.name).join(', ')} (see 'ptp --help')`,
      ],
      [['convert'], "ptp convert: missing argument <in.safetensors> (see 'ptp convert --help')"],
      [['inspect', 'a', 'b'], `ptp inspect: unexpected argument "b" (see 'ptp inspect --help')`],
      [['convert', 'in.safetensors', 'out', '--fp32'], "ptp convert: unknown option --fp32 (see 'ptp convert --help')"],
      [
        ['--backend', 'tpu', 'inspect', 'x'],
        `ptp: --backend: unknown value "tpu"; choose one of: auto, tensorflow-gpu, tensorflow, native, wasm, cpu (see 'ptp --help')`,
      ],
      [['inspect', 'x', '--backend'], "ptp inspect: --backend needs a value <name> (see 'ptp inspect --help')"],
    ];
    for (const [argv, msg] of cases) {
      const r = await ptp(...argv);
      expect(r.code, argv.join(' ')).to.equal(2);
      expect(r.stderr).to.equal(`${msg}\n`);
      expect(r.stdout).to.equal('');
    }
    const none = await ptp();
    expect(none.code).to.equal(2);
    expect(none.stderr).to.contain('Commands:');
  });
});

describe('cli: inspect and convert', function () {
  this.timeout(120000);
  const tmp = tempDirForSuite('cli');

  it('a failure is one line on stderr, exit 1; --verbose adds the stack', async () => {
    const missing = join(tmp(), 'missing.safetensors');
    const r = await ptp('inspect', missing);
    expect(r.code).to.equal(1);
    expect(r.stderr).to.equal(`ptp inspect: ${missing}: cannot inspect (ENOENT)\n`);
    const v = await ptp('inspect', missing, '--verbose');
    expect(v.code).to.equal(1);
    expect(lines(v.stderr)[0]).to.equal(`ptp inspect: ${missing}: cannot inspect (ENOENT)`);
    expect(v.stderr).to.match(/\n\s+at .*inspect-path/);
  });

  it('inspect a safetensors file: summary, --tensors, --json', async () => {
    const f = join(tmp(), 'one.safetensors');
    writeFileSync(
      f,
      rawSafetensors(
        { __metadata__: { format: 'pt' }, 'proj.weight': { dtype: 'F16', shape: [3, 2], data_offsets: [0, 12] } },
        new Uint8Array(12),
      ),
    );
    const r = await ptp('inspect', f, '--tensors');
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout)
      .to.contain(`file: ${f}`)
      .and.match(/\n {2}proj\.weight\s+F16\s+\[3, 2\]\s+6\n/);
    const j = await ptp('inspect', f, '--json');
    const s = JSON.parse(j.stdout);
    expect(s).to.deep.include({ kind: 'file', params: 6, bytes: 12, tensorCount: 1 });
    expect(s.groups[0].tensors[0]).to.deep.equal({
      key: 'proj.weight',
      dtype: 'F16',
      shape: [3, 2],
      params: 6,
      bytes: 12,
    });
  });

  it('inspect --check fails (exit 1) when a tensor holds NaN', async () => {
    const f = join(tmp(), 'nan.safetensors');
    writeFileSync(
      f,
      rawSafetensors(
        { w: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } },
        new Uint8Array(new Float32Array([1, NaN]).buffer),
      ),
    );
    const r = await ptp('inspect', f, '--check');
    expect(r.code).to.equal(1);
    expect(r.stdout).to.contain('non-finite: w (1 values)');
    expect(r.stderr).to.equal('ptp inspect: 1 tensor hold non-finite values (NaN/Infinity)\n');
  });

  it('convert: refuses a .ckpt with the pickle message, converts a small checkpoint', async () => {
    const ckpt = join(tmp(), 'model.ckpt');
    writeFileSync(ckpt, 'PK\u0003\u0004');
    const bad = await ptp('convert', ckpt, join(tmp(), 'o1'));
    expect(bad.code).to.equal(1);
    expect(lines(bad.stderr)).to.have.length(1);
    expect(bad.stderr).to.match(
      /^ptp convert: .*model\.ckpt: this is a PyTorch pickle checkpoint; pickle files .* out of scope/,
    );
    const input = join(tmp(), 'small.safetensors');
    writeFileSync(
      input,
      rawSafetensors(
        {
          'model.diffusion_model.out.2.bias': { dtype: 'F32', shape: [4], data_offsets: [0, 16] },
          'first_stage_model.quant_conv.bias': { dtype: 'F32', shape: [8], data_offsets: [16, 48] },
          'cond_stage_model.transformer.text_model.final_layer_norm.bias': {
            dtype: 'F32',
            shape: [768],
            data_offsets: [48, 3120],
          },
          betas: { dtype: 'F32', shape: [2], data_offsets: [3120, 3128] },
        },
        new Uint8Array(3128),
      ),
    );
    const out = join(tmp(), 'converted');
    const r = await ptp('convert', input, out, '--fp16');
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.contain(`converted ${input} → ${out} (SD-1.x, F16, epsilon, 512×512)`);
    expect(r.stdout).to.match(
      / {2}unet\s+1 tensors\s+4 parameters\s+8 B\s+.*unet\/diffusion_pytorch_model\.safetensors/,
    );
    expect(r.stdout).to.contain('left out 1 keys: 1 × DDPM schedule buffer');
    const again = await ptp('inspect', out);
    expect(again.code, again.stderr).to.equal(0);
    expect(again.stdout).to.match(/\ntext_encoder\s+1\s+768\s+F16/);
  });
});

describeRef('cli: tiny-sd and the real executable', function () {
  this.timeout(180000);
  const tmp = tempDirForSuite('cli-ref');

  it('inspect tiny-sd (what `npm run demo` runs)', async () => {
    const r = await ptp('inspect', tinySdDir, '--check');
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout)
      .to.match(/\nunet\s+\d+\s+3,222,692\s+F32/)
      .and.match(/\nvae\s+\d+\s+1,399,879/)
      .and.match(/\ntext_encoder\s+\d+\s+1,621,696/);
    expect(r.stdout).to.contain('check unet: read').and.contain('all finite');
    expect(r.stderr).to.equal('');
  });

  it('an incomplete model directory: exit 1, every problem listed', async () => {
    const d = linkCopy(tinySdDir, join(tmp(), 'broken'));
    removeFiles(
      d,
      'text_encoder/config.json',
      'unet/diffusion_pytorch_model.safetensors',
      'unet/diffusion_pytorch_model.fp16.safetensors',
    );
    const r = await ptp('inspect', d);
    expect(r.code).to.equal(1);
    expect(lines(r.stderr)).to.deep.equal([
      `ptp inspect: ${d}: cannot use this model directory (2 problems):`,
      '  - missing: text_encoder/config.json',
      '  - missing: unet/diffusion_pytorch_model.safetensors (or model.safetensors, a sharded *.safetensors.index.json)',
    ]);
  });

  it('src/cli/main.ts runs as an executable: shebang, exit codes, stderr; inspect never loads a backend', () => {
    expect(readFileSync(join(repoRoot, 'src/cli/main.ts'), 'utf8').startsWith('#!/usr/bin/env node\n')).to.equal(true);
    const help = spawnPtp('--help');
    expect(help.code).to.equal(0);
    expect(help.stdout).to.contain('Commands:');
    // tensorflow (tfjs-node) is not installed here: inspect succeeds because it needs no backend.
    const ok = spawnPtp('--backend', 'tensorflow', 'inspect', join(tinySdDir, 'vae'));
    expect(ok.code, ok.stderr).to.equal(0);
    expect(ok.stdout).to.match(/\nvae\s+\d+\s+1,399,879/);
    const bad = spawnPtp('inspect', join(tmp(), 'nope'));
    expect(bad.code).to.equal(1);
    expect(bad.stderr).to.equal(`ptp inspect: ${join(tmp(), 'nope')}: cannot inspect (ENOENT)\n`);
    const usage = spawnPtp('convert', 'x');
    expect(usage.code).to.equal(2);
    expect(lines(usage.stderr)).to.have.length(1);
  });
});
