/** Diffusers model directories through NodeFileStore, MemoryFileStore and HttpFileStore. */
import { expect } from 'chai';
import { createReadStream, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { MemoryFileStore } from '../src/io/file-store.js';
import { HttpFileStore } from '../src/io/http-file-store.js';
import { ModelDirError, openModelDir, type ModelDir } from '../src/io/model-dir.js';
import { SafetensorsFile, writeSafetensors, type TensorToWrite } from '../src/io/safetensors.js';
import { variantName } from '../src/io/weight-files.js';
import { FileByteSink, FileByteSource } from '../src/node/file-source.js';
import { openModelDirectory } from '../src/node/model-dir.js';
import { openSafetensors } from '../src/node/weights.js';
import { describeRef, tinySdDir } from './helpers/reference.js';
import { linkCopy, putFile, removeFiles } from './helpers/model-copy.js';
import { rawSafetensors, tempDirForSuite } from './helpers/tmp.js';

const UNET = 'unet/diffusion_pytorch_model.safetensors';

async function expectDirError(p: Promise<ModelDir>): Promise<ModelDirError> {
  try {
    const d = await p;
    await d.close();
  } catch (e) {
    expect(e).to.be.instanceOf(ModelDirError);
    return e as ModelDirError;
  }
  throw new Error('expected a ModelDirError');
}

describe('weight file naming', () => {
  it('inserts the variant before the last extension (diffusers _add_variant)', () => {
    expect(variantName('diffusion_pytorch_model.safetensors', 'fp16')).to.equal(
      'diffusion_pytorch_model.fp16.safetensors',
    );
    expect(variantName('model.safetensors.index.json', 'fp16')).to.equal('model.safetensors.index.fp16.json');
    expect(variantName('model.safetensors')).to.equal('model.safetensors');
  });
});

describeRef('model directories (tiny-sd)', () => {
  const tmp = tempDirForSuite('modeldir');
  let n = 0;
  const copy = () => linkCopy(tinySdDir, join(tmp(), `copy${n++}`));

  it('opens tiny-sd: configs, tokenizer, weights of every component', async () => {
    const notes: string[] = [];
    const dir = await openModelDirectory(tinySdDir, { onNote: (m) => notes.push(m) });
    try {
      expect(dir.modelIndex._class_name).to.equal('StableDiffusionPipeline');
      expect(dir.config('unet').block_out_channels).to.deep.equal([32, 64, 64, 64]);
      expect(dir.config('vae').scaling_factor).to.equal(0.18215);
      expect(dir.config('text_encoder').hidden_size).to.equal(32);
      expect(dir.config('scheduler')._class_name).to.equal('PNDMScheduler');
      expect(Object.keys(dir.tokenizer!.vocab)).to.have.length(49408);
      expect(dir.tokenizer!.vocab['<|endoftext|>']).to.equal(49407);
      expect(dir.tokenizer!.merges.startsWith('#version')).to.equal(true);
      expect(dir.tokenizer!.config?.model_max_length).to.equal(77);
      expect(dir.weightFiles.unet).to.deep.include({ files: [UNET], variant: undefined });
      expect(dir.weightFiles.text_encoder!.files).to.deep.equal(['text_encoder/model.safetensors']);
      expect(dir.weightComponents()).to.deep.equal(['unet', 'vae', 'text_encoder']);
      expect(notes).to.deep.equal([]);
      const key = 'conv_in.weight';
      const direct = await openSafetensors(join(tinySdDir, UNET));
      expect(dir.weights('unet').info(key)).to.deep.include({ dtype: 'F32' });
      expect([...((await dir.weights('unet').read(key)) as Float32Array)]).to.deep.equal([
        ...(await direct.readFloat32(key)),
      ]);
      await direct.close();
      expect(dir.weights('vae').keys()).to.include('decoder.mid_block.attentions.0.to_q.weight');
    } finally {
      await dir.close();
    }
  });

  it('prefers the fp16 variant when asked, falling back per component with a note', async () => {
    const notes: string[] = [];
    const dir = await openModelDirectory(tinySdDir, { variant: 'fp16', onNote: (m) => notes.push(m) });
    try {
      expect(dir.weightFiles.unet).to.deep.include({
        files: ['unet/diffusion_pytorch_model.fp16.safetensors'],
        variant: 'fp16',
      });
      expect(dir.weights('unet').info('conv_in.weight')!.dtype).to.equal('F16');
      expect(dir.weightFiles.vae!.files).to.deep.equal(['vae/diffusion_pytorch_model.safetensors']);
      expect(notes).to.deep.equal([
        'vae: no fp16 variant, using vae/diffusion_pytorch_model.safetensors',
        'text_encoder: no fp16 variant, using text_encoder/model.safetensors',
      ]);
      expect(dir.notes).to.deep.equal(notes);
      // float16 weights are handed out as raw bits unless float32 is asked for.
      expect(await dir.weights('unet').read('conv_in.bias')).to.be.instanceOf(Uint16Array);
      expect(await dir.weights('unet').read('conv_in.bias', true)).to.be.instanceOf(Float32Array);
    } finally {
      await dir.close();
    }
  });

  it('uses the fp16 variant with a note when only it is present', async () => {
    const d = copy();
    removeFiles(d, UNET);
    const notes: string[] = [];
    const dir = await openModelDirectory(d, { onNote: (m) => notes.push(m) });
    expect(dir.weightFiles.unet!.variant).to.equal('fp16');
    expect(notes).to.deep.equal([
      'unet: no plain weights, using the fp16 variant unet/diffusion_pytorch_model.fp16.safetensors',
    ]);
    await dir.close();
  });

  it('lists every missing file in one error', async () => {
    const d = copy();
    removeFiles(
      d,
      'vae/config.json',
      'text_encoder/model.safetensors',
      'tokenizer/merges.txt',
      'scheduler/scheduler_config.json',
    );
    const e = await expectDirError(openModelDirectory(d));
    expect(e.problems).to.deep.equal([
      'missing: vae/config.json',
      'missing: scheduler/scheduler_config.json',
      'missing: tokenizer/merges.txt',
      'missing: text_encoder/model.safetensors (or diffusion_pytorch_model.safetensors, a sharded *.safetensors.index.json)',
    ]);
    expect(e.message).to.match(
      new RegExp(`^${d}: cannot use this model directory \\(4 problems\\):\\n  - missing: vae/config.json\\n`),
    );
  });

  it('missing model_index.json, a broken config and a corrupt weight header are reported together', async () => {
    const d = copy();
    removeFiles(d, 'model_index.json');
    putFile(d, 'unet/config.json', '{"block_out_channels": [32,');
    putFile(
      d,
      'vae/diffusion_pytorch_model.safetensors',
      rawSafetensors({ w: { dtype: 'F32', shape: [4], data_offsets: [0, 16] } }, new Uint8Array(4)),
    );
    const e = await expectDirError(openModelDirectory(d));
    expect(e.problems).to.have.length(3);
    expect(e.problems[0]).to.equal('missing: model_index.json');
    expect(e.problems[1]).to.match(/^unet\/config\.json: invalid JSON/);
    expect(e.problems[2]).to.match(
      /vae\/diffusion_pytorch_model\.safetensors: tensor "w": data_offsets \[0, 16\] run past the end/,
    );
  });

  it('a PyTorch .bin in place of safetensors gives the out-of-scope message', async () => {
    const d = copy();
    removeFiles(d, UNET, 'unet/diffusion_pytorch_model.fp16.safetensors');
    putFile(d, 'unet/diffusion_pytorch_model.bin', Uint8Array.from([0x50, 0x4b, 3, 4, 0, 0, 0, 0]));
    const e = await expectDirError(openModelDirectory(d));
    expect(e.problems).to.have.length(1);
    expect(e.problems[0]).to.match(
      /^unet\/diffusion_pytorch_model\.bin: this is a PyTorch pickle checkpoint; pickle files .* are out of scope .* Convert it to safetensors/,
    );
  });

  it('names unrecognised safetensors files when the expected one is missing', async () => {
    const d = copy();
    removeFiles(d, 'vae/diffusion_pytorch_model.safetensors');
    putFile(d, 'vae/vae-ft-mse.safetensors', rawSafetensors({}));
    const e = await expectDirError(openModelDirectory(d));
    expect(e.problems[0]).to.match(
      /^missing: vae\/diffusion_pytorch_model\.safetensors .*; found vae-ft-mse\.safetensors \(not a recognised weight file name\)$/,
    );
  });

  describe('sharded weights', () => {
    async function shard(d: string, variant?: string): Promise<Record<string, string>> {
      const src = await openSafetensors(join(tinySdDir, UNET));
      const keys = src.keys().sort();
      const half = Math.ceil(keys.length / 2);
      const names = [1, 2].map((i) => variantName(`diffusion_pytorch_model-0000${i}-of-00002.safetensors`, variant));
      const map: Record<string, string> = {};
      for (const [i, part] of [keys.slice(0, half), keys.slice(half)].entries()) {
        const tensors: TensorToWrite[] = part.map((k) => ({
          name: k,
          dtype: src.info(k).dtype,
          shape: src.info(k).shape,
          data: () => src.readBytes(k),
        }));
        await writeSafetensors(await FileByteSink.create(join(d, 'unet', names[i])), tensors);
        for (const k of part) map[k] = names[i];
      }
      await src.close();
      removeFiles(d, UNET, 'unet/diffusion_pytorch_model.fp16.safetensors');
      putFile(
        d,
        `unet/${variantName('diffusion_pytorch_model.safetensors.index.json', variant)}`,
        JSON.stringify({ metadata: {}, weight_map: map }),
      );
      return map;
    }

    it('loads shards listed in *.safetensors.index.json as one source', async () => {
      const d = copy();
      const map = await shard(d);
      const dir = await openModelDirectory(d);
      const w = dir.weightFiles.unet!;
      expect(w.index).to.equal('unet/diffusion_pytorch_model.safetensors.index.json');
      expect(w.files).to.deep.equal([
        'unet/diffusion_pytorch_model-00001-of-00002.safetensors',
        'unet/diffusion_pytorch_model-00002-of-00002.safetensors',
      ]);
      expect(dir.weights('unet').keys().sort()).to.deep.equal(Object.keys(map).sort());
      const ref = await openSafetensors(join(tinySdDir, UNET));
      const last = Object.keys(map).sort().at(-1)!;
      expect([...((await dir.weights('unet').read(last)) as Float32Array)]).to.deep.equal([
        ...(await ref.readFloat32(last)),
      ]);
      await ref.close();
      await dir.close();
    });

    it('finds fp16 shard indexes (model.safetensors.index.fp16.json naming)', async () => {
      const d = copy();
      await shard(d, 'fp16');
      const dir = await openModelDirectory(d, { variant: 'fp16', onNote: () => {} });
      expect(dir.weightFiles.unet).to.deep.include({
        index: 'unet/diffusion_pytorch_model.safetensors.index.fp16.json',
        variant: 'fp16',
      });
      await dir.close();
    });

    it('reports a missing shard and keys the index places in the wrong shard', async () => {
      const d = copy();
      const map = await shard(d);
      removeFiles(d, 'unet/diffusion_pytorch_model-00002-of-00002.safetensors');
      const e = await expectDirError(openModelDirectory(d));
      expect(e.problems).to.deep.equal([
        'missing: unet/diffusion_pytorch_model-00002-of-00002.safetensors (a shard listed in unet/diffusion_pytorch_model.safetensors.index.json)',
      ]);
      const d2 = copy();
      await shard(d2);
      const wrong = {
        ...map,
        'conv_in.weight': map['conv_in.weight'].includes('00001')
          ? 'diffusion_pytorch_model-00002-of-00002.safetensors'
          : 'diffusion_pytorch_model-00001-of-00002.safetensors',
      };
      putFile(d2, 'unet/diffusion_pytorch_model.safetensors.index.json', JSON.stringify({ weight_map: wrong }));
      const e2 = await expectDirError(openModelDirectory(d2));
      expect(e2.problems).to.have.length(1);
      expect(e2.problems[0]).to.match(
        /^unet\/diffusion_pytorch_model\.safetensors\.index\.json: maps "conv_in\.weight" to unet\/diffusion_pytorch_model-0000[12]-of-00002\.safetensors, which does not contain it$/,
      );
    });
  });

  it('checks only the requested components', async () => {
    const d = copy();
    removeFiles(d, 'vae/config.json', 'text_encoder/model.safetensors');
    const dir = await openModelDirectory(d, { components: ['unet', 'scheduler'] });
    expect(dir.weightComponents()).to.deep.equal(['unet']);
    expect(() => dir.config('vae')).to.throw(/vae\/config\.json was not loaded/);
    expect(() => dir.weights('vae')).to.throw(/no weights were loaded for vae/);
    await dir.close();
  });

  describe('over HTTP with Range requests (HttpFileStore)', () => {
    let server: Server;
    let base = '';
    let ranges = 0;
    let rangeSupport = true;
    before(async () => {
      server = createServer((req, res) => {
        const path = join(tinySdDir, decodeURIComponent(new URL(req.url!, 'http://x').pathname));
        let size: number;
        try {
          const st = statSync(path);
          if (!st.isFile()) throw new Error('dir');
          size = st.size;
        } catch {
          res.writeHead(404).end();
          return;
        }
        const m = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? '');
        if (req.method === 'HEAD') {
          res.writeHead(200, { 'content-length': size }).end();
        } else if (m && rangeSupport) {
          ranges++;
          const [a, b] = [Number(m[1]), Number(m[2])];
          res.writeHead(206, { 'content-length': b - a + 1, 'content-range': `bytes ${a}-${b}/${size}` });
          createReadStream(path, { start: a, end: b }).pipe(res);
        } else {
          res.writeHead(200, { 'content-length': size });
          createReadStream(path).pipe(res);
        }
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    });
    after(() => {
      server.closeAllConnections();
      return new Promise<void>((r) => server.close(() => r()));
    });

    it('opens the model directory and reads tensors by range', async () => {
      const dir = await openModelDir(new HttpFileStore(`${base}/`));
      try {
        expect(dir.name).to.equal(base);
        expect(dir.config('unet').cross_attention_dim).to.equal(32);
        ranges = 0;
        const key = 'decoder.conv_out.weight';
        const got = (await dir.weights('vae').read(key)) as Float32Array;
        expect(ranges).to.equal(1);
        const ref = await SafetensorsFile.open(
          await FileByteSource.open(join(tinySdDir, 'vae/diffusion_pytorch_model.safetensors')),
        );
        expect([...got]).to.deep.equal([...(await ref.readFloat32(key))]);
        await ref.close();
      } finally {
        await dir.close();
      }
    });

    it('missing files over HTTP are listed like on disk; a server without Range support is named', async () => {
      const e = await expectDirError(openModelDir(new HttpFileStore(`${base}/unet`)));
      expect(e.problems).to.include('missing: model_index.json');
      rangeSupport = false;
      try {
        const dir = openModelDir(new HttpFileStore(base));
        const e2 = await expectDirError(dir);
        expect(e2.problems[0]).to.match(
          /unet\/diffusion_pytorch_model\.safetensors: range request for 8 bytes at 0 answered HTTP 200 \(the server must support Range\)/,
        );
      } finally {
        rangeSupport = true;
      }
    });
  });
});

describe('model directories in memory (MemoryFileStore)', () => {
  function tinyDir(extra: Record<string, Uint8Array | string> = {}): MemoryFileStore {
    const w = rawSafetensors(
      { 'conv_in.weight': { dtype: 'F32', shape: [1], data_offsets: [0, 4] } },
      new Uint8Array(new Float32Array([2.5]).buffer),
    );
    const idx = {
      _class_name: 'StableDiffusionPipeline',
      unet: ['diffusers', 'UNet2DConditionModel'],
      vae: ['diffusers', 'AutoencoderKL'],
      text_encoder: ['transformers', 'CLIPTextModel'],
      tokenizer: ['transformers', 'CLIPTokenizer'],
      scheduler: ['diffusers', 'PNDMScheduler'],
    };
    return new MemoryFileStore(
      {
        'model_index.json': JSON.stringify(idx),
        'unet/config.json': '{}',
        'unet/diffusion_pytorch_model.safetensors': w,
        'vae/config.json': '{}',
        'vae/diffusion_pytorch_model.safetensors': w,
        'text_encoder/config.json': '{}',
        'text_encoder/model.safetensors': w,
        'tokenizer/vocab.json': '{"a": 0, "b</w>": 1}',
        'tokenizer/merges.txt': '#version: 0.2\na b</w>\n',
        'scheduler/scheduler_config.json': '{"_class_name": "DDIMScheduler"}',
        ...extra,
      },
      'mem',
    );
  }

  it('opens and reads', async () => {
    const dir = await openModelDir(tinyDir());
    expect([...((await dir.weights('text_encoder').read('conv_in.weight')) as Float32Array)]).to.deep.equal([2.5]);
    expect(dir.tokenizer!.vocab).to.deep.equal({ a: 0, 'b</w>': 1 });
    expect(await tinyDir().list('unet')).to.deep.equal(['config.json', 'diffusion_pytorch_model.safetensors']);
  });

  it('reports a component missing from model_index.json and a bad vocab', async () => {
    const store = tinyDir({
      'model_index.json': '{"unet": ["diffusers", "UNet2DConditionModel"], "vae": [null, null]}',
      'tokenizer/vocab.json': '{"a": "x"}',
    });
    const e = await expectDirError(openModelDir(store));
    expect(e.problems).to.deep.equal([
      'model_index.json: no "vae" component listed',
      'model_index.json: no "text_encoder" component listed',
      'model_index.json: no "tokenizer" component listed',
      'model_index.json: no "scheduler" component listed',
      'tokenizer/vocab.json: not a map of token → integer id',
    ]);
    expect(e.message.startsWith('mem: cannot use this model directory (5 problems)')).to.equal(true);
  });

  it('refuses paths that leave the store', async () => {
    let msg = '';
    await tinyDir()
      .readText('../etc/passwd')
      .catch((e: Error) => (msg = e.message));
    expect(msg).to.equal('mem: path "../etc/passwd" leaves the store root');
  });
});
