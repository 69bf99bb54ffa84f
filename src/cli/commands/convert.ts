/** `ptp convert <in.safetensors> <out-dir> [--fp16]`: SD-1.x single file → diffusers directory. */
import { convertCheckpoint } from '../../../weights-tools/convert.js';
import { formatBytes, formatCount, table } from '../../../weights-tools/format.js';
import type { Command } from '../command.js';

export const convertCommand: Command = {
  name: 'convert',
  summary: 'convert an SD-1.x single-file .safetensors checkpoint into a diffusers model directory',
  description:
    'Maps the original CompVis keys (model.diffusion_model.*, first_stage_model.*, cond_stage_model.transformer.*)\n' +
    'to the diffusers layout (unet/, vae/, text_encoder/ with safetensors weights), reshapes the VAE attention\n' +
    'weights, and writes the SD-1.5 configs, tokenizer and scheduler files so the directory is complete.\n' +
    'EMA weights and training buffers are left out. Pickle checkpoints (.ckpt) are not supported.',
  positionals: [
    { name: 'in.safetensors', description: 'single-file SD-1.x checkpoint in safetensors format' },
    { name: 'out-dir', description: 'new (or empty) output directory; written under a temporary name and renamed when complete' },
  ],
  options: [
    { name: 'fp16', type: 'boolean', description: 'write float16 weights (half the size); default float32' },
    { name: 'force', type: 'boolean', description: 'replace <out-dir> when it exists and is not empty (once the new one is complete)' },
  ],
  examples: ['ptp convert v1-5-pruned-emaonly.safetensors ./sd15', 'ptp convert model.safetensors ./sd15-fp16 --fp16'],
  async run(args, ctx) {
    const input = args.positionals['in.safetensors'];
    const outDir = args.positionals['out-dir'];
    let shown = -1;
    const signal = ctx.interruptible();
    const r = await convertCheckpoint(input, outDir, {
      fp16: args.options.fp16 === true,
      force: args.options.force === true,
      onProgress: (done, total) => {
        signal.throwIfAborted();
        const tenth = Math.floor((10 * done) / total);
        if (!(ctx.interactive || ctx.verbose) || tenth === shown) return;
        shown = tenth;
        ctx.err(`converting: ${tenth * 10}% (${done}/${total} tensors)`);
      },
    });
    ctx.out(`converted ${r.input} → ${r.outDir} (${r.dtype})`);
    ctx.out(
      table(r.components.map((c) => [`  ${c.component}`, `${c.tensors} tensors`, `${formatCount(c.params)} parameters`, formatBytes(c.bytes), c.file]), [1, 2, 3]).join('\n'),
    );
    if (r.ignored.length) {
      const byReason = new Map<string, number>();
      for (const i of r.ignored) byReason.set(i.reason, (byReason.get(i.reason) ?? 0) + 1);
      ctx.out(`left out ${r.ignored.length} keys: ${[...byReason].map(([why, n]) => `${n} × ${why}`).join('; ')}`);
    }
    for (const n of r.notes) ctx.out(`note: ${n}`);
  },
};
