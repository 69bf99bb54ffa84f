// Fused scaled-dot-product attention for a range of query rows of one (batch item, head),
// wasm SIMD (AssemblyScript). Threads may run disjoint ranges at once, each with its own scratch.
//
// Four query rows at a time: a 4 × keys score strip (QKᵀ micro-kernel), softmax in base 2 in
// place, then P·V into a 4-row accumulator. The [queries, keys] score matrix is never stored.
// Two more unit kinds materialise the probabilities (for attention controllers) and multiply
// given probabilities by V, with the same strip kernels in the same order, so the fused path and
// probs → apply give identical bits.
//
// All tensors are float32 in the caller's layout: q [B, N, H·d], k/v [B, M, H·d],
// out [B, N, H·d]; the optional additive mask is [N or 1, M] with a row stride in floats
// (0 = one row for all queries). Keys and values are first packed once per head (a pack
// job), then shared by all threads. Memory is imported; the caller lays out every buffer.
// Build: `npm run build:kernels` (kernels/build.ts) embeds the binary in src/backend/kernels/.

const RG: i32 = 16; // query rows per group in the fused path (multiple of 4)
const BC: i32 = 512; // keys per block in the fused path (multiple of 8)
const LOG2E: f32 = 1.4426950408889634;
const NEG_INF: f32 = -Infinity;

// @ts-ignore: decorator
@inline function exp2v(x: v128): v128 {
  // 2^x for x ≤ 0 (clamped at −126): 2^n · p(x − n) with n = round(x) from the 1.5·2²³
  // trick (its low mantissa bits hold n), and the Cephes exp2f polynomial on [−½, ½].
  x = f32x4.pmax(x, f32x4.splat(-126.0));
  const t = f32x4.add(x, f32x4.splat(12582912.0));
  const f = f32x4.sub(x, f32x4.sub(t, f32x4.splat(12582912.0)));
  let p = f32x4.splat(1.535336188319500e-4);
  p = f32x4.add(f32x4.mul(p, f), f32x4.splat(1.339887440266574e-3));
  p = f32x4.add(f32x4.mul(p, f), f32x4.splat(9.618437357674640e-3));
  p = f32x4.add(f32x4.mul(p, f), f32x4.splat(5.550332471162809e-2));
  p = f32x4.add(f32x4.mul(p, f), f32x4.splat(2.402264791363012e-1));
  p = f32x4.add(f32x4.mul(p, f), f32x4.splat(6.931472028550421e-1));
  p = f32x4.add(f32x4.mul(p, f), f32x4.splat(1.0));
  // (bits(t) − bits(1.5·2²³) + 127) << 23 = 2^n as float bits.
  const e = i32x4.shl(i32x4.add(t, i32x4.splat(127 - 0x4b400000)), 23);
  return f32x4.mul(p, e);
}

// @ts-ignore: decorator
@inline function hmax(a: v128): f32 {
  const b = f32x4.pmax(a, v128.shuffle<f32>(a, a, 2, 3, 0, 1));
  return max(f32x4.extract_lane(b, 0), f32x4.extract_lane(b, 1));
}

// @ts-ignore: decorator
@inline function hsum(a: v128): f32 {
  const b = f32x4.add(a, v128.shuffle<f32>(a, a, 2, 3, 0, 1));
  return f32x4.extract_lane(b, 0) + f32x4.extract_lane(b, 1);
}

/** Bytes of scratch one thread needs for query chunks of up to n rows. */
export function scratchBytes(n: i32, m: i32, d: i32): usize {
  const np = (n + 3) & ~3;
  const mp = (m + 7) & ~7;
  // Qp [np, d] + S [RG, mp] + Oacc [RG, d]
  return <usize>(np * d + RG * mp + RG * d) * 4 + 64;
}

/** Bytes of one head's packed keys (or values). */
export function packedBytes(m: i32, d: i32): usize {
  return <usize>(((m + 7) & ~7) * d) * 4;
}

// Per-thread scratch (16-byte aligned: d and mp are multiples of 4) and the unit's packed K/V.
let qp: usize = 0;
let kt: usize = 0;
let vp: usize = 0;
let sb: usize = 0;
let oa: usize = 0;
let sStride: usize = 0; // bytes between score rows

function layout(scratch: usize, n: i32, m: i32, d: i32): void {
  const np = (n + 3) & ~3;
  const mp = (m + 7) & ~7;
  qp = (scratch + 15) & ~15;
  sb = qp + <usize>(np * d) * 4;
  sStride = <usize>mp * 4;
  oa = sb + <usize>RG * sStride;
}

/** Qp = q rows [r0, r0+rows) · (scale·log2e) as [pad4(rows), d] (zero rows past the end). */
function packQ(q: usize, b: i32, h: i32, n: i32, heads: i32, d: i32, scale: f32, r0: i32, rows: i32): void {
  const np = (rows + 3) & ~3;
  const row = <usize>(heads * d) * 4;
  const s = f32x4.splat(scale * LOG2E);
  let src = q + (<usize>(b * n + r0) * <usize>(heads * d) + <usize>(h * d)) * 4;
  let dst = qp;
  for (let i = 0; i < rows; i++) {
    for (let c = 0; c < d; c += 4) v128.store(dst + <usize>c * 4, f32x4.mul(v128.load(src + <usize>c * 4), s));
    src += row;
    dst += <usize>d * 4;
  }
  memory.fill(dst, 0, <usize>((np - rows) * d) * 4);
}

/** KT packed per group of 8 keys: [mp/8][d][8] (keys past m are zero). */
function packKT(kt: usize, k: usize, b: i32, h: i32, m: i32, heads: i32, d: i32): void {
  const mp = (m + 7) & ~7;
  const row = <usize>(heads * d) * 4;
  const src = k + (<usize>(b * m) * <usize>(heads * d) + <usize>(h * d)) * 4;
  memory.fill(kt + <usize>((m & ~7) * d) * 4, 0, <usize>((mp - (m & ~7)) * d) * 4);
  for (let j = 0; j < m; j++) {
    const s = src + <usize>j * row;
    const dst = kt + (<usize>((j >> 3) * d * 8) + <usize>(j & 7)) * 4;
    for (let c = 0; c < d; c++) store<f32>(dst + <usize>c * 32, load<f32>(s + <usize>c * 4));
  }
}

/**
 * V packed per tile of 8 columns: [d/8][mp][8], then a [mp][4] tile when d % 8 == 4 (rows past
 * m are zero).
 */
function packV(vp: usize, v: usize, b: i32, h: i32, m: i32, heads: i32, d: i32): void {
  const mp = (m + 7) & ~7;
  const row = <usize>(heads * d) * 4;
  const src = v + (<usize>(b * m) * <usize>(heads * d) + <usize>(h * d)) * 4;
  const full = d >> 3;
  const tile = <usize>(mp * 8) * 4;
  for (let j = 0; j < m; j++) {
    const s = src + <usize>j * row;
    let t = 0;
    for (; t < full; t++) {
      const dst = vp + <usize>t * tile + <usize>j * 32;
      v128.store(dst, v128.load(s + <usize>t * 32));
      v128.store(dst, v128.load(s + <usize>t * 32, 16), 16);
    }
    if (d & 4) v128.store(vp + <usize>full * tile + <usize>j * 16, v128.load(s + <usize>full * 32));
  }
  if (m < mp) {
    for (let t = 0; t < full; t++) memory.fill(vp + <usize>t * tile + <usize>m * 32, 0, <usize>(mp - m) * 32);
    if (d & 4) memory.fill(vp + <usize>full * tile + <usize>m * 16, 0, <usize>(mp - m) * 16);
  }
}

/** S[0..4, j0..j0+cols) = Qp[i..i+4] · Kᵀ[:, j0..j0+cols) (S rows from `dst`), cols and j0 multiples of 8. */
function qkStrip(dst: usize, i: i32, j0: i32, cols: i32, d: i32): void {
  const qRow = <usize>d * 4;
  const q0 = qp + <usize>i * qRow;
  const q1 = q0 + qRow;
  const q2 = q1 + qRow;
  const q3 = q2 + qRow;
  const s0 = dst;
  const s1 = s0 + sStride;
  const s2 = s1 + sStride;
  const s3 = s2 + sStride;
  let kp = kt + <usize>(j0 * d) * 4;
  for (let j = 0; j < cols; j += 8) {
    let a00 = f32x4.splat(0), a01 = f32x4.splat(0);
    let a10 = f32x4.splat(0), a11 = f32x4.splat(0);
    let a20 = f32x4.splat(0), a21 = f32x4.splat(0);
    let a30 = f32x4.splat(0), a31 = f32x4.splat(0);
    for (let off: usize = 0; off < qRow; off += 4) {
      const k0 = v128.load(kp);
      const k1 = v128.load(kp, 16);
      const x0 = v128.load32_splat(q0 + off);
      a00 = f32x4.add(a00, f32x4.mul(x0, k0));
      a01 = f32x4.add(a01, f32x4.mul(x0, k1));
      const x1 = v128.load32_splat(q1 + off);
      a10 = f32x4.add(a10, f32x4.mul(x1, k0));
      a11 = f32x4.add(a11, f32x4.mul(x1, k1));
      const x2 = v128.load32_splat(q2 + off);
      a20 = f32x4.add(a20, f32x4.mul(x2, k0));
      a21 = f32x4.add(a21, f32x4.mul(x2, k1));
      const x3 = v128.load32_splat(q3 + off);
      a30 = f32x4.add(a30, f32x4.mul(x3, k0));
      a31 = f32x4.add(a31, f32x4.mul(x3, k1));
      kp += 32;
    }
    const o = <usize>(j0 + j) * 4;
    v128.store(s0 + o, a00);
    v128.store(s0 + o, a01, 16);
    v128.store(s1 + o, a10);
    v128.store(s1 + o, a11, 16);
    v128.store(s2 + o, a20);
    v128.store(s2 + o, a21, 16);
    v128.store(s3 + o, a30);
    v128.store(s3 + o, a31, 16);
  }
}

/** Adds mask·log2e to the strip at `dst` (mask rows i..i+4, clamped to n−1) and sets keys ≥ m to −∞. */
function maskStrip(dst: usize, i: i32, j0: i32, cols: i32, n: i32, m: i32, mask: usize, maskStride: i32, hasMask: bool): void {
  const valid = min(cols, m - j0);
  for (let r = 0; r < 4; r++) {
    const s = dst + <usize>r * sStride;
    if (hasMask) {
      const row = min(i + r, n - 1);
      const mrow = mask + (<usize>row * <usize>maskStride + <usize>j0) * 4;
      for (let j = 0; j < valid; j++) {
        const p = s + <usize>j * 4;
        store<f32>(p, load<f32>(p) + load<f32>(mrow + <usize>j * 4) * LOG2E);
      }
    }
    for (let j = valid; j < cols; j++) store<f32>(s + <usize>j * 4, NEG_INF);
  }
}

/**
 * O[4 rows] += P[4 rows, 0..cols) · V[j0..j0+cols, 0..d): p rows `pStride` bytes apart, V
 * packed as by packV (mp rows), O rows d floats apart.
 */
function pvStrip(p: usize, pStride: usize, j0: i32, cols: i32, mp: i32, o: usize, d: i32): void {
  const oRow = <usize>d * 4;
  const p1 = p + pStride;
  const p2 = p1 + pStride;
  const p3 = p2 + pStride;
  const tile = <usize>(mp * 8) * 4;
  const pEnd = <usize>cols * 4;
  const full = d >> 3;
  for (let t = 0; t < full; t++) {
    const op = o + <usize>t * 32;
    let a00 = v128.load(op), a01 = v128.load(op, 16);
    let a10 = v128.load(op + oRow), a11 = v128.load(op + oRow, 16);
    let a20 = v128.load(op + 2 * oRow), a21 = v128.load(op + 2 * oRow, 16);
    let a30 = v128.load(op + 3 * oRow), a31 = v128.load(op + 3 * oRow, 16);
    let vv = vp + <usize>t * tile + <usize>j0 * 32;
    for (let off: usize = 0; off < pEnd; off += 4) {
      const v0 = v128.load(vv);
      const v1 = v128.load(vv, 16);
      const x0 = v128.load32_splat(p + off);
      a00 = f32x4.add(a00, f32x4.mul(x0, v0));
      a01 = f32x4.add(a01, f32x4.mul(x0, v1));
      const x1 = v128.load32_splat(p1 + off);
      a10 = f32x4.add(a10, f32x4.mul(x1, v0));
      a11 = f32x4.add(a11, f32x4.mul(x1, v1));
      const x2 = v128.load32_splat(p2 + off);
      a20 = f32x4.add(a20, f32x4.mul(x2, v0));
      a21 = f32x4.add(a21, f32x4.mul(x2, v1));
      const x3 = v128.load32_splat(p3 + off);
      a30 = f32x4.add(a30, f32x4.mul(x3, v0));
      a31 = f32x4.add(a31, f32x4.mul(x3, v1));
      vv += 32;
    }
    v128.store(op, a00);
    v128.store(op, a01, 16);
    v128.store(op + oRow, a10);
    v128.store(op + oRow, a11, 16);
    v128.store(op + 2 * oRow, a20);
    v128.store(op + 2 * oRow, a21, 16);
    v128.store(op + 3 * oRow, a30);
    v128.store(op + 3 * oRow, a31, 16);
  }
  if (d & 4) {
    const op = o + <usize>full * 32;
    let a0 = v128.load(op);
    let a1 = v128.load(op + oRow);
    let a2 = v128.load(op + 2 * oRow);
    let a3 = v128.load(op + 3 * oRow);
    let vv = vp + <usize>full * tile + <usize>j0 * 16;
    for (let off: usize = 0; off < pEnd; off += 4) {
      const v0 = v128.load(vv);
      a0 = f32x4.add(a0, f32x4.mul(v128.load32_splat(p + off), v0));
      a1 = f32x4.add(a1, f32x4.mul(v128.load32_splat(p1 + off), v0));
      a2 = f32x4.add(a2, f32x4.mul(v128.load32_splat(p2 + off), v0));
      a3 = f32x4.add(a3, f32x4.mul(v128.load32_splat(p3 + off), v0));
      vv += 16;
    }
    v128.store(op, a0);
    v128.store(op + oRow, a1);
    v128.store(op + 2 * oRow, a2);
    v128.store(op + 3 * oRow, a3);
  }
}

/**
 * One row of the score strip → probabilities in place: p[j] = 2^(s[j] − max) / Σ (keys past m
 * were set to −∞ by maskStrip and become 0). probsRows and fusedRows share it, so the fused path's
 * probabilities are bit-identical to the ones a controller sees.
 */
function softmaxRow(s: usize, m: i32, mp: i32): void {
  let mx = f32x4.splat(NEG_INF);
  for (let j = 0; j < mp; j += 4) mx = f32x4.pmax(mx, v128.load(s + <usize>j * 4));
  const mv = f32x4.splat(hmax(mx));
  let sum = f32x4.splat(0);
  for (let j = 0; j < mp; j += 4) {
    const p = exp2v(f32x4.sub(v128.load(s + <usize>j * 4), mv));
    v128.store(s + <usize>j * 4, p);
    sum = f32x4.add(sum, p);
  }
  // Keys past m hold 2^−∞ = 0 and stay 0.
  const inv = f32x4.splat(<f32>1 / hsum(sum));
  for (let j = 0; j < mp; j += 4) v128.store(s + <usize>j * 4, f32x4.mul(v128.load(s + <usize>j * 4), inv));
}

/** Copies the first `valid` accumulator rows to out rows [first, first + valid) of head h. */
function writeRows(out: usize, b: i32, h: i32, n: i32, heads: i32, d: i32, first: i32, valid: i32): void {
  for (let r = 0; r < valid; r++) {
    memory.copy(out + (<usize>(b * n + first + r) * <usize>(heads * d) + <usize>(h * d)) * 4, oa + <usize>(r * d) * 4, <usize>d * 4);
  }
}

/**
 * out[b, r0..r0+rows, h·d:(h+1)·d] = softmax(q_h·k_hᵀ·scale + mask)·v_h for the query rows
 * [r0, r0+rows), RG rows at a time: their scores over all keys (RG·m floats; keys in blocks of
 * BC so a block of K, and later of V, serves every row of the group from cache) are turned into
 * probabilities and multiplied by V; the [queries, keys] matrix is never stored. Every score and
 * every output element is computed with exactly the operations, in exactly the order, of
 * probsRows followed by applyRows (same strip kernels; a sum over keys only continues in the next
 * block), so a controller that returns the probabilities unchanged gives the same bits.
 */
function fusedRows(
  q: usize, out: usize, mask: usize, maskStride: i32, hasMask: bool,
  b: i32, h: i32, n: i32, m: i32, heads: i32, d: i32, scale: f32, scratch: usize, r0: i32, rows: i32,
): void {
  layout(scratch, n, m, d);
  const np = (rows + 3) & ~3;
  const mp = (m + 7) & ~7;
  packQ(q, b, h, n, heads, d, scale, r0, rows);
  for (let i0 = 0; i0 < np; i0 += RG) {
    const g = min(RG, np - i0);
    for (let j0 = 0; j0 < mp; j0 += BC) {
      const cols = min(BC, mp - j0);
      for (let t = 0; t < g; t += 4) qkStrip(sb + <usize>t * sStride, i0 + t, j0, cols, d);
    }
    for (let t = 0; t < g; t += 4) maskStrip(sb + <usize>t * sStride, r0 + i0 + t, 0, mp, n, m, mask, maskStride, hasMask);
    for (let r = 0; r < g; r++) softmaxRow(sb + <usize>r * sStride, m, mp);
    memory.fill(oa, 0, <usize>(g * d) * 4);
    for (let j0 = 0; j0 < m; j0 += BC) {
      const cols = min(BC, m - j0);
      for (let t = 0; t < g; t += 4) pvStrip(sb + <usize>t * sStride + <usize>j0 * 4, sStride, j0, cols, mp, oa + <usize>(t * d) * 4, d);
    }
    writeRows(out, b, h, n, heads, d, r0 + i0, min(g, rows - i0));
  }
}

/**
 * Rows [r0, r0+rows) of one head's probabilities: probs points at the head's [n, m] block
 * (row stride m); probs[i] = softmax(q_h[i]·k_hᵀ·scale + mask[i]).
 */
function probsRows(
  q: usize, mask: usize, maskStride: i32, hasMask: bool, probs: usize,
  b: i32, h: i32, n: i32, m: i32, heads: i32, d: i32, scale: f32, scratch: usize, r0: i32, rows: i32,
): void {
  layout(scratch, n, m, d);
  const np = (rows + 3) & ~3;
  const mp = (m + 7) & ~7;
  packQ(q, b, h, n, heads, d, scale, r0, rows);
  for (let i = 0; i < np; i += 4) {
    qkStrip(sb, i, 0, mp, d);
    maskStrip(sb, r0 + i, 0, mp, n, m, mask, maskStride, hasMask);
    for (let r = 0; r < 4 && i + r < rows; r++) {
      const s = sb + <usize>r * sStride;
      softmaxRow(s, m, mp);
      memory.copy(probs + <usize>((r0 + i + r) * m) * 4, s, <usize>m * 4);
    }
  }
}

/** out[b, r0..r0+rows, h·d:(h+1)·d] = probs[r0..r0+rows, 0..m] · v_h (probs: the head's block). */
function applyRows(
  probs: usize, out: usize, b: i32, h: i32, n: i32, m: i32, heads: i32, d: i32, scratch: usize, r0: i32, rows: i32,
): void {
  layout(scratch, n, m, d);
  const mp = (m + 7) & ~7;
  const oRow = <usize>d * 4;
  const pRow = <usize>m * 4;
  const end = r0 + rows;
  for (let i = r0; i < end; i += 4) {
    const valid = min(4, end - i);
    memory.fill(oa, 0, <usize>(4 * d) * 4);
    if (valid == 4) {
      pvStrip(probs + <usize>i * pRow, pRow, 0, m, mp, oa, d);
    } else {
      // Copy the tail rows (the last one repeated) so the strip can read 4 rows.
      for (let r = 0; r < 4; r++) memory.copy(sb + <usize>r * sStride, probs + <usize>min(i + r, end - 1) * pRow, pRow);
      pvStrip(sb, sStride, 0, m, mp, oa, d);
    }
    for (let r = 0; r < valid; r++) {
      memory.copy(out + (<usize>(b * n + i + r) * <usize>(heads * d) + <usize>(h * d)) * 4, oa + <usize>(r * d) * 4, oRow);
    }
  }
}

// ---- work units ------------------------------------------------------------------------------
// A job is one kind of unit run over the heads [HEAD_START, HEAD_START + count) of a call: pack
// (units = count·2: keys or values of one head into the packed buffers), or fused / probs /
// apply (units = count·CHUNKS: one chunk of query rows of one head). Its description sits in a
// control block of i32 fields in memory (written by the caller); every thread claims units with
// an atomic counter and runs them with its own scratch region.

// 0: SEQ (job sequence number waited on by worker threads; negative = stop), 1: NEXT (next
// unclaimed unit), 2: DONE (units finished), 3: FAILED (set by the JS side) — used from JS only.
const KIND = 4; // 0 fused, 1 probs, 2 apply, 3 pack
const CHUNKS = 6; // row chunks per head
const CHUNK_ROWS = 7;
const HEAD_START = 8; // first (b·heads + h) of the job
const Q = 9;
const K = 10;
const V = 11;
const OUT = 12;
const PROBS = 13; // [job heads, n, m] block of probabilities
const MASK = 14;
const MASK_STRIDE = 15;
const HAS_MASK = 16;
const N = 17;
const M = 18;
const HEADS = 19;
const D = 20;
const SCALE = 21; // f32
const SCRATCH = 22;
const SCRATCH_STRIDE = 23;
const KPACK = 24; // [job heads] packed keys
const VPACK = 25; // [job heads] packed values
const PACK = 26; // pack jobs: 1 = keys, 2 = values, 3 = both

// @ts-ignore: decorator
@inline function field(ctrl: usize, i: i32): i32 {
  return load<i32>(ctrl + <usize>i * 4);
}

/** Runs unit `u` of the job described at `ctrl`, on thread `thread` (0 = the caller). */
export function runUnit(ctrl: usize, u: i32, thread: i32): void {
  const n = field(ctrl, N);
  const m = field(ctrl, M);
  const heads = field(ctrl, HEADS);
  const d = field(ctrl, D);
  const kind = field(ctrl, KIND);
  const per = <usize>packedBytes(m, d);
  if (kind == 3) {
    const local = u >> 1;
    const head = field(ctrl, HEAD_START) + local;
    const what = field(ctrl, PACK);
    if (u & 1) {
      if (what & 2) packV(<usize>field(ctrl, VPACK) + <usize>local * per, field(ctrl, V), head / heads, head % heads, m, heads, d);
    } else if (what & 1) {
      packKT(<usize>field(ctrl, KPACK) + <usize>local * per, field(ctrl, K), head / heads, head % heads, m, heads, d);
    }
    return;
  }
  const chunks = field(ctrl, CHUNKS);
  const chunkRows = field(ctrl, CHUNK_ROWS);
  const local = u / chunks;
  const head = field(ctrl, HEAD_START) + local;
  const b = head / heads;
  const h = head % heads;
  const r0 = (u % chunks) * chunkRows;
  const rows = min(chunkRows, n - r0);
  kt = <usize>field(ctrl, KPACK) + <usize>local * per;
  vp = <usize>field(ctrl, VPACK) + <usize>local * per;
  const probs = <usize>field(ctrl, PROBS) + <usize>local * <usize>n * <usize>m * 4;
  const scratch = <usize>field(ctrl, SCRATCH) + <usize>thread * <usize>field(ctrl, SCRATCH_STRIDE);
  const scale = load<f32>(ctrl + <usize>SCALE * 4);
  const mask = <usize>field(ctrl, MASK);
  const maskStride = field(ctrl, MASK_STRIDE);
  const hasMask = field(ctrl, HAS_MASK) != 0;
  if (kind == 0) {
    fusedRows(field(ctrl, Q), field(ctrl, OUT), mask, maskStride, hasMask, b, h, n, m, heads, d, scale, scratch, r0, rows);
  } else if (kind == 1) {
    probsRows(field(ctrl, Q), mask, maskStride, hasMask, probs, b, h, n, m, heads, d, scale, scratch, r0, rows);
  } else {
    applyRows(probs, field(ctrl, OUT), b, h, n, m, heads, d, scratch, r0, rows);
  }
}
