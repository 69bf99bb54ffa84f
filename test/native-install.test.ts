/**
 * A machine without the Debian packages: `npm install`'s native step (native/install.mjs) prints
 * one line and succeeds when the compiler cannot find oneDNN or there is no compiler, and the
 * library then runs on wasm (auto skips native with the reason; asking for native is an error).
 */
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from './helpers/reference.js';
import { tempDirForSuite } from './helpers/tmp.js';

const addonPath = join(repoRoot, 'native', 'build', 'Release', 'ptp_native.node');

function install(env: Record<string, string>) {
  const before = existsSync(addonPath) ? statSync(addonPath).mtimeMs : undefined;
  const r = spawnSync(process.execPath, [join(repoRoot, 'native', 'install.mjs')], {
    env: { ...process.env, ...env },
    encoding: 'utf8',
    timeout: 120000,
  });
  const after = existsSync(addonPath) ? statSync(addonPath).mtimeMs : undefined;
  return { ...r, lines: (r.stdout + r.stderr).trim().split('\n'), untouched: before === after };
}

function child(backend: string | undefined, env: Record<string, string>) {
  const r = spawnSync(
    process.execPath,
    ['--import', 'tsx', join(repoRoot, 'test/helpers/conv-child.ts'), ...(backend ? [backend] : [])],
    { cwd: repoRoot, env: { ...process.env, PTP_BACKEND: '', ...env }, encoding: 'utf8', timeout: 120000 },
  );
  return {
    status: r.status,
    json: JSON.parse(r.stdout) as {
      backend?: string;
      skipped?: { name: string; reason: string }[];
      sum?: number;
      error?: string;
    },
  };
}

describe('without the native build prerequisites', function () {
  this.timeout(300000);
  const tmp = tempDirForSuite('native-install');

  it('install: a compiler that cannot find oneDNN gives one line, exit 0, nothing built', () => {
    // The real compiler with an empty system root: the oneDNN headers and library are not there.
    const cxx = join(tmp(), 'c++');
    writeFileSync(cxx, `#!/bin/sh\nexec c++ --sysroot=${join(tmp(), 'empty-sysroot')} "$@"\n`);
    chmodSync(cxx, 0o755);
    const r = install({ CXX: cxx });
    expect(r.status).to.equal(0);
    expect(r.lines, r.stdout + r.stderr).to.have.length(1);
    expect(r.lines[0]).to.match(
      /native kernels not built \(oneDNN not found: install libdnnl-dev .*dnnl\.hpp.*\); the wasm backend will be used$/,
    );
    expect(r.untouched).to.equal(true);
  });

  it('install: no compiler at all gives one line, exit 0', () => {
    const r = install({ CXX: join(tmp(), 'no-such-c++') });
    expect(r.status).to.equal(0);
    expect(r.lines).to.have.length(1);
    expect(r.lines[0]).to.match(/native kernels not built \(no C\+\+ compiler .*\); the wasm backend will be used$/);
  });

  it('runtime: auto skips native with the reason and computes on wasm; --backend native is an error naming it', () => {
    const env = { PTP_NATIVE_ADDON: join(tmp(), 'missing', 'ptp_native.node') };
    const auto = child(undefined, env);
    expect(auto.status, JSON.stringify(auto.json)).to.equal(0);
    expect(auto.json.backend).to.equal('wasm');
    expect(auto.json.skipped!.find((s) => s.name === 'native')?.reason).to.match(
      /^native addon not built \(.*missing\/ptp_native\.node is missing/,
    );
    expect(auto.json.sum).to.equal(16 * 2 * 2 * 13.5);
    const native = child('native', env);
    expect(native.status).to.equal(3);
    expect(native.json.error).to.match(/^backend "native" is not available: native addon not built/);
  });
});
