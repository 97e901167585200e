// The wasm kernels on several threads: the calling thread and threads − 1 workers (pool.ts), each
// running the same module on one shared memory. A large call is cut into chunks, ranges of its
// output, which the threads claim and run (pool.ts); each chunk is computed by the single-thread
// kernel itself, called on a sub-matrix (pointers moved, sizes shrunk).
//
// Why the results cannot depend on the thread count (nor on which thread runs which chunk): every
// output element is computed by the same instructions in the same order whichever chunk it falls
// in, because
//   - ranges never split a reduction: gemm is cut along M or N, never K; softmax along rows;
//   - ranges start where the kernel's own SIMD groups and register tiles start (multiples of 8
//     columns or 4 rows in gemm, of 8 rows in gemv, of 4 elements in element-wise kernels) and
//     the last one ends where the whole call ends, so every element lands in the same kind of
//     tile (full or edge, vector or scalar tail) as on one thread; and no range of a gemm with
//     M > 1 has a single row, which would take the matrix-vector path;
//   - the threads build is byte-identical code (scripts/build-wasm.mjs checks it);
//   - the one reduction across ranges, softmaxCrossEntropy's total, is summed here in row order
//     from per-row float64 losses, exactly as the kernel sums it on one thread.
// The thresholds below decide only which calls are worth waking the workers for. sumRows (a sum
// over rows) stays on the calling thread: cut into blocks of columns it reads its matrix as
// hundreds of short strided runs, which costs more than a second thread saves (measured 1.4–1.7×
// the CPU time of one pass over whole rows).
//
// A kernel with no override here runs on the calling thread, which is always correct: to make a
// new kernel thread-aware, override its Impl with a size threshold and a call to `split` (or
// `elementwise` for a kernel f(n, …) over n-element arrays).

import { KernelPool, poolBytes, SLOT_ARGS } from './pool.js';
import { instantiateWasm, WasmKernels, type WasmBackend, type WasmSetup } from './wasm.js';

/** Rows of softmaxCrossEntropy per dispatch: the length of the per-row loss buffer. */
const ROW_LOSS_ROWS = 4096;

/** Sizes below which a call stays on the calling thread (waking the workers costs 10–20 µs). */
export interface SplitThresholds {
  /** gemm and gemv: multiply-adds (2^18 take about 10 µs on one core). */
  product: number;
  /** softmaxCrossEntropy, logSoftmax, addBias: rows × columns. */
  rows: number;
  /** Element-wise kernels: elements. */
  elements: number;
}

export const SPLIT_THRESHOLDS: Readonly<SplitThresholds> = { product: 1 << 18, rows: 1 << 15, elements: 1 << 16 };

/**
 * Cuts [0, n) into at most `parts` ranges that start at multiples of `granule`, the last ending
 * at n (so it takes the remainder), each at least `granule` long when n allows. Writes the
 * parts + 1 boundaries into `bounds` and returns the number of ranges: ranges(203, 8, 2, b) is
 * 2 with b = [0, 96, 203], 25 groups of 8 (and 3 left over) in two ranges.
 */
export function ranges(n: number, granule: number, parts: number, bounds: Int32Array): number {
  const units = Math.floor(n / granule);
  const p = Math.max(1, Math.min(parts, units));
  for (let i = 0; i < p; i++) bounds[i] = Math.floor((units * i) / p) * granule;
  bounds[p] = n;
  return p;
}

/** Export indices of the kernels that split. */
interface Ops {
  gemm: number;
  gemv: number;
  softmaxCrossEntropy: number;
  logSoftmax: number;
  addBias: number;
  tanhForward: number;
  tanhBackward: number;
  sigmoidForward: number;
  sigmoidBackward: number;
  axpy: number;
  scale: number;
  mul: number;
  mulAdd: number;
}

export class ThreadedWasmKernels extends WasmKernels {
  private readonly pool: KernelPool;
  private readonly ops: Ops;
  /** softmaxCrossEntropy's per-row float64 losses (shared memory). (ROW_LOSS_ROWS) */
  private readonly rowLoss: Float64Array;
  /** Chunk boundaries of the current call. (maxChunks + 1) */
  private readonly bounds: Int32Array;
  /** Bytes each argument of the current call moves per unit of its range (0: it does not). (SLOT_ARGS) */
  private readonly advance = new Float64Array(SLOT_ARGS);
  /** When a call is worth splitting; tests set these to 0 so that every call splits, however small. */
  splitMin: SplitThresholds = { ...SPLIT_THRESHOLDS };

  private constructor(setup: WasmSetup, pool: KernelPool, rowLoss: number) {
    super(setup);
    this.pool = pool;
    this.rowLoss = new Float64Array(setup.memory.buffer, rowLoss, ROW_LOSS_ROWS);
    this.bounds = new Int32Array(pool.maxChunks + 1);
    const names: (keyof Ops)[] = ['gemm', 'gemv', 'softmaxCrossEntropy', 'logSoftmax', 'addBias', 'tanhForward', 'tanhBackward', 'sigmoidForward', 'sigmoidBackward', 'axpy', 'scale', 'mul', 'mulAdd'];
    this.ops = Object.fromEntries(names.map((n) => [n, pool.op(n)])) as unknown as Ops;
  }

  /** Instantiates a backend on a shared memory and starts threads − 1 workers on it. */
  static async start(backend: WasmBackend, capacityFloats: number, threads: number): Promise<ThreadedWasmKernels> {
    const { control, slots } = poolBytes(threads);
    const setup = await instantiateWasm(backend, capacityFloats, threads, control + slots + ROW_LOSS_ROWS * 8);
    const pool = await KernelPool.start({
      module: setup.module,
      memory: setup.memory,
      threads,
      scratch: setup.scratch,
      scratchFloats: setup.scratchFloats,
      control: setup.extra,
      slots: setup.extra + control,
      exports: setup.exports as unknown as Record<string, unknown>,
    });
    return new ThreadedWasmKernels(setup, pool, setup.extra + control + slots);
  }

  override get threads(): number {
    return this.pool.threads;
  }

  override get ready(): Promise<void> {
    return this.pool.ready;
  }

  /** Chunks each thread has run so far (thread 0: the calling thread). */
  chunksRun(): number[] {
    return this.pool.chunksRun();
  }

  /** See KernelPool.callerSteals: off, the workers' shares always run on the workers (tests). */
  set callerSteals(on: boolean) {
    this.pool.callerSteals = on;
  }

  override close(): void {
    this.pool.close();
  }

  /**
   * Runs export `op` over [0, n) cut into chunks (see {@link ranges}): one per thread at least,
   * one per `unit` of work (in the call's threshold measure) up to CHUNKS_PER_THREAD per thread,
   * so that a thread that falls behind can be helped. Slot 0 holds the whole call's arguments;
   * argument `count` becomes each chunk's length, and argument i moves by advance[i] bytes per
   * unit of the range.
   */
  private split(op: number, n: number, granule: number, count: number, work: number, unit: number): void {
    const T = this.pool.threads;
    const wanted = unit > 0 ? Math.floor(work / unit) : Infinity;
    const b = this.bounds;
    const parts = ranges(n, granule, Math.max(T, Math.min(this.pool.maxChunks, wanted)), b);
    const s0 = this.pool.slot(0);
    const adv = this.advance;
    for (let p = parts - 1; p >= 0; p--) {
      const s = this.pool.slot(p);
      if (p > 0) s.set(s0);
      s[count] = b[p + 1]! - b[p]!;
      for (let i = 0; i < SLOT_ARGS; i++) if (adv[i] !== 0) s[i] = s[i]! + b[p]! * adv[i]!;
    }
    this.pool.run(op, parts);
  }

  /** Sets slot 0 to (a0, …, a7) and clears `advance` (the two steps every split call starts with). */
  private args(a0: number, a1: number, a2: number, a3: number, a4 = 0, a5 = 0, a6 = 0, a7 = 0): Float64Array {
    const s = this.pool.slot(0);
    s[0] = a0; s[1] = a1; s[2] = a2; s[3] = a3; s[4] = a4; s[5] = a5; s[6] = a6; s[7] = a7;
    this.advance.fill(0);
    return s;
  }

  /**
   * An element-wise kernel f(n, a1, a2, a3) split over n in groups of 4 elements; `vectors` has
   * bit i set when argument i is a float32 array (which then moves 4 bytes per element).
   */
  private elementwise(op: number, n: number, vectors: number, a1: number, a2: number, a3 = 0): void {
    this.args(n, a1, a2, a3);
    for (let i = 1; i < 4; i++) if (vectors & (1 << i)) this.advance[i] = 4;
    this.split(op, n, 4, 0, n, this.splitMin.elements);
  }

  // ---- the kernels that split ---------------------------------------------------------------

  protected override gemmImpl(
    transA: boolean, transB: boolean, M: number, N: number, K: number,
    alpha: number, A: Float32Array, B: Float32Array, beta: number, C: Float32Array,
    lda: number, ldb: number, ldc: number,
  ): void {
    if (M * N * K < this.splitMin.product) return super.gemmImpl(transA, transB, M, N, K, alpha, A, B, beta, C, lda, ldb, ldc);
    const s = this.args(transA ? 1 : 0, transB ? 1 : 0, M, N, K, alpha, A.byteOffset, B.byteOffset);
    s[8] = beta; s[9] = C.byteOffset; s[10] = lda; s[11] = ldb; s[12] = ldc;
    const adv = this.advance;
    if (M === 1 || N >= M) {
      // Column blocks of C: each thread reads all of op(A) and its columns of op(B).
      adv[7] = 4 * (transB ? ldb : 1);
      adv[9] = 4;
      this.split(this.ops.gemm, N, 8, 3, M * N * K, this.splitMin.product);
    } else {
      // Row blocks of C: each thread packs its rows of op(A) and reads all of op(B).
      adv[6] = 4 * (transA ? 1 : lda);
      adv[9] = 4 * ldc;
      this.split(this.ops.gemm, M, 4, 2, M * N * K, this.splitMin.product);
    }
  }

  protected override gemvImpl(trans: boolean, M: number, N: number, alpha: number, A: Float32Array, x: Float32Array, beta: number, y: Float32Array): void {
    // y = A·x splits by rows of A (y = Aᵀ·x would be a reduction over them: one thread).
    if (trans || M * N < this.splitMin.product) return super.gemvImpl(trans, M, N, alpha, A, x, beta, y);
    this.args(0, M, N, alpha, A.byteOffset, x.byteOffset, beta, y.byteOffset);
    this.advance[4] = 4 * N;
    this.advance[7] = 4;
    this.split(this.ops.gemv, M, 8, 1, M * N, this.splitMin.product);
  }

  protected override softmaxCrossEntropyImpl(
    rows: number, V: number, logits: Float32Array, targets: Int32Array,
    losses: Float32Array, dlogits: Float32Array | null, scale: number,
  ): number {
    if (rows < 2 || rows * V < this.splitMin.rows) return super.softmaxCrossEntropyImpl(rows, V, logits, targets, losses, dlogits, scale);
    let total = 0;
    for (let r0 = 0; r0 < rows; r0 += ROW_LOSS_ROWS) {
      const n = Math.min(ROW_LOSS_ROWS, rows - r0);
      const s = this.args(n, V, logits.byteOffset + 4 * r0 * V, targets.byteOffset + 4 * r0, losses.byteOffset + 4 * r0, dlogits ? dlogits.byteOffset + 4 * r0 * V : 0, scale, this.rowLoss.byteOffset);
      const adv = this.advance;
      adv[2] = 4 * V;
      adv[3] = 4;
      adv[4] = 4;
      if (s[5] !== 0) adv[5] = 4 * V;
      adv[7] = 8;
      this.split(this.ops.softmaxCrossEntropy, n, 1, 0, n * V, this.splitMin.rows);
      // The kernel's own order: one float64 sum over the rows, first to last.
      for (let r = 0; r < n; r++) total += this.rowLoss[r]!;
    }
    return total;
  }

  protected override logSoftmaxImpl(rows: number, V: number, x: Float32Array): void {
    if (rows < 2 || rows * V < this.splitMin.rows) return super.logSoftmaxImpl(rows, V, x);
    this.args(rows, V, x.byteOffset, 0);
    this.advance[2] = 4 * V;
    this.split(this.ops.logSoftmax, rows, 1, 0, rows * V, this.splitMin.rows);
  }

  protected override addBiasImpl(rows: number, cols: number, out: Float32Array, bias: Float32Array): void {
    if (rows < 2 || rows * cols < this.splitMin.rows) return super.addBiasImpl(rows, cols, out, bias);
    this.args(rows, cols, out.byteOffset, bias.byteOffset);
    this.advance[2] = 4 * cols;
    this.split(this.ops.addBias, rows, 1, 0, rows * cols, this.splitMin.rows);
  }

  protected override tanhForwardImpl(n: number, x: Float32Array, y: Float32Array): void {
    if (n < this.splitMin.elements) return super.tanhForwardImpl(n, x, y);
    this.elementwise(this.ops.tanhForward, n, 0b110, x.byteOffset, y.byteOffset);
  }

  protected override tanhBackwardImpl(n: number, y: Float32Array, dy: Float32Array, dx: Float32Array): void {
    if (n < this.splitMin.elements) return super.tanhBackwardImpl(n, y, dy, dx);
    this.elementwise(this.ops.tanhBackward, n, 0b1110, y.byteOffset, dy.byteOffset, dx.byteOffset);
  }

  protected override sigmoidForwardImpl(n: number, x: Float32Array, y: Float32Array): void {
    if (n < this.splitMin.elements) return super.sigmoidForwardImpl(n, x, y);
    this.elementwise(this.ops.sigmoidForward, n, 0b110, x.byteOffset, y.byteOffset);
  }

  protected override sigmoidBackwardImpl(n: number, y: Float32Array, dy: Float32Array, dx: Float32Array): void {
    if (n < this.splitMin.elements) return super.sigmoidBackwardImpl(n, y, dy, dx);
    this.elementwise(this.ops.sigmoidBackward, n, 0b1110, y.byteOffset, dy.byteOffset, dx.byteOffset);
  }

  protected override axpyImpl(n: number, a: number, x: Float32Array, y: Float32Array): void {
    if (n < this.splitMin.elements) return super.axpyImpl(n, a, x, y);
    this.elementwise(this.ops.axpy, n, 0b1100, a, x.byteOffset, y.byteOffset);
  }

  protected override scaleImpl(n: number, a: number, x: Float32Array): void {
    if (n < this.splitMin.elements) return super.scaleImpl(n, a, x);
    this.elementwise(this.ops.scale, n, 0b100, a, x.byteOffset);
  }

  protected override mulImpl(n: number, a: Float32Array, b: Float32Array, out: Float32Array): void {
    if (n < this.splitMin.elements) return super.mulImpl(n, a, b, out);
    this.elementwise(this.ops.mul, n, 0b1110, a.byteOffset, b.byteOffset, out.byteOffset);
  }

  protected override mulAddImpl(n: number, a: Float32Array, b: Float32Array, out: Float32Array): void {
    if (n < this.splitMin.elements) return super.mulAddImpl(n, a, b, out);
    this.elementwise(this.ops.mulAdd, n, 0b1110, a.byteOffset, b.byteOffset, out.byteOffset);
  }
}
