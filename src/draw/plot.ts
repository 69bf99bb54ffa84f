/** A loss curve as an RGB image (log-scale y axis, the raw values and their running mean). */
import { blankImage, drawLine, type Colour } from './canvas.js';
import { drawText } from './font.js';
import type { RgbImage } from '../util/image.js';

export interface Series {
  label: string;
  /** [step, value] pairs in step order. */
  points: readonly (readonly [number, number])[];
  colour: Colour;
}

/** Plots the series (positive values) on one log-scale chart titled `title`. */
export function plotSeries(title: string, series: readonly Series[], width = 640, height = 360): RgbImage {
  const img = blankImage(width, height);
  const all = series.flatMap((s) => s.points.filter(([, v]) => v > 0 && Number.isFinite(v)));
  drawText(img, 8, 6, title);
  if (all.length < 2) return img;
  const [left, right, top, bottom] = [56, width - 12, 24, height - 28];
  const xMin = Math.min(...all.map((p) => p[0]));
  const xMax = Math.max(...all.map((p) => p[0]), xMin + 1);
  const lo = Math.log10(Math.min(...all.map((p) => p[1])));
  const hi = Math.max(Math.log10(Math.max(...all.map((p) => p[1]))), lo + 1e-3);
  const px = (x: number) => left + ((x - xMin) / (xMax - xMin)) * (right - left);
  const py = (v: number) => bottom - ((Math.log10(v) - lo) / (hi - lo)) * (bottom - top);
  const grey = [170, 170, 170] as const;
  drawLine(img, left, top, left, bottom, grey);
  drawLine(img, left, bottom, right, bottom, grey);
  for (let k = Math.ceil(lo * 2) / 2; k <= hi; k += 0.5) {
    const y = Math.round(py(10 ** k));
    drawLine(img, left - 3, y, left, y, grey);
    drawText(img, 4, y - 3, (10 ** k).toPrecision(2));
  }
  drawText(img, left, bottom + 8, `step ${xMin}`);
  const endLabel = `step ${xMax}`;
  drawText(img, right - endLabel.length * 6, bottom + 8, endLabel);
  series.forEach((s, si) => {
    const pts = s.points.filter(([, v]) => v > 0 && Number.isFinite(v));
    for (let i = 1; i < pts.length; i++)
      drawLine(img, px(pts[i - 1][0]), py(pts[i - 1][1]), px(pts[i][0]), py(pts[i][1]), s.colour);
    drawText(img, right - 160, top + 4 + si * 10, s.label, s.colour);
  });
  return img;
}

/** Running mean over a window, for a smoothed curve. */
export function runningMean(points: readonly (readonly [number, number])[], window: number): [number, number][] {
  const out: [number, number][] = [];
  let sum = 0;
  for (let i = 0; i < points.length; i++) {
    sum += points[i][1];
    if (i >= window) sum -= points[i - window][1];
    out.push([points[i][0], sum / Math.min(i + 1, window)]);
  }
  return out;
}
