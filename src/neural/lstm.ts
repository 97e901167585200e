/**
 * LSTM language model (Zaremba, Sutskever & Vinyals 2014): an embedding, L LSTM layers, dropout
 * on the non-recurrent connections (embedding → layer 1 → … → output), and a softmax, optionally
 * with the output matrix tied to the embedding (Press & Wolf; Inan et al.).
 *
 * Computed layer by layer over the whole chunk: the input half of every gate, x · Wx + b, is one
 * gemm of T·B rows per layer, and only h · Wh runs step by step.
 */
import type { Vocabulary } from '../text/vocabulary.js';
import type { Kernels } from './kernels/types.js';
import { dropoutMask, gateRows, lstmCellBackward, lstmCellForward, maskedCopy, maskRows, type GateRows } from './layers.js';
import type { NeuralConfig, TrainShape } from './model.js';
import { makeOutput, ownWordMatrix, tiedWordMatrix, type OutputLayer, type OutputOrder } from './output.js';
import type { Allocator, Tensor } from './params.js';
import type { Random } from '../util/random.js';
import { RecurrentModel, type SeqWorkspace } from './recurrent.js';

const SCORE_CHUNK = 64;

interface LayerParams {
  Wx: () => Tensor; // (Din, 4H)
  Wh: () => Tensor; // (H, 4H)
  b: () => Tensor; // (4H)
}

interface LayerWorkspace {
  /** Gates: x·Wx + b, then the activations. (T·B, 4H) */
  A: Float32Array;
  /** Outputs h, cells c and tanh(c). (T·B, H) each */
  Hs: Float32Array;
  Cs: Float32Array;
  TCs: Float32Array;
  /** States entering each step (zeroed at <s>). (T·B, H) each */
  Hin: Float32Array;
  Cin: Float32Array;
  /** The output after dropout (Hs itself without dropout) and its mask. (T·B, H) */
  Y: Float32Array;
  mask: Float32Array;
  /** This layer's slice of the carried state: h and c. (B, H) each */
  carriedH: Float32Array;
  carriedC: Float32Array;
  // Per-step views (rows [t·B, (t + 1)·B)).
  At: Float32Array[];
  rows: GateRows[];
  Ht: Float32Array[];
  Ct: Float32Array[];
  TCt: Float32Array[];
  Hint: Float32Array[];
  Cint: Float32Array[];
}

interface LstmWorkspace extends SeqWorkspace {
  /** Embeddings of the inputs, and after dropout (the same buffer without dropout). (T·B, E) */
  X: Float32Array;
  Xd: Float32Array;
  mask0: Float32Array;
  layers: LayerWorkspace[];
  /** Gradients: of the gates (T·B, 4H); of a layer's h (T·B, H); of a layer's input (T·B, max(E, H)). */
  dA: Float32Array;
  dH: Float32Array;
  dIn: Float32Array;
  dNextH: Float32Array; // (B, H)
  dNextC: Float32Array; // (B, H)
  dAt: Float32Array[];
  dHt: Float32Array[];
}

export class LstmModel extends RecurrentModel<LstmWorkspace> {
  readonly output: OutputLayer & { bind(): void };
  readonly stateSize: number;
  readonly topOffset: number;
  readonly topSize: number;
  protected readonly embeddingIsInputOnly: boolean;
  private readonly H: number;
  private readonly Edim: number;
  private readonly L: number;
  private readonly p: number;
  private readonly E: () => Tensor; // (V, E), rows in output order, <s> last
  private readonly layerParams: LayerParams[] = [];

  constructor(k: Kernels, vocab: Vocabulary, config: NeuralConfig, order: OutputOrder, mem: Allocator, shape: TrainShape | null) {
    super(k, vocab, config, order);
    const H = config.hidden!, E = config.embed!, L = config.layers!;
    const V = config.vocabSize;
    this.H = H;
    this.Edim = E;
    this.L = L;
    this.p = config.dropout ?? 0;
    this.embeddingIsInputOnly = !config.tied;
    this.stateSize = 2 * L * H; // per layer: h then c
    this.topOffset = 2 * (L - 1) * H;
    this.topSize = H;
    this.E = this.params.declare('embedding', [V, E]);
    for (let l = 0; l < L; l++) {
      const Din = l === 0 ? E : H;
      this.layerParams.push({
        Wx: this.params.declare(`lstm.${l}.input`, [Din, 4 * H]),
        Wh: this.params.declare(`lstm.${l}.recurrent`, [H, 4 * H]),
        b: this.params.declare(`lstm.${l}.bias`, [4 * H]),
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
    // Uniform ±0.1 (Zaremba et al.'s small model), biases 0.
    for (const t of this.params.tensors()) {
      if (t.name.endsWith('bias')) t.value.fill(0);
      else rng.fillUniform(t.value, -0.1, 0.1);
    }
  }

  protected makeWorkspace(mem: Allocator, T: number, B: number): LstmWorkspace {
    const { H, Edim: E, L } = this;
    const rows = T * B;
    const dropout = this.p > 0 && B > 1; // the scoring workspace (B = 1) never drops
    const steps = (a: Float32Array, width: number): Float32Array[] => {
      const out: Float32Array[] = [];
      for (let t = 0; t < T; t++) out.push(a.subarray(t * B * width, (t + 1) * B * width));
      return out;
    };
    const carried = mem.alloc(2 * L * B * H);
    const layers: LayerWorkspace[] = [];
    for (let l = 0; l < L; l++) {
      const A = mem.alloc(rows * 4 * H);
      const Hs = mem.alloc(rows * H);
      const Cs = mem.alloc(rows * H);
      const TCs = mem.alloc(rows * H);
      const Hin = mem.alloc(rows * H);
      const Cin = mem.alloc(rows * H);
      const Y = dropout ? mem.alloc(rows * H) : Hs;
      const mask = dropout ? mem.alloc(rows * H) : new Float32Array(0);
      const At = steps(A, 4 * H);
      layers.push({
        A, Hs, Cs, TCs, Hin, Cin, Y, mask,
        carriedH: carried.subarray(2 * l * B * H, (2 * l + 1) * B * H),
        carriedC: carried.subarray((2 * l + 1) * B * H, (2 * l + 2) * B * H),
        At,
        rows: At.map((a) => gateRows(a, B, H)),
        Ht: steps(Hs, H),
        Ct: steps(Cs, H),
        TCt: steps(TCs, H),
        Hint: steps(Hin, H),
        Cint: steps(Cin, H),
      });
    }
    const X = mem.alloc(rows * E);
    const dA = mem.alloc(rows * 4 * H);
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
      mask0: dropout ? mem.alloc(rows * E) : new Float32Array(0),
      layers,
      dA,
      dH,
      dIn: mem.alloc(rows * Math.max(E, H)),
      dNextH: mem.alloc(B * H),
      dNextC: mem.alloc(B * H),
      dAt: steps(dA, 4 * H),
      dHt: steps(dH, H),
    };
  }

  protected recur(ws: LstmWorkspace, T: number, train: boolean, rng: Random | null): void {
    const { k, H, Edim: E, L } = this;
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
      // The input half of every gate, all steps at once: A(T·B, 4H) = input · Wx + b.
      k.gemm(false, false, rows, 4 * H, Din, 1, input, P.Wx().value, 0, lw.A);
      k.addBias(rows, 4 * H, lw.A, P.b().value);
      const Wh = P.Wh().value;
      for (let t = 0; t < T; t++) {
        maskedCopy(lw.Hint[t]!, t === 0 ? lw.carriedH : lw.Ht[t - 1]!, ws.reset, t * B, B, H);
        maskedCopy(lw.Cint[t]!, t === 0 ? lw.carriedC : lw.Ct[t - 1]!, ws.reset, t * B, B, H);
        lstmCellForward(k, lw.Ht[t]!, lw.Ct[t]!, lw.TCt[t]!, lw.At[t]!, lw.rows[t]!, lw.Hint[t]!, lw.Cint[t]!, Wh, B, H);
      }
      lw.carriedH.set(lw.Ht[T - 1]!);
      lw.carriedC.set(lw.Ct[T - 1]!);
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

  protected recurBackward(ws: LstmWorkspace, T: number): void {
    const { k, H, Edim: E, L } = this;
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
        k.axpy(B * H, 1, ws.dNextH, ws.dHt[t]!);
        ws.dNextH.fill(0);
        lstmCellBackward(k, ws.dNextH, ws.dAt[t]!, ws.dHt[t]!, ws.dNextC, lw.At[t]!, lw.TCt[t]!, lw.Cint[t]!, Wh.value, B, H);
        maskRows(ws.dNextH, ws.reset, t * B, B, H);
        maskRows(ws.dNextC, ws.reset, t * B, B, H);
      }
      // The weight gradients, all steps at once: dWh += Hinᵀ · dA, and the input half.
      k.gemm(true, false, H, 4 * H, rows, 1, lw.Hin, ws.dA, 1, Wh.grad);
      const input = l === 0 ? ws.Xd : ws.layers[l - 1]!.Y;
      k.gemm(true, false, Din, 4 * H, rows, 1, input, ws.dA, 1, P.Wx().grad); // dWx += inputᵀ · dA
      k.sumRows(rows, 4 * H, ws.dA, P.b().grad);
      k.gemm(false, true, rows, Din, 4 * H, 1, ws.dA, P.Wx().value, 0, ws.dIn); // dIn = dA · Wxᵀ
      dOut = ws.dIn;
    }
    // dIn is now the gradient of the (dropped-out) embeddings.
    if (dropout) k.mul(rows * E, ws.dIn, ws.mask0, ws.dIn);
    k.embeddingScatterAdd(rows, E, this.E().grad, ws.inputs, ws.dIn);
  }

  private get k(): Kernels {
    return this.kernels;
  }
}
