/**
 * Whether the browser has a WebGPU adapter. No tfjs here, so a page's main thread can ask (to build
 * its backend menu) without loading the library.
 */

/** Whether this browser (or worker) has a WebGPU adapter: its description, or why there is none. */
export type WebGPUProbe = { available: true; description: string } | { available: false; reason: string };

/**
 * Asks for a WebGPU adapter (as tfjs-webgpu will). `navigator.gpu` alone does not tell: a browser
 * may expose it and still have no adapter (no supported GPU, WebGPU blocked or disabled).
 */
export async function probeWebGPU(): Promise<WebGPUProbe> {
  const gpu = (
    globalThis.navigator as unknown as
      { gpu?: { requestAdapter(): Promise<{ info?: Record<string, string> } | null> } } | undefined
  )?.gpu;
  if (!gpu) return { available: false, reason: 'this browser has no WebGPU (no navigator.gpu)' };
  let adapter: { info?: Record<string, string> } | null;
  try {
    adapter = await gpu.requestAdapter();
  } catch (e) {
    return {
      available: false,
      reason: `requesting a WebGPU adapter failed (${String((e as Error)?.message ?? e).split('\n')[0]})`,
    };
  }
  if (!adapter)
    return {
      available: false,
      reason: 'this browser offers no WebGPU adapter (no supported GPU, or WebGPU is disabled)',
    };
  const info = adapter.info ?? {};
  return { available: true, description: [info.vendor, info.architecture, info.description].filter(Boolean).join(' ') };
}
