// What both backends share: the bump allocator over one fixed memory, and the public methods,
// which check their arguments and fill in defaults before handing over to the backend's
// implementation. The checks turn a wrong size or a foreign array into a clear error instead of
// silent garbage (the wasm kernels would otherwise read whatever lies next in memory). They are
// O(1) per call, except ids/targets, which are O(rows) and tiny next to the kernels they guard.

import type { KernelBackend, Kernels } from './types.js';

type View = Float32Array | Int32Array;

/** Allocations start on 16-byte boundaries (one v128). */
const ALIGN = 16;

export abstract class KernelsBase implements Kernels {
  abstract readonly backend: KernelBackend;
  /** The memory all tensors are views of. */
  readonly buffer: ArrayBufferLike;
  readonly capacityFloats: number;
  /** Next free byte and the end of the arena, as byte offsets into `buffer`. */
  private cursor: number;
  private readonly end: number;

  /** The arena is bytes [start, start + 4·capacityFloats) of buffer; start must be 16-byte aligned. */
  protected constructor(buffer: ArrayBufferLike, start: number, capacityFloats: number) {
    if (!Number.isInteger(capacityFloats) || capacityFloats < 0) {
      throw new RangeError(`kernels: capacityFloats must be a non-negative integer, got ${capacityFloats}`);
    }
    this.buffer = buffer;
    this.capacityFloats = capacityFloats;
    this.cursor = start;
    this.end = start + capacityFloats * 4;
  }

  // ---- memory -------------------------------------------------------------------------------

  get threads(): number {
    return 1;
  }

  get ready(): Promise<void> {
    return Promise.resolve();
  }

  close(): void {}

  get freeFloats(): number {
    return Math.max(0, (this.end - this.cursor) >> 2);
  }

  alloc(n: number): Float32Array {
    return new Float32Array(this.buffer, this.take(n, 'alloc'), n);
  }

  allocInt32(n: number): Int32Array {
    return new Int32Array(this.buffer, this.take(n, 'allocInt32'), n);
  }

  private take(n: number, what: string): number {
    if (!Number.isInteger(n) || n < 0) throw new RangeError(`kernels.${what}(${n}): the size must be a non-negative integer`);
    const at = this.cursor;
    if (at + n * 4 > this.end) {
      throw new RangeError(
        `kernels.${what}(${n}): out of kernel memory: ${this.freeFloats} of ${this.capacityFloats} floats free. ` +
          'Create the kernels with a larger capacityFloats (floatsFor() sums sizes with their alignment).',
      );
    }
    this.cursor = at + Math.ceil((n * 4) / ALIGN) * ALIGN;
    return at;
  }

  // ---- checked public API (see types.ts for the contracts) ----------------------------------

  gemm(
    transA: boolean, transB: boolean, M: number, N: number, K: number,
    alpha: number, A: Float32Array, B: Float32Array, beta: number, C: Float32Array,
    lda: number = transA ? M : K, ldb: number = transB ? K : N, ldc: number = N,
  ): void {
    this.dims('gemm', M, N, K, lda, ldb, ldc);
    this.matrix('A', A, transA ? K : M, transA ? M : K, lda);
    this.matrix('B', B, transB ? N : K, transB ? K : N, ldb);
    this.matrix('C', C, M, N, ldc);
    this.gemmImpl(transA, transB, M, N, K, alpha, A, B, beta, C, lda, ldb, ldc);
  }

  gemv(trans: boolean, M: number, N: number, alpha: number, A: Float32Array, x: Float32Array, beta: number, y: Float32Array): void {
    this.dims('gemv', M, N);
    this.view('A', A, M * N);
    this.view('x', x, trans ? M : N);
    this.view('y', y, trans ? N : M);
    this.gemvImpl(trans, M, N, alpha, A, x, beta, y);
  }

  addBias(rows: number, cols: number, out: Float32Array, bias: Float32Array): void {
    this.dims('addBias', rows, cols);
    this.view('out', out, rows * cols);
    this.view('bias', bias, cols);
    this.addBiasImpl(rows, cols, out, bias);
  }

  sumRows(rows: number, cols: number, d: Float32Array, dbias: Float32Array): void {
    this.dims('sumRows', rows, cols);
    this.view('d', d, rows * cols);
    this.view('dbias', dbias, cols);
    this.sumRowsImpl(rows, cols, d, dbias);
  }

  tanhForward(n: number, x: Float32Array, y: Float32Array): void {
    this.vec2('tanhForward', n, x, y);
    this.tanhForwardImpl(n, x, y);
  }

  tanhBackward(n: number, y: Float32Array, dy: Float32Array, dx: Float32Array): void {
    this.vec3('tanhBackward', n, y, dy, dx);
    this.tanhBackwardImpl(n, y, dy, dx);
  }

  sigmoidForward(n: number, x: Float32Array, y: Float32Array): void {
    this.vec2('sigmoidForward', n, x, y);
    this.sigmoidForwardImpl(n, x, y);
  }

  sigmoidBackward(n: number, y: Float32Array, dy: Float32Array, dx: Float32Array): void {
    this.vec3('sigmoidBackward', n, y, dy, dx);
    this.sigmoidBackwardImpl(n, y, dy, dx);
  }

  softmaxCrossEntropy(
    rows: number, V: number, logits: Float32Array, targets: Int32Array,
    losses: Float32Array, dlogits: Float32Array | null, scale: number,
  ): number {
    this.dims('softmaxCrossEntropy', rows, V);
    this.view('logits', logits, rows * V);
    this.view('targets', targets, rows);
    this.view('losses', losses, rows);
    if (dlogits) this.view('dlogits', dlogits, rows * V);
    this.ids('softmaxCrossEntropy', targets, rows, V, true);
    return this.softmaxCrossEntropyImpl(rows, V, logits, targets, losses, dlogits, scale);
  }

  logSoftmax(rows: number, V: number, x: Float32Array): void {
    this.dims('logSoftmax', rows, V);
    this.view('x', x, rows * V);
    this.logSoftmaxImpl(rows, V, x);
  }

  embeddingGather(rows: number, D: number, table: Float32Array, ids: Int32Array, out: Float32Array): void {
    this.dims('embeddingGather', rows, D);
    this.view('table', table, 0);
    this.view('ids', ids, rows);
    this.view('out', out, rows * D);
    this.ids('embeddingGather', ids, rows, D > 0 ? Math.floor(table.length / D) : Infinity, false);
    this.embeddingGatherImpl(rows, D, table, ids, out);
  }

  embeddingScatterAdd(rows: number, D: number, dtable: Float32Array, ids: Int32Array, d: Float32Array): void {
    this.dims('embeddingScatterAdd', rows, D);
    this.view('dtable', dtable, 0);
    this.view('ids', ids, rows);
    this.view('d', d, rows * D);
    this.ids('embeddingScatterAdd', ids, rows, D > 0 ? Math.floor(dtable.length / D) : Infinity, false);
    this.embeddingScatterAddImpl(rows, D, dtable, ids, d);
  }

  copy(n: number, x: Float32Array, y: Float32Array): void {
    this.vec2('copy', n, x, y);
    this.copyImpl(n, x, y);
  }

  zero(n: number, x: Float32Array): void {
    this.dim('zero', n);
    this.view('x', x, n);
    this.zeroImpl(n, x);
  }

  axpy(n: number, a: number, x: Float32Array, y: Float32Array): void {
    this.vec2('axpy', n, x, y);
    this.axpyImpl(n, a, x, y);
  }

  scale(n: number, a: number, x: Float32Array): void {
    this.dim('scale', n);
    this.view('x', x, n);
    this.scaleImpl(n, a, x);
  }

  mul(n: number, a: Float32Array, b: Float32Array, out: Float32Array): void {
    this.vec3('mul', n, a, b, out);
    this.mulImpl(n, a, b, out);
  }

  mulAdd(n: number, a: Float32Array, b: Float32Array, out: Float32Array): void {
    this.vec3('mulAdd', n, a, b, out);
    this.mulAddImpl(n, a, b, out);
  }

  sumSquares(n: number, x: Float32Array): number {
    this.dim('sumSquares', n);
    this.view('x', x, n);
    return this.sumSquaresImpl(n, x);
  }

  reluForward(n: number, x: Float32Array, y: Float32Array): void {
    this.vec2('reluForward', n, x, y);
    this.reluForwardImpl(n, x, y);
  }

  reluBackward(n: number, y: Float32Array, dy: Float32Array, dx: Float32Array): void {
    this.vec3('reluBackward', n, y, dy, dx);
    this.reluBackwardImpl(n, y, dy, dx);
  }

  adamw(
    n: number, grad: Float32Array, m: Float32Array, v: Float32Array, param: Float32Array,
    gscale: number, beta1: number, beta2: number, eps: number, keep: number, step: number, rbc2: number,
  ): void {
    this.vec3('adamw', n, grad, m, v);
    this.view('param', param, n);
    this.adamwImpl(n, grad, m, v, param, gscale, beta1, beta2, eps, keep, step, rbc2);
  }

  adagrad(n: number, grad: Float32Array, acc: Float32Array, param: Float32Array, gscale: number, lr: number, eps: number, decay: number): void {
    this.vec3('adagrad', n, grad, acc, param);
    this.adagradImpl(n, grad, acc, param, gscale, lr, eps, decay);
  }

  // ---- backend implementations: arguments already checked, defaults filled in ---------------

  protected abstract gemmImpl(
    transA: boolean, transB: boolean, M: number, N: number, K: number,
    alpha: number, A: Float32Array, B: Float32Array, beta: number, C: Float32Array,
    lda: number, ldb: number, ldc: number,
  ): void;
  protected abstract gemvImpl(trans: boolean, M: number, N: number, alpha: number, A: Float32Array, x: Float32Array, beta: number, y: Float32Array): void;
  protected abstract addBiasImpl(rows: number, cols: number, out: Float32Array, bias: Float32Array): void;
  protected abstract sumRowsImpl(rows: number, cols: number, d: Float32Array, dbias: Float32Array): void;
  protected abstract tanhForwardImpl(n: number, x: Float32Array, y: Float32Array): void;
  protected abstract tanhBackwardImpl(n: number, y: Float32Array, dy: Float32Array, dx: Float32Array): void;
  protected abstract sigmoidForwardImpl(n: number, x: Float32Array, y: Float32Array): void;
  protected abstract sigmoidBackwardImpl(n: number, y: Float32Array, dy: Float32Array, dx: Float32Array): void;
  protected abstract softmaxCrossEntropyImpl(
    rows: number, V: number, logits: Float32Array, targets: Int32Array,
    losses: Float32Array, dlogits: Float32Array | null, scale: number,
  ): number;
  protected abstract logSoftmaxImpl(rows: number, V: number, x: Float32Array): void;
  protected abstract embeddingGatherImpl(rows: number, D: number, table: Float32Array, ids: Int32Array, out: Float32Array): void;
  protected abstract embeddingScatterAddImpl(rows: number, D: number, dtable: Float32Array, ids: Int32Array, d: Float32Array): void;
  protected abstract copyImpl(n: number, x: Float32Array, y: Float32Array): void;
  protected abstract zeroImpl(n: number, x: Float32Array): void;
  protected abstract axpyImpl(n: number, a: number, x: Float32Array, y: Float32Array): void;
  protected abstract scaleImpl(n: number, a: number, x: Float32Array): void;
  protected abstract mulImpl(n: number, a: Float32Array, b: Float32Array, out: Float32Array): void;
  protected abstract mulAddImpl(n: number, a: Float32Array, b: Float32Array, out: Float32Array): void;
  protected abstract sumSquaresImpl(n: number, x: Float32Array): number;
  protected abstract reluForwardImpl(n: number, x: Float32Array, y: Float32Array): void;
  protected abstract reluBackwardImpl(n: number, y: Float32Array, dy: Float32Array, dx: Float32Array): void;
  protected abstract adamwImpl(
    n: number, grad: Float32Array, m: Float32Array, v: Float32Array, param: Float32Array,
    gscale: number, beta1: number, beta2: number, eps: number, keep: number, step: number, rbc2: number,
  ): void;
  protected abstract adagradImpl(n: number, grad: Float32Array, acc: Float32Array, param: Float32Array, gscale: number, lr: number, eps: number, decay: number): void;

  // ---- checks --------------------------------------------------------------------------------

  /** Throws unless v is a view of this memory with at least `need` elements. */
  private view(name: string, v: View, need: number): void {
    if (v.buffer !== this.buffer) {
      throw new TypeError(`kernels: ${name} is not a view of this kernels' memory; allocate it with kernels.alloc()/allocInt32()`);
    }
    if (v.length < need) throw new RangeError(`kernels: ${name} has ${v.length} elements, the call needs ${need}`);
  }

  private vec2(what: string, n: number, a: Float32Array, b: Float32Array): void {
    this.dim(what, n);
    this.view('first array', a, n);
    this.view('second array', b, n);
  }

  private vec3(what: string, n: number, a: Float32Array, b: Float32Array, c: Float32Array): void {
    this.vec2(what, n, a, b);
    this.view('third array', c, n);
  }

  /** Checks a stored rows×cols matrix with row stride ld. */
  private matrix(name: string, v: Float32Array, rows: number, cols: number, ld: number): void {
    if (rows > 0 && cols > 0 && ld < cols) throw new RangeError(`kernels.gemm: ${name} has row stride ${ld} < its ${cols} columns`);
    this.view(name, v, rows > 0 && cols > 0 ? (rows - 1) * ld + cols : 0);
  }

  private dim(what: string, s: number): void {
    if (!Number.isInteger(s) || s < 0) throw new RangeError(`kernels.${what}: sizes must be non-negative integers, got ${s}`);
  }

  /** Up to six sizes without a rest array (these checks run on every call). */
  private dims(what: string, a: number, b: number, c = 0, d = 0, e = 0, f = 0): void {
    this.dim(what, a);
    this.dim(what, b);
    this.dim(what, c);
    this.dim(what, d);
    this.dim(what, e);
    this.dim(what, f);
  }

  /** Checks that every id in ids[0..rows) is below `limit` (and not negative unless `negativeOk`). */
  private ids(what: string, ids: Int32Array, rows: number, limit: number, negativeOk: boolean): void {
    for (let r = 0; r < rows; r++) {
      const id = ids[r];
      if (id >= limit || (id < 0 && !negativeOk)) throw new RangeError(`kernels.${what}: id ${id} at row ${r} is outside [0, ${limit})`);
    }
  }
}
