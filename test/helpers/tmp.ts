/** Temporary directories under os.tmpdir(), removed after the suite. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Creates a fresh temp dir now and registers its removal in an `after` hook of the current suite. */
export function tempDirForSuite(prefix: string): () => string {
  let dir: string | undefined;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), `ptp-${prefix}-`));
  });
  after(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });
  return () => {
    if (!dir) throw new Error('temp dir used outside the suite');
    return dir;
  };
}

/** Raw safetensors bytes from a header (object or literal JSON text) and a data section. */
export function rawSafetensors(
  header: object | string,
  data: Uint8Array = new Uint8Array(0),
  headerLength?: number,
): Uint8Array {
  const text = new TextEncoder().encode(typeof header === 'string' ? header : JSON.stringify(header));
  const out = new Uint8Array(8 + text.byteLength + data.byteLength);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerLength ?? text.byteLength), true);
  out.set(text, 8);
  out.set(data, 8 + text.byteLength);
  return out;
}
