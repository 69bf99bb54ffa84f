/**
 * bench/onnx: the UNet exported as ONNX (our protobuf writer, our graph of the model) and run by
 * onnxruntime-node computes what our UNet computes on the same weights, so the bench's live
 * onnxruntime figure times the same step.
 */
import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'chai';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UNet2DConditionModel } from '../src/models/unet/unet.js';
import { randomizeWeights } from '../bench/models.js';
import { exportUNet } from '../bench/onnx/unet.js';
import { loadOrt, ortSession, type Ort } from '../bench/onnx/ort.js';
import { ProtoWriter } from '../bench/onnx/proto.js';
import { describeNeeding } from './helpers/requirement.js';

const ort = await loadOrt();

/** A small SD-shaped UNet: cross-attention down/up blocks, a plain block, the mid block. */
function smallUNet(linearProjection: boolean): UNet2DConditionModel {
  return UNet2DConditionModel.fromConfig({
    in_channels: 4,
    out_channels: 4,
    block_out_channels: [32, 64],
    down_block_types: ['CrossAttnDownBlock2D', 'DownBlock2D'],
    up_block_types: ['UpBlock2D', 'CrossAttnUpBlock2D'],
    layers_per_block: 1,
    attention_head_dim: linearProjection ? [4, 8] : 4,
    cross_attention_dim: 24,
    norm_num_groups: 8,
    use_linear_projection: linearProjection,
    mid_block_scale_factor: linearProjection ? 1 : 2,
  });
}

describe('ONNX protobuf writer', () => {
  it('encodes varints (negative int64 as ten bytes), floats, strings and nested messages', () => {
    const inner = new ProtoWriter().int(1, 300);
    const bytes = new ProtoWriter().int(1, 1).int(2, -1).float(3, 1.5).string(4, 'ab').message(5, inner).finish();
    expect(Array.from(bytes)).to.deep.equal([
      0x08, 0x01, 0x10, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0x1d, 0x00, 0x00, 0xc0, 0x3f, 0x22,
      0x02, 0x61, 0x62, 0x2a, 0x03, 0x08, 0xac, 0x02,
    ]);
    expect(() => new ProtoWriter().int(1, 0.5)).to.throw(/integer/);
  });
});

describeNeeding(
  'UNet exported to ONNX, run by onnxruntime-node',
  'reason' in ort ? ort.reason : undefined,
  'PTP_REQUIRE_ORT',
  () => {
    const rt = ort as Ort;
    for (const linear of [false, true]) {
      it(`equals our UNet's output (${linear ? 'linear projections, per-block heads' : '1×1 conv projections, mid-block scale 2'})`, async function () {
        this.timeout(120000);
        const m = smallUNet(linear);
        const dir = mkdtempSync(join(tmpdir(), 'ptp-onnx-'));
        try {
          randomizeWeights(m);
          const [b, size, tokens] = [2, 16, 5];
          const sample = tf.randomNormal([b, size, size, 4], 0, 1, 'float32', 7) as tf.Tensor4D;
          const context = tf.randomNormal([b, tokens, 24], 0, 1, 'float32', 8) as tf.Tensor3D;
          const steps = [999, 261];
          const ours = tf.tidy(() => tf.transpose(m.forward(sample, steps, context), [0, 3, 1, 2]));
          const expected = ours.dataSync() as Float32Array;
          const path = join(dir, 'unet.onnx');
          exportUNet(m, { batch: b, size, tokens }).save(path);
          const session = await ortSession(rt, path, 1);
          const sampleNchw = tf.tidy(() => tf.transpose(sample, [0, 3, 1, 2]));
          const out = await session.run({
            sample: new rt.Tensor('float32', sampleNchw.dataSync() as Float32Array, [b, 4, size, size]),
            timestep: new rt.Tensor('float32', Float32Array.from(steps), [b]),
            encoder_hidden_states: new rt.Tensor('float32', context.dataSync() as Float32Array, [b, tokens, 24]),
          });
          await session.release();
          const got = out.out_sample;
          expect(got.dims).to.deep.equal([b, 4, size, size]);
          let maxDiff = 0;
          let maxRef = 0;
          for (let i = 0; i < expected.length; i++) {
            maxDiff = Math.max(maxDiff, Math.abs(got.data[i] - expected[i]));
            maxRef = Math.max(maxRef, Math.abs(expected[i]));
          }
          tf.dispose([sample, context, ours, sampleNchw]);
          // Two fp32 evaluations of the same function in different orders: measured 1.3–1.6e-6 of the
          // largest output; a GELU constant off by 2e-4 (0.5001) gives 3.6e-5.
          expect(maxRef).to.be.greaterThan(0.1);
          expect(maxDiff).to.be.lessThan(1e-5 * maxRef);
        } finally {
          m.dispose();
          rmSync(dir, { recursive: true, force: true });
        }
      });
    }
  },
);
