/**
 * The WebAssembly ARPA formatter (asm/arpa.ts) and its memory: one instance per thread, created
 * on first use, holding a copy of the vocabulary's bytes (kept while the same words come back,
 * even from another thread: see `WordBytes.id`), a slice of rows at a time, and the lines of a
 * chunk. `formatModelChunks` (arpa.ts) uses it where WebAssembly runs and writes the same bytes
 * as its TypeScript loop, which stays the reference and the fallback.
 */
import { ARPA_WASM_BASE64 } from './arpa-wasm.generated.js';
import type { WordBytes } from './arpa.js';
import { perThread, PrivateKernel } from './wasm-kernel.js';

// The memory's layout (byte offsets): powers of ten, the output's end, the backoff cache, then
// the words, a slice of rows and the output chunk (placed in `ensure`).
const POW10 = 1024;
const STATE = POW10 + 23 * 8;
const CACHE = 2048;
const CACHE_SLOTS = 1 << 12;
const WORDS = CACHE + CACHE_SLOTS * (4 + 16);
/** Words of rows copied in per call. */
const SLICE_WORDS = 1 << 16;
/** Bytes of lines per chunk (as ByteWriter's chunks in arpa.ts). */
const CHUNK_BYTES = 1 << 20;

/** Writes row `row` of the rows given to `format` into `buf` at `at` the TypeScript way; returns the end. */
export type LineFallback = (buf: Uint8Array, at: number, row: number) => number;

type FormatRows = (
  rows: number,
  from: number,
  n: number,
  k: number,
  top: number,
  bytes: number,
  starts: number,
  table: number,
  cache: number,
  state: number,
  outEnd: number,
  lineMax: number,
) => number;

/** The formatter of this thread, over its memory. */
export class ArpaKernel {
  private readonly formatRows: FormatRows;
  /** The words in memory: which (object, or id), and where their parts lie. */
  private words: { of: WordBytes; id: number | undefined; starts: number; end: number } | null = null;

  private constructor(private readonly kernel: PrivateKernel) {
    this.formatRows = kernel.exports.formatRows as FormatRows;
    const buffer = kernel.memory.buffer;
    new Float64Array(buffer, POW10, 23).set(Array.from({ length: 23 }, (_, i) => Number(`1e${i}`)));
    new Int32Array(buffer, CACHE, CACHE_SLOTS).fill(-1);
  }

  /** This thread's formatter, or null where WebAssembly cannot run it. */
  static readonly get = perThread(() => {
    const kernel = PrivateKernel.load(ARPA_WASM_BASE64, WORDS + 65536);
    return kernel && new ArpaKernel(kernel);
  });

  /** Bytes the memory holds besides the words: a slice of rows and a chunk of lines. */
  static scratchBytes(lineMax: number): number {
    return WORDS + SLICE_WORDS * 4 + CHUNK_BYTES + lineMax + 64;
  }

  /**
   * `n` MODEL rows of order k as ARPA lines, in chunks of about a megabyte that own their
   * buffers; `lineMax`: the longest line the order can have. `fallback` writes the rows whose
   * values the kernel leaves to the exact method. Null when the words and a chunk do not fit a
   * 32-bit memory (the caller formats them).
   */
  format(wb: WordBytes, rows: Uint32Array, n: number, k: number, top: number, lineMax: number, fallback: LineFallback): Uint8Array[] | null {
    const W = k + 2;
    const sliceRows = Math.max(1, Math.floor(SLICE_WORDS / W));
    const placed = this.ensure(wb, sliceRows * W, lineMax);
    if (!placed) return null;
    const { rowsAt, outAt, words } = placed;
    const outEnd = outAt + CHUNK_BYTES + lineMax;
    const u32 = new Uint32Array(this.kernel.memory.buffer);
    const u8 = new Uint8Array(this.kernel.memory.buffer);
    const chunks: Uint8Array[] = [];
    u32[STATE >> 2] = outAt;
    for (let i = 0; i < n; ) {
      const m = Math.min(n - i, sliceRows);
      u32.set(rows.subarray(i * W, (i + m) * W), rowsAt >> 2);
      for (let j = 0; j < m; ) {
        j = this.formatRows(rowsAt, j, m, k, top, WORDS, words.starts, POW10, CACHE, STATE, outEnd, lineMax);
        if (j === m) break;
        const end = u32[STATE >> 2]!;
        if (end + lineMax > outEnd) {
          chunks.push(u8.slice(outAt, end));
          u32[STATE >> 2] = outAt;
        } else {
          u32[STATE >> 2] = fallback(u8, end, i + j);
          j++;
        }
      }
      i += m;
    }
    chunks.push(u8.slice(outAt, u32[STATE >> 2]!));
    return chunks;
  }

  /** Places `wb` (unless it is there already) and room for `rowWords` and a chunk; grows the memory (null: past 4 GB). */
  private ensure(wb: WordBytes, rowWords: number, lineMax: number): { rowsAt: number; outAt: number; words: { starts: number; end: number } } | null {
    let words = this.words;
    const same = words && (words.of === wb || (wb.id !== undefined && words.id === wb.id));
    const wordsEnd = same ? words!.end : align(align(WORDS + wb.bytes.length, 4) + wb.start.length * 4, 16);
    const rowsAt = wordsEnd;
    const outAt = align(rowsAt + rowWords * 4, 16);
    if (!this.kernel.room(outAt + CHUNK_BYTES + lineMax + 64)) return null;
    if (!same) {
      const starts = align(WORDS + wb.bytes.length, 4);
      new Uint8Array(this.kernel.memory.buffer, WORDS, wb.bytes.length).set(wb.bytes);
      new Int32Array(this.kernel.memory.buffer, starts, wb.start.length).set(wb.start);
      words = this.words = { of: wb, id: wb.id, starts, end: wordsEnd };
    }
    return { rowsAt, outAt, words: words! };
  }
}

const align = (x: number, to: number) => Math.ceil(x / to) * to;
