/**
 * FileStore and ByteSource over HTTP(S) with `fetch` and Range requests (browsers, Node ≥ 18),
 * e.g. `new HttpFileStore('https://huggingface.co/<repo>/resolve/main/')`. Tensors are fetched
 * one range at a time, so a multi-GB file is never downloaded whole.
 */
import type { ByteSource } from './byte-source.js';
import { checkRelative, type FileStore } from './file-store.js';

type Fetch = typeof fetch;

/** Retrying of failed transfers (a dropped connection, HTTP 5xx/408/429, a short body). */
export interface HttpRetryOptions {
  /** Retries after the first attempt (default 3). */
  retries?: number;
  /** Wait before the first retry in ms, doubled for each further one (default 250). */
  retryDelayMs?: number;
}

/** Calls `f` unbound (browsers reject `fetch` invoked as a method of another object). */
const unbound =
  (f: Fetch): Fetch =>
  (input, init) =>
    f(input, init);

/** A failure worth another attempt. */
class Transient extends Error {}

/** The message of a fetch failure with its cause ("fetch failed: other side closed"). */
function failureText(e: unknown): string {
  const err = e as Error & { cause?: { message?: string; code?: string } };
  const cause = err.cause?.code ?? err.cause?.message;
  return `${err.message ?? String(e)}${cause && !String(err.message).includes(cause) ? `: ${cause}` : ''}`;
}

/** Runs `attempt` until it succeeds, a permanent error, or the retries are spent (then a one-line error naming `what`). */
async function withRetries<T>(what: string, opts: HttpRetryOptions, attempt: () => Promise<T>): Promise<T> {
  const retries = opts.retries ?? 3;
  const delay = opts.retryDelayMs ?? 250;
  let last = '';
  for (let i = 0; i <= retries; i++) {
    if (i > 0) await new Promise((r) => setTimeout(r, delay * 2 ** (i - 1)));
    try {
      return await attempt();
    } catch (e) {
      // Network errors (fetch and body reads reject with TypeError) and Transient ones are retried.
      if (!(e instanceof Transient || e instanceof TypeError)) throw e;
      last = failureText(e);
    }
  }
  throw new Error(`${what} failed after ${retries + 1} attempts (${last})`);
}

const retryStatus = (status: number) => status >= 500 || status === 408 || status === 429;

/** Random-access bytes of one URL, read with `Range: bytes=a-b` requests. */
export class HttpByteSource implements ByteSource {
  private readonly fetchFn: Fetch;

  private constructor(
    readonly name: string,
    readonly size: number,
    fetchFn: Fetch,
    private readonly retry: HttpRetryOptions,
  ) {
    this.fetchFn = unbound(fetchFn);
  }

  /** Finds the size with a HEAD request (Content-Length). */
  static async open(
    url: string,
    fetchFn: Fetch = (input, init) => fetch(input, init),
    retry: HttpRetryOptions = {},
  ): Promise<HttpByteSource> {
    const res = await withRetries(`${url}: HEAD request`, retry, async () => {
      const r = await unbound(fetchFn)(url, { method: 'HEAD' });
      if (retryStatus(r.status)) throw new Transient(`HTTP ${r.status} ${r.statusText}`);
      return r;
    });
    if (!res.ok) throw new Error(`${url}: HTTP ${res.status} ${res.statusText}`);
    const size = Number(res.headers.get('content-length'));
    if (!Number.isSafeInteger(size) || size < 0)
      throw new Error(`${url}: no usable Content-Length in the HEAD response`);
    return new HttpByteSource(url, size, fetchFn, retry);
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    if (offset < 0 || length < 0 || offset + length > this.size) {
      throw new Error(`${this.name}: read of ${length} bytes at ${offset} is past the end (${this.size} bytes)`);
    }
    if (length === 0) return new Uint8Array(0);
    const range = `bytes=${offset}-${offset + length - 1}`;
    return withRetries(`${this.name}: reading ${range}`, this.retry, async () => {
      const res = await this.fetchFn(this.name, { headers: { Range: range } });
      if (retryStatus(res.status)) throw new Transient(`HTTP ${res.status} ${res.statusText}`);
      if (res.status !== 206 && !(res.status === 200 && offset === 0 && length === this.size)) {
        throw new Error(
          `${this.name}: range request for ${length} bytes at ${offset} answered HTTP ${res.status} (the server must support Range)`,
        );
      }
      const bytes = new Uint8Array(await res.arrayBuffer());
      if (bytes.byteLength !== length) throw new Transient(`${bytes.byteLength} of ${length} bytes received`);
      return bytes;
    });
  }
}

/** Files under a base URL. `list` returns [] (HTTP cannot list a folder). */
export class HttpFileStore implements FileStore {
  readonly name: string;
  private readonly fetchFn: Fetch;

  /**
   * `fetchFn` defaults to the global fetch (pass one to add headers, e.g. authorization); failed
   * transfers are retried as `retry` says (default: 3 retries, 250 ms doubling).
   */
  constructor(
    baseUrl: string,
    fetchFn: Fetch = (input, init) => fetch(input, init),
    private readonly retry: HttpRetryOptions = {},
  ) {
    this.name = baseUrl.replace(/\/+$/, '');
    this.fetchFn = unbound(fetchFn);
  }

  private url(path: string): string {
    return `${this.name}/${checkRelative(this.name, path).split('/').map(encodeURIComponent).join('/')}`;
  }

  async readText(path: string): Promise<string> {
    const url = this.url(path);
    return withRetries(`${url}: GET`, this.retry, async () => {
      const res = await this.fetchFn(url);
      if (retryStatus(res.status)) throw new Transient(`HTTP ${res.status} ${res.statusText}`);
      if (!res.ok) throw new Error(`${url}: HTTP ${res.status} ${res.statusText}`);
      return res.text();
    });
  }

  async exists(path: string): Promise<boolean> {
    const url = this.url(path);
    return withRetries(`${url}: HEAD request`, this.retry, async () => {
      const res = await this.fetchFn(url, { method: 'HEAD' });
      if (retryStatus(res.status)) throw new Transient(`HTTP ${res.status} ${res.statusText}`);
      return res.ok;
    });
  }

  openBytes(path: string): Promise<ByteSource> {
    return HttpByteSource.open(this.url(path), this.fetchFn, this.retry);
  }

  async list(): Promise<string[]> {
    return [];
  }
}
