/** The bundled Stable Diffusion 1.5 configuration files (weights-tools/sd15-config, no weights). */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Every file of the bundled config set, relative to its root. */
export const SD15_CONFIG_FILES: readonly string[] = [
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

/** Folder of the bundled configs, found from both the sources and the compiled dist/ tree. */
export function sd15ConfigDir(): string {
  const here = fileURLToPath(new URL('.', import.meta.url));
  for (const dir of [join(here, 'sd15-config'), join(here, '..', '..', 'weights-tools', 'sd15-config')]) {
    if (existsSync(join(dir, 'model_index.json'))) return dir;
  }
  throw new Error(`bundled SD-1.5 configs not found next to ${here} (expected weights-tools/sd15-config)`);
}

/** One bundled file as text. */
export function readSd15Config(rel: string): Promise<string> {
  return readFile(join(sd15ConfigDir(), rel), 'utf8');
}

/** One bundled JSON file, parsed. */
export async function readSd15Json(rel: string): Promise<Record<string, unknown>> {
  return JSON.parse(await readSd15Config(rel)) as Record<string, unknown>;
}
