/**
 * Shape outlines and their anti-aliased pixel coverage, shared by the renderer and the shape test.
 *
 * Every shape is drawn inside an axis-aligned box (pixel units, centre `cx, cy`, size `w × h`),
 * stretched to it: circle → ellipse inscribed in the box, square → the box, triangle → apex at the
 * top centre and base along the bottom edge, star → a 5-point star pointing up whose outer points
 * touch the box's sides. A shape's natural box (`SHAPE_ASPECT`) keeps it unstretched.
 *
 * Coverage of the pixel whose centre is (px, py) is the area fraction of the unit pixel inside the
 * shape: exact for the square (product of the two interval overlaps), `clamp(0.5 − d)` from the exact
 * signed distance `d` (pixels) for the circle and the polygons (exact along straight edges at any
 * angle up to the corner pixels), and from a first-order distance for stretched ellipses.
 */
import type { ShapeName } from './palette.js';

/** Inner radius of the star as a fraction of its outer radius (a regular pentagram has 0.382). */
export const STAR_INNER_RATIO = 0.45;

// cos/sin of 18° and 54° as literals (Math.cos/sin may differ in the last bit between JS engines;
// these and IEEE arithmetic make renders bit-identical everywhere).
const C18 = 0.9510565162951535,
  S18 = 0.3090169943749474,
  C54 = 0.5877852522924731,
  S54 = 0.8090169943749475;
/** Unit directions of the star's vertices from its centre, clockwise on screen from the top point (y down). */
const STAR_DIRECTIONS = [
  [0, -1],
  [C54, -S54],
  [C18, -S18],
  [C18, S18],
  [C54, S54],
  [0, 1],
  [-C54, S54],
  [-C18, S18],
  [-C18, -S18],
  [-C54, -S54],
];
const STAR_WIDTH = 2 * C18; // outer radius 1: x in ±sin 72°
const STAR_HEIGHT = 1 + S54; // y in [−1, cos 36°]

/** Height / width of each shape's unstretched box. */
export const SHAPE_ASPECT: Readonly<Record<ShapeName, number>> = {
  circle: 1,
  square: 1,
  triangle: 1,
  star: STAR_HEIGHT / STAR_WIDTH,
};

/** Polygon vertices in the unit box [-0.5, 0.5]² (y down), clockwise on screen. */
const UNIT_POLYGONS: Readonly<Partial<Record<ShapeName, readonly (readonly [number, number])[]>>> = {
  triangle: [
    [0, -0.5],
    [0.5, 0.5],
    [-0.5, 0.5],
  ],
  star: STAR_DIRECTIONS.map(([dx, dy], k) => {
    const r = k % 2 === 0 ? 1 : STAR_INNER_RATIO;
    return [(r * dx) / STAR_WIDTH, (r * dy + 1) / STAR_HEIGHT - 0.5] as const;
  }),
};

/** Area of a polygon (shoelace), in the units of its vertices. */
function polygonArea(pts: readonly (readonly [number, number])[]): number {
  let a = 0;
  for (let i = 0, j = pts.length - 1; i < pts.length; j = i++) a += pts[j][0] * pts[i][1] - pts[i][0] * pts[j][1];
  return Math.abs(a) / 2;
}

/** Centroid height of a polygon (y down), in the units of its vertices. */
function polygonCentroidY(pts: readonly (readonly [number, number])[]): number {
  let a = 0,
    cy = 0;
  for (let i = 0, j = pts.length - 1; i < pts.length; j = i++) {
    const cross = pts[j][0] * pts[i][1] - pts[i][0] * pts[j][1];
    a += cross;
    cy += (pts[j][1] + pts[i][1]) * cross;
  }
  return cy / (3 * a);
}

/** Area of each shape as a fraction of its box's area. */
export const SHAPE_FILL: Readonly<Record<ShapeName, number>> = {
  circle: Math.PI / 4,
  square: 1,
  triangle: polygonArea(UNIT_POLYGONS.triangle!),
  star: polygonArea(UNIT_POLYGONS.star!),
};

/** Centroid of each shape below its box's centre, as a fraction of the box's height. */
export const SHAPE_CENTROID_Y: Readonly<Record<ShapeName, number>> = {
  circle: 0,
  square: 0,
  triangle: polygonCentroidY(UNIT_POLYGONS.triangle!),
  star: polygonCentroidY(UNIT_POLYGONS.star!),
};

/** A shape placed in pixel space: its pixel bounds and a coverage function. */
export interface PlacedShape {
  /** Pixel columns [x0, x1) and rows [y0, y1) where coverage can be non-zero (not clipped). */
  x0: number;
  x1: number;
  y0: number;
  y1: number;
  /** Coverage in [0, 1] of the pixel centred at (px, py) (pixel units, centres at i + 0.5). */
  coverage(px: number, py: number): number;
}

const clamp01 = (v: number) => (v <= 0 ? 0 : v >= 1 ? 1 : v);

/** The shape stretched to the box centred at (cx, cy) of size w × h (pixel units). */
export function placeShape(shape: ShapeName, cx: number, cy: number, w: number, h: number): PlacedShape {
  const bounds = {
    x0: Math.floor(cx - w / 2 - 1),
    x1: Math.ceil(cx + w / 2 + 1),
    y0: Math.floor(cy - h / 2 - 1),
    y1: Math.ceil(cy + h / 2 + 1),
  };
  if (shape === 'square') {
    const l = cx - w / 2,
      r = cx + w / 2,
      t = cy - h / 2,
      b = cy + h / 2;
    const overlap = (c: number, lo: number, hi: number) => clamp01(Math.min(c + 0.5, hi) - Math.max(c - 0.5, lo));
    return { ...bounds, coverage: (px, py) => overlap(px, l, r) * overlap(py, t, b) };
  }
  if (shape === 'circle') {
    const a = w / 2,
      b = h / 2;
    return {
      ...bounds,
      coverage(px, py) {
        const u = (px - cx) / a,
          v = (py - cy) / b;
        const rho = Math.sqrt(u * u + v * v);
        if (rho === 0) return clamp01(0.5 + Math.min(a, b));
        const grad = Math.sqrt((u / a) ** 2 + (v / b) ** 2) / rho; // |∇rho|
        return clamp01(0.5 - (rho - 1) / grad);
      },
    };
  }
  const unit = UNIT_POLYGONS[shape];
  if (!unit) throw new Error(`placeShape: unknown shape "${shape}"`);
  const xs = Float64Array.from(unit, (p) => cx + p[0] * w);
  const ys = Float64Array.from(unit, (p) => cy + p[1] * h);
  return { ...bounds, coverage: (px, py) => clamp01(0.5 - polygonDistance(xs, ys, px, py)) };
}

/** Exact signed distance from (px, py) to a simple polygon: negative inside. */
function polygonDistance(xs: Float64Array, ys: Float64Array, px: number, py: number): number {
  const n = xs.length;
  let best = Infinity;
  let inside = false;
  for (let i = 0, j = n - 1; i < n; j = i++) {
    const ax = xs[j],
      ay = ys[j],
      ex = xs[i] - ax,
      ey = ys[i] - ay;
    const wx = px - ax,
      wy = py - ay;
    const t = clamp01((wx * ex + wy * ey) / (ex * ex + ey * ey));
    const dx = wx - ex * t,
      dy = wy - ey * t;
    const d2 = dx * dx + dy * dy;
    if (d2 < best) best = d2;
    // even–odd crossing test on the edge (a → i)
    if (ay > py !== ys[i] > py && px < ax + (ex * (py - ay)) / ey) inside = !inside;
  }
  const d = Math.sqrt(best);
  return inside ? -d : d;
}
