/**
 * The bundled configuration sets written by `convert` (no weights):
 *   weights-tools/sd15-config       Stable Diffusion 1.5 (PNDM, epsilon, 512)
 *   weights-tools/sd21-base-config  Stable Diffusion 2.1-base (PNDM, epsilon, 512): the diffusers repo's files
 *   weights-tools/sd21-config       Stable Diffusion 2.1 (DDIM, v_prediction, 768, upcast_attention)
 *   weights-tools/sdxl-config       Stable Diffusion XL base 1.0 (Euler leading, epsilon, 1024; two text
 *                                   encoders, text_time added conditioning, transformer depths 1/2/10)
 * The SD-2 tokenizer has SD-1.5's vocab.json and merges.txt (read from sd15-config) with its own
 * tokenizer_config.json and special_tokens_map.json (pad "!"). SD-XL's tokenizer/ is SD-1.5's and
 * its tokenizer_2/ the same vocabulary with pad "!" (SD-XL base's token settings: pad token, 77
 * tokens, lower case); its configs are SD-XL base 1.0's (the scheduler's verbatim).
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export type ConfigSet = 'sd15' | 'sd21-base' | 'sd21' | 'sdxl';

/** Every file of a config set, relative to its root. */
export const CONFIG_SET_FILES: readonly string[] = [
  'model_index.json',
  'unet/config.json',
  'vae/config.json',
  'text_encoder/config.json',
  'scheduler/scheduler_config.json',
  'tokenizer/vocab.json',
  'tokenizer/merges.txt',
  'tokenizer/tokenizer_config.json',
  'tokenizer/special_tokens_map.json',
];

/** The second text encoder and tokenizer of the SD-XL set. */
const SDXL_FILES: readonly string[] = [
  'text_encoder_2/config.json',
  'tokenizer_2/vocab.json',
  'tokenizer_2/merges.txt',
  'tokenizer_2/tokenizer_config.json',
  'tokenizer_2/special_tokens_map.json',
];

/** Every file of `set`. */
export function configSetFiles(set: ConfigSet): readonly string[] {
  return set === 'sdxl' ? [...CONFIG_SET_FILES, ...SDXL_FILES] : CONFIG_SET_FILES;
}

/** Files every set shares with sd15-config's tokenizer/ (the CLIP vocabulary). */
const SHARED = new Set([
  'tokenizer/vocab.json',
  'tokenizer/merges.txt',
  'tokenizer_2/vocab.json',
  'tokenizer_2/merges.txt',
]);

/** Folder of a bundled set, found from both the sources and the compiled dist/ tree. */
export function configSetDir(set: ConfigSet): string {
  const here = fileURLToPath(new URL('.', import.meta.url));
  const name = `${set}-config`;
  for (const dir of [join(here, name), join(here, '..', '..', 'weights-tools', name)]) {
    if (existsSync(join(dir, 'model_index.json'))) return dir;
  }
  throw new Error(`bundled ${set} configs not found next to ${here} (expected weights-tools/${name})`);
}

/** One file of a set as text. */
export function readConfigSetFile(set: ConfigSet, rel: string): Promise<string> {
  return SHARED.has(rel)
    ? readFile(join(configSetDir('sd15'), 'tokenizer', rel.split('/')[1]), 'utf8')
    : readFile(join(configSetDir(set), rel), 'utf8');
}

/** One JSON file of a set, parsed. */
export async function readConfigSetJson(set: ConfigSet, rel: string): Promise<Record<string, unknown>> {
  return JSON.parse(await readConfigSetFile(set, rel)) as Record<string, unknown>;
}
