/**
 * Debian's chromium for the browser tests and bench/web.ts, driven by playwright-core (no browser
 * download; `.ci/run` installs it), headless, with WebGL (and optionally WebGPU) on SwiftShader.
 */
import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

export const CHROMIUM = process.env.PTP_CHROMIUM ?? '/usr/bin/chromium';

const ARGS = [
  '--no-sandbox',
  '--disable-gpu-sandbox',
  '--use-angle=swiftshader',
  '--enable-unsafe-swiftshader',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
];
const WEBGPU_ARGS = [
  '--enable-unsafe-webgpu',
  '--disable-gpu-watchdog',
  '--enable-features=Vulkan',
  '--use-webgpu-adapter=swiftshader',
];

/** Launches chromium (`webgpu`: also WebGPU on SwiftShader); a missing browser is an error that says how to install it. */
export async function launchChromium(opts: { webgpu?: boolean } = {}): Promise<Browser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `chromium not found at ${CHROMIUM}: install it (apt-get install chromium; .ci/run does) or set PTP_CHROMIUM`,
    );
  }
  return chromium.launch({ executablePath: CHROMIUM, args: opts.webgpu ? [...ARGS, ...WEBGPU_ARGS] : ARGS });
}
