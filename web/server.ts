/**
 * A small static HTTP server (Node) for the web page and the browser tests: GET/HEAD with single
 * byte ranges (model weights are read one tensor at a time), several mounted folders, CORS for
 * the model files, and optionally the cross-origin isolation headers (COOP/COEP) that let the
 * page use SharedArrayBuffer and so the threaded wasm build.
 */
import { createServer, type Server } from 'node:http';
import { createReadStream, statSync } from 'node:fs';
import { extname, join, normalize, resolve, sep } from 'node:path';
import type { AddressInfo } from 'node:net';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript',
  '.css': 'text/css',
  '.wasm': 'application/wasm',
  '.json': 'application/json',
  '.txt': 'text/plain',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
  '.map': 'application/json',
};

export interface ServeOptions {
  /** Default 0: any free port. */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  /** Send COOP/COEP so the page is cross-origin isolated (threaded wasm). Default false. */
  isolate?: boolean;
}

/** The file a URL path names under `mounts` (URL prefix → folder), or undefined. */
function resolveFile(mounts: Record<string, string>, urlPath: string): { file: string; size: number } | undefined {
  const prefix = Object.keys(mounts)
    .sort((a, b) => b.length - a.length)
    .find((p) => urlPath.startsWith(p));
  if (prefix === undefined) return undefined;
  const root = resolve(mounts[prefix]);
  const rel = normalize(urlPath.slice(prefix.length) || '.');
  let file = join(root, rel);
  if (rel.startsWith('..') || !(file + sep).startsWith(root + sep)) return undefined;
  try {
    let st = statSync(file);
    if (st.isDirectory()) {
      file = join(file, 'index.html');
      st = statSync(file);
    }
    return st.isFile() ? { file, size: st.size } : undefined;
  } catch {
    return undefined;
  }
}

/** Serves `mounts` (URL prefix → folder; a folder's index.html for its path); resolves to the base URL and the server. */
export async function serveStatic(
  mounts: Record<string, string>,
  opts: ServeOptions = {},
): Promise<{ url: string; server: Server }> {
  const common: Record<string, string> = {
    'Access-Control-Allow-Origin': '*',
    'Access-Control-Allow-Headers': 'Range',
    'Access-Control-Expose-Headers': 'Content-Length, Content-Range, Accept-Ranges',
    'Cache-Control': 'no-cache',
    ...(opts.isolate
      ? {
          'Cross-Origin-Opener-Policy': 'same-origin',
          'Cross-Origin-Embedder-Policy': 'require-corp',
          'Cross-Origin-Resource-Policy': 'cross-origin',
        }
      : {}),
  };
  const server = createServer((req, res) => {
    if (req.method === 'OPTIONS') {
      res.writeHead(204, { ...common, 'Access-Control-Allow-Methods': 'GET, HEAD' }).end();
      return;
    }
    let urlPath: string;
    try {
      urlPath = decodeURIComponent((req.url ?? '/').split('?')[0]);
    } catch {
      res.writeHead(400, common).end();
      return;
    }
    const found = req.method === 'GET' || req.method === 'HEAD' ? resolveFile(mounts, urlPath) : undefined;
    if (!found) {
      res.writeHead(req.method === 'GET' || req.method === 'HEAD' ? 404 : 405, common).end();
      return;
    }
    const { file, size } = found;
    const headers: Record<string, string | number> = {
      ...common,
      'Content-Type': TYPES[extname(file)] ?? 'application/octet-stream',
      'Accept-Ranges': 'bytes',
    };
    const range = req.headers.range;
    const m = /^bytes=(\d+)-(\d*)$/.exec(range ?? '');
    let [start, end, status] = [0, size - 1, 200];
    if (range !== undefined) {
      if (!m || Number(m[1]) >= size || (m[2] !== '' && Number(m[2]) < Number(m[1]))) {
        res.writeHead(416, { ...common, 'Content-Range': `bytes */${size}` }).end();
        return;
      }
      [start, end, status] = [Number(m[1]), Math.min(size - 1, m[2] ? Number(m[2]) : size - 1), 206];
      headers['Content-Range'] = `bytes ${start}-${end}/${size}`;
    }
    headers['Content-Length'] = size === 0 ? 0 : end - start + 1;
    res.writeHead(status, headers);
    if (req.method === 'HEAD' || size === 0) res.end();
    else createReadStream(file, { start, end }).pipe(res);
  });
  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => {
      server.off('error', fail);
      ok();
    });
  });
  const addr = server.address() as AddressInfo;
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  return { url: `http://${host}:${addr.port}`, server };
}
