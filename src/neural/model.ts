/**
 * What the neural families share: the configuration, the parameter set, the output layer,
 * the vocabulary order, the scoring semantics (one line = one sentence, the state reset at `<s>`,
 * `</s>` scored: perplexity means what it means for the n-gram models), and the interface the
 * training loop drives ({@link Trainee}).
 */
import type { Context, LanguageModel, Scored } from '../lm.js';
import type { TokenizeOptions } from '../text/tokenize.js';
import { BOS, EOS, type Vocabulary } from '../text/vocabulary.js';
import type { Kernels } from './kernels/types.js';
import type { OutputOrder } from './output.js';
import { Optimizer } from './optim.js';
import { ParamSet } from './params.js';
import type { Random } from '../util/random.js';
import type { NeuralKind } from './kinds.js';

export { NEURAL_KINDS, type NeuralKind } from './kinds.js';

/** Architecture of a neural model: everything needed to rebuild it from a file. */
export interface NeuralConfig {
  kind: NeuralKind;
  /** Vocabulary size V (the three specials included). */
  vocabSize: number;
  /** Classes of the class-factorised softmax actually used; 0 = full softmax. */
  classes: number;
  /** loglinear, ffnn: n-gram order N (the history is the N − 1 previous words). */
  order?: number;
  /** ffnn, rnn, gru, lstm: embedding size; transformer: the model width D. */
  embed?: number;
  /** ffnn, rnn, gru, lstm: hidden units; transformer: the feed-forward width. */
  hidden?: number;
  /** rnn, gru, lstm, transformer: layers. */
  layers?: number;
  /** rnn, gru, lstm: dropout probability on non-recurrent connections; transformer: on every sublayer, the attention and the input (training only). */
  dropout?: number;
  /** rnn, gru, lstm, transformer: output matrix = input embedding. */
  tied?: boolean;
  /** rnn, gru, lstm, transformer: trained on lines on their own or on the text as a stream (absent: sentence). */
  context?: Context;
  /** rnn: the cell's nonlinearity (absent: tanh); transformer: the feed-forward's (relu or gelu). */
  activation?: 'tanh' | 'relu' | 'gelu';
  /** transformer: attention heads (embed divisible by it). */
  heads?: number;
  /** transformer: the context window W: training windows, positions, and the sliding window when scoring. */
  window?: number;
  /** transformer: sinusoidal (PyTorch's example) or learned position embeddings. */
  positions?: 'sinusoidal' | 'learned';
  /** transformer: LayerNorm after each residual sum (post, PyTorch's default) or before each sublayer (pre). */
  norm?: 'post' | 'pre';
  /** ffnn: direct connections from the concatenated embeddings to the output. */
  direct?: boolean;
  /** loglinear: floats per history position in the (hashed) weight table; V·(V − 1) = dense. */
  hashSize?: number;
}

/** Sizes of the training workspace: minibatch rows, and for recurrent models the BPTT length. */
export interface TrainShape {
  batch: number;
  bptt: number;
}

/** Σ −ln p and the number of predicted tokens. */
export interface LossSum {
  nats: number;
  targets: number;
}

/** What the training loop drives; every neural model implements it. */
export interface Trainee {
  readonly params: ParamSet;
  /** The vocabulary: its size sets how far the loss may rise before training counts as diverged. */
  readonly vocab: Vocabulary;
  readonly kernels: Kernels;
  /** Lays out the training tokens for one epoch (shuffled with `shuffle` when given); returns the number of steps. */
  beginEpoch(tokens: Uint32Array, shuffle: Random | null): number;
  /** Forward and backward of step `s`: gradients accumulate (+=). `rng` draws dropout masks. */
  trainStep(s: number, rng: Random): LossSum;
  /** One optimizer step with global-norm clipping (`clip` > 0) and weight decay `l2`; zeroes the gradients. Returns the norm before clipping. */
  update(lr: number, clip: number, l2: number): number;
  /** The optimizer and its state (saved in checkpoints); absent: plain SGD without state. */
  readonly optimizer?: Optimizer;
  /** Σ nats over a token stream with the scoring semantics, batched (dropout off). */
  evaluate(tokens: Uint32Array): LossSum;
  /** State carried from one training step to the next (recurrent: hidden states), for checkpoints. */
  carried(): Float32Array | null;
}

/** Kernels stand-in for the sizing pass: models store it but must not call it while being sized. */
export const NO_KERNELS = new Proxy({} as Kernels, {
  get(_t, p) {
    if (p === 'then') return undefined;
    throw new Error(`kernels.${String(p)} used while sizing a model`);
  },
});

const LN10 = Math.LN10;

/** Base of the neural families: LanguageModel plumbing and defaults shared by all. */
export abstract class NeuralModel<S> implements LanguageModel<S>, Trainee {
  readonly params = new ParamSet();
  /** How the training text was split into words (stored in the model file); undefined when unknown. */
  text: TokenizeOptions | undefined;
  /** SGD unless {@link buildModel} was asked for another (whose state it allocates). */
  optimizer = new Optimizer('sgd', { alloc: () => new Float32Array(0), allocInt32: () => new Int32Array(0) }, 0);
  /** One row of probabilities over output indices (distribution()). */
  private probs: Float64Array | null = null;

  constructor(
    readonly kernels: Kernels,
    readonly vocab: Vocabulary,
    readonly config: NeuralConfig,
    readonly order: OutputOrder,
  ) {
    if (vocab.size !== config.vocabSize) throw new Error(`vocabulary has ${vocab.size} words, the config says ${config.vocabSize}`);
  }

  get description(): string {
    return describe(this.config);
  }

  /** The context the model was trained in, and scores in unless told otherwise (see {@link Context}). */
  get context(): Context {
    return this.config.context ?? 'sentence';
  }

  /** The input that starts a line: `<s>`, or in stream context the line break `</s>`. */
  protected get startToken(): number {
    return this.context === 'stream' ? EOS : BOS;
  }

  /**
   * Draws the initial weights. With the training counts (by vocabulary id), the output biases
   * start at the log unigram distribution, so that training starts from the unigram model
   * rather than the uniform one (it matters most for short runs).
   *
   * @example
   * ```ts
   * import { countIds, Random, type Corpus, type NeuralModel } from 'kotoba';
   * declare const model: NeuralModel<unknown>;
   * declare const train: Corpus;
   * model.initialize(new Random(1), countIds(train.tokens, train.vocab.size));
   * ```
   */
  initialize(rng: Random, counts?: ArrayLike<number>): void {
    this.initializeWeights(rng);
    if (counts) this.setOutputBias(logUnigram(counts, this.order.word));
  }

  /** Draws the initial weights (biases 0). */
  protected abstract initializeWeights(rng: Random): void;
  /** Sets the output biases so that, with zero input, p(output index j) = exp(logp[j]). */
  protected abstract setOutputBias(logp: Float64Array): void;

  abstract begin(): S;
  abstract score(state: S, word: number): Scored<S>;
  /** Fills out[j] (output indices) with p(j | state). */
  protected abstract outputProbabilities(state: S, out: Float64Array): void;
  /** Fast path: scores a whole sentence from `<s>`, batched across positions (see LanguageModel). */
  abstract scoreSentence(words: Uint32Array, log10Out: Float64Array): number;

  distribution(state: S, out: Float64Array): void {
    const Vo = this.order.word.length;
    this.probs ??= new Float64Array(Vo);
    this.outputProbabilities(state, this.probs);
    out.fill(0, 0, this.vocab.size);
    const word = this.order.word;
    for (let j = 0; j < Vo; j++) out[word[j]!] = this.probs[j]!;
    out[BOS] = 0;
  }

  /** log10 p from −ln p. */
  protected static log10(nats: number): number {
    return -nats / LN10;
  }

  abstract beginEpoch(tokens: Uint32Array, shuffle: Random | null): number;
  abstract trainStep(s: number, rng: Random): LossSum;
  abstract evaluate(tokens: Uint32Array): LossSum;

  /**
   * The input ids of the last training step, when the model's first tensor is an input
   * embedding whose untouched rows have zero gradient: then only those rows are updated (a 10k
   * × 200 embedding is half of an RNN's weights, and a minibatch uses a few hundred rows of it).
   * Null: update everything densely.
   */
  protected sparseInputs(): { ids: Int32Array; count: number } | null {
    return null;
  }

  private sparse: { width: number; end: number; rowValue: Float32Array[]; rowGrad: Float32Array[]; seen: Uint8Array; list: Int32Array; denseValues: Float32Array; denseGrads: Float32Array } | null = null;

  update(lr: number, clip: number, l2: number): number {
    // SGD touches only the embedding rows a step used; AdamW's moments decay everywhere, so it
    // (and Adagrad, for simplicity) updates the whole buffer, as PyTorch's dense optimizers do.
    const inputs = this.optimizer.name === 'sgd' ? this.sparseInputs() : null;
    if (!inputs) return this.optimizer.step(this.kernels, this.params, lr, clip, l2);
    const k = this.kernels;
    const ps = this.params;
    if (!this.sparse) {
      const E = ps.tensors()[0]!; // the embedding (V, width)
      const width = E.shape[1]!;
      const rowsN = E.shape[0]!;
      const end = ps.tensors()[1]?.offset ?? ps.count;
      const rowValue: Float32Array[] = [], rowGrad: Float32Array[] = [];
      for (let r = 0; r < rowsN; r++) {
        rowValue.push(E.value.subarray(r * width, (r + 1) * width));
        rowGrad.push(E.grad.subarray(r * width, (r + 1) * width));
      }
      this.sparse = { width, end, rowValue, rowGrad, seen: new Uint8Array(rowsN), list: new Int32Array(rowsN), denseValues: ps.values.subarray(end), denseGrads: ps.grads.subarray(end) };
    }
    const sp = this.sparse;
    // The distinct rows the step used.
    let n = 0;
    for (let i = 0; i < inputs.count; i++) {
      const r = inputs.ids[i]!;
      if (!sp.seen[r]) {
        sp.seen[r] = 1;
        sp.list[n++] = r;
      }
    }
    const dense = ps.count - sp.end;
    let sq = k.sumSquares(dense, sp.denseGrads);
    for (let i = 0; i < n; i++) sq += k.sumSquares(sp.width, sp.rowGrad[sp.list[i]!]!);
    const norm = Math.sqrt(sq);
    if (Number.isFinite(norm)) {
      const step = clip > 0 && norm > clip ? (lr * clip) / norm : lr;
      if (l2 > 0) k.scale(dense, 1 - lr * l2, sp.denseValues);
      k.axpy(dense, -step, sp.denseGrads, sp.denseValues);
      k.zero(dense, sp.denseGrads);
      for (let i = 0; i < n; i++) {
        const r = sp.list[i]!;
        if (l2 > 0) k.scale(sp.width, 1 - lr * l2, sp.rowValue[r]!); // lazily: rows in use only
        k.axpy(sp.width, -step, sp.rowGrad[r]!, sp.rowValue[r]!);
        k.zero(sp.width, sp.rowGrad[r]!);
      }
    }
    for (let i = 0; i < n; i++) sp.seen[sp.list[i]!] = 0;
    if (Number.isFinite(norm)) this.optimizer.steps++;
    return norm;
  }

  carried(): Float32Array | null {
    return null;
  }

  /** Output index of a target id (−1 for `<s>`, which is never predicted). */
  protected targetRow(id: number): number {
    return id === BOS ? -1 : this.order.row[id]!;
  }
}

/** One-line description of a configuration, e.g. `LSTM 2×200, full softmax over 10002 words`. */
export function describe(c: NeuralConfig): string {
  const soft = c.classes > 0 ? `${c.classes}-class softmax` : 'full softmax';
  const V = `${c.vocabSize} words`;
  switch (c.kind) {
    case 'loglinear':
      return `log-linear ${c.order}-gram model (${c.hashSize! >= c.vocabSize * (c.vocabSize - 1) ? 'dense' : `hashed, ${c.hashSize} weights per position`}), ${soft}, ${V}`;
    case 'ffnn':
      return `feed-forward ${c.order}-gram network (embed ${c.embed}, hidden ${c.hidden}${c.direct ? ', direct connections' : ''}), ${soft}, ${V}`;
    case 'rnn':
    case 'gru':
    case 'lstm': {
      const name = c.kind === 'rnn' ? `Elman RNN${c.activation === 'relu' ? ' (ReLU)' : ''}` : c.kind.toUpperCase();
      const size = (c.layers ?? 1) > 1 ? `${c.layers}×${c.hidden}` : `${c.hidden}`;
      return `${name} ${size} (embed ${c.embed ?? c.hidden}${c.dropout ? `, dropout ${c.dropout}` : ''}${c.tied ? ', tied' : ''}), ${soft}, ${V}${streamed(c)}`;
    }
    case 'transformer':
      return `Transformer ${c.layers}×${c.embed} (${c.heads} heads, feed-forward ${c.hidden} ${c.activation}, ${c.norm}-norm, ${c.positions} positions, window ${c.window}${c.dropout ? `, dropout ${c.dropout}` : ''}${c.tied ? ', tied' : ''}), ${soft}, ${V}${streamed(c)}`;
  }
}

/** The description's note on a stream-context model. */
function streamed(c: NeuralConfig): string {
  return c.context === 'stream' ? ', stream context' : '';
}

/**
 * The sentences of a token stream (`<s> w… </s>` …) as [start, end] index pairs, start at the
 * `<s>` and end at the `</s>`.
 */
export function sentenceBounds(tokens: Uint32Array): Int32Array {
  let n = 0;
  for (let i = 0; i < tokens.length; i++) if (tokens[i] === EOS) n++;
  const out = new Int32Array(2 * n);
  let start = 0;
  let s = 0;
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i]!;
    if (t === BOS) start = i;
    else if (t === EOS) {
      out[2 * s] = start;
      out[2 * s + 1] = i;
      s++;
    }
  }
  return out;
}

/** log p(j) for each output index j from counts by id, add-½ smoothed so unseen words are finite. */
export function logUnigram(counts: ArrayLike<number>, word: Int32Array): Float64Array {
  let total = 0;
  for (let j = 0; j < word.length; j++) total += counts[word[j]!]! + 0.5;
  const out = new Float64Array(word.length);
  for (let j = 0; j < word.length; j++) out[j] = Math.log((counts[word[j]!]! + 0.5) / total);
  return out;
}
