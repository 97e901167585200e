// The plain TypeScript backend: the reference the wasm builds are tested against, and the
// fallback where WebAssembly SIMD is missing. Written for clarity first; gemm is still blocked
// and packed like the wasm one (same KC/MC, 4×8 tiles) because as a fallback it has to carry
// real models. Sums run in float64 (JS numbers), so this is also the more accurate backend.

import { KernelsBase } from './base.js';

/** Depth of one packed block of K, and rows of op(A) packed at a time (as in asm/kernels.ts). */
const KC = 256;
const MC = 128;

export class JsKernels extends KernelsBase {
  readonly backend = 'js' as const;
  /** The whole memory as floats, for allocation-free row copies (copyWithin). */
  private readonly f32: Float32Array;
  /** Packed block of alpha·op(A): panels of 4 rows, k-major inside a panel. (MC×KC) */
  private readonly packA = new Float32Array(MC * KC);
  /** Packed strip of op(B): 8 columns, k-major. (KC×8) */
  private readonly packB = new Float32Array(KC * 8);
  /** One 4×8 result tile before it is merged into C. */
  private readonly tile = new Float64Array(32);

  constructor(capacityFloats: number) {
    super(new ArrayBuffer(Math.ceil(capacityFloats / 4) * 16), 0, capacityFloats);
    this.f32 = new Float32Array(this.buffer);
  }

  // ---- GEMM --------------------------------------------------------------------------------

  protected gemmImpl(
    transA: boolean, transB: boolean, M: number, N: number, K: number,
    alpha: number, A: Float32Array, B: Float32Array, beta: number, C: Float32Array,
    lda: number, ldb: number, ldc: number,
  ): void {
    if (M === 0 || N === 0) return;
    if (K === 0 || alpha === 0) {
      for (let i = 0; i < M; i++) scaleRow(N, beta, C, i * ldc);
      return;
    }
    if (M === 1) {
      this.gemmRow(transA, transB, N, K, alpha, A, B, beta, C, lda, ldb);
      return;
    }
    for (let k0 = 0; k0 < K; k0 += KC) {
      const kc = Math.min(KC, K - k0);
      const b = k0 === 0 ? beta : 1; // beta applies with the first block of K only
      for (let i0 = 0; i0 < M; i0 += MC) {
        const mc = Math.min(MC, M - i0);
        this.packABlock(transA, A, lda, i0, mc, k0, kc, alpha);
        for (let j0 = 0; j0 < N; j0 += 8) {
          const nr = Math.min(8, N - j0);
          this.packBStrip(transB, B, ldb, j0, nr, k0, kc);
          for (let ir = 0; ir < mc; ir += 4) {
            this.kernel4x8(kc, ir * kc);
            this.mergeTile(C, (i0 + ir) * ldc + j0, ldc, b, Math.min(4, mc - ir), nr);
          }
        }
      }
    }
  }

  /** packA[p·kc·4 + k·4 + r] = alpha·op(A)[i0 + 4p + r][k0 + k]; rows past mc are zero. */
  private packABlock(transA: boolean, A: Float32Array, lda: number, i0: number, mc: number, k0: number, kc: number, alpha: number): void {
    const pa = this.packA;
    for (let p = 0; p < mc; p += 4) {
      const base = p * kc;
      for (let r = 0; r < 4; r++) {
        const i = i0 + p + r;
        if (p + r >= mc) {
          for (let k = 0; k < kc; k++) pa[base + k * 4 + r] = 0;
        } else if (transA) {
          for (let k = 0; k < kc; k++) pa[base + k * 4 + r] = alpha * A[(k0 + k) * lda + i];
        } else {
          const row = i * lda + k0;
          for (let k = 0; k < kc; k++) pa[base + k * 4 + r] = alpha * A[row + k];
        }
      }
    }
  }

  /** packB[k·8 + c] = op(B)[k0 + k][j0 + c]; columns past nr are zero. */
  private packBStrip(transB: boolean, B: Float32Array, ldb: number, j0: number, nr: number, k0: number, kc: number): void {
    const pb = this.packB;
    for (let k = 0; k < kc; k++) {
      for (let c = 0; c < 8; c++) {
        pb[k * 8 + c] = c >= nr ? 0 : transB ? B[(j0 + c) * ldb + k0 + k] : B[(k0 + k) * ldb + j0 + c];
      }
    }
  }

  /** tile(4×8) = Σ_k packA panel[k][0..4]ᵀ · packB[k][0..8]; 32 accumulators, V8 keeps most in registers. */
  private kernel4x8(kc: number, pa0: number): void {
    const pa = this.packA;
    const pb = this.packB;
    let c00 = 0, c01 = 0, c02 = 0, c03 = 0, c04 = 0, c05 = 0, c06 = 0, c07 = 0;
    let c10 = 0, c11 = 0, c12 = 0, c13 = 0, c14 = 0, c15 = 0, c16 = 0, c17 = 0;
    let c20 = 0, c21 = 0, c22 = 0, c23 = 0, c24 = 0, c25 = 0, c26 = 0, c27 = 0;
    let c30 = 0, c31 = 0, c32 = 0, c33 = 0, c34 = 0, c35 = 0, c36 = 0, c37 = 0;
    for (let k = 0, a = pa0, b = 0; k < kc; k++, a += 4, b += 8) {
      const b0 = pb[b], b1 = pb[b + 1], b2 = pb[b + 2], b3 = pb[b + 3];
      const b4 = pb[b + 4], b5 = pb[b + 5], b6 = pb[b + 6], b7 = pb[b + 7];
      let x = pa[a];
      c00 += x * b0; c01 += x * b1; c02 += x * b2; c03 += x * b3; c04 += x * b4; c05 += x * b5; c06 += x * b6; c07 += x * b7;
      x = pa[a + 1];
      c10 += x * b0; c11 += x * b1; c12 += x * b2; c13 += x * b3; c14 += x * b4; c15 += x * b5; c16 += x * b6; c17 += x * b7;
      x = pa[a + 2];
      c20 += x * b0; c21 += x * b1; c22 += x * b2; c23 += x * b3; c24 += x * b4; c25 += x * b5; c26 += x * b6; c27 += x * b7;
      x = pa[a + 3];
      c30 += x * b0; c31 += x * b1; c32 += x * b2; c33 += x * b3; c34 += x * b4; c35 += x * b5; c36 += x * b6; c37 += x * b7;
    }
    const t = this.tile;
    t[0] = c00; t[1] = c01; t[2] = c02; t[3] = c03; t[4] = c04; t[5] = c05; t[6] = c06; t[7] = c07;
    t[8] = c10; t[9] = c11; t[10] = c12; t[11] = c13; t[12] = c14; t[13] = c15; t[14] = c16; t[15] = c17;
    t[16] = c20; t[17] = c21; t[18] = c22; t[19] = c23; t[20] = c24; t[21] = c25; t[22] = c26; t[23] = c27;
    t[24] = c30; t[25] = c31; t[26] = c32; t[27] = c33; t[28] = c34; t[29] = c35; t[30] = c36; t[31] = c37;
  }

  /** C[c0 + r·ldc + j] = tile[r][j] + beta·C[…] for r < mr, j < nr (beta 0: C not read). */
  private mergeTile(C: Float32Array, c0: number, ldc: number, beta: number, mr: number, nr: number): void {
    const t = this.tile;
    for (let r = 0; r < mr; r++) {
      const row = c0 + r * ldc;
      for (let j = 0; j < nr; j++) C[row + j] = beta === 0 ? t[r * 8 + j] : t[r * 8 + j] + beta * C[row + j];
    }
  }

  /** M = 1: a matrix-vector product over B, without packing. */
  private gemmRow(
    transA: boolean, transB: boolean, N: number, K: number, alpha: number,
    A: Float32Array, B: Float32Array, beta: number, C: Float32Array, lda: number, ldb: number,
  ): void {
    const sa = transA ? lda : 1; // stride between consecutive a_k
    if (transB) {
      // C[j] = alpha·Σ_k a_k·B[j][k] + beta·C[j]
      for (let j = 0; j < N; j++) {
        let s = 0;
        for (let k = 0, row = j * ldb; k < K; k++) s += A[k * sa] * B[row + k];
        C[j] = beta === 0 ? alpha * s : alpha * s + beta * C[j];
      }
    } else {
      // C += (alpha·a_k)·B[k] for each k, after C = beta·C
      scaleRow(N, beta, C, 0);
      for (let k = 0; k < K; k++) {
        const s = alpha * A[k * sa];
        const row = k * ldb;
        for (let j = 0; j < N; j++) C[j] += s * B[row + j];
      }
    }
  }

  protected gemvImpl(trans: boolean, M: number, N: number, alpha: number, A: Float32Array, x: Float32Array, beta: number, y: Float32Array): void {
    if (!trans) {
      for (let i = 0; i < M; i++) {
        let s = 0;
        for (let j = 0, row = i * N; j < N; j++) s += A[row + j] * x[j];
        y[i] = beta === 0 ? alpha * s : alpha * s + beta * y[i];
      }
    } else {
      scaleRow(N, beta, y, 0);
      for (let i = 0; i < M; i++) {
        const s = alpha * x[i];
        for (let j = 0, row = i * N; j < N; j++) y[j] += s * A[row + j];
      }
    }
  }

  // ---- elementwise -------------------------------------------------------------------------

  protected addBiasImpl(rows: number, cols: number, out: Float32Array, bias: Float32Array): void {
    for (let r = 0; r < rows; r++) for (let c = 0, o = r * cols; c < cols; c++) out[o + c] += bias[c];
  }

  protected sumRowsImpl(rows: number, cols: number, d: Float32Array, dbias: Float32Array): void {
    for (let r = 0; r < rows; r++) for (let c = 0, o = r * cols; c < cols; c++) dbias[c] += d[o + c];
  }

  protected tanhForwardImpl(n: number, x: Float32Array, y: Float32Array): void {
    for (let i = 0; i < n; i++) y[i] = Math.tanh(x[i]);
  }

  protected tanhBackwardImpl(n: number, y: Float32Array, dy: Float32Array, dx: Float32Array): void {
    for (let i = 0; i < n; i++) dx[i] += dy[i] * (1 - y[i] * y[i]);
  }

  protected sigmoidForwardImpl(n: number, x: Float32Array, y: Float32Array): void {
    for (let i = 0; i < n; i++) y[i] = 1 / (1 + Math.exp(-x[i]));
  }

  protected sigmoidBackwardImpl(n: number, y: Float32Array, dy: Float32Array, dx: Float32Array): void {
    for (let i = 0; i < n; i++) dx[i] += dy[i] * y[i] * (1 - y[i]);
  }

  protected copyImpl(n: number, x: Float32Array, y: Float32Array): void {
    const from = x.byteOffset >> 2;
    this.f32.copyWithin(y.byteOffset >> 2, from, from + n); // memmove on the whole memory: no view made
  }

  protected zeroImpl(n: number, x: Float32Array): void {
    x.fill(0, 0, n);
  }

  protected axpyImpl(n: number, a: number, x: Float32Array, y: Float32Array): void {
    for (let i = 0; i < n; i++) y[i] += a * x[i];
  }

  protected scaleImpl(n: number, a: number, x: Float32Array): void {
    for (let i = 0; i < n; i++) x[i] *= a;
  }

  protected mulImpl(n: number, a: Float32Array, b: Float32Array, out: Float32Array): void {
    for (let i = 0; i < n; i++) out[i] = a[i] * b[i];
  }

  protected mulAddImpl(n: number, a: Float32Array, b: Float32Array, out: Float32Array): void {
    for (let i = 0; i < n; i++) out[i] += a[i] * b[i];
  }

  protected sumSquaresImpl(n: number, x: Float32Array): number {
    let s = 0;
    for (let i = 0; i < n; i++) s += x[i] * x[i];
    return s;
  }

  protected reluForwardImpl(n: number, x: Float32Array, y: Float32Array): void {
    for (let i = 0; i < n; i++) y[i] = x[i] < 0 ? 0 : x[i];
  }

  protected reluBackwardImpl(n: number, y: Float32Array, dy: Float32Array, dx: Float32Array): void {
    for (let i = 0; i < n; i++) if (y[i] > 0) dx[i] += dy[i];
  }

  // ---- optimizer updates -------------------------------------------------------------------

  protected adamwImpl(
    n: number, grad: Float32Array, m: Float32Array, v: Float32Array, param: Float32Array,
    gscale: number, beta1: number, beta2: number, eps: number, keep: number, step: number, rbc2: number,
  ): void {
    for (let i = 0; i < n; i++) {
      const g = grad[i] * gscale;
      const mi = (m[i] = beta1 * m[i] + (1 - beta1) * g);
      const vi = (v[i] = beta2 * v[i] + (1 - beta2) * g * g);
      param[i] = param[i] * keep - (step * mi) / (Math.sqrt(vi) * rbc2 + eps);
    }
  }

  protected adagradImpl(n: number, grad: Float32Array, acc: Float32Array, param: Float32Array, gscale: number, lr: number, eps: number, decay: number): void {
    for (let i = 0; i < n; i++) {
      const g = grad[i] * gscale + decay * param[i];
      const a = (acc[i] += g * g);
      param[i] -= (lr * g) / (Math.sqrt(a) + eps);
    }
  }

  // ---- softmax -----------------------------------------------------------------------------

  protected softmaxCrossEntropyImpl(
    rows: number, V: number, logits: Float32Array, targets: Int32Array,
    losses: Float32Array, dlogits: Float32Array | null, scale: number,
  ): number {
    let total = 0;
    for (let r = 0; r < rows; r++) {
      const o = r * V;
      const t = targets[r];
      if (t < 0) {
        losses[r] = 0;
        if (dlogits) dlogits.fill(0, o, o + V);
        continue;
      }
      const m = rowMax(logits, o, V);
      const xt = logits[o + t]; // read before dlogits (which may alias logits) is written
      let sum = 0;
      if (dlogits) {
        for (let j = 0; j < V; j++) sum += dlogits[o + j] = Math.exp(logits[o + j] - m);
        const k = scale / sum;
        for (let j = 0; j < V; j++) dlogits[o + j] *= k;
        dlogits[o + t] -= scale;
      } else {
        for (let j = 0; j < V; j++) sum += Math.exp(logits[o + j] - m);
      }
      const loss = Math.log(sum) + m - xt;
      losses[r] = loss;
      total += loss;
    }
    return total;
  }

  protected logSoftmaxImpl(rows: number, V: number, x: Float32Array): void {
    for (let r = 0; r < rows; r++) {
      const o = r * V;
      const m = rowMax(x, o, V);
      let sum = 0;
      for (let j = 0; j < V; j++) sum += Math.exp(x[o + j] - m);
      const lse = m + Math.log(sum);
      for (let j = 0; j < V; j++) x[o + j] -= lse;
    }
  }

  // ---- embeddings --------------------------------------------------------------------------

  protected embeddingGatherImpl(rows: number, D: number, table: Float32Array, ids: Int32Array, out: Float32Array): void {
    // copyWithin on the whole-memory view: a memmove per row, no temporary views.
    const t0 = table.byteOffset >> 2;
    const o0 = out.byteOffset >> 2;
    for (let r = 0; r < rows; r++) {
      const src = t0 + ids[r] * D;
      this.f32.copyWithin(o0 + r * D, src, src + D);
    }
  }

  protected embeddingScatterAddImpl(rows: number, D: number, dtable: Float32Array, ids: Int32Array, d: Float32Array): void {
    for (let r = 0; r < rows; r++) {
      const dst = ids[r] * D;
      for (let j = 0, src = r * D; j < D; j++) dtable[dst + j] += d[src + j];
    }
  }
}

/** x[o..o+n) *= beta; beta 0 writes zeros (so NaN in x does not survive, as in BLAS). */
function scaleRow(n: number, beta: number, x: Float32Array, o: number): void {
  if (beta === 1) return;
  if (beta === 0) x.fill(0, o, o + n);
  else for (let j = 0; j < n; j++) x[o + j] *= beta;
}

/** max of x[o..o+n); a NaN there is caught later, as exp(NaN) makes the sum NaN. */
function rowMax(x: Float32Array, o: number, n: number): number {
  let m = -Infinity;
  for (let j = 0; j < n; j++) if (x[o + j] > m) m = x[o + j];
  return m;
}
