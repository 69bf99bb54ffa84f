/**
 * Loading VAE checkpoints: the one place where legacy key names are handled, and the keys a
 * decoder-only model does not use. `AutoencoderKL` applies both through `loadWeights`.
 *
 * Legacy names of the VAE mid-block attention weights:
 * diffusers < 0.14 (AttentionBlock) called them `query`, `key`, `value`, `proj_attn` (Linear
 * weights [C, C]); the original CompVis VAE calls them `q`, `k`, `v`, `proj_out`, `norm` with
 * 1×1 conv weights [C, C, 1, 1]. Current diffusers uses `to_q`, `to_k`, `to_v`, `to_out.0`,
 * `group_norm` with [C, C]. Only keys inside `…mid_block.attentions.N.` are renamed. VAE weights
 * only: the UNet's transformer blocks legitimately use `norm` and `proj_out` there.
 */
import type { WeightInfo, WeightSource } from '../../io/weights.js';
import type { HostValues } from '../../io/dtypes.js';

const NAMES: Readonly<Record<string, string>> = {
  query: 'to_q',
  key: 'to_k',
  value: 'to_v',
  proj_attn: 'to_out.0',
  q: 'to_q',
  k: 'to_k',
  v: 'to_v',
  proj_out: 'to_out.0',
  norm: 'group_norm',
};

const LEGACY_KEY = /^(.*\bmid_block\.attentions\.\d+\.)(query|key|value|proj_attn|q|k|v|proj_out|norm)\.(weight|bias)$/;

/** The current diffusers name of a legacy VAE attention key, or undefined if `key` is not one. */
export function renameLegacyVaeKey(key: string): string | undefined {
  const m = LEGACY_KEY.exec(key);
  return m ? `${m[1]}${NAMES[m[2]]}.${m[3]}` : undefined;
}

const isProjectionWeight = (modelKey: string) => /\.(to_q|to_k|to_v|to_out\.0)\.weight$/.test(modelKey);

/**
 * `src` seen with current key names: legacy attention keys renamed, and 1×1 conv projection
 * weights [C, C, 1, 1] presented as [C, C] (same bytes). Other keys pass through unchanged.
 */
export class LegacyVaeAttentionSource implements WeightSource {
  readonly name: string;
  private readonly fileKey = new Map<string, string>();

  constructor(private readonly src: WeightSource) {
    this.name = src.name;
    for (const k of src.keys()) {
      const modelKey = renameLegacyVaeKey(k) ?? k;
      const prev = this.fileKey.get(modelKey);
      if (prev !== undefined) throw new Error(`${src.name}: tensors "${prev}" and "${k}" both map to "${modelKey}"`);
      this.fileKey.set(modelKey, k);
    }
  }

  keys(): string[] {
    return [...this.fileKey.keys()];
  }

  info(key: string): WeightInfo | undefined {
    const fk = this.fileKey.get(key);
    const info = fk === undefined ? undefined : this.src.info(fk);
    if (!info || !isProjectionWeight(key) || info.shape.length !== 4 || info.shape[2] !== 1 || info.shape[3] !== 1) return info;
    return { dtype: info.dtype, shape: info.shape.slice(0, 2) };
  }

  read(key: string, float32?: boolean): Promise<HostValues> {
    const fk = this.fileKey.get(key);
    if (fk === undefined) return Promise.reject(new Error(`${this.name}: no tensor "${key}"`));
    return this.src.read(fk, float32);
  }
}

/** Keys of a full VAE checkpoint that a decoder-only model does not use. */
export const isEncoderKey = (key: string): boolean => key.startsWith('encoder.') || key.startsWith('quant_conv.');
