/**
 * The feed-forward neural language model of Bengio, Ducharme, Vincent & Jauvin (2003):
 *
 *   x = [E[w_{t−N+1}] … E[w_{t−1}]]          concatenated embeddings, ((N−1)·E)
 *   h = tanh(x · W1 + b1)                     (H)
 *   p(w_t | history) = softmax over z         z = h, or [h, x] with direct connections
 *
 * Bengio's direct connections (a linear map from x straight to the output) are implemented by
 * giving the output layer [h, x] as its input, which works for the full and the class softmax.
 */
import type { Vocabulary } from '../text/vocabulary.js';
import type { Kernels } from './kernels/types.js';
import { embeddingBackward, embeddingForward, linearBackward, linearForward, tanhBackward, tanhForward } from './layers.js';
import type { NeuralConfig } from './model.js';
import { makeOutput, ownWordMatrix, type OutputLayer, type OutputOrder } from './output.js';
import type { Allocator, Tensor } from './params.js';
import type { Random } from '../util/random.js';
import { WindowModel } from './window.js';

export class FeedForwardModel extends WindowModel {
  readonly output: OutputLayer & { bind(): void };
  private readonly Edim: number;
  private readonly H: number;
  /** Width of the output layer's input: H, plus (N−1)·E with direct connections. */
  private readonly Z: number;
  private readonly direct: boolean;
  private readonly E: () => Tensor; // (V, E), rows in output order, <s> last
  private readonly W1: () => Tensor; // ((N−1)·E, H)
  private readonly b1: () => Tensor; // (H)
  // Work buffers for `rows` rows.
  private readonly X: Float32Array; // ((rows, (N−1)·E)
  private readonly Hh: Float32Array; // (rows, H)
  private readonly Zb: Float32Array; // (rows, Z): [h, x] with direct connections, else Hh
  private readonly dZ: Float32Array; // (rows, Z)
  private readonly dH: Float32Array; // (rows, H)
  private readonly dPre: Float32Array; // (rows, H)
  private readonly dX: Float32Array; // (rows, (N−1)·E)

  constructor(k: Kernels, vocab: Vocabulary, config: NeuralConfig, order: OutputOrder, mem: Allocator, batch: number) {
    super(k, vocab, config, order, batch);
    const E = config.embed!, H = config.hidden!, V = config.vocabSize;
    const nE = this.n * E;
    this.Edim = E;
    this.H = H;
    this.direct = Boolean(config.direct);
    this.Z = this.direct ? H + nE : H;
    this.E = this.params.declare('embedding', [V, E]);
    this.W1 = this.params.declare('hidden.weight', [nE, H]);
    this.b1 = this.params.declare('hidden.bias', [H]);
    const W = ownWordMatrix(this.params, 'output.weight', V - 1, this.Z);
    this.output = makeOutput(k, this.params, mem, W.matrix, order, this.Z, this.rows);
    this.params.allocate(mem);
    this.output.bind();
    this.allocateWindow(mem);
    const R = this.rows;
    this.X = mem.alloc(R * nE);
    this.Hh = mem.alloc(R * H);
    this.Zb = this.direct ? mem.alloc(R * this.Z) : this.Hh;
    this.dZ = mem.alloc(R * this.Z);
    this.dH = this.direct ? mem.alloc(R * H) : this.dZ;
    this.dPre = mem.alloc(R * H);
    this.dX = mem.alloc(R * nE);
  }

  protected override sparseInputs(): { ids: Int32Array; count: number } | null {
    return this.lastHistories();
  }

  protected setOutputBias(logp: Float64Array): void {
    this.output.setBias(logp);
  }

  protected initializeWeights(rng: Random): void {
    for (const t of this.params.tensors()) {
      if (t.name.endsWith('bias')) t.value.fill(0);
      else if (t.name === 'hidden.weight') {
        const s = 1 / Math.sqrt(t.shape[0]!);
        rng.fillUniform(t.value, -s, s);
      } else rng.fillUniform(t.value, -0.1, 0.1);
    }
  }

  protected forward(rows: number, train: boolean, scale: number): number {
    const k = this.kernels;
    const { n, Edim: E, H } = this;
    const nE = n * E;
    embeddingForward(k, this.X, this.E().value, this.ctx, rows * n, E); // (rows·n, E) = (rows, n·E)
    linearForward(k, this.Hh, this.X, this.W1().value, this.b1().value, rows, nE, H);
    tanhForward(k, this.Hh, this.Hh, rows * H);
    if (this.direct) {
      const Z = this.Z, Zb = this.Zb, Hh = this.Hh, X = this.X;
      for (let r = 0; r < rows; r++) {
        for (let j = 0; j < H; j++) Zb[r * Z + j] = Hh[r * H + j]!;
        for (let j = 0; j < nE; j++) Zb[r * Z + H + j] = X[r * nE + j]!;
      }
    }
    return this.output.forward(rows, this.Zb, this.targets, this.losses, train, scale);
  }

  protected backward(rows: number): void {
    const k = this.kernels;
    const { n, Edim: E, H, Z } = this;
    const nE = n * E;
    this.dZ.fill(0, 0, rows * Z);
    this.output.backward(rows, this.Zb, this.dZ);
    this.dX.fill(0, 0, rows * nE);
    if (this.direct) {
      const dZ = this.dZ, dH = this.dH, dX = this.dX;
      for (let r = 0; r < rows; r++) {
        for (let j = 0; j < H; j++) dH[r * H + j] = dZ[r * Z + j]!;
        for (let j = 0; j < nE; j++) dX[r * nE + j] = dZ[r * Z + H + j]!;
      }
    }
    this.dPre.fill(0, 0, rows * H);
    tanhBackward(k, this.dPre, this.dH, this.Hh, rows * H);
    const W1 = this.W1(), b1 = this.b1();
    linearBackward(k, this.dX, W1.grad, b1.grad, this.dPre, this.X, W1.value, rows, nE, H);
    embeddingBackward(k, this.E().grad, this.ctx, this.dX, rows * n, E);
  }

  protected probabilitiesRow0(out: Float64Array): void {
    const k = this.kernels;
    const { n, Edim: E, H } = this;
    const nE = n * E;
    embeddingForward(k, this.X, this.E().value, this.ctx, n, E);
    linearForward(k, this.Hh, this.X, this.W1().value, this.b1().value, 1, nE, H);
    tanhForward(k, this.Hh, this.Hh, H);
    if (this.direct) {
      for (let j = 0; j < H; j++) this.Zb[j] = this.Hh[j]!;
      for (let j = 0; j < nE; j++) this.Zb[H + j] = this.X[j]!;
    }
    this.output.probabilities(this.Zb, out);
  }
}
