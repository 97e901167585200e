/**
 * Optimizers over the one parameter buffer (PyTorch's torch.optim semantics):
 *
 *   sgd      θ −= η·(g + λθ)                                    (plain minibatch SGD)
 *   adamw    m = β1·m + (1 − β1)·g;  v = β2·v + (1 − β2)·g²      (Loshchilov & Hutter)
 *            θ = θ·(1 − ηλ) − η·m̂/(√v̂ + ε),  m̂, v̂ bias-corrected; the decay is decoupled
 *   adagrad  g += λθ;  acc += g²;  θ −= η·g/(√acc + ε)           (Duchi et al.)
 *
 * g is the gradient after global-norm clipping. AdamW and Adagrad are one fused kernel call over
 * the whole buffer (sqrt and divide in the kernel). Their state (the moments, the accumulator)
 * lives in the kernels' memory beside the parameters and is saved in checkpoints, so a resumed
 * run continues bit for bit. λ is the `--l2` option for all three.
 */
import type { Kernels } from './kernels/types.js';
import { gradNorm, sgdStep, type Allocator, type ParamSet } from './params.js';

export const OPTIMIZERS = ['sgd', 'adamw', 'adagrad'] as const;
export type OptimizerName = (typeof OPTIMIZERS)[number];

/** PyTorch's defaults. */
export const ADAMW_BETA1 = 0.9;
export const ADAMW_BETA2 = 0.999;
export const ADAMW_EPS = 1e-8;
export const ADAGRAD_EPS = 1e-10;
/** AdamW's weight decay λ unless told otherwise (torch.optim.AdamW's default). */
export const ADAMW_WEIGHT_DECAY = 0.01;

/** Floats of optimizer state for `count` parameter slots. */
export function optimizerStateFloats(name: OptimizerName, count: number): number {
  return name === 'adamw' ? 2 * count : name === 'adagrad' ? count : 0;
}

/**
 * An optimizer and its state.
 *
 * @example
 * ```ts
 * // runs
 * import { createKernels, floatsFor, Optimizer, ParamSet } from 'kotoba';
 * const ps = new ParamSet();
 * const w = ps.declare('w', [8]); // (8)
 * const k = await createKernels(floatsFor(ps.count, ps.count, 2 * ps.count));
 * ps.allocate(k);
 * const adamw = new Optimizer('adamw', k, ps.count);
 * w().grad.fill(1);
 * const norm = adamw.step(k, ps, 1e-3, 0.25, 0.01); // η, clip, λ: returns the gradient norm before clipping
 * if (norm !== Math.sqrt(8) || w().grad[0] !== 0 || adamw.steps !== 1) throw new Error('one step, gradients zeroed');
 * ```
 */
export class Optimizer {
  /** Moments (AdamW: m then v) or accumulator (Adagrad); empty for SGD. A view of the kernels' memory. */
  readonly state: Float32Array;
  /** Updates made so far: AdamW's bias correction uses t = steps + 1. Restored on resume. */
  steps = 0;
  private readonly m: Float32Array;
  private readonly v: Float32Array;

  /** Allocates the state for `count` parameter slots (ParamSet.count) from `mem`. */
  constructor(readonly name: OptimizerName, mem: Allocator, count: number) {
    this.state = name === 'sgd' ? new Float32Array(0) : mem.alloc(optimizerStateFloats(name, count));
    this.m = this.state.subarray(0, name === 'sgd' ? 0 : count);
    this.v = this.state.subarray(name === 'adamw' ? count : 0, name === 'adamw' ? 2 * count : 0);
  }

  /**
   * One update of the whole buffer: the gradient clipped to global norm `clip` (> 0), learning
   * rate `lr`, weight decay `decay`; then the gradients are zeroed. Returns the norm before
   * clipping; when it is NaN or infinite nothing is updated (the caller stops training).
   */
  step(k: Kernels, ps: ParamSet, lr: number, clip: number, decay: number): number {
    if (this.name === 'sgd') {
      const norm = sgdStep(k, ps, lr, clip, decay);
      if (Number.isFinite(norm)) this.steps++;
      return norm;
    }
    const norm = gradNorm(k, ps);
    if (!Number.isFinite(norm)) return norm;
    const scale = clip > 0 && norm > clip ? clip / norm : 1;
    const n = ps.count;
    switch (this.name) {
      case 'adamw': {
        const t = this.steps + 1;
        const keep = 1 - lr * decay, step = lr / (1 - ADAMW_BETA1 ** t), rbc2 = 1 / Math.sqrt(1 - ADAMW_BETA2 ** t);
        k.adamw(n, ps.grads, this.m, this.v, ps.values, scale, ADAMW_BETA1, ADAMW_BETA2, ADAMW_EPS, keep, step, rbc2);
        break;
      }
      case 'adagrad':
        k.adagrad(n, ps.grads, this.m, ps.values, scale, lr, ADAGRAD_EPS, decay);
        break;
    }
    this.steps++;
    ps.grads.fill(0);
    return norm;
  }
}
