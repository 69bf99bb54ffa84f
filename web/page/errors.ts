/** Errors as one sentence for the page, and which of them leave the worker unusable. */

/** The user pressed Cancel. */
export class CancelledError extends Error {
  constructor() {
    super('cancelled');
    this.name = 'CancelledError';
  }
}

/** The GPU context or device is gone (WebGL context lost, WebGPU device lost). */
export class GpuLostError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'GpuLostError';
  }
}

/** The chosen backend cannot run the pipeline in this browser (the worker must be replaced). */
export class BackendUnusableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BackendUnusableError';
  }
}

/** An uploaded image the page cannot use (not a PNG/JPEG, undecodable); nothing is broken. */
export class UploadError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UploadError';
  }
}

/** The model could not be loaded (nothing is broken: another URL may work). */
export class ModelLoadError extends Error {
  constructor(url: string, cause: unknown) {
    super(`Could not load the model from ${url}: ${firstLine(cause)}`);
    this.name = 'ModelLoadError';
  }
}

const OUT_OF_MEMORY =
  /out of memory|oom\b|allocation failed|failed to allocate|cannot allocate|memory access out of bounds|array buffer allocation|heap limit|budget|exhausted|failed to create texture|unable to create webgltexture|maximum call stack/i;

/** The first line of an error; when it introduces a list ("… (3 problems):"), with the list's first item. */
function firstLine(e: unknown): string {
  const text = e instanceof Error ? e.message : String(e);
  const lines = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '');
  const first = lines[0] ?? text.trim();
  return first.endsWith(':') && lines.length > 1
    ? `${first} ${lines[1].replace(/^[-*•]\s*/, '')}${lines.length > 2 ? ' …' : ''}`
    : first;
}

/** One sentence: the first line, capitalised, one trailing full stop, at most 400 characters. */
export function sentence(text: string): string {
  let s = text.replace(/\s+/g, ' ').trim();
  if (s.length > 400) s = `${s.slice(0, 399)}…`;
  s = s.charAt(0).toUpperCase() + s.slice(1);
  return /[.!?…]$/.test(s) ? s : `${s}.`;
}

/** Whether the error means the backend can no longer be trusted (a fresh worker is needed). */
export function isFatal(e: unknown): boolean {
  if (e instanceof GpuLostError || e instanceof BackendUnusableError) return true;
  if (
    e instanceof ModelLoadError ||
    e instanceof UploadError ||
    (e instanceof Error && ['EditSpecError', 'RunMemoryError'].includes(e.name))
  )
    return false;
  return OUT_OF_MEMORY.test(firstLine(e)) || !(e instanceof Error) || e.name !== 'Error';
}

/** The page's one-sentence message for an error on `backend`. */
export function describeError(e: unknown, backend: string): string {
  if (e instanceof GpuLostError)
    return sentence(`${e.message}; run again to start a fresh ${backend} backend, or choose wasm`);
  const line = firstLine(e);
  // A run refused before it started says what it needs: nothing ran out.
  if (e instanceof Error && e.name === 'RunMemoryError') return sentence(line);
  if (OUT_OF_MEMORY.test(line))
    return sentence(
      `The ${backend} backend ran out of memory (${line.replace(/[.]$/, '')}); try fewer edited prompts, or another backend`,
    );
  return sentence(line);
}
