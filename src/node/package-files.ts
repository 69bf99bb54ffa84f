/** Files shipped inside the package (the demo model, the bundled tokenizer), found from src/ and dist/ alike. */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

let root: string | undefined;

/** The package's root folder (where its package.json is). */
export function packageRoot(): string {
  if (root) return root;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pj = join(dir, 'package.json');
    if (existsSync(pj) && (JSON.parse(readFileSync(pj, 'utf8')) as { name?: string }).name === 'tfjs-prompt-to-prompt')
      return (root = dir);
    const up = dirname(dir);
    if (up === dir)
      throw new Error(`cannot find the tfjs-prompt-to-prompt package root above ${fileURLToPath(import.meta.url)}`);
    dir = up;
  }
}

/** The shipped demo model (a diffusers directory). */
export function demoModelDir(): string {
  return join(packageRoot(), 'models', 'shapes');
}

/** The bundled SD-1.5 CLIP tokenizer files. */
export function bundledTokenizerDir(): string {
  return join(packageRoot(), 'weights-tools', 'sd15-config', 'tokenizer');
}
