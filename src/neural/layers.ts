/**
 * Layers as forward/backward pairs over kernel views, llm.c style:
 *
 *   xxxForward(k, out, …, inp)          computes the layer's output
 *   xxxBackward(k, dinp, dweight, …, dout)  accumulates (+=) into the input and weight gradients
 *
 * Row-major throughout; shapes are in the comments as (rows, cols). A model's forward calls these
 * in order and its backward calls the backward halves in reverse, in plain sight. Nothing here
 * allocates: every buffer is a view the model carved out of the kernels' memory up front.
 */
import type { Kernels } from './kernels/types.js';
import type { Random } from '../util/random.js';

// ---- embedding ------------------------------------------------------------------------------

/** out(rows, D) = table(·, D)[ids]. */
export function embeddingForward(k: Kernels, out: Float32Array, table: Float32Array, ids: Int32Array, rows: number, D: number): void {
  k.embeddingGather(rows, D, table, ids, out);
}

/** dtable(·, D)[ids] += dout(rows, D). */
export function embeddingBackward(k: Kernels, dtable: Float32Array, ids: Int32Array, dout: Float32Array, rows: number, D: number): void {
  k.embeddingScatterAdd(rows, D, dtable, ids, dout);
}

// ---- linear ---------------------------------------------------------------------------------

/**
 * out(rows, N) = inp(rows, K) · W(K, N) + b(N); `beta` 1 adds to what is in out instead
 * (a second input into the same pre-activation). `b` may be null.
 *
 * @example
 * ```ts
 * // runs
 * import { createKernels, floatsFor, layers } from 'kotoba';
 * const B = 2, D = 3, H = 4;
 * const k = await createKernels(floatsFor(B * D, D * H, H, B * H, B * H, B * H, B * D, D * H, H));
 * const x = k.alloc(B * D), W1 = k.alloc(D * H), b1 = k.alloc(H), h = k.alloc(B * H);
 * const dh = k.alloc(B * H), dpre = k.alloc(B * H), dx = k.alloc(B * D), dW1 = k.alloc(D * H), db1 = k.alloc(H);
 * // A tanh hidden layer and its backward pass, as the feed-forward model runs them.
 * layers.linearForward(k, h, x, W1, b1, B, D, H);
 * layers.tanhForward(k, h, h, B * H);
 * // … later, with dh the gradient reaching h:
 * dpre.fill(0);
 * layers.tanhBackward(k, dpre, dh, h, B * H);
 * layers.linearBackward(k, dx, dW1, db1, dpre, x, W1, B, D, H);
 * ```
 */
export function linearForward(
  k: Kernels, out: Float32Array, inp: Float32Array, W: Float32Array, b: Float32Array | null,
  rows: number, K: number, N: number, beta = 0,
): void {
  k.gemm(false, false, rows, N, K, 1, inp, W, beta, out);
  if (b) k.addBias(rows, N, out, b);
}

/** dinp(rows, K) += dout · Wᵀ; dW(K, N) += inpᵀ · dout; db(N) += Σ_rows dout. `dinp`/`db` may be null. */
export function linearBackward(
  k: Kernels, dinp: Float32Array | null, dW: Float32Array, db: Float32Array | null,
  dout: Float32Array, inp: Float32Array, W: Float32Array, rows: number, K: number, N: number,
): void {
  k.gemm(true, false, K, N, rows, 1, inp, dout, 1, dW);
  if (db) k.sumRows(rows, N, dout, db);
  if (dinp) k.gemm(false, true, rows, K, N, 1, dout, W, 1, dinp);
}

// ---- activations ----------------------------------------------------------------------------

/** y = tanh(x) over n values (y may be x). */
export function tanhForward(k: Kernels, y: Float32Array, x: Float32Array, n: number): void {
  k.tanhForward(n, x, y);
}

/** dx += dy ⊙ (1 − y²). */
export function tanhBackward(k: Kernels, dx: Float32Array, dy: Float32Array, y: Float32Array, n: number): void {
  k.tanhBackward(n, y, dy, dx);
}

/** y = σ(x) over n values (y may be x). */
export function sigmoidForward(k: Kernels, y: Float32Array, x: Float32Array, n: number): void {
  k.sigmoidForward(n, x, y);
}

/** dx += dy ⊙ y(1 − y). */
export function sigmoidBackward(k: Kernels, dx: Float32Array, dy: Float32Array, y: Float32Array, n: number): void {
  k.sigmoidBackward(n, y, dy, dx);
}

// ---- softmax cross-entropy ------------------------------------------------------------------

/**
 * losses(rows) = −ln softmax(logits(rows, V))[target]; rows with a negative target cost 0.
 * With `dlogits` (which may alias logits), also writes scale·(softmax − onehot) there: the
 * backward half, fused as in llm.c because it needs nothing else. Returns Σ losses (nats).
 */
export function softmaxCrossEntropyForward(
  k: Kernels, losses: Float32Array, logits: Float32Array, targets: Int32Array, rows: number, V: number,
  dlogits: Float32Array | null, scale: number,
): number {
  return k.softmaxCrossEntropy(rows, V, logits, targets, losses, dlogits, scale);
}

// ---- dropout --------------------------------------------------------------------------------

/**
 * Draws an inverted-dropout mask: each value is 0 with probability p, else 1/(1 − p), so the
 * expected activation is unchanged and nothing needs rescaling at test time.
 */
export function dropoutMask(rng: Random, mask: Float32Array, n: number, p: number): void {
  rng.fillMask(mask, n, p, 1 / (1 - p));
}

/** out = inp ⊙ mask (out may be inp). */
export function dropoutForward(k: Kernels, out: Float32Array, inp: Float32Array, mask: Float32Array, n: number): void {
  k.mul(n, inp, mask, out);
}

/** dinp += dout ⊙ mask. */
export function dropoutBackward(k: Kernels, dinp: Float32Array, dout: Float32Array, mask: Float32Array, n: number): void {
  k.mulAdd(n, dout, mask, dinp);
}

// ---- state reset at sentence starts ---------------------------------------------------------

/**
 * dst(rows, D) = src with the rows where `reset[r0 + r]` is set zeroed: a recurrent state entering a
 * step whose input is `<s>` starts from zero, so each sentence is scored on its own.
 */
export function maskedCopy(dst: Float32Array, src: Float32Array, reset: Uint8Array, r0: number, rows: number, D: number): void {
  dst.set(src); // both exactly (rows, D): views made once by the caller
  for (let r = 0; r < rows; r++) if (reset[r0 + r]) dst.fill(0, r * D, (r + 1) * D);
}

/** Zeroes the rows of d(rows, D) where `reset[r0 + r]` is set (the backward half of {@link maskedCopy}). */
export function maskRows(d: Float32Array, reset: Uint8Array, r0: number, rows: number, D: number): void {
  for (let r = 0; r < rows; r++) if (reset[r0 + r]) d.fill(0, r * D, (r + 1) * D);
}

// ---- Elman recurrent cell -------------------------------------------------------------------

/** The Elman cell's nonlinearity (PyTorch's RNN_TANH and RNN_RELU). */
export type Activation = 'tanh' | 'relu';

/**
 * h(B, H) = act(h + hin(B, H) · U(H, H)): `h` arrives holding the step's input half,
 * x · Wx + b, computed for all steps at once by the caller (one large gemm), and leaves holding
 * the new state.
 */
export function rnnCellForward(k: Kernels, h: Float32Array, hin: Float32Array, U: Float32Array, B: number, H: number, activation: Activation = 'tanh'): void {
  k.gemm(false, false, B, H, H, 1, hin, U, 1, h);
  if (activation === 'relu') k.reluForward(B * H, h, h);
  else k.tanhForward(B * H, h, h);
}

/**
 * Given dh(B, H) (all gradient reaching h), computes dpre(B, H) = dh ⊙ act′ (overwritten)
 * and dhin += dpre · Uᵀ. The weight gradients need every step's dpre and are summed once per
 * chunk by {@link rnnWeightsBackward} (one large gemm instead of one small one per step); the
 * caller scatters dpre into the embedding gradient (the input's contribution).
 */
export function rnnCellBackward(
  k: Kernels, dhin: Float32Array, dpre: Float32Array, dh: Float32Array, h: Float32Array, U: Float32Array, B: number, H: number,
  activation: Activation = 'tanh',
): void {
  dpre.fill(0);
  if (activation === 'relu') k.reluBackward(B * H, h, dh, dpre);
  else k.tanhBackward(B * H, h, dh, dpre);
  k.gemm(false, true, B, H, H, 1, dpre, U, 1, dhin);
}

/** dU(H, H) += Hinᵀ · dPre and db(H) += Σ dPre over all rows(= T·B) of a chunk. */
export function rnnWeightsBackward(k: Kernels, dU: Float32Array, db: Float32Array, dPre: Float32Array, Hin: Float32Array, rows: number, H: number): void {
  k.gemm(true, false, H, H, rows, 1, Hin, dPre, 1, dU);
  k.sumRows(rows, H, dPre, db);
}

// ---- LSTM cell ------------------------------------------------------------------------------

/**
 * Per-row views of a gate buffer a(B, gates·H): the σ part (LSTM [i | f | o], GRU [r | z]) and
 * the tanh part (LSTM g, GRU n), the last H of each row.
 */
export interface GateRows {
  ifo: Float32Array[];
  g: Float32Array[];
}

/** Makes the per-row views of a(B, gates·H) once, outside the hot loop. */
export function gateRows(a: Float32Array, B: number, H: number, gates = 4): GateRows {
  const G = gates * H;
  const ifo: Float32Array[] = [];
  const g: Float32Array[] = [];
  for (let r = 0; r < B; r++) {
    ifo.push(a.subarray(r * G, r * G + G - H));
    g.push(a.subarray(r * G + G - H, r * G + G));
  }
  return { ifo, g };
}

/**
 * One LSTM step for B rows (Hochreiter & Schmidhuber; the gate layout of Zaremba et al.):
 *
 *   a(B, 4H) += hin(B, H) · Wh(H, 4H)         a arrives holding x · Wx + b, computed for all
 *                                             steps at once by the caller (one large gemm)
 *   per row [i | f | o | g]: i, f, o = σ(·), g = tanh(·)   (in place in a)
 *   c = f ⊙ cin + i ⊙ g;  tc = tanh(c);  h = o ⊙ tc
 *
 * `a`, `tc` (and the caller's hin, cin) are kept for the backward pass. `aRows` are per-row
 * views of `a` made once by the caller ({@link gateRows}), so the step allocates nothing.
 */
export function lstmCellForward(
  k: Kernels, h: Float32Array, c: Float32Array, tc: Float32Array, a: Float32Array, aRows: GateRows,
  hin: Float32Array, cin: Float32Array, Wh: Float32Array, B: number, H: number,
): void {
  const G = 4 * H;
  k.gemm(false, false, B, G, H, 1, hin, Wh, 1, a);
  // Gates are contiguous per row: σ over the first 3H values, tanh over the last H.
  for (let r = 0; r < B; r++) {
    const row = aRows.ifo[r]!;
    k.sigmoidForward(3 * H, row, row);
    const g = aRows.g[r]!;
    k.tanhForward(H, g, g);
  }
  for (let r = 0; r < B; r++) {
    const o = r * G;
    const s = r * H;
    for (let j = 0; j < H; j++) c[s + j] = a[o + H + j]! * cin[s + j]! + a[o + j]! * a[o + 3 * H + j]!;
  }
  k.tanhForward(B * H, c, tc);
  for (let r = 0; r < B; r++) {
    const o = r * G + 2 * H;
    const s = r * H;
    for (let j = 0; j < H; j++) h[s + j] = a[o + j]! * tc[s + j]!;
  }
}

/**
 * Backward of {@link lstmCellForward}. Given dh(B, H) and dc(B, H) (the cell gradient arriving
 * from the next step), writes da(B, 4H) (the gradient of the pre-activations, overwritten) and
 * dc ← dc_total ⊙ f, the gradient reaching cin (in place: each value is read before it is
 * written); then dhin += da · Whᵀ. The weight gradients (dWh = Σ hinᵀ · da, and the input side
 * dWx, db, dx) are the caller's, once for all steps.
 */
export function lstmCellBackward(
  k: Kernels, dhin: Float32Array, da: Float32Array, dh: Float32Array, dc: Float32Array,
  a: Float32Array, tc: Float32Array, cin: Float32Array, Wh: Float32Array, B: number, H: number,
): void {
  const G = 4 * H;
  for (let r = 0; r < B; r++) {
    const o = r * G;
    const s = r * H;
    for (let j = 0; j < H; j++) {
      const i = a[o + j]!, f = a[o + H + j]!, og = a[o + 2 * H + j]!, g = a[o + 3 * H + j]!;
      const t = tc[s + j]!;
      const dhv = dh[s + j]!;
      const dcv = dc[s + j]! + dhv * og * (1 - t * t);
      da[o + j] = dcv * g * i * (1 - i);
      da[o + H + j] = dcv * cin[s + j]! * f * (1 - f);
      da[o + 2 * H + j] = dhv * t * og * (1 - og);
      da[o + 3 * H + j] = dcv * i * (1 - g * g);
      dc[s + j] = dcv * f;
    }
  }
  k.gemm(false, true, B, H, G, 1, da, Wh, 1, dhin);
}

// ---- GRU cell -------------------------------------------------------------------------------

/**
 * One GRU step for B rows (Cho et al. 2014, in the form of PyTorch's nn.GRU and cuDNN, where
 * the reset gate multiplies h · Whn + bhn):
 *
 *   a(B, 3H)                                   arrives holding x · Wx + bx, computed for all
 *                                              steps at once by the caller (one large gemm)
 *   g(B, 3H) = hin(B, H) · Wh(H, 3H) + bh(3H)  the recurrent half, kept for the backward pass
 *   per row [r | z | n]: r, z = σ(a + g), n = tanh(a_n + r ⊙ g_n)   (in place in a)
 *   h = (1 − z) ⊙ n + z ⊙ hin
 *
 * `aRows` are per-row views of `a` made once by the caller ({@link gateRows} with 3 gates).
 */
export function gruCellForward(
  k: Kernels, h: Float32Array, a: Float32Array, aRows: GateRows, g: Float32Array,
  hin: Float32Array, Wh: Float32Array, bh: Float32Array, B: number, H: number,
): void {
  const G = 3 * H;
  k.gemm(false, false, B, G, H, 1, hin, Wh, 0, g);
  k.addBias(B, G, g, bh);
  for (let r = 0; r < B; r++) {
    const o = r * G;
    for (let j = 0; j < 2 * H; j++) a[o + j] = a[o + j]! + g[o + j]!;
    const rz = aRows.ifo[r]!;
    k.sigmoidForward(2 * H, rz, rz);
    for (let j = 0; j < H; j++) a[o + 2 * H + j] = a[o + 2 * H + j]! + a[o + j]! * g[o + 2 * H + j]!;
    const n = aRows.g[r]!;
    k.tanhForward(H, n, n);
  }
  for (let r = 0; r < B; r++) {
    const o = r * G;
    const s = r * H;
    for (let j = 0; j < H; j++) {
      const z = a[o + H + j]!;
      h[s + j] = (1 - z) * a[o + 2 * H + j]! + z * hin[s + j]!;
    }
  }
}

/**
 * Backward of {@link gruCellForward}. Given dh(B, H), writes da(B, 3H), the gradient of the
 * input half's pre-activations, and dg(B, 3H), that of the recurrent half's (both
 * overwritten); then dhin += dg · Whᵀ + dh ⊙ z. The weight gradients (dWh = Σ hinᵀ · dg,
 * dbh = Σ dg, and the input side from da) are the caller's, once for all steps.
 */
export function gruCellBackward(
  k: Kernels, dhin: Float32Array, da: Float32Array, dg: Float32Array, dh: Float32Array,
  a: Float32Array, g: Float32Array, hin: Float32Array, Wh: Float32Array, B: number, H: number,
): void {
  const G = 3 * H;
  for (let r = 0; r < B; r++) {
    const o = r * G;
    const s = r * H;
    for (let j = 0; j < H; j++) {
      const rg = a[o + j]!, z = a[o + H + j]!, n = a[o + 2 * H + j]!;
      const dhv = dh[s + j]!;
      const dn = dhv * (1 - z) * (1 - n * n); // through tanh
      const dr = dn * g[o + 2 * H + j]! * rg * (1 - rg);
      const dz = dhv * (hin[s + j]! - n) * z * (1 - z);
      da[o + j] = dr;
      da[o + H + j] = dz;
      da[o + 2 * H + j] = dn;
      dg[o + j] = dr;
      dg[o + H + j] = dz;
      dg[o + 2 * H + j] = dn * rg;
      dhin[s + j] = dhin[s + j]! + dhv * z;
    }
  }
  k.gemm(false, true, B, H, G, 1, dg, Wh, 1, dhin);
}

// ---- layer normalization --------------------------------------------------------------------

/** PyTorch's nn.LayerNorm ε. */
export const LAYER_NORM_EPS = 1e-5;

/**
 * out(R, D) = (inp − μ)/√(σ² + ε) ⊙ w + b, row by row (Ba et al.; nn.LayerNorm); the mean and
 * 1/√(σ² + ε) of each row go to mean(R), rstd(R) for the backward pass. out may not be inp.
 */
export function layerNormForward(
  out: Float32Array, mean: Float32Array, rstd: Float32Array, inp: Float32Array, w: Float32Array, b: Float32Array, R: number, D: number,
): void {
  for (let r = 0; r < R; r++) {
    const o = r * D;
    let m = 0;
    for (let j = 0; j < D; j++) m += inp[o + j]!;
    m /= D;
    let v = 0;
    for (let j = 0; j < D; j++) {
      const x = inp[o + j]! - m;
      v += x * x;
    }
    const s = 1 / Math.sqrt(v / D + LAYER_NORM_EPS);
    for (let j = 0; j < D; j++) out[o + j] = (inp[o + j]! - m) * s * w[j]! + b[j]!;
    mean[r] = m;
    rstd[r] = s;
  }
}

/**
 * Backward of {@link layerNormForward} (llm.c's form): with x̂ the normalised input and
 * g = dout ⊙ w, dinp += (g − mean(g) − x̂ · mean(g ⊙ x̂)) · rstd; dw += Σ dout ⊙ x̂; db += Σ dout.
 */
export function layerNormBackward(
  dinp: Float32Array, dw: Float32Array, db: Float32Array, dout: Float32Array, inp: Float32Array, w: Float32Array,
  mean: Float32Array, rstd: Float32Array, R: number, D: number,
): void {
  for (let r = 0; r < R; r++) {
    const o = r * D;
    const m = mean[r]!, s = rstd[r]!;
    let gMean = 0, gxMean = 0;
    for (let j = 0; j < D; j++) {
      const g = dout[o + j]! * w[j]!;
      gMean += g;
      gxMean += g * (inp[o + j]! - m) * s;
    }
    gMean /= D;
    gxMean /= D;
    for (let j = 0; j < D; j++) {
      const xh = (inp[o + j]! - m) * s;
      const d = dout[o + j]!;
      dw[j] = dw[j]! + d * xh;
      db[j] = db[j]! + d;
      dinp[o + j] = dinp[o + j]! + (d * w[j]! - gMean - xh * gxMean) * s;
    }
  }
}

// ---- GELU -----------------------------------------------------------------------------------

const SQRT1_2 = Math.SQRT1_2;
const INV_SQRT_2PI = 1 / Math.sqrt(2 * Math.PI);

/** erf(x) to 1.5e-7 (Abramowitz & Stegun 7.1.26), in float64: JavaScript has no Math.erf. */
export function erf(x: number): number {
  const s = x < 0 ? -1 : 1;
  const a = Math.abs(x);
  const t = 1 / (1 + 0.3275911 * a);
  const p = ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t;
  return s * (1 - p * Math.exp(-a * a));
}

/** out = x·Φ(x) = ½x(1 + erf(x/√2)) over n values: the exact GELU of Hendrycks & Gimpel, PyTorch's F.gelu (out may be inp). */
export function geluForward(out: Float32Array, inp: Float32Array, n: number): void {
  for (let i = 0; i < n; i++) {
    const x = inp[i]!;
    out[i] = 0.5 * x * (1 + erf(x * SQRT1_2));
  }
}

/** dinp += dout ⊙ (Φ(x) + x·φ(x)), x the GELU's input. */
export function geluBackward(dinp: Float32Array, dout: Float32Array, inp: Float32Array, n: number): void {
  for (let i = 0; i < n; i++) {
    const x = inp[i]!;
    const d = 0.5 * (1 + erf(x * SQRT1_2)) + x * INV_SQRT_2PI * Math.exp(-0.5 * x * x);
    dinp[i] = dinp[i]! + dout[i]! * d;
  }
}

// ---- causal multi-head self-attention -------------------------------------------------------
//
// Rows are time-major, row t·B + b for stream b at step t, D columns; head h owns the columns
// [h·dh, (h + 1)·dh), dh = D/heads. Row t of stream b attends to the steps [lo, t] of its own
// stream, lo = lo[t·B + b] (the start of its sentence in the window, or of the window): a causal
// mask that also stops at sentence starts. The products run through gemm on strided views (one
// per stream and head, not per token); P(B·heads, T, T) holds the probabilities, row t of block
// b·heads + h, columns up to t. Steps before `from` must already have their K and V (scoring
// extends a window a few steps at a time); their queries are not computed again.

/** The view of a stream's head, starting at step t: rows stride B·D. */
function headView(x: Float32Array, t: number, b: number, h: number, B: number, D: number, dh: number): Float32Array {
  return x.subarray((t * B + b) * D + h * dh);
}

/**
 * P = softmax(Q·Kᵀ/√dh) over the visible steps, rows [from, to) of each stream and head (the
 * other columns of those rows 0).
 */
export function attentionProbs(
  k: Kernels, P: Float32Array, Q: Float32Array, K: Float32Array, lo: Int32Array,
  B: number, T: number, D: number, heads: number, from: number, to: number,
): void {
  const dh = D / heads;
  const scale = 1 / Math.sqrt(dh);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < heads; h++) {
      const block = (b * heads + h) * T;
      // S(rows from..to, keys 0..to) = Q·Kᵀ/√dh
      k.gemm(false, true, to - from, to, dh, scale, headView(Q, from, b, h, B, D, dh), headView(K, 0, b, h, B, D, dh), 0, P.subarray((block + from) * T), B * D, B * D, T);
      for (let t = from; t < to; t++) {
        const o = (block + t) * T;
        const l = lo[t * B + b]!;
        let m = -Infinity;
        for (let j = l; j <= t; j++) m = Math.max(m, P[o + j]!);
        let sum = 0;
        for (let j = l; j <= t; j++) sum += P[o + j] = Math.exp(P[o + j]! - m);
        const inv = 1 / sum;
        for (let j = 0; j < to; j++) P[o + j] = j >= l && j <= t ? P[o + j]! * inv : 0;
      }
    }
  }
}

/** O(rows from..to) = P·V per stream and head (P after dropout, when there is dropout). */
export function attentionValues(
  k: Kernels, O: Float32Array, P: Float32Array, V: Float32Array, B: number, T: number, D: number, heads: number, from: number, to: number,
): void {
  const dh = D / heads;
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < heads; h++) {
      const block = (b * heads + h) * T;
      k.gemm(false, false, to - from, dh, to, 1, P.subarray((block + from) * T), headView(V, 0, b, h, B, D, dh), 0, headView(O, from, b, h, B, D, dh), T, B * D, B * D);
    }
  }
}

/** Backward of {@link attentionValues} over whole windows: dP = dO·Vᵀ (overwritten), dV += Pᵀ·dO. */
export function attentionValuesBackward(
  k: Kernels, dP: Float32Array, dV: Float32Array, dO: Float32Array, P: Float32Array, V: Float32Array, B: number, T: number, D: number, heads: number,
): void {
  const dh = D / heads;
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < heads; h++) {
      const blk = (b * heads + h) * T * T;
      const dOv = headView(dO, 0, b, h, B, D, dh);
      k.gemm(false, true, T, T, dh, 1, dOv, headView(V, 0, b, h, B, D, dh), 0, dP.subarray(blk), B * D, B * D, T);
      k.gemm(true, false, T, dh, T, 1, P.subarray(blk), dOv, 1, headView(dV, 0, b, h, B, D, dh), T, B * D, B * D);
    }
  }
}

/**
 * Backward of {@link attentionProbs} over whole windows: through the softmax,
 * dS = P ⊙ (dP − Σ_j P_j·dP_j) (in place in dP), then dQ += dS·K/√dh and dK += dSᵀ·Q/√dh.
 */
export function attentionProbsBackward(
  k: Kernels, dQ: Float32Array, dK: Float32Array, dP: Float32Array, P: Float32Array, Q: Float32Array, K: Float32Array, lo: Int32Array,
  B: number, T: number, D: number, heads: number,
): void {
  const dh = D / heads;
  const scale = 1 / Math.sqrt(dh);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < heads; h++) {
      const blk = (b * heads + h) * T * T;
      for (let t = 0; t < T; t++) {
        const o = blk + t * T;
        const l = lo[t * B + b]!;
        let dot = 0;
        for (let j = l; j <= t; j++) dot += P[o + j]! * dP[o + j]!;
        for (let j = 0; j < T; j++) dP[o + j] = j >= l && j <= t ? P[o + j]! * (dP[o + j]! - dot) : 0;
      }
      const dS = dP.subarray(blk);
      k.gemm(false, false, T, dh, T, scale, dS, headView(K, 0, b, h, B, D, dh), 1, headView(dQ, 0, b, h, B, D, dh), T, B * D, B * D);
      k.gemm(true, false, T, dh, T, scale, dS, headView(Q, 0, b, h, B, D, dh), 1, headView(dK, 0, b, h, B, D, dh), T, B * D, B * D);
    }
  }
}
