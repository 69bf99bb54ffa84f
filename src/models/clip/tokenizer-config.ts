/**
 * Tokenizer settings from a diffusers `tokenizer/` folder's JSON files, resolved as transformers
 * does: `tokenizer_config.json` first, then every key of `special_tokens_map.json` overrides it
 * (SD-2's files say pad `<|endoftext|>` in the former and `!` in the latter: the pad token is `!`).
 */
import type { JsonObject } from '../../io/config.js';
import type { ClipTokenizerOptions } from './tokenizer.js';

/** A special-token entry: a string, or an AddedToken object `{ content }`. */
function tokenText(v: unknown, key: string, file: string): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'string') return v;
  if (typeof v === 'object' && typeof (v as JsonObject).content === 'string') return (v as JsonObject).content as string;
  throw new Error(`${file}: "${key}" must be a string or an object with "content", got ${JSON.stringify(v)}`);
}

/**
 * `modelMaxLength` (tokenizer_config.json `model_max_length`, when sensible) and `padToken`
 * (special_tokens_map.json over tokenizer_config.json) for `ClipTokenizer`.
 */
export function tokenizerOptionsFromFiles(config?: JsonObject, specialTokens?: JsonObject): Pick<ClipTokenizerOptions, 'modelMaxLength' | 'padToken'> {
  const out: Pick<ClipTokenizerOptions, 'modelMaxLength' | 'padToken'> = {};
  const m = config?.model_max_length;
  if (typeof m === 'number' && Number.isInteger(m) && m >= 2 && m <= 1_000_000) out.modelMaxLength = m;
  const pad =
    tokenText(specialTokens?.pad_token, 'pad_token', 'special_tokens_map.json') ?? tokenText(config?.pad_token, 'pad_token', 'tokenizer_config.json');
  if (pad !== undefined) out.padToken = pad;
  return out;
}
