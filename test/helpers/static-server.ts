/** A small static HTTP server for browser tests: GET/HEAD with Range, several mounted folders. */
import { createServer, type Server } from 'node:http';
import { createReadStream, statSync } from 'node:fs';
import { extname, join, normalize, sep } from 'node:path';
import type { AddressInfo } from 'node:net';

const TYPES: Record<string, string> = {
  '.html': 'text/html', '.js': 'text/javascript', '.wasm': 'application/wasm', '.json': 'application/json', '.txt': 'text/plain',
};

/** Serves `mounts` (URL prefix → folder) on 127.0.0.1; resolves to the base URL and the server. */
export async function serveStatic(mounts: Record<string, string>): Promise<{ url: string; server: Server }> {
  const server = createServer((req, res) => {
    const path = decodeURIComponent((req.url ?? '/').split('?')[0]);
    const prefix = Object.keys(mounts).sort((a, b) => b.length - a.length).find((p) => path.startsWith(p));
    const root = prefix !== undefined ? mounts[prefix] : undefined;
    const rel = prefix !== undefined ? normalize(path.slice(prefix.length)) : '';
    const file = root !== undefined ? join(root, rel) : '';
    let size = -1;
    try {
      if (root !== undefined && !rel.startsWith('..') && (file + sep).startsWith(root + sep)) {
        const st = statSync(file);
        if (st.isFile()) size = st.size;
      }
    } catch {
      size = -1;
    }
    if (size < 0) {
      res.writeHead(404).end();
      return;
    }
    const headers: Record<string, string | number> = { 'Content-Type': TYPES[extname(file)] ?? 'application/octet-stream', 'Accept-Ranges': 'bytes' };
    const m = /^bytes=(\d+)-(\d+)?$/.exec(req.headers.range ?? '');
    let [start, end, status] = [0, size - 1, 200];
    if (m) [start, end, status] = [Number(m[1]), Math.min(size - 1, m[2] ? Number(m[2]) : size - 1), 206];
    if (status === 206) headers['Content-Range'] = `bytes ${start}-${end}/${size}`;
    headers['Content-Length'] = status === 206 ? end - start + 1 : size;
    res.writeHead(status, headers);
    if (req.method === 'HEAD' || size === 0) res.end();
    else createReadStream(file, { start, end }).pipe(res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}
