/** Loading the CLIP tokenizer from a diffusers `tokenizer/` folder on disk. */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ClipTokenizer, type ClipTokenizerOptions } from '../models/clip/tokenizer.js';

async function readText(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (e) {
    throw new Error(`cannot read the CLIP tokenizer file ${path}: ${(e as Error).message}`);
  }
}

/**
 * Reads `vocab.json` and `merges.txt` from `dir`; `model_max_length` of tokenizer_config.json (when
 * present and sensible) sets the sequence length unless `opts.modelMaxLength` is given.
 */
export async function loadClipTokenizer(dir: string, opts: ClipTokenizerOptions = {}): Promise<ClipTokenizer> {
  const [vocab, merges] = await Promise.all([readText(join(dir, 'vocab.json')), readText(join(dir, 'merges.txt'))]);
  let modelMaxLength = opts.modelMaxLength;
  if (modelMaxLength === undefined) {
    const cfg = await readFile(join(dir, 'tokenizer_config.json'), 'utf8').then((t) => JSON.parse(t) as Record<string, unknown>, () => undefined);
    const m = cfg?.model_max_length;
    if (typeof m === 'number' && Number.isInteger(m) && m >= 2 && m <= 1_000_000) modelMaxLength = m;
  }
  try {
    return ClipTokenizer.fromFiles(vocab, merges, { ...opts, modelMaxLength });
  } catch (e) {
    throw new Error(`${dir}: ${(e as Error).message}`);
  }
}
