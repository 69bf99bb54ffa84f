/**
 * How well real images are reconstructed and edited: rendered scenes of the shapes world (images
 * the model did not generate) are inverted with their captions; each is reconstructed by guided
 * sampling (guidance 7.5) from plain DDIM inversion (the unconditional embedding of "") and from
 * null-text inversion (the optimised per-step embeddings), and the PSNR of both against the input
 * is reported next to the VAE round trip (the ceiling). Then the first object's colour is swapped
 * by a Prompt-to-Prompt edit of the null-text inversion (Replace + LocalBlend on the shape word),
 * scored by the world's measures: the edit shows the new caption, the rest of the image changes
 * little. PNGs (input | VAE | DDIM | null-text | edit, and the input alone) go to --out; ends with
 * one JSON line. (examples/shapes-scene.png is input-0.png of the default run.)
 *
 *   npm run quality:inversion -- [--model=<dir>, default the shipped models/shapes] [--scenes=4] [--steps=50] [--inner-steps=10]
 *                                [--size=N] [--seed=1] [--out=inversion-quality] [--backend=auto]
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { initNodeBackend } from '../src/node/backend.js';
import { loadPipelineFromDirectory } from '../src/node/pipeline.js';
import { writePng } from '../src/node/png.js';
import { demoModelDir } from '../src/node/package-files.js';
import { nchwToNhwc, type HostTensor } from '../src/pipeline/host-tensor.js';
import type { StableDiffusionPipeline } from '../src/pipeline/pipeline.js';
import { AttentionReplace } from '../src/ptp/replace.js';
import { LocalBlend } from '../src/ptp/local-blend.js';
import { psnr, sideBySide, toFloatImage, toRgbImage, type RgbImage } from '../src/util/image.js';
import {
  COLOURS,
  Rng,
  captionOf,
  checkGeneration,
  meanAbsChangeOutside,
  objectMask,
  renderScene,
  sampleScene,
  type Scene,
} from '../src/shapes/world/index.js';

const arg = (name: string) =>
  process.argv
    .find((a) => a.startsWith(`--${name}=`))
    ?.split('=')
    .slice(1)
    .join('=');
const model = arg('model') ?? demoModelDir();
const scenes = Number(arg('scenes') ?? 4);
const steps = Number(arg('steps') ?? 50);
const innerSteps = Number(arg('inner-steps') ?? 10);
const seed = Number(arg('seed') ?? 1);
const outDir = arg('out') ?? 'inversion-quality';
const guidance = 7.5;
/** An 8-bit image with plain bytes (what the world's measures take). */
type Image8 = RgbImage & { data: Uint8Array };

interface SceneResult {
  caption: string;
  psnrVae: number;
  psnrDdim: number;
  psnrNullText: number;
  edit?: { target: string; ok: boolean; changeOutside: number };
  seconds: number;
}

/** The caption with object 0 in another colour (not the background's or another object's). */
function colourSwap(scene: Scene): { scene: Scene; caption: string } {
  const used = new Set([scene.background, ...scene.objects.map((o) => o.colour)]);
  const colour = COLOURS.find((c) => !used.has(c))!;
  const swapped = { ...scene, objects: scene.objects.map((o, i) => (i === 0 ? { ...o, colour } : o)) };
  return { scene: swapped, caption: captionOf(swapped) };
}

async function reconstruct(
  pipe: StableDiffusionPipeline,
  caption: string,
  latents: HostTensor,
  uncond?: HostTensor,
): Promise<Image8> {
  const r = await pipe.generate({
    prompts: [caption],
    latents,
    uncondEmbeddings: uncond,
    steps,
    guidance,
    scheduler: 'ddim',
  });
  return toRgbImage(r.images[0]);
}

async function decode(pipe: StableDiffusionPipeline, latents: HostTensor): Promise<Image8> {
  const x = nchwToNhwc(latents);
  try {
    return toRgbImage((await pipe.decode(x))[0]);
  } finally {
    x.dispose();
  }
}

async function main(): Promise<void> {
  const backend = await initNodeBackend(arg('backend') ?? process.env.PTP_BACKEND);
  const pipe = await loadPipelineFromDirectory(model, { vaeEncoder: true });
  const size = Number(arg('size') ?? pipe.defaultSize);
  mkdirSync(outDir, { recursive: true });
  console.log(
    `inversion quality: ${model}, ${backend.description}; ${scenes} rendered scenes at ${size}², ${steps} DDIM steps, guidance ${guidance}, ≤ ${innerSteps} Adam iterations per step`,
  );
  const rng = new Rng(seed);
  const results: SceneResult[] = [];
  const t0 = performance.now();
  for (let k = 0; k < scenes; k++) {
    const t1 = performance.now();
    const scene = sampleScene(rng);
    const caption = captionOf(scene);
    const image = renderScene(scene, size);
    const inv = await pipe.invertNullText({
      image,
      prompt: caption,
      steps,
      innerSteps,
      guidance,
      scheduler: pipe.scheduler('ddim'),
    });
    const vae = await decode(pipe, inv.imageLatents);
    const ddim = await reconstruct(pipe, caption, inv.latents);
    const nullText = await reconstruct(pipe, caption, inv.latents, inv.uncondEmbeddings);
    const r: SceneResult = {
      caption,
      psnrVae: psnr(vae, image),
      psnrDdim: psnr(ddim, image),
      psnrNullText: psnr(nullText, image),
      seconds: 0,
    };
    const panels = [image, vae, ddim, nullText];
    if (k === 0 || arg('edit-all') !== undefined) {
      const swap = colourSwap(scene);
      const prompts = [caption, swap.caption];
      const tokenizer = pipe.tokenizer;
      const controller = new AttentionReplace({
        tokenizer,
        prompts,
        crossReplaceSteps: 0.8,
        selfReplaceSteps: 0.5,
        localBlend: new LocalBlend(tokenizer, prompts, [scene.objects[0].shape, scene.objects[0].shape]),
      });
      const e = await pipe.edit({
        prompts,
        latents: inv.latents,
        uncondEmbeddings: inv.uncondEmbeddings,
        steps,
        guidance,
        scheduler: 'ddim',
        controller,
      });
      controller.dispose();
      const edited = toRgbImage(e.images[1]);
      const outside = objectMask(scene, 0, size);
      r.edit = {
        target: swap.caption,
        ok: checkGeneration(edited, swap.caption).ok,
        changeOutside: meanAbsChangeOutside(image, edited, outside),
      };
      panels.push(edited);
    }
    r.seconds = (performance.now() - t1) / 1000;
    const file = join(outDir, `scene-${k}.png`);
    await writePng(file, toRgbImage(sideBySide(panels.map(toFloatImage))));
    await writePng(join(outDir, `input-${k}.png`), image);
    results.push(r);
    console.log(
      `  "${caption}": PSNR VAE ${r.psnrVae.toFixed(2)} dB, DDIM inversion ${r.psnrDdim.toFixed(2)} dB, null-text ${r.psnrNullText.toFixed(2)} dB` +
        (r.edit
          ? `; edit → "${r.edit.target}": ${r.edit.ok ? 'shows it' : 'does not show it'}, mean change outside the object ${r.edit.changeOutside.toFixed(1)}`
          : '') +
        ` (${r.seconds.toFixed(0)} s) → ${file}`,
    );
  }
  pipe.dispose();
  const mean = (f: (r: SceneResult) => number) => results.reduce((a, r) => a + f(r), 0) / results.length;
  const edits = results.filter((r) => r.edit);
  const out = {
    model,
    backend: backend.tfName,
    scenes,
    size,
    steps,
    inner_steps: innerSteps,
    guidance,
    psnr_vae_db: +mean((r) => r.psnrVae).toFixed(2),
    psnr_ddim_inversion_db: +mean((r) => r.psnrDdim).toFixed(2),
    psnr_null_text_db: +mean((r) => r.psnrNullText).toFixed(2),
    null_text_gain_db: +mean((r) => r.psnrNullText - r.psnrDdim).toFixed(2),
    edits: edits.length,
    edits_ok: edits.filter((r) => r.edit!.ok).length,
    edit_change_outside: edits.length
      ? +(edits.reduce((a, r) => a + r.edit!.changeOutside, 0) / edits.length).toFixed(2)
      : null,
    seconds: +((performance.now() - t0) / 1000).toFixed(1),
  };
  console.log(
    `mean PSNR: VAE round trip ${out.psnr_vae_db} dB, DDIM inversion ${out.psnr_ddim_inversion_db} dB, null-text inversion ${out.psnr_null_text_db} dB (${out.null_text_gain_db >= 0 ? '+' : ''}${out.null_text_gain_db} dB); colour swaps shown ${out.edits_ok}/${out.edits}`,
  );
  console.log(JSON.stringify(out));
}

await main();
process.exit(0);
