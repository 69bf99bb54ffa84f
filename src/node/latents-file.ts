/** Latents as safetensors files (PyTorch NCHW layout, so files from diffusers scripts work both ways). */
import type { HostTensor } from '../pipeline/host-tensor.js';
import { floatTensor, writeSafetensors } from '../io/safetensors.js';
import { FileByteSink } from './file-source.js';
import { openSafetensors } from './weights.js';
import { writeFileAtomic } from './atomic-write.js';

/**
 * Reads latents from a safetensors file: the tensor named `name` (default: "latents", else the
 * only tensor in the file). Must be 4-D NCHW.
 */
export async function readLatentsFile(path: string, name?: string): Promise<HostTensor> {
  const f = await openSafetensors(path);
  try {
    const keys = f.keys();
    const key = name ?? (keys.includes('latents') ? 'latents' : keys.length === 1 ? keys[0] : undefined);
    if (key === undefined || !f.has(key)) {
      throw new Error(`${path}: no tensor "${name ?? 'latents'}" (tensors: ${keys.join(', ') || 'none'})`);
    }
    const shape = [...f.info(key).shape];
    if (shape.length !== 4)
      throw new Error(`${path}: tensor "${key}" has shape [${shape.join(', ')}], expected NCHW [batch, 4, h, w]`);
    return { shape, data: await f.readFloat32(key) };
  } finally {
    await f.close();
  }
}

/** Writes named float32 tensors (e.g. {latents, initial_latents}) to a safetensors file (atomically). */
export async function writeLatentsFile(
  path: string,
  tensors: Record<string, HostTensor>,
  metadata?: Record<string, string>,
): Promise<void> {
  const list = Object.entries(tensors).map(([k, t]) => floatTensor(k, t.shape, t.data));
  await writeFileAtomic(path, async (tmp) => writeSafetensors(await FileByteSink.create(tmp), list, metadata));
}
