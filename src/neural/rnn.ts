/**
 * The Elman recurrent model of Mikolov's RNNLM toolkit:
 *
 *   h_t = tanh(E[x_t] + h_{t−1} · U + b)       E (V, H): the input weights are the embedding
 *   p(· | history) = softmax output over h_t    full, or class-factorised (the toolkit's default)
 *
 * trained by truncated backpropagation through time over minibatches of parallel streams.
 */
import type { Vocabulary } from '../text/vocabulary.js';
import type { Kernels } from './kernels/types.js';
import { maskedCopy, maskRows, rnnCellBackward, rnnCellForward } from './layers.js';
import type { NeuralConfig, TrainShape } from './model.js';
import { makeOutput, ownWordMatrix, type OutputLayer, type OutputOrder } from './output.js';
import type { Allocator, Tensor } from './params.js';
import type { Random } from './random.js';
import { RecurrentModel, type SeqWorkspace } from './recurrent.js';

/** Positions scored per chunk when scoring sentences one at a time. */
const SCORE_CHUNK = 64;

interface RnnWorkspace extends SeqWorkspace {
  /** Embedding rows of the inputs. (T·B, H) */
  X: Float32Array;
  /** States entering each step, zeroed where the input is <s>. (T·B, H) */
  Hin: Float32Array;
  /** Gradient of each step's pre-activation. (T·B, H) */
  dPre: Float32Array;
  /** Gradient flowing into the previous step's state. (B, H) */
  dNext: Float32Array;
  // Per-step views, made once: step t is rows [t·B, (t + 1)·B).
  Xt: Float32Array[];
  Ht: Float32Array[];
  Hint: Float32Array[];
  dHt: Float32Array[];
  dPret: Float32Array[];
}

export class RnnModel extends RecurrentModel<RnnWorkspace> {
  readonly output: OutputLayer & { bind(): void };
  readonly stateSize: number;
  readonly topOffset = 0;
  readonly topSize: number;
  private readonly H: number;
  private readonly E: () => Tensor; // (V, H), rows in output order, <s> last
  private readonly U: () => Tensor; // (H, H)
  private readonly b: () => Tensor; // (H)

  constructor(k: Kernels, vocab: Vocabulary, config: NeuralConfig, order: OutputOrder, mem: Allocator, shape: TrainShape | null) {
    super(k, vocab, config, order);
    const H = config.hidden!;
    const V = config.vocabSize;
    this.H = H;
    this.stateSize = H;
    this.topSize = H;
    this.E = this.params.declare('embedding', [V, H]);
    this.U = this.params.declare('rnn.recurrent', [H, H]);
    this.b = this.params.declare('rnn.bias', [H]);
    const W = ownWordMatrix(this.params, 'output.weight', V - 1, H);
    this.output = makeOutput(k, this.params, mem, W.matrix, order, H, RecurrentModel.outputRows(shape, SCORE_CHUNK));
    this.params.allocate(mem);
    this.output.bind();
    this.allocateWorkspaces(mem, shape, SCORE_CHUNK);
  }

  initialize(rng: Random): void {
    // Uniform ±0.1 as in Mikolov's toolkit and PyTorch's example; ±1/√H for the recurrent matrix.
    for (const t of this.params.tensors()) {
      if (t.name.endsWith('bias')) t.value.fill(0);
      else if (t.name === 'rnn.recurrent') rng.fillUniform(t.value, -1 / Math.sqrt(this.H), 1 / Math.sqrt(this.H));
      else rng.fillUniform(t.value, -0.1, 0.1);
    }
  }

  protected makeWorkspace(mem: Allocator, T: number, B: number): RnnWorkspace {
    const H = this.H;
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
      X: mem.alloc(rows * H),
      Hin: mem.alloc(rows * H),
      dPre: mem.alloc(rows * H),
      dNext: mem.alloc(B * H),
      Xt: [] as Float32Array[],
      Ht: [] as Float32Array[],
      Hint: [] as Float32Array[],
      dHt: [] as Float32Array[],
      dPret: [] as Float32Array[],
    };
    const step = (a: Float32Array, t: number) => a.subarray(t * B * H, (t + 1) * B * H);
    for (let t = 0; t < T; t++) {
      ws.Xt.push(step(ws.X, t));
      ws.Ht.push(step(ws.top, t));
      ws.Hint.push(step(ws.Hin, t));
      ws.dHt.push(step(ws.dtop, t));
      ws.dPret.push(step(ws.dPre, t));
    }
    return ws;
  }

  protected recur(ws: RnnWorkspace, T: number, _train: boolean, _rng: Random | null): void {
    const { k, H } = this;
    const B = ws.B;
    const U = this.U().value, b = this.b().value;
    k.embeddingGather(T * B, H, this.E().value, ws.inputs, ws.X); // all steps' inputs at once
    for (let t = 0; t < T; t++) {
      maskedCopy(ws.Hint[t]!, t === 0 ? ws.carried : ws.Ht[t - 1]!, ws.reset, t * B, B, H);
      rnnCellForward(k, ws.Ht[t]!, ws.Xt[t]!, ws.Hint[t]!, U, b, B, H);
    }
    ws.carried.set(ws.Ht[T - 1]!);
  }

  protected recurBackward(ws: RnnWorkspace, T: number): void {
    const { k, H } = this;
    const B = ws.B;
    const U = this.U(), b = this.b();
    const dNext = ws.dNext;
    dNext.fill(0);
    for (let t = T - 1; t >= 0; t--) {
      k.axpy(B * H, 1, dNext, ws.dHt[t]!); // dh_t = from the output + from step t + 1
      dNext.fill(0);
      rnnCellBackward(k, dNext, U.grad, b.grad, ws.dPret[t]!, ws.dHt[t]!, ws.Ht[t]!, ws.Hint[t]!, U.value, B, H);
      maskRows(dNext, ws.reset, t * B, B, H); // no gradient through a reset
    }
    k.embeddingScatterAdd(T * B, H, this.E().grad, ws.inputs, ws.dPre); // the input contributions
  }

  // `k` is the kernels, named short for the formulas above.
  private get k(): Kernels {
    return this.kernels;
  }
}
