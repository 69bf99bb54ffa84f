/**
 * Writes the trained demo model as a diffusers model directory with float16 weights (the
 * standard file names, which diffusers and transformers load): written beside the target and
 * renamed into place, so an interrupted export never leaves a directory that looks complete.
 */
import { cp, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Module } from '../../nn/module.js';
import type { AutoencoderKL } from '../../models/vae/autoencoder-kl.js';
import { floatTensor, writeSafetensors, type TensorToWrite } from '../../io/safetensors.js';
import { TorchGenerator } from '../../models/random.js';
import { shapesModelIndex, shapesSchedulerConfig } from '../../shapes/configs.js';
import type { UnetStageModels } from './unet-stage.js';
import { FileByteSink } from '../file-source.js';
import { bundledTokenizerDir } from '../package-files.js';
import { writeDirAtomic } from '../atomic-write.js';

const TOKEN_EMBEDDING = 'text_model.embeddings.token_embedding.weight';

/** A module's weights as float16 tensors; `override` replaces some (shape and values). */
function moduleTensors(
  m: Module,
  override: Map<string, { shape: number[]; data: Float32Array }> = new Map(),
): TensorToWrite[] {
  return [...m.namedParams()].map(([k, p]) => {
    const o = override.get(k);
    return floatTensor(k, o?.shape ?? p.torchShape, o?.data ?? p.torchValues(), 'F16');
  });
}

async function writeWeights(path: string, tensors: TensorToWrite[]): Promise<void> {
  await writeSafetensors(await FileByteSink.create(path), tensors, { format: 'pt' });
}

const json = (v: unknown) => `${JSON.stringify(v, null, 2)}\n`;

export interface ExportInput {
  vae: AutoencoderKL;
  scalingFactor: number;
  models: UnetStageModels;
  /** Seed of the untrained token-embedding rows. */
  seed: number;
}

/** Exports the averaged weights to `outDir` (replacing it). */
export async function exportShapesModel(outDir: string, input: ExportInput): Promise<void> {
  await writeDirAtomic(
    outDir,
    async (tmp) => {
      for (const d of ['unet', 'vae', 'text_encoder', 'scheduler']) await mkdir(join(tmp, d), { recursive: true });
      const { unet, text, vocab, recipe } = input.models;
      // The bundled SD-1.5 tokenizer, padding to the text model's context length.
      await cp(bundledTokenizerDir(), join(tmp, 'tokenizer'), { recursive: true });
      const tokenizerConfig = join(tmp, 'tokenizer', 'tokenizer_config.json');
      const tc = JSON.parse(await readFile(tokenizerConfig, 'utf8')) as Record<string, unknown>;
      await writeFile(tokenizerConfig, json({ ...tc, model_max_length: text.config.maxPositionEmbeddings }));
      await writeFile(join(tmp, 'model_index.json'), json(shapesModelIndex));
      await writeFile(join(tmp, 'unet', 'config.json'), json(recipe.unet));
      await writeFile(join(tmp, 'vae', 'config.json'), json({ ...recipe.vae, scaling_factor: input.scalingFactor }));
      await writeFile(join(tmp, 'text_encoder', 'config.json'), json(recipe.text));
      await writeFile(join(tmp, 'scheduler', 'scheduler_config.json'), json(recipe.scheduler ?? shapesSchedulerConfig));
      await writeWeights(join(tmp, 'vae', 'diffusion_pytorch_model.safetensors'), moduleTensors(input.vae));
      // The averaged weights are read out (synchronously) while they are swapped in, then written.
      const averaged = input.models.withAveraged(() => {
        // The full-vocabulary token table: trained rows where the grammar's tokens are, the others as initialised.
        const d = text.config.hiddenSize;
        const vocabSize = Number(recipe.text.vocab_size);
        const full = new TorchGenerator(input.seed).randn([vocabSize, d]).map((v) => v * 0.02);
        const table = vocab.scatter(text.textModel.embeddings.tokenEmbedding.weight.torchValues(), full, d);
        const override = new Map([[TOKEN_EMBEDDING, { shape: [vocabSize, d], data: table }]]);
        return { unet: moduleTensors(unet), text: moduleTensors(text, override) };
      });
      await writeWeights(join(tmp, 'unet', 'diffusion_pytorch_model.safetensors'), averaged.unet);
      await writeWeights(join(tmp, 'text_encoder', 'model.safetensors'), averaged.text);
    },
    { replace: true },
  );
}
