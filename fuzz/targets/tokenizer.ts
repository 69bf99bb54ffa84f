/**
 * Tokenizer input: long prompts (to 10,000 characters), random Unicode (lone surrogates, combining
 * marks, emoji, right-to-left, zero-width), control characters, empty and punctuation-only text,
 * special-token literals. Every prompt must give 77 valid ids starting with BOS; a third of the
 * cases also build a Prompt-to-Prompt edit from such prompts and words (word lookup, alignment).
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ClipTokenizer } from '../../src/models/clip/tokenizer.js';
import { bundledTokenizerDir } from '../../src/node/package-files.js';
import { buildEditController, type EditMode } from '../../src/cli/edit-controller.js';
import { Violation } from '../outcome.js';
import type { Rng } from '../rng.js';
import type { FuzzTarget } from './target.js';
import { initNodeBackend } from '../../src/node/backend.js';

const WORDS = [
  'a',
  'cat',
  'dog',
  'riding',
  'bicycle',
  'photo',
  'of',
  'the',
  'hippopotamus',
  'lasagne',
  'red',
  'fluffy',
  "don't",
  'U.S.A.',
  '3.14',
  'naïve',
  'café',
  '東京',
  '🐱',
  'CAT',
  'Cat!',
  '<|startoftext|>',
  '<|endoftext|>',
  '--',
  ',',
  '...',
  'a-b_c',
  '\u200b',
  'x'.repeat(300),
];
const PIECES = [
  '\u0000',
  '\t',
  '\n',
  '\r',
  '\u0007',
  '\u001b[31m',
  '\u00ad',
  '\u0301',
  '\u202e',
  '\u200d',
  '\ufeff',
  '\ud800',
  '\udfff',
  '\u{1f600}',
  '\u{10ffff}',
  '\uffff',
  ' ',
  '  ',
  '!!!',
  '?',
  '.',
  '"',
  "'",
  '\\',
  '{}',
  '[]',
  '<',
  '>',
  '|',
];

/** A random code point, biased towards the awkward ranges. */
function codePoint(rng: Rng): string {
  const ranges: [number, number][] = [
    [0, 0x20],
    [0x20, 0x7f],
    [0x80, 0x800],
    [0x300, 0x370],
    [0x590, 0x700],
    [0x3040, 0x9fff],
    [0xd800, 0xe000],
    [0xfe00, 0xfe10],
    [0x1f300, 0x1fa00],
    [0xe0000, 0xe0080],
  ];
  const [a, b] = rng.pick(ranges);
  return String.fromCharCode(...(a + rng.int(b - a) > 0xffff ? surrogates(a + rng.int(b - a)) : [a + rng.int(b - a)]));
}

function surrogates(cp: number): number[] {
  const v = cp - 0x10000;
  return [0xd800 + (v >> 10), 0xdc00 + (v & 0x3ff)];
}

/** A hostile prompt. */
export function hostilePrompt(rng: Rng): string {
  switch (rng.int(6)) {
    case 0:
      return rng.pick([
        '',
        ' ',
        '\n\t ',
        '!!!...???',
        ',,,,',
        '<|endoftext|>',
        '<|startoftext|><|endoftext|>',
        '\u0000',
      ]);
    case 1: {
      // long: up to 10,000 characters
      const target = rng.pick([100, 1000, 5000, 10_000]);
      let s = '';
      while (s.length < target) s += `${rng.pick(WORDS)}${rng.pick([' ', '', ',', '\n'])}`;
      return s.slice(0, target);
    }
    case 2:
      return Array.from({ length: 1 + rng.int(60) }, () => codePoint(rng)).join('');
    case 3:
      return Array.from({ length: 1 + rng.int(40) }, () => rng.pick(PIECES)).join('');
    default:
      return Array.from({ length: 1 + rng.int(12) }, () =>
        rng.chance(0.15) ? rng.pick(PIECES) : rng.pick(WORDS),
      ).join(rng.pick([' ', ' ', '  ', ', ']));
  }
}

/** A word of `text` or a random one. */
function someWord(rng: Rng, text: string): string {
  const words = text.split(/\s+/).filter(Boolean);
  return words.length && rng.chance(0.7) ? rng.pick(words) : rng.pick(WORDS);
}

export const tokenizerTarget: FuzzTarget<ClipTokenizer> = {
  name: 'tokenizer',
  share: 0.25,
  async setup() {
    await initNodeBackend('wasm'); // the edit controllers hold tensors
    const dir = bundledTokenizerDir();
    return ClipTokenizer.fromFiles(
      await readFile(join(dir, 'vocab.json'), 'utf8'),
      await readFile(join(dir, 'merges.txt'), 'utf8'),
      { onTruncate: () => undefined },
    );
  },
  async run(tok, rng) {
    const prompts = Array.from({ length: 1 + rng.int(3) }, () => hostilePrompt(rng));
    const enc = tok.call(prompts);
    enc.inputIds.forEach((ids, i) => {
      if (ids.length !== 77 || ids[0] !== 49406 || !ids.includes(49407))
        throw new Violation(`prompt ${i}: ${ids.length} ids, first ${ids[0]}`);
      if (ids.some((id) => !Number.isInteger(id) || id < 0 || id >= tok.vocabSize))
        throw new Violation(`prompt ${i}: an id outside the vocabulary`);
    });
    if (typeof tok.decode(tok.encode(prompts[0])) !== 'string') throw new Violation('decode did not return text');
    if (rng.chance(0.35)) {
      // A Prompt-to-Prompt edit of these prompts: words that may or may not be in them.
      const [source, ...rest] = prompts;
      const built = buildEditController(
        tok,
        {
          source,
          targets: rest,
          mode: rng.chance(0.3) ? rng.pick<EditMode>(['replace', 'refine', 'reweight']) : undefined,
          cross: rng.chance(0.8)
            ? rng.next()
            : { default_: rng.next(), [someWord(rng, rest[0] ?? source)]: rng.next() },
          self: rng.next(),
          blend: rng.chance(0.4) ? [someWord(rng, source), someWord(rng, rest[0] ?? source)] : undefined,
          reweight: rng.chance(0.4)
            ? [{ word: someWord(rng, source), value: rng.pick([2, -1, 0, 1e6, -3.5]) }]
            : undefined,
        },
        () => undefined,
      );
      built.controller.dispose();
    }
  },
};
