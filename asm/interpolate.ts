// Stage 5 of estimation (interpolation) in AssemblyScript, for modified Kneser-Ney (float32
// arithmetic and glibc's log10f): `interpolateRange` of src/ngram/pipeline.ts step for step (the
// reference, and the fallback for the other smoothers and for linked tables), two to three times
// as fast. scripts/build-wasm.mjs compiles it; src/ngram/interpolate-kernel.ts places a range's
// rows and its arguments in the (imported) memory and takes the MODEL rows back.
//
// Pointers are byte offsets into the memory. The arguments are a table of i32 (see ARGS below);
// per order, the state of the merge joins lives in module globals and the `state` area.

// The argument table (i32 slots):
const A_N = 0; //               the top order N
const A_P1 = 1; //              p(w) as f64, for ids p1Base …
const A_P1_BASE = 2;
const A_FROM = 3; //            the unigrams of the range: ids from … to−1
const A_TO = 4;
const A_TABLES = 5; //          logf's 16 values of 1/c, then 16 of log c (f64)
const A_STATE = 6; //           scratch: next, nextBackoff, kept, known (i32, N+1 each), p (f64, N+1)
const A_UNIGRAMS = 7; //        MODEL rows of order 1 (out)
const A_ORDERS = 8; //          per order k at A_ORDERS + 4k: INITIAL rows, their number, before (0/1), MODEL rows (out)
// then per order j < N at A_ORDERS + 4(N+1) + 2j: BACKOFF rows and their number

const KEPT: u32 = 0x80000000;

let args: usize = 0;
let N: i32 = 0;
let nextAt: usize = 0;
let nextBackoffAt: usize = 0;
let keptAt: usize = 0;
let knownAt: usize = 0;
let pAt: usize = 0;
let tables: usize = 0;
let p1: usize = 0;
let p1Base: u32 = 0;
/** An error: −(1024 · code + order). */
let failure: i32 = 0;

// @ts-ignore: decorator
@inline function arg(i: i32): i32 {
  return load<i32>(args + (<usize>i << 2));
}
// @ts-ignore: decorator
@inline function geti(at: usize, k: i32): i32 {
  return load<i32>(at + (<usize>k << 2));
}
// @ts-ignore: decorator
@inline function seti(at: usize, k: i32, v: i32): void {
  store<i32>(at + (<usize>k << 2), v);
}
// @ts-ignore: decorator
@inline function word(rows: usize, i: i32): u32 {
  return load<u32>(rows + (<usize>i << 2));
}
// @ts-ignore: decorator
@inline function f(x: f64): f64 {
  return <f64><f32>x;
}
// @ts-ignore: decorator
@inline function floatOf(bits: u32): f64 {
  return <f64>reinterpret<f32>(bits);
}
// @ts-ignore: decorator
@inline function p1Of(w: u32): f64 {
  return load<f64>(p1 + (<usize>(w - p1Base) << 3));
}

const LN2: f64 = 0.6931471805599453;
const P0: f64 = -0.25089342214237154;
const P1: f64 = 0.333456765744066;
const P2: f64 = -0.4999997485802103;

/** logf of src/ngram/log10f.ts. */
function logf(x: f64): f64 {
  const ix = reinterpret<u32>(<f32>x);
  if (ix == 0x3f800000) return 0;
  const tmp = ix - 0x3f330000;
  const i = (tmp >> 19) & 15;
  const k = <i32>tmp >> 23;
  const z = floatOf(ix - (tmp & 0xff800000));
  const r = z * load<f64>(tables + (<usize>i << 3)) - 1;
  const y0 = load<f64>(tables + 128 + (<usize>i << 3)) + <f64>k * LN2;
  const r2 = r * r;
  let y = P1 * r + P2;
  y = P0 * r2 + y;
  y = y * r2 + (y0 + r);
  return f(y);
}

/** log10f of src/ngram/log10f.ts, for a positive finite x (the caller checks). */
function log10f(xIn: f64): f64 {
  const x = f(xIn);
  let bits = reinterpret<u32>(<f32>x);
  let k = 0;
  if (bits < 0x00800000) {
    k = -25;
    bits = reinterpret<u32>(<f32>(x * 33554432));
  }
  k += <i32>(bits >> 23) - 127;
  const negative = k < 0 ? 1 : 0;
  const y = f(<f64>(k + negative));
  const m = floatOf((bits & 0x007fffff) | (<u32>(0x7f - negative) << 23));
  const z = f(f(y * floatOf(0x355427db)) + f(floatOf(0x3ede5bd9) * logf(m)));
  return f(z + f(y * floatOf(0x3e9a2080)));
}

/** log10f of a probability or backoff, or a failure (the TypeScript loop then does the range). */
function log10Checked(x: f64): f64 {
  const y = f(x);
  if (!(y > 0) || y == Infinity) {
    failure = -4096;
    return 0;
  }
  return log10f(y);
}

/** log10 γ of order k's n-gram `row` as a context (its BACKOFF row), or 0 when it has none. */
function backoff(k: i32, row: usize): f64 {
  if (k == N) return 0;
  const i = geti(nextBackoffAt, k);
  const at = A_ORDERS + 4 * (N + 1) + 2 * k;
  if (i >= arg(at + 1)) return 0;
  const bw = k + 2;
  const b = <usize>arg(at) + (<usize>(i * bw) << 2);
  for (let j = 0; j < k; j++) if (word(b, j) != word(row, j)) return 0;
  seti(nextBackoffAt, k, i + 1);
  return log10Checked(load<f64>(b + (<usize>k << 2)));
}

/** The next INITIAL row of order k: its probability, and its MODEL row when kept; false at the end. */
function step(k: i32): bool {
  const i = geti(nextAt, k);
  const o = A_ORDERS + 4 * k;
  if (i >= arg(o + 1)) return false;
  seti(nextAt, k, i + 1);
  const W = k + 3;
  const row = <usize>arg(o) + (<usize>(i * W) << 2);
  let lower: f64;
  if (k == 2) {
    lower = p1Of(word(row, 1));
  } else {
    // Advance order k−1 to this row's suffix (words 1 … k−1 here, 0 … k−2 there).
    const d = <usize>arg(o - 4);
    const dw = k + 2;
    for (;;) {
      const c = geti(nextAt, k - 1) - 1;
      if (c >= 0) {
        const lowerRow = d + (<usize>(c * dw) << 2);
        let cmp = 0;
        for (let j = k - 1; j >= 1 && cmp == 0; j--) {
          const a = word(row, j);
          const b = word(lowerRow, j - 1);
          cmp = a < b ? -1 : a > b ? 1 : 0;
        }
        if (cmp == 0 && c == 0 && arg(o - 4 + 2) != 0 && geti(knownAt, k - 1) == 0) {
          failure = -(1024 + k);
          return false;
        }
        if (cmp == 0) break;
        if (cmp < 0) {
          failure = -(2048 + k);
          return false;
        }
      }
      if (!step(k - 1)) {
        if (failure == 0) failure = -(3072 + k);
        return false;
      }
    }
    lower = load<f64>(pAt + (<usize>(k - 1) << 3));
  }
  const alpha = floatOf(word(row, k));
  const gamma = floatOf(word(row, k + 1));
  const prob = f(alpha + f(gamma * lower));
  store<f64>(pAt + (<usize>k << 3), prob);
  const tag = word(row, k + 2);
  const keep = tag >= KEPT;
  const bo = backoff(k, row);
  if (keep) {
    const keptRow = geti(keptAt, k);
    seti(keptAt, k, keptRow + 1);
    const out = <usize>arg(o + 3) + (<usize>(keptRow * (k + 2)) << 2);
    for (let j = 0; j < k; j++) store<u32>(out + (<usize>j << 2), word(row, j));
    store<f32>(out + (<usize>k << 2), <f32>log10Checked(prob));
    store<f32>(out + (<usize>(k + 1) << 2), <f32>bo);
  }
  return failure == 0;
}

/**
 * Interpolates one range (see the argument table above): MODEL rows of every order, their
 * numbers in the state's `kept`. Returns 0, or an error −(1024 · code + order): 1, a suffix before
 * the range is not in its chain; 2, a suffix is missing from the order below; 3, the order below
 * ended first; 4 (order 0), a value whose log10 is not finite.
 */
export function interpolate(argsAt: usize): i32 {
  args = argsAt;
  N = arg(A_N);
  const state = <usize>arg(A_STATE);
  nextAt = state;
  nextBackoffAt = state + (<usize>(N + 1) << 2);
  keptAt = state + (<usize>(N + 1) << 3);
  knownAt = state + (<usize>(N + 1) * 12);
  pAt = state + (<usize>(N + 1) << 4);
  tables = <usize>arg(A_TABLES);
  p1 = <usize>arg(A_P1);
  p1Base = <u32>arg(A_P1_BASE);
  failure = 0;
  for (let k = 0; k <= N; k++) {
    seti(nextAt, k, 0);
    seti(nextBackoffAt, k, 0);
    seti(keptAt, k, 0);
    seti(knownAt, k, 0);
    store<f64>(pAt + (<usize>k << 3), 0);
  }
  // Unigrams: every id of the range.
  const from = <u32>arg(A_FROM);
  const to = <u32>arg(A_TO);
  const unigrams = <usize>arg(A_UNIGRAMS);
  for (let w = from; w < to; w++) {
    const out = unigrams + (<usize>((w - from) * 3) << 2);
    store<u32>(out, w);
    store<f32>(out + 4, <f32>log10Checked(p1Of(w)));
    store<f32>(out + 8, <f32>backoff(1, out));
  }
  // The rows before the range (see interpolateRange).
  for (let k = 2; k < N; k++) {
    const o = A_ORDERS + 4 * k;
    const before = arg(o + 2);
    seti(nextAt, k, before);
    if (before == 0) continue;
    const row = <usize>arg(o);
    if (k > 2) {
      if (geti(knownAt, k - 1) == 0) continue;
      const lowerRow = <usize>arg(o - 4);
      let suffix = true;
      for (let j = 1; j < k; j++) if (word(row, j) != word(lowerRow, j - 1)) suffix = false;
      if (!suffix) continue;
    }
    const lower = k == 2 ? p1Of(word(row, 1)) : load<f64>(pAt + (<usize>(k - 1) << 3));
    const alpha = floatOf(word(row, k));
    const gamma = floatOf(word(row, k + 1));
    store<f64>(pAt + (<usize>k << 3), f(alpha + f(gamma * lower)));
    seti(knownAt, k, 1);
  }
  // The top order drives; then the rows of lower orders that extend no higher n-gram.
  for (let k = N; k >= 2 && failure == 0; k--) while (step(k));
  return failure;
}
