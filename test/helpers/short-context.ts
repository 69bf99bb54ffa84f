/**
 * tiny-sd with another text context length: the text encoder's position table cut to its first
 * `positions` rows (max_position_embeddings = positions; every other weight is tiny-sd's) and the
 * tokenizer's model_max_length set (or removed), in a test directory. Files are symlinked except
 * the three changed ones.
 */
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { floatTensor, SafetensorsFile, writeSafetensors, type TensorToWrite } from '../../src/io/safetensors.js';
import { FileByteSink, FileByteSource } from '../../src/node/file-source.js';
import { linkCopy, putFile } from './model-copy.js';
import { tinySdDir } from './reference.js';

const POSITIONS = 'text_model.embeddings.position_embedding.weight';

export interface ShortContextOptions {
  /** max_position_embeddings of the text encoder (≤ 77). Default 16. */
  positions?: number;
  /** model_max_length of tokenizer_config.json; null removes the key. Default: `positions`. */
  tokenizerLength?: number | null;
}

/** Writes the model into `dst` (created) and returns `dst`. */
export async function shortContextModel(dst: string, opts: ShortContextOptions = {}): Promise<string> {
  const positions = opts.positions ?? 16;
  const length = opts.tokenizerLength === undefined ? positions : opts.tokenizerLength;
  linkCopy(tinySdDir, dst);
  const textConfig = JSON.parse(readFileSync(join(tinySdDir, 'text_encoder', 'config.json'), 'utf8'));
  putFile(
    dst,
    'text_encoder/config.json',
    JSON.stringify({ ...textConfig, max_position_embeddings: positions }, null, 2),
  );
  const tokConfig = JSON.parse(readFileSync(join(tinySdDir, 'tokenizer', 'tokenizer_config.json'), 'utf8'));
  if (length === null) delete tokConfig.model_max_length;
  else tokConfig.model_max_length = length;
  putFile(dst, 'tokenizer/tokenizer_config.json', JSON.stringify(tokConfig, null, 2));

  const src = await SafetensorsFile.open(
    await FileByteSource.open(join(tinySdDir, 'text_encoder', 'model.safetensors')),
  );
  const tensors: TensorToWrite[] = [];
  try {
    for (const key of src.keys()) {
      const shape = [...src.info(key).shape];
      let data = await src.readFloat32(key);
      if (key === POSITIONS) {
        data = data.slice(0, positions * shape[1]);
        shape[0] = positions;
      }
      tensors.push(floatTensor(key, shape, data));
    }
  } finally {
    await src.close();
  }
  const path = join(dst, 'text_encoder', 'model.safetensors');
  rmSync(path);
  await writeSafetensors(await FileByteSink.create(path), tensors);
  return dst;
}
