/**
 * The numeric core's contract: float32 kernels over tensors that live in one memory owned by
 * the kernels. Implemented by a plain TypeScript backend (reference and fallback) and by two
 * WebAssembly builds (SIMD128, and relaxed SIMD with fused multiply-add).
 *
 * Conventions shared by every kernel:
 * - tensors are row-major `Float32Array`s (ids and targets `Int32Array`s) obtained from
 *   {@link Kernels.alloc} / {@link Kernels.allocInt32}, or `subarray`s of those;
 * - sizes are element counts; a kernel reads and writes only the elements its sizes name,
 *   starting at the view's first element;
 * - "accumulate" kernels (`+=`) add into what is there, as backward passes do.
 */

/** Which implementation runs the kernels. */
export type KernelBackend = 'wasm-relaxed-simd' | 'wasm-simd' | 'js';

/** Options of {@link createKernels}. */
export interface KernelOptions {
  /** A backend to force, or 'auto' (default): the fastest one this runtime supports. */
  backend?: KernelBackend | 'auto';
  /**
   * Threads the kernels run on (default 1): the calling thread and threads − 1 workers over one
   * shared memory. 'auto' takes every core where the runtime can share memory (Node; a
   * cross-origin-isolated page) and 1 elsewhere; a number above 1 where it cannot is an error.
   * Results are bit-identical for any thread count. Only the wasm backends have threads.
   */
  threads?: number | 'auto';
}

/** The most threads a Kernels object may run on. */
export const MAX_THREADS = 256;

/** Float32 kernels and the memory their tensors live in. */
export interface Kernels {
  /** The implementation in use. */
  readonly backend: KernelBackend;
  /** Number of 4-byte slots the memory was created with (Float32 and Int32 allocations share them). */
  readonly capacityFloats: number;
  /** Threads the kernels run on (1: the calling thread only). */
  readonly threads: number;
  /**
   * Resolves once the worker threads are running (at once with one thread); rejects if one cannot
   * start. Nothing needs to wait for it — until then the threads that are up take all the work —
   * except a benchmark that wants every thread from its first call.
   */
  readonly ready: Promise<void>;
  /**
   * Stops the worker threads (a no-op with one thread); the kernels must not be used afterwards.
   * Idle workers never keep a process alive, and dropped kernels release theirs when collected,
   * so this matters only to free them at once.
   */
  close(): void;

  /**
   * A zero-filled Float32Array of n elements, a view of the kernels' memory. Capacity is fixed
   * at creation (no growth, so views never detach); each allocation is 16-byte aligned and so
   * takes a multiple of 4 slots (see {@link floatsFor}). Allocating past capacity throws an
   * error naming the sizes. The memory is an ArrayBuffer, or a SharedArrayBuffer when the
   * kernels run on more than one thread.
   */
  alloc(n: number): Float32Array;
  /** Like {@link Kernels.alloc}, for Int32 data (word ids, targets). */
  allocInt32(n: number): Int32Array;
  /** Float32 slots still free. */
  readonly freeFloats: number;

  /**
   * C(M×N) = alpha·op(A)·op(B) + beta·C, row-major. op(A) is M×K (A is stored K×M when
   * transA), op(B) is K×N (B is stored N×K when transB). lda/ldb/ldc are row strides of the
   * stored matrices in elements (default: their packed widths). beta = 0 overwrites C without
   * reading it, as BLAS does.
   *
   * @example
   * ```ts
   * // runs
   * import { createKernels, floatsFor } from 'kotoba';
   * const B = 4, H = 8, V = 10;
   * const k = await createKernels(floatsFor(B * H, H * V, B * V, B * V, H * V, B * H));
   * const h = k.alloc(B * H), W = k.alloc(H * V), logits = k.alloc(B * V);
   * const dlogits = k.alloc(B * V), dW = k.alloc(H * V), dh = k.alloc(B * H);
   * // logits(B×V) = h(B×H) · W(H×V); dW(H×V) += hᵀ · dlogits; dh(B×H) = dlogits · Wᵀ
   * k.gemm(false, false, B, V, H, 1, h, W, 0, logits);
   * k.gemm(true, false, H, V, B, 1, h, dlogits, 1, dW);
   * k.gemm(false, true, B, H, V, 1, dlogits, W, 0, dh);
   * ```
   */
  gemm(
    transA: boolean, transB: boolean, M: number, N: number, K: number,
    alpha: number, A: Float32Array, B: Float32Array, beta: number, C: Float32Array,
    lda?: number, ldb?: number, ldc?: number,
  ): void;
  /** y(M) = alpha·A(M×N)·x + beta·y, or with trans: y(N) = alpha·Aᵀ·x + beta·y. beta = 0 does not read y. */
  gemv(trans: boolean, M: number, N: number, alpha: number, A: Float32Array, x: Float32Array, beta: number, y: Float32Array): void;

  /** out(rows×cols)[r][c] += bias(cols)[c]. */
  addBias(rows: number, cols: number, out: Float32Array, bias: Float32Array): void;
  /** dbias(cols)[c] += Σ_r d(rows×cols)[r][c]. */
  sumRows(rows: number, cols: number, d: Float32Array, dbias: Float32Array): void;

  /** y = tanh(x) over n elements (y may be x). */
  tanhForward(n: number, x: Float32Array, y: Float32Array): void;
  /** dx += dy·(1 − y²), where y = tanh(x). */
  tanhBackward(n: number, y: Float32Array, dy: Float32Array, dx: Float32Array): void;
  /** y = 1/(1 + e^−x) over n elements (y may be x). */
  sigmoidForward(n: number, x: Float32Array, y: Float32Array): void;
  /** dx += dy·y·(1 − y), where y = sigmoid(x). */
  sigmoidBackward(n: number, y: Float32Array, dy: Float32Array, dx: Float32Array): void;

  /**
   * Row-wise softmax cross-entropy over logits(rows×V) with targets(rows) (Int32; a negative
   * target means "no loss for this row": its loss is 0 and its dlogits row 0). Writes each row's
   * loss (natural log) into losses(rows); if dlogits(rows×V) is given, overwrites it with
   * scale·(softmax − onehot) (dlogits may be logits itself, to save memory). Max-subtracted, so
   * any finite logits are safe; a NaN logit gives a NaN loss. Returns the summed loss
   * (accumulated in float64).
   *
   * @example
   * ```ts
   * // runs
   * import { createKernels, floatsFor } from 'kotoba';
   * const B = 2, V = 5;
   * const k = await createKernels(floatsFor(B * V, B, B, B * V));
   * const logits = k.alloc(B * V), targets = k.allocInt32(B), losses = k.alloc(B), dlogits = k.alloc(B * V);
   * targets.set([3, -1]); // row 1 has no target
   * const nats = k.softmaxCrossEntropy(B, V, logits, targets, losses, dlogits, 1 / B);
   * if (Math.abs(nats - Math.log(V)) > 1e-5) throw new Error('uniform logits: ln V for the one scored row');
   * ```
   */
  softmaxCrossEntropy(
    rows: number, V: number, logits: Float32Array, targets: Int32Array,
    losses: Float32Array, dlogits: Float32Array | null, scale: number,
  ): number;
  /** x(rows×V) = log softmax(x), row-wise, in place (natural log). */
  logSoftmax(rows: number, V: number, x: Float32Array): void;

  /** out(rows×D)[r] = table(·×D)[ids[r]]. Ids are checked against the table's length. */
  embeddingGather(rows: number, D: number, table: Float32Array, ids: Int32Array, out: Float32Array): void;
  /** dtable(·×D)[ids[r]] += d(rows×D)[r] (repeated ids accumulate). */
  embeddingScatterAdd(rows: number, D: number, dtable: Float32Array, ids: Int32Array, d: Float32Array): void;

  /**
   * y = x over n elements (memmove: they may overlap). Use it, and {@link Kernels.zero}, rather
   * than TypedArray set() and fill() on kernel memory: on threads the memory is shared, where V8
   * makes those several times slower (element by element), while these stay one memmove/memset.
   */
  copy(n: number, x: Float32Array, y: Float32Array): void;
  /** x = 0 over n elements (see {@link Kernels.copy}). */
  zero(n: number, x: Float32Array): void;
  /** y += a·x over n elements. */
  axpy(n: number, a: number, x: Float32Array, y: Float32Array): void;
  /** x *= a over n elements. */
  scale(n: number, a: number, x: Float32Array): void;
  /** out = a ⊙ b (elementwise; out may alias a or b). */
  mul(n: number, a: Float32Array, b: Float32Array, out: Float32Array): void;
  /** out += a ⊙ b (elementwise). */
  mulAdd(n: number, a: Float32Array, b: Float32Array, out: Float32Array): void;
  /** Σ x² over n elements, accumulated in float64 (for gradient-norm clipping). */
  sumSquares(n: number, x: Float32Array): number;

  /** y = max(x, 0) over n elements (y may be x; NaN stays NaN). */
  reluForward(n: number, x: Float32Array, y: Float32Array): void;
  /** dx += dy where y > 0, y = relu(x). */
  reluBackward(n: number, y: Float32Array, dy: Float32Array, dx: Float32Array): void;

  /**
   * One fused AdamW update over n parameters (PyTorch's torch.optim.AdamW): with
   * g = gscale·grad, m = β1·m + (1 − β1)·g, v = β2·v + (1 − β2)·g², then
   * θ = θ·keep − step·m/(√v·rbc2 + ε). The caller folds the learning rate η, the weight decay λ
   * and the bias corrections of step t into keep = 1 − η·λ, step = η/(1 − β1^t) and
   * rbc2 = 1/√(1 − β2^t). `grad` is read only.
   *
   * @example
   * ```ts
   * // runs
   * import { createKernels, floatsFor } from 'kotoba';
   * const n = 10, lr = 1e-3, t = 1;
   * const k = await createKernels(floatsFor(n, n, n, n));
   * const grad = k.alloc(n), m = k.alloc(n), v = k.alloc(n), theta = k.alloc(n);
   * grad.fill(0.5);
   * k.adamw(n, grad, m, v, theta, 1, 0.9, 0.999, 1e-8, 1 - lr * 0.01, lr / (1 - 0.9 ** t), 1 / Math.sqrt(1 - 0.999 ** t));
   * if (Math.abs(theta[0]! + lr) > 1e-6) throw new Error('the first Adam step moves every weight by about lr');
   * ```
   */
  adamw(
    n: number, grad: Float32Array, m: Float32Array, v: Float32Array, param: Float32Array,
    gscale: number, beta1: number, beta2: number, eps: number, keep: number, step: number, rbc2: number,
  ): void;
  /**
   * One fused Adagrad update over n parameters (PyTorch's torch.optim.Adagrad):
   * g = gscale·grad + λ·θ, acc += g², θ −= η·g/(√acc + ε). `grad` is read only.
   */
  adagrad(n: number, grad: Float32Array, acc: Float32Array, param: Float32Array, gscale: number, lr: number, eps: number, decay: number): void;
}

/**
 * Slots that allocations of these sizes take together (each rounded up to a multiple of 4 for
 * 16-byte alignment): the capacity to ask {@link createKernels} for.
 *
 * @example
 * ```ts
 * // runs
 * import { createKernels, floatsFor } from 'kotoba';
 * const B = 20, H = 200, V = 10000;
 * const k = await createKernels(floatsFor(V * H, H * V, V, B * H, B * V));
 * const E = k.alloc(V * H), W = k.alloc(H * V), b = k.alloc(V), h = k.alloc(B * H), logits = k.alloc(B * V);
 * if (k.freeFloats !== 0) throw new Error('exactly the room these five need');
 * ```
 */
export function floatsFor(...sizes: number[]): number {
  let total = 0;
  for (const n of sizes) total += Math.ceil(n / 4) * 4;
  return total;
}
