/**
 * Module tree whose names mirror the diffusers/transformers state-dict keys, so that loading is a
 * walk: `down_blocks.1.attentions.0.transformer_blocks.0.attn2.to_k.weight` is the param
 * `weight` of the child registered as `to_k` under ... under `down_blocks.1`.
 */
import { Param, type Layout, type Residency } from './param.js';

export abstract class Module {
  private readonly childList: [string, Module][] = [];
  private readonly paramList: [string, Param][] = [];

  /** Registers a child under its state-dict name segment (may contain dots, e.g. "down_blocks.0"). */
  protected addModule<T extends Module>(name: string, m: T): T {
    this.childList.push([name, m]);
    return m;
  }

  /** Registers a list of children as `name.0`, `name.1`, ... and returns them as an array. */
  protected addModules<T extends Module>(name: string, ms: T[]): T[] {
    ms.forEach((m, i) => this.addModule(`${name}.${i}`, m));
    return ms;
  }

  /** Declares a weight with its PyTorch shape and the layout to store it in. */
  protected addParam(name: string, torchShape: readonly number[], layout: Layout = 'none'): Param {
    const p = new Param(torchShape, layout);
    this.paramList.push([name, p]);
    return p;
  }

  /** Every weight with its full state-dict key, in registration order. */
  *namedParams(prefix = ''): Generator<[string, Param]> {
    for (const [n, p] of this.paramList) yield [prefix + n, p];
    for (const [n, m] of this.childList) yield* m.namedParams(`${prefix}${n}.`);
  }

  /** Every sub-module with its key prefix (depth first, registration order). */
  *namedModules(prefix = ''): Generator<[string, Module]> {
    yield [prefix.replace(/\.$/, ''), this];
    for (const [n, m] of this.childList) yield* m.namedModules(`${prefix}${n}.`);
  }

  /** Number of scalar weights. */
  numParams(): number {
    let n = 0;
    for (const [, p] of this.namedParams()) n += p.size;
    return n;
  }

  /**
   * Makes every weight a trainable variable (named by its state-dict key plus `namePrefix`,
   * which must make the names unique among live variables) or turns them back into host copies.
   */
  setTrainable(on: boolean, namePrefix = ''): void {
    for (const [k, p] of this.namedParams()) p.setTrainable(on, on && namePrefix ? `${namePrefix}${k}` : undefined);
  }

  /** The trainable weights with their keys. */
  trainableParams(): [string, Param][] {
    return [...this.namedParams()].filter(([, p]) => p.trainable);
  }

  setResidency(r: Residency): void {
    for (const [, p] of this.namedParams()) p.setResidency(r);
  }

  /** Frees all weights. */
  dispose(): void {
    for (const [, p] of this.namedParams()) p.dispose();
  }
}
