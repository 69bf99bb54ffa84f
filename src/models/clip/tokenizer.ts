/**
 * CLIP's BPE tokenizer with the exact behaviour of transformers' `CLIPTokenizer` (the slow Python
 * tokenizer diffusers pipelines use, with ftfy): prompt cleaning (see text-clean.ts), CLIP's word
 * pattern, byte-level BPE with `</w>` word ends, BOS/EOS, truncation and padding to the model's
 * text context length (`modelMaxLength`: tokenizer_config.json `model_max_length`, 77 for SD's CLIP).
 * Platform-neutral: built from the text of vocab.json and merges.txt.
 */
import { log } from '../../util/log.js';
import { Bpe, parseMerges } from './bpe.js';
import { byteSymbolsToText, textToByteSymbols } from './byte-encoder.js';
import { END_OF_TEXT, specialTokenPattern, splitSpecialTokens, splitWords, START_OF_TEXT } from './pretokenize.js';
import { cleanText, pythonStrip } from './text-clean.js';

/**
 * Text context length of a tokenizer whose config has no `model_max_length` (CLIP's 77, as
 * transformers). A model's own length is its tokenizer's `modelMaxLength`.
 */
export const DEFAULT_MODEL_MAX_LENGTH = 77;

/** The tokenizer calls Prompt-to-Prompt needs (HF `CLIPTokenizer` semantics), and the context length. */
export interface PromptTokenizer {
  /**
   * Length of the text encoder's token sequence: every prompt is padded or truncated to it, and the
   * cross-attention has this many keys (77 for SD; a model may use fewer, e.g. 16).
   */
  readonly modelMaxLength: number;
  /** BOS + token ids + EOS, unpadded. */
  encode(text: string): number[];
  /** Text of the given ids; for a single id, that token's text without the end-of-word marker. */
  decode(ids: number[]): string;
}

/** What was cut from one prompt by truncation. */
export interface TruncationInfo {
  /** Index of the prompt in the batch. */
  index: number;
  prompt: string;
  /** Tokens the prompt needs, BOS and EOS included. */
  numTokens: number;
  maxLength: number;
  /** Number of prompt tokens dropped. */
  dropped: number;
  /** Decoded text of the dropped tokens. */
  droppedText: string;
}

export type TruncationHandler = (info: TruncationInfo) => void;

export interface ClipTokenizerOptions {
  /** Sequence length of the text model, an integer ≥ 2 (default `DEFAULT_MODEL_MAX_LENGTH`, 77). */
  modelMaxLength?: number;
  /**
   * The padding token (default `<|endoftext|>`, SD-1). SD-2 pads with `!` (id 0); a pad token that is
   * not BOS/EOS is a special token, so each `!` in a prompt becomes that token too, as in transformers.
   */
  padToken?: string;
  /** Called for each truncated prompt; default: a warning through the library log. */
  onTruncate?: TruncationHandler;
}

export interface ClipCallOptions {
  /** Default: the tokenizer's `modelMaxLength`. */
  maxLength?: number;
  /** 'max_length' (default) pads with the pad token (`<|endoftext|>`, SD-2: `!`) to `maxLength`. */
  padding?: 'max_length' | 'none';
  /** Default true: cut the prompt tokens so that BOS + tokens + EOS fit in `maxLength`. */
  truncation?: boolean;
  /** Overrides the tokenizer's truncation handler for this call. */
  onTruncate?: TruncationHandler;
}

export interface ClipEncoding {
  inputIds: number[][];
  /** 1 for BOS, prompt tokens and EOS; 0 for padding. */
  attentionMask: number[][];
  /** Whether each prompt was truncated. */
  truncated: boolean[];
}

const abbreviate = (s: string, n: number) => (s.length > n ? `${s.slice(0, n - 1)}…` : s);

/** Default truncation report: a warning through the library log. */
const warnTruncated: TruncationHandler = (t) =>
  log.warn(
    `prompt ${t.index} "${abbreviate(t.prompt, 100)}" needs ${t.numTokens} tokens but CLIP takes ${t.maxLength}: ` +
      `${t.dropped} token${t.dropped === 1 ? ' was' : 's were'} dropped: "${abbreviate(t.droppedText, 200)}"`,
  );

export class ClipTokenizer implements PromptTokenizer {
  readonly bosTokenId: number;
  readonly eosTokenId: number;
  /** CLIP pads with `<|endoftext|>` (SD-1); SD-2's tokenizer pads with `!` (id 0). */
  readonly padTokenId: number;
  /** Text of the pad token. */
  readonly padToken: string;
  /** Unknown tokens map to `<|endoftext|>` (never happens with the full byte alphabet). */
  readonly unkTokenId: number;
  /** Padded length of every encoded prompt (`PromptTokenizer.modelMaxLength`). */
  readonly modelMaxLength: number;
  private readonly decoder = new Map<number, string>();
  private readonly bpe: Bpe;
  private readonly onTruncate: TruncationHandler;
  /** Splits prompts around the special tokens (BOS, EOS, pad). */
  private readonly specialPattern: RegExp;

  /** From the text of vocab.json and merges.txt. */
  static fromFiles(vocabJsonText: string, mergesText: string, opts?: ClipTokenizerOptions): ClipTokenizer {
    let vocab: unknown;
    try {
      vocab = JSON.parse(vocabJsonText);
    } catch (e) {
      throw new Error(`vocab.json: invalid JSON (${(e as Error).message})`);
    }
    if (typeof vocab !== 'object' || vocab === null || Array.isArray(vocab)) throw new Error('vocab.json: expected an object of token → id');
    return ClipTokenizer.fromVocab(vocab as Record<string, number>, mergesText, opts);
  }

  /** From a parsed vocab.json (token → id) and the text of merges.txt. */
  static fromVocab(vocab: Readonly<Record<string, number>>, mergesText: string, opts?: ClipTokenizerOptions): ClipTokenizer {
    const map = new Map<string, number>();
    for (const [token, id] of Object.entries(vocab)) {
      if (!Number.isInteger(id) || id < 0) throw new Error(`vocab.json: id of "${token}" is not a non-negative integer: ${String(id)}`);
      map.set(token, id);
    }
    return new ClipTokenizer(map, parseMerges(mergesText), opts);
  }

  constructor(private readonly encoder: ReadonlyMap<string, number>, merges: readonly (readonly [string, string])[], opts: ClipTokenizerOptions = {}) {
    for (const [token, id] of encoder) this.decoder.set(id, token);
    const special = (t: string) => {
      const id = encoder.get(t);
      if (id === undefined) throw new Error(`vocab.json has no "${t}" token`);
      return id;
    };
    this.bosTokenId = special(START_OF_TEXT);
    this.eosTokenId = special(END_OF_TEXT);
    this.padToken = opts.padToken ?? END_OF_TEXT;
    this.padTokenId = special(this.padToken);
    this.unkTokenId = this.eosTokenId;
    this.specialPattern = specialTokenPattern([START_OF_TEXT, END_OF_TEXT, this.padToken]);
    this.modelMaxLength = opts.modelMaxLength ?? DEFAULT_MODEL_MAX_LENGTH;
    if (!Number.isInteger(this.modelMaxLength) || this.modelMaxLength < 2) {
      throw new Error(`modelMaxLength must be an integer ≥ 2 (BOS and EOS), got ${this.modelMaxLength}`);
    }
    this.onTruncate = opts.onTruncate ?? warnTruncated;
    this.bpe = new Bpe(merges);
  }

  /** Number of entries in vocab.json (49408 for CLIP). */
  get vocabSize(): number {
    return this.encoder.size;
  }

  /** The BPE pieces of a prompt (no BOS/EOS), e.g. ["a</w>", "photo</w>"]. */
  tokenize(text: string): string[] {
    const out: string[] = [];
    for (const piece of splitSpecialTokens(text, this.specialPattern)) {
      if (piece.special) {
        out.push(piece.text);
        continue;
      }
      for (const word of splitWords(cleanText(piece.text))) out.push(...this.bpe.encodeWord(textToByteSymbols(word)));
    }
    return out;
  }

  /** Id of a vocabulary token (the unknown-token id if absent). */
  tokenToId(token: string): number {
    return this.encoder.get(token) ?? this.unkTokenId;
  }

  /** Vocabulary token of an id; throws for an id outside the vocabulary. */
  idToToken(id: number): string {
    const t = this.decoder.get(id);
    if (t === undefined) throw new Error(`token id ${id} is not in the vocabulary (${this.vocabSize} tokens)`);
    return t;
  }

  /** BOS + token ids + EOS, without padding or truncation (transformers `tokenizer.encode`). */
  encode(text: string): number[] {
    return [this.bosTokenId, ...this.tokenize(text).map((t) => this.tokenToId(t)), this.eosTokenId];
  }

  /**
   * Text of `ids`: the tokens' bytes joined and decoded as UTF-8 (invalid sequences → U+FFFD),
   * `</w>` → space, stripped. Special tokens (BOS, EOS, pad) are kept unless `skipSpecialTokens`. A single id gives
   * that token's text ("photo</w>" → "photo").
   */
  decode(ids: readonly number[], opts: { skipSpecialTokens?: boolean } = {}): string {
    let symbols = '';
    for (const id of ids) {
      if (opts.skipSpecialTokens && (id === this.bosTokenId || id === this.eosTokenId || id === this.padTokenId)) continue;
      symbols += this.idToToken(id);
    }
    return pythonStrip(byteSymbolsToText(symbols).replaceAll('</w>', ' '));
  }

  /**
   * Batch encoding as `tokenizer(texts, padding="max_length", max_length=tokenizer.model_max_length, truncation=True)`:
   * over-long prompts keep their first `maxLength − 2` tokens between BOS and EOS, and each
   * truncation is reported (`onTruncate`).
   */
  call(texts: readonly string[], opts: ClipCallOptions = {}): ClipEncoding {
    const maxLength = opts.maxLength ?? this.modelMaxLength;
    const padding = opts.padding ?? 'max_length';
    const truncation = opts.truncation ?? true;
    const report = opts.onTruncate ?? this.onTruncate;
    if (!Number.isInteger(maxLength) || maxLength < 2) throw new Error(`maxLength must be an integer ≥ 2 (BOS and EOS), got ${maxLength}`);
    const out: ClipEncoding = { inputIds: [], attentionMask: [], truncated: [] };
    texts.forEach((text, index) => {
      let body = this.encode(text).slice(1, -1);
      const cut = truncation && body.length + 2 > maxLength;
      if (cut) {
        const keep = maxLength - 2;
        report({ index, prompt: text, numTokens: body.length + 2, maxLength, dropped: body.length - keep, droppedText: this.decode(body.slice(keep)) });
        body = body.slice(0, keep);
      }
      const ids = [this.bosTokenId, ...body, this.eosTokenId];
      const mask = ids.map(() => 1);
      if (padding === 'max_length') {
        while (ids.length < maxLength) {
          ids.push(this.padTokenId);
          mask.push(0);
        }
      }
      out.inputIds.push(ids);
      out.attentionMask.push(mask);
      out.truncated.push(cut);
    });
    return out;
  }
}
