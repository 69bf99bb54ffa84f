/**
 * Noise schedulers (diffusers-compatible) and `createScheduler`, which builds one from a
 * `scheduler_config.json` (by its `_class_name`, or another scheduler type on the same beta schedule).
 */
import type { Scheduler, SchedulerName } from './common.js';
import type { Json } from './config.js';
import { DDIMScheduler } from './ddim.js';
import { DPMSolverMultistepScheduler } from './dpmpp.js';
import { EulerDiscreteScheduler } from './euler.js';
import { LMSDiscreteScheduler } from './lms.js';
import { PNDMScheduler } from './pndm.js';

export type { Scheduler, SchedulerName } from './common.js';
export type { Json as SchedulerConfigJson } from './config.js';
export { DDIMScheduler } from './ddim.js';
export { PNDMScheduler } from './pndm.js';
export { EulerDiscreteScheduler } from './euler.js';
export { LMSDiscreteScheduler } from './lms.js';
export { DPMSolverMultistepScheduler } from './dpmpp.js';

/** diffusers class name → short name. */
export const SCHEDULER_CLASSES: Readonly<Record<string, SchedulerName>> = {
  DDIMScheduler: 'ddim',
  PNDMScheduler: 'pndm',
  EulerDiscreteScheduler: 'euler',
  LMSDiscreteScheduler: 'lms',
  DPMSolverMultistepScheduler: 'dpmpp',
};

const CONSTRUCTORS: Record<SchedulerName, new (config: Json) => Scheduler> = {
  ddim: DDIMScheduler,
  pndm: PNDMScheduler,
  euler: EulerDiscreteScheduler,
  lms: LMSDiscreteScheduler,
  dpmpp: DPMSolverMultistepScheduler,
};

export const SCHEDULER_NAMES = Object.keys(CONSTRUCTORS) as SchedulerName[];

function resolveName(type: string, what: string): SchedulerName {
  if (type in CONSTRUCTORS) return type as SchedulerName;
  const byClass = SCHEDULER_CLASSES[type];
  if (byClass) return byClass;
  throw new Error(
    `unknown scheduler ${what} ${JSON.stringify(type)}; supported: ${SCHEDULER_NAMES.join(', ')} ` +
      `(or the diffusers classes ${Object.keys(SCHEDULER_CLASSES).join(', ')})`,
  );
}

/**
 * Builds a scheduler from a diffusers scheduler config. `type` (short name or diffusers class name)
 * overrides the config's `_class_name`, reusing its beta schedule and other shared fields as
 * diffusers' `from_config` does; fields the chosen class does not use are ignored.
 */
export function createScheduler(config: Json, opts: { type?: SchedulerName | string } = {}): Scheduler {
  if (config === null || typeof config !== 'object' || Array.isArray(config)) throw new Error('scheduler config: expected a JSON object');
  let name: SchedulerName;
  if (opts.type !== undefined) {
    name = resolveName(opts.type, 'type');
  } else {
    const cls = config._class_name;
    if (typeof cls !== 'string') throw new Error('scheduler config has no "_class_name"; pass { type } (one of ' + SCHEDULER_NAMES.join(', ') + ')');
    name = resolveName(cls, 'class');
  }
  return new CONSTRUCTORS[name](config);
}
