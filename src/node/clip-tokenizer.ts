/** Loading the CLIP tokenizer from a diffusers `tokenizer/` folder on disk. */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ClipTokenizer, type ClipTokenizerOptions } from '../models/clip/tokenizer.js';
import { tokenizerOptionsFromFiles } from '../models/clip/tokenizer-config.js';
import type { JsonObject } from '../io/config.js';

async function readText(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (e) {
    throw new Error(`cannot read the CLIP tokenizer file ${path}: ${(e as Error).message}`);
  }
}

/** An optional JSON object file: undefined when absent; an error naming the file when broken. */
async function readOptionalJson(path: string): Promise<JsonObject | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    return undefined;
  }
  try {
    const v: unknown = JSON.parse(text);
    if (typeof v === 'object' && v !== null && !Array.isArray(v)) return v as JsonObject;
  } catch (e) {
    throw new Error(`${path}: invalid JSON (${(e as Error).message})`);
  }
  throw new Error(`${path}: not a JSON object`);
}

/**
 * Reads `vocab.json` and `merges.txt` from `dir`, and the settings of tokenizer_config.json and
 * special_tokens_map.json when present (`model_max_length`; the pad token, `!` for SD-2);
 * `opts` overrides them.
 */
export async function loadClipTokenizer(dir: string, opts: ClipTokenizerOptions = {}): Promise<ClipTokenizer> {
  const [vocab, merges, config, special] = await Promise.all([
    readText(join(dir, 'vocab.json')),
    readText(join(dir, 'merges.txt')),
    readOptionalJson(join(dir, 'tokenizer_config.json')),
    readOptionalJson(join(dir, 'special_tokens_map.json')),
  ]);
  try {
    return ClipTokenizer.fromFiles(vocab, merges, { ...tokenizerOptionsFromFiles(config, special), ...opts });
  } catch (e) {
    throw new Error(`${dir}: ${(e as Error).message}`);
  }
}
