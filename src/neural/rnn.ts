/**
 * The Elman recurrent model (Elman 1990; Mikolov's RNNLM):
 *
 *   x_t = E[w_t]                                  (E) the input word's embedding
 *   h_t = tanh(x_t · Wx + h_{t−1} · U + b)        (H)
 *   p(· | history) = softmax output over h_t     full, or class-factorised (the toolkit's default)
 *
 * trained by truncated backpropagation through time over minibatches of parallel streams. The
 * lecture's h_t = tanh(W·onehot(w_t) + U·h_{t−1} + b) has W = (E·Wx)ᵀ here: factorised, because a
 * minibatch updates only a few hundred rows of E but all of Wx, and with minibatch SGD the input
 * side then learns from every token (Mikolov's per-word updates have no such problem; without Wx
 * a minibatch RNN reached validation perplexity 339 after one PTB epoch, with it 270).
 */
import type { Vocabulary } from '../text/vocabulary.js';
import type { Kernels } from './kernels/types.js';
import { maskedCopy, maskRows, rnnCellBackward, rnnCellForward, rnnWeightsBackward } from './layers.js';
import type { NeuralConfig, TrainShape } from './model.js';
import { makeOutput, ownWordMatrix, type OutputLayer, type OutputOrder } from './output.js';
import type { Allocator, Tensor } from './params.js';
import type { Random } from '../util/random.js';
import { RecurrentModel, type SeqWorkspace } from './recurrent.js';

/** Positions scored per chunk when scoring sentences one at a time. */
const SCORE_CHUNK = 64;

interface RnnWorkspace extends SeqWorkspace {
  /** Embeddings of the inputs. (T·B, E) */
  X: Float32Array;
  /** Gradient of X. (T·B, E) */
  dX: Float32Array;
  /** States entering each step, zeroed where the input is <s>. (T·B, H) */
  Hin: Float32Array;
  /** Gradient of each step's pre-activation. (T·B, H) */
  dPre: Float32Array;
  /** Gradient flowing into the previous step's state. (B, H) */
  dNext: Float32Array;
  // Per-step views, made once: step t is rows [t·B, (t + 1)·B).
  Ht: Float32Array[];
  Hint: Float32Array[];
  dHt: Float32Array[];
  dPret: Float32Array[];
}

export class RnnModel extends RecurrentModel<RnnWorkspace> {
  readonly output: OutputLayer & { bind(): void };
  readonly stateSize: number;
  readonly topOffset = 0;
  protected readonly embeddingIsInputOnly = true;
  readonly topSize: number;
  private readonly H: number;
  private readonly Edim: number;
  private readonly E: () => Tensor; // (V, E), rows in output order, <s> last
  private readonly Wx: () => Tensor; // (E, H)
  private readonly U: () => Tensor; // (H, H)
  private readonly b: () => Tensor; // (H)

  constructor(k: Kernels, vocab: Vocabulary, config: NeuralConfig, order: OutputOrder, mem: Allocator, shape: TrainShape | null) {
    super(k, vocab, config, order);
    const H = config.hidden!;
    const E = config.embed ?? H;
    const V = config.vocabSize;
    this.H = H;
    this.Edim = E;
    this.stateSize = H;
    this.topSize = H;
    this.E = this.params.declare('embedding', [V, E]);
    this.Wx = this.params.declare('rnn.input', [E, H]);
    this.U = this.params.declare('rnn.recurrent', [H, H]);
    this.b = this.params.declare('rnn.bias', [H]);
    const W = ownWordMatrix(this.params, 'output.weight', V - 1, H);
    this.output = makeOutput(k, this.params, mem, W.matrix, order, H, RecurrentModel.outputRows(shape, SCORE_CHUNK));
    this.params.allocate(mem);
    this.output.bind();
    this.allocateWorkspaces(mem, shape, SCORE_CHUNK);
  }

  protected setOutputBias(logp: Float64Array): void {
    this.output.setBias(logp);
  }

  protected initializeWeights(rng: Random): void {
    // Uniform ±0.1 for the embedding and the output (PyTorch's example), ±1/√fan-in for the
    // input and recurrent matrices (PyTorch's nn.RNN), biases 0.
    for (const t of this.params.tensors()) {
      if (t.name.endsWith('bias')) t.value.fill(0);
      else if (t.name === 'rnn.recurrent' || t.name === 'rnn.input') {
        const s = 1 / Math.sqrt(t.shape[0]!);
        rng.fillUniform(t.value, -s, s);
      } else rng.fillUniform(t.value, -0.1, 0.1);
    }
  }

  protected makeWorkspace(mem: Allocator, T: number, B: number): RnnWorkspace {
    const H = this.H, E = this.Edim;
    const rows = T * B;
    const ws = {
      T,
      B,
      inputs: mem.allocInt32(rows),
      targets: mem.allocInt32(rows),
      reset: new Uint8Array(rows),
      losses: mem.alloc(rows),
      carried: mem.alloc(B * H),
      top: mem.alloc(rows * H),
      dtop: mem.alloc(rows * H),
      X: mem.alloc(rows * E),
      dX: mem.alloc(rows * E),
      Hin: mem.alloc(rows * H),
      dPre: mem.alloc(rows * H),
      dNext: mem.alloc(B * H),
      Ht: [] as Float32Array[],
      Hint: [] as Float32Array[],
      dHt: [] as Float32Array[],
      dPret: [] as Float32Array[],
    };
    const step = (a: Float32Array, t: number) => a.subarray(t * B * H, (t + 1) * B * H);
    for (let t = 0; t < T; t++) {
      ws.Ht.push(step(ws.top, t));
      ws.Hint.push(step(ws.Hin, t));
      ws.dHt.push(step(ws.dtop, t));
      ws.dPret.push(step(ws.dPre, t));
    }
    return ws;
  }

  protected recur(ws: RnnWorkspace, T: number, _train: boolean, _rng: Random | null): void {
    const { k, H, Edim: E } = this;
    const B = ws.B;
    const rows = T * B;
    const U = this.U().value;
    // The input half of every step at once: top(T·B, H) = E[inputs] · Wx + b.
    k.embeddingGather(rows, E, this.E().value, ws.inputs, ws.X);
    k.gemm(false, false, rows, H, E, 1, ws.X, this.Wx().value, 0, ws.top);
    k.addBias(rows, H, ws.top, this.b().value);
    for (let t = 0; t < T; t++) {
      maskedCopy(ws.Hint[t]!, t === 0 ? ws.carried : ws.Ht[t - 1]!, ws.reset, t * B, B, H);
      rnnCellForward(k, ws.Ht[t]!, ws.Hint[t]!, U, B, H);
    }
    ws.carried.set(ws.Ht[T - 1]!);
  }

  protected recurBackward(ws: RnnWorkspace, T: number): void {
    const { k, H, Edim: E } = this;
    const B = ws.B;
    const rows = T * B;
    const U = this.U(), b = this.b(), Wx = this.Wx();
    const dNext = ws.dNext;
    dNext.fill(0);
    for (let t = T - 1; t >= 0; t--) {
      k.axpy(B * H, 1, dNext, ws.dHt[t]!); // dh_t = from the output + from step t + 1
      dNext.fill(0);
      rnnCellBackward(k, dNext, ws.dPret[t]!, ws.dHt[t]!, ws.Ht[t]!, U.value, B, H);
      maskRows(dNext, ws.reset, t * B, B, H); // no gradient through a reset
    }
    // Weight gradients and the input half, all steps at once.
    rnnWeightsBackward(k, U.grad, b.grad, ws.dPre, ws.Hin, rows, H);
    k.gemm(true, false, E, H, rows, 1, ws.X, ws.dPre, 1, Wx.grad); // dWx += Xᵀ · dPre
    k.gemm(false, true, rows, E, H, 1, ws.dPre, Wx.value, 0, ws.dX); // dX = dPre · Wxᵀ
    k.embeddingScatterAdd(rows, E, this.E().grad, ws.inputs, ws.dX);
  }

  // `k` is the kernels, named short for the formulas above.
  private get k(): Kernels {
    return this.kernels;
  }
}
