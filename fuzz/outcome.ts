/**
 * What one fuzz case did: `ok` (a result), `clean_error`, `crash` or `hang` (no answer within the
 * time limit; decided by the parent). Errors are classified by their type and origin:
 *  - our typed errors (UsageError, EditSpecError, ModelDirError, SafetensorsError,
 *    ConvertOptionError, Interrupted) are clean: they exist to say what is wrong with the input;
 *  - JavaScript engine errors (TypeError, RangeError, ...) are crashes wherever they come from:
 *    a value our code did not expect;
 *  - a plain Error is a deliberate decision by origin, read from the first frame of its stack:
 *    thrown by the repository's own code (src/, weights-tools/) it is a check of ours naming the
 *    fault (`throw new Error('<file>: ...')`, the project's convention) and clean; thrown from
 *    anywhere else — tfjs (its shape assertions are plain Errors), another package, Node's
 *    internals — it is a crash, because our checks should have refused the input first;
 *  - Node's system errors (an `errno` code and a `syscall`, e.g. ENOENT, EACCES, EISDIR) are
 *    clean when they carry the path at fault (the message names it), crashes otherwise;
 *  - and, whatever the type: a non-Error throw, an empty message, or one that says "undefined"
 *    or "[object Object]" (a value went missing inside our code) is a crash, as is a Violation
 *    (a failed invariant of the fuzz itself: a wrong result, a read outside the file).
 */
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export type Outcome = 'ok' | 'clean_error' | 'crash' | 'hang';

export interface CaseReport {
  target: string;
  index: number;
  outcome: Outcome;
  /** Why it is a crash or a hang (first line), or the error message of a clean error. */
  detail?: string;
  /** How far an `ok` case got (e.g. "sampled"), counted per target. */
  reached?: string;
  /** Time the case took. */
  ms?: number;
}

const ENGINE_ERRORS = new Set([
  'TypeError',
  'RangeError',
  'ReferenceError',
  'SyntaxError',
  'EvalError',
  'URIError',
  'AggregateError',
  'InternalError',
]);

/** Error classes of ours whose purpose is to reject input (by name: the fuzz must not need their modules). */
export const TYPED_ERRORS = new Set([
  'UsageError',
  'EditSpecError',
  'ModelDirError',
  'SafetensorsError',
  'ConvertOptionError',
  'Interrupted',
]);

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const OWN_CODE = [
  join(ROOT, 'src') + '/',
  join(ROOT, 'weights-tools') + '/',
  join(ROOT, 'dist', 'src') + '/',
  join(ROOT, 'dist', 'weights-tools') + '/',
];

/** A failed invariant of the fuzz itself (a wrong result, a read outside the file): always a crash. */
export class Violation extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'Violation';
  }
}

/** The file of the first stack frame of `e` (where it was constructed), or undefined. */
export function thrownFrom(e: Error): string | undefined {
  const frame = (e.stack ?? '').split('\n').find((l) => /^\s+at /.test(l));
  if (!frame) return undefined;
  const m = /\(?((?:file:\/\/)?\/[^():]+|node:[^():]+):\d+:\d+\)?\s*$/.exec(frame);
  if (!m) return undefined;
  return m[1].startsWith('file://') ? fileURLToPath(m[1]) : m[1];
}

/** Whether `file` is the repository's own library code (not node_modules, not the fuzz or the tests). */
export function isOwnCode(file: string | undefined): boolean {
  return !!file && !file.includes('/node_modules/') && OWN_CODE.some((d) => file.startsWith(d));
}

/** Classifies what a case threw. */
export function classify(e: unknown): { outcome: Outcome; detail: string } {
  if (!(e instanceof Error)) return { outcome: 'crash', detail: `non-Error thrown: ${String(e).slice(0, 200)}` };
  const first = e.message.split('\n')[0].slice(0, 300);
  const crash = (why: string) => ({ outcome: 'crash' as const, detail: `${why}: ${first}` });
  if (e instanceof Violation) return crash('violation');
  if (ENGINE_ERRORS.has(e.name) || ENGINE_ERRORS.has(e.constructor.name)) return crash(e.name);
  if (!e.message.trim()) return { outcome: 'crash', detail: `${e.name} with an empty message` };
  // "undefined" outside quotes means a value went missing inside our code, not the user's input.
  if (/\[object Object\]|(?<!["'])\bundefined\b(?!["'])/.test(e.message)) return crash('unhelpful message');
  if (TYPED_ERRORS.has(e.name)) return { outcome: 'clean_error', detail: first };
  const sys = e as NodeJS.ErrnoException;
  if (typeof sys.code === 'string' && typeof sys.syscall === 'string') {
    return sys.path && e.message.includes(sys.path)
      ? { outcome: 'clean_error', detail: first }
      : crash(`system error ${sys.code} without a path`);
  }
  if (e.name !== 'Error') return crash(`${e.name} (not an error type of ours)`);
  const from = thrownFrom(e);
  if (isOwnCode(from)) return { outcome: 'clean_error', detail: first };
  return crash(`plain Error thrown outside our code (${from ? from.replace(`${ROOT}/`, '') : 'no stack'})`);
}
