/** Minimal leveled logger; the CLI raises the level with --verbose. Writes to console (stderr). */
export type LogLevel = 'silent' | 'warn' | 'info' | 'debug';
const ORDER: Record<LogLevel, number> = { silent: 0, warn: 1, info: 2, debug: 3 };
/** Default 'info': the chosen backend and the weight residency are reported once; the CLI lowers it to 'warn'. */
let level: LogLevel = 'info';

export function setLogLevel(l: LogLevel): void {
  level = l;
}
export function getLogLevel(): LogLevel {
  return level;
}
export const log = {
  warn: (...a: unknown[]) => {
    if (ORDER[level] >= 1) console.warn('[ptp]', ...a);
  },
  info: (...a: unknown[]) => {
    if (ORDER[level] >= 2) console.error('[ptp]', ...a);
  },
  debug: (...a: unknown[]) => {
    if (ORDER[level] >= 3) console.error('[ptp]', ...a);
  },
};
