/**
 * All parameters of a model in one Float32Array, carved into named views (llm.c style); the
 * gradients in a second one with the same layout. The optimiser is then one loop over one
 * buffer, clipping is one sum of squares, and a model file is the list of views.
 *
 * Both buffers live in the kernels' memory, so every view can be handed to a kernel.
 */
import type { Kernels } from './kernels/types.js';

/** What a model allocates its tensors from: the kernels, or a {@link Sizer} that only counts. */
export interface Allocator {
  alloc(n: number): Float32Array;
  allocInt32(n: number): Int32Array;
}

/**
 * Counts what a model would allocate, so that the kernels can be created with exactly that
 * capacity (their memory never grows). Returns empty arrays: models must not compute while
 * being sized.
 */
export class Sizer implements Allocator {
  total = 0;
  alloc(n: number): Float32Array {
    this.total += Math.ceil(n / 4) * 4;
    return new Float32Array(0);
  }
  allocInt32(n: number): Int32Array {
    this.total += Math.ceil(n / 4) * 4;
    return new Int32Array(0);
  }
}

/** One named parameter tensor: its value and gradient views, shape and place in the buffers. */
export interface Tensor {
  readonly name: string;
  readonly shape: readonly number[];
  /** Offset in floats into {@link ParamSet.values}. */
  readonly offset: number;
  readonly size: number;
  readonly value: Float32Array;
  readonly grad: Float32Array;
}

/**
 * Named parameter tensors in one buffer. Declare every tensor, then {@link ParamSet.allocate}
 * once; the views are fixed from then on.
 *
 * @example
 * ```ts
 * // runs
 * import { createKernels, ParamSet } from 'kotoba';
 * const V = 10, H = 4;
 * const ps = new ParamSet();
 * const E = ps.declare('embedding', [V, H]); // (V, H)
 * const kernels = await createKernels(2 * ps.count); // values and gradients
 * ps.allocate(kernels);
 * E().value[0] = 1; // the view
 * if (ps.values[E().offset] !== 1 || ps.size !== V * H) throw new Error('a view of the one buffer');
 * ```
 */
export class ParamSet {
  private readonly specs: { name: string; shape: number[]; offset: number; size: number }[] = [];
  private readonly byName = new Map<string, Tensor>();
  /** Floats declared (each tensor padded to a multiple of 4 so views stay 16-byte aligned). */
  count = 0;
  values: Float32Array = new Float32Array(0);
  grads: Float32Array = new Float32Array(0);

  /** Declares a tensor; returns an accessor valid after {@link ParamSet.allocate}. */
  declare(name: string, shape: number[]): () => Tensor {
    if (this.byName.has(name) || this.specs.some((s) => s.name === name)) throw new Error(`parameter ${name} declared twice`);
    const size = shape.reduce((a, b) => a * b, 1);
    this.specs.push({ name, shape, offset: this.count, size });
    this.count += Math.ceil(size / 4) * 4;
    return () => {
      const t = this.byName.get(name);
      if (!t) throw new Error(`parameter ${name} used before allocate()`);
      return t;
    };
  }

  /** Allocates both buffers from `mem` (zero-filled) and builds the views. */
  allocate(mem: Allocator): void {
    this.values = mem.alloc(this.count);
    this.grads = mem.alloc(this.count);
    for (const s of this.specs) {
      this.byName.set(s.name, {
        name: s.name,
        shape: s.shape,
        offset: s.offset,
        size: s.size,
        value: this.values.subarray(s.offset, s.offset + s.size),
        grad: this.grads.subarray(s.offset, s.offset + s.size),
      });
    }
  }

  /** The tensors in declaration order. */
  tensors(): Tensor[] {
    return this.specs.map((s) => this.byName.get(s.name)!);
  }

  get(name: string): Tensor | undefined {
    return this.byName.get(name);
  }

  /** Number of trainable values (without the alignment padding). */
  get size(): number {
    let n = 0;
    for (const s of this.specs) n += s.size;
    return n;
  }

  zeroGrads(): void {
    this.grads.fill(0);
  }
}

/** Global gradient norm: sqrt(Σ g²) over the whole gradient buffer (one kernel call). */
export function gradNorm(k: Kernels, ps: ParamSet): number {
  return Math.sqrt(k.sumSquares(ps.count, ps.grads));
}

/**
 * Plain SGD over the whole buffer: θ −= lr·(g + l2·θ), then g = 0. With `clip` > 0 the
 * gradient is first scaled so its global norm is at most `clip`. Returns the norm before clipping;
 * when it is NaN or infinite, nothing is updated.
 */
export function sgdStep(k: Kernels, ps: ParamSet, lr: number, clip: number, l2 = 0): number {
  const norm = gradNorm(k, ps); // always: it is also the NaN/Inf detector for the step
  if (!Number.isFinite(norm)) return norm; // leave the weights as they were
  let scale = 1;
  if (clip > 0 && norm > clip) scale = clip / norm;
  if (l2 > 0) k.scale(ps.count, 1 - lr * l2, ps.values);
  k.axpy(ps.count, -lr * scale, ps.grads, ps.values);
  k.zero(ps.count, ps.grads);
  return norm;
}
