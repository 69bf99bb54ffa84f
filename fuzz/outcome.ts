/**
 * What one fuzz case did: `ok` (a result), `clean_error` (an Error of ours with a message naming
 * what is wrong), `crash` (anything else: a JavaScript engine error such as TypeError or
 * RangeError, a non-Error throw, an empty or unhelpful message, a read outside the file, a
 * failed invariant) or `hang` (no answer within the time limit).
 */
export type Outcome = 'ok' | 'clean_error' | 'crash' | 'hang';

export interface CaseReport {
  target: string;
  index: number;
  outcome: Outcome;
  /** Why it is a crash or a hang (first line), or the error message of a clean error. */
  detail?: string;
  /** Time the case took. */
  ms?: number;
}

const ENGINE_ERRORS = new Set(['TypeError', 'RangeError', 'ReferenceError', 'SyntaxError', 'EvalError', 'URIError', 'AggregateError', 'InternalError']);

/** A failed invariant of the fuzz itself (a wrong result, a read outside the file): always a crash. */
export class Violation extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'Violation';
  }
}

/** Classifies what a case threw. */
export function classify(e: unknown): { outcome: Outcome; detail: string } {
  if (!(e instanceof Error)) return { outcome: 'crash', detail: `non-Error thrown: ${String(e).slice(0, 200)}` };
  const first = e.message.split('\n')[0].slice(0, 300);
  if (e instanceof Violation) return { outcome: 'crash', detail: `violation: ${first}` };
  if (ENGINE_ERRORS.has(e.name) || ENGINE_ERRORS.has(e.constructor.name)) return { outcome: 'crash', detail: `${e.name}: ${first}` };
  if (!e.message.trim()) return { outcome: 'crash', detail: `${e.name} with an empty message` };
  // "undefined" outside quotes means a value went missing inside our code, not the user's input.
  if (/\[object Object\]|(?<!["'])\bundefined\b(?!["'])/.test(e.message)) return { outcome: 'crash', detail: `unhelpful message: ${first}` };
  return { outcome: 'clean_error', detail: first };
}
