import * as tf from '@tensorflow/tfjs-core';
import { Module } from './module.js';
import { Conv2d } from './conv2d.js';
import { GroupNorm } from './norm.js';
import { Linear } from './linear.js';
import { activation } from './activations.js';

export interface ResnetBlock2DOptions {
  inChannels: number;
  outChannels?: number;
  /** Size of the time embedding; undefined = no time_emb_proj (VAE). */
  tembChannels?: number;
  groups: number;
  /** groups of norm2 (defaults to `groups`). */
  groupsOut?: number;
  eps: number;
  act?: string;
  outputScaleFactor?: number;
}

/** diffusers ResnetBlock2D (keys norm1, conv1, time_emb_proj, norm2, conv2, conv_shortcut). */
export class ResnetBlock2D extends Module {
  readonly norm1: GroupNorm;
  readonly conv1: Conv2d;
  readonly timeEmbProj?: Linear;
  readonly norm2: GroupNorm;
  readonly conv2: Conv2d;
  readonly convShortcut?: Conv2d;
  private readonly act: <T extends tf.Tensor>(x: T) => T;
  /** SiLU is fused into the group norms before the convolutions. */
  private readonly fuseSilu: boolean;
  private readonly outputScaleFactor: number;

  constructor(o: ResnetBlock2DOptions) {
    super();
    const out = o.outChannels ?? o.inChannels;
    this.norm1 = this.addModule('norm1', new GroupNorm(o.groups, o.inChannels, o.eps));
    this.conv1 = this.addModule('conv1', new Conv2d(o.inChannels, out, 3, 1, 1));
    if (o.tembChannels !== undefined)
      this.timeEmbProj = this.addModule('time_emb_proj', new Linear(o.tembChannels, out));
    this.norm2 = this.addModule('norm2', new GroupNorm(o.groupsOut ?? o.groups, out, o.eps));
    this.conv2 = this.addModule('conv2', new Conv2d(out, out, 3, 1, 1));
    if (o.inChannels !== out) this.convShortcut = this.addModule('conv_shortcut', new Conv2d(o.inChannels, out, 1));
    this.act = activation(o.act ?? 'silu');
    this.fuseSilu = ['silu', 'swish'].includes(o.act ?? 'silu');
    this.outputScaleFactor = o.outputScaleFactor ?? 1;
  }

  /**
   * x [B, H, W, in], temb [B, tembChannels] → [B, H, W, out]. Each full-size intermediate is freed
   * as soon as the next exists (the enclosing tidy alone would keep all of them to the end): at
   * 768×768 a VAE activation is 288–576 MiB and the wasm heap holds < 4 GiB. Gradient tapes keep
   * their own references, so training is unaffected.
   */
  forward(x: tf.Tensor4D, temb?: tf.Tensor2D): tf.Tensor4D {
    return tf.tidy(() => {
      // GroupNorm + SiLU run as one kernel where the backend has it.
      const normAct = (n: GroupNorm, t: tf.Tensor4D) =>
        this.fuseSilu ? n.forward(t, { silu: true }) : this.act(n.forward(t));
      /** `next`, after disposing `prev` (an intermediate of this block, never `x`). */
      const then = <T extends tf.Tensor>(prev: tf.Tensor, next: T): T => {
        if (prev !== x && prev !== next) prev.dispose();
        return next;
      };
      const a = normAct(this.norm1, x);
      let h = then(a, this.conv1.forward(a));
      if (this.timeEmbProj) {
        if (!temb) throw new Error('ResnetBlock2D: this block needs a time embedding');
        const t = this.timeEmbProj.forward(this.act(temb));
        h = then(h, tf.add(h, tf.reshape(t, [t.shape[0], 1, 1, t.shape[1]])));
      }
      const b = then(h, normAct(this.norm2, h));
      h = then(b, this.conv2.forward(b));
      const skip = this.convShortcut ? this.convShortcut.forward(x) : x;
      const y = then(skip, then(h, tf.add(skip, h)));
      return (this.outputScaleFactor === 1 ? y : tf.div(y, this.outputScaleFactor)) as tf.Tensor4D;
    });
  }
}

/**
 * `count` ResnetBlock2Ds in sequence, as diffusers' blocks build them: the first maps inChannels →
 * outChannels, the others keep outChannels.
 */
export function resnetChain(count: number, o: ResnetBlock2DOptions & { outChannels: number }): ResnetBlock2D[] {
  return Array.from(
    { length: count },
    (_, i) => new ResnetBlock2D({ ...o, inChannels: i === 0 ? o.inChannels : o.outChannels }),
  );
}
