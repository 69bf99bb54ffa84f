/**
 * FileStore and ByteSource over HTTP(S) with `fetch` and Range requests (browsers, Node ≥ 18),
 * e.g. `new HttpFileStore('https://huggingface.co/<repo>/resolve/main/')`. Tensors are fetched
 * one range at a time, so a multi-GB file is never downloaded whole.
 */
import type { ByteSource } from './byte-source.js';
import { checkRelative, type FileStore } from './file-store.js';

type Fetch = typeof fetch;

/** Calls `f` unbound (browsers reject `fetch` invoked as a method of another object). */
const unbound = (f: Fetch): Fetch => (input, init) => f(input, init);

/** Random-access bytes of one URL, read with `Range: bytes=a-b` requests. */
export class HttpByteSource implements ByteSource {
  private readonly fetchFn: Fetch;

  private constructor(readonly name: string, readonly size: number, fetchFn: Fetch) {
    this.fetchFn = unbound(fetchFn);
  }

  /** Finds the size with a HEAD request (Content-Length). */
  static async open(url: string, fetchFn: Fetch = (input, init) => fetch(input, init)): Promise<HttpByteSource> {
    const res = await unbound(fetchFn)(url, { method: 'HEAD' });
    if (!res.ok) throw new Error(`${url}: HTTP ${res.status} ${res.statusText}`);
    const size = Number(res.headers.get('content-length'));
    if (!Number.isSafeInteger(size) || size < 0) throw new Error(`${url}: no usable Content-Length in the HEAD response`);
    return new HttpByteSource(url, size, fetchFn);
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    if (offset < 0 || length < 0 || offset + length > this.size) {
      throw new Error(`${this.name}: read of ${length} bytes at ${offset} is past the end (${this.size} bytes)`);
    }
    if (length === 0) return new Uint8Array(0);
    const res = await this.fetchFn(this.name, { headers: { Range: `bytes=${offset}-${offset + length - 1}` } });
    if (res.status !== 206 && !(res.status === 200 && offset === 0 && length === this.size)) {
      throw new Error(`${this.name}: range request for ${length} bytes at ${offset} answered HTTP ${res.status} (the server must support Range)`);
    }
    const bytes = new Uint8Array(await res.arrayBuffer());
    if (bytes.byteLength !== length) {
      throw new Error(`${this.name}: range request for ${length} bytes at ${offset} returned ${bytes.byteLength} bytes`);
    }
    return bytes;
  }
}

/** Files under a base URL. `list` returns [] (HTTP cannot list a folder). */
export class HttpFileStore implements FileStore {
  readonly name: string;
  private readonly fetchFn: Fetch;

  /** `fetchFn` defaults to the global fetch (pass one to add headers, e.g. authorization). */
  constructor(baseUrl: string, fetchFn: Fetch = (input, init) => fetch(input, init)) {
    this.name = baseUrl.replace(/\/+$/, '');
    this.fetchFn = unbound(fetchFn);
  }

  private url(path: string): string {
    return `${this.name}/${checkRelative(this.name, path).split('/').map(encodeURIComponent).join('/')}`;
  }

  async readText(path: string): Promise<string> {
    const url = this.url(path);
    const res = await this.fetchFn(url);
    if (!res.ok) throw new Error(`${url}: HTTP ${res.status} ${res.statusText}`);
    return res.text();
  }

  async exists(path: string): Promise<boolean> {
    const res = await this.fetchFn(this.url(path), { method: 'HEAD' });
    return res.ok;
  }

  openBytes(path: string): Promise<ByteSource> {
    return HttpByteSource.open(this.url(path), this.fetchFn);
  }

  async list(): Promise<string[]> {
    return [];
  }
}
