/**
 * The recurrent language models, PyTorch's word_language_model family in one class: an
 * embedding, L recurrent layers of one cell type, dropout on the non-recurrent connections
 * (embedding → layer 1 → … → output; Zaremba et al.), and a softmax (full or class-factorised),
 * optionally with the output matrix tied to the embedding (Press & Wolf; Inan et al.).
 *
 *   rnn   Elman / Mikolov: h = act(x · Wx + b + h_{t−1} · U), act tanh or ReLU (RNN_TANH, RNN_RELU)
 *   gru   Cho et al., as nn.GRU: [r | z | n] gates, the reset applied to h_{t−1} · Whn + bhn
 *   lstm  Hochreiter & Schmidhuber, Zaremba's layout: [i | f | o | g] gates, cell state c
 *
 * Computed layer by layer over the whole chunk: the input half of every gate, x · Wx + b, is one
 * gemm of T·B rows per layer, only h · Wh runs step by step, and the recurrent weight gradients
 * are one gemm per chunk again. The Elman RNN with one layer is Mikolov's RNNLM (the lecture's
 * h_t = tanh(W·onehot(w_t) + U·h_{t−1} + b) with W = (E·Wx)ᵀ: factorised, because a minibatch
 * updates only a few hundred rows of E but all of Wx, so the input side learns from every token;
 * without Wx a minibatch RNN reached validation perplexity 339 after one PTB epoch, with it 270).
 */
import type { Vocabulary } from '../text/vocabulary.js';
import type { Kernels } from './kernels/types.js';
import {
  dropoutMask, gateRows, gruCellBackward, gruCellForward, lstmCellBackward, lstmCellForward, maskedCopy, maskRows,
  rnnCellBackward, rnnCellForward, type Activation, type GateRows,
} from './layers.js';
import type { NeuralConfig, TrainShape } from './model.js';
import { makeOutput, ownWordMatrix, tiedWordMatrix, type OutputLayer, type OutputOrder } from './output.js';
import type { Allocator, Tensor } from './params.js';
import type { Random } from '../util/random.js';
import { RecurrentModel, type SeqWorkspace } from './recurrent.js';

const SCORE_CHUNK = 64;

/** The cell types, and the width of each one's gate buffer in units of H. */
export type CellKind = 'rnn' | 'gru' | 'lstm';
const GATES: Record<CellKind, number> = { rnn: 1, gru: 3, lstm: 4 };

interface LayerParams {
  Wx: () => Tensor; // (Din, G·H)
  Wh: () => Tensor; // (H, G·H)
  b: () => Tensor; // (G·H)
  /** GRU: the recurrent half's own bias (the n part sits inside r ⊙ ·, so it is not redundant). (3H) */
  bh: (() => Tensor) | null;
}

interface LayerWorkspace {
  /** Gates: x·Wx + b, then the activations; for the Elman cell, the outputs h themselves. (T·B, G·H) */
  A: Float32Array;
  /** GRU: the recurrent half hin·Wh + bh. (T·B, 3H) */
  Gr: Float32Array;
  /** Outputs h (the same buffer as A for the Elman cell). (T·B, H) */
  Hs: Float32Array;
  /** LSTM: cells c, tanh(c) and the cell entering each step. (T·B, H) each */
  Cs: Float32Array;
  TCs: Float32Array;
  Cin: Float32Array;
  /** The state h entering each step (zeroed at <s>). (T·B, H) */
  Hin: Float32Array;
  /** The output after dropout (Hs itself without dropout) and its mask. (T·B, H) */
  Y: Float32Array;
  mask: Float32Array;
  /** This layer's slice of the carried state: h, and c for the LSTM. (B, H) each */
  carriedH: Float32Array;
  carriedC: Float32Array;
  // Per-step views (rows [t·B, (t + 1)·B)).
  At: Float32Array[];
  rows: GateRows[];
  Grt: Float32Array[];
  Ht: Float32Array[];
  Ct: Float32Array[];
  TCt: Float32Array[];
  Hint: Float32Array[];
  Cint: Float32Array[];
}

interface StackWorkspace extends SeqWorkspace {
  /** Embeddings of the inputs, and after dropout (the same buffer without dropout). (T·B, E) */
  X: Float32Array;
  Xd: Float32Array;
  mask0: Float32Array;
  layers: LayerWorkspace[];
  /** Gradients: of the gates (T·B, G·H) and, GRU, the recurrent half (T·B, 3H); of a layer's h (T·B, H); of a layer's input (T·B, max(E, H)). */
  dA: Float32Array;
  dG: Float32Array;
  dH: Float32Array;
  dIn: Float32Array;
  dNextH: Float32Array; // (B, H)
  dNextC: Float32Array; // (B, H)
  dAt: Float32Array[];
  dGt: Float32Array[];
  dHt: Float32Array[];
}

/** The Elman RNN, the GRU and the LSTM language models (`config.kind` picks the cell). */
export class StackedRecurrentModel extends RecurrentModel<StackWorkspace> {
  readonly output: OutputLayer & { bind(): void };
  readonly stateSize: number;
  readonly topOffset: number;
  readonly topSize: number;
  protected readonly embeddingIsInputOnly: boolean;
  readonly cell: CellKind;
  private readonly activation: Activation;
  private readonly H: number;
  private readonly Edim: number;
  private readonly L: number;
  /** Gate width G·H. */
  private readonly GH: number;
  /** Floats of carried state per layer and stream: h, and c for the LSTM. */
  private readonly perLayer: number;
  private readonly p: number;
  private readonly E: () => Tensor; // (V, E), rows in output order, <s> last
  private readonly layerParams: LayerParams[] = [];

  constructor(k: Kernels, vocab: Vocabulary, config: NeuralConfig, order: OutputOrder, mem: Allocator, shape: TrainShape | null) {
    super(k, vocab, config, order);
    const cell = config.kind as CellKind;
    const H = config.hidden!, E = config.embed ?? H, L = config.layers ?? 1;
    const V = config.vocabSize;
    this.cell = cell;
    this.activation = config.activation === 'relu' ? 'relu' : 'tanh';
    this.H = H;
    this.Edim = E;
    this.L = L;
    this.GH = GATES[cell] * H;
    this.p = config.dropout ?? 0;
    this.embeddingIsInputOnly = !config.tied;
    this.perLayer = cell === 'lstm' ? 2 : 1;
    this.stateSize = this.perLayer * L * H; // per layer: h (then c)
    this.topOffset = this.perLayer * (L - 1) * H;
    this.topSize = H;
    this.E = this.params.declare('embedding', [V, E]);
    for (let l = 0; l < L; l++) {
      const Din = l === 0 ? E : H;
      this.layerParams.push({
        Wx: this.params.declare(`${cell}.${l}.input`, [Din, this.GH]),
        Wh: this.params.declare(`${cell}.${l}.recurrent`, [H, this.GH]),
        b: this.params.declare(`${cell}.${l}.bias`, [this.GH]),
        bh: cell === 'gru' ? this.params.declare(`${cell}.${l}.recurrent_bias`, [this.GH]) : null,
      });
    }
    if (config.tied && E !== H) throw new Error(`tied embeddings need embed = hidden (got ${E} and ${H})`);
    const W = config.tied ? tiedWordMatrix(this.E, V - 1, H) : ownWordMatrix(this.params, 'output.weight', V - 1, H).matrix;
    this.output = makeOutput(k, this.params, mem, W, order, H, RecurrentModel.outputRows(shape, SCORE_CHUNK));
    this.params.allocate(mem);
    this.output.bind();
    this.allocateWorkspaces(mem, shape, SCORE_CHUNK);
  }

  protected setOutputBias(logp: Float64Array): void {
    this.output.setBias(logp);
  }

  protected initializeWeights(rng: Random): void {
    // Biases 0; the embedding and the output uniform ±0.1 (PyTorch's example). The cells: the
    // LSTM ±0.1 everywhere (Zaremba et al.'s small model); the Elman RNN and the GRU
    // ±1/√fan-in, as PyTorch's nn.RNN and nn.GRU.
    for (const t of this.params.tensors()) {
      if (t.name.endsWith('bias')) t.value.fill(0);
      else if (this.cell !== 'lstm' && (t.name.endsWith('.input') || t.name.endsWith('.recurrent'))) {
        const s = 1 / Math.sqrt(t.shape[0]!);
        rng.fillUniform(t.value, -s, s);
      } else rng.fillUniform(t.value, -0.1, 0.1);
    }
  }

  protected makeWorkspace(mem: Allocator, T: number, B: number, training: boolean): StackWorkspace {
    const { H, Edim: E, L, GH, cell } = this;
    const rows = T * B;
    const dropout = this.p > 0 && training; // the scoring workspace never drops
    const lstm = cell === 'lstm', gru = cell === 'gru';
    const none = new Float32Array(0);
    const steps = (a: Float32Array, width: number): Float32Array[] => {
      const out: Float32Array[] = [];
      if (a.length === 0) return out;
      for (let t = 0; t < T; t++) out.push(a.subarray(t * B * width, (t + 1) * B * width));
      return out;
    };
    const carried = mem.alloc(this.perLayer * L * B * H);
    const layers: LayerWorkspace[] = [];
    for (let l = 0; l < L; l++) {
      const A = mem.alloc(rows * GH);
      const Hs = cell === 'rnn' ? A : mem.alloc(rows * H);
      const Gr = gru ? mem.alloc(rows * GH) : none;
      const Cs = lstm ? mem.alloc(rows * H) : none;
      const TCs = lstm ? mem.alloc(rows * H) : none;
      const Cin = lstm ? mem.alloc(rows * H) : none;
      const Hin = mem.alloc(rows * H);
      const Y = dropout ? mem.alloc(rows * H) : Hs;
      const mask = dropout ? mem.alloc(rows * H) : none;
      const At = steps(A, GH);
      const o = this.perLayer * l * B * H;
      layers.push({
        A, Gr, Hs, Cs, TCs, Cin, Hin, Y, mask,
        carriedH: carried.subarray(o, o + B * H),
        carriedC: lstm ? carried.subarray(o + B * H, o + 2 * B * H) : none,
        At,
        rows: cell === 'rnn' ? [] : At.map((a) => gateRows(a, B, H, GATES[cell])),
        Grt: steps(Gr, GH),
        Ht: steps(Hs, H),
        Ct: steps(Cs, H),
        TCt: steps(TCs, H),
        Hint: steps(Hin, H),
        Cint: steps(Cin, H),
      });
    }
    const X = mem.alloc(rows * E);
    const dA = mem.alloc(rows * GH);
    const dG = gru ? mem.alloc(rows * GH) : none;
    const dH = mem.alloc(rows * H);
    return {
      T,
      B,
      inputs: mem.allocInt32(rows),
      targets: mem.allocInt32(rows),
      reset: new Uint8Array(rows),
      losses: mem.alloc(rows),
      carried,
      top: layers[L - 1]!.Y,
      dtop: mem.alloc(rows * H),
      X,
      Xd: dropout ? mem.alloc(rows * E) : X,
      mask0: dropout ? mem.alloc(rows * E) : none,
      layers,
      dA,
      dG,
      dH,
      dIn: mem.alloc(rows * Math.max(E, H)),
      dNextH: mem.alloc(B * H),
      dNextC: lstm ? mem.alloc(B * H) : none,
      dAt: steps(dA, GH),
      dGt: steps(dG, GH),
      dHt: steps(dH, H),
    };
  }

  protected recur(ws: StackWorkspace, T: number, train: boolean, rng: Random | null): void {
    const { k, H, Edim: E, L, GH, cell } = this;
    const B = ws.B;
    const rows = T * B;
    const drop = train && this.p > 0 && ws.Xd !== ws.X;
    k.embeddingGather(rows, E, this.E().value, ws.inputs, ws.X);
    if (drop) {
      dropoutMask(rng!, ws.mask0, rows * E, this.p);
      k.mul(rows * E, ws.X, ws.mask0, ws.Xd);
    } else if (ws.Xd !== ws.X) {
      ws.Xd.set(ws.X.subarray(0, rows * E)); // evaluation in a dropout workspace: identity
    }
    let input = ws.Xd;
    let Din = E;
    for (let l = 0; l < L; l++) {
      const P = this.layerParams[l]!, lw = ws.layers[l]!;
      // The input half of every gate, all steps at once: A(T·B, G·H) = input · Wx + b.
      k.gemm(false, false, rows, GH, Din, 1, input, P.Wx().value, 0, lw.A);
      k.addBias(rows, GH, lw.A, P.b().value);
      const Wh = P.Wh().value;
      for (let t = 0; t < T; t++) {
        maskedCopy(lw.Hint[t]!, t === 0 ? lw.carriedH : lw.Ht[t - 1]!, ws.reset, t * B, B, H);
        switch (cell) {
          case 'rnn':
            rnnCellForward(k, lw.Ht[t]!, lw.Hint[t]!, Wh, B, H, this.activation);
            break;
          case 'gru':
            gruCellForward(k, lw.Ht[t]!, lw.At[t]!, lw.rows[t]!, lw.Grt[t]!, lw.Hint[t]!, Wh, P.bh!().value, B, H);
            break;
          case 'lstm':
            maskedCopy(lw.Cint[t]!, t === 0 ? lw.carriedC : lw.Ct[t - 1]!, ws.reset, t * B, B, H);
            lstmCellForward(k, lw.Ht[t]!, lw.Ct[t]!, lw.TCt[t]!, lw.At[t]!, lw.rows[t]!, lw.Hint[t]!, lw.Cint[t]!, Wh, B, H);
            break;
        }
      }
      lw.carriedH.set(lw.Ht[T - 1]!);
      if (cell === 'lstm') lw.carriedC.set(lw.Ct[T - 1]!);
      if (lw.Y !== lw.Hs) {
        if (drop) {
          dropoutMask(rng!, lw.mask, rows * H, this.p);
          k.mul(rows * H, lw.Hs, lw.mask, lw.Y);
        } else {
          lw.Y.set(lw.Hs.subarray(0, rows * H));
        }
      }
      input = lw.Y;
      Din = H;
    }
  }

  protected recurBackward(ws: StackWorkspace, T: number): void {
    const { k, H, Edim: E, L, GH, cell } = this;
    const B = ws.B;
    const rows = T * B;
    const dropout = ws.Xd !== ws.X;
    // Gradient arriving at the top layer's output, through its dropout mask.
    let dOut = ws.dtop;
    for (let l = L - 1; l >= 0; l--) {
      const P = this.layerParams[l]!, lw = ws.layers[l]!;
      const Din = l === 0 ? E : H;
      // dH(T·B, H) = gradient reaching this layer's h from above.
      if (dropout) k.mul(rows * H, dOut, lw.mask, ws.dH);
      else ws.dH.set(dOut.subarray(0, rows * H));
      const Wh = P.Wh();
      ws.dNextH.fill(0);
      ws.dNextC.fill(0);
      for (let t = T - 1; t >= 0; t--) {
        k.axpy(B * H, 1, ws.dNextH, ws.dHt[t]!); // dh_t = from above + from step t + 1
        ws.dNextH.fill(0);
        switch (cell) {
          case 'rnn':
            rnnCellBackward(k, ws.dNextH, ws.dAt[t]!, ws.dHt[t]!, lw.Ht[t]!, Wh.value, B, H, this.activation);
            break;
          case 'gru':
            gruCellBackward(k, ws.dNextH, ws.dAt[t]!, ws.dGt[t]!, ws.dHt[t]!, lw.At[t]!, lw.Grt[t]!, lw.Hint[t]!, Wh.value, B, H);
            break;
          case 'lstm':
            lstmCellBackward(k, ws.dNextH, ws.dAt[t]!, ws.dHt[t]!, ws.dNextC, lw.At[t]!, lw.TCt[t]!, lw.Cint[t]!, Wh.value, B, H);
            maskRows(ws.dNextC, ws.reset, t * B, B, H);
            break;
        }
        maskRows(ws.dNextH, ws.reset, t * B, B, H); // no gradient through a reset
      }
      // The weight gradients, all steps at once: dWh += Hinᵀ · dA (GRU: · dG), and the input half.
      const dRec = cell === 'gru' ? ws.dG : ws.dA;
      k.gemm(true, false, H, GH, rows, 1, lw.Hin, dRec, 1, Wh.grad);
      if (P.bh) k.sumRows(rows, GH, ws.dG, P.bh().grad);
      const input = l === 0 ? ws.Xd : ws.layers[l - 1]!.Y;
      k.gemm(true, false, Din, GH, rows, 1, input, ws.dA, 1, P.Wx().grad); // dWx += inputᵀ · dA
      k.sumRows(rows, GH, ws.dA, P.b().grad);
      k.gemm(false, true, rows, Din, GH, 1, ws.dA, P.Wx().value, 0, ws.dIn); // dIn = dA · Wxᵀ
      dOut = ws.dIn;
    }
    // dIn is now the gradient of the (dropped-out) embeddings.
    if (dropout) k.mul(rows * E, ws.dIn, ws.mask0, ws.dIn);
    k.embeddingScatterAdd(rows, E, this.E().grad, ws.inputs, ws.dIn);
  }

  // `k` is the kernels, named short for the formulas above.
  private get k(): Kernels {
    return this.kernels;
  }
}
