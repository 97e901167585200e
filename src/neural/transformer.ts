/**
 * The Transformer decoder language model (Vaswani et al. 2017), as PyTorch's word_language_model
 * builds it (nn.TransformerEncoder under a causal mask), with a choice of the details:
 *
 *   x = E[w]·√D + pos(p)                      sinusoidal (PyTorch's example) or learned positions
 *   each of L layers, post-norm (PyTorch's default, norm_first=False):
 *     a = x + drop(MHA(x));  y = LN1(a);  out = LN2(y + drop(FF(y)))
 *   or pre-norm (GPT-2; more stable when deep):
 *     a = x + drop(MHA(LN1(x)));  out = a + drop(FF(LN2(a)));  and a final LN after the last layer
 *   MHA: causal multi-head self-attention, dropout on the attention probabilities
 *   FF(y) = drop(act(y·W1 + b1))·W2 + b2, act ReLU (PyTorch's default) or GELU
 *   p(· | history) = softmax over the top output (full or class-factorised; tied to E optionally)
 *
 * Training runs on fixed windows of T = `window` steps of B parallel streams, each window on its
 * own, as PyTorch's example does. A step t sees the steps of its window back to the start of its
 * line (sentence context) or of the window (stream context); positions count from the first step
 * it sees.
 *
 * As a LanguageModel the state is the key/value cache of the window so far (every layer's K and V
 * of the steps seen, their inputs, and the top output of the last step), so the next word costs
 * one step of attention over the cache, and a sentence of n words O(n) such steps. Past the
 * window (more than `window` inputs in one line, or in a stream), the context slides by half a
 * window: when the window is full, its last ⌊W/2⌋ inputs are encoded again as a fresh window
 * (positions from 0) and scoring continues from there. Every word is thus predicted from at least
 * ⌊W/2⌋ and at most W − 1 previous inputs (the "sliding window with a stride" of Hugging Face's
 * perplexity guide, stride ⌈W/2⌉), at an amortised cost of one more window pass per ⌈W/2⌉ words.
 */
import { scoreTokens, type Scored } from '../lm.js';
import { BOS, type Vocabulary } from '../text/vocabulary.js';
import type { Kernels } from './kernels/types.js';
import {
  attentionProbs, attentionProbsBackward, attentionValues, attentionValuesBackward, dropoutMask, geluBackward, geluForward,
  layerNormBackward, layerNormForward, linearBackward, linearForward,
} from './layers.js';
import { NeuralModel, type LossSum, type NeuralConfig, type TrainShape } from './model.js';
import { makeOutput, ownWordMatrix, tiedWordMatrix, type OutputLayer, type OutputOrder } from './output.js';
import type { Allocator, Tensor } from './params.js';
import type { Random } from '../util/random.js';
import { StreamModel, type SeqWorkspace } from './recurrent.js';

/** A Transformer's LanguageModel state: the window so far. */
export interface TransformerState {
  /** The inputs of the window, as embedding rows. (n) */
  readonly inputs: Int32Array;
  /** Every layer's keys and values of those inputs. (L, 2, n, D) */
  readonly kv: Float32Array;
  /** The top output at the last input: it predicts the next word. (D) */
  readonly top: Float32Array;
}

interface LayerParams {
  Wq: () => Tensor; // (D, D)
  bq: () => Tensor; // (D)
  Wk: () => Tensor; // (D, D)
  bk: () => Tensor; // (D)
  Wv: () => Tensor; // (D, D)
  bv: () => Tensor; // (D)
  Wo: () => Tensor; // (D, D)
  bo: () => Tensor; // (D)
  g1: () => Tensor; // (D) first LayerNorm's weight and bias
  n1: () => Tensor; // (D)
  W1: () => Tensor; // (D, F)
  b1: () => Tensor; // (F)
  W2: () => Tensor; // (F, D)
  b2: () => Tensor; // (D)
  g2: () => Tensor; // (D) second LayerNorm's weight and bias
  n2: () => Tensor; // (D)
}

/** One layer's activations over R = T·B rows (time-major). Dropout outputs alias their inputs when there is no dropout. */
interface LayerWorkspace {
  /** The attention's input: the layer input itself (post-norm) or LN1 of it (pre-norm). (R, D) */
  Xa: Float32Array;
  Q: Float32Array; // (R, D)
  K: Float32Array; // (R, D)
  V: Float32Array; // (R, D)
  /** Attention probabilities, after dropout, its mask. (B·heads, T, T) */
  P: Float32Array;
  Pd: Float32Array;
  maskP: Float32Array;
  /** Heads concatenated, the output projection, after dropout, its mask. (R, D) */
  O: Float32Array;
  Ao: Float32Array;
  Ad: Float32Array;
  maskA: Float32Array;
  /** The first residual sum, x + attention. (R, D) */
  S1: Float32Array;
  /** The feed-forward input: LN1(S1) (post-norm) or LN2(S1) (pre-norm). (R, D) */
  Xf: Float32Array;
  /** Feed-forward: pre-activation, activation, after dropout, its mask. (R, F) */
  F1: Float32Array;
  Fa: Float32Array;
  Fd: Float32Array;
  maskF: Float32Array;
  /** The second linear map, after dropout, its mask. (R, D) */
  F2: Float32Array;
  F2d: Float32Array;
  maskF2: Float32Array;
  /** The second residual sum; the layer output is LN2 of it (post-norm) or it (pre-norm). (R, D) */
  S2: Float32Array;
  out: Float32Array;
  /** Means and 1/σ of the two LayerNorms' rows. (R) */
  mean1: Float32Array;
  rstd1: Float32Array;
  mean2: Float32Array;
  rstd2: Float32Array;
}

interface TransformerWorkspace extends SeqWorkspace {
  /** First step each row sees (its line's start in the window, or the window's), and its position. (R) */
  lo: Int32Array;
  pos: Int32Array;
  /** Embeddings plus positions; after dropout; its mask; the positions gathered. (R, D) */
  X0: Float32Array;
  Xd: Float32Array;
  mask0: Float32Array;
  Pe: Float32Array;
  layers: LayerWorkspace[];
  /** Pre-norm's final LayerNorm statistics. (R) */
  meanF: Float32Array;
  rstdF: Float32Array;
  // Gradients (training only): at a layer's output and input (swapped per layer), and scratch.
  gOut: Float32Array; // (R, D)
  gIn: Float32Array; // (R, D)
  dS: Float32Array; // (R, D)
  dXf: Float32Array; // (R, D)
  dXa: Float32Array; // (R, D)
  dTmp: Float32Array; // (R, D)
  dO: Float32Array; // (R, D)
  dQ: Float32Array; // (R, D)
  dK: Float32Array; // (R, D)
  dV: Float32Array; // (R, D)
  dFd: Float32Array; // (R, F)
  dFa: Float32Array; // (R, F)
  dF1: Float32Array; // (R, F)
  dP: Float32Array; // (B·heads, T, T)
}

/** r0 rows into a (·, width) buffer: the buffer itself at 0, so that training makes no views. */
function rows(x: Float32Array, r0: number, width: number): Float32Array {
  return r0 === 0 ? x : x.subarray(r0 * width);
}

const NONE = new Float32Array(0);

/** out = inp ⊙ mask (dropout), or a copy without a mask; a workspace without dropout aliases out to inp. Returns out. */
function dropout(k: Kernels, out: Float32Array, inp: Float32Array, mask: Float32Array, n: number): Float32Array {
  if (out === inp) return inp;
  if (mask.length === 0) out.set(inp.subarray(0, n));
  else k.mul(n, inp, mask, out);
  return out;
}

/** The gradient through a dropout: d ⊙ mask into out, or d itself without a mask. */
function dropoutGrad(k: Kernels, out: Float32Array, d: Float32Array, mask: Float32Array, n: number): Float32Array {
  if (mask.length === 0) return d;
  k.mul(n, d, mask, out);
  return out;
}

export class TransformerModel extends StreamModel<TransformerWorkspace, TransformerState> {
  readonly output: OutputLayer & { bind(): void };
  readonly topSize: number;
  protected readonly embeddingIsInputOnly: boolean;
  /** Model width D, feed-forward width F, layers L, heads, window W, inputs re-encoded when it slides. */
  private readonly D: number;
  private readonly F: number;
  private readonly L: number;
  private readonly heads: number;
  private readonly W: number;
  private readonly keep: number;
  private readonly p: number;
  private readonly preNorm: boolean;
  private readonly gelu: boolean;
  private readonly E: () => Tensor; // (V, D), rows in output order, <s> last
  private readonly positions: (() => Tensor) | null; // (W, D), learned positions
  private readonly sinusoids: Float32Array; // (W, D), sinusoidal positions (not trained)
  private readonly gF: (() => Tensor) | null; // (D) pre-norm's final LayerNorm
  private readonly nF: (() => Tensor) | null; // (D)
  private readonly layerParams: LayerParams[] = [];
  /** The top output saved across a window slide, and the one distribution() reads. (D) */
  private readonly slideTop: Float32Array;
  private readonly stateX: Float32Array;

  constructor(k: Kernels, vocab: Vocabulary, config: NeuralConfig, order: OutputOrder, mem: Allocator, shape: TrainShape | null) {
    super(k, vocab, config, order);
    const D = config.embed!, F = config.hidden!, L = config.layers!, W = config.window!;
    const V = config.vocabSize;
    this.D = D;
    this.F = F;
    this.L = L;
    this.heads = config.heads!;
    this.W = W;
    this.keep = W >> 1;
    this.p = config.dropout ?? 0;
    this.preNorm = config.norm === 'pre';
    this.gelu = config.activation === 'gelu';
    this.topSize = D;
    this.embeddingIsInputOnly = !config.tied;
    if (shape && shape.bptt !== W) throw new Error(`the training window ${shape.bptt} must be the model's window ${W}`);
    this.E = this.params.declare('embedding', [V, D]);
    this.positions = config.positions === 'learned' ? this.params.declare('transformer.positions', [W, D]) : null;
    for (let l = 0; l < L; l++) {
      const n = (s: string, dims: number[]) => this.params.declare(`transformer.${l}.${s}`, dims);
      this.layerParams.push({
        Wq: n('attention.query.weight', [D, D]),
        bq: n('attention.query.bias', [D]),
        Wk: n('attention.key.weight', [D, D]),
        bk: n('attention.key.bias', [D]),
        Wv: n('attention.value.weight', [D, D]),
        bv: n('attention.value.bias', [D]),
        Wo: n('attention.output.weight', [D, D]),
        bo: n('attention.output.bias', [D]),
        g1: n('norm1.weight', [D]),
        n1: n('norm1.bias', [D]),
        W1: n('feedforward.1.weight', [D, F]),
        b1: n('feedforward.1.bias', [F]),
        W2: n('feedforward.2.weight', [F, D]),
        b2: n('feedforward.2.bias', [D]),
        g2: n('norm2.weight', [D]),
        n2: n('norm2.bias', [D]),
      });
    }
    this.gF = this.preNorm ? this.params.declare('transformer.norm.weight', [D]) : null;
    this.nF = this.preNorm ? this.params.declare('transformer.norm.bias', [D]) : null;
    const Wout = config.tied ? tiedWordMatrix(this.E, V - 1, D) : ownWordMatrix(this.params, 'output.weight', V - 1, D).matrix;
    this.output = makeOutput(k, this.params, mem, Wout, order, D, StreamModel.outputRows(shape, W));
    this.params.allocate(mem);
    this.output.bind();
    this.sinusoids = this.positions ? new Float32Array(0) : mem.alloc(W * D);
    // PyTorch's PositionalEncoding: sin at even columns, cos at odd ones, wavelengths up to 10000·2π.
    for (let p = 0; p < W && this.sinusoids.length > 0; p++) {
      for (let i = 0; i < D; i += 2) {
        const angle = p * Math.exp((-i * Math.log(10000)) / D);
        this.sinusoids[p * D + i] = Math.sin(angle);
        if (i + 1 < D) this.sinusoids[p * D + i + 1] = Math.cos(angle);
      }
    }
    this.slideTop = mem.alloc(D);
    this.stateX = mem.alloc(D);
    this.allocateWorkspaces(mem, shape, W);
    const sw = this.scoreWs;
    for (let r = 0; r < W; r++) sw.pos[r] = r; // scoring: one stream, every step sees the window from its start
  }

  protected setOutputBias(logp: Float64Array): void {
    this.output.setBias(logp);
  }

  protected initializeWeights(rng: Random): void {
    // PyTorch's: the embedding, the output and learned positions ±0.1 (the example's init_weights);
    // queries, keys, values Xavier-uniform as one (3D, D) matrix; the attention output and the
    // feed-forward maps ±1/√fan-in (nn.Linear), their biases too, except the attention's (0);
    // LayerNorm weights 1, biases 0.
    for (const t of this.params.tensors()) {
      const name = t.name;
      const fanIn = t.shape[0]!;
      if (/\.(query|key|value)\.weight$/.test(name)) {
        const s = Math.sqrt(6 / (4 * this.D));
        rng.fillUniform(t.value, -s, s);
      } else if (/norm\d?\.weight$/.test(name)) t.value.fill(1);
      else if (/feedforward\.\d\.weight$/.test(name) || name.endsWith('attention.output.weight')) {
        rng.fillUniform(t.value, -1 / Math.sqrt(fanIn), 1 / Math.sqrt(fanIn));
      } else if (/feedforward\.(\d)\.bias$/.test(name)) {
        const s = 1 / Math.sqrt(name.includes('feedforward.1') ? this.D : this.F);
        rng.fillUniform(t.value, -s, s);
      } else if (name.endsWith('bias')) t.value.fill(0);
      else rng.fillUniform(t.value, -0.1, 0.1);
    }
  }

  protected makeWorkspace(mem: Allocator, T: number, B: number, training: boolean): TransformerWorkspace {
    const { D, F, L, heads } = this;
    const R = T * B;
    const drop = training && this.p > 0;
    const maybe = (n: number) => (drop ? mem.alloc(n) : NONE);
    const grad = (n: number) => (training ? mem.alloc(n) : NONE);
    const layers: LayerWorkspace[] = [];
    let input: Float32Array | null = null; // post-norm: a layer's attention input is the previous output
    const X0 = mem.alloc(R * D);
    const Xd = drop ? mem.alloc(R * D) : X0;
    input = Xd;
    for (let l = 0; l < L; l++) {
      const Xa = this.preNorm ? mem.alloc(R * D) : input!;
      const P = mem.alloc(B * heads * T * T);
      const Ao = mem.alloc(R * D);
      const Fa = mem.alloc(R * F);
      const F2 = mem.alloc(R * D);
      const S2 = mem.alloc(R * D);
      const lw: LayerWorkspace = {
        Xa,
        Q: mem.alloc(R * D),
        K: mem.alloc(R * D),
        V: mem.alloc(R * D),
        P,
        Pd: drop ? mem.alloc(B * heads * T * T) : P,
        maskP: maybe(B * heads * T * T),
        O: mem.alloc(R * D),
        Ao,
        Ad: drop ? mem.alloc(R * D) : Ao,
        maskA: maybe(R * D),
        S1: mem.alloc(R * D),
        Xf: mem.alloc(R * D),
        F1: mem.alloc(R * F),
        Fa,
        Fd: drop ? mem.alloc(R * F) : Fa,
        maskF: maybe(R * F),
        F2,
        F2d: drop ? mem.alloc(R * D) : F2,
        maskF2: maybe(R * D),
        S2,
        out: this.preNorm ? S2 : mem.alloc(R * D),
        mean1: mem.alloc(R),
        rstd1: mem.alloc(R),
        mean2: mem.alloc(R),
        rstd2: mem.alloc(R),
      };
      layers.push(lw);
      input = lw.out;
    }
    const last = layers[L - 1]!.out;
    return {
      T,
      B,
      inputs: mem.allocInt32(R),
      targets: mem.allocInt32(R),
      reset: new Uint8Array(R),
      losses: mem.alloc(R),
      carried: NONE, // windows are independent: nothing is carried from one to the next
      top: this.preNorm ? mem.alloc(R * D) : last,
      dtop: grad(R * D),
      lo: new Int32Array(R),
      pos: mem.allocInt32(R),
      X0,
      Xd,
      mask0: maybe(R * D),
      Pe: mem.alloc(R * D),
      layers,
      meanF: mem.alloc(R),
      rstdF: mem.alloc(R),
      gOut: grad(R * D),
      gIn: grad(R * D),
      dS: grad(R * D),
      dXf: grad(R * D),
      dXa: grad(R * D),
      dTmp: grad(R * D),
      dO: grad(R * D),
      dQ: grad(R * D),
      dK: grad(R * D),
      dV: grad(R * D),
      dFd: grad(R * F),
      dFa: grad(R * F),
      dF1: grad(R * F),
      dP: grad(B * heads * T * T),
    };
  }

  // ---- forward and backward over a window -----------------------------------------------------

  /** Training (and batched evaluation): the window of T steps of every stream, rows [0, T·B). */
  protected recur(ws: TransformerWorkspace, T: number, train: boolean, rng: Random | null): void {
    // What each row sees: back to the last <s> of its stream in this window, or the window start.
    const B = ws.B;
    for (let b = 0; b < B; b++) {
      let l = 0;
      for (let t = 0; t < T; t++) {
        const r = t * B + b;
        if (ws.reset[r]) l = t;
        ws.lo[r] = l;
        ws.pos[r] = t - l;
      }
    }
    this.forward(ws, 0, T, T, train ? rng : null);
  }

  /**
   * The model over the steps [from, to) of a window of T steps (every stream): rows before `from`
   * must hold their keys and values already. `rng`: training, with dropout.
   */
  private forward(ws: TransformerWorkspace, from: number, to: number, T: number, rng: Random | null): void {
    const { k, D, F, L, heads, p } = this;
    const B = ws.B;
    const r0 = from * B, n = (to - from) * B; // rows
    const drop = rng !== null && p > 0 && ws.mask0.length > 0;
    const mask = (m: Float32Array, count: number): Float32Array => {
      if (!drop) return NONE;
      dropoutMask(rng!, m, count, p);
      return m;
    };
    // x = E[w]·√D + pos(p), then dropout.
    const X0 = rows(ws.X0, r0, D);
    k.embeddingGather(n, D, this.E().value, rows32(ws.inputs, r0), X0);
    k.scale(n * D, Math.sqrt(D), X0);
    k.embeddingGather(n, D, this.positions ? this.positions().value : this.sinusoids, rows32(ws.pos, r0), ws.Pe);
    k.axpy(n * D, 1, ws.Pe, X0);
    let x = dropout(k, rows(ws.Xd, r0, D), X0, mask(ws.mask0, n * D), n * D);
    for (let l = 0; l < L; l++) {
      const P = this.layerParams[l]!, lw = ws.layers[l]!;
      // Attention sublayer.
      const Xa = this.preNorm ? rows(lw.Xa, r0, D) : x;
      if (this.preNorm) layerNormForward(Xa, rows(lw.mean1, r0, 1), rows(lw.rstd1, r0, 1), x, P.g1().value, P.n1().value, n, D);
      linearForward(k, rows(lw.Q, r0, D), Xa, P.Wq().value, P.bq().value, n, D, D);
      linearForward(k, rows(lw.K, r0, D), Xa, P.Wk().value, P.bk().value, n, D, D);
      linearForward(k, rows(lw.V, r0, D), Xa, P.Wv().value, P.bv().value, n, D, D);
      attentionProbs(k, lw.P, lw.Q, lw.K, ws.lo, B, T, D, heads, from, to);
      const Pd = dropout(k, lw.Pd, lw.P, mask(lw.maskP, B * heads * T * T), B * heads * T * T);
      attentionValues(k, lw.O, Pd, lw.V, B, T, D, heads, from, to);
      linearForward(k, rows(lw.Ao, r0, D), rows(lw.O, r0, D), P.Wo().value, P.bo().value, n, D, D);
      const Ad = dropout(k, rows(lw.Ad, r0, D), rows(lw.Ao, r0, D), mask(lw.maskA, n * D), n * D);
      const S1 = rows(lw.S1, r0, D);
      S1.set(x.subarray(0, n * D));
      k.axpy(n * D, 1, Ad, S1);
      // Feed-forward sublayer.
      const Xf = rows(lw.Xf, r0, D);
      if (this.preNorm) layerNormForward(Xf, rows(lw.mean2, r0, 1), rows(lw.rstd2, r0, 1), S1, P.g2().value, P.n2().value, n, D);
      else layerNormForward(Xf, rows(lw.mean1, r0, 1), rows(lw.rstd1, r0, 1), S1, P.g1().value, P.n1().value, n, D);
      const F1 = rows(lw.F1, r0, F), Fa = rows(lw.Fa, r0, F);
      linearForward(k, F1, Xf, P.W1().value, P.b1().value, n, D, F);
      if (this.gelu) geluForward(Fa, F1, n * F);
      else k.reluForward(n * F, F1, Fa);
      const Fd = dropout(k, rows(lw.Fd, r0, F), Fa, mask(lw.maskF, n * F), n * F);
      linearForward(k, rows(lw.F2, r0, D), Fd, P.W2().value, P.b2().value, n, F, D);
      const F2d = dropout(k, rows(lw.F2d, r0, D), rows(lw.F2, r0, D), mask(lw.maskF2, n * D), n * D);
      const S2 = rows(lw.S2, r0, D);
      S2.set((this.preNorm ? S1 : Xf).subarray(0, n * D));
      k.axpy(n * D, 1, F2d, S2);
      if (!this.preNorm) layerNormForward(rows(lw.out, r0, D), rows(lw.mean2, r0, 1), rows(lw.rstd2, r0, 1), S2, P.g2().value, P.n2().value, n, D);
      x = rows(lw.out, r0, D);
    }
    if (this.preNorm) layerNormForward(rows(ws.top, r0, D), rows(ws.meanF, r0, 1), rows(ws.rstdF, r0, 1), x, this.gF!().value, this.nF!().value, n, D);
  }

  protected recurBackward(ws: TransformerWorkspace, T: number): void {
    const { k, D, F, L, heads } = this;
    const B = ws.B, R = T * B;
    let g = ws.gOut; // gradient at the current layer's output
    let gIn = ws.gIn; // … and at its input
    if (this.preNorm) {
      g.fill(0, 0, R * D);
      const last = ws.layers[L - 1]!.out;
      layerNormBackward(g, this.gF!().grad, this.nF!().grad, ws.dtop, last, this.gF!().value, ws.meanF, ws.rstdF, R, D);
    } else g.set(ws.dtop.subarray(0, R * D));
    for (let l = L - 1; l >= 0; l--) {
      const P = this.layerParams[l]!, lw = ws.layers[l]!;
      const input = l === 0 ? ws.Xd : ws.layers[l - 1]!.out;
      const dS = ws.dS;
      // Feed-forward sublayer, backwards: dS ends as the gradient of S1.
      if (this.preNorm) dS.set(g.subarray(0, R * D)); // out = S1 + drop(FF(LN2(S1)))
      else {
        dS.fill(0, 0, R * D); // out = LN2(S2), S2 = Xf + drop(FF(Xf))
        layerNormBackward(dS, P.g2().grad, P.n2().grad, g, lw.S2, P.g2().value, lw.mean2, lw.rstd2, R, D);
      }
      const dF2 = dropoutGrad(k, ws.dTmp, this.preNorm ? g : dS, lw.maskF2, R * D);
      ws.dFd.fill(0, 0, R * F);
      linearBackward(k, ws.dFd, P.W2().grad, P.b2().grad, dF2, lw.Fd, P.W2().value, R, F, D);
      const dFa = dropoutGrad(k, ws.dFa, ws.dFd, lw.maskF, R * F);
      ws.dF1.fill(0, 0, R * F);
      if (this.gelu) geluBackward(ws.dF1, dFa, lw.F1, R * F);
      else k.reluBackward(R * F, lw.Fa, dFa, ws.dF1);
      if (this.preNorm) ws.dXf.fill(0, 0, R * D);
      else ws.dXf.set(dS.subarray(0, R * D)); // the residual around FF
      linearBackward(k, ws.dXf, P.W1().grad, P.b1().grad, ws.dF1, lw.Xf, P.W1().value, R, D, F);
      if (this.preNorm) layerNormBackward(dS, P.g2().grad, P.n2().grad, ws.dXf, lw.S1, P.g2().value, lw.mean2, lw.rstd2, R, D);
      else {
        dS.fill(0, 0, R * D);
        layerNormBackward(dS, P.g1().grad, P.n1().grad, ws.dXf, lw.S1, P.g1().value, lw.mean1, lw.rstd1, R, D);
      }
      // Attention sublayer, backwards: S1 = input + drop(MHA(Xa)).
      gIn.set(dS.subarray(0, R * D)); // the residual
      const dAo = dropoutGrad(k, ws.dTmp, dS, lw.maskA, R * D);
      ws.dO.fill(0, 0, R * D);
      linearBackward(k, ws.dO, P.Wo().grad, P.bo().grad, dAo, lw.O, P.Wo().value, R, D, D);
      ws.dV.fill(0, 0, R * D);
      attentionValuesBackward(k, ws.dP, ws.dV, ws.dO, lw.Pd, lw.V, B, T, D, heads);
      dropoutGrad(k, ws.dP, ws.dP, lw.maskP, B * heads * T * T); // in place
      ws.dQ.fill(0, 0, R * D);
      ws.dK.fill(0, 0, R * D);
      attentionProbsBackward(k, ws.dQ, ws.dK, ws.dP, lw.P, lw.Q, lw.K, ws.lo, B, T, D, heads);
      const dXa = this.preNorm ? ws.dXa : gIn;
      if (this.preNorm) dXa.fill(0, 0, R * D);
      linearBackward(k, dXa, P.Wq().grad, P.bq().grad, ws.dQ, lw.Xa, P.Wq().value, R, D, D);
      linearBackward(k, dXa, P.Wk().grad, P.bk().grad, ws.dK, lw.Xa, P.Wk().value, R, D, D);
      linearBackward(k, dXa, P.Wv().grad, P.bv().grad, ws.dV, lw.Xa, P.Wv().value, R, D, D);
      if (this.preNorm) layerNormBackward(gIn, P.g1().grad, P.n1().grad, dXa, input, P.g1().value, lw.mean1, lw.rstd1, R, D);
      [g, gIn] = [gIn, g];
    }
    // g is now the gradient of the dropped-out embeddings plus positions.
    const dX0 = dropoutGrad(k, g, g, ws.mask0, R * D);
    if (this.positions) k.embeddingScatterAdd(R, D, this.positions().grad, ws.pos, dX0);
    k.scale(R * D, Math.sqrt(D), dX0);
    k.embeddingScatterAdd(R, D, this.E().grad, ws.inputs, dX0);
  }

  // ---- evaluation and the LanguageModel -----------------------------------------------------

  /** Validation: exactly what `kotoba ppl` computes (the sliding window, in the model's context). */
  evaluate(tokens: Uint32Array): LossSum {
    const acc = scoreTokens(this, tokens, this.context);
    return { nats: -acc.log10Sum * Math.LN10, targets: acc.tokens };
  }

  override carried(): Float32Array | null {
    return null;
  }

  begin(): TransformerState {
    return this.save(this.start(this.startToken));
  }

  score(state: TransformerState, word: number): Scored<TransformerState> {
    const out = this.one;
    if (word === BOS) return { log10: -Infinity, next: this.save(this.start(BOS)) }; // a sentence starts afresh
    this.one32[0] = word;
    const n = this.extend(this.load(state), this.one32, out);
    return { log10: out[0]!, next: this.save(n) };
  }

  scoreStream(state: TransformerState | null, words: Uint32Array, log10Out: Float64Array): TransformerState {
    const n = state ? this.load(state) : this.start(this.startToken);
    return this.save(this.extend(n, words, log10Out));
  }

  scoreSentence(words: Uint32Array, log10Out: Float64Array): number {
    this.extend(this.start(this.startToken), words, log10Out);
    let total = 0;
    for (let i = 0; i < words.length; i++) total += log10Out[i]!;
    return total;
  }

  protected outputProbabilities(state: TransformerState, out: Float64Array): void {
    this.stateX.set(state.top);
    this.output.probabilities(this.stateX, out);
  }

  private readonly one = new Float64Array(1);
  private readonly one32 = new Uint32Array(1);

  /** A fresh scoring window holding one input (`<s>`, or `</s>` in stream context). Returns 1. */
  private start(token: number): number {
    const ws = this.scoreWs;
    ws.inputs[0] = this.order.row[token]!;
    this.forward(ws, 0, 1, this.W, null);
    return 1;
  }

  /** Puts a state's window into the scoring workspace. Returns its length. */
  private load(state: TransformerState): number {
    const ws = this.scoreWs, D = this.D;
    const n = state.inputs.length;
    ws.inputs.set(state.inputs);
    for (let l = 0; l < this.L; l++) {
      const lw = ws.layers[l]!;
      lw.K.set(state.kv.subarray(2 * l * n * D, (2 * l + 1) * n * D));
      lw.V.set(state.kv.subarray((2 * l + 1) * n * D, (2 * l + 2) * n * D));
    }
    ws.top.set(state.top, (n - 1) * D);
    return n;
  }

  /** The scoring workspace's window of n inputs as a state. */
  private save(n: number): TransformerState {
    const ws = this.scoreWs, D = this.D;
    const kv = new Float32Array(2 * this.L * n * D);
    for (let l = 0; l < this.L; l++) {
      const lw = ws.layers[l]!;
      kv.set(lw.K.subarray(0, n * D), 2 * l * n * D);
      kv.set(lw.V.subarray(0, n * D), (2 * l + 1) * n * D);
    }
    return { inputs: ws.inputs.slice(0, n), kv, top: ws.top.slice((n - 1) * D, n * D) };
  }

  /**
   * Scores `words` after the n inputs in the scoring window, each then becoming an input: in
   * blocks up to the window's end, one batched pass per block, the window sliding (the last
   * `keep` inputs encoded again as a fresh window) when full. Returns the window's new length.
   */
  private extend(n: number, words: Uint32Array, log10Out: Float64Array): number {
    const ws = this.scoreWs, D = this.D, W = this.W, row = this.order.row;
    for (let i = 0; i < words.length; ) {
      if (n === W) {
        // Slide: the last input's output (from the full window) still predicts the next word.
        this.slideTop.set(ws.top.subarray((W - 1) * D, W * D));
        ws.inputs.copyWithin(0, W - this.keep, W);
        this.forward(ws, 0, this.keep, W, null);
        ws.top.set(this.slideTop, (this.keep - 1) * D);
        n = this.keep;
      }
      const block = Math.min(W - n, words.length - i);
      for (let j = 0; j < block; j++) {
        ws.inputs[n + j] = row[words[i + j]!]!;
        ws.targets[j] = this.targetRow(words[i + j]!);
      }
      // The new inputs run; then the outputs of inputs n − 1 … n + block − 2 predict these words.
      this.forward(ws, n, n + block, W, null);
      this.output.forward(block, ws.top.subarray((n - 1) * D), ws.targets, ws.losses, false, 1);
      for (let j = 0; j < block; j++) log10Out[i + j] = ws.targets[j]! < 0 ? -Infinity : NeuralModel.log10(ws.losses[j]!);
      n += block;
      i += block;
    }
    return n;
  }

  // `k` is the kernels, named short for the formulas above.
  private get k(): Kernels {
    return this.kernels;
  }
}

/** r0 rows into an Int32 buffer (one column). */
function rows32(x: Int32Array, r0: number): Int32Array {
  return r0 === 0 ? x : x.subarray(r0);
}
