/** Connected components and small morphology on binary masks. */
import type { Mask } from './image.js';

export interface ConnectedComponents {
  /** Per pixel: 0 outside the mask, else the component number 1…count. */
  labels: Int32Array;
  /** `areas[k - 1]`: pixel count of component k. */
  areas: number[];
}

/** Connected components of a mask (4- or 8-connected), numbered in scan order. */
export function connectedComponents(mask: Mask, connectivity: 4 | 8 = 4): ConnectedComponents {
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
      const x = p % w,
        y = (p - x) / w;
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
export function componentMask(c: ConnectedComponents, k: number, width: number, height: number): Mask {
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
        const l = x > 0 ? cur[p - 1] : 0,
          m = cur[p],
          rr = x < w - 1 ? cur[p + 1] : 0;
        rows[p] = grow ? l | m | rr : l & m & rr;
      }
    }
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const p = y * w + x;
        const u = y > 0 ? rows[p - w] : 0,
          m = rows[p],
          d = y < h - 1 ? rows[p + w] : 0;
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
  // holes lie inside the bounding box: label the unset pixels of the box grown by one pixel
  let x0 = w,
    x1 = -1,
    y0 = h,
    y1 = -1;
  for (let p = 0; p < data.length; p++) {
    if (!data[p]) continue;
    const x = p % w,
      y = (p - x) / w;
    if (x < x0) x0 = x;
    if (x > x1) x1 = x;
    if (y < y0) y0 = y;
    if (y > y1) y1 = y;
  }
  const out = data.slice();
  if (x1 < 0) return { width: w, height: h, data: out };
  x0 = Math.max(0, x0 - 1);
  y0 = Math.max(0, y0 - 1);
  x1 = Math.min(w - 1, x1 + 1);
  y1 = Math.min(h - 1, y1 + 1);
  const bw = x1 - x0 + 1,
    bh = y1 - y0 + 1;
  const inverse = new Uint8Array(bw * bh);
  for (let y = 0; y < bh; y++) for (let x = 0; x < bw; x++) inverse[y * bw + x] = data[(y + y0) * w + x + x0] ? 0 : 1;
  const c = connectedComponents({ width: bw, height: bh, data: inverse }, 4);
  // a region touching the grown box's edge reaches the image border (or is the border itself)
  const open = new Uint8Array(c.areas.length + 1);
  for (let x = 0; x < bw; x++) open[c.labels[x]] = open[c.labels[(bh - 1) * bw + x]] = 1;
  for (let y = 0; y < bh; y++) open[c.labels[y * bw]] = open[c.labels[y * bw + bw - 1]] = 1;
  for (let y = 0; y < bh; y++) {
    for (let x = 0; x < bw; x++) {
      const k = c.labels[y * bw + x];
      if (k && !open[k]) out[(y + y0) * w + x + x0] = 1;
    }
  }
  return { width: w, height: h, data: out };
}

/** Erosion by a 3×3 cross: pixels set with all four 4-neighbours set (removes lines up to 2 px wide). */
export function erodeCross(mask: Mask): Mask {
  const { width: w, height: h, data } = mask;
  const out = new Uint8Array(w * h);
  for (let y = 1; y < h - 1; y++) {
    for (let x = 1; x < w - 1; x++) {
      const p = y * w + x;
      if (data[p] && data[p - 1] && data[p + 1] && data[p - w] && data[p + w]) out[p] = 1;
    }
  }
  return { width: w, height: h, data: out };
}
