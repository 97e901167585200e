/**
 * What the fixed-history models (log-linear, feed-forward) share: each target word is predicted
 * from the N − 1 words before it in its sentence, padded with `<s>` at the start as in an n-gram
 * model. Training examples are every word and `</s>`, shuffled each epoch into minibatches.
 * The state of the LanguageModel is those N − 1 words (embedding rows, oldest first).
 */
import type { Scored } from '../lm.js';
import { BOS } from '../text/vocabulary.js';
import type { Kernels } from './kernels/types.js';
import { NeuralModel, type LossSum, type NeuralConfig } from './model.js';
import type { OutputOrder } from './output.js';
import type { Allocator } from './params.js';
import type { Random } from '../util/random.js';
import type { Vocabulary } from '../text/vocabulary.js';

/** Rows per forward pass when scoring or evaluating. */
export const SCORE_ROWS = 256;

export abstract class WindowModel extends NeuralModel<Int32Array> {
  /** History length N − 1. */
  readonly n: number;
  /** Rows the workspace holds. */
  readonly rows: number;
  /** Histories (rows, n), embedding rows, oldest first; targets (rows) as output indices. */
  protected ctx!: Int32Array;
  protected targets!: Int32Array;
  protected losses!: Float32Array;
  /** Minibatch size for training (0: built for scoring only). */
  private readonly batch: number;
  /** Token positions of the training examples, in this epoch's order. */
  private examples: Uint32Array = new Uint32Array(0);
  private data: Uint32Array = new Uint32Array(0);

  constructor(k: Kernels, vocab: Vocabulary, config: NeuralConfig, order: OutputOrder, batch: number) {
    super(k, vocab, config, order);
    this.n = config.order! - 1;
    this.batch = batch;
    this.rows = Math.max(batch, SCORE_ROWS);
  }

  /** Allocates the shared buffers; subclasses call it from their constructors. */
  protected allocateWindow(mem: Allocator): void {
    this.ctx = mem.allocInt32(this.rows * Math.max(1, this.n));
    this.targets = mem.allocInt32(this.rows);
    this.losses = mem.alloc(this.rows);
  }

  /** Σ −ln p over rows of (ctx, targets) into `losses`; with `train`, keeps what backward needs. */
  protected abstract forward(rows: number, train: boolean, scale: number): number;
  /** Gradients of the last training forward (accumulated). */
  protected abstract backward(rows: number): void;
  /** out[j] = p(j | history in ctx row 0). */
  protected abstract probabilitiesRow0(out: Float64Array): void;

  /** Writes the history of tokens[p] into ctx row r: the n tokens before it, `<s>`-padded. */
  private fillHistory(r: number, tokens: Uint32Array, p: number): void {
    const { n, ctx } = this;
    const row = this.order.row;
    const bos = row[BOS]!;
    let q = p - 1;
    let inSentence = true;
    for (let j = n - 1; j >= 0; j--) {
      if (inSentence && q >= 0) {
        const t = tokens[q--]!;
        ctx[r * n + j] = row[t]!;
        if (t === BOS) inSentence = false;
      } else {
        ctx[r * n + j] = bos;
      }
    }
  }

  /** Fills rows with the examples at positions[from, from + rows). Returns the number of targets. */
  private fillRows(tokens: Uint32Array, positions: Uint32Array, from: number, rows: number): number {
    for (let r = 0; r < rows; r++) {
      const p = positions[from + r]!;
      this.fillHistory(r, tokens, p);
      this.targets[r] = this.targetRow(tokens[p]!);
    }
    return rows;
  }

  /** Positions of every predicted token (all but `<s>`). */
  private static targetPositions(tokens: Uint32Array): Uint32Array {
    let n = 0;
    for (let i = 0; i < tokens.length; i++) if (tokens[i] !== BOS) n++;
    const out = new Uint32Array(n);
    for (let i = 0, j = 0; i < tokens.length; i++) if (tokens[i] !== BOS) out[j++] = i;
    return out;
  }

  // ---- training -------------------------------------------------------------------------------

  beginEpoch(tokens: Uint32Array, shuffle: Random | null): number {
    if (this.batch === 0) throw new Error('this model was built without a training workspace');
    if (this.data !== tokens || this.examples.length === 0) {
      this.data = tokens;
      this.examples = WindowModel.targetPositions(tokens);
    } else {
      // Same order every epoch before shuffling, so an epoch depends only on its own seed.
      this.examples.sort();
    }
    if (shuffle) shuffle.shuffle(this.examples);
    return Math.ceil(this.examples.length / this.batch);
  }

  private lastRows = 0;

  trainStep(s: number, _rng: Random): LossSum {
    const from = s * this.batch;
    const rows = Math.min(this.batch, this.examples.length - from);
    this.lastRows = rows;
    const n = this.fillRows(this.data, this.examples, from, rows);
    const nats = this.forward(rows, true, 1 / n);
    this.backward(rows);
    return { nats, targets: n };
  }

  /** The history rows of the last step: the embedding rows it touched (the feed-forward model's). */
  protected lastHistories(): { ids: Int32Array; count: number } {
    return { ids: this.ctx, count: this.lastRows * this.n };
  }

  evaluate(tokens: Uint32Array): LossSum {
    const positions = WindowModel.targetPositions(tokens);
    let nats = 0;
    for (let from = 0; from < positions.length; from += this.rows) {
      const rows = Math.min(this.rows, positions.length - from);
      this.fillRows(tokens, positions, from, rows);
      nats += this.forward(rows, false, 1);
    }
    return { nats, targets: positions.length };
  }

  // ---- scoring --------------------------------------------------------------------------------

  begin(): Int32Array {
    return new Int32Array(this.n).fill(this.order.row[BOS]!);
  }

  score(state: Int32Array, word: number): Scored<Int32Array> {
    const n = this.n;
    this.ctx.set(state);
    const target = this.targetRow(word);
    this.targets[0] = target;
    const nats = this.forward(1, false, 1);
    const next = new Int32Array(n);
    if (word === BOS) next.fill(this.order.row[BOS]!);
    else if (n > 0) {
      next.set(state.subarray(1));
      next[n - 1] = this.order.row[word]!;
    }
    return { log10: target < 0 ? -Infinity : NeuralModel.log10(nats), next };
  }

  protected outputProbabilities(state: Int32Array, out: Float64Array): void {
    this.ctx.set(state);
    this.probabilitiesRow0(out);
  }

  scoreSentence(words: Uint32Array, log10Out: Float64Array): number {
    const { n, ctx } = this;
    const row = this.order.row;
    const bos = row[BOS]!;
    let total = 0;
    for (let from = 0; from < words.length; from += this.rows) {
      const rows = Math.min(this.rows, words.length - from);
      for (let r = 0; r < rows; r++) {
        const p = from + r;
        // History of words[p]: words[p − n … p − 1], <s> before the first word.
        for (let j = 0; j < n; j++) {
          const q = p - n + j;
          ctx[r * n + j] = q < 0 ? bos : row[words[q]!]!;
        }
        this.targets[r] = this.targetRow(words[p]!);
      }
      this.forward(rows, false, 1);
      for (let r = 0; r < rows; r++) {
        const lp = this.targets[r]! < 0 ? -Infinity : NeuralModel.log10(this.losses[r]!);
        log10Out[from + r] = lp;
        total += lp;
      }
    }
    return total;
  }
}
