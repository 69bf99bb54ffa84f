/** Step progress for long runs: a rewritten line on a terminal, plain lines with --verbose elsewhere. */
import type { StepInfo } from '../pipeline/sampler.js';
import type { CommandContext } from './command.js';

export function progressPrinter(ctx: CommandContext, label = 'sampling'): (s: StepInfo) => void {
  return (s) => {
    const left = (s.steps - s.step - 1) / Math.max(s.itPerSec, 1e-9);
    const line = `${label}: step ${s.step + 1}/${s.steps} (t=${+s.timestep.toFixed(3)}) ${s.itPerSec.toFixed(2)} it/s, ${left.toFixed(0)} s left`;
    if (ctx.interactive) {
      process.stderr.write(`\r${line}\x1b[K${s.step + 1 === s.steps ? '\n' : ''}`);
    } else if (ctx.verbose || s.step + 1 === s.steps) {
      ctx.err(line);
    }
  };
}
