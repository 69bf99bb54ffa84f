/**
 * The page's settings in the URL (`?source=…&target=…&mode=replace&steps=…&seed=…&backend=…`, a
 * `target` per edited prompt, `&run=1` to start at once), so a result can be shared. Pure
 * functions: no DOM.
 */
import { BACKENDS, MODES, type PageBackend, type PageMode, type PageSettings } from './protocol.js';

/** The shipped demo model, served beside the page. */
export const DEFAULT_MODEL = 'models/shapes/';

/** Defaults: a caption of the demo model's shapes world and a one-word colour swap. */
export const DEFAULTS: PageSettings = {
  model: DEFAULT_MODEL,
  backend: 'webgl',
  source: 'a red circle on a white background',
  targets: ['a blue circle on a white background'],
  mode: 'auto',
  reweight: '',
  blend: '',
  cross: '0.8',
  self: '0.4',
  steps: '20',
  guidance: '7.5',
  seed: '1',
  inner: '10',
};

/** The settings that are one text field each (the page's form and the URL). */
export type TextKey = Exclude<keyof PageSettings, 'targets' | 'backend' | 'mode'>;
export const TEXT_KEYS: readonly TextKey[] = [
  'model',
  'source',
  'reweight',
  'blend',
  'cross',
  'self',
  'steps',
  'guidance',
  'seed',
  'inner',
];

/** Settings from a query string (missing or unknown values take the defaults) and whether `run=1` asks to start. */
export function settingsFromQuery(search: string): { settings: PageSettings; run: boolean } {
  const q = new URLSearchParams(search);
  const s: PageSettings = { ...DEFAULTS, targets: [...DEFAULTS.targets] };
  for (const k of TEXT_KEYS) {
    const v = q.get(k);
    if (v !== null) s[k] = v;
  }
  if (q.has('target'))
    s.targets = q
      .getAll('target')
      .map((t) => t.trim())
      .filter((t) => t !== '');
  const backend = q.get('backend');
  if (backend && (BACKENDS as readonly string[]).includes(backend)) s.backend = backend as PageBackend;
  const mode = q.get('mode');
  if (mode && (MODES as readonly string[]).includes(mode)) s.mode = mode as PageMode;
  return { settings: s, run: q.get('run') === '1' };
}

/** The query string of `s` (only what differs from the defaults, plus source and targets). */
export function settingsToQuery(s: PageSettings): string {
  const q = new URLSearchParams();
  q.set('source', s.source);
  for (const t of s.targets) q.append('target', t);
  if (!s.targets.length) q.set('target', '');
  if (s.mode !== DEFAULTS.mode) q.set('mode', s.mode);
  for (const k of TEXT_KEYS) if (k !== 'source' && s[k] !== DEFAULTS[k]) q.set(k, s[k]);
  if (s.backend !== DEFAULTS.backend) q.set('backend', s.backend);
  return `?${q.toString()}`;
}
