/**
 * Estimation's interpolation (stage 5) in WebAssembly (asm/interpolate.ts), for the smoothers
 * that compute in float32 (modified Kneser-Ney) and for sinks that need no links (ARPA files):
 * one instance per thread, created on first use. A range is cut into parts of a bounded size
 * (`splitRange`), each copied into the kernel's memory with the p(w) it needs, interpolated
 * there, and its MODEL rows copied out. `interpolateRange` (pipeline.ts) is the reference and
 * the fallback, and the kernel gives its bytes.
 */
import { INTERPOLATE_WASM_BASE64 } from './interpolate-wasm.generated.js';
import { LOGF_TABLES } from './log10f.js';
import type { InterpolatedRange, InterpolationRange } from './pipeline.js';
import { perThread, PrivateKernel } from './wasm-kernel.js';

/** Top-order rows per part of a range (about a megabyte of rows). */
export const PART_ROWS = 1 << 13;
/**
 * The most memory a part may take in the kernel (its rows in and out); a larger one (lower
 * orders crowded between two rows of the top order) goes to the TypeScript loop. This bounds the
 * memory of each thread's kernel, which is not given back until the thread ends.
 */
export const INTERPOLATION_KERNEL_BYTES = 8 << 20;
// The argument table's slots (asm/interpolate.ts).
const A_N = 0;
const A_P1 = 1;
const A_P1_BASE = 2;
const A_FROM = 3;
const A_TO = 4;
const A_TABLES = 5;
const A_STATE = 6;
const A_UNIGRAMS = 7;
const A_ORDERS = 8;
/** An error code of the kernel for a value whose log10 is not finite: the TypeScript loop takes that part. */
const NOT_FINITE = -4096;
/** A part larger than INTERPOLATION_KERNEL_BYTES: the TypeScript loop takes it too. */
const TOO_LARGE = -1;

/** This thread's interpolation kernel. */
export class InterpolationKernel {
  private readonly run: (args: number) => number;

  private constructor(private readonly kernel: PrivateKernel) {
    this.run = kernel.exports.interpolate as (args: number) => number;
  }

  /** This thread's kernel, or null where WebAssembly cannot run it. */
  static readonly get = perThread(() => {
    const kernel = PrivateKernel.load(INTERPOLATE_WASM_BASE64, 1 << 20);
    return kernel && new InterpolationKernel(kernel);
  });

  /**
   * `interpolateRange(r)`, or null when the kernel does not do such a range (float64
   * arithmetic, links) or cannot have the memory for it: the caller runs the TypeScript loop.
   * `split` is `splitRange`; `fallback` interpolates a part the kernel leaves to it (a value whose
   * log10 is not finite, or a part too large).
   */
  interpolate(
    r: InterpolationRange,
    allocate: (words: number) => Uint32Array,
    fallback: (part: InterpolationRange) => InterpolatedRange,
    split: (r: InterpolationRange, parts: number) => InterpolationRange[],
    partRows = PART_ROWS,
  ): InterpolatedRange | null {
    if (!r.float32 || r.links) return null;
    const N = r.top;
    const topRows = N >= 2 ? r.initialRows[N]! : 0;
    const parts = split(r, Math.max(1, Math.ceil(topRows / partRows)));
    const model: Uint32Array[] = [];
    const kept = new Array<number>(N + 1).fill(0);
    const suffix: Int32Array[] = [];
    const context: Uint32Array[] = [];
    const backoffOf: Int32Array[] = [];
    for (let j = 1; j < N; j++) backoffOf[j] = new Int32Array(0);
    model[1] = allocate((r.to - r.from) * 3);
    kept[1] = r.to - r.from;
    for (let k = 2; k <= N; k++) {
      model[k] = allocate((r.initialRows[k]! - r.before[k]!) * (k + 2));
      suffix[k] = new Int32Array(0);
      context[k] = new Uint32Array(0);
    }
    for (const part of parts) {
      const got = this.part(part);
      if (got === null) return null;
      const result = typeof got === 'number' ? fallback(part) : got;
      model[1]!.set(result.model[1]!.subarray(0, result.kept[1]! * 3), (part.from - r.from) * 3);
      for (let k = 2; k <= N; k++) {
        model[k]!.set(result.model[k]!.subarray(0, result.kept[k]! * (k + 2)), kept[k]! * (k + 2));
        kept[k]! += result.kept[k]!;
      }
    }
    return { model, kept, suffix, context, backoffOf };
  }

  /** One part in the kernel: its MODEL rows (views of the kernel's memory, valid until the next part), NOT_FINITE or TOO_LARGE, or null (no memory). */
  private part(r: InterpolationRange): InterpolatedRange | number | null {
    const N = r.top;
    // p(w) for the part's unigrams and the last words of its bigrams (the row before it too).
    let lo = r.from;
    let hi = r.to;
    if (N >= 2 && r.initialRows[2]! > 0) {
      const W2 = r.initial[2]!.length / r.initialRows[2]!;
      lo = Math.min(lo, r.initial[2]![1]!);
      hi = Math.max(hi, r.initial[2]![(r.initialRows[2]! - 1) * W2 + 1]! + 1);
    }
    // The layout: arguments, state, logf's tables, p(w), then per order its rows and its MODEL rows.
    let at = 0;
    const place = (bytes: number) => {
      const where = at;
      at += Math.ceil(bytes / 8) * 8;
      return where;
    };
    const argsAt = place(4 * (A_ORDERS + 4 * (N + 1) + 2 * (N + 1)));
    const stateAt = place((N + 1) * 24);
    const tablesAt = place(LOGF_TABLES.byteLength);
    const p1At = place((hi - lo) * 8);
    const unigramsAt = place((r.to - r.from) * 12);
    const rowsAt: number[] = [];
    const modelAt: number[] = [];
    const backoffsAt: number[] = [];
    for (let k = 2; k <= N; k++) {
      rowsAt[k] = place(r.initial[k]!.byteLength);
      modelAt[k] = place((r.initialRows[k]! - r.before[k]!) * (k + 2) * 4);
    }
    for (let j = 1; j < N; j++) backoffsAt[j] = place(r.backoffs[j]!.byteLength);
    if (at > INTERPOLATION_KERNEL_BYTES) return TOO_LARGE;
    if (!this.kernel.room(at)) return null;
    const buffer = this.kernel.memory.buffer;
    const u32 = new Uint32Array(buffer);
    const args = new Int32Array(buffer, argsAt, A_ORDERS + 4 * (N + 1) + 2 * (N + 1));
    args[A_N] = N;
    args[A_P1] = p1At;
    args[A_P1_BASE] = lo;
    args[A_FROM] = r.from;
    args[A_TO] = r.to;
    args[A_TABLES] = tablesAt;
    args[A_STATE] = stateAt;
    args[A_UNIGRAMS] = unigramsAt;
    new Float64Array(buffer, tablesAt, LOGF_TABLES.length).set(LOGF_TABLES);
    new Float64Array(buffer, p1At, hi - lo).set(r.p1.subarray(lo, hi));
    for (let k = 2; k <= N; k++) {
      const o = A_ORDERS + 4 * k;
      args[o] = rowsAt[k]!;
      args[o + 1] = r.initialRows[k]!;
      args[o + 2] = r.before[k]!;
      args[o + 3] = modelAt[k]!;
      u32.set(r.initial[k]!, rowsAt[k]! >> 2);
    }
    for (let j = 1; j < N; j++) {
      const o = A_ORDERS + 4 * (N + 1) + 2 * j;
      args[o] = backoffsAt[j]!;
      args[o + 1] = r.backoffRows[j]!;
      u32.set(r.backoffs[j]!, backoffsAt[j]! >> 2);
    }
    const code = this.run(argsAt);
    if (code === NOT_FINITE) return code;
    if (code < 0) throw interpolationError(Math.floor(-code / 1024), -code % 1024);
    const keptOf = new Int32Array(buffer, stateAt + (N + 1) * 8, N + 1);
    const model: Uint32Array[] = [];
    const kept: number[] = [];
    model[1] = new Uint32Array(buffer, unigramsAt, (r.to - r.from) * 3);
    kept[1] = r.to - r.from;
    for (let k = 2; k <= N; k++) {
      kept[k] = keptOf[k]!;
      model[k] = new Uint32Array(buffer, modelAt[k]!, kept[k]! * (k + 2));
    }
    return { model, kept, suffix: [], context: [], backoffOf: [] };
  }
}

/**
 * An error of interpolation, as `interpolateRange` and the kernel (which returns −(1024 · code
 * + k)) report it: 1, a suffix before the range is not in its chain; 2, the suffix of a k-gram is
 * missing from the order below; 3, the order below ended before it.
 */
export function interpolationError(code: number, k: number): Error {
  switch (code) {
    case 1:
      return new Error('interpolate: a suffix before the range is not in its chain');
    case 2:
      return new Error(`interpolate: the suffix of a ${k}-gram is missing from the ${k - 1}-grams`);
    case 3:
      return new Error(`interpolate: the ${k - 1}-grams ended before a suffix of a ${k}-gram`);
    default:
      return new Error(`interpolate: the kernel failed (${code})`);
  }
}
