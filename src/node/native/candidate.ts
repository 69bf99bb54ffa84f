/**
 * The `native` backend candidate: the wasm backend with the native kernels registered over it.
 * It loads only when the addon was built (npm install with a compiler and libdnnl-dev).
 */
import type { BackendCandidate } from '../../backend/select.js';
import { loadNativeAddon, type NativeAddon, type NativePrecision } from './addon.js';
import { installNativeKernels } from './install.js';

let preferred: NativePrecision | undefined;
let active: NativeAddon | undefined;

/** The precision asked for: setNativePrecision's, else PTP_PRECISION, else fp32. */
export function wantedPrecision(): NativePrecision {
  const p = (preferred ?? (process.env.PTP_PRECISION || 'fp32')).toLowerCase();
  if (p !== 'fp32' && p !== 'bf16')
    throw new Error(`precision must be fp32 or bf16, got "${p}" (--precision / PTP_PRECISION)`);
  return p;
}

/**
 * Precision of the native convolutions and matmuls from now on: fp32, or bf16 operands with
 * fp32 accumulation (fast where the CPU has AVX512-BF16/AMX; oneDNN emulates it elsewhere).
 */
export function setNativePrecision(p: NativePrecision): void {
  preferred = p;
  active?.setPrecision(wantedPrecision());
}

/**
 * `loadWasm`/`wasmAfterInit` are the wasm candidate's steps (thread set-up and patches); the
 * native kernels then replace the wasm ones for convolutions and matmuls.
 */
export function nativeCandidate(
  loadWasm: () => Promise<string>,
  wasmAfterInit: () => Promise<string>,
): BackendCandidate {
  return {
    name: 'native',
    aliases: ['onednn'],
    async load() {
      const p = wantedPrecision();
      const addon = loadNativeAddon();
      addon.setPrecision(p);
      active = addon;
      return loadWasm();
    },
    async afterInit() {
      const wasmDescription = await wasmAfterInit();
      installNativeKernels(active!);
      const i = active!.info();
      const precision =
        i.precision !== 'bf16'
          ? i.precision
          : !i.bf16Native
            ? 'bf16 emulated: no AVX512-BF16/AMX on this CPU'
            : `bf16${i.attentionBf16 ? ', attention too' : ''}`;
      return `native (${i.library}, ${i.threads} thread${i.threads === 1 ? '' : 's'}, ${precision}) over ${wasmDescription}`;
    },
  };
}
