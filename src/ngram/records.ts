/**
 * Sorted streams of fixed-width records, the currency of estimation at scale (lmplz's "chains"):
 * rows of `width` uint32 words in one flat Uint32Array, sorted within a block that fits the
 * memory budget (LSD radix sort on word-id columns), written as a run to storage when the block
 * is full, and read back as one stream by a k-way merge of the runs (several levels of merging
 * when there are more runs than read buffers fit the budget). Rows with equal keys can be
 * combined by summing one column (counting).
 *
 * A stream that fits its budget is one run that never leaves memory: the in-memory estimate and
 * the streaming one are the same code. Browser-safe: storage is an interface (`MemoryStorage`
 * here; files in node/temp-storage.ts), and all I/O is synchronous, block by block.
 */
import { KotobaError } from '../errors.js';
import type { AdjustedPiece, OrderDone, OrderJob } from './pipeline.js';

/** How the rows of one stream are laid out and ordered. */
export interface RowSpec {
  /** uint32 words per row. */
  readonly width: number;
  /** Columns compared when ordering rows, most significant first. */
  readonly key: readonly number[];
  /**
   * Columns a block is radix-sorted on, least significant first. It may leave out the least
   * significant key columns when rows arrive already ordered by them (the sort is stable).
   */
  readonly radix: readonly number[];
  /** Column summed over rows with equal keys (a count), or -1 when keys are unique. */
  readonly sum: number;
}

/** A stream of rows in order: after `next()` returns true, the row is `row[at … at+width)`. */
export interface RowCursor {
  row: Uint32Array;
  at: number;
  next(): boolean;
  /** Releases buffers and storage; safe to call twice. */
  close(): void;
  /** `readRows` for a cursor that reads through a buffer: whole stretches of it at once. */
  take?(out: Uint32Array, o: number, max: number): number;
}

/**
 * Copies the next rows of `cursor` (width W), up to `max`, into `out` from word `o` on, as that
 * many calls of `next` would hand them out: the rows copied, fewer only at the stream's end.
 */
export function readRows(cursor: RowCursor, W: number, out: Uint32Array, o: number, max: number): number {
  if (cursor.take) return cursor.take(out, o, max);
  let n = 0;
  while (n < max && cursor.next()) {
    const row = cursor.row;
    const at = cursor.at;
    for (let j = 0; j < W; j++) out[o++] = row[at + j]!;
    n++;
  }
  return n;
}

/** A cursor whose rows after the current one, up to `end` (in words), are in `row` already. */
interface BufferedCursor extends RowCursor {
  readonly width: number;
  readonly end: number;
}

/** `take` of a buffered cursor: what its buffer holds in one copy, then `next` refills it. */
function takeBuffered(c: BufferedCursor, out: Uint32Array, o: number, max: number): number {
  const W = c.width;
  let n = 0;
  while (n < max) {
    const ready = Math.min(max - n, Math.floor((c.end - c.at - W) / W));
    if (ready > 0) {
      out.set(c.row.subarray(c.at + W, c.at + W + ready * W), o + n * W);
      c.at += ready * W;
      n += ready;
    } else {
      if (!c.next()) break;
      out.set(c.row.subarray(c.at, c.at + W), o + n * W);
      n++;
    }
  }
  return n;
}

/** A run kept by a storage: read back sequentially, then dropped. */
export interface StoredRun {
  /** Number of uint32 words in the run. */
  readonly words: number;
  /** A sequential reader: fills `into` from the current position, returns the words read. */
  reader(): (into: Uint32Array) => number;
  /** Frees the run's memory or file. */
  drop(): void;
  /** The run's file, when it is one. */
  readonly path?: string;
}

/**
 * A sorted stream ended on one thread for another to read (stage 4 hands whole orders to a
 * helper): its stored runs, and its sorted blocks still in memory (shared memory under a pool
 * of threads). The thread that reads it owns the runs: it drops them as it reads.
 */
export interface StreamImage {
  runs: StoredRun[];
  /** Sorted blocks (read through `perm`), or one block `unsorted`, for the thread that reads it to sort. */
  blocks: { rows: Uint32Array; perm: Uint32Array | null; n: number; unsorted?: boolean }[];
}

/** A RowSpool's rows ended for another thread: its runs, then `n` rows of `block` (in order). */
export interface SpoolImage {
  runs: StoredRun[];
  block: Uint32Array;
  n: number;
}

/** Where runs go when they leave memory: memory itself (browser, tests) or files (node). */
export interface RunStorage {
  /** Starts a run: append words (copied or written at once), then `end()`. */
  begin(): { append(words: Uint32Array): void; end(): StoredRun };
  /** Bytes currently held in runs (for progress and full-disk messages). */
  readonly bytesHeld: number;
  /** Runs begun so far, and of them those written by a merge of other runs (a merge level). */
  readonly runsWritten: number;
  mergedRuns: number;
}

/**
 * Runs kept as copies in memory: the storage of the browser and of tests with tiny budgets.
 *
 * @example
 * ```ts
 * // runs
 * import { MemoryBudget, MemoryStorage, type StreamEnv } from 'kotoba';
 * const storage = new MemoryStorage();
 * const env: StreamEnv = { storage, budget: new MemoryBudget(1 << 20), minReadBytes: 1 << 12 };
 * storage.runsWritten; // 0 until a stream outgrows the budget
 * ```
 */
export class MemoryStorage implements RunStorage {
  bytesHeld = 0;
  runsWritten = 0;
  mergedRuns = 0;
  begin() {
    this.runsWritten++;
    const chunks: Uint32Array[] = [];
    let words = 0;
    return {
      append: (w: Uint32Array) => {
        chunks.push(w.slice());
        words += w.length;
        this.bytesHeld += w.byteLength;
      },
      end: (): StoredRun => memoryRun(chunks, words, () => (this.bytesHeld -= words * 4)),
    };
  }
}

function memoryRun(chunks: Uint32Array[], words: number, onDrop: () => void): StoredRun {
  let dropped = false;
  return {
    words,
    reader() {
      let chunk = 0;
      let offset = 0;
      return (into) => {
        let n = 0;
        while (n < into.length && chunk < chunks.length) {
          const c = chunks[chunk]!;
          const take = Math.min(into.length - n, c.length - offset);
          into.set(c.subarray(offset, offset + take), n);
          n += take;
          offset += take;
          if (offset === c.length) {
            chunk++;
            offset = 0;
          }
        }
        return n;
      };
    },
    drop() {
      if (dropped) return;
      dropped = true;
      chunks.length = 0;
      onDrop();
    },
  };
}

/**
 * The memory budget shared by every stream of one estimation: buffers grow while it allows,
 * and a stream whose buffer cannot grow writes a run instead. `Infinity` never spills.
 *
 * @example
 * ```ts
 * // runs
 * import { MemoryBudget } from 'kotoba';
 * const budget = new MemoryBudget(64 << 20); // 64 MB
 * budget.take(48 << 20); // true: a block may grow by 48 MB
 * budget.take(32 << 20); // false: its stream writes a run instead
 * budget.give(48 << 20);
 * budget.peak;           // 50331648
 * ```
 */
export class MemoryBudget {
  used = 0;
  peak = 0;
  private freed = 0;
  /**
   * `collect`, when given, runs a garbage collection after large releases: blocks are typed
   * arrays, freed only when the collector finds them dead, and a thread that allocates little
   * else would otherwise keep them long past their use (node passes V8's `gc`).
   */
  constructor(
    readonly bytes: number,
    readonly collect?: () => void,
  ) {
    if (!(bytes > 0)) throw new KotobaError(`the memory budget must be positive, not ${bytes}`, 'pass e.g. --memory 1G');
  }
  get available(): number {
    return Math.max(0, this.bytes - this.used);
  }
  /** Takes `n` bytes if they fit; `force` takes them anyway (a minimum to make progress). */
  take(n: number, force = false): boolean {
    if (!force && this.used + n > this.bytes) return false;
    this.used += n;
    if (this.used > this.peak) this.peak = this.used;
    this.collectIfOver();
    return true;
  }
  give(n: number): void {
    this.used -= n;
    this.garbage(n);
  }
  /** Notes `n` bytes of short-lived arrays dropped (a batch's results): they count towards a collection. */
  garbage(n: number): void {
    this.freed += n;
    this.collectIfOver();
  }
  /**
   * Freed memory stays resident until a collection, outside the budget's count: collected once
   * it is more than a constant (a sixteenth of the budget, between 32 and 64 MB) and, with what
   * is in use, more than the budget. Resident memory thus stays within the budget plus that
   * constant, and a job well inside its budget is not stopped for collections it does not need.
   */
  private collectIfOver(): void {
    if (this.collect && this.freed >= Math.min(64 << 20, Math.max(32 << 20, this.bytes / 16)) && this.used + this.freed > this.bytes) {
      this.freed = 0;
      this.collect();
    }
  }
}

/** What every stream of one estimation shares. */
export interface StreamEnv {
  storage: RunStorage;
  budget: MemoryBudget;
  /** Smallest read buffer per run in a merge, in bytes (fan-in = available / this). */
  minReadBytes: number;
  /** Threads that sort blocks in parallel (node); absent: the calling thread sorts alone. */
  pool?: SortPool;
}

/**
 * One block's sorting work, which any thread can do (`runSortJob` in pipeline.ts): sort rows, or
 * count a range of tokens into COUNT rows. `store`: write the run to storage; otherwise return it
 * to be kept in memory.
 */
export type SortJob =
  | { kind: 'rows'; rows: Uint32Array; n: number; spec: RowSpec; store: boolean; range?: SortRange }
  | { kind: 'count'; tokens: Uint32Array; from: number; to: number; order: number; store: boolean; range?: WordRange }
  | { kind: 'adjust'; rows: Uint32Array; n: number; order: number; out: Uint32Array[] }
  | { kind: 'arpa'; rows: Uint32Array; n: number; order: number; top: number; words: { bytes: Uint8Array; start: Int32Array; longest: number } }
  | { kind: 'initial'; rows: Uint32Array; n: number; order: number; smoother: object; threshold: number; out: { initial: Uint32Array; backoffs: Uint32Array } }
  | { kind: 'interpolate'; range: object }
  | { kind: 'orders'; orders: OrderJob[]; smoother: object; budget: number }
  | { kind: 'gather'; rows: Uint32Array; perm: Uint32Array; width: number; out: Uint32Array };

/** COUNT rows kept in memory: `n` rows of a block (the rest of it unused). */
export interface CountedBlock {
  rows: Uint32Array;
  n: number;
}

/**
 * A sorted run: stored, or in memory (rows, read through `perm`, or in order when it is null);
 * or, for an `arpa` job, the formatted lines in chunks that own their buffers; for a `gather`
 * job, the rows gathered.
 */
export type SortResult =
  | { run: StoredRun }
  | { rows: Uint32Array; perm: Uint32Array | null; n: number }
  | { counted: CountedBlock[] }
  | { chunks: Uint8Array[] }
  | { gathered: number }
  | { adjusted: AdjustedPiece }
  | { initial: Uint32Array; backoffs: Uint32Array; contexts: number; kept: number }
  | { orders: OrderDone[] }
  | { model: Uint32Array[]; kept: number[]; suffix: Int32Array[]; context: Uint32Array[]; backoffOf: Int32Array[] };

/**
 * Threads that run sort jobs at the same time: a fixed partition of each block into one job per
 * thread and the runs merged in job order, so the result never depends on the thread count.
 */
export interface SortPool {
  /** Threads, the calling one included. */
  readonly threads: number;
  /**
   * Runs the jobs at once (the first on the calling thread, with `scratch` for its sort, which
   * the caller releases as it would on one thread); results in job order. At most `free()` jobs.
   */
  run(jobs: SortJob[], scratch?: SortScratch): SortResult[];
  /**
   * Starts one job on another thread and returns at once (a sorted block written to storage in
   * the background while the caller goes on); when every other thread has jobs, waits for those
   * of one of them first. Absent: every job runs inside `run`. A `gather` job and a piece of stage
   * 2 are short and give way: `run` waits for them rather than run with fewer threads.
   */
  begin?(job: SortJob): PendingJob;
  /**
   * Starts a job behind the jobs another thread has already, returning at once; `null` where
   * that could keep the caller waiting long (that thread is at a long job, such as stage 4's
   * whole orders, or has several queued). Absent: `begin` where a thread is free.
   */
  enqueue?(job: SortJob): PendingJob | null;
  /** Threads that `run` or `begin` may use now without waiting: the calling one and those without unfinished jobs (but short ones, see `begin`). */
  free?(): number;
  /** A block of `words` uint32 that every thread of the pool can read (shared memory). */
  allocate(words: number): Uint32Array;
  /**
   * Asks the other threads to drop their sort arrays and collect their garbage (called when the
   * calling thread collects its own: a block it freed is gone only once no thread holds a view).
   */
  collect?(): void;
}

/** A job started by `SortPool.begin`. */
export interface PendingJob {
  /** Whether its result has come (`wait` returns without waiting). */
  ready(): boolean;
  /** Its result, waiting for it (once; a failure throws here). */
  wait(): SortResult;
}

/** Threads a job may be cut for now (see `SortPool.free`). */
export function freeThreads(pool: SortPool): number {
  return pool.free ? pool.free() : pool.threads;
}

/** A copy of `a` that the pool's threads can read (a plain copy without a pool). */
export function copyShared(a: Uint32Array, env: StreamEnv): Uint32Array {
  const out = newBlock(env, a.length);
  out.set(a);
  return out;
}

/** A block for a stream: shared memory when a pool of threads will sort it. */
export function newBlock(env: StreamEnv, words: number): Uint32Array {
  return env.pool ? env.pool.allocate(words) : new Uint32Array(words);
}

/**
 * A stream's block grown from `rows` to `want` rows of W words. `whole`, where the stream knows
 * how many rows can come, is a block for all of them allocated once: while it has room the block
 * is a longer view of it, so nothing is copied and the pages not yet written take no memory.
 * Otherwise a new block with the rows copied in (the caller counts the old one as garbage).
 */
function grownBlock(rows: Uint32Array, want: number, W: number, whole: Uint32Array | null, allocate: (words: number) => Uint32Array): Uint32Array {
  if (whole && (rows.length === 0 || rows.buffer === whole.buffer) && want * W <= whole.length) return whole.subarray(0, want * W);
  const bigger = allocate(want * W);
  bigger.set(rows);
  return bigger;
}

/**
 * The block that a stream expecting at most `maxRows` rows of W words grows through (see
 * `grownBlock`), allocated once: no larger than the budget could ever let it grow (`rowBytes`
 * a row, but at least `want` rows and the forced minimum), nor than a typed array can hold.
 */
function wholeBlock(env: StreamEnv, maxRows: number, want: number, W: number, rowBytes: number, allocate: (words: number) => Uint32Array): Uint32Array {
  const most = Math.max(want, Math.floor(env.budget.bytes / rowBytes), Math.ceil(minBlockBytes(env) / rowBytes));
  return allocate(Math.min(maxRows, most, Math.floor(MAX_BLOCK_WORDS / W)) * W);
}

/** The most words a typed array may hold (V8: 2^32 elements). */
const MAX_BLOCK_WORDS = 2 ** 32 - 1;

/** Rows to grow a block of `have` rows to: double, but never past `maxRows` when known (> have). */
function grownRows(have: number, maxRows: number): number {
  const doubled = Math.max(256, have * 2);
  return maxRows > have ? Math.min(doubled, maxRows) : doubled;
}

/**
 * Bytes a block may always grow to, budget or not, so that a stream squeezed by the others never
 * writes runs too small to read back efficiently: four read buffers.
 */
export function minBlockBytes(env: StreamEnv): number {
  return 4 * env.minReadBytes;
}

/**
 * Streams kept in memory: `estimate()`'s environment (unbounded: one run per stream), or with a
 * budget in bytes, runs spilled into memory (the merging of runs on disk, without a disk).
 *
 * @example
 * ```ts
 * // runs
 * import { arpaText, corpusFromText, estimate, memoryEnv } from 'kotoba';
 * const corpus = corpusFromText(['a b c a b', 'b c a', 'c a b c']);
 * const streams = memoryEnv(4096, 1024); // a 4 kB budget: many runs, merged
 * const same = (await arpaText(estimate(corpus, { order: 3, streams }))) === (await arpaText(estimate(corpus, { order: 3 })));
 * // same === true; streams.storage.runsWritten > 0
 * ```
 */
export function memoryEnv(budgetBytes = Infinity, minReadBytes = 1 << 16): StreamEnv {
  return { storage: new MemoryStorage(), budget: new MemoryBudget(budgetBytes), minReadBytes };
}

/**
 * One thread's share of a block, by word: the positions or rows whose word (the predicted word of
 * a counting block, the most significant column of a sort) is in `[lo, hi)`, `n` of them.
 */
export interface WordRange {
  lo: number;
  hi: number;
  n: number;
}

/**
 * At most `n` ranges of word ids with about equal positions, in order, covering every id, from
 * `counts` (positions per word id up to `max`, `total` of them); a word is never split, so one
 * word can make its share larger.
 */
export function wordRanges(counts: Uint32Array, max: number, total: number, n: number): WordRange[] {
  const ranges: WordRange[] = [];
  let lo = 0;
  let inRange = 0;
  let left = total; // in the shares not cut yet
  for (let w = 0; w < max; w++) {
    inRange += counts[w]!;
    // Cut after w once this share holds its part of what is left.
    if (ranges.length < n - 1 && inRange > 0 && inRange * (n - ranges.length) >= left) {
      ranges.push({ lo, hi: w + 1, n: inRange });
      left -= inRange;
      lo = w + 1;
      inRange = 0;
    }
  }
  ranges.push({ lo, hi: 0x100000000, n: left });
  return ranges;
}

/** Counts per word id, `counts` or a copy grown (at least doubled) to hold id `w`. */
export function roomFor(counts: Uint32Array<ArrayBuffer>, w: number): Uint32Array<ArrayBuffer> {
  if (w < counts.length) return counts;
  const bigger = new Uint32Array(Math.max(w + 1, 1024, counts.length * 2));
  bigger.set(counts);
  return bigger;
}

/** `wordRanges` of column `c` of rows `0…n` (W words each). */
function columnRanges(rows: Uint32Array, n: number, W: number, c: number, shares: number): WordRange[] {
  let counts = new Uint32Array(0);
  let max = 0;
  for (let i = 0, r = c; i < n; i++, r += W) {
    const w = rows[r]!;
    if (w >= counts.length) counts = roomFor(counts, w);
    counts[w]!++;
    if (w > max) max = w;
  }
  return wordRanges(counts, max, n, shares);
}

/**
 * The rows of a block whose most significant sort column (the radix sort's last pass) lies in
 * `[lo, hi)`: one thread's share of a block sorted on several (`sortRows`), whose rows are a
 * stretch of the block's order, so that the shares make one run without a merge. `out` takes
 * their row indices, sorted: it is exactly as long as the share.
 */
export interface SortRange {
  lo: number;
  hi: number;
  out: Uint32Array;
}

/**
 * Sorts rows `0…n` of `rows` by `spec.radix` (stable), returning the permutation: LSD radix sort,
 * one counting-sort pass per column with as many buckets as the column's largest word id; a
 * comparison sort when there are far fewer rows than buckets. With `range`, only that share of
 * the rows, sorted into `range.out` (row indices), which it returns.
 */
export function sortRows(rows: Uint32Array, n: number, spec: RowSpec, scratch: SortScratch, range?: SortRange): Uint32Array {
  const W = spec.width;
  const passes = spec.radix.length;
  // The share's row indices, in row order (where a share is sorted, `out` holds them until the
  // end), and its first pass's keys, read in the same pass over the block.
  let rowOf: Uint32Array | null = null;
  let firstMax = -1;
  if (range && passes > 0) {
    rowOf = range.out;
    const keys = scratch.keys(rowOf.length);
    const top = spec.radix[passes - 1]!;
    const first = spec.radix[0]! - top;
    let m = 0;
    firstMax = 0;
    for (let i = 0, r = top; i < n; i++, r += W) {
      const w = rows[r]!;
      if (w >= range.lo && w < range.hi) {
        const k = rows[r + first]!;
        if (k > firstMax) firstMax = k;
        keys[m] = k;
        rowOf[m++] = i;
      }
    }
    if (m !== rowOf.length) throw new Error(`sortRows: ${m} rows in the range, not ${rowOf.length}`);
    n = m;
  }
  let perm = scratch.perm(n);
  identity(perm, n);
  if (n >= 2 && passes > 0) {
    let spare = scratch.spare(n);
    const keys = scratch.keys(n);
    for (let pass = 0; pass < passes; pass++) {
      const c = spec.radix[pass]!;
      // The column in row order first (a sequential read), then through the permutation: random
      // reads of 4-byte keys, most of them in cache, rather than of whole rows (half the time).
      // `spare` is free until the pass writes it; on the first pass the permutation is the identity.
      const max = pass === 0 && rowOf ? firstMax : readColumn(rows, n, W, c, pass === 0 ? keys : spare, rowOf);
      if (pass > 0) permuted(spare, perm, keys, n);
      if (n * 8 < max) {
        comparisonSort(rows, n, spec, perm, pass, rowOf);
        break;
      }
      countingSortPass(keys, perm, spare, n, scratch.buckets(max + 1));
      [perm, spare] = [spare, perm];
    }
  }
  if (!rowOf) return perm;
  const sorted = scratch.keys(n); // free now
  for (let i = 0; i < n; i++) sorted[i] = rowOf[perm[i]!]!;
  rowOf.set(sorted.subarray(0, n));
  return rowOf;
}

// The loops of a sort are functions of their own, one loop each. A sort runs each loop a few
// times per process, and V8 compiles a long-running loop where it is (on-stack replacement); in a
// function with several loops, that code fell back to the interpreter at each loop not yet run,
// every time. A first 3-pass sort of 0.7 M rows took 45–53 ms that way, 30 ms now (24 ms warm).

function identity(perm: Uint32Array, n: number): void {
  for (let i = 0; i < n; i++) perm[i] = i;
}

/** Column `c` of rows `0…n` (W words each; with `rowOf`, of rows `rowOf[0…n)`) into `column`; its largest word. */
function readColumn(rows: Uint32Array, n: number, W: number, c: number, column: Uint32Array, rowOf: Uint32Array | null): number {
  let max = 0;
  if (rowOf) {
    for (let i = 0; i < n; i++) {
      const k = rows[rowOf[i]! * W + c]!;
      column[i] = k;
      if (k > max) max = k;
    }
  } else {
    for (let i = 0, r = c; i < n; i++, r += W) {
      const k = rows[r]!;
      column[i] = k;
      if (k > max) max = k;
    }
  }
  return max;
}

/** keys[i] = column[perm[i]] for i < n. */
function permuted(column: Uint32Array, perm: Uint32Array, keys: Uint32Array, n: number): void {
  for (let i = 0; i < n; i++) keys[i] = column[perm[i]!]!;
}

/** Sorts rows `0…n` of `rows` and writes them to storage as one run. */
export function sortAndStore(rows: Uint32Array, n: number, spec: RowSpec, env: StreamEnv, scratch: SortScratch): StoredRun {
  const runs = new RunSet(spec, env);
  runs.store(rows, n, spec.radix.length === 0 ? null : sortRows(rows, n, spec, scratch));
  return runs.takeStored();
}

/**
 * Finishes a sort from radix pass `pass` on by comparisons (few rows, large ids), in place in
 * `perm`; its entries index `rowOf` where given (a share's rows), else the rows.
 */
function comparisonSort(rows: Uint32Array, n: number, spec: RowSpec, perm: Uint32Array, pass: number, rowOf: Uint32Array | null = null): void {
  const W = spec.width;
  const cols = spec.radix.slice(pass).reverse(); // most significant first
  const rank = new Uint32Array(n); // position so far: the stable tie-break
  for (let i = 0; i < n; i++) rank[perm[i]!] = i;
  const at = (a: number) => (rowOf ? rowOf[a]! : a) * W;
  const sorted = Array.from(perm.subarray(0, n)).sort((a, b) => {
    for (const c of cols) {
      const d = rows[at(a) + c]! - rows[at(b) + c]!;
      if (d !== 0) return d;
    }
    return rank[a]! - rank[b]!;
  });
  perm.set(sorted);
}

/**
 * One stable counting-sort pass: `out` = `perm` ordered by `keys` (keys[i] belongs to perm[i]),
 * every key below `buckets.length - 1`. Shared by every radix sort of estimation.
 */
export function countingSortPass(keys: Uint32Array, perm: Uint32Array, out: Uint32Array, n: number, buckets: Uint32Array): void {
  buckets.fill(0);
  histogram(keys, n, buckets);
  prefixSums(buckets);
  scatter(keys, perm, out, n, buckets);
}
function histogram(keys: Uint32Array, n: number, buckets: Uint32Array): void {
  for (let i = 0; i < n; i++) buckets[keys[i]! + 1]!++;
}
function prefixSums(buckets: Uint32Array): void {
  for (let v = 1; v < buckets.length; v++) buckets[v]! += buckets[v - 1]!;
}
function scatter(keys: Uint32Array, perm: Uint32Array, out: Uint32Array, n: number, buckets: Uint32Array): void {
  for (let i = 0; i < n; i++) out[buckets[keys[i]!]!++] = perm[i]!;
}

/** Reusable arrays for sorting: grown on demand, shared by the streams of one estimation. */
export class SortScratch {
  private p = new Uint32Array(0);
  private s = new Uint32Array(0);
  private k = new Uint32Array(0);
  private b = new Uint32Array(0);
  perm(n: number): Uint32Array {
    if (this.p.length < n) this.p = new Uint32Array(n);
    return this.p;
  }
  spare(n: number): Uint32Array {
    if (this.s.length < n) this.s = new Uint32Array(n);
    return this.s;
  }
  keys(n: number): Uint32Array {
    if (this.k.length < n) this.k = new Uint32Array(n);
    return this.k;
  }
  /** A bucket array for keys below `size` (plus the one extra slot of a counting sort). */
  buckets(size: number): Uint32Array {
    if (this.b.length < size + 1) this.b = new Uint32Array(size + 1);
    return this.b.subarray(0, size + 1);
  }
  /**
   * Frees the arrays (they are as large as the largest block sorted); returns their bytes, for
   * the budget's count of garbage (they leave memory at the next collection).
   */
  release(): number {
    const bytes = this.p.byteLength + this.s.byteLength + this.k.byteLength;
    this.p = this.s = this.k = new Uint32Array(0);
    return bytes;
  }
}

/** Compares row a (in ra at ia) with row b by `key`: negative, 0 or positive. */
export function compareRows(key: readonly number[], ra: Uint32Array, ia: number, rb: Uint32Array, ib: number): number {
  for (let j = 0; j < key.length; j++) {
    const c = key[j]!;
    const d = ra[ia + c]! - rb[ib + c]!;
    if (d !== 0) return d;
  }
  return 0;
}

const COUNT_LIMIT = 0xffffffff;

/** Refuses a count that does not fit a row's 32 bits. */
export function checkCount(n: number): void {
  if (n > COUNT_LIMIT) {
    throw new KotobaError(`an n-gram occurs more than ${COUNT_LIMIT} times, and counts are 32-bit`, 'estimate from a smaller corpus, or a lower order');
  }
}

/** Adds `add` to the count in `row[at]`, refusing to wrap around. */
export function addCount(row: Uint32Array, at: number, add: number): void {
  const sum = row[at]! + add;
  checkCount(sum);
  row[at] = sum;
}

/** Writes rows through a fixed buffer into a storage run, combining equal keys when asked. */
export class RunWriter {
  private readonly buf: Uint32Array;
  private n = 0; // words in buf
  private readonly sink: { append(words: Uint32Array): void; end(): StoredRun };
  private last = -1; // offset in buf of the last row written, for combining
  constructor(
    private readonly spec: RowSpec,
    storage: RunStorage,
    bufferWords: number,
  ) {
    const W = spec.width;
    this.buf = new Uint32Array(Math.max(W, bufferWords - (bufferWords % W)));
    this.sink = storage.begin();
  }
  write(row: Uint32Array, at: number): void {
    const W = this.spec.width;
    if (this.spec.sum >= 0 && this.last >= 0 && compareRows(this.spec.key, this.buf, this.last, row, at) === 0) {
      addCount(this.buf, this.last + this.spec.sum, row[at + this.spec.sum]!);
      return;
    }
    if (this.n === this.buf.length) {
      // Keep the last row in the buffer's first slot so that a following equal row can combine.
      this.sink.append(this.buf.subarray(0, this.n - W));
      this.buf.copyWithin(0, this.n - W, this.n);
      this.n = W;
      this.last = 0;
    }
    const buf = this.buf;
    const n = this.n;
    for (let j = 0; j < W; j++) buf[n + j] = row[at + j]!;
    this.last = n;
    this.n = n + W;
  }
  end(): StoredRun {
    if (this.n > 0) this.sink.append(this.buf.subarray(0, this.n));
    return this.sink.end();
  }
}

/** Reads a stored run block by block. */
class StoredCursor implements BufferedCursor {
  row: Uint32Array;
  at = 0;
  end = 0;
  private readonly read: (into: Uint32Array) => number;
  private closed = false;
  constructor(
    private readonly run: StoredRun,
    readonly width: number,
    bufferWords: number,
    private readonly onClose: () => void = () => {},
  ) {
    this.row = new Uint32Array(Math.max(width, bufferWords - (bufferWords % width)));
    this.read = run.reader();
    this.at = -width;
  }
  next(): boolean {
    const W = this.width;
    if (this.closed) return false;
    this.at += W;
    if (this.at + W <= this.end) return true;
    // Refill: move a partial row (storage reads need not end on a row) to the front.
    const carry = this.end - this.at;
    if (carry > 0) this.row.copyWithin(0, this.at, this.end);
    const got = this.read(this.row.subarray(carry));
    this.end = carry + got;
    this.at = 0;
    if (this.end >= W) return true;
    if (this.end > 0) throw new KotobaError('a temporary run ended inside a row', 'the temporary folder was changed while kotoba ran');
    this.close();
    return false;
  }
  take(out: Uint32Array, o: number, max: number): number {
    return takeBuffered(this, out, o, max);
  }
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.row = new Uint32Array(0);
    this.end = 0;
    this.run.drop();
    this.onClose();
  }
}

/**
 * Copies rows `perm[from … to)` of `rows` (width W) into `out` from offset 0, in that order. The
 * reads are random: a first loop over each stretch of rows only touches both ends of each row,
 * so that the processor keeps many cache misses in flight (the copying loop, with its stores,
 * keeps few), and the copy then finds the rows in cache (0.26 s instead of 0.47 s for 7.4 M rows).
 */
export function gatherRows(rows: Uint32Array, perm: Uint32Array, from: number, to: number, W: number, out: Uint32Array): void {
  let o = 0;
  let touched = 0;
  for (let start = from; start < to; start += GATHER_STRETCH) {
    const end = Math.min(to, start + GATHER_STRETCH);
    for (let i = start; i < end; i++) {
      const r = perm[i]! * W;
      touched |= rows[r]! | rows[r + W - 1]!;
    }
    for (let i = start; i < end; i++) {
      let r = perm[i]! * W;
      for (let j = 0; j < W; j++) out[o++] = rows[r++]!;
    }
  }
  // Uses what the touching loop read, so that it is not optimized away (the store changes nothing).
  if (touched === -1) out[0] = out[0]!;
}

/** Rows touched ahead of their copy: their lines stay in the core's cache until copied. */
const GATHER_STRETCH = 2048;

/** Rows gathered per refill by a permutation cursor. */
const GATHER_ROWS = 1024;
/** Rows gathered per refill by another thread (see PermCursor). */
const BACKGROUND_GATHER_ROWS = 1 << 14;

/**
 * Reads rows of an in-memory block through its sort permutation (`null`: in order). Rows are
 * gathered a thousand at a time into a small buffer, so reading a sorted block is sequential.
 * With a pool whose other thread is free, the next rows are gathered there (its cache misses,
 * not this thread's) while this thread reads the ones before, in two buffers in turn.
 */
class PermCursor implements BufferedCursor {
  row: Uint32Array;
  at = 0;
  private i = 0; // next row of the permutation to gather
  end = 0; // words in the gathered buffer (without a permutation: in the block)
  private closed = false;
  private buffer: Uint32Array;
  /** The other buffer, and the gathering into it that another thread may be doing. */
  private spare: Uint32Array | null = null;
  private pending: PendingJob | null = null;
  constructor(
    private rows: Uint32Array,
    private perm: Uint32Array | null,
    private readonly n: number,
    readonly width: number,
    private readonly onClose: () => void,
    private readonly pool?: SortPool,
  ) {
    const background = !!(perm && pool?.begin && pool.threads > 1 && n >= 4 * BACKGROUND_GATHER_ROWS && isShared(rows) && isShared(perm));
    if (background) this.spare = pool!.allocate(BACKGROUND_GATHER_ROWS * width);
    this.buffer = !perm ? new Uint32Array(0) : background ? pool!.allocate(BACKGROUND_GATHER_ROWS * width) : new Uint32Array(GATHER_ROWS * width);
    this.row = perm ? this.buffer : rows;
    if (!perm) this.end = n * width;
    this.at = -width;
  }
  /** Switches to the buffer gathered elsewhere (waiting for it), before its first row. */
  private takeGathered(): void {
    const r = this.pending!.wait();
    this.pending = null;
    [this.buffer, this.spare] = [this.spare!, this.buffer];
    this.row = this.buffer;
    this.end = ('gathered' in r ? r.gathered : 0) * this.width;
    this.at = -this.width;
  }

  /**
   * The rows gathered already, then the rest straight from the block into `out` (no buffer to
   * copy through): a long stretch in two halves, one gathered here and one on a free thread.
   */
  take(out: Uint32Array, o: number, max: number): number {
    const W = this.width;
    if (!this.perm) return takeBuffered(this, out, o, max);
    let n = 0;
    for (;;) {
      const ready = Math.min(max - n, Math.floor((this.end - this.at - W) / W));
      if (ready > 0) {
        out.set(this.row.subarray(this.at + W, this.at + W + ready * W), o + n * W);
        this.at += ready * W;
        n += ready;
      }
      if (n === max || !this.pending) break;
      this.takeGathered();
    }
    const count = Math.min(max - n, this.n - this.i);
    if (count > 0) {
      const from = this.i;
      const to = from + count;
      this.i = to;
      const pool = this.pool;
      let mid = to;
      let elsewhere: PendingJob | null = null;
      // A cursor that gathers elsewhere (`spare`) may hand a long stretch's second half to a free thread.
      if (this.spare && count >= 2 * BACKGROUND_GATHER_ROWS && isShared(out) && pool!.free!() > 1) {
        mid = from + (count >> 1);
        const at = o + (n + mid - from) * W;
        elsewhere = pool!.begin!({ kind: 'gather', rows: this.rows, perm: this.perm.subarray(mid, to), width: W, out: out.subarray(at, at + (to - mid) * W) });
      }
      gatherRows(this.rows, this.perm, from, mid, W, out.subarray(o + n * W));
      elsewhere?.wait();
      n += count;
      // The last row taken is the current one, as after that many calls of next().
      this.buffer.set(out.subarray(o + (n - 1) * W, o + n * W));
      this.row = this.buffer;
      this.at = 0;
      this.end = W;
    }
    if (n < max) this.close();
    return n;
  }
  next(): boolean {
    const W = this.width;
    if (this.closed) return false;
    if (!this.perm) {
      this.at += W;
      if (this.at < this.n * W) return true;
      this.close();
      return false;
    }
    this.at += W;
    if (this.at < this.end) return true;
    if (this.pending) this.takeGathered();
    else if (this.i < this.n) {
      const to = Math.min(this.n, this.i + this.buffer.length / W);
      gatherRows(this.rows, this.perm, this.i, to, W, this.buffer);
      this.end = (to - this.i) * W;
      this.i = to;
    } else {
      this.close();
      return false;
    }
    this.at = 0;
    const pool = this.pool;
    if (this.spare && this.i < this.n && pool!.free!() > 1) {
      const to = Math.min(this.n, this.i + BACKGROUND_GATHER_ROWS);
      this.pending = pool!.begin!({ kind: 'gather', rows: this.rows, perm: this.perm.subarray(this.i, to), width: W, out: this.spare });
      this.i = to;
    }
    return true;
  }
  close(): void {
    if (this.closed) return;
    this.closed = true;
    // No other thread may be gathering from the block once it is released. (A cursor closes
    // with a gathering under way only when it is dropped early, on an error: that one is reported.)
    const pending = this.pending;
    this.pending = null;
    try {
      pending?.wait();
    } catch {
      // See above.
    }
    this.rows = this.row = this.buffer = new Uint32Array(0);
    this.end = 0;
    this.spare = null;
    this.perm = null;
    this.onClose();
  }
}

function isShared(a: Uint32Array): boolean {
  return typeof SharedArrayBuffer !== 'undefined' && a.buffer instanceof SharedArrayBuffer;
}

/**
 * Merges sorted cursors into one sorted stream (a binary heap of cursors), summing `spec.sum`
 * over equal keys. Ties without a sum column keep the cursors' order.
 */
export class MergeCursor implements RowCursor {
  row: Uint32Array;
  at = 0;
  private readonly heap: Int32Array;
  private size = 0;
  private pending = -1; // cursor whose row was handed out and must advance before the next one
  private readonly scratch: Uint32Array;
  constructor(
    private readonly spec: RowSpec,
    private readonly cursors: RowCursor[],
  ) {
    this.heap = new Int32Array(cursors.length);
    this.scratch = new Uint32Array(spec.width);
    this.row = this.scratch;
    for (let i = 0; i < cursors.length; i++) if (cursors[i]!.next()) this.push(i);
  }
  private less(a: number, b: number): boolean {
    const x = this.cursors[a]!;
    const y = this.cursors[b]!;
    const d = compareRows(this.spec.key, x.row, x.at, y.row, y.at);
    return d < 0 || (d === 0 && a < b);
  }
  private push(i: number): void {
    let j = this.size++;
    const h = this.heap;
    while (j > 0) {
      const parent = (j - 1) >> 1;
      if (!this.less(i, h[parent]!)) break;
      h[j] = h[parent]!;
      j = parent;
    }
    h[j] = i;
  }
  /** Advances the top cursor and restores the heap. */
  private advanceTop(): void {
    const h = this.heap;
    const top = h[0]!;
    let item: number;
    if (this.cursors[top]!.next()) item = top;
    else {
      item = h[--this.size]!;
      if (this.size === 0) return;
    }
    let j = 0;
    const n = this.size;
    for (;;) {
      let c = 2 * j + 1;
      if (c >= n) break;
      if (c + 1 < n && this.less(h[c + 1]!, h[c]!)) c++;
      if (!this.less(h[c]!, item)) break;
      h[j] = h[c]!;
      j = c;
    }
    h[j] = item;
  }
  next(): boolean {
    if (this.pending >= 0) {
      this.pending = -1;
      this.advanceTop();
    }
    if (this.size === 0) {
      this.close();
      return false;
    }
    const top = this.cursors[this.heap[0]!]!;
    if (this.spec.sum < 0) {
      this.row = top.row;
      this.at = top.at;
      this.pending = this.heap[0]!;
      return true;
    }
    // Every row with this key, combined.
    this.take(this.scratch, 0, 1);
    this.row = this.scratch;
    this.at = 0;
    return true;
  }
  /** `readRows`: rows merged straight into `out`, equal keys summed there. */
  take(out: Uint32Array, o: number, max: number): number {
    if (this.pending >= 0) {
      this.pending = -1;
      this.advanceTop();
    }
    const { key, sum, width: W } = this.spec;
    let n = 0;
    if (this.size === 2) n = this.takeOfTwo(out, o, max);
    o += n * W;
    while (n < max && this.size > 0) {
      const top = this.cursors[this.heap[0]!]!;
      const row = top.row;
      const at = top.at;
      for (let j = 0; j < W; j++) out[o + j] = row[at + j]!;
      this.advanceTop();
      if (sum >= 0) {
        while (this.size > 0) {
          const c = this.cursors[this.heap[0]!]!;
          if (compareRows(key, out, o, c.row, c.at) !== 0) break;
          addCount(out, o + sum, c.row[c.at + sum]!);
          this.advanceTop();
        }
      }
      o += W;
      n++;
    }
    if (n < max) this.close();
    return n;
  }
  /**
   * `take` while two cursors are left (the blocks sorted in two slices by two threads, the runs
   * of two counting threads): a plain two-way merge, without the heap, equal keys summed when the
   * spec sums. Stops when a cursor ends, leaving the heap as it should be.
   */
  private takeOfTwo(out: Uint32Array, o: number, max: number): number {
    const { key, sum, width: W } = this.spec;
    // x comes first on equal keys (the heap's order: the lower cursor index).
    const first = Math.min(this.heap[0]!, this.heap[1]!);
    const second = Math.max(this.heap[0]!, this.heap[1]!);
    const x = this.cursors[first]!;
    const y = this.cursors[second]!;
    let xLive = true;
    let yLive = true;
    let n = 0;
    while (n < max) {
      const fromX = compareRows(key, x.row, x.at, y.row, y.at) <= 0;
      const from = fromX ? x : y;
      const row = from.row;
      const at = from.at;
      for (let j = 0; j < W; j++) out[o + j] = row[at + j]!;
      if (fromX) xLive = x.next();
      else yLive = y.next();
      if (sum >= 0) {
        // Every row with this key, from either cursor (x's first, as the heap takes them).
        while (xLive && compareRows(key, out, o, x.row, x.at) === 0) {
          addCount(out, o + sum, x.row[x.at + sum]!);
          xLive = x.next();
        }
        while (yLive && compareRows(key, out, o, y.row, y.at) === 0) {
          addCount(out, o + sum, y.row[y.at + sum]!);
          yLive = y.next();
        }
      }
      o += W;
      n++;
      if (!xLive || !yLive) {
        this.size = (xLive ? 1 : 0) + (yLive ? 1 : 0);
        if (this.size === 1) this.heap[0] = xLive ? first : second;
        return n;
      }
    }
    // The heap's top: the smaller row now.
    const xFirst = compareRows(key, x.row, x.at, y.row, y.at) <= 0;
    this.heap[0] = xFirst ? first : second;
    this.heap[1] = xFirst ? second : first;
    return n;
  }
  close(): void {
    for (const c of this.cursors) c.close();
    this.size = 0;
  }
}

/**
 * Sorted cursors whose rows follow one another in key order (each one's rows all come before the
 * next one's: the shares of a counting block, cut by predicted word) read as one stream, without
 * comparing rows.
 */
class ChainCursor implements RowCursor {
  row: Uint32Array;
  at = 0;
  private i = 0;
  constructor(
    private readonly parts: RowCursor[],
    private readonly width: number,
  ) {
    this.row = parts[0]!.row;
  }
  next(): boolean {
    for (; this.i < this.parts.length; this.i++) {
      const c = this.parts[this.i]!;
      if (c.next()) {
        this.row = c.row;
        this.at = c.at;
        return true;
      }
    }
    return false;
  }
  take(out: Uint32Array, o: number, max: number): number {
    let n = 0;
    for (; this.i < this.parts.length; this.i++) {
      n += readRows(this.parts[this.i]!, this.width, out, o + n * this.width, max - n);
      if (n === max) break;
    }
    return n;
  }
  close(): void {
    for (const c of this.parts) c.close();
    this.i = this.parts.length;
  }
}

/**
 * Stored runs read one after another as one run: rows that follow one another in key order (see
 * ChainCursor), or a spool's runs. Each part is dropped once read through.
 */
export function concatRuns(runs: StoredRun[]): StoredRun {
  if (runs.length === 1) return runs[0]!;
  return {
    words: runs.reduce((sum, r) => sum + r.words, 0),
    reader() {
      let i = 0;
      let read = runs[0]!.reader();
      return (into) => {
        for (;;) {
          const got = read(into);
          if (got > 0 || i === runs.length - 1) return got;
          // A part read through leaves the storage now, not with the whole run.
          runs[i++]!.drop();
          read = runs[i]!.reader();
        }
      };
    },
    drop() {
      for (const r of runs) r.drop();
    },
  };
}

/** A function that runs `done` at its `n`-th call: once each of n blocks read has released its part. */
export function afterAll(n: number, done: () => void): () => void {
  let open = n;
  return () => {
    if (--open === 0) done();
  };
}

/** A cursor over no rows. */
export const emptyCursor = (): RowCursor => ({ row: new Uint32Array(0), at: 0, next: () => false, close() {} });

/** Words of the buffer that rows of `width` words are written to storage through. */
function writeBufferWords(env: StreamEnv, width: number): number {
  return Math.max(width, Math.min(1 << 18, env.minReadBytes >> 2));
}

/**
 * Stores rows of `width` words that are in order with distinct keys already (nothing to combine):
 * `take` writes the next rows into a buffer (at most `max`; how many, 0 at the end), appended
 * block by block.
 */
export function storeRows(env: StreamEnv, width: number, take: (out: Uint32Array, max: number) => number): StoredRun {
  const sink = env.storage.begin();
  const step = Math.max(1, Math.floor(writeBufferWords(env, width) / width));
  const buf = new Uint32Array(step * width);
  for (let n = take(buf, step); n > 0; n = take(buf, step)) sink.append(buf.subarray(0, n * width));
  return sink.end();
}

/** Writes `rows` as one stored run, as they are. */
function storeAsIs(storage: RunStorage, rows: Uint32Array): StoredRun {
  const sink = storage.begin();
  sink.append(rows);
  return sink.end();
}

/**
 * The runs of one stream: stored runs plus at most one block still in memory, read back as one
 * merged cursor.
 */
export class RunSet {
  private stored: StoredRun[] = [];
  private inMemory: { rows: Uint32Array; perm: Uint32Array | null; n: number; release: () => void; follows: boolean; distinct: boolean }[] = [];
  constructor(
    readonly spec: RowSpec,
    private readonly env: StreamEnv,
  ) {}

  get spilled(): boolean {
    return this.stored.length > 0;
  }

  /** Writes sorted rows (through `perm` when given) as a stored run. */
  store(rows: Uint32Array, n: number, perm: Uint32Array | null): void {
    const W = this.spec.width;
    if (this.spec.sum < 0 && this.spec.radix.length === 0) {
      // Rows kept in the order they came (a spool's block).
      this.add(storeAsIs(this.env.storage, rows.subarray(0, n * W)));
      return;
    }
    if (this.spec.sum < 0 && perm) {
      // Keys are unique: gather straight into blocks and append them.
      let first = 0;
      this.add(
        storeRows(this.env, W, (out, max) => {
          const count = Math.min(max, n - first);
          gatherRows(rows, perm, first, first + count, W, out);
          first += count;
          return count;
        }),
      );
      return;
    }
    const writer = this.writer();
    if (perm) for (let i = 0; i < n; i++) writer.write(rows, perm[i]! * W);
    else for (let i = 0; i < n; i++) writer.write(rows, i * W);
    this.add(writer.end());
  }

  /** A writer for one more stored run, rows given in order; `add` its `end()`. */
  writer(): RunWriter {
    return new RunWriter(this.spec, this.env.storage, writeBufferWords(this.env, this.spec.width));
  }

  add(run: StoredRun): void {
    this.stored.push(run);
  }

  /**
   * Keeps a sorted run in memory; `release` runs when it has been read. `distinct`: its keys are
   * (equal rows summed already); `follows`: its rows all come after those of the run kept before
   * it, which it continues without a merge.
   */
  keep(rows: Uint32Array, n: number, perm: Uint32Array | null, release: () => void, how: { distinct?: boolean; follows?: boolean } = {}): void {
    this.inMemory.push({ rows, perm, n, release, follows: !!how.follows, distinct: !!how.distinct });
  }

  /**
   * The runs and blocks, for another thread to read (see StreamImage); `release` gives back
   * what the blocks hold, once that thread is done with them.
   */
  image(): { image: StreamImage; release: () => void } {
    const blocks = this.inMemory.map(({ rows, perm, n }) => ({ rows, perm, n }));
    const releases = this.inMemory.map((b) => b.release);
    const image = { runs: this.stored, blocks };
    this.stored = [];
    this.inMemory = [];
    return { image, release: () => releases.forEach((r) => r()) };
  }

  /**
   * Takes over a stream that another thread ended (see `image`): its runs and blocks become this
   * set's, an unsorted block sorted here with `scratch`.
   */
  adopt(image: StreamImage, release: () => void = () => {}, scratch?: SortScratch): void {
    for (const run of image.runs) this.add(run);
    const read = afterAll(image.blocks.length, release);
    for (const b of image.blocks) {
      if (!b.unsorted) this.keep(b.rows, b.n, b.perm, read);
      else {
        if (!scratch) throw new Error('RunSet.adopt: an unsorted block needs a scratch to sort it');
        this.keep(b.rows, b.n, sortRows(b.rows, b.n, this.spec, scratch).slice(0, b.n), read);
        this.env.budget.garbage(scratch.release());
      }
    }
    if (image.blocks.length === 0) release();
  }

  /** The one stored run (of a set used to write one run). */
  takeStored(): StoredRun {
    if (this.stored.length !== 1 || this.inMemory.length > 0) throw new Error('RunSet: not one stored run');
    return this.stored.pop()!;
  }

  /**
   * The whole stream, merged. When more runs are stored than read buffers fit the budget, groups
   * of them are merged into longer runs first (as many levels as it takes).
   */
  cursor(onMerge?: (runsLeft: number) => void): RowCursor {
    const { budget, minReadBytes } = this.env;
    const W = this.spec.width;
    const rowBytes = W * 4;
    const minBuffer = Math.max(minReadBytes, rowBytes);
    const fanIn = () => Math.max(2, Math.floor(budget.available / minBuffer));
    while (this.stored.length + this.inMemory.length > fanIn() && this.stored.length > 1) {
      const group = this.stored.splice(0, Math.min(fanIn(), this.stored.length));
      onMerge?.(this.stored.length + group.length);
      this.env.storage.mergedRuns++;
      const merged = this.open(group, Math.floor(budget.available / (group.length + 1)));
      const writer = new RunWriter(this.spec, this.env.storage, writeBufferWords(this.env, this.spec.width));
      while (merged.next()) writer.write(merged.row, merged.at);
      this.stored.push(writer.end());
    }
    const sources = this.stored.length;
    const share = Math.floor((budget.available * 0.9) / Math.max(1, sources));
    const cursors = this.openCursors(this.stored, share);
    // Kept blocks, each one that follows the one before chained to it: one cursor per chain.
    const chains: { parts: RowCursor[]; distinct: boolean }[] = [];
    for (const b of this.inMemory) {
      const part = new PermCursor(b.rows, b.perm, b.n, W, b.release, this.env.pool);
      const last = chains.at(-1);
      if (b.follows && last) {
        last.parts.push(part);
        last.distinct &&= b.distinct;
      } else chains.push({ parts: [part], distinct: b.distinct });
    }
    for (const c of chains) cursors.push(c.parts.length === 1 ? c.parts[0]! : new ChainCursor(c.parts, W));
    // A run alone is read as it is when its keys are distinct: a stored one's are (its writer sums
    // equal rows); a kept one says so.
    const distinct = chains.length === 0 || chains[0]!.distinct;
    this.stored = [];
    this.inMemory = [];
    if (cursors.length === 0) return emptyCursor();
    if (cursors.length === 1 && (this.spec.sum < 0 || distinct)) return cursors[0]!;
    return new MergeCursor(this.spec, cursors);
  }

  private open(runs: StoredRun[], bufferBytes: number): RowCursor {
    const cursors = this.openCursors(runs, bufferBytes);
    return cursors.length === 1 && this.spec.sum < 0 ? cursors[0]! : new MergeCursor(this.spec, cursors);
  }

  private openCursors(runs: StoredRun[], bufferBytes: number): RowCursor[] {
    const W = this.spec.width;
    const bytes = Math.max(this.env.minReadBytes, W * 4, Math.min(bufferBytes, 1 << 22));
    const words = Math.floor(bytes / 4);
    return runs.map((run) => {
      const taken = words * 4;
      this.env.budget.take(taken, true);
      return new StoredCursor(run, W, words, () => this.env.budget.give(taken));
    });
  }

  /** Drops every run without reading it (on error). */
  drop(): void {
    for (const r of this.stored) r.drop();
    for (const b of this.inMemory) b.release();
    this.stored = [];
    this.inMemory = [];
  }
}

/**
 * A stream's block cut in two halves once it has spilled: one filled here while another thread
 * sorts or writes the other (one job at a time), and the stream's runs kept in block order: those
 * made here while that job runs follow its run.
 */
class HalvedBlock {
  private pending: PendingJob | null = null;
  private readonly waiting: StoredRun[] = [];
  constructor(
    readonly halves: [Uint32Array, Uint32Array],
    /** Adds a run to the stream, in block order. */
    private readonly add: (run: StoredRun) => void,
  ) {}

  /** Whether the job elsewhere still holds its half. */
  get busy(): boolean {
    return this.pending !== null && !this.pending.ready();
  }

  /** Whether a job was started elsewhere and its run not taken yet. */
  get started(): boolean {
    return this.pending !== null;
  }

  /** The job started elsewhere on `half` (after `settle`); the half to fill next. */
  start(job: PendingJob, half: Uint32Array): Uint32Array {
    this.pending = job;
    return half === this.halves[0] ? this.halves[1] : this.halves[0];
  }

  /** A run made here: after the run being made elsewhere. */
  here(run: StoredRun): void {
    if (this.pending) this.waiting.push(run);
    else this.add(run);
  }

  /** Takes the run made elsewhere, waiting for it, then the runs made here after it. */
  settle(): void {
    const pending = this.pending;
    if (!pending) return;
    this.pending = null;
    const r = pending.wait();
    if ('run' in r) this.add(r.run);
    for (const run of this.waiting.splice(0)) this.add(run);
  }

  /** On an error: waits for the job elsewhere and drops the runs made here that it held back. */
  drop(): void {
    try {
      this.settle();
    } catch {
      // The error that brought us here is the one to report.
    }
    for (const run of this.waiting.splice(0)) run.drop();
  }
}

/** Blocks below this many rows are sorted by one thread. */
const PARALLEL_ROWS = 1 << 15;

/**
 * Rows appended in any order, read back sorted: a block grows inside the budget; when it cannot,
 * it is sorted and stored as a run. A stream that fits is one block that never leaves memory.
 */
export class RowSorter implements RowTarget {
  private rows: Uint32Array;
  private count = 0;
  private reserved = 0; // bytes taken from the budget
  private readonly runs: RunSet;
  /** Once the stream has spilled, with a pool that sorts in the background: its block in halves. */
  private halved: HalvedBlock | null = null;
  /** Whether the input has ended (`end`, or handed off unsorted). */
  private ended = false;

  /** With `maxRows`: the block for all of them that the budget could hold, which `rows` grows through. */
  private whole: Uint32Array | null = null;

  /**
   * `maxRows`: at most how many rows the stream will get, where that is known (stage 4 knows
   * each order's n-grams; stage 2 has the tokens as a bound): the block then grows without being
   * copied (see `makeRoom`).
   */
  constructor(
    readonly spec: RowSpec,
    private readonly env: StreamEnv,
    private readonly scratch: SortScratch,
    private readonly maxRows = 0,
  ) {
    this.runs = new RunSet(spec, env);
    this.rows = new Uint32Array(0);
  }

  /** Bytes per row held by a block: the row, and the permutation, spare and keys of its sort. */
  private get rowBytes(): number {
    return (this.spec.width + 3) * 4;
  }

  pushed = 0;

  /** Offset in `this.block` where the caller writes the next rows (`width` words each; see RowTarget). */
  push(upTo = 1): number {
    const W = this.spec.width;
    if (this.count * W === this.rows.length) this.makeRoom();
    const at = this.count * W;
    this.pushed = Math.min(upTo, this.rows.length / W - this.count);
    this.count += this.pushed;
    return at;
  }

  /** The block being filled (valid until the next `push`). */
  get block(): Uint32Array {
    return this.rows;
  }

  private makeRoom(): void {
    if (this.halved) return this.spillHalf();
    const W = this.spec.width;
    const have = this.rows.length / W;
    const want = grownRows(have, this.maxRows);
    const extra = (want - have) * this.rowBytes;
    if (this.env.budget.take(extra, want * this.rowBytes <= minBlockBytes(this.env))) {
      this.reserved += extra;
      const allocate = (words: number) => newBlock(this.env, words);
      if (!this.whole && this.maxRows > want && !this.runs.spilled) this.whole = wholeBlock(this.env, this.maxRows, want, W, this.rowBytes, allocate);
      const old = this.rows;
      this.rows = grownBlock(old, want, W, this.whole, allocate);
      // Counted once nothing refers to the old block, so that the collection this may start frees it.
      if (this.rows.buffer !== old.buffer) this.env.budget.garbage(old.byteLength);
      return;
    }
    // From the first spill on, sort in the background where another thread can: each half of the
    // block in turn is filled while the other is sorted (runs of half the size, in the same memory).
    const pool = this.env.pool;
    const half = (this.rows.length / W) >> 1;
    if (!pool?.begin || pool.threads < 2 || half < PARALLEL_ROWS || half * this.rowBytes < minBlockBytes(this.env)) return this.spill();
    const halves: [Uint32Array, Uint32Array] = [this.rows.subarray(0, half * W), this.rows.subarray(half * W, 2 * half * W)];
    const free = freeThreads(pool) > 1;
    // The other thread busy: the first half goes behind its jobs where they are short, the second
    // is sorted here, and the block fills again where that one was.
    const pending = free ? null : pool.enqueue?.({ kind: 'rows', rows: halves[0], n: half, spec: this.spec, store: true });
    if (!pending) {
      // This block on every free thread at once (or here, where the other thread is at a long job).
      this.spill();
      if (free) {
        this.halved = new HalvedBlock(halves, (run) => this.runs.add(run));
        this.rows = halves[0];
      }
      return;
    }
    const rest = this.rows.subarray(half * W, this.count * W);
    this.halved = new HalvedBlock(halves, (run) => this.runs.add(run));
    this.rows = this.halved.start(pending, halves[0]);
    this.halved.here(sortAndStore(rest, this.count - half, this.spec, this.env, this.scratch));
    this.count = 0;
  }

  /**
   * Hands the full half to another thread to sort and store (queued behind that thread's other
   * sorts), and goes on in the other half; sorts this one here when the other half is still
   * waiting to be sorted, or when no thread will take it soon (waiting would leave one idle).
   */
  private spillHalf(): void {
    const W = this.spec.width;
    const pool = this.env.pool!;
    const halved = this.halved!;
    let pending: PendingJob | null = null;
    if (!halved.busy) {
      halved.settle();
      const job: SortJob = { kind: 'rows', rows: this.rows.subarray(0, this.count * W), n: this.count, spec: this.spec, store: true };
      pending = pool.enqueue ? pool.enqueue(job) : freeThreads(pool) > 1 ? pool.begin!(job) : null;
    }
    if (pending) this.rows = halved.start(pending, this.rows);
    else halved.here(sortAndStore(this.rows, this.count, this.spec, this.env, this.scratch));
    this.count = 0;
  }

  /**
   * Sorts the block into runs: one, or one per free thread of the pool (at most `threads`). A
   * block to keep in memory is cut by its most significant column into shares of about equal
   * rows (`SortRange`), which make one run; one to store is cut into equal slices, one run each
   * (the merge puts them together with the stream's other runs).
   */
  private sortBlock(store: boolean, threads = Infinity): SortResult[] {
    const W = this.spec.width;
    const n = this.count;
    const pool = this.env.pool;
    const T = pool && n >= PARALLEL_ROWS ? Math.min(threads, freeThreads(pool)) : 1;
    if (T < 2) {
      const perm = sortRows(this.rows, n, this.spec, this.scratch);
      if (store) {
        this.runs.store(this.rows, n, perm);
        return [];
      }
      // Shared with a pool, so that another thread can gather rows through it (PermCursor).
      return [{ rows: this.rows, perm: copyShared(perm.subarray(0, n), this.env), n }];
    }
    const jobs: SortJob[] = [];
    if (!store && this.spec.radix.length > 0) {
      const perm = newBlock(this.env, n);
      let at = 0;
      for (const r of columnRanges(this.rows, n, W, this.spec.radix[this.spec.radix.length - 1]!, T)) {
        jobs.push({ kind: 'rows', rows: this.rows, n, spec: this.spec, store, range: { lo: r.lo, hi: r.hi, out: perm.subarray(at, at + r.n) } });
        at += r.n;
      }
      pool!.run(jobs, this.scratch);
      return [{ rows: this.rows, perm, n }];
    }
    for (let t = 0; t < T; t++) {
      const a = Math.floor((n * t) / T);
      const b = Math.floor((n * (t + 1)) / T);
      jobs.push({ kind: 'rows', rows: this.rows.subarray(a * W, b * W), n: b - a, spec: this.spec, store });
    }
    return pool!.run(jobs, this.scratch);
  }

  private spill(): void {
    for (const r of this.sortBlock(true)) if ('run' in r) this.runs.add(r.run);
    this.count = 0;
  }

  /**
   * For a stream that has spilled (whose `finish` would store its block anyway): stores the rows
   * the block holds now and frees the block, so that its memory serves other streams until then.
   */
  storeBlock(): void {
    if (!this.runs.spilled && !this.halved?.started) return;
    // The half sorted elsewhere comes first; the last rows are sorted here, on every thread.
    this.halved?.settle();
    if (this.count > 0) this.spill();
    this.releaseBlock();
  }

  /** Ends the input; the sorted stream. */
  finish(onMerge?: (runsLeft: number) => void): RowCursor {
    this.end();
    return this.runs.cursor(onMerge);
  }

  /**
   * Ends the input for another thread to read the sorted stream (see RunSet.image). With
   * `sortHere` false, a block that has not spilled goes unsorted, and that thread sorts it (its
   * arrays are in this stream's share of the budget, given back with the block's).
   */
  handOff(sortHere = true): { image: StreamImage; release: () => void } {
    if (sortHere || this.ended || this.runs.spilled || this.halved?.started || this.spec.radix.length === 0) {
      this.end();
      return this.runs.image();
    }
    this.ended = true;
    const image: StreamImage = { runs: [], blocks: [{ rows: this.rows, perm: null, n: this.count, unsorted: true }] };
    const reserved = this.reserved;
    this.rows = new Uint32Array(0);
    this.whole = null;
    this.reserved = 0;
    return { image, release: () => this.env.budget.give(reserved) };
  }

  /**
   * Ends the input and sorts what the block holds now (on every thread free now), where the
   * stream will be read later: `finish` or `handOff` then only open it.
   */
  sortNow(): void {
    this.end();
  }

  /**
   * `sortNow` for several streams. Two or more blocks to keep in memory go whole to the free
   * threads, side by side: the largest first, each to the thread with the least work so far
   * (this one, or the other thread of a pool of two; with more, `begin` picks the helper). A
   * block cut into shares (`sortBlock`) costs each thread nearly what the whole block costs one,
   * as every share reads every row's key columns: Penn Treebank's 3-grams took 34 ms a share on
   * two threads, 25 ms whole on one. A block alone is still cut into shares.
   */
  static sortTogether(sorters: readonly RowSorter[]): void {
    const kept = sorters.filter((s) => s.keepsUnsorted).sort((a, b) => b.sortCost - a.sortCost);
    const pool = kept[0]?.env.pool;
    const T = pool?.begin && kept.length > 1 ? Math.min(kept.length, freeThreads(pool)) : 1;
    if (T < 2) {
      for (const s of sorters) s.sortNow();
      return;
    }
    const load = new Array<number>(T).fill(0);
    const here: RowSorter[] = [];
    const elsewhere: { sorter: RowSorter; pending: PendingJob | null }[] = [];
    try {
      for (const s of kept) {
        let t = 0;
        for (let i = 1; i < T; i++) if (load[i]! < load[t]!) t = i;
        load[t]! += s.sortCost;
        if (t === 0) here.push(s);
        else elsewhere.push({ sorter: s, pending: pool!.begin!({ kind: 'rows', rows: s.rows, n: s.count, spec: s.spec, store: false }) });
      }
      for (const s of here) s.end(1);
    } finally {
      // Every answer is taken before an error goes on, so that no thread still reads a block.
      let failure: unknown = null;
      for (const e of elsewhere) {
        try {
          const r = e.pending!.wait();
          e.pending = null;
          e.sorter.ended = true;
          e.sorter.keep([r]);
        } catch (error) {
          failure ??= error;
        }
      }
      if (failure) throw failure;
    }
    for (const s of sorters) s.sortNow();
  }

  /** Whether the stream's block is to be sorted and kept in memory (not yet ended, never spilled). */
  private get keepsUnsorted(): boolean {
    return !this.ended && !this.runs.spilled && !this.halved?.started && this.count > 0 && this.spec.radix.length > 0;
  }

  /** About how long the block's sort takes: rows × radix passes. */
  private get sortCost(): number {
    return this.count * this.spec.radix.length;
  }

  /**
   * Sorts what the block holds: stored when the stream has spilled, else kept in memory (on at
   * most `threads` threads).
   */
  private end(threads = Infinity): void {
    if (this.ended) return;
    this.ended = true;
    if (this.runs.spilled || this.halved?.started) this.storeBlock();
    else this.keep(this.sortBlock(false, threads));
    this.env.budget.garbage(this.scratch.release());
  }

  /** Keeps the block's sorted runs (`sortBlock`'s results) in memory, to be read later. */
  private keep(results: SortResult[]): void {
    // What stays until the run is read: the block and the permutation (the sort's spare and
    // keys are free now).
    const reserved = Math.min(this.reserved, this.rows.byteLength + this.count * 4);
    this.env.budget.give(this.reserved - reserved);
    const release = afterAll(results.length, () => this.env.budget.give(reserved));
    this.rows = new Uint32Array(0);
    this.whole = null; // the cursor's views keep it until they are read
    this.reserved = 0;
    for (const r of results) if ('rows' in r) this.runs.keep(r.rows, r.n, r.perm, release);
  }

  private releaseBlock(): void {
    this.env.budget.give(this.reserved);
    this.reserved = 0;
    this.rows = new Uint32Array(0);
    this.whole = null;
    this.halved = null;
  }

  /** Frees everything (on error): waits for a half being sorted elsewhere, and drops its run. */
  drop(): void {
    this.halved?.drop();
    this.releaseBlock();
    this.runs.drop();
  }
}

/**
 * Where a producer writes rows: `push()` gives the offset in `block` of a new row; `push(m)`, of
 * up to m new rows, as many as fit the block (at least one): `pushed` says how many.
 */
export interface RowTarget {
  push(upTo?: number): number;
  readonly block: Uint32Array;
  readonly pushed: number;
}

/** Appends rows `0…n` of `rows` (W words each) to `target`, a block's worth at a time. */
export function pushRows(target: RowTarget, rows: Uint32Array, n: number, W: number): void {
  for (let i = 0; i < n; ) {
    const o = target.push(n - i);
    const m = target.pushed;
    target.block.set(rows.subarray(i * W, (i + m) * W), o);
    i += m;
  }
}

/** Rows kept in the order they come: a `rows` job with this spec writes a block as it is. */
const inOrder = (width: number): RowSpec => ({ width, radix: [], key: [], sum: -1 });

/**
 * Rows appended already in order (no sorting): kept in memory while the budget allows, else
 * written as consecutive runs and read back one after the other. Once written, with a pool that
 * queues jobs, the block is cut in halves: one fills while another thread writes the other.
 */
export class RowSpool implements RowTarget {
  block: Uint32Array = new Uint32Array(0);
  private count = 0;
  private reserved = 0;
  private readonly runs: StoredRun[] = [];
  rows = 0;

  /** With `maxRows`: the block for all of them that the budget could hold (see `grownBlock`). */
  private whole: Uint32Array | null = null;
  /** Once written, with a pool that queues jobs: its block in halves. */
  private halved: HalvedBlock | null = null;

  /** `maxRows`: at most how many rows will come, where that is known (see RowSorter). */
  constructor(
    readonly width: number,
    private readonly env: StreamEnv,
    private readonly maxRows = 0,
  ) {}

  pushed = 0;

  push(upTo = 1): number {
    const W = this.width;
    if (this.count * W === this.block.length) this.makeRoom();
    const at = this.count * W;
    this.pushed = Math.min(upTo, this.block.length / W - this.count);
    this.count += this.pushed;
    this.rows += this.pushed;
    return at;
  }

  /** Room for more rows: the block grown inside the budget, else its rows written (see `spill`). */
  private makeRoom(): void {
    const W = this.width;
    if (this.halved) return this.writeHalf();
    const have = this.block.length / W;
    const want = grownRows(have, this.maxRows);
    const extra = (want - have) * W * 4;
    if (!this.env.budget.take(extra, want * W * 4 <= minBlockBytes(this.env))) return this.spill();
    // Shared under a pool: a spool written on one thread may be read on another (stage 4).
    const allocate = (words: number) => newBlock(this.env, words);
    if (!this.whole && this.maxRows > want && this.runs.length === 0) this.whole = wholeBlock(this.env, this.maxRows, want, W, W * 4, allocate);
    const old = this.block;
    this.block = grownBlock(old, want, W, this.whole, allocate);
    this.reserved += extra;
    if (this.block.buffer !== old.buffer) this.env.budget.garbage(old.byteLength); // once nothing refers to it (see RowSorter)
  }

  /** The full block that cannot grow: written here, or its first half by another thread (then halves from here on). */
  private spill(): void {
    const W = this.width;
    const pool = this.env.pool;
    const half = (this.block.length / W) >> 1;
    const pending = pool?.enqueue && pool.threads > 1 && half * W * 4 >= minBlockBytes(this.env) ? pool.enqueue({ kind: 'rows', rows: this.block.subarray(0, half * W), n: half, spec: inOrder(W), store: true }) : null;
    if (!pending) return this.writeBlock();
    const rest = this.block.subarray(half * W, this.count * W);
    this.halved = new HalvedBlock([this.block.subarray(0, half * W), this.block.subarray(half * W, 2 * half * W)], (run) => this.runs.push(run));
    this.block = this.halved.start(pending, this.halved.halves[0]);
    this.halved.here(storeAsIs(this.env.storage, rest));
    this.count = 0;
  }

  /** The full half: to another thread where the other half is written already, else written here. */
  private writeHalf(): void {
    const W = this.width;
    const halved = this.halved!;
    let pending: PendingJob | null = null;
    if (!halved.busy) {
      halved.settle();
      pending = this.env.pool!.enqueue!({ kind: 'rows', rows: this.block.subarray(0, this.count * W), n: this.count, spec: inOrder(W), store: true });
    }
    if (!pending) return this.writeBlock();
    this.block = halved.start(pending, this.block);
    this.count = 0;
  }

  /** Writes the block's rows here, after any half being written elsewhere. */
  private writeBlock(): void {
    const run = storeAsIs(this.env.storage, this.block.subarray(0, this.count * this.width));
    if (this.halved) this.halved.here(run);
    else this.runs.push(run);
    this.count = 0;
  }

  /** Ends the input; the rows in the order they came. */
  finish(): RowCursor {
    const { image, held } = this.handOff();
    return spoolCursor(this.width, this.env, image, () => this.env.budget.give(held));
  }

  /**
   * Ends the input for another thread to read the rows (see SpoolImage). A spilled spool stores
   * its block's rows and gives the block back; one in memory keeps it, and its bytes (`held`)
   * stay taken from the budget until the reader is done (the caller gives them then).
   */
  handOff(): { image: SpoolImage; held: number } {
    this.halved?.settle();
    const spilled = this.runs.length > 0;
    if (spilled && this.count > 0) this.writeBlock();
    const image = { runs: this.runs.splice(0), block: spilled ? new Uint32Array(0) : this.block, n: spilled ? 0 : this.count };
    if (spilled) this.env.budget.give(this.reserved);
    const held = spilled ? 0 : this.reserved;
    this.reserved = 0;
    this.block = new Uint32Array(0);
    this.whole = null;
    this.halved = null;
    this.count = 0;
    return { image, held };
  }

  /** Frees everything (on error): waits for a half being written elsewhere, and drops its run. */
  drop(): void {
    this.halved?.drop();
    this.env.budget.give(this.reserved);
    this.reserved = 0;
    this.block = new Uint32Array(0);
    this.whole = null;
    this.halved = null;
    for (const r of this.runs.splice(0)) r.drop();
  }
}

/**
 * The rows of a spool (see RowSpool.handOff), in order: its block in memory, or its runs one after
 * the other, each through one read buffer charged to the budget until the last run is read.
 * `release` runs when the block has been read (or at once for runs).
 */
export function spoolCursor(W: number, env: StreamEnv, image: SpoolImage, release: () => void): RowCursor {
  if (image.runs.length === 0) return new PermCursor(image.block, null, image.n, W, release);
  release();
  // The runs one after another, through one buffer read in stretches (`take`).
  const bytes = Math.max(env.minReadBytes, W * 4, Math.min(env.budget.available >> 1, 1 << 22));
  const words = Math.floor(bytes / 4);
  env.budget.take(words * 4, true);
  return new StoredCursor(concatRuns(image.runs), W, words, () => env.budget.give(words * 4));
}

/** Rows appended in order, kept in one growable array in memory (for results that stay there). */
export class RowCollector implements RowTarget {
  block: Uint32Array;
  count = 0;
  /** `block`: where the rows go while they fit (then a copy grows). */
  constructor(
    readonly width: number,
    block?: Uint32Array,
  ) {
    this.block = block ?? new Uint32Array(256 * width);
  }
  pushed = 0;
  push(upTo = 1): number {
    if ((this.count + 1) * this.width > this.block.length) {
      const bigger = new Uint32Array(this.block.length * 2);
      bigger.set(this.block);
      this.block = bigger;
    }
    const at = this.count * this.width;
    this.pushed = Math.min(upTo, this.block.length / this.width - this.count);
    this.count += this.pushed;
    return at;
  }
}
