/** Weight sources: safetensors files (possibly sharded) seen as one keyed collection of tensors. */
import { decodeToFloat32, type HostValues, type StDtype } from './dtypes.js';
import type { SafetensorsFile } from './safetensors.js';

export interface WeightInfo {
  readonly dtype: StDtype;
  readonly shape: readonly number[];
}

/** A keyed collection of tensors, read one at a time. */
export interface WeightSource {
  /** File name(s), for error messages. */
  readonly name: string;
  keys(): string[];
  info(key: string): WeightInfo | undefined;
  /** float16 data as raw bits (Uint16Array) unless `float32` is set; everything else as float32. */
  read(key: string, float32?: boolean): Promise<HostValues>;
}

/** One or more safetensors files (diffusers shards) seen as one source. */
export class SafetensorsWeightSource implements WeightSource {
  private readonly owner = new Map<string, SafetensorsFile>();
  readonly name: string;

  constructor(readonly files: readonly SafetensorsFile[]) {
    this.name = files.map((f) => f.name).join(', ');
    for (const f of files) {
      for (const k of f.keys()) {
        const prev = this.owner.get(k);
        if (prev) throw new Error(`tensor "${k}" appears in both ${prev.name} and ${f.name}`);
        this.owner.set(k, f);
      }
    }
  }

  keys(): string[] {
    return [...this.owner.keys()];
  }

  info(key: string): WeightInfo | undefined {
    return this.owner.get(key)?.info(key);
  }

  async read(key: string, float32 = false): Promise<HostValues> {
    const f = this.owner.get(key);
    if (!f) throw new Error(`${this.name}: no tensor "${key}"`);
    const info = f.info(key);
    const bytes = await f.readBytes(key);
    if (info.dtype === 'F16' && !float32) return new Uint16Array(bytes.slice().buffer);
    return decodeToFloat32(bytes, info.dtype);
  }

  async close(): Promise<void> {
    for (const f of this.files) await f.close();
  }
}

/** The tensors of `src` under `prefix` (e.g. "down_blocks.2.attentions.0."), with the prefix removed. */
export class PrefixedWeightSource implements WeightSource {
  readonly name: string;
  constructor(
    private readonly src: WeightSource,
    private readonly prefix: string,
  ) {
    this.name = `${src.name} [${prefix}*]`;
  }
  keys(): string[] {
    return this.src
      .keys()
      .filter((k) => k.startsWith(this.prefix))
      .map((k) => k.slice(this.prefix.length));
  }
  info(key: string): WeightInfo | undefined {
    return this.src.info(this.prefix + key);
  }
  read(key: string, float32?: boolean): Promise<HostValues> {
    return this.src.read(this.prefix + key, float32);
  }
}
