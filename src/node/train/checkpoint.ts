/**
 * Training checkpoints: named float32 tensors plus a JSON state in one safetensors file, written
 * atomically (writeFileAtomic), so an interrupted write never leaves a broken checkpoint.
 */
import { floatTensor, writeSafetensors } from '../../io/safetensors.js';
import { FileByteSink } from '../file-source.js';
import { openSafetensors } from '../weights.js';
import { writeFileAtomic } from '../atomic-write.js';

export interface HostArray {
  shape: readonly number[];
  data: Float32Array;
}

export interface Checkpoint<S> {
  state: S;
  tensors: Map<string, HostArray>;
}

const STATE_KEY = 'ptp_train_state';

export async function saveCheckpoint<S>(path: string, ck: Checkpoint<S>): Promise<void> {
  const list = [...ck.tensors].map(([k, t]) => floatTensor(k, t.shape, t.data));
  await writeFileAtomic(path, async (tmp) =>
    writeSafetensors(await FileByteSink.create(tmp), list, { [STATE_KEY]: JSON.stringify(ck.state) }),
  );
}

export async function loadCheckpoint<S>(path: string): Promise<Checkpoint<S>> {
  const f = await openSafetensors(path);
  try {
    const raw = f.metadata[STATE_KEY];
    if (raw === undefined) throw new Error(`${path}: not a training checkpoint (no "${STATE_KEY}" metadata)`);
    const tensors = new Map<string, HostArray>();
    for (const k of f.keys()) tensors.set(k, { shape: [...f.info(k).shape], data: await f.readFloat32(k) });
    return { state: JSON.parse(raw) as S, tensors };
  } finally {
    await f.close();
  }
}
