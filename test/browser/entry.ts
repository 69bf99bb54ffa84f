/**
 * Browser bundle for test/browser.test.ts: the library's public entry points (no Node APIs) loading the
 * tiny model over HTTP range requests and generating on the requested backend.
 */
import * as tf from '@tensorflow/tfjs-core';
import { initBrowserBackend } from '../../src/browser/index.js';
import { AttentionStore, HttpFileStore, loadPipeline, openModelDir } from '../../src/index.js';

export interface SmokeRequest {
  backend: string;
  modelUrl: string;
  wasmPaths: string;
  prompt: string;
  steps: number;
  size: number;
  seed: number;
}

export interface SmokeResult {
  backend: string;
  latents: number[];
  /** The decoded image (HWC, [0, 1]) and its size. */
  image: number[];
  width: number;
  height: number;
  crossMaps: number[];
  leakedTensors: number;
}

async function runSmoke(req: SmokeRequest): Promise<SmokeResult> {
  const b = await initBrowserBackend(req.backend, { wasmPaths: req.wasmPaths });
  const dir = await openModelDir(new HttpFileStore(req.modelUrl));
  const pipe = await loadPipeline(dir);
  await dir.close();
  const opts = {
    prompts: [req.prompt],
    steps: req.steps,
    seed: req.seed,
    height: req.size,
    width: req.size,
    scheduler: 'ddim',
  };
  await pipe.generate(opts); // warm-up: lazily built caches
  const before = tf.memory().numTensors;
  const store = new AttentionStore({ numPrompts: 1 });
  const r = await pipe.generate({ ...opts, controller: store });
  const res = req.size / 8 / 2;
  const maps = store.aggregateAttention(res, ['up', 'down'], true, 0);
  const crossMaps = Array.from(maps.dataSync());
  maps.dispose();
  store.dispose();
  const leakedTensors = tf.memory().numTensors - before;
  pipe.dispose();
  const im = r.images[0];
  return {
    backend: b.description,
    latents: Array.from(r.latents.data),
    image: Array.from(im.data),
    width: im.width,
    height: im.height,
    crossMaps,
    leakedTensors,
  };
}

(globalThis as unknown as { runSmoke: typeof runSmoke }).runSmoke = runSmoke;
