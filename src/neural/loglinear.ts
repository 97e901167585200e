/**
 * The log-linear language model of the lecture:
 *
 *   s = b + Σ_{j=1}^{N−1} W_j · onehot(w_{t−j})      (Vo scores)
 *   p(w_t | history) = softmax(s)
 *
 * W_j · onehot(c) is a row lookup, so a step costs O((N − 1)·V) and touches N − 1 rows. A dense
 * W_j has V·(V − 1) weights (400 MB per position for a 10k vocabulary), so above a budget the
 * rows are hashed into a shared table, as Mikolov's maximum-entropy features are: the row of
 * context word c at position j starts at hash(j, c) in a table of `hashSize` weights. Dense is the
 * special case where row c starts at c·(V − 1). Rows are updated sparsely (only those a batch
 * touched), with L2 applied to them lazily.
 */
import type { Vocabulary } from '../text/vocabulary.js';
import type { Kernels } from './kernels/types.js';
import type { NeuralConfig } from './model.js';
import { renormalizedExp, type OutputOrder } from './output.js';
import type { Allocator, Tensor } from './params.js';
import type { Random } from '../util/random.js';
import { WindowModel } from './window.js';

/** Default weights per history position: dense up to this, hashed above (16 MiB of float32; on PTB 2^24 was no better: validation 295.6 vs 297.2 after one epoch). */
export const DEFAULT_HASH_SIZE = 1 << 22;

/** Start of the row of context row c at history position j in a hashed table of `size` (+ Vo) weights. */
export function hashedRowStart(j: number, c: number, size: number): number {
  let h = Math.imul(c + 1, 0x9e3779b1) ^ Math.imul(j + 1, 0x85ebca77);
  h ^= h >>> 16;
  h = Math.imul(h, 0x7feb352d);
  h ^= h >>> 15;
  h = Math.imul(h, 0x846ca68b);
  h ^= h >>> 16;
  return ((h >>> 0) % Math.max(1, Math.floor(size / 4))) * 4; // 16-byte aligned starts
}

/** Whether a table of `hashSize` weights holds every row densely. */
export function isDense(V: number, hashSize: number): boolean {
  return hashSize >= V * (V - 1);
}

export class LogLinearModel extends WindowModel {
  private readonly Vo: number;
  private readonly dense: boolean;
  private readonly W: (() => Tensor)[] = []; // per position j: (V, Vo) dense, or (hashSize + Vo) hashed
  private readonly b: () => Tensor; // (Vo)
  private readonly logits: Float32Array; // (rows, Vo), then the gradient
  private logitRows: Float32Array[] = [];
  /** rowValue[j][c] / rowGrad[j][c]: views of W_j's row for context row c, made once. */
  private rowValue: Float32Array[][] = [];
  private rowGrad: Float32Array[][] = [];
  /** Rows with a gradient since the last update, as j·V + c, and a flag per row. */
  private readonly touched: Int32Array;
  private touchedCount = 0;
  private readonly isTouched: Uint8Array;

  constructor(k: Kernels, vocab: Vocabulary, config: NeuralConfig, order: OutputOrder, mem: Allocator, batch: number) {
    super(k, vocab, config, order, batch);
    if (config.classes > 0) throw new Error('the log-linear model uses a full softmax');
    const V = config.vocabSize;
    const Vo = V - 1;
    this.Vo = Vo;
    const size = config.hashSize!;
    this.dense = isDense(V, size);
    for (let j = 0; j < this.n; j++) {
      this.W.push(this.params.declare(`loglinear.${j}.weight`, this.dense ? [V, Vo] : [size + Vo]));
    }
    this.b = this.params.declare('loglinear.bias', [Vo]);
    this.params.allocate(mem);
    this.allocateWindow(mem);
    this.logits = mem.alloc(this.rows * Vo);
    this.touched = new Int32Array(batch * this.n + this.n);
    this.isTouched = new Uint8Array(this.n * V);
    if (this.params.values.length > 0) this.makeRowViews();
  }

  /** Views of every row, so the hot loop allocates nothing. */
  private makeRowViews(): void {
    const V = this.config.vocabSize, Vo = this.Vo, size = this.config.hashSize!;
    for (let j = 0; j < this.n; j++) {
      const t = this.W[j]!();
      const values: Float32Array[] = [];
      const grads: Float32Array[] = [];
      for (let c = 0; c < V; c++) {
        const s = this.dense ? c * Vo : hashedRowStart(j, c, size);
        values.push(t.value.subarray(s, s + Vo));
        grads.push(t.grad.subarray(s, s + Vo));
      }
      this.rowValue.push(values);
      this.rowGrad.push(grads);
    }
    for (let r = 0; r < this.rows; r++) this.logitRows.push(this.logits.subarray(r * Vo, (r + 1) * Vo));
  }

  protected initializeWeights(_rng: Random): void {
    // The objective is convex: start from zero (the uniform distribution, or with counts the
    // unigram one through the bias).
    this.params.values.fill(0);
  }

  protected setOutputBias(logp: Float64Array): void {
    this.b().value.set(logp);
  }

  /** logits[r] = b + Σ_j W_j[ctx[r, j]]. */
  private scores(rows: number): void {
    const k = this.kernels;
    const { n, Vo, ctx } = this;
    const b = this.b().value;
    for (let r = 0; r < rows; r++) {
      const z = this.logitRows[r]!;
      k.copy(Vo, b, z);
      for (let j = 0; j < n; j++) k.axpy(Vo, 1, this.rowValue[j]![ctx[r * n + j]!]!, z);
    }
  }

  protected forward(rows: number, train: boolean, scale: number): number {
    this.scores(rows);
    return this.kernels.softmaxCrossEntropy(rows, this.Vo, this.logits, this.targets, this.losses, train ? this.logits : null, scale);
  }

  protected backward(rows: number): void {
    const k = this.kernels;
    const { n, Vo, ctx } = this;
    const V = this.config.vocabSize;
    for (let r = 0; r < rows; r++) {
      const d = this.logitRows[r]!;
      for (let j = 0; j < n; j++) {
        const c = ctx[r * n + j]!;
        k.axpy(Vo, 1, d, this.rowGrad[j]![c]!);
        const key = j * V + c;
        if (!this.isTouched[key]) {
          this.isTouched[key] = 1;
          this.touched[this.touchedCount++] = key;
        }
      }
    }
    k.sumRows(rows, Vo, this.logits, this.b().grad);
  }

  /** Sparse SGD: only the rows this batch touched, and the bias. */
  override update(lr: number, clip: number, l2: number): number {
    const k = this.kernels;
    const V = this.config.vocabSize, Vo = this.Vo;
    const b = this.b();
    let sq = k.sumSquares(Vo, b.grad);
    for (let i = 0; i < this.touchedCount; i++) {
      const key = this.touched[i]!;
      sq += k.sumSquares(Vo, this.rowGrad[(key / V) | 0]![key % V]!);
    }
    const norm = Math.sqrt(sq);
    if (!Number.isFinite(norm)) return norm; // leave the weights as they were
    const step = clip > 0 && norm > clip ? (lr * clip) / norm : lr;
    for (let i = 0; i < this.touchedCount; i++) {
      const key = this.touched[i]!;
      const j = (key / V) | 0, c = key % V;
      const w = this.rowValue[j]![c]!, g = this.rowGrad[j]![c]!;
      if (l2 > 0) k.scale(Vo, 1 - lr * l2, w);
      k.axpy(Vo, -step, g, w);
      k.zero(Vo, g);
      this.isTouched[key] = 0;
    }
    this.touchedCount = 0;
    k.axpy(Vo, -step, b.grad, b.value);
    k.zero(Vo, b.grad);
    return norm;
  }

  protected probabilitiesRow0(out: Float64Array): void {
    this.scores(1);
    const z = this.logitRows[0]!;
    this.kernels.logSoftmax(1, this.Vo, z);
    renormalizedExp(z, out, 0, this.Vo, 1);
  }
}
