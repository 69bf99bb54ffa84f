/** Mocha root hooks: activate the backend once (PTP_BACKEND, default wasm) before all tests. */
import { initNodeBackend } from '../src/node/backend.js';

export const mochaHooks = {
  async beforeAll(this: Mocha.Context) {
    this.timeout(60000);
    const b = await initNodeBackend(process.env.PTP_BACKEND ?? 'wasm');
    console.log(`    [tests run on backend: ${b.description}]`);
  },
};
