/** Initial latents: seeded like PyTorch's CPU generator, or given by the caller, validated. */
import * as tf from '@tensorflow/tfjs-core';
import { TorchGenerator } from '../models/random.js';
import { nchwToNhwc, type HostTensor } from './host-tensor.js';

export interface LatentSpec {
  /** Number of latent images needed. */
  batch: number;
  channels: number;
  /** Latent height/width (image size / VAE factor). */
  height: number;
  width: number;
}

/**
 * Unit-variance initial latents as NHWC [batch, h, w, c]. From `latents` (NCHW, batch 1 is
 * broadcast to every prompt) or from `seed` (torch.randn with a CPU generator, NCHW order, so the
 * same seed gives the same image as PyTorch). `shared` draws one latent for all prompts (P2P).
 */
export function initialLatents(
  spec: LatentSpec,
  src: { latents?: HostTensor | tf.Tensor4D; seed?: number; shared?: boolean },
): tf.Tensor4D {
  const { batch, channels, height, width } = spec;
  if (src.latents) {
    const shape = [...src.latents.shape];
    const want = `[${batch === 1 ? '1' : `${batch} or 1`}, ${channels}, ${height}, ${width}]`;
    if (
      shape.length !== 4 ||
      shape[1] !== channels ||
      shape[2] !== height ||
      shape[3] !== width ||
      (shape[0] !== batch && shape[0] !== 1)
    ) {
      throw new Error(`latents have shape [${shape.join(', ')}], expected NCHW ${want}`);
    }
    return tf.tidy(() => {
      const x = nchwToNhwc(src.latents!);
      return shape[0] === batch ? x : tf.tile(x, [batch, 1, 1, 1]);
    });
  }
  const gen = new TorchGenerator(src.seed ?? Math.floor(Math.random() * 2 ** 32));
  const n = src.shared ? 1 : batch;
  const data = gen.randn([n, channels, height, width]);
  return tf.tidy(() => {
    const x = nchwToNhwc({ shape: [n, channels, height, width], data });
    return n === batch ? x : tf.tile(x, [batch, 1, 1, 1]);
  });
}
