/**
 * The bookkeeping of one training stage: resuming from its checkpoint, the loss history, the
 * time spent (wall clock and CPU, summed over sittings), and periodic checkpoints holding the
 * weights, the optimiser moments and the weight average.
 */
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Param } from '../../nn/param.js';
import type { Adam } from '../../nn/adam.js';
import type { Ema } from '../../train/ema.js';
import { loadCheckpoint, saveCheckpoint, type HostArray } from './checkpoint.js';
import { plotSeries, runningMean } from '../../draw/plot.js';
import { writePng } from '../png.js';

export interface StageState {
  stage: string;
  /** Steps completed. */
  step: number;
  totalSteps: number;
  /** [step, loss] of every step. */
  losses: [number, number][];
  /** Wall-clock and process CPU seconds spent training, over all sittings. */
  wallSeconds: number;
  cpuSeconds: number;
  /** Stage-specific values (e.g. the VAE scaling factor). */
  extra: Record<string, unknown>;
}

export interface StageProgress {
  stage: string;
  step: number;
  totalSteps: number;
  loss: number;
  /** Mean loss of the last 50 steps. */
  smoothLoss: number;
  itPerSec: number;
  wallSeconds: number;
}

/** Whether `deadline` (ms since the epoch) is set and has passed. */
export function pastDeadline(deadline: number | undefined): boolean {
  return deadline !== undefined && Date.now() >= deadline;
}

export class StageRun {
  state: StageState;
  private sittingStart = Date.now();
  private cpuStart = process.cpuUsage();
  private stepTimes: number[] = [];

  constructor(
    readonly dir: string,
    stage: string,
    totalSteps: number,
    private readonly params: readonly (readonly [string, Param])[],
    private readonly opt: Adam,
    private readonly ema?: Ema,
  ) {
    this.state = { stage, step: 0, totalSteps, losses: [], wallSeconds: 0, cpuSeconds: 0, extra: {} };
  }

  get checkpointPath(): string {
    return join(this.dir, `${this.state.stage}.ckpt.safetensors`);
  }

  /** Restores weights, optimiser and average from the stage's checkpoint, if there is one; returns the step to start at. */
  async resume(): Promise<number> {
    await mkdir(this.dir, { recursive: true });
    if (!existsSync(this.checkpointPath)) return 0;
    const ck = await loadCheckpoint<StageState>(this.checkpointPath);
    const t = ck.tensors;
    const get = (k: string) => {
      const v = t.get(k);
      if (!v)
        throw new Error(`${this.checkpointPath}: tensor "${k}" is missing (the checkpoint is from another model)`);
      return v.data;
    };
    for (const [k, p] of this.params) p.setTorchValues(get(`param/${k}`));
    this.opt.setState({
      step: ck.state.step,
      m: this.params.map(([k]) => get(`adam_m/${k}`)),
      v: this.params.map(([k]) => get(`adam_v/${k}`)),
    });
    if (this.ema)
      this.ema.setState(
        ck.state.step,
        this.params.map(([k]) => get(`ema/${k}`)),
      );
    this.state = { ...ck.state, totalSteps: this.state.totalSteps };
    return this.state.step;
  }

  /** Records a finished step. */
  record(step: number, loss: number, onProgress?: (p: StageProgress) => void): void {
    const now = Date.now();
    this.stepTimes.push(now);
    if (this.stepTimes.length > 20) this.stepTimes.shift();
    this.state.step = step + 1;
    this.state.losses.push([step, loss]);
    const recent = this.state.losses.slice(-50);
    const span = (this.stepTimes[this.stepTimes.length - 1] - this.stepTimes[0]) / 1000;
    onProgress?.({
      stage: this.state.stage,
      step: step + 1,
      totalSteps: this.state.totalSteps,
      loss,
      smoothLoss: recent.reduce((s, [, l]) => s + l, 0) / recent.length,
      itPerSec: this.stepTimes.length > 1 ? (this.stepTimes.length - 1) / span : 0,
      wallSeconds: this.state.wallSeconds + (now - this.sittingStart) / 1000,
    });
  }

  /** Folds this sitting's time into the state. */
  private account(): void {
    const now = Date.now();
    const cpu = process.cpuUsage(this.cpuStart);
    this.state.wallSeconds += (now - this.sittingStart) / 1000;
    this.state.cpuSeconds += (cpu.user + cpu.system) / 1e6;
    this.sittingStart = now;
    this.cpuStart = process.cpuUsage();
  }

  /** Writes the checkpoint and the loss curve (`<stage>-loss.png`). */
  async checkpoint(): Promise<void> {
    this.account();
    const tensors = new Map<string, HostArray>();
    const m = this.opt.getState();
    const ema = this.ema?.values();
    this.params.forEach(([k, p], i) => {
      tensors.set(`param/${k}`, { shape: p.torchShape, data: p.torchValues() });
      tensors.set(`adam_m/${k}`, { shape: p.shape, data: m.m[i] });
      tensors.set(`adam_v/${k}`, { shape: p.shape, data: m.v[i] });
      if (ema) tensors.set(`ema/${k}`, { shape: p.shape, data: ema[i] });
    });
    await saveCheckpoint(this.checkpointPath, { state: this.state, tensors });
    await writePng(join(this.dir, `${this.state.stage}-loss.png`), this.lossCurve());
  }

  lossCurve() {
    const pts = this.state.losses;
    return plotSeries(`${this.state.stage} training loss`, [
      { label: 'loss', points: pts, colour: [190, 190, 230] },
      { label: 'mean of 50 steps', points: runningMean(pts, 50), colour: [20, 40, 160] },
    ]);
  }
}
