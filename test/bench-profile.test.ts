/**
 * bench/profile: the per-layer-type breakdown counts each kernel once. tf.profile also records the
 * scopes around kernels (ops, custom gradients such as the fused attention's "unnamed scope") with
 * the time of the kernels inside them; counted, they made the attention's time show up a second
 * time as "other".
 */
import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'chai';
import { kernelRecords, profileBreakdown } from '../bench/profile.js';
import { fusedAttention } from '../src/backend/attention-ops.js';

describe('bench profile breakdown', function () {
  this.timeout(60_000);

  const attention = () =>
    tf.tidy(() => {
      const q = tf.randomNormal([1, 64, 32], 0, 1, 'float32', 1) as tf.Tensor3D;
      const k = tf.randomNormal([1, 64, 32], 0, 1, 'float32', 2) as tf.Tensor3D;
      return fusedAttention(q, k, k, { heads: 2 });
    });

  it('leaves out the scope records that tf.profile writes around kernels', async () => {
    const info = await tf.profile(() => attention());
    tf.dispose(info.result as tf.Tensor);
    const names = info.kernels.map((k) => k.name);
    const leaves = kernelRecords(info).map((k) => k.name);
    // The custom gradient's scope is recorded (that is what was double counted) and dropped.
    expect(names.some((n) => tf.getKernel(n, tf.getBackend()) === undefined)).to.equal(true);
    expect(leaves).to.include('PtpFusedAttention');
    expect(leaves.every((n) => tf.getKernel(n, tf.getBackend()) !== undefined)).to.equal(true);
  });

  it('sums kernel time within the wall time and counts the attention once', async () => {
    const b = await profileBreakdown(() => attention());
    expect(b.types.attention.calls).to.equal(1);
    expect(b.otherTop.map((o) => o.name)).not.to.include('unnamed scope');
    expect(b.kernelMs).to.be.at.most(b.wallMs);
    expect(b.otherWasmMs).to.be.at.most(b.types.other.ms + 1e-9);
    expect(b.otherNotNative.every((o) => o.where !== 'native')).to.equal(true);
    expect(b.otherNotNative.reduce((a, o) => a + o.ms, 0)).to.be.closeTo(b.otherWasmMs, 1e-9);
  });
});
