/**
 * What the recurrent models (Elman RNN, GRU, LSTM) share: minibatches of B parallel streams cut
 * into chunks of T steps (truncated backpropagation through time), the state carried from chunk
 * to chunk, and scoring a sentence, or a text, at a time.
 *
 * Two contexts (`config.context`):
 * - sentence (the default): sentences are independent. The state entering a step whose input is
 *   `<s>` is zero, in training as in scoring, so a sentence's probability never depends on the
 *   one before it: the same quantity as an n-gram model's perplexity (one line = one sentence,
 *   `</s>` scored, `<s>` context only).
 * - stream: the text is one sequence, `</s>` the line break, as Mikolov's toolkit, Zaremba et al.
 *   and PyTorch's example have it: there is no `<s>`; a stream (and the model's start state,
 *   `begin()`) starts with `</s>` as input from the zero state, and every line is predicted from
 *   the state the previous line left. Training lays the sentences out in corpus order.
 */
import type { Scored } from '../lm.js';
import { BOS, EOS } from '../text/vocabulary.js';
import type { OutputLayer } from './output.js';
import type { Allocator } from './params.js';
import { NeuralModel, sentenceBounds, type LossSum } from './model.js';
import type { Random } from '../util/random.js';

/** Buffers of one (T, B) shape. Time-major: row t·B + b is stream b at step t. */
export interface SeqWorkspace {
  readonly T: number;
  readonly B: number;
  /** Embedding row of each input. (T·B) */
  readonly inputs: Int32Array;
  /** Output index of each target, −1 for none. (T·B) */
  readonly targets: Int32Array;
  /** 1 where the input is `<s>`: the state entering that step is zero. (T·B) */
  readonly reset: Uint8Array;
  /** −ln p per row. (T·B) */
  readonly losses: Float32Array;
  /** The state carried between chunks: per stream, `stateSize` floats (layout up to the model). */
  readonly carried: Float32Array;
  /** Input of the output layer, (T·B, Hout), and its gradient. */
  readonly top: Float32Array;
  readonly dtop: Float32Array;
}

/**
 * The training (or validation) token stream laid out as B streams: sentences, in corpus order
 * or shuffled, dealt into B runs of nearly equal length that each start at a sentence start.
 * Shorter runs are padded (no input, no target).
 */
export class Streams {
  /** Token ids, stream b at [b·L, (b + 1)·L); −1 is padding. */
  private data = new Int32Array(0);
  private L = 0;

  constructor(readonly B: number) {}

  /**
   * Lays out `tokens` (`<s> w… </s>` sentences); with `shuffle`, in a random sentence order.
   * With `stream`, without the `<s>`: each run starts with a `</s>` (the line break before its
   * first line) and its sentences follow one another as one text.
   */
  layout(tokens: Uint32Array, shuffle: Random | null, stream = false): void {
    const bounds = sentenceBounds(tokens);
    const S = bounds.length / 2;
    const order = new Uint32Array(S);
    for (let i = 0; i < S; i++) order[i] = i;
    if (shuffle) shuffle.shuffle(order);
    const B = this.B;
    const skip = stream ? 1 : 0; // <s> left out
    const N = tokens.length - skip * S; // the tokens laid out
    // Deal sentences into B runs, closing run b once the tokens dealt pass (b + 1)/B of all.
    const runStart = new Int32Array(B + 1).fill(S);
    runStart[0] = 0;
    const runLength = new Int32Array(B);
    let b = 0;
    let done = 0;
    for (let i = 0; i < S; i++) {
      const s = order[i]!;
      const len = bounds[2 * s + 1]! - bounds[2 * s]! + 1 - skip;
      runLength[b] = runLength[b]! + len;
      done += len;
      if (b < B - 1 && done >= ((b + 1) * N) / B) runStart[++b] = i + 1;
    }
    let L = 0;
    for (let r = 0; r < B; r++) L = Math.max(L, runLength[r]! + skip);
    this.L = L;
    if (this.data.length < B * L) this.data = new Int32Array(B * L);
    this.data.fill(-1, 0, B * L);
    for (let r = 0; r < B; r++) {
      let p = r * L;
      if (stream && runStart[r + 1]! > runStart[r]!) this.data[p++] = EOS;
      for (let i = runStart[r]!; i < runStart[r + 1]!; i++) {
        const s = order[i]!;
        for (let j = bounds[2 * s]! + skip; j <= bounds[2 * s + 1]!; j++) this.data[p++] = tokens[j]!;
      }
    }
  }

  /** Chunks of T steps in the layout. */
  steps(T: number): number {
    return this.L > 1 ? Math.ceil((this.L - 1) / T) : 0;
  }

  /**
   * Fills chunk s of a workspace: inputs are positions [sT, sT + T') of each stream, targets the
   * positions after them. Returns T' (the last chunk may be shorter) and counts the targets into
   * `count[0]`.
   */
  fill(s: number, ws: SeqWorkspace, row: Int32Array, count: Int32Array): number {
    const { T, B } = ws;
    const L = this.L;
    const p0 = s * T;
    const Tn = Math.min(T, L - 1 - p0);
    const bosRow = row[BOS]!;
    let n = 0;
    for (let t = 0; t < Tn; t++) {
      for (let b = 0; b < B; b++) {
        const i = t * B + b;
        const x = this.data[b * L + p0 + t]!;
        const y = this.data[b * L + p0 + t + 1]!;
        ws.inputs[i] = x < 0 ? bosRow : row[x]!;
        ws.reset[i] = x < 0 || x === BOS ? 1 : 0;
        const target = x < 0 || y < 0 || y === BOS ? -1 : row[y]!;
        ws.targets[i] = target;
        if (target >= 0) n++;
      }
    }
    count[0] = n;
    return Tn;
  }
}

/**
 * Base of the models trained on streams cut into chunks (the recurrent models, the Transformer):
 * the epoch layout, the training step, the workspaces. The subclass runs the chunk forward
 * (`recur`) and backward (`recurBackward`) and defines scoring.
 */
export abstract class StreamModel<W extends SeqWorkspace, S> extends NeuralModel<S> {
  abstract readonly output: OutputLayer;
  /** Width of the top layer's output (the output layer's input). */
  abstract readonly topSize: number;
  /** Training/validation workspace (T = bptt, B = batch) and scoring workspace (T = chunk, B = 1). */
  protected trainWs: W | null = null;
  protected scoreWs!: W;
  private streams: Streams | null = null;
  protected readonly count = new Int32Array(1);

  /** Buffers for chunks of T steps of B streams; `training`: with room for dropout and gradients. */
  protected abstract makeWorkspace(mem: Allocator, T: number, B: number, training: boolean): W;
  /** Runs T steps from `ws.carried`, writing the top outputs to `ws.top` and the last state back to `ws.carried`. */
  protected abstract recur(ws: W, T: number, train: boolean, rng: Random | null): void;
  /** After the output layer's backward filled `ws.dtop`: backpropagation through the T steps. */
  protected abstract recurBackward(ws: W, T: number): void;

  /** Allocates the workspaces; called by subclasses once their parameters are declared. */
  protected allocateWorkspaces(mem: Allocator, shape: { batch: number; bptt: number } | null, scoreChunk: number): void {
    if (shape) {
      this.trainWs = this.makeWorkspace(mem, shape.bptt, shape.batch, true);
      this.streams = new Streams(shape.batch);
    }
    this.scoreWs = this.makeWorkspace(mem, scoreChunk, 1, false);
  }

  /** Output-layer rows a model with this shape needs. */
  static outputRows(shape: { batch: number; bptt: number } | null, scoreChunk: number): number {
    return Math.max(scoreChunk, shape ? shape.batch * shape.bptt : 0);
  }

  // ---- training -------------------------------------------------------------------------------

  beginEpoch(tokens: Uint32Array, shuffle: Random | null): number {
    const ws = this.needTraining();
    const stream = this.context === 'stream';
    this.streams!.layout(tokens, stream ? null : shuffle, stream); // a stream keeps the text's order
    ws.carried.fill(0);
    return this.streams!.steps(ws.T);
  }

  /** Rows of the last training step (T'·B). */
  private lastRows = 0;

  trainStep(s: number, rng: Random): LossSum {
    const ws = this.needTraining();
    const T = this.streams!.fill(s, ws, this.order.row, this.count);
    this.lastRows = T * ws.B;
    const n = this.count[0]!;
    const rows = T * ws.B;
    this.recur(ws, T, true, rng);
    const nats = this.output.forward(rows, ws.top, ws.targets, ws.losses, true, n > 0 ? 1 / n : 0);
    ws.dtop.fill(0, 0, rows * this.topSize);
    this.output.backward(rows, ws.top, ws.dtop);
    this.recurBackward(ws, T);
    return { nats, targets: n };
  }

  /** Whether the embedding's rows are only ever touched through the inputs (not tied to the output). */
  protected abstract readonly embeddingIsInputOnly: boolean;

  protected override sparseInputs(): { ids: Int32Array; count: number } | null {
    return this.embeddingIsInputOnly && this.trainWs ? { ids: this.trainWs.inputs, count: this.lastRows } : null;
  }

  override carried(): Float32Array | null {
    return this.trainWs && this.trainWs.carried.length > 0 ? this.trainWs.carried : null;
  }

  /**
   * Σ nats over a text laid out as the training streams (B of them, in corpus order) in chunks
   * of T steps, the state carried from chunk to chunk (none for the Transformer: its windows do
   * not overlap). The recurrent models' validation, and PyTorch's example's protocol for any of
   * them (with the text's state carried, in stream context).
   */
  evaluateWindows(tokens: Uint32Array): LossSum {
    const ws = this.needTraining();
    const saved = ws.carried.slice();
    const streams = new Streams(ws.B);
    streams.layout(tokens, null, this.context === 'stream');
    ws.carried.fill(0);
    let nats = 0;
    let targets = 0;
    for (let s = 0, S = streams.steps(ws.T); s < S; s++) {
      const T = streams.fill(s, ws, this.order.row, this.count);
      this.recur(ws, T, false, null);
      nats += this.output.forward(T * ws.B, ws.top, ws.targets, ws.losses, false, 1);
      targets += this.count[0]!;
    }
    ws.carried.set(saved);
    return { nats, targets };
  }

  protected needTraining(): W {
    if (!this.trainWs) throw new Error('this model was built without a training workspace');
    return this.trainWs;
  }
}

/** Base of the Elman RNN, GRU and LSTM: evaluation over streams, and the LanguageModel methods on a state vector. */
export abstract class RecurrentModel<W extends SeqWorkspace> extends StreamModel<W, Float32Array> {
  /** Floats of state per stream. */
  abstract readonly stateSize: number;
  /** Where the top layer's h starts inside one stream's state. */
  abstract readonly topOffset: number;
  /** The output layer's input for score(): one row. */
  protected stateX!: Float32Array;
  protected oneTarget!: Int32Array;
  protected oneLoss!: Float32Array;

  protected override allocateWorkspaces(mem: Allocator, shape: { batch: number; bptt: number } | null, scoreChunk: number): void {
    super.allocateWorkspaces(mem, shape, scoreChunk);
    this.stateX = mem.alloc(this.topSize);
    this.oneTarget = mem.allocInt32(1);
    this.oneLoss = mem.alloc(1);
  }

  evaluate(tokens: Uint32Array): LossSum {
    return this.evaluateWindows(tokens);
  }

  // ---- scoring --------------------------------------------------------------------------------

  /** The state at the start of a line: after `<s>`, or in stream context after a line break `</s>`, from zero. */
  begin(): Float32Array {
    const ws = this.scoreWs;
    ws.carried.fill(0);
    ws.inputs[0] = this.order.row[this.startToken]!;
    ws.reset[0] = 1;
    this.recur(ws, 1, false, null);
    return ws.carried.slice(0, this.stateSize);
  }

  score(state: Float32Array, word: number): Scored<Float32Array> {
    const ws = this.scoreWs;
    this.stateX.set(state.subarray(this.topOffset, this.topOffset + this.topSize));
    this.oneTarget[0] = this.targetRow(word);
    const nats = this.output.forward(1, this.stateX, this.oneTarget, this.oneLoss, false, 1);
    ws.carried.set(state);
    ws.inputs[0] = this.order.row[word]!;
    ws.reset[0] = word === BOS ? 1 : 0;
    this.recur(ws, 1, false, null);
    return { log10: this.oneTarget[0] < 0 ? -Infinity : NeuralModel.log10(nats), next: ws.carried.slice(0, this.stateSize) };
  }

  protected outputProbabilities(state: Float32Array, out: Float64Array): void {
    this.stateX.set(state.subarray(this.topOffset, this.topOffset + this.topSize));
    this.output.probabilities(this.stateX, out);
  }

  scoreStream(state: Float32Array | null, words: Uint32Array, log10Out: Float64Array): Float32Array {
    const ws = this.scoreWs;
    const row = this.order.row;
    const n = words.length;
    const start = state ?? this.begin();
    if (n === 0) return start;
    // The first word from the state's top output; then every word is an input, its output
    // predicting the next (the last one's only leads to the state returned).
    this.stateX.set(start.subarray(this.topOffset, this.topOffset + this.topSize));
    this.oneTarget[0] = this.targetRow(words[0]!);
    const first = this.output.forward(1, this.stateX, this.oneTarget, this.oneLoss, false, 1);
    log10Out[0] = this.oneTarget[0] < 0 ? -Infinity : NeuralModel.log10(first);
    ws.carried.set(start);
    for (let c0 = 0; c0 < n; c0 += ws.T) {
      const T = Math.min(ws.T, n - c0);
      for (let t = 0; t < T; t++) {
        const p = c0 + t;
        ws.inputs[t] = row[words[p]!]!;
        ws.reset[t] = words[p] === BOS ? 1 : 0;
        ws.targets[t] = p + 1 < n ? this.targetRow(words[p + 1]!) : -1;
      }
      this.recur(ws, T, false, null);
      this.output.forward(T, ws.top, ws.targets, ws.losses, false, 1);
      for (let t = 0; t < T && c0 + t + 1 < n; t++) log10Out[c0 + t + 1] = ws.targets[t]! < 0 ? -Infinity : NeuralModel.log10(ws.losses[t]!);
    }
    return ws.carried.slice(0, this.stateSize);
  }

  scoreSentence(words: Uint32Array, log10Out: Float64Array): number {
    const ws = this.scoreWs;
    const row = this.order.row;
    const n = words.length;
    ws.carried.fill(0);
    let total = 0;
    for (let c0 = 0; c0 < n; c0 += ws.T) {
      const T = Math.min(ws.T, n - c0);
      for (let t = 0; t < T; t++) {
        const p = c0 + t;
        ws.inputs[t] = p === 0 ? row[this.startToken]! : row[words[p - 1]!]!;
        ws.reset[t] = p === 0 ? 1 : 0;
        ws.targets[t] = this.targetRow(words[p]!);
      }
      this.recur(ws, T, false, null);
      this.output.forward(T, ws.top, ws.targets, ws.losses, false, 1);
      for (let t = 0; t < T; t++) {
        const lp = ws.targets[t]! < 0 ? -Infinity : NeuralModel.log10(ws.losses[t]!);
        log10Out[c0 + t] = lp;
        total += lp;
      }
    }
    return total;
  }
}
