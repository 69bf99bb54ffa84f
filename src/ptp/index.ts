/**
 * Prompt-to-Prompt: attention controllers, token alignment, schedules and attention-map rendering.
 *
 * A sampling loop drives a controller through the attention seam and `onStepEnd`:
 * ```ts
 * const prompts = ['a cat riding a bicycle', 'a dog riding a bicycle'];
 * const controller = new AttentionReplace({
 *   tokenizer, prompts, crossReplaceSteps: 0.8, selfReplaceSteps: 0.4,
 *   localBlend: new LocalBlend(tokenizer, prompts, ['cat', 'dog']),
 * });
 * controller.reset(50); // the pipeline's sampler does this with the run's step count
 * for (let step = 0; step < 50; step++) {
 *   // batch [uncond × 2, cond × 2]; every attention layer calls the controller with ctx.step = step
 *   const noise = unet.forward(latentsTwice, t, context, { controller, step });
 *   latents = controller.onStepEnd(scheduler.step(guide(noise), t, latents), step); // NHWC
 * }
 * const maps = controller.aggregateAttention(16, ['up', 'down'], true, 1); // [16, 16, 77]
 * ```
 */
export * from './tokens.js';
export * from './align.js';
export * from './schedule.js';
export * from './resolution.js';
export * from './batch.js';
export * from './store.js';
export * from './edit.js';
export * from './replace.js';
export * from './refine.js';
export * from './reweight.js';
export * from './equalizer.js';
export * from './local-blend.js';
export * from './font.js';
export * from './components.js';
export * from './render.js';
