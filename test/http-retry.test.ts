/**
 * A model served over HTTP whose server drops the connection in the middle of a tensor: the read
 * is retried a bounded number of times, then fails with one line naming the file and byte range.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import { HttpByteSource, HttpFileStore } from '../src/io/http-file-store.js';
import { SafetensorsFile, floatTensor, writeSafetensors } from '../src/io/safetensors.js';
import { MemoryByteSink } from '../src/io/byte-source.js';

describe('HTTP model store: dropped connections', () => {
  let server: Server;
  let base = '';
  let file: Uint8Array = new Uint8Array(0);
  /** Range requests still to be dropped halfway, and how many were made. */
  let drops = 0;
  let rangeRequests = 0;
  let failStatus = 0;

  before(async () => {
    const sink = new MemoryByteSink('w.safetensors');
    await writeSafetensors(sink, [
      floatTensor('a', [4], Float32Array.from([1, 2, 3, 4])),
      floatTensor(
        'big',
        [1000],
        Float32Array.from({ length: 1000 }, (_, i) => i / 7),
      ),
    ]);
    file = sink.bytes();
    server = createServer((req, res) => {
      if (req.method === 'HEAD') {
        res.writeHead(200, { 'content-length': file.byteLength }).end();
        return;
      }
      const m = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? '');
      if (!m) {
        res.writeHead(200, { 'content-length': file.byteLength }).end(Buffer.from(file));
        return;
      }
      rangeRequests++;
      const [a, b] = [Number(m[1]), Number(m[2])];
      const body = Buffer.from(file.subarray(a, b + 1));
      if (failStatus) {
        res.writeHead(failStatus).end();
        return;
      }
      res.writeHead(206, { 'content-length': body.byteLength, 'content-range': `bytes ${a}-${b}/${file.byteLength}` });
      if (drops > 0 && body.byteLength > 100) {
        drops--;
        // Half the tensor, then the connection goes away.
        res.write(body.subarray(0, body.byteLength >> 1), () => res.socket?.destroy());
        return;
      }
      res.end(body);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => {
    server.closeAllConnections();
    return new Promise<void>((r) => server.close(() => r()));
  });

  const open = async (retries = 3) =>
    SafetensorsFile.open(
      await new HttpFileStore(base, undefined, { retries, retryDelayMs: 5 }).openBytes('w.safetensors'),
    );

  it('a tensor whose transfer is cut twice is read on the third attempt', async () => {
    const f = await open();
    drops = 2;
    rangeRequests = 0;
    const big = await f.readFloat32('big');
    expect(rangeRequests).to.equal(3);
    expect(big[999]).to.be.closeTo(999 / 7, 1e-4);
    expect(Array.from(await f.readFloat32('a'))).to.deep.equal([1, 2, 3, 4]);
  });

  it('a transfer cut every time fails after the retries, naming the file and the byte range', async () => {
    const f = await open(2);
    const { start, byteLength } = f.info('big');
    drops = 100;
    rangeRequests = 0;
    const e = await f.readFloat32('big').then(
      () => undefined,
      (x: Error) => x,
    );
    drops = 0;
    expect(rangeRequests).to.equal(3);
    expect(e?.message).to.match(
      new RegExp(
        `^${base}/w\\.safetensors: reading bytes=${start}-${start + byteLength - 1} failed after 3 attempts \\(terminated.*\\)$`,
      ),
    );
    expect(e!.message.split('\n')).to.have.length(1);
  });

  it('HTTP 503 is retried; HTTP 404 is not', async () => {
    const f = await open(1);
    failStatus = 503;
    rangeRequests = 0;
    const e = await f.readFloat32('big').then(
      () => undefined,
      (x: Error) => x,
    );
    expect(rangeRequests).to.equal(2);
    expect(e?.message).to.match(/: reading bytes=\d+-\d+ failed after 2 attempts \(HTTP 503 Service Unavailable\)$/);
    failStatus = 404;
    rangeRequests = 0;
    const e2 = await f.readFloat32('big').then(
      () => undefined,
      (x: Error) => x,
    );
    failStatus = 0;
    expect(rangeRequests).to.equal(1);
    expect(e2?.message).to.match(/answered HTTP 404 \(the server must support Range\)$/);
  });

  it('a server that is gone is a clear error after the retries', async () => {
    const gone = createServer();
    await new Promise<void>((r) => gone.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(gone.address() as AddressInfo).port}/none.safetensors`;
    await new Promise<void>((r) => gone.close(() => r()));
    const e = await HttpByteSource.open(url, undefined, { retries: 1, retryDelayMs: 1 }).then(
      () => undefined,
      (x: Error) => x,
    );
    expect(e?.message).to.equal(`${url}: HEAD request failed after 2 attempts (fetch failed: ECONNREFUSED)`);
  });
});
