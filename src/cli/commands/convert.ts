/** `ptp convert <in.safetensors> <out-dir> [--fp16] [--prediction-type t] [--image-size px]`: SD-1.x/2.x/XL single file → diffusers directory. */
import {
  convertCheckpoint,
  ConvertOptionError,
  FAMILY_NAME,
  type PredictionType,
} from '../../../weights-tools/convert.js';
import { formatBytes, formatCount, table } from '../../../weights-tools/format.js';
import { UsageError } from '../args.js';
import type { Command } from '../command.js';

export const convertCommand: Command = {
  name: 'convert',
  summary: 'convert an SD-1.x, SD-2.x or SD-XL single-file .safetensors checkpoint into a diffusers model directory',
  description:
    'Maps the original ldm keys (model.diffusion_model.*, first_stage_model.*, and cond_stage_model.transformer.*\n' +
    'for SD-1.x or the OpenCLIP cond_stage_model.model.* for SD-2.x, whose fused q/k/v projections are split and\n' +
    'whose last text block is dropped; SD-XL: conditioner.embedders.0.transformer.* and the OpenCLIP bigG\n' +
    'conditioner.embedders.1.model.* with its text projection) to the diffusers layout (unet/, vae/, text_encoder/\n' +
    '(and text_encoder_2/) with safetensors weights), reshapes the VAE attention weights, and writes the bundled\n' +
    'SD-1.5, SD-2.1-base, SD-2.1 or SD-XL base 1.0 configs, tokenizer and scheduler files so the directory is\n' +
    'complete. EMA weights and training buffers are left out.\n' +
    'An SD-2.x file does not say whether it is 2.x-base (512, epsilon) or 768-v (v_prediction): pass\n' +
    '--prediction-type (or --image-size 512/768). Pickle checkpoints (.ckpt) are not supported.',
  positionals: [
    {
      name: 'in.safetensors',
      description: 'single-file SD-1.x, SD-2.x or SD-XL (base) checkpoint in safetensors format',
    },
    {
      name: 'out-dir',
      description: 'new (or empty) output directory; written under a temporary name and renamed when complete',
    },
  ],
  options: [
    { name: 'fp16', type: 'boolean', description: 'write float16 weights (half the size); default float32' },
    {
      name: 'force',
      type: 'boolean',
      description: 'replace <out-dir> when it exists and is not empty (once the new one is complete)',
    },
    {
      name: 'prediction-type',
      type: 'string',
      valueName: '<type>',
      choices: ['epsilon', 'v_prediction'],
      description:
        'what the UNet predicts: epsilon (SD-1.x, SD-2.x-base, SD-XL) or v_prediction (SD-2.x 768-v); required for SD-2.x unless --image-size is 512 or 768',
    },
    {
      name: 'image-size',
      type: 'number',
      range: { integer: true, above: 0, multipleOf: 64 },
      valueName: '<px>',
      description:
        'training image size (unet sample_size = px/8); default 512, or 768 with v_prediction, 1024 for SD-XL',
    },
  ],
  examples: [
    'ptp convert v1-5-pruned-emaonly.safetensors ./sd15',
    'ptp convert v2-1_768-ema-pruned.safetensors ./sd21 --prediction-type v_prediction --fp16',
    'ptp convert v2-1_512-ema-pruned.safetensors ./sd21-base --prediction-type epsilon',
    'ptp convert sd_xl_base_1.0.safetensors ./sdxl --fp16',
  ],
  async run(args, ctx) {
    const input = args.positionals['in.safetensors'];
    const outDir = args.positionals['out-dir'];
    const size = args.options['image-size'];
    let shown = -1;
    const signal = ctx.interruptible();
    let r: Awaited<ReturnType<typeof convertCheckpoint>>;
    try {
      r = await convertCheckpoint(input, outDir, {
        fp16: args.options.fp16 === true,
        force: args.options.force === true,
        predictionType: args.options['prediction-type'] as PredictionType | undefined,
        imageSize: size as number | undefined,
        onProgress: (done, total) => {
          signal.throwIfAborted();
          const tenth = Math.floor((10 * done) / total);
          if (!(ctx.interactive || ctx.verbose) || tenth === shown) return;
          shown = tenth;
          ctx.err(`converting: ${tenth * 10}% (${done}/${total} tensors)`);
        },
      });
    } catch (e) {
      if (e instanceof ConvertOptionError) throw new UsageError(e.message);
      throw e;
    }
    const family = FAMILY_NAME[r.family];
    ctx.out(
      `converted ${r.input} → ${r.outDir} (${family}, ${r.dtype}, ${r.predictionType}, ${r.imageSize}×${r.imageSize})`,
    );
    ctx.out(
      table(
        r.components.map((c) => [
          `  ${c.component}`,
          `${c.tensors} tensors`,
          `${formatCount(c.params)} parameters`,
          formatBytes(c.bytes),
          c.file,
        ]),
        [1, 2, 3],
      ).join('\n'),
    );
    if (r.ignored.length) {
      const byReason = new Map<string, number>();
      for (const i of r.ignored) byReason.set(i.reason, (byReason.get(i.reason) ?? 0) + 1);
      ctx.out(`left out ${r.ignored.length} keys: ${[...byReason].map(([why, n]) => `${n} × ${why}`).join('; ')}`);
    }
    for (const n of r.notes) ctx.out(`note: ${n}`);
  },
};
