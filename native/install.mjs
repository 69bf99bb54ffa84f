#!/usr/bin/env node
// `npm install` step: builds the optional native kernels (native/, N-API over oneDNN) when a C++
// compiler, Debian's libdnnl-dev and the node headers are present; otherwise prints one line
// saying why and the library uses wasm. Never downloads anything, never fails the install.
//   PTP_NATIVE_BUILD=0   skip the build
//   CXX                  the compiler (default c++)
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const addon = join(here, 'build', 'Release', 'ptp_native.node');
const say = (msg) => console.log(`tfjs-prompt-to-prompt: ${msg}`);
const skip = (why) => say(`native kernels not built (${why}); the wasm backend will be used`);

const run = (cmd, args, opts = {}) => spawnSync(cmd, args, { encoding: 'utf8', timeout: 15 * 60 * 1000, ...opts });
const firstError = (out) =>
  (out.split('\n').find((l) => /error/i.test(l)) ?? out.trim().split('\n').pop() ?? '').trim().slice(0, 160);

/** Node's headers on this machine (node-gyp would download them otherwise). */
function nodeDir() {
  const dirs = [process.env.npm_config_nodedir, dirname(dirname(process.execPath)), '/usr'].filter(Boolean);
  return dirs.find((d) => existsSync(join(d, 'include', 'node', 'node_api.h')));
}

/** node-gyp: the copy npm runs scripts with, else npm's own, else a local install. */
function nodeGyp() {
  const npmDir = join(dirname(dirname(process.execPath)), 'lib', 'node_modules', 'npm');
  const candidates = [
    process.env.npm_config_node_gyp,
    join(npmDir, 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
    '/usr/share/nodejs/node-gyp/bin/node-gyp.js',
    join(here, '..', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
  ];
  return candidates.find((p) => p && existsSync(p));
}

/** Compiles and links a one-line oneDNN program: the headers and the library are usable. */
function probeOneDnn(cxx) {
  const dir = mkdtempSync(join(tmpdir(), 'ptp-native-probe-'));
  try {
    writeFileSync(
      join(dir, 'probe.cc'),
      '#include <oneapi/dnnl/dnnl.hpp>\nint main() { return dnnl::engine::get_count(dnnl::engine::kind::cpu) > 0 ? 0 : 1; }\n',
    );
    const r = run(cxx, ['-std=c++17', join(dir, 'probe.cc'), '-o', join(dir, 'probe'), '-ldnnl']);
    if (r.error) return `${r.error.code === 'ENOENT' ? 'no C++ compiler' : 'the C++ compiler failed to run'} (${cxx})`;
    if (r.status !== 0) return `oneDNN not found: install libdnnl-dev (${firstError(r.stderr + r.stdout)})`;
    return undefined;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function main() {
  if (process.env.PTP_NATIVE_BUILD === '0') return skip('PTP_NATIVE_BUILD=0');
  if (process.platform !== 'linux') return skip(`only Linux builds are set up, this is ${process.platform}`);
  const cxx = process.env.CXX || 'c++';
  const probe = probeOneDnn(cxx);
  if (probe) return skip(probe);
  const nodedir = nodeDir();
  if (!nodedir) return skip('node headers (include/node/node_api.h) not found next to node or in /usr');
  const gyp = nodeGyp();
  if (!gyp) return skip('node-gyp not found');
  const build = run(process.execPath, [gyp, 'rebuild', `--nodedir=${nodedir}`, '--directory', here], {
    env: { ...process.env, CXX: cxx },
  });
  if (build.status !== 0 || !existsSync(addon)) {
    writeFileSync(join(here, 'build.log'), `${build.stdout ?? ''}\n${build.stderr ?? ''}`);
    return skip(`node-gyp failed: ${firstError((build.stderr ?? '') + (build.stdout ?? ''))}; log in native/build.log`);
  }
  // Load it once in a fresh process: a build that links but cannot load is removed.
  const check = run(process.execPath, ['-e', `console.log(require(${JSON.stringify(addon)}).info().library)`]);
  if (check.status !== 0) {
    rmSync(addon, { force: true });
    return skip(`the built addon does not load: ${firstError(check.stderr)}`);
  }
  rmSync(join(here, 'build.log'), { force: true });
  say(`native kernels built (${check.stdout.trim()})`);
}

try {
  main();
} catch (e) {
  skip(`unexpected: ${String(e?.message ?? e).split('\n')[0]}`);
}
