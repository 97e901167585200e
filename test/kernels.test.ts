// The numeric core: every backend against plain float64 references (gemm, gemv) and against the
// TypeScript backend (everything else), on odd sizes that exercise every SIMD tail and packing
// edge. Each wasm backend also runs on 3 threads with every call split, however small, so that
// the ranges the threads take are checked on the same odd shapes (test/threads.test.ts checks
// that they give the single-thread bits). Tolerances come from float32 arithmetic: a sum of K products carries a rounding error of
// at most about K·2⁻²⁴·Σ|a·b| (we allow 1e-5·Σ|a·b|, far above what blocked sums show in
// practice, and far below any indexing bug); the wasm exp/tanh/sigmoid approximations are within
// a few ulp of float64 Math (measured below, asserted with margin).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  availableKernelBackends,
  createJsKernels,
  createKernels,
  floatsFor,
  type KernelBackend,
  type KernelOptions,
  type Kernels,
} from '../src/neural/kernels/index.js';
import { ThreadedWasmKernels } from '../src/neural/kernels/threaded.js';

// ---- helpers --------------------------------------------------------------------------------

/** mulberry32: a small seeded PRNG, so failures reproduce. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function fill(x: Float32Array | Int32Array, rand: () => number, lo = -1, hi = 1): void {
  for (let i = 0; i < x.length; i++) x[i] = lo + (hi - lo) * rand();
}

/** A fresh allocation holding a copy of src (so inputs are identical across backends). */
function copyInto(k: Kernels, src: Float32Array): Float32Array {
  const out = k.alloc(src.length);
  out.set(src);
  return out;
}

function copyIntoInt(k: Kernels, src: Int32Array): Int32Array {
  const out = k.allocInt32(src.length);
  out.set(src);
  return out;
}

function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, abs: number, rel: number, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i], e = expected[i];
    if (!(Math.abs(a - e) <= abs + rel * Math.abs(e))) {
      assert.fail(`${what}: element ${i} is ${a}, expected ${e} (|diff| ${Math.abs(a - e)} > ${abs} + ${rel}·|e|)`);
    }
  }
}

const backendsPromise = availableKernelBackends();
const MEM = 1 << 21; // floats per Kernels in these tests (8 MiB)

/** Every backend on one thread, and each wasm backend on 3 threads (more than this machine may have cores). */
async function configurations(): Promise<{ label: string; options: KernelOptions }[]> {
  const out: { label: string; options: KernelOptions }[] = [];
  for (const backend of await backendsPromise) out.push({ label: backend, options: { backend } });
  for (const backend of await backendsPromise) if (backend !== 'js') out.push({ label: `${backend} on 3 threads`, options: { backend, threads: 3 } });
  return out;
}

/**
 * Kernels for a configuration; threaded ones split every call, so that small test shapes split
 * too, and leave the workers their share of the chunks.
 */
async function kernelsFor(capacity: number, options: KernelOptions): Promise<Kernels> {
  const k = await createKernels(capacity, options);
  await k.ready;
  if (k instanceof ThreadedWasmKernels) {
    k.splitMin = { product: 0, rows: 0, elements: 0 };
    k.callerSteals = false;
  }
  return k;
}

async function eachBackend(fn: (k: Kernels, b: string) => void | Promise<void>): Promise<void> {
  for (const { label, options } of await configurations()) {
    const k = await kernelsFor(MEM, options);
    try {
      await fn(k, label);
    } finally {
      k.close();
    }
  }
}

/**
 * float64 reference for C = alpha·op(A)·op(B) + beta·C; also returns, per element, the scale of
 * its rounding error: Σ_k |alpha·a·b| + |beta·c|.
 */
function gemmRef(
  tA: boolean, tB: boolean, M: number, N: number, K: number, alpha: number,
  A: Float32Array, B: Float32Array, beta: number, C: Float32Array, lda: number, ldb: number, ldc: number,
): { C: Float64Array; scale: Float64Array } {
  const out = Float64Array.from(C);
  const scale = new Float64Array(C.length);
  for (let i = 0; i < M; i++) {
    for (let j = 0; j < N; j++) {
      let s = 0, sa = 0;
      for (let p = 0; p < K; p++) {
        const prod = (tA ? A[p * lda + i] : A[i * lda + p]) * (tB ? B[j * ldb + p] : B[p * ldb + j]);
        s += prod;
        sa += Math.abs(prod);
      }
      const c = C[i * ldc + j];
      out[i * ldc + j] = alpha * s + (beta === 0 ? 0 : beta * c);
      scale[i * ldc + j] = Math.abs(alpha) * sa + (beta === 0 ? 0 : Math.abs(beta * c));
    }
  }
  return { C: out, scale };
}

// ---- gemm -----------------------------------------------------------------------------------

/** [M, N, K] cases: tails of 4 and 8, one row/column, K across the 256-deep blocks, M across the 128-row blocks. */
const GEMM_SHAPES: [number, number, number][] = [
  [1, 1, 1], [1, 7, 5], [1, 33, 300], [5, 1, 9], [2, 3, 4], [4, 8, 16], [7, 13, 11],
  [9, 17, 33], [20, 24, 20], [13, 9, 257], [6, 40, 517], [131, 10, 7], [3, 70, 1], [8, 8, 0],
];

test('gemm agrees with a float64 reference: all transposes, odd shapes, strides, alpha/beta', async () => {
  const rand = rng(1);
  await eachBackend((k, b) => {
    for (const [M, N, K] of GEMM_SHAPES) {
      for (const tA of [false, true]) {
        for (const tB of [false, true]) {
          for (const [alpha, beta, padded] of [[1, 0, false], [-0.5, 1, true], [2, 0.25, false], [1, 1, false], [0.75, -1.5, true]] as const) {
            // Padded strides leave gaps between rows; the gaps must come out untouched.
            const pad = padded ? 3 : 0;
            const lda = (tA ? M : K) + pad, ldb = (tB ? K : N) + pad, ldc = N + pad;
            const A = k.alloc(Math.max(1, (tA ? K : M) * lda));
            const B = k.alloc(Math.max(1, (tB ? N : K) * ldb));
            const C = k.alloc(M * ldc);
            fill(A, rand);
            fill(B, rand);
            fill(C, rand);
            const C0 = Float32Array.from(C);
            const ref = gemmRef(tA, tB, M, N, K, alpha, A, B, beta, C0, lda, ldb, ldc);
            k.gemm(tA, tB, M, N, K, alpha, A, B, beta, C, lda, ldb, ldc);
            const what = `${b} gemm ${tA ? 'T' : 'N'}${tB ? 'T' : 'N'} ${M}×${N}×${K} α=${alpha} β=${beta} pad=${pad}`;
            for (let i = 0; i < C.length; i++) {
              const inC = i % ldc < N;
              const tol = inC ? 1e-5 * ref.scale[i] + 1e-7 : 0;
              if (!(Math.abs(C[i] - ref.C[i]) <= tol)) {
                assert.fail(`${what}: C[${Math.floor(i / ldc)}][${i % ldc}] is ${C[i]}, expected ${ref.C[i]}${inC ? '' : ' (stride gap must not change)'}`);
              }
            }
          }
        }
      }
    }
  });
});

test('gemm with beta = 0 ignores NaN in C, and default strides are the packed widths', async () => {
  await eachBackend((k, b) => {
    const [M, N, K] = [6, 11, 9];
    const rand = rng(2);
    const A = k.alloc(K * M), B = k.alloc(N * K), C = k.alloc(M * N);
    fill(A, rand);
    fill(B, rand);
    C.fill(NaN);
    k.gemm(true, true, M, N, K, 1, A, B, 0, C);
    const ref = gemmRef(true, true, M, N, K, 1, A, B, 0, new Float32Array(M * N), M, K, N);
    assertClose(C, ref.C, 1e-5, 1e-5, `${b} gemm TT β=0 over NaN`);
    // alpha = 0 and K = 0: C = beta·C only.
    C.fill(2);
    k.gemm(false, false, M, N, K, 0, A, B, 0.5, C);
    assert.ok(C.every((v) => v === 1), `${b}: alpha 0 scales C by beta`);
  });
});

test('gemm on subarray views uses their offsets', async () => {
  await eachBackend((k, b) => {
    const rand = rng(3);
    const big = k.alloc(1000);
    fill(big, rand);
    const A = big.subarray(3, 3 + 5 * 7), B = big.subarray(101, 101 + 7 * 9), C = big.subarray(517, 517 + 5 * 9);
    const ref = gemmRef(false, false, 5, 9, 7, 1, A, B, 0, C, 7, 9, 9);
    k.gemm(false, false, 5, 9, 7, 1, A, B, 0, C);
    assertClose(C, ref.C, 1e-6, 1e-5, `${b} gemm on subarrays`);
  });
});

test('gemm at model sizes agrees across backends (20×200·200×1000 and its backward products)', async () => {
  const rand = rng(4);
  const [Bt, H, V] = [20, 200, 1000];
  const X = new Float32Array(Bt * H), W = new Float32Array(H * V), dY = new Float32Array(Bt * V);
  fill(X, rand);
  fill(W, rand, -0.1, 0.1);
  fill(dY, rand, -0.01, 0.01);
  const results: Float32Array[][] = [];
  for (const { options } of await configurations()) {
    const k = await kernelsFor(floatsFor(Bt * H, H * V, Bt * V, Bt * V, H * V, Bt * H), options);
    const x = copyInto(k, X), w = copyInto(k, W), dy = copyInto(k, dY);
    const y = k.alloc(Bt * V), dW = k.alloc(H * V), dX = k.alloc(Bt * H);
    k.gemm(false, false, Bt, V, H, 1, x, w, 0, y); // Y = X·W
    k.gemm(true, false, H, V, Bt, 1, x, dy, 0, dW); // dW = Xᵀ·dY
    k.gemm(false, true, Bt, H, V, 1, dy, w, 0, dX); // dX = dY·Wᵀ
    results.push([y, dW, dX]);
    k.close();
  }
  for (let r = 1; r < results.length; r++) {
    for (let t = 0; t < 3; t++) assertClose(results[r][t], results[0][t], 2e-5, 1e-4, `product ${t} of backend ${r}`);
  }
});

// ---- gemv -----------------------------------------------------------------------------------

test('gemv agrees with a float64 reference', async () => {
  const rand = rng(5);
  await eachBackend((k, b) => {
    for (const [M, N] of [[1, 1], [3, 5], [4, 4], [9, 13], [17, 200], [200, 31]]) {
      for (const trans of [false, true]) {
        for (const [alpha, beta] of [[1, 0], [0.5, 1], [-2, 0.3]]) {
          const A = k.alloc(M * N), x = k.alloc(trans ? M : N), y = k.alloc(trans ? N : M);
          fill(A, rand);
          fill(x, rand);
          fill(y, rand);
          // gemv(A) is gemm with A as op(A) and x as a column: y = op(A)·x.
          const ref = trans
            ? gemmRef(true, false, N, 1, M, alpha, A, x, beta, Float32Array.from(y), N, 1, 1)
            : gemmRef(false, false, M, 1, N, alpha, A, x, beta, Float32Array.from(y), N, 1, 1);
          k.gemv(trans, M, N, alpha, A, x, beta, y);
          for (let i = 0; i < y.length; i++) {
            assert.ok(Math.abs(y[i] - ref.C[i]) <= 1e-5 * ref.scale[i] + 1e-7, `${b} gemv ${trans ? 'T' : 'N'} ${M}×${N} α=${alpha} β=${beta}: y[${i}] = ${y[i]}, expected ${ref.C[i]}`);
          }
        }
      }
    }
  });
});

// ---- elementwise ----------------------------------------------------------------------------

/** Runs `op` on the JS backend and on k with identical inputs, returns both outputs. */
type Op = (k: Kernels, a: Float32Array, b: Float32Array, c: Float32Array) => void;

test('elementwise kernels agree with the TypeScript reference on every length mod 4', async () => {
  const ops: [string, Op, number, number][] = [
    // name, op, abs tolerance, rel tolerance
    ['addBias', (k, _a, b, c) => k.addBias(3, 11, c.subarray(0, 33), b.subarray(0, 11)), 1e-7, 1e-7],
    ['sumRows', (k, a, _b, c) => k.sumRows(3, 11, a.subarray(0, 33), c.subarray(0, 11)), 1e-6, 1e-6],
    ['tanhForward', (k, a, _b, c) => k.tanhForward(a.length, a, c), 1e-7, 5e-7],
    ['tanhForward in place', (k, a) => k.tanhForward(a.length, a, a), 1e-7, 5e-7],
    ['tanhBackward', (k, a, b, c) => k.tanhBackward(a.length, a, b, c), 1e-7, 1e-6],
    ['sigmoidForward', (k, a, _b, c) => k.sigmoidForward(a.length, a, c), 2e-7, 3e-7],
    ['sigmoidBackward', (k, a, b, c) => k.sigmoidBackward(a.length, a, b, c), 1e-7, 1e-6],
    ['axpy', (k, a, _b, c) => k.axpy(a.length, -0.7, a, c), 2e-7, 1e-6],
    ['scale', (k, a) => k.scale(a.length, 1.3, a), 0, 2.5e-7], // wasm rounds a to float32 first
    ['mul', (k, a, b, c) => k.mul(a.length, a, b, c), 0, 1e-7],
    ['mul in place', (k, a, b) => k.mul(a.length, a, b, a), 0, 1e-7],
    ['mulAdd', (k, a, b, c) => k.mulAdd(a.length, a, b, c), 1e-7, 1e-6],
    ['reluForward', (k, a, _b, c) => k.reluForward(a.length, a, c), 0, 0],
    ['reluForward in place', (k, a) => k.reluForward(a.length, a, a), 0, 0],
    ['reluBackward', (k, a, b, c) => k.reluBackward(a.length, a, b, c), 0, 0],
    ['copy', (k, a, _b, c) => k.copy(a.length, a, c), 0, 0],
    ['zero', (k, _a, _b, c) => k.zero(c.length, c), 0, 0],
  ];
  const ref = createJsKernels(1 << 18);
  const rand = rng(6);
  await eachBackend((k, backend) => {
    for (const n of [33, 34, 35, 36, 1, 0]) {
      const a0 = new Float32Array(Math.max(n, 33)), b0 = new Float32Array(a0.length), c0 = new Float32Array(a0.length);
      fill(a0, rand, -4, 4);
      fill(b0, rand);
      fill(c0, rand);
      for (const [name, op, abs, rel] of ops) {
        const len = name === 'addBias' || name === 'sumRows' ? a0.length : n;
        const inputs = (kk: Kernels) => [copyInto(kk, a0.subarray(0, len)), copyInto(kk, b0.subarray(0, len)), copyInto(kk, c0.subarray(0, len))];
        const r = inputs(ref), w = inputs(k);
        op(ref, r[0], r[1], r[2]);
        op(k, w[0], w[1], w[2]);
        for (let t = 0; t < 3; t++) assertClose(w[t], r[t], abs, rel, `${backend} ${name} n=${n} array ${t}`);
      }
    }
  });
});

test('relu keeps NaN and drops the gradient where the output is 0', async () => {
  await eachBackend((k, b) => {
    const x = copyInto(k, Float32Array.of(-2, 0, 3, NaN, -0.5, 7, 1e-30, -1e-30, 5));
    const y = k.alloc(9);
    k.reluForward(9, x, y);
    assert.deepEqual(Array.from(y), [0, 0, 3, NaN, 0, 7, 1e-30, 0, 5].map(Math.fround), b);
    const dy = copyInto(k, new Float32Array(9).fill(2)), dx = copyInto(k, new Float32Array(9).fill(1));
    k.reluBackward(9, y, dy, dx);
    assert.deepEqual(Array.from(dx), [1, 1, 3, 1, 1, 3, 3, 1, 3], b);
  });
});

/** float64 reference of one AdamW step per element (PyTorch's formula, the caller's constants). */
function adamwRef(g: number, m: number, v: number, p: number, s: number, b1: number, b2: number, eps: number, keep: number, step: number, rbc2: number): [number, number, number] {
  const gg = g * s;
  const m1 = b1 * m + (1 - b1) * gg;
  const v1 = b2 * v + (1 - b2) * gg * gg;
  return [m1, v1, p * keep - (step * m1) / (Math.sqrt(v1) * rbc2 + eps)];
}

test('adamw and adagrad: fused updates agree with float64 formulas on every length mod 4; grad untouched', async () => {
  const rand = rng(12);
  await eachBackend((k, b) => {
    for (const n of [37, 38, 39, 40, 1, 0]) {
      const g0 = new Float32Array(n), m0 = new Float32Array(n), v0 = new Float32Array(n), p0 = new Float32Array(n);
      fill(g0, rand, -3, 3);
      fill(m0, rand, -0.1, 0.1);
      fill(v0, rand, 0, 0.01);
      fill(p0, rand);
      const grad = copyInto(k, g0), m = copyInto(k, m0), v = copyInto(k, v0), p = copyInto(k, p0);
      const [s, b1, b2, eps, keep, step, rbc2] = [0.4, 0.9, 0.98, 1e-8, 0.9999, 1e-3 / (1 - 0.9 ** 3), 1 / Math.sqrt(1 - 0.98 ** 3)];
      k.adamw(n, grad, m, v, p, s, b1, b2, eps, keep, step, rbc2);
      assert.deepEqual(grad, g0, `${b} adamw leaves grad`);
      for (let i = 0; i < n; i++) {
        const [em, ev, ep] = adamwRef(g0[i]!, m0[i]!, v0[i]!, p0[i]!, s, b1, b2, eps, keep, step, rbc2);
        assertClose([m[i]!, v[i]!, p[i]!], [em, ev, ep], 1e-7, 2e-6, `${b} adamw n=${n} element ${i}`);
      }
      // Adagrad: g = s·grad + λθ, acc += g², θ −= η·g/(√acc + ε).
      const acc = copyInto(k, v0), q = copyInto(k, p0);
      k.adagrad(n, grad, acc, q, s, 0.1, 1e-10, 0.01);
      for (let i = 0; i < n; i++) {
        const gg = g0[i]! * s + 0.01 * p0[i]!;
        const a = v0[i]! + gg * gg;
        assertClose([acc[i]!, q[i]!], [a, p0[i]! - (0.1 * gg) / (Math.sqrt(a) + 1e-10)], 1e-7, 2e-6, `${b} adagrad n=${n} element ${i}`);
      }
    }
  });
});

test('copy moves overlapping ranges as memmove does; zero writes zeros, also over NaN', async () => {
  await eachBackend((k, b) => {
    const x = k.alloc(40);
    for (let i = 0; i < 40; i++) x[i] = i;
    k.copy(30, x, x.subarray(5)); // forward overlap
    assert.deepEqual(Array.from(x.subarray(5, 35)), Array.from({ length: 30 }, (_, i) => i), `${b}: copy forward`);
    k.copy(30, x.subarray(5), x); // backward overlap
    assert.deepEqual(Array.from(x.subarray(0, 30)), Array.from({ length: 30 }, (_, i) => i), `${b}: copy backward`);
    x.fill(NaN);
    k.zero(37, x);
    assert.ok(x.subarray(0, 37).every((v) => Object.is(v, 0)) && Number.isNaN(x[37]), `${b}: zero writes +0 over exactly n values`);
    assert.throws(() => k.copy(41, x, x), /has 40 elements, the call needs 41/);
  });
});

test('sumSquares accumulates in float64', async () => {
  await eachBackend((k, b) => {
    const n = 100003;
    const x = k.alloc(n);
    const rand = rng(7);
    fill(x, rand);
    let ref = 0;
    for (let i = 0; i < n; i++) ref += x[i] * x[i];
    assert.ok(Math.abs(k.sumSquares(n, x) - ref) <= 1e-6 * ref, `${b} sumSquares`);
    assert.equal(k.sumSquares(0, x), 0);
  });
});

test('tanh within 7 ulp and sigmoid within 3 ulp of float64 Math over their whole range', async () => {
  await eachBackend((k, b) => {
    const n = 1 << 16;
    const x = k.alloc(n), y = k.alloc(n);
    for (let i = 0; i < n; i++) x[i] = -12 + (24 * i) / n;
    x[0] = 1e-30;
    k.tanhForward(n, x, y);
    assert.equal(y[0], x[0], `${b}: tanh of a tiny input is the input, not 0`);
    let worst = 0;
    for (let i = 0; i < n; i++) worst = Math.max(worst, Math.abs(y[i] - Math.tanh(x[i])) / Math.max(Math.abs(Math.tanh(x[i])), 2 ** -24));
    // Rational approximation: measured 2.9e-7 (fused madd) and 3.9e-7 (separate mul and add).
    assert.ok(worst < 5e-7, `${b} tanh relative error ${worst}`);
    for (let i = 0; i < n; i++) x[i] = -40 + (80 * i) / n;
    k.sigmoidForward(n, x, y);
    worst = 0;
    for (let i = 0; i < n; i++) worst = Math.max(worst, Math.abs(y[i] - 1 / (1 + Math.exp(-x[i]))) * (1 + Math.exp(-x[i])));
    // exp-based: measured 1.9e-7.
    assert.ok(worst < 3e-7, `${b} sigmoid relative error ${worst}`);
    // NaN propagates (so a diverging model is noticed), ±inf saturate.
    x.set([NaN, Infinity, -Infinity, 0]);
    k.tanhForward(4, x, y);
    const t = Array.from(y.subarray(0, 4));
    assert.ok(Number.isNaN(t[0]) && t[3] === 0, `${b} tanh(NaN), tanh(0)`);
    assert.ok(Math.abs(t[1] - 1) < 2.5e-7 && Math.abs(t[2] + 1) < 2.5e-7, `${b} tanh(±inf) = ${t[1]}, ${t[2]}`);
    k.sigmoidForward(4, x, y);
    const s = Array.from(y.subarray(0, 4));
    assert.ok(Number.isNaN(s[0]) && s[1] === 1 && s[2] < 1e-37 && s[3] === 0.5, `${b} sigmoid special values ${s}`);
  });
});

// ---- softmax --------------------------------------------------------------------------------

test('softmaxCrossEntropy agrees with the reference: losses, dlogits, ignored rows, in place', async () => {
  const ref = createJsKernels(1 << 18); // shared by every configuration
  const rand = rng(8);
  await eachBackend((k, b) => {
    for (const [rows, V] of [[1, 1], [3, 7], [5, 37], [4, 1000]]) {
      const logits0 = new Float32Array(rows * V);
      fill(logits0, rand, -20, 20);
      const targets0 = Int32Array.from({ length: rows }, (_, r) => (r === 1 ? -1 : Math.floor(rand() * V)));
      const run = (kk: Kernels, inPlace: boolean) => {
        const logits = copyInto(kk, logits0), targets = copyIntoInt(kk, targets0), losses = kk.alloc(rows);
        const d = inPlace ? logits : kk.alloc(rows * V).fill(123); // overwritten, whatever was there
        const total = kk.softmaxCrossEntropy(rows, V, logits, targets, losses, d, 0.5);
        const lossOnly = kk.alloc(rows);
        const total2 = kk.softmaxCrossEntropy(rows, V, copyInto(kk, logits0), targets, lossOnly, null, 0.5);
        assert.equal(total2, total, `${kk.backend} ${rows}×${V} in place ${inPlace}: with and without dlogits`);
        return { total, losses, d };
      };
      for (const inPlace of [false, true]) {
        const r = run(ref, inPlace), w = run(k, inPlace);
        const what = `${b} softmaxCrossEntropy ${rows}×${V}${inPlace ? ' in place' : ''}`;
        assert.ok(Math.abs(w.total - r.total) <= 1e-5 * (1 + Math.abs(r.total)), `${what}: total ${w.total} vs ${r.total}`);
        assertClose(w.losses, r.losses, 1e-5, 1e-6, `${what} losses`);
        assertClose(w.d, r.d, 1e-7, 1e-5, `${what} dlogits`);
        if (rows > 1) {
          assert.equal(w.losses[1], 0, `${what}: an ignored row has no loss`);
          assert.ok(w.d.subarray(V, 2 * V).every((v) => v === 0), `${what}: an ignored row has no gradient`);
        }
      }
    }
  });
});

test('softmaxCrossEntropy gradient matches finite differences', async () => {
  await eachBackend((k, b) => {
    const [rows, V] = [2, 9];
    const rand = rng(9);
    const logits = k.alloc(rows * V), d = k.alloc(rows * V), losses = k.alloc(rows);
    const targets = k.allocInt32(rows);
    fill(logits, rand, -3, 3);
    targets.set([4, 0]);
    const scale = 0.5; // loss reported unscaled, gradient scaled: d = scale·∂(Σ loss)/∂logits
    k.softmaxCrossEntropy(rows, V, logits, targets, losses, d, scale);
    const h = 1e-2;
    for (let i = 0; i < rows * V; i++) {
      const x = logits[i];
      logits[i] = x + h;
      const up = k.softmaxCrossEntropy(rows, V, logits, targets, losses, null, 1);
      logits[i] = x - h;
      const down = k.softmaxCrossEntropy(rows, V, logits, targets, losses, null, 1);
      logits[i] = x;
      const fd = (scale * (up - down)) / (2 * h);
      assert.ok(Math.abs(fd - d[i]) < 5e-4, `${b}: ∂loss/∂logit[${i}] is ${d[i]}, finite difference ${fd}`);
    }
  });
});

test('softmaxCrossEntropy is stable for large logits and reports NaN logits as NaN', async () => {
  await eachBackend((k, b) => {
    const logits = k.alloc(4), losses = k.alloc(1), d = k.alloc(4), t = k.allocInt32(1);
    logits.set([1000, 999, -1000, 0]);
    const loss = k.softmaxCrossEntropy(1, 4, logits, t, losses, d, 1);
    assert.ok(Math.abs(loss - Math.log(1 + Math.exp(-1))) < 1e-6, `${b}: loss ${loss}`);
    logits[2] = NaN;
    assert.ok(Number.isNaN(k.softmaxCrossEntropy(1, 4, logits, t, losses, d, 1)), `${b}: NaN logit → NaN loss`);
  });
});

test('logSoftmax agrees with the reference and its exponentials sum to 1', async () => {
  const ref = createJsKernels(1 << 18); // shared by every configuration
  const rand = rng(10);
  await eachBackend((k, b) => {
    for (const [rows, V] of [[1, 1], [2, 5], [3, 1001]]) {
      const x0 = new Float32Array(rows * V);
      fill(x0, rand, -30, 30);
      const r = copyInto(ref, x0), w = copyInto(k, x0);
      ref.logSoftmax(rows, V, r);
      k.logSoftmax(rows, V, w);
      assertClose(w, r, 2e-6, 1e-6, `${b} logSoftmax ${rows}×${V}`);
      for (let row = 0; row < rows; row++) {
        let s = 0;
        for (let j = 0; j < V; j++) s += Math.exp(w[row * V + j]);
        assert.ok(Math.abs(s - 1) < 1e-5, `${b} logSoftmax row ${row} sums to ${s}`);
      }
    }
  });
});

// ---- embeddings -----------------------------------------------------------------------------

test('embeddingGather and embeddingScatterAdd (repeated ids accumulate)', async () => {
  await eachBackend((k, b) => {
    const [rows, D, V] = [6, 13, 5];
    const rand = rng(11);
    const table = k.alloc(V * D), out = k.alloc(rows * D), dtable = k.alloc(V * D), d = k.alloc(rows * D);
    const ids = k.allocInt32(rows);
    fill(table, rand);
    fill(d, rand);
    ids.set([4, 0, 2, 4, 4, 1]);
    k.embeddingGather(rows, D, table, ids, out);
    for (let r = 0; r < rows; r++) assert.deepEqual(out.subarray(r * D, r * D + D), table.subarray(ids[r] * D, ids[r] * D + D), `${b} gather row ${r}`);
    k.embeddingScatterAdd(rows, D, dtable, ids, d);
    const expected = new Float32Array(V * D);
    for (let r = 0; r < rows; r++) for (let j = 0; j < D; j++) expected[ids[r] * D + j] += d[r * D + j];
    assertClose(dtable, expected, 1e-7, 1e-6, `${b} scatter-add`);
    ids[2] = V;
    assert.throws(() => k.embeddingGather(rows, D, table, ids, out), /id 5 at row 2 is outside \[0, 5\)/);
    ids[2] = -1;
    assert.throws(() => k.embeddingScatterAdd(rows, D, dtable, ids, d), /id -1 at row 2/);
  });
});

// ---- memory and backend choice --------------------------------------------------------------

test('alloc: 16-byte aligned, zero-filled, fixed capacity with a clear error', async () => {
  for (const { label: b, options } of await configurations()) {
    const k = await createKernels(100, options);
    assert.equal(k.capacityFloats, 100);
    assert.equal(k.freeFloats, 100);
    const a = k.alloc(3), i = k.allocInt32(5), c = k.alloc(0);
    for (const v of [a, i, c]) assert.equal(v.byteOffset % 16, 0, `${b}: aligned`);
    assert.ok(a.every((x) => x === 0) && i.every((x) => x === 0), `${b}: zero-filled`);
    assert.equal(k.freeFloats, 100 - 4 - 8);
    assert.throws(() => k.alloc(89), /alloc\(89\): out of kernel memory: 88 of 100 floats free/);
    assert.equal(k.alloc(88).length, 88);
    assert.equal(k.freeFloats, 0);
    assert.throws(() => k.alloc(-1), /non-negative integer/);
    // Arrays from elsewhere are refused rather than read as garbage.
    assert.throws(() => k.scale(3, 2, new Float32Array(3)), /not a view of this kernels' memory/);
    assert.throws(() => k.scale(4, 2, a), /has 3 elements, the call needs 4/);
    k.close();
  }
  assert.equal(floatsFor(3, 5, 0, 8), 20);
  // More than 32-bit WebAssembly can address: a clear error, not a crash.
  if ((await backendsPromise)[0] !== 'js') await assert.rejects(createKernels(2 ** 30), /cannot reserve 4096 MiB of WebAssembly memory/);
});

test('auto picks the fastest backend; relaxed SIMD is enabled on Node; js can be forced', async () => {
  const available = await backendsPromise;
  assert.equal(available.at(-1), 'js');
  if (typeof process !== 'undefined' && process.versions.node) {
    // Node ≥ 20 validates relaxed SIMD once the V8 flag is set (Node ≥ 22 without it).
    assert.deepEqual(available, ['wasm-relaxed-simd', 'wasm-simd', 'js']);
  }
  assert.equal((await createKernels(16)).backend, available[0]);
  assert.equal((await createKernels(16, { backend: 'auto' })).backend, available[0]);
  assert.equal((await createKernels(16, { backend: 'js' })).backend, 'js');
  assert.equal(createJsKernels(16).backend, 'js');
  if (available.includes('wasm-simd')) assert.equal((await createKernels(16, { backend: 'wasm-simd' })).backend, 'wasm-simd');
  await assert.rejects(createKernels(16, { backend: 'cuda' as KernelBackend }), /unknown backend 'cuda'/);
});
