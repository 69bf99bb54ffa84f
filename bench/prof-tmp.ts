import * as tf from '@tensorflow/tfjs-core';
import { readFileSync } from 'node:fs';
import { initNodeBackend } from '../src/node/backend.js';
import { UNet2DConditionModel } from '../src/models/unet/unet.js';
import { AutoencoderKL } from '../src/models/vae/autoencoder-kl.js';
import { randomizeWeights } from '../bench/models.js';
await initNodeBackend(process.env.PTP_BACKEND ?? 'native');
const sd = '/work/shared/reference/sd15-config';
const which = process.argv[2] ?? 'unet';
let run: () => tf.Tensor;
if (which === 'unet') {
  const m = new UNet2DConditionModel(JSON.parse(readFileSync(`${sd}/unet/config.json`, 'utf8')));
  m.setResidency((process.argv[3] ?? 'stream') as 'stream'); randomizeWeights(m);
  const x = tf.randomNormal([2, 64, 64, 4]) as tf.Tensor4D; const c = tf.randomNormal([2, 77, 768]) as tf.Tensor3D;
  run = () => m.forward(x, 999, c);
} else {
  const m = AutoencoderKL.fromConfigJson(JSON.parse(readFileSync(`${sd}/vae/config.json`, 'utf8')), { encoder: false }); randomizeWeights(m);
  const z = tf.randomNormal([1, 64, 64, 4]) as tf.Tensor4D; run = () => m.decode(z);
}
tf.dispose(run());
for (let r = 0; r < Number(process.argv[4] ?? 1); r++) { const t0 = performance.now(); tf.dispose(run()); console.log('wall', ((performance.now() - t0) / 1000).toFixed(2), 's'); }
const info = await tf.profile(() => run());
tf.dispose(info.result as tf.Tensor);
const agg = new Map<string, { ms: number; n: number }>();
let total = 0;
for (const k of info.kernels) { if (k.name.endsWith('__op')) continue; const ms = Number(k.kernelTimeMs) || 0; total += ms; const key = k.name; const a = agg.get(key) ?? { ms: 0, n: 0 }; a.ms += ms; a.n++; agg.set(key, a); }
console.log('kernel total', total.toFixed(0), 'ms');
for (const [k, a] of [...agg].sort((x, y) => y[1].ms - x[1].ms).slice(0, 25)) console.log(k.padEnd(28), a.ms.toFixed(0).padStart(7), 'ms', String(a.n).padStart(5));
process.exit(0);
