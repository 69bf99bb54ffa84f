/**
 * `npm run web [-- --port N] [--model-dir DIR]`: builds the page (web/build.ts) and serves it on
 * 127.0.0.1 with the cross-origin isolation headers (threaded wasm) and HTTP range requests.
 * `--model-dir` also serves a local diffusers directory at /models/<its name>/ and prints the
 * page URL that uses it.
 */
import { existsSync, statSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { buildPage } from './build.js';
import { serveStatic } from './server.js';

const USAGE = 'usage: npm run web [-- --port N] [--model-dir <diffusers dir>]';
const DEFAULT_PORT = 8080;

interface Args {
  port: number;
  modelDir?: string;
}

function parse(argv: string[]): Args {
  const args: Args = { port: DEFAULT_PORT };
  for (let i = 0; i < argv.length; i++) {
    const [name, inline] = argv[i].split(/=(.*)/s, 2);
    const value = () => {
      const v = inline ?? argv[++i];
      if (v === undefined) throw new Error(`${name} needs a value; ${USAGE}`);
      return v;
    };
    if (name === '--port') {
      const raw = value();
      const port = Number(raw);
      if (!Number.isInteger(port) || port < 0 || port > 65535)
        throw new Error(`--port: expected a port number from 0 to 65535, got "${raw}"`);
      args.port = port;
    } else if (name === '--model-dir') {
      const dir = resolve(value());
      if (!existsSync(join(dir, 'model_index.json')) || !statSync(dir).isDirectory())
        throw new Error(`--model-dir: ${dir} is not a diffusers directory (no model_index.json)`);
      args.modelDir = dir;
    } else if (name === '--help' || name === '-h') {
      console.log(USAGE);
      process.exit(0);
    } else {
      throw new Error(`unknown option ${argv[i]}; ${USAGE}`);
    }
  }
  return args;
}

async function main(): Promise<void> {
  const args = parse(process.argv.slice(2));
  const built = await buildPage();
  const mounts: Record<string, string> = { '/': built.outDir };
  const extra = args.modelDir ? `/models/${encodeURIComponent(basename(args.modelDir))}/` : undefined;
  if (extra) mounts[decodeURIComponent(extra)] = args.modelDir!;
  let url: string;
  try {
    ({ url } = await serveStatic(mounts, { port: args.port, isolate: true }));
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new Error(
      err.code === 'EADDRINUSE' ? `port ${args.port} is in use; choose another with --port N` : err.message,
    );
  }
  console.log(`built the page in ${built.outDir}`);
  if (!built.model && !extra)
    console.log(
      'note: models/shapes (the demo model) is missing, so the default model will not load; pass --model-dir <dir>',
    );
  console.log(`serving on ${url}/ (Ctrl-C to stop)`);
  if (extra) console.log(`with ${args.modelDir}: ${url}/?model=${encodeURIComponent(extra.slice(1))}`);
}

main().catch((e: Error) => {
  console.error(`npm run web: ${e.message.split('\n')[0]}`);
  process.exit(2);
});
