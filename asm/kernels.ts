// Float32 kernels for kotoba's neural models, in AssemblyScript.
//
// scripts/build-wasm.mjs compiles this file twice: once with SIMD128 and once with relaxed SIMD,
// where `madd` becomes a fused multiply-add (f32x4.relaxed_madd). The memory is imported: the
// TypeScript side (src/neural/kernels/wasm.ts) owns it, never grows it, and passes every tensor
// as a byte offset into it. Nothing here allocates; the only memory written besides the
// caller's tensors is the packing scratch area handed over once through `setScratch`.
//
// Conventions: row-major float32, pointers are byte offsets (usize), leading dimensions are in
// elements. Loops handle any size; SIMD bodies run on groups of 4 (or 8) and scalar tails finish.

// ---------------------------------------------------------------------------------------------
// Helpers

/** a·b + c; fused (one rounding) in the relaxed build, which is what makes it faster. */
// @ts-ignore: decorator
@inline function madd(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_madd(a, b, c);
  return f32x4.add(f32x4.mul(a, b), c);
}

// @ts-ignore: decorator
@inline function hsum(v: v128): f32 {
  return f32x4.extract_lane(v, 0) + f32x4.extract_lane(v, 1) + f32x4.extract_lane(v, 2) + f32x4.extract_lane(v, 3);
}

// @ts-ignore: decorator
@inline function hmax(v: v128): f32 {
  return max(max(f32x4.extract_lane(v, 0), f32x4.extract_lane(v, 1)), max(f32x4.extract_lane(v, 2), f32x4.extract_lane(v, 3)));
}

// @ts-ignore: decorator
@inline function imin(a: i32, b: i32): i32 {
  return a < b ? a : b;
}

/** Byte offset of element i of a float32/int32 array at p. */
// @ts-ignore: decorator
@inline function at(p: usize, i: i32): usize {
  return p + (<usize>i << 2);
}

// ---------------------------------------------------------------------------------------------
// exp / tanh / sigmoid, vectorised.
//
// Clamps use pmin/pmax (one minps/maxps on x86) rather than min/max, whose NaN and ±0 rules
// cost V8 several instructions each: that alone made these kernels twice as fast. With x as the
// first operand, pmin(x, c) and pmax(x, c) still return x when x is NaN, so NaN propagates and a
// diverging model still shows NaN.
//
// exp: Cody–Waite range reduction x = n·ln2 + r, |r| ≤ ln2/2, Cephes' degree-6 polynomial for
// e^r (expf.c), and 2^n built in the exponent bits. Inputs are clamped to [-87.33, 88] so 2^n
// stays a normal float: below the clamp the result is e^-87.33 ≈ 1.2e-38 instead of a denormal
// or 0, above it e^88 ≈ 1.6e38 instead of inf. Max relative error against float64 Math.exp:
// about 1.2e-7 (2 ulp), asserted in test/kernels.test.ts through sigmoid and log-softmax.

// @ts-ignore: decorator
@inline function expv(x0: v128): v128 {
  const x = f32x4.pmin(f32x4.pmax(x0, f32x4.splat(-87.33654)), f32x4.splat(88.0));
  // Round x·log2e to an integer n by adding 1.5·2^23: the sum's low mantissa bits then hold n
  // (cheaper than nearest + trunc_sat, which V8 expands into a long sequence).
  const magic = f32x4.splat(12582912.0);
  const t = madd(x, f32x4.splat(1.44269504088896341), magic);
  const n = f32x4.sub(t, magic);
  // ln2 split in a part exact in few bits and a small correction, so n·ln2_hi is exact.
  let r = madd(n, f32x4.splat(-0.693359375), x);
  r = madd(n, f32x4.splat(2.12194440e-4), r);
  let p = f32x4.splat(1.9875691500e-4);
  p = madd(p, r, f32x4.splat(1.3981999507e-3));
  p = madd(p, r, f32x4.splat(8.3334519073e-3));
  p = madd(p, r, f32x4.splat(4.1665795894e-2));
  p = madd(p, r, f32x4.splat(1.6666665459e-1));
  p = madd(p, r, f32x4.splat(5.0000001201e-1));
  p = madd(p, f32x4.mul(r, r), f32x4.add(r, f32x4.splat(1.0)));
  // 2^n: t's bits are 0x4B400000 + n; shifted left by 23 the constant part falls off the top,
  // leaving n in the exponent field, to which the bias 127 is added.
  const twoN = i32x4.add(i32x4.shl(t, 23), i32x4.splat(0x3f800000));
  return f32x4.mul(p, twoN);
}

// tanh: the odd rational approximation x·P(x²)/Q(x²) (degrees 13/6) that Eigen and XLA use for
// float32, on x clamped to ±7.9988 (where it reaches 1), and x itself for |x| < 0.0004. One
// division and no exp: 2.4× faster than 1 − 2/(e^{2x} + 1) with a polynomial near 0. Max
// relative error against float64 Math.tanh: 2.9e-7 with fused madd, 3.9e-7 without (≤ 7 ulp).
// @ts-ignore: decorator
@inline function tanhv(x0: v128): v128 {
  const x = f32x4.pmin(f32x4.pmax(x0, f32x4.splat(-7.99881172180175781)), f32x4.splat(7.99881172180175781));
  const x2 = f32x4.mul(x, x);
  let p = f32x4.splat(-2.76076847742355e-16);
  p = madd(p, x2, f32x4.splat(2.00018790482477e-13));
  p = madd(p, x2, f32x4.splat(-8.60467152213735e-11));
  p = madd(p, x2, f32x4.splat(5.12229709037114e-8));
  p = madd(p, x2, f32x4.splat(1.48572235717979e-5));
  p = madd(p, x2, f32x4.splat(6.37261928875436e-4));
  p = madd(p, x2, f32x4.splat(4.89352455891786e-3));
  p = f32x4.mul(p, x);
  let q = f32x4.splat(1.19825839466702e-6);
  q = madd(q, x2, f32x4.splat(1.18534705686654e-4));
  q = madd(q, x2, f32x4.splat(2.268434632439e-3));
  q = madd(q, x2, f32x4.splat(4.89352518554385e-3));
  const tiny = f32x4.lt(f32x4.abs(x), f32x4.splat(0.0004));
  return v128.bitselect(x, f32x4.div(p, q), tiny);
}

// sigmoid = 1 / (1 + e^{-x}); relative error follows exp's.
// @ts-ignore: decorator
@inline function sigmoidv(x: v128): v128 {
  const one = f32x4.splat(1.0);
  return f32x4.div(one, f32x4.add(one, expv(f32x4.neg(x))));
}

// Scalar versions run the same vector code on one lane, so tails give bit-identical results.
// @ts-ignore: decorator
@inline function exps(x: f32): f32 {
  return f32x4.extract_lane(expv(f32x4.splat(x)), 0);
}

// ---------------------------------------------------------------------------------------------
// Scratch for packing (set once by the host; lies inside the imported memory).

// Block sizes: a packed KC×8 strip of B (8 KiB) stays in L1 while every 4-row panel of the
// packed MC×KC block of A (128 KiB, in L2) streams past it.
const KC: i32 = 256;
const MC: i32 = 128;
const PACK_A_FLOATS: i32 = MC * KC;
const PACK_B_FLOATS: i32 = KC * 8;
const TILE_FLOATS: i32 = 32;
/** Largest span of B rows (bytes) read in place instead of packed: about the L2 size. */
const DIRECT_B_BYTES: usize = 1 << 20;

let packA: usize = 0; // MC×KC floats: panels of 4 rows, k-major inside a panel
let packB: usize = 0; // KC×8 floats: one strip of 8 columns, k-major
let tile: usize = 0; // 4×8 floats for edge tiles
let vecTmp: usize = 0; // up to `vecTmpFloats` floats, for gathering a strided vector
let vecTmpFloats: i32 = 0;

/** Float32 count the host must reserve for scratch, not counting the strided-vector area. */
export function scratchFloats(): i32 {
  return PACK_A_FLOATS + PACK_B_FLOATS + TILE_FLOATS;
}

/** First byte the host may use (after static data). */
export function heapBase(): usize {
  return __heap_base;
}

/** Hands over the scratch area: `floats` float32s at byte offset `ptr` (16-byte aligned). */
export function setScratch(ptr: usize, floats: i32): void {
  packA = ptr;
  packB = at(packA, PACK_A_FLOATS);
  tile = at(packB, PACK_B_FLOATS);
  vecTmp = at(tile, TILE_FLOATS);
  vecTmpFloats = floats - scratchFloats();
}

// ---------------------------------------------------------------------------------------------
// GEMM: C(M×N) = alpha·op(A)·op(B) + beta·C.

/** Writes the 4×4 transpose of rows r0..r3 to dst, dst + step, dst + 2·step, dst + 3·step. */
// @ts-ignore: decorator
@inline function transpose4(r0: v128, r1: v128, r2: v128, r3: v128, dst: usize, step: usize): void {
  const t0 = f32x4.shuffle(r0, r1, 0, 4, 1, 5);
  const t1 = f32x4.shuffle(r2, r3, 0, 4, 1, 5);
  const t2 = f32x4.shuffle(r0, r1, 2, 6, 3, 7);
  const t3 = f32x4.shuffle(r2, r3, 2, 6, 3, 7);
  v128.store(dst, f32x4.shuffle(t0, t1, 0, 1, 4, 5));
  v128.store(dst + step, f32x4.shuffle(t0, t1, 2, 3, 6, 7));
  v128.store(dst + 2 * step, f32x4.shuffle(t2, t3, 0, 1, 4, 5));
  v128.store(dst + 3 * step, f32x4.shuffle(t2, t3, 2, 3, 6, 7));
}

/**
 * Packs rows i0..i0+mc of op(A), columns k0..k0+kc, times alpha, into panels of 4 rows:
 * packA[p·kc·4 + k·4 + r] = alpha·op(A)[i0 + 4p + r][k0 + k]; rows past mc are zero.
 */
function packABlock(transA: bool, A: usize, lda: i32, i0: i32, mc: i32, k0: i32, kc: i32, alpha: f32): void {
  const va = f32x4.splat(alpha);
  for (let p = 0; p < mc; p += 4) {
    const dst = at(packA, p * kc);
    const mr = imin(4, mc - p);
    if (transA) {
      // A is K×M: the 4 values of one k are adjacent in memory.
      let src = at(A, k0 * lda + i0 + p);
      const step = <usize>lda << 2;
      if (mr == 4) {
        for (let k = 0; k < kc; k++) {
          v128.store(dst + (<usize>k << 4), f32x4.mul(v128.load(src), va));
          src += step;
        }
      } else {
        for (let k = 0; k < kc; k++) {
          const d = dst + (<usize>k << 4);
          for (let r = 0; r < 4; r++) store<f32>(d + (<usize>r << 2), r < mr ? alpha * load<f32>(src + (<usize>r << 2)) : 0);
          src += step;
        }
      }
    } else {
      // A is M×K: read 4 rows along k, transpose 4×4 blocks.
      const row0 = at(A, (i0 + p) * lda + k0);
      const ldaB = <usize>lda << 2;
      if (mr == 4) {
        let k = 0;
        for (; k + 4 <= kc; k += 4) {
          const s = row0 + (<usize>k << 2);
          transpose4(
            f32x4.mul(v128.load(s), va), f32x4.mul(v128.load(s + ldaB), va),
            f32x4.mul(v128.load(s + 2 * ldaB), va), f32x4.mul(v128.load(s + 3 * ldaB), va),
            dst + (<usize>k << 4), 16,
          );
        }
        for (; k < kc; k++) {
          const s = row0 + (<usize>k << 2);
          const d = dst + (<usize>k << 4);
          store<f32>(d, alpha * load<f32>(s));
          store<f32>(d, alpha * load<f32>(s + ldaB), 4);
          store<f32>(d, alpha * load<f32>(s + 2 * ldaB), 8);
          store<f32>(d, alpha * load<f32>(s + 3 * ldaB), 12);
        }
      } else {
        for (let k = 0; k < kc; k++) {
          const s = row0 + (<usize>k << 2);
          const d = dst + (<usize>k << 4);
          for (let r = 0; r < 4; r++) store<f32>(d + (<usize>r << 2), r < mr ? alpha * load<f32>(s + <usize>r * ldaB) : 0);
        }
      }
    }
  }
}

/** Packs columns j0..j0+nr (nr ≤ 8) of op(B), rows k0..k0+kc: packB[k·8 + c]; columns past nr are zero. */
function packBStrip(transB: bool, B: usize, ldb: i32, j0: i32, nr: i32, k0: i32, kc: i32): void {
  const dst = packB;
  const ldbB = <usize>ldb << 2;
  if (!transB) {
    // B is K×N: each k contributes 8 adjacent floats.
    let src = at(B, k0 * ldb + j0);
    if (nr == 8) {
      for (let k = 0; k < kc; k++) {
        const d = dst + (<usize>k << 5);
        v128.store(d, v128.load(src));
        v128.store(d, v128.load(src, 16), 16);
        src += ldbB;
      }
    } else {
      for (let k = 0; k < kc; k++) {
        const d = dst + (<usize>k << 5);
        for (let c = 0; c < 8; c++) store<f32>(d + (<usize>c << 2), c < nr ? load<f32>(src + (<usize>c << 2)) : 0);
        src += ldbB;
      }
    }
  } else {
    // B is N×K: 8 rows read along k, transposed 4×4 at a time.
    const row0 = at(B, j0 * ldb + k0);
    if (nr == 8) {
      let k = 0;
      for (; k + 4 <= kc; k += 4) {
        const s = row0 + (<usize>k << 2);
        const d = dst + (<usize>k << 5);
        transpose4(v128.load(s), v128.load(s + ldbB), v128.load(s + 2 * ldbB), v128.load(s + 3 * ldbB), d, 32);
        const s4 = s + 4 * ldbB;
        transpose4(v128.load(s4), v128.load(s4 + ldbB), v128.load(s4 + 2 * ldbB), v128.load(s4 + 3 * ldbB), d + 16, 32);
      }
      for (; k < kc; k++) {
        const s = row0 + (<usize>k << 2);
        const d = dst + (<usize>k << 5);
        for (let c = 0; c < 8; c++) store<f32>(d + (<usize>c << 2), load<f32>(s + <usize>c * ldbB));
      }
    } else {
      for (let k = 0; k < kc; k++) {
        const s = row0 + (<usize>k << 2);
        const d = dst + (<usize>k << 5);
        for (let c = 0; c < 8; c++) store<f32>(d + (<usize>c << 2), c < nr ? load<f32>(s + <usize>c * ldbB) : 0);
      }
    }
  }
}

/**
 * The 4×8 register tile: acc = Σ_k pa[k][0..4]ᵀ · pb[k][0..8] over kc steps, pb advancing by
 * pbStep bytes per k (32 when packed, B's row stride when read in place) (8 accumulators,
 * 2 B vectors, 1 broadcast A value: 11 of x86's 16 vector registers), then
 * C[0..4][0..8] = acc + beta·C (beta 0: C is not read, so garbage or NaN there is ignored).
 */
// @ts-ignore: decorator
@inline function kernel4x8(kc: i32, pa: usize, pb: usize, pbStep: usize, c: usize, ldcB: usize, beta: f32): void {
  let c00 = f32x4.splat(0), c01 = f32x4.splat(0);
  let c10 = f32x4.splat(0), c11 = f32x4.splat(0);
  let c20 = f32x4.splat(0), c21 = f32x4.splat(0);
  let c30 = f32x4.splat(0), c31 = f32x4.splat(0);
  for (let k = 0; k < kc; k++) {
    const b0 = v128.load(pb);
    const b1 = v128.load(pb, 16);
    let a = v128.load32_splat(pa);
    c00 = madd(a, b0, c00);
    c01 = madd(a, b1, c01);
    a = v128.load32_splat(pa, 4);
    c10 = madd(a, b0, c10);
    c11 = madd(a, b1, c11);
    a = v128.load32_splat(pa, 8);
    c20 = madd(a, b0, c20);
    c21 = madd(a, b1, c21);
    a = v128.load32_splat(pa, 12);
    c30 = madd(a, b0, c30);
    c31 = madd(a, b1, c31);
    pa += 16;
    pb += pbStep;
  }
  const c1 = c + ldcB, c2 = c1 + ldcB, c3 = c2 + ldcB;
  if (beta == 0) {
    v128.store(c, c00); v128.store(c, c01, 16);
    v128.store(c1, c10); v128.store(c1, c11, 16);
    v128.store(c2, c20); v128.store(c2, c21, 16);
    v128.store(c3, c30); v128.store(c3, c31, 16);
  } else if (beta == 1) {
    v128.store(c, f32x4.add(v128.load(c), c00)); v128.store(c, f32x4.add(v128.load(c, 16), c01), 16);
    v128.store(c1, f32x4.add(v128.load(c1), c10)); v128.store(c1, f32x4.add(v128.load(c1, 16), c11), 16);
    v128.store(c2, f32x4.add(v128.load(c2), c20)); v128.store(c2, f32x4.add(v128.load(c2, 16), c21), 16);
    v128.store(c3, f32x4.add(v128.load(c3), c30)); v128.store(c3, f32x4.add(v128.load(c3, 16), c31), 16);
  } else {
    const vb = f32x4.splat(beta);
    v128.store(c, madd(v128.load(c), vb, c00)); v128.store(c, madd(v128.load(c, 16), vb, c01), 16);
    v128.store(c1, madd(v128.load(c1), vb, c10)); v128.store(c1, madd(v128.load(c1, 16), vb, c11), 16);
    v128.store(c2, madd(v128.load(c2), vb, c20)); v128.store(c2, madd(v128.load(c2, 16), vb, c21), 16);
    v128.store(c3, madd(v128.load(c3), vb, c30)); v128.store(c3, madd(v128.load(c3, 16), vb, c31), 16);
  }
}

/** A full tile straight into C. Kept out of line so the one copy of the loop is register-allocated once. */
function fullTile(kc: i32, pa: usize, pb: usize, pbStep: usize, c: usize, ldcB: usize, beta: f32): void {
  kernel4x8(kc, pa, pb, pbStep, c, ldcB, beta);
}

/** An edge tile (mr < 4 or nr < 8): computed into the scratch tile, then the valid part merged into C. */
function edgeTile(kc: i32, pa: usize, pb: usize, pbStep: usize, c: usize, ldcB: usize, beta: f32, mr: i32, nr: i32): void {
  kernel4x8(kc, pa, pb, pbStep, tile, 32, 0);
  for (let r = 0; r < mr; r++) {
    const crow = c + <usize>r * ldcB;
    const trow = tile + (<usize>r << 5);
    for (let j = 0; j < nr; j++) {
      const cp = crow + (<usize>j << 2);
      const v = load<f32>(trow + (<usize>j << 2));
      store<f32>(cp, beta == 0 ? v : v + beta * load<f32>(cp));
    }
  }
}

/** C = beta·C over M×N (beta 0 writes zeros, so NaN in C does not survive, as in BLAS). */
function scaleMatrix(M: i32, N: i32, beta: f32, C: usize, ldc: i32): void {
  if (beta == 1) return;
  for (let i = 0; i < M; i++) {
    const row = at(C, i * ldc);
    if (beta == 0) memory.fill(row, 0, <usize>N << 2);
    else scaleVec(N, beta, row);
  }
}

export function gemm(
  transA: bool, transB: bool, M: i32, N: i32, K: i32,
  alpha: f32, A: usize, B: usize, beta: f32, C: usize,
  lda: i32, ldb: i32, ldc: i32,
): void {
  if (M <= 0 || N <= 0) return;
  if (K <= 0 || alpha == 0) {
    scaleMatrix(M, N, beta, C, ldc);
    return;
  }
  if (M == 1 && (!transA || lda == 1 || K <= vecTmpFloats)) {
    gemmRow(transA, transB, N, K, alpha, A, B, beta, C, lda, ldb);
    return;
  }
  const ldcB = <usize>ldc << 2;
  const ldbB = <usize>ldb << 2;
  for (let k0 = 0; k0 < K; k0 += KC) {
    const kc = imin(KC, K - k0);
    // beta applies once, with the first block of K; later blocks accumulate.
    const b: f32 = k0 == 0 ? beta : 1;
    for (let i0 = 0; i0 < M; i0 += MC) {
      const mc = imin(MC, M - i0);
      packABlock(transA, A, lda, i0, mc, k0, kc, alpha);
      for (let j0 = 0; j0 < N; j0 += 8) {
        const nr = imin(8, N - j0);
        // Untransposed B whose block fits in L2 is read in place (8 floats per row, stride ldb);
        // a larger one is packed, as its strided rows would miss the TLB and the prefetcher.
        const direct = !transB && nr == 8 && <usize>kc * ldbB <= DIRECT_B_BYTES;
        if (!direct) packBStrip(transB, B, ldb, j0, nr, k0, kc);
        const pb = direct ? at(B, k0 * ldb + j0) : packB;
        const pbStep: usize = direct ? ldbB : 32;
        for (let ir = 0; ir < mc; ir += 4) {
          const mr = imin(4, mc - ir);
          const pa = at(packA, ir * kc);
          const c = at(C, (i0 + ir) * ldc + j0);
          if (mr == 4 && nr == 8) fullTile(kc, pa, pb, pbStep, c, ldcB, b);
          else edgeTile(kc, pa, pb, pbStep, c, ldcB, b, mr, nr);
        }
      }
    }
  }
}

/**
 * M = 1 (one row, e.g. generation): packing would cost as much as the product, so this is a
 * matrix-vector product over B straight from memory. A strided row (transA) is gathered first.
 */
function gemmRow(transA: bool, transB: bool, N: i32, K: i32, alpha: f32, A: usize, B: usize, beta: f32, C: usize, lda: i32, ldb: i32): void {
  let x = A;
  if (transA && lda != 1) {
    for (let k = 0; k < K; k++) store<f32>(at(vecTmp, k), load<f32>(at(A, k * lda)));
    x = vecTmp;
  }
  if (transB) gemvN(N, K, alpha, B, ldb, x, beta, C); // C[j] = Σ_k B[j][k]·x[k]
  else gemvT(K, N, alpha, B, ldb, x, beta, C); // C[j] = Σ_k B[k][j]·x[k]
}

// ---------------------------------------------------------------------------------------------
// GEMV

/** [Σ s0, Σ s1, Σ s2, Σ s3]: four horizontal sums at once (a transpose and three adds). */
// @ts-ignore: decorator
@inline function hsum4(s0: v128, s1: v128, s2: v128, s3: v128): v128 {
  const u0 = f32x4.add(f32x4.shuffle(s0, s1, 0, 4, 1, 5), f32x4.shuffle(s0, s1, 2, 6, 3, 7));
  const u1 = f32x4.add(f32x4.shuffle(s2, s3, 0, 4, 1, 5), f32x4.shuffle(s2, s3, 2, 6, 3, 7));
  return f32x4.add(f32x4.shuffle(u0, u1, 0, 1, 4, 5), f32x4.shuffle(u0, u1, 2, 3, 6, 7));
}

/** Dot products of columns j..N of 4 rows (r0, stride ldaB) with x: the scalar tail of gemvN. */
// @ts-ignore: decorator
@inline function tail4(r0: usize, ldaB: usize, j: i32, N: i32, x: usize): v128 {
  let d0: f32 = 0, d1: f32 = 0, d2: f32 = 0, d3: f32 = 0;
  for (; j < N; j++) {
    const o = <usize>j << 2;
    const xj = load<f32>(x + o);
    d0 += load<f32>(r0 + o) * xj;
    d1 += load<f32>(r0 + ldaB + o) * xj;
    d2 += load<f32>(r0 + 2 * ldaB + o) * xj;
    d3 += load<f32>(r0 + 3 * ldaB + o) * xj;
  }
  return f32x4.replace_lane(f32x4.replace_lane(f32x4.replace_lane(f32x4.splat(d0), 1, d1), 2, d2), 3, d3);
}

/** y[0..4) = alpha·d + beta·y (beta 0: y not read). */
// @ts-ignore: decorator
@inline function storeY4(y: usize, d: v128, alpha: f32, beta: f32): void {
  const v = f32x4.mul(d, f32x4.splat(alpha));
  v128.store(y, beta == 0 ? v : madd(v128.load(y), f32x4.splat(beta), v));
}

/**
 * y(M) = alpha·A(M×N, row stride lda)·x + beta·y. Eight rows at a time share each load of x
 * (9 loads per 8 madds instead of 2 per 1), and their sums are reduced together.
 */
function gemvN(M: i32, N: i32, alpha: f32, A: usize, lda: i32, x: usize, beta: f32, y: usize): void {
  const ldaB = <usize>lda << 2;
  const n4 = N & ~3;
  let i = 0;
  for (; i + 8 <= M; i += 8) {
    const r0 = at(A, i * lda), r1 = r0 + ldaB, r2 = r1 + ldaB, r3 = r2 + ldaB;
    const r4 = r3 + ldaB, r5 = r4 + ldaB, r6 = r5 + ldaB, r7 = r6 + ldaB;
    let s0 = f32x4.splat(0), s1 = f32x4.splat(0), s2 = f32x4.splat(0), s3 = f32x4.splat(0);
    let s4 = f32x4.splat(0), s5 = f32x4.splat(0), s6 = f32x4.splat(0), s7 = f32x4.splat(0);
    for (let j = 0; j < n4; j += 4) {
      const o = <usize>j << 2;
      const xv = v128.load(x + o);
      s0 = madd(v128.load(r0 + o), xv, s0);
      s1 = madd(v128.load(r1 + o), xv, s1);
      s2 = madd(v128.load(r2 + o), xv, s2);
      s3 = madd(v128.load(r3 + o), xv, s3);
      s4 = madd(v128.load(r4 + o), xv, s4);
      s5 = madd(v128.load(r5 + o), xv, s5);
      s6 = madd(v128.load(r6 + o), xv, s6);
      s7 = madd(v128.load(r7 + o), xv, s7);
    }
    let d0 = hsum4(s0, s1, s2, s3), d1 = hsum4(s4, s5, s6, s7);
    if (n4 < N) {
      d0 = f32x4.add(d0, tail4(r0, ldaB, n4, N, x));
      d1 = f32x4.add(d1, tail4(r4, ldaB, n4, N, x));
    }
    storeY4(at(y, i), d0, alpha, beta);
    storeY4(at(y, i + 4), d1, alpha, beta);
  }
  for (; i + 4 <= M; i += 4) {
    const r0 = at(A, i * lda), r1 = r0 + ldaB, r2 = r1 + ldaB, r3 = r2 + ldaB;
    let s0 = f32x4.splat(0), s1 = f32x4.splat(0), s2 = f32x4.splat(0), s3 = f32x4.splat(0);
    for (let j = 0; j < n4; j += 4) {
      const o = <usize>j << 2;
      const xv = v128.load(x + o);
      s0 = madd(v128.load(r0 + o), xv, s0);
      s1 = madd(v128.load(r1 + o), xv, s1);
      s2 = madd(v128.load(r2 + o), xv, s2);
      s3 = madd(v128.load(r3 + o), xv, s3);
    }
    let d0 = hsum4(s0, s1, s2, s3);
    if (n4 < N) d0 = f32x4.add(d0, tail4(r0, ldaB, n4, N, x));
    storeY4(at(y, i), d0, alpha, beta);
  }
  for (; i < M; i++) {
    const r0 = at(A, i * lda);
    let s0 = f32x4.splat(0);
    for (let j = 0; j < n4; j += 4) {
      const o = <usize>j << 2;
      s0 = madd(v128.load(r0 + o), v128.load(x + o), s0);
    }
    let d0 = hsum(s0);
    for (let j = n4; j < N; j++) d0 += load<f32>(at(r0, j)) * load<f32>(at(x, j));
    const yp = at(y, i);
    store<f32>(yp, beta == 0 ? alpha * d0 : alpha * d0 + beta * load<f32>(yp));
  }
}

/** y(N) = alpha·A(M×N, row stride lda)ᵀ·x + beta·y: y += (alpha·x[i])·A[i] for 4 rows per pass over y. */
function gemvT(M: i32, N: i32, alpha: f32, A: usize, lda: i32, x: usize, beta: f32, y: usize): void {
  if (beta == 0) memory.fill(y, 0, <usize>N << 2);
  else if (beta != 1) scaleVec(N, beta, y);
  const ldaB = <usize>lda << 2;
  let i = 0;
  for (; i + 4 <= M; i += 4) {
    const r0 = at(A, i * lda), r1 = r0 + ldaB, r2 = r1 + ldaB, r3 = r2 + ldaB;
    const xp = at(x, i);
    const s0 = alpha * load<f32>(xp), s1 = alpha * load<f32>(xp, 4), s2 = alpha * load<f32>(xp, 8), s3 = alpha * load<f32>(xp, 12);
    const a0 = f32x4.splat(s0), a1 = f32x4.splat(s1), a2 = f32x4.splat(s2), a3 = f32x4.splat(s3);
    let j = 0;
    for (; j + 4 <= N; j += 4) {
      const o = <usize>j << 2;
      let acc = v128.load(y + o);
      acc = madd(v128.load(r0 + o), a0, acc);
      acc = madd(v128.load(r1 + o), a1, acc);
      acc = madd(v128.load(r2 + o), a2, acc);
      acc = madd(v128.load(r3 + o), a3, acc);
      v128.store(y + o, acc);
    }
    for (; j < N; j++) {
      const o = <usize>j << 2;
      store<f32>(y + o, load<f32>(y + o) + s0 * load<f32>(r0 + o) + s1 * load<f32>(r1 + o) + s2 * load<f32>(r2 + o) + s3 * load<f32>(r3 + o));
    }
  }
  for (; i < M; i++) axpyVec(N, alpha * load<f32>(at(x, i)), at(A, i * lda), y);
}

export function gemv(trans: bool, M: i32, N: i32, alpha: f32, A: usize, x: usize, beta: f32, y: usize): void {
  if (M <= 0 || N <= 0) {
    // An empty product: y = beta·y over y's length (N rows of A... none), as BLAS does.
    const len = trans ? N : M;
    if (len > 0) {
      if (beta == 0) memory.fill(y, 0, <usize>len << 2);
      else if (beta != 1) scaleVec(len, beta, y);
    }
    return;
  }
  if (trans) gemvT(M, N, alpha, A, N, x, beta, y);
  else gemvN(M, N, alpha, A, N, x, beta, y);
}

// ---------------------------------------------------------------------------------------------
// Vector kernels

function scaleVec(n: i32, a: f32, x: usize): void {
  const va = f32x4.splat(a);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const p = at(x, i);
    v128.store(p, f32x4.mul(v128.load(p), va));
  }
  for (; i < n; i++) store<f32>(at(x, i), a * load<f32>(at(x, i)));
}

function axpyVec(n: i32, a: f32, x: usize, y: usize): void {
  const va = f32x4.splat(a);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    v128.store(y + o, madd(v128.load(x + o), va, v128.load(y + o)));
  }
  for (; i < n; i++) store<f32>(at(y, i), load<f32>(at(y, i)) + a * load<f32>(at(x, i)));
}

/** y = x over n floats (memmove). */
export function copy(n: i32, x: usize, y: usize): void {
  memory.copy(y, x, <usize>n << 2);
}

/** x = 0 over n floats. */
export function zero(n: i32, x: usize): void {
  memory.fill(x, 0, <usize>n << 2);
}

export function scale(n: i32, a: f32, x: usize): void {
  scaleVec(n, a, x);
}

export function axpy(n: i32, a: f32, x: usize, y: usize): void {
  axpyVec(n, a, x, y);
}

export function mul(n: i32, a: usize, b: usize, out: usize): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    v128.store(out + o, f32x4.mul(v128.load(a + o), v128.load(b + o)));
  }
  for (; i < n; i++) store<f32>(at(out, i), load<f32>(at(a, i)) * load<f32>(at(b, i)));
}

export function mulAdd(n: i32, a: usize, b: usize, out: usize): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    v128.store(out + o, madd(v128.load(a + o), v128.load(b + o), v128.load(out + o)));
  }
  for (; i < n; i++) store<f32>(at(out, i), load<f32>(at(out, i)) + load<f32>(at(a, i)) * load<f32>(at(b, i)));
}

/** Σ x², accumulated in float64 per block of 1024 so long vectors (all parameters) keep precision. */
export function sumSquares(n: i32, x: usize): f64 {
  let total: f64 = 0;
  let i = 0;
  while (i < n) {
    const end = imin(n, i + 1024);
    // Four accumulators: one would wait on the previous madd's latency every step.
    let s0 = f32x4.splat(0), s1 = f32x4.splat(0), s2 = f32x4.splat(0), s3 = f32x4.splat(0);
    for (; i + 16 <= end; i += 16) {
      const p = at(x, i);
      const v0 = v128.load(p), v1 = v128.load(p, 16), v2 = v128.load(p, 32), v3 = v128.load(p, 48);
      s0 = madd(v0, v0, s0);
      s1 = madd(v1, v1, s1);
      s2 = madd(v2, v2, s2);
      s3 = madd(v3, v3, s3);
    }
    let t: f64 = <f64>hsum(f32x4.add(f32x4.add(s0, s1), f32x4.add(s2, s3)));
    for (; i < end; i++) {
      const v = <f64>load<f32>(at(x, i));
      t += v * v;
    }
    total += t;
  }
  return total;
}

export function addBias(rows: i32, cols: i32, out: usize, bias: usize): void {
  for (let r = 0; r < rows; r++) {
    const row = at(out, r * cols);
    let c = 0;
    for (; c + 4 <= cols; c += 4) {
      const o = <usize>c << 2;
      v128.store(row + o, f32x4.add(v128.load(row + o), v128.load(bias + o)));
    }
    for (; c < cols; c++) store<f32>(at(row, c), load<f32>(at(row, c)) + load<f32>(at(bias, c)));
  }
}

export function sumRows(rows: i32, cols: i32, d: usize, dbias: usize): void {
  for (let r = 0; r < rows; r++) {
    const row = at(d, r * cols);
    let c = 0;
    for (; c + 4 <= cols; c += 4) {
      const o = <usize>c << 2;
      v128.store(dbias + o, f32x4.add(v128.load(dbias + o), v128.load(row + o)));
    }
    for (; c < cols; c++) store<f32>(at(dbias, c), load<f32>(at(dbias, c)) + load<f32>(at(row, c)));
  }
}

export function tanhForward(n: i32, x: usize, y: usize): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) v128.store(at(y, i), tanhv(v128.load(at(x, i))));
  for (; i < n; i++) store<f32>(at(y, i), f32x4.extract_lane(tanhv(f32x4.splat(load<f32>(at(x, i)))), 0));
}

export function tanhBackward(n: i32, y: usize, dy: usize, dx: usize): void {
  const one = f32x4.splat(1.0);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    const yv = v128.load(y + o);
    const g = f32x4.mul(v128.load(dy + o), f32x4.sub(one, f32x4.mul(yv, yv)));
    v128.store(dx + o, f32x4.add(v128.load(dx + o), g));
  }
  for (; i < n; i++) {
    const yi = load<f32>(at(y, i));
    store<f32>(at(dx, i), load<f32>(at(dx, i)) + load<f32>(at(dy, i)) * (1 - yi * yi));
  }
}

export function sigmoidForward(n: i32, x: usize, y: usize): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) v128.store(at(y, i), sigmoidv(v128.load(at(x, i))));
  for (; i < n; i++) store<f32>(at(y, i), f32x4.extract_lane(sigmoidv(f32x4.splat(load<f32>(at(x, i)))), 0));
}

export function sigmoidBackward(n: i32, y: usize, dy: usize, dx: usize): void {
  const one = f32x4.splat(1.0);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    const yv = v128.load(y + o);
    const g = f32x4.mul(v128.load(dy + o), f32x4.mul(yv, f32x4.sub(one, yv)));
    v128.store(dx + o, f32x4.add(v128.load(dx + o), g));
  }
  for (; i < n; i++) {
    const yi = load<f32>(at(y, i));
    store<f32>(at(dx, i), load<f32>(at(dx, i)) + load<f32>(at(dy, i)) * yi * (1 - yi));
  }
}

// ---------------------------------------------------------------------------------------------
// Softmax

function rowMax(V: i32, x: usize): f32 {
  let m = f32x4.splat(-Infinity);
  let j = 0;
  for (; j + 4 <= V; j += 4) m = f32x4.pmax(m, v128.load(at(x, j)));
  let s = hmax(m);
  // pmax skips a NaN, but exp(NaN − m) then makes the row's sum, and so its loss, NaN.
  for (; j < V; j++) s = max(s, load<f32>(at(x, j)));
  return s;
}

/** Σ exp(x − m); if out ≠ 0 also writes exp(x − m) there. Two accumulators hide the add latency. */
function expSum(V: i32, x: usize, m: f32, out: usize): f64 {
  const vm = f32x4.splat(m);
  let s0 = f32x4.splat(0), s1 = f32x4.splat(0);
  let j = 0;
  if (out != 0) {
    for (; j + 8 <= V; j += 8) {
      const o = <usize>j << 2;
      const e0 = expv(f32x4.sub(v128.load(x + o), vm));
      const e1 = expv(f32x4.sub(v128.load(x + o, 16), vm));
      v128.store(out + o, e0);
      v128.store(out + o, e1, 16);
      s0 = f32x4.add(s0, e0);
      s1 = f32x4.add(s1, e1);
    }
  } else {
    for (; j + 8 <= V; j += 8) {
      const o = <usize>j << 2;
      s0 = f32x4.add(s0, expv(f32x4.sub(v128.load(x + o), vm)));
      s1 = f32x4.add(s1, expv(f32x4.sub(v128.load(x + o, 16), vm)));
    }
  }
  let total: f64 = <f64>hsum(f32x4.add(s0, s1));
  for (; j < V; j++) {
    const e = exps(load<f32>(at(x, j)) - m);
    if (out != 0) store<f32>(at(out, j), e);
    total += <f64>e;
  }
  return total;
}

/**
 * Row-wise softmax cross-entropy (see src/neural/kernels/types.ts). Returns Σ losses in row order;
 * with rowLoss ≠ 0 also writes each row's float64 loss there, so that threads that each take a
 * range of rows leave the host to sum them in the same order (the same total for any split).
 */
export function softmaxCrossEntropy(rows: i32, V: i32, logits: usize, targets: usize, losses: usize, dlogits: usize, scale: f32, rowLoss: usize): f64 {
  let total: f64 = 0;
  for (let r = 0; r < rows; r++) {
    const x = at(logits, r * V);
    const t = load<i32>(at(targets, r));
    const d = dlogits != 0 ? at(dlogits, r * V) : 0;
    if (t < 0) {
      // An ignored row: no loss and no gradient.
      store<f32>(at(losses, r), 0);
      if (rowLoss != 0) store<f64>(rowLoss + (<usize>r << 3), 0);
      if (d != 0) memory.fill(d, 0, <usize>V << 2);
      continue;
    }
    const m = rowMax(V, x);
    const xt = load<f32>(at(x, t)); // read before d, which may alias x, is written
    const sum = expSum(V, x, m, d);
    const loss = Math.log(sum) + <f64>m - <f64>xt;
    store<f32>(at(losses, r), <f32>loss);
    if (rowLoss != 0) store<f64>(rowLoss + (<usize>r << 3), loss);
    total += loss;
    if (d != 0) {
      scaleVec(V, <f32>(<f64>scale / sum), d);
      store<f32>(at(d, t), load<f32>(at(d, t)) - scale);
    }
  }
  return total;
}

export function logSoftmax(rows: i32, V: i32, x: usize): void {
  for (let r = 0; r < rows; r++) {
    const row = at(x, r * V);
    const m = rowMax(V, row);
    const lse = <f32>(<f64>m + Math.log(expSum(V, row, m, 0)));
    const vl = f32x4.splat(lse);
    let j = 0;
    for (; j + 4 <= V; j += 4) {
      const p = at(row, j);
      v128.store(p, f32x4.sub(v128.load(p), vl));
    }
    for (; j < V; j++) store<f32>(at(row, j), load<f32>(at(row, j)) - lse);
  }
}

// ---------------------------------------------------------------------------------------------
// Embeddings (ids are checked by the host before the call)

export function embeddingGather(rows: i32, D: i32, table: usize, ids: usize, out: usize): void {
  const bytes = <usize>D << 2;
  for (let r = 0; r < rows; r++) {
    memory.copy(out + <usize>r * bytes, table + <usize>load<i32>(at(ids, r)) * bytes, bytes);
  }
}

export function embeddingScatterAdd(rows: i32, D: i32, dtable: usize, ids: usize, d: usize): void {
  const bytes = <usize>D << 2;
  for (let r = 0; r < rows; r++) {
    const dst = dtable + <usize>load<i32>(at(ids, r)) * bytes;
    const src = d + <usize>r * bytes;
    let j = 0;
    for (; j + 4 <= D; j += 4) {
      const o = <usize>j << 2;
      v128.store(dst + o, f32x4.add(v128.load(dst + o), v128.load(src + o)));
    }
    for (; j < D; j++) store<f32>(at(dst, j), load<f32>(at(dst, j)) + load<f32>(at(src, j)));
  }
}

// ---------------------------------------------------------------------------------------------
// ReLU (the RNN_RELU cell, the Transformer's feed-forward layer)

/** y = max(x, 0); pmax(x, 0) = x < 0 ? 0 : x, so NaN passes through. */
export function reluForward(n: i32, x: usize, y: usize): void {
  const zero = f32x4.splat(0);
  let i = 0;
  for (; i + 4 <= n; i += 4) v128.store(at(y, i), f32x4.pmax(v128.load(at(x, i)), zero));
  for (; i < n; i++) {
    const v = load<f32>(at(x, i));
    store<f32>(at(y, i), v < 0 ? 0 : v);
  }
}

/** dx += dy where y > 0. */
export function reluBackward(n: i32, y: usize, dy: usize, dx: usize): void {
  const zero = f32x4.splat(0);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    const g = v128.and(v128.load(dy + o), f32x4.gt(v128.load(y + o), zero));
    v128.store(dx + o, f32x4.add(v128.load(dx + o), g));
  }
  for (; i < n; i++) {
    if (load<f32>(at(y, i)) > 0) store<f32>(at(dx, i), load<f32>(at(dx, i)) + load<f32>(at(dy, i)));
  }
}

// ---------------------------------------------------------------------------------------------
// Optimizer updates, fused: one pass over parameters, gradients and moments. Plain mul/add (no
// madd) and correctly rounded sqrt and div, so both builds and the scalar tails agree bit for bit.

/**
 * AdamW (Loshchilov & Hutter; PyTorch's torch.optim.AdamW), with the host's constants:
 *   g = gscale·grad;  m = β1·m + (1 − β1)·g;  v = β2·v + (1 − β2)·g²
 *   θ = θ·keep − step·m / (√v·rbc2 + ε)        keep = 1 − lr·λ, step = lr/(1 − β1^t), rbc2 = 1/√(1 − β2^t)
 */
export function adamw(n: i32, grad: usize, m: usize, v: usize, param: usize, gscale: f32, beta1: f32, beta2: f32, eps: f32, keep: f32, step: f32, rbc2: f32): void {
  const vg = f32x4.splat(gscale), vb1 = f32x4.splat(beta1), vb2 = f32x4.splat(beta2);
  const vc1 = f32x4.splat(1 - beta1), vc2 = f32x4.splat(1 - beta2);
  const veps = f32x4.splat(eps), vkeep = f32x4.splat(keep), vstep = f32x4.splat(step), vr = f32x4.splat(rbc2);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    const g = f32x4.mul(v128.load(grad + o), vg);
    const mi = f32x4.add(f32x4.mul(v128.load(m + o), vb1), f32x4.mul(g, vc1));
    const vi = f32x4.add(f32x4.mul(v128.load(v + o), vb2), f32x4.mul(f32x4.mul(g, g), vc2));
    v128.store(m + o, mi);
    v128.store(v + o, vi);
    const denom = f32x4.add(f32x4.mul(f32x4.sqrt(vi), vr), veps);
    const p = f32x4.mul(v128.load(param + o), vkeep);
    v128.store(param + o, f32x4.sub(p, f32x4.div(f32x4.mul(mi, vstep), denom)));
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    const g = load<f32>(grad + o) * gscale;
    const mi = load<f32>(m + o) * beta1 + g * (1 - beta1);
    const vi = load<f32>(v + o) * beta2 + g * g * (1 - beta2);
    store<f32>(m + o, mi);
    store<f32>(v + o, vi);
    store<f32>(param + o, load<f32>(param + o) * keep - (mi * step) / (sqrt<f32>(vi) * rbc2 + eps));
  }
}

/**
 * Adagrad (Duchi et al.; PyTorch's torch.optim.Adagrad, weight decay added to the gradient):
 *   g = gscale·grad + λ·θ;  acc += g²;  θ −= lr·g / (√acc + ε)
 */
export function adagrad(n: i32, grad: usize, acc: usize, param: usize, gscale: f32, lr: f32, eps: f32, decay: f32): void {
  const vg = f32x4.splat(gscale), vlr = f32x4.splat(lr), veps = f32x4.splat(eps), vd = f32x4.splat(decay);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    const p = v128.load(param + o);
    const g = f32x4.add(f32x4.mul(v128.load(grad + o), vg), f32x4.mul(p, vd));
    const a = f32x4.add(v128.load(acc + o), f32x4.mul(g, g));
    v128.store(acc + o, a);
    v128.store(param + o, f32x4.sub(p, f32x4.div(f32x4.mul(g, vlr), f32x4.add(f32x4.sqrt(a), veps))));
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    const p = load<f32>(param + o);
    const g = load<f32>(grad + o) * gscale + p * decay;
    const a = load<f32>(acc + o) + g * g;
    store<f32>(acc + o, a);
    store<f32>(param + o, p - (g * lr) / (sqrt<f32>(a) + eps));
  }
}
