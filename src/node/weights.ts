/** Opening safetensors weight files from disk. */
import { SafetensorsFile } from '../io/safetensors.js';
import { SafetensorsWeightSource } from '../io/weights.js';
import { FileByteSource } from './file-source.js';

export async function openSafetensors(path: string): Promise<SafetensorsFile> {
  return SafetensorsFile.open(await FileByteSource.open(path));
}

/** A WeightSource over one or more safetensors files on disk. */
export async function openWeightFiles(...paths: string[]): Promise<SafetensorsWeightSource> {
  return new SafetensorsWeightSource(await Promise.all(paths.map(openSafetensors)));
}
