/**
 * Throughput of the shapes world: scene sampling, rendering at 64 and 128 px, and the analysis the
 * quality report runs (segmentation + shape test). Ends with one JSON line.
 *
 *   npx tsx bench/world.ts [--scenes=N]      (or `node dist/bench/world.js` after `npm run build`)
 */
import { Rng, sampleScene, renderScene, checkGeneration, captionOf, type Scene } from '../src/shapes/world/index.js';

const arg = (name: string) => process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1];
const count = Number(arg('scenes') ?? 2000);

/** Milliseconds per call of `f` over `items` (best of three passes, after one warm-up pass). */
function msPer<T>(items: T[], f: (x: T) => unknown): number {
  let best = Infinity;
  for (let pass = 0; pass < 4; pass++) {
    const t0 = performance.now();
    for (const x of items) f(x);
    const ms = (performance.now() - t0) / items.length;
    if (pass > 0) best = Math.min(best, ms);
  }
  return best;
}

const rng = new Rng(2024);
const scenes: Scene[] = Array.from({ length: count }, () => sampleScene(rng));
const figures: Record<string, number> = {
  sample_ms: msPer(scenes, () => sampleScene(rng)),
  render64_ms: msPer(scenes, (s) => renderScene(s, 64)),
  render128_ms: msPer(scenes, (s) => renderScene(s, 128)),
};
const few = scenes.slice(0, Math.min(200, count));
const images64 = few.map((s) => ({ image: renderScene(s, 64), caption: captionOf(s) }));
const images128 = few.map((s) => ({ image: renderScene(s, 128), caption: captionOf(s) }));
figures.check64_ms = msPer(images64, (x) => checkGeneration(x.image, x.caption));
figures.check128_ms = msPer(images128, (x) => checkGeneration(x.image, x.caption));

console.log(`shapes world, ${count} scenes (half with two objects):`);
for (const [k, v] of Object.entries(figures))
  console.log(`  ${k.padEnd(14)} ${v.toFixed(4)} ms  (${Math.round(1000 / v).toLocaleString('en')} /s)`);
console.log(`  render128 / render64: ${(figures.render128_ms / figures.render64_ms).toFixed(2)}×`);
console.log(
  JSON.stringify({ world: Object.fromEntries(Object.entries(figures).map(([k, v]) => [k, Number(v.toFixed(5))])) }),
);
