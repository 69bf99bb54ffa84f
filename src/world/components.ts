/** Connected components and small morphology on binary masks. */
import type { Mask } from './image.js';

export interface Components {
  /** Per pixel: 0 outside the mask, else the component number 1…count. */
  labels: Int32Array;
  /** `areas[k - 1]`: pixel count of component k. */
  areas: number[];
}

/** Connected components of a mask (4- or 8-connected), numbered in scan order. */
export function connectedComponents(mask: Mask, connectivity: 4 | 8 = 4): Components {
  const { width: w, height: h, data } = mask;
  const labels = new Int32Array(w * h);
  const areas: number[] = [];
  const stack: number[] = [];
  for (let start = 0; start < data.length; start++) {
    if (!data[start] || labels[start]) continue;
    const k = areas.length + 1;
    let area = 0;
    labels[start] = k;
    stack.push(start);
    while (stack.length) {
      const p = stack.pop()!;
      area++;
      const x = p % w, y = (p - x) / w;
      for (let dy = -1; dy <= 1; dy++) {
        const yy = y + dy;
        if (yy < 0 || yy >= h) continue;
        for (let dx = -1; dx <= 1; dx++) {
          if ((dx === 0 && dy === 0) || (connectivity === 4 && dx !== 0 && dy !== 0)) continue;
          const xx = x + dx;
          if (xx < 0 || xx >= w) continue;
          const q = yy * w + xx;
          if (data[q] && !labels[q]) {
            labels[q] = k;
            stack.push(q);
          }
        }
      }
    }
    areas.push(area);
  }
  return { labels, areas };
}

/** The mask of component `k` (1-based). */
export function componentMask(c: Components, k: number, width: number, height: number): Mask {
  const data = new Uint8Array(width * height);
  for (let i = 0; i < data.length; i++) if (c.labels[i] === k) data[i] = 1;
  return { width, height, data };
}

/** The largest 4-connected component of a mask (an empty mask stays empty). */
export function largestComponent(mask: Mask): Mask {
  const c = connectedComponents(mask);
  if (c.areas.length === 0) return { ...mask, data: new Uint8Array(mask.data.length) };
  const k = c.areas.indexOf(Math.max(...c.areas)) + 1;
  return componentMask(c, k, mask.width, mask.height);
}

/** Erosion (r < 0) or dilation (r > 0) by a (2|r|+1)² square; pixels outside the image count as unset. */
export function morph(mask: Mask, r: number): Mask {
  let cur = mask.data;
  const { width: w, height: h } = mask;
  const grow = r > 0;
  for (let step = 0; step < Math.abs(r); step++) {
    // separable 3-wide max/min, rows then columns
    const rows = new Uint8Array(w * h);
    const out = new Uint8Array(w * h);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const p = y * w + x;
        const l = x > 0 ? cur[p - 1] : 0, m = cur[p], rr = x < w - 1 ? cur[p + 1] : 0;
        rows[p] = grow ? l | m | rr : l & m & rr;
      }
    }
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const p = y * w + x;
        const u = y > 0 ? rows[p - w] : 0, m = rows[p], d = y < h - 1 ? rows[p + w] : 0;
        out[p] = grow ? u | m | d : u & m & d;
      }
    }
    cur = out;
  }
  return { width: w, height: h, data: cur === mask.data ? cur.slice() : cur };
}

/** The mask with its holes (unset regions not 4-connected to the image border) set. */
export function fillHoles(mask: Mask): Mask {
  const { width: w, height: h, data } = mask;
  const inverse = new Uint8Array(w * h);
  for (let p = 0; p < inverse.length; p++) inverse[p] = data[p] ? 0 : 1;
  const outside = connectedComponents({ width: w, height: h, data: inverse }, 4);
  const touches = new Uint8Array(outside.areas.length + 1);
  for (let x = 0; x < w; x++) touches[outside.labels[x]] = touches[outside.labels[(h - 1) * w + x]] = 1;
  for (let y = 0; y < h; y++) touches[outside.labels[y * w]] = touches[outside.labels[y * w + w - 1]] = 1;
  const out = new Uint8Array(w * h);
  for (let p = 0; p < out.length; p++) out[p] = data[p] || !touches[outside.labels[p]] ? 1 : 0;
  return { width: w, height: h, data: out };
}
