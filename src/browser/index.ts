/**
 * tfjs-prompt-to-prompt/browser: backend selection in the browser (webgpu → webgl → wasm → cpu,
 * software GPU adapters skipped). Everything else comes from `tfjs-prompt-to-prompt`; weights load
 * over HTTP range requests with its `HttpFileStore`.
 *
 * ```ts
 * import { initBrowserBackend } from 'tfjs-prompt-to-prompt/browser';
 * import { HttpFileStore, loadPipeline } from 'tfjs-prompt-to-prompt';
 *
 * await initBrowserBackend('auto', { wasmPaths: '/tfjs-wasm/' });
 * const pipe = await loadPipeline(new HttpFileStore('https://example.org/sd15/'));
 * ```
 * @packageDocumentation
 */
export { browserBackendCandidates, initBrowserBackend, type BrowserBackendOptions } from './backend.js';
export { probeWebGPU, type WebGPUProbe } from './webgpu-probe.js';
