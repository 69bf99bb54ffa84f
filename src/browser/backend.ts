/**
 * Browser backend candidates: webgpu → webgl → wasm → cpu. In 'auto' mode a GPU backend running
 * on a software rasteriser (SwiftShader, llvmpipe, …) is skipped: it is 20–100× slower than wasm
 * on the same CPU. An explicit choice is always honoured.
 */
import * as tf from '@tensorflow/tfjs-core';
import { selectBackend, type BackendCandidate, type SelectedBackend } from '../backend/select.js';
import { installWasmKernelPatches } from '../backend/wasm-patches.js';
import { installWasmGradKernels } from '../backend/wasm-grad-kernels.js';
import { backendTensorBytesLimit } from '../backend/gpu-limits.js';
import { probeWebGPU } from './webgpu-probe.js';

export interface BrowserBackendOptions {
  /** URL prefix of the tfjs-backend-wasm .wasm files (default: tfjs' own lookup next to the script). */
  wasmPaths?: string;
  /** Skip GPU backends on software adapters in auto mode (default true). */
  avoidSoftwareGpu?: boolean;
}

const SOFTWARE = /swiftshader|llvmpipe|lavapipe|software|softpipe|basic render/i;

/** The WebGL renderer string (unmasked where the browser allows); in a worker through an OffscreenCanvas. */
function webglRenderer(): string {
  const canvas =
    typeof document !== 'undefined'
      ? document.createElement('canvas')
      : typeof OffscreenCanvas !== 'undefined'
        ? new OffscreenCanvas(1, 1)
        : undefined;
  if (!canvas) return '';
  const gl = (canvas.getContext('webgl2') ?? canvas.getContext('webgl')) as
    WebGLRenderingContext | WebGL2RenderingContext | null;
  if (!gl) return '';
  const ext = gl.getExtension('WEBGL_debug_renderer_info');
  const renderer = String(gl.getParameter(ext ? ext.UNMASKED_RENDERER_WEBGL : gl.RENDERER));
  gl.getExtension('WEBGL_lose_context')?.loseContext(); // a probe: free the context now
  return renderer;
}

interface WebGPUBackendView {
  adapterInfo?: { vendor?: string; architecture?: string; description?: string };
}

export function browserBackendCandidates(opts: BrowserBackendOptions = {}, auto = true): BackendCandidate[] {
  const avoid = auto && (opts.avoidSoftwareGpu ?? true);
  return [
    {
      name: 'webgpu',
      async load() {
        const probe = await probeWebGPU();
        if (!probe.available) throw new Error(probe.reason);
        if (avoid && SOFTWARE.test(probe.description))
          throw new Error(`software WebGPU adapter (${probe.description})`);
        await import('@tensorflow/tfjs-backend-webgpu');
        return 'webgpu';
      },
      async afterInit() {
        const info = (tf.backend() as unknown as WebGPUBackendView).adapterInfo ?? {};
        const adapter = [info.vendor, info.architecture, info.description].filter(Boolean).join(' ') || 'adapter';
        return `webgpu (${adapter}; ${Math.round(backendTensorBytesLimit() / 2 ** 20)} MiB per buffer)`;
      },
    },
    {
      name: 'webgl',
      async load() {
        const renderer = webglRenderer();
        if (!renderer) throw new Error('no WebGL context');
        if (avoid && SOFTWARE.test(renderer)) throw new Error(`software WebGL renderer (${renderer})`);
        await import('@tensorflow/tfjs-backend-webgl');
        return 'webgl';
      },
      async afterInit() {
        return `webgl (${webglRenderer()})`;
      },
    },
    {
      name: 'wasm',
      async load() {
        const wasm = await import('@tensorflow/tfjs-backend-wasm');
        if (opts.wasmPaths) wasm.setWasmPaths(opts.wasmPaths);
        return 'wasm';
      },
      async afterInit() {
        installWasmKernelPatches();
        installWasmGradKernels();
        const wasm = await import('@tensorflow/tfjs-backend-wasm');
        const simd = await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT');
        return `wasm (${simd ? 'simd' : 'no simd'}, ${wasm.getThreadsCount()} thread(s))`;
      },
    },
    {
      name: 'cpu',
      async load() {
        await import('@tensorflow/tfjs-backend-cpu');
        return 'cpu';
      },
    },
  ];
}

/** Activates `preferred` ('webgpu' | 'webgl' | 'wasm' | 'cpu'), or the first usable in order ('auto'). */
export async function initBrowserBackend(
  preferred = 'auto',
  opts: BrowserBackendOptions = {},
): Promise<SelectedBackend> {
  return selectBackend(browserBackendCandidates(opts, preferred === 'auto'), preferred);
}
