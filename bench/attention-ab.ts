/** Standalone attention A/B: npx tsx bench/attention-ab.ts [reps] */
import { initNodeBackend } from '../src/node/backend.js';
import { attentionCases, benchAttention } from './attention.js';

await initNodeBackend(process.env.PTP_BACKEND ?? 'wasm');
await benchAttention(attentionCases, ['fused', 'per-head'], Number(process.argv[2] ?? 3));
