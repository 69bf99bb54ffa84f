/** The vocabulary of the shapes world: its eight colours (exact sRGB), four shapes and two sizes. */

/** An sRGB colour, 0–255 per channel. */
export type Rgb = readonly [number, number, number];

/** The palette, in caption order. */
export const PALETTE = {
  red: [0xd6, 0x28, 0x28],
  orange: [0xf7, 0x7f, 0x00],
  yellow: [0xf5, 0xd3, 0x12],
  green: [0x2a, 0x9d, 0x3f],
  blue: [0x1d, 0x4e, 0xd8],
  purple: [0x7b, 0x2c, 0xbf],
  white: [0xf2, 0xf2, 0xf2],
  black: [0x1a, 0x1a, 0x1a],
} as const satisfies Record<string, Rgb>;

export type ColourName = keyof typeof PALETTE;
/** Shapes are upright and axis-aligned: the triangle and the 5-point star point up. */
export type ShapeName = 'circle' | 'square' | 'triangle' | 'star';
export type SizeName = 'small' | 'big';

export const COLOURS = Object.keys(PALETTE) as readonly ColourName[];
export const SHAPES: readonly ShapeName[] = ['circle', 'square', 'triangle', 'star'];
export const SIZES: readonly SizeName[] = ['small', 'big'];

export const isColour = (w: string): w is ColourName => (COLOURS as readonly string[]).includes(w);
export const isShape = (w: string): w is ShapeName => (SHAPES as readonly string[]).includes(w);
export const isSize = (w: string): w is SizeName => (SIZES as readonly string[]).includes(w);
