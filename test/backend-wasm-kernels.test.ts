/**
 * The committed kernel binaries (src/backend/kernels/*-wasm.ts) are what their AssemblyScript
 * sources compile to: rebuilds them in memory with the pinned assemblyscript and compares.
 */
import { expect } from 'chai';
import { staleKernels } from '../kernels/build.js';

describe('wasm kernel binaries', function () {
  this.timeout(120000);

  it('are up to date with kernels/assembly (else: npm run build:kernels)', async () => {
    expect(await staleKernels()).to.deep.equal([]);
  });
});
