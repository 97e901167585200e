/**
 * The output layer every neural model ends in: a full softmax over the vocabulary, or a
 * class-factorised one (Mikolov's RNNLM toolkit: frequency-binned classes,
 * p(w | x) = p(class(w) | x) · p(w | class(w), x)), which costs O(C + |class|) per word instead
 * of O(V).
 *
 * Words are addressed by "output index", not vocabulary id: the output rows are ordered so that
 * each class is a contiguous block, and `<s>` (never predicted) has no output row at all, so
 * every distribution sums to 1 over the words that can follow. {@link OutputOrder} maps between
 * the two; the embedding tables of the models use the same order (with `<s>` as the last row),
 * which is what lets the LSTM tie its input and output embeddings.
 */
import { BOS } from '../text/vocabulary.js';
import type { Kernels } from './kernels/types.js';
import type { Allocator, ParamSet, Tensor } from './params.js';

/** Vocabulary id ↔ output row, and the class blocks. */
export interface OutputOrder {
  /** row[id]: the output index of word id; `<s>` maps to the last row (`size`), inputs only. (V) */
  row: Int32Array;
  /** word[j]: the vocabulary id of output index j. (Vo = V − 1) */
  word: Int32Array;
  /** Class c is output indices [classStart[c], classStart[c + 1]); null for a full softmax. (C + 1) */
  classStart: Int32Array | null;
}

/**
 * The output order for a vocabulary of V ids with training counts `counts` (by id). With
 * `classes` > 0, words are sorted by count (ties by id) and binned as in Mikolov's RNNLM: a class
 * closes once the cumulative unigram probability passes (c + 1)/C, so frequent words sit in small
 * classes and rare words share large ones; empty classes are dropped. With 0, a full softmax:
 * ids in order, `<s>` moved to the end.
 *
 * @example
 * ```ts
 * // runs
 * import { BOS, outputOrder } from 'kotoba';
 * const counts = [0, 0, 40, 30, 10, 10, 5, 3, 2]; // by id: <unk>, <s>, </s>, then six words
 * const order = outputOrder(counts, 3); // ≈ 3 classes
 * order.classStart!.length - 1;         // the number of classes actually used
 * if (order.word[0] !== 2 || order.row[BOS] !== order.word.length) throw new Error('</s> first (most frequent), <s> after the outputs');
 * ```
 */
export function outputOrder(counts: ArrayLike<number>, classes: number): OutputOrder {
  const V = counts.length;
  const Vo = V - 1;
  const row = new Int32Array(V);
  const word = new Int32Array(Vo);
  if (classes <= 0) {
    for (let id = 0, j = 0; id < V; id++) {
      if (id === BOS) continue;
      row[id] = j;
      word[j++] = id;
    }
    row[BOS] = Vo;
    return { row, word, classStart: null };
  }
  const ids: number[] = [];
  let total = 0;
  for (let id = 0; id < V; id++) {
    if (id === BOS) continue;
    ids.push(id);
    total += counts[id]!;
  }
  ids.sort((a, b) => counts[b]! - counts[a]! || a - b);
  const C = Math.min(classes, Vo);
  const starts: number[] = [0];
  let cum = 0;
  let c = 0;
  for (let j = 0; j < Vo; j++) {
    const id = ids[j]!;
    word[j] = id;
    row[id] = j;
    cum += total > 0 ? counts[id]! / total : 1 / Vo;
    // The word that crosses the boundary stays in class c; the next word opens class c + 1.
    if (cum > (c + 1) / C && c < C - 1 && j < Vo - 1) {
      c++;
      starts.push(j + 1);
    }
  }
  starts.push(Vo);
  row[BOS] = Vo;
  return { row, word, classStart: Int32Array.from(starts) };
}

/** Checks an order read from a file: a permutation, classes covering [0, Vo) in order. */
export function validOrder(order: OutputOrder, V: number): string | null {
  const Vo = V - 1;
  if (order.row.length !== V || order.word.length !== Vo) return `output order sizes ${order.row.length}/${order.word.length} do not fit a vocabulary of ${V}`;
  if (order.row[BOS] !== Vo) return 'output order: <s> must map to the last row';
  for (let j = 0; j < Vo; j++) {
    const id = order.word[j]!;
    if (id < 0 || id >= V || id === BOS || order.row[id] !== j) return `output order is not a permutation (index ${j})`;
  }
  const cs = order.classStart;
  if (cs) {
    if (cs.length < 2 || cs[0] !== 0 || cs[cs.length - 1] !== Vo) return 'class boundaries must run from 0 to the output size';
    for (let c = 0; c + 1 < cs.length; c++) if (cs[c + 1]! <= cs[c]!) return `class ${c} is empty or out of order`;
  }
  return null;
}

/** An output layer: −ln p(target | x) per row, its gradient, and whole distributions. */
export interface OutputLayer {
  /** Input width Din. */
  readonly inputSize: number;
  /** Number of output words Vo. */
  readonly size: number;
  /**
   * losses(rows) = −ln p(targets[r] | X[r]) for X(rows, Din), targets as output indices (a
   * negative target: no loss). With `train`, keeps scale·∂loss/∂logits for {@link backward}.
   * Returns Σ losses (nats).
   */
  forward(rows: number, X: Float32Array, targets: Int32Array, losses: Float32Array, train: boolean, scale: number): number;
  /** dX(rows, Din) += ∂L/∂X; the layer's weight gradients accumulate. After a training forward. */
  backward(rows: number, X: Float32Array, dX: Float32Array): void;
  /** out[j] = p(j | x) for every output index j; x(Din) is a kernel view. */
  probabilities(x: Float32Array, out: Float64Array): void;
  /** Biases such that a zero input gives p(j) = exp(logp[j]). */
  setBias(logp: Float64Array): void;
}

/** The shared (Vo, Din) word matrix of an output layer, or the tied embedding it reuses. */
export interface WordMatrix {
  value: () => Float32Array;
  grad: () => Float32Array;
}

/** A word matrix owned by the layer: declared in the parameter set as `name` (Vo, Din). */
export function ownWordMatrix(ps: ParamSet, name: string, Vo: number, Din: number): { matrix: WordMatrix; tensor: () => Tensor } {
  const t = ps.declare(name, [Vo, Din]);
  return { matrix: { value: () => t().value, grad: () => t().grad }, tensor: t };
}

/** The first Vo rows of an embedding table (Vo + 1, Din) used as the output matrix (tied weights). */
export function tiedWordMatrix(embedding: () => Tensor, Vo: number, Din: number): WordMatrix {
  return {
    value: () => embedding().value.subarray(0, Vo * Din),
    grad: () => embedding().grad.subarray(0, Vo * Din),
  };
}

/**
 * out[at + j] = scale · exp(z[j]) / Σ exp(z) for log-probabilities z (n). Dividing by the sum,
 * rather than trusting it to be 1, keeps a distribution summing to 1 when the logits are large:
 * a log-sum-exp rounded to float32 is off by the same amount for every word, and cancels here.
 */
export function renormalizedExp(z: Float32Array, out: Float64Array, at: number, n: number, scale: number): void {
  let sum = 0;
  for (let j = 0; j < n; j++) sum += out[at + j] = Math.exp(z[j]!);
  const f = scale / sum;
  for (let j = 0; j < n; j++) out[at + j]! *= f;
}

/** Full softmax: logits(rows, Vo) = X(rows, Din) · Wᵀ + b, W (Vo, Din). */
export class SoftmaxOutput implements OutputLayer {
  private readonly b: () => Tensor;
  private W!: Float32Array;
  private dW!: Float32Array;
  /** Logits, then (training) their gradient in place. (maxRows, Vo) */
  private readonly logits: Float32Array;

  constructor(
    private readonly k: Kernels,
    ps: ParamSet,
    mem: Allocator,
    private readonly matrix: WordMatrix,
    readonly size: number,
    readonly inputSize: number,
    maxRows: number,
    prefix = 'output',
  ) {
    this.b = ps.declare(`${prefix}.bias`, [size]); // (Vo)
    this.logits = mem.alloc(Math.max(1, maxRows) * size);
  }

  /** Binds the parameter views (after the parameter set is allocated). */
  bind(): void {
    this.W = this.matrix.value();
    this.dW = this.matrix.grad();
  }

  forward(rows: number, X: Float32Array, targets: Int32Array, losses: Float32Array, train: boolean, scale: number): number {
    const { k, size: V, inputSize: D } = this;
    k.gemm(false, true, rows, V, D, 1, X, this.W, 0, this.logits);
    k.addBias(rows, V, this.logits, this.b().value);
    return k.softmaxCrossEntropy(rows, V, this.logits, targets, losses, train ? this.logits : null, scale);
  }

  backward(rows: number, X: Float32Array, dX: Float32Array): void {
    const { k, size: V, inputSize: D } = this;
    const dlogits = this.logits;
    k.gemm(true, false, V, D, rows, 1, dlogits, X, 1, this.dW); // dW(Vo, Din) += dlogitsᵀ · X
    k.sumRows(rows, V, dlogits, this.b().grad);
    k.gemm(false, false, rows, D, V, 1, dlogits, this.W, 1, dX); // dX(rows, Din) += dlogits · W
  }

  setBias(logp: Float64Array): void {
    const b = this.b().value;
    for (let j = 0; j < this.size; j++) b[j] = logp[j]!;
  }

  probabilities(x: Float32Array, out: Float64Array): void {
    const { k, size: V, inputSize: D } = this;
    const z = this.logits;
    k.gemv(false, V, D, 1, this.W, x, 0, z);
    k.addBias(1, V, z, this.b().value);
    k.logSoftmax(1, V, z);
    renormalizedExp(z, out, 0, V, 1);
  }
}

/**
 * Class-factorised softmax. Class logits(rows, C) = X · Wcᵀ + bc; word logits within class c
 * = X · Wcᵀ… over the block of W (Vo, Din) holding c's words. Rows are sorted by class (a
 * counting sort), gathered into one matrix, and each class's rows go through one small gemm:
 * the batch costs Σ_c n_c·|c|·Din instead of rows·Vo·Din.
 */
export class ClassSoftmaxOutput implements OutputLayer {
  readonly classes: number;
  private readonly Wc: () => Tensor; // (C, Din)
  private readonly bc: () => Tensor; // (C)
  private readonly bw: () => Tensor; // (Vo)
  private W!: Float32Array;
  private dW!: Float32Array;
  /** Per class: views of its block of W, dW, bw, dbw, made once in bind(). */
  private blockW: Float32Array[] = [];
  private blockDW: Float32Array[] = [];
  private blockB: Float32Array[] = [];
  private blockDB: Float32Array[] = [];
  /** classOf[j]: class of output index j. (Vo) */
  private readonly classOf: Int32Array;
  private readonly classStart: Int32Array;
  // Work buffers (kernel views), sized for maxRows.
  private readonly clogits: Float32Array; // (maxRows, C), then its gradient
  private readonly ctargets: Int32Array; // (maxRows)
  private readonly perm: Int32Array; // rows sorted by class (maxRows)
  private readonly local: Int32Array; // target index inside its class, in sorted order (maxRows)
  private readonly Xs: Float32Array; // X rows in sorted order (maxRows, Din)
  private readonly dXs: Float32Array; // (maxRows, Din)
  private readonly wlogits: Float32Array; // per class, (n_c, |c|) blocks one after another
  private readonly wlosses: Float32Array; // (maxRows)
  private readonly probs: Float32Array; // one row over all Vo words (distributions)
  // Per batch bookkeeping (plain JS; C entries).
  private readonly count: Int32Array;
  private readonly first: Int32Array;
  private readonly offset: Int32Array;
  private sortedRows = 0;

  constructor(
    private readonly k: Kernels,
    ps: ParamSet,
    mem: Allocator,
    private readonly matrix: WordMatrix,
    readonly size: number,
    readonly inputSize: number,
    classStart: Int32Array,
    maxRows: number,
    prefix = 'output',
  ) {
    const C = classStart.length - 1;
    this.classes = C;
    this.classStart = classStart;
    this.classOf = new Int32Array(size);
    let largest = 0;
    for (let c = 0; c < C; c++) {
      this.classOf.fill(c, classStart[c]!, classStart[c + 1]!);
      largest = Math.max(largest, classStart[c + 1]! - classStart[c]!);
    }
    this.Wc = ps.declare(`${prefix}.class.weight`, [C, inputSize]);
    this.bc = ps.declare(`${prefix}.class.bias`, [C]);
    this.bw = ps.declare(`${prefix}.bias`, [size]);
    const R = Math.max(1, maxRows);
    this.clogits = mem.alloc(R * C);
    this.ctargets = mem.allocInt32(R);
    this.perm = mem.allocInt32(R);
    this.local = mem.allocInt32(R);
    this.Xs = mem.alloc(R * inputSize);
    this.dXs = mem.alloc(R * inputSize);
    this.wlogits = mem.alloc(R * largest);
    this.wlosses = mem.alloc(R);
    this.probs = mem.alloc(size);
    this.count = new Int32Array(C);
    this.first = new Int32Array(C);
    this.offset = new Int32Array(C);
  }

  bind(): void {
    const D = this.inputSize;
    this.W = this.matrix.value();
    this.dW = this.matrix.grad();
    const cs = this.classStart;
    const bw = this.bw();
    this.blockW = [];
    this.blockDW = [];
    this.blockB = [];
    this.blockDB = [];
    for (let c = 0; c < this.classes; c++) {
      const s = cs[c]!, e = cs[c + 1]!;
      this.blockW.push(this.W.subarray(s * D, e * D));
      this.blockDW.push(this.dW.subarray(s * D, e * D));
      this.blockB.push(bw.value.subarray(s, e));
      this.blockDB.push(bw.grad.subarray(s, e));
    }
  }

  forward(rows: number, X: Float32Array, targets: Int32Array, losses: Float32Array, train: boolean, scale: number): number {
    const { k, classes: C, inputSize: D, classOf, classStart } = this;
    // 1. Class softmax for every row.
    const ct = this.ctargets;
    for (let r = 0; r < rows; r++) {
      const t = targets[r]!;
      ct[r] = t < 0 ? -1 : classOf[t]!;
    }
    k.gemm(false, true, rows, C, D, 1, X, this.Wc().value, 0, this.clogits);
    k.addBias(rows, C, this.clogits, this.bc().value);
    let total = k.softmaxCrossEntropy(rows, C, this.clogits, ct, losses, train ? this.clogits : null, scale);
    // 2. Counting sort of the rows by class (rows without a target drop out).
    const count = this.count, first = this.first, offset = this.offset;
    count.fill(0);
    for (let r = 0; r < rows; r++) if (ct[r]! >= 0) count[ct[r]!]!++;
    let n = 0;
    let o = 0;
    for (let c = 0; c < C; c++) {
      first[c] = n;
      offset[c] = o;
      n += count[c]!;
      o += count[c]! * (classStart[c + 1]! - classStart[c]!);
    }
    const perm = this.perm, local = this.local;
    const next = this.count; // reused as the insertion cursor per class
    for (let c = 0; c < C; c++) next[c] = first[c]!;
    for (let r = 0; r < rows; r++) {
      const c = ct[r]!;
      if (c < 0) continue;
      const p = next[c]!++;
      perm[p] = r;
      local[p] = targets[r]! - classStart[c]!;
    }
    this.sortedRows = n;
    if (n === 0) return total;
    // 3. Word softmax within each class, over that class's rows.
    k.embeddingGather(n, D, X, perm, this.Xs);
    for (let c = 0; c < C; c++) {
      const s = first[c]!;
      const m = (c + 1 < C ? first[c + 1]! : n) - s;
      if (m === 0) continue;
      const w = classStart[c + 1]! - classStart[c]!;
      const xs = this.Xs.subarray(s * D, (s + m) * D);
      const z = this.wlogits.subarray(offset[c]!, offset[c]! + m * w);
      k.gemm(false, true, m, w, D, 1, xs, this.blockW[c]!, 0, z);
      k.addBias(m, w, z, this.blockB[c]!);
      total += k.softmaxCrossEntropy(m, w, z, this.local.subarray(s, s + m), this.wlosses.subarray(s, s + m), train ? z : null, scale);
    }
    for (let p = 0; p < n; p++) losses[perm[p]!] = losses[perm[p]!]! + this.wlosses[p]!;
    return total;
  }

  backward(rows: number, X: Float32Array, dX: Float32Array): void {
    const { k, classes: C, inputSize: D, classStart, first, offset } = this;
    const Wc = this.Wc();
    k.gemm(true, false, C, D, rows, 1, this.clogits, X, 1, Wc.grad); // dWc(C, Din) += dclassᵀ · X
    k.sumRows(rows, C, this.clogits, this.bc().grad);
    k.gemm(false, false, rows, D, C, 1, this.clogits, Wc.value, 1, dX); // dX += dclass · Wc
    const n = this.sortedRows;
    if (n === 0) return;
    for (let c = 0; c < C; c++) {
      const s = first[c]!;
      const m = (c + 1 < C ? first[c + 1]! : n) - s;
      if (m === 0) continue;
      const w = classStart[c + 1]! - classStart[c]!;
      const xs = this.Xs.subarray(s * D, (s + m) * D);
      const dz = this.wlogits.subarray(offset[c]!, offset[c]! + m * w);
      k.gemm(true, false, w, D, m, 1, dz, xs, 1, this.blockDW[c]!); // dW_c(|c|, Din) += dzᵀ · xs
      k.sumRows(m, w, dz, this.blockDB[c]!);
      k.gemm(false, false, m, D, w, 1, dz, this.blockW[c]!, 0, this.dXs.subarray(s * D, (s + m) * D)); // dxs = dz · W_c
    }
    k.embeddingScatterAdd(n, D, dX, this.perm, this.dXs); // back to the rows' own places
  }

  setBias(logp: Float64Array): void {
    const { classes: C, classStart } = this;
    const bc = this.bc().value, bw = this.bw().value;
    for (let c = 0; c < C; c++) {
      let m = -Infinity;
      for (let j = classStart[c]!; j < classStart[c + 1]!; j++) m = Math.max(m, logp[j]!);
      let sum = 0;
      for (let j = classStart[c]!; j < classStart[c + 1]!; j++) sum += Math.exp(logp[j]! - m);
      const lc = m + Math.log(sum); // log p(class)
      bc[c] = lc;
      for (let j = classStart[c]!; j < classStart[c + 1]!; j++) bw[j] = logp[j]! - lc;
    }
  }

  probabilities(x: Float32Array, out: Float64Array): void {
    const { k, classes: C, inputSize: D, classStart } = this;
    const cl = this.clogits;
    k.gemv(false, C, D, 1, this.Wc().value, x, 0, cl);
    k.addBias(1, C, cl, this.bc().value);
    k.logSoftmax(1, C, cl);
    let classSum = 0;
    for (let c = 0; c < C; c++) classSum += Math.exp(cl[c]!);
    for (let c = 0; c < C; c++) {
      const s = classStart[c]!, w = classStart[c + 1]! - s;
      const z = this.probs.subarray(s, s + w);
      k.gemv(false, w, D, 1, this.blockW[c]!, x, 0, z);
      k.addBias(1, w, z, this.blockB[c]!);
      k.logSoftmax(1, w, z);
      renormalizedExp(z, out, s, w, Math.exp(cl[c]!) / classSum);
    }
  }
}

/** Builds the output layer an order asks for (full softmax when it has no classes). */
export function makeOutput(
  k: Kernels, ps: ParamSet, mem: Allocator, matrix: WordMatrix, order: OutputOrder, inputSize: number, maxRows: number,
): SoftmaxOutput | ClassSoftmaxOutput {
  const Vo = order.word.length;
  return order.classStart
    ? new ClassSoftmaxOutput(k, ps, mem, matrix, Vo, inputSize, order.classStart, maxRows)
    : new SoftmaxOutput(k, ps, mem, matrix, Vo, inputSize, maxRows);
}
