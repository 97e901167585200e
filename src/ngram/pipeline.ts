/**
 * Estimation as a pipeline of sorted record streams, in the spirit of KenLM's lmplz (Heafield et
 * al. 2013, "Scalable Modified Kneser-Ney Language Model Estimation"). No stage needs all
 * n-grams in memory: each reads streams of fixed-width rows in one order and writes streams in
 * another, through `records.ts` (blocks sorted inside the memory budget, runs spilled to storage,
 * k-way merges). A stream that fits its budget is one block that never leaves memory, so the
 * in-memory estimate (`estimate()`) and the streaming one (`kotoba train --memory`) are this one
 * code path.
 *
 * Words are uint32 ids (`<unk>` 0, `<s>` 1, `</s>` 2, then first appearance). N is the order.
 * Two orders of rows:
 *   suffix order   the last word first, then the one before it, …: lmplz's order. The k-grams
 *                  that end in the same (k−1)-gram are adjacent, and the orders line up: the
 *                  k-grams come in the order of their suffixes among the (k−1)-grams.
 *   context order  the context (all words but the last) in suffix order, then the last word: the
 *                  children of one context are adjacent, and contexts come in suffix order.
 *
 * Row layouts (uint32 words; f64 = two words, f32 = the float's bits):
 *   COUNT      [w0 … w(N−1), count]                 suffix order, equal rows summed
 *   ADJUSTED k [w0 … w(k−1), raw, adjusted]         context order           (2 ≤ k ≤ N)
 *   INITIAL  k [w0 … w(k−1), α, γ(context), kept | context]  suffix order  (2 ≤ k ≤ N);
 *              α and γ f32 for modified Kneser-Ney (float32 arithmetic), f64 otherwise; context:
 *              the context's ordinal among the contexts of order k (its BACKOFF row)
 *   BACKOFF  j [w0 … w(j−1), γ f64]                 suffix order, contexts with children (j < N)
 *   MODEL    k [w0 … w(k−1), log10 p f32, log10 backoff f32]  suffix order, kept n-grams
 *
 * The recipe (the stage numbers are those `-v` prints):
 *   1. count        sentences of ids → COUNT. Every token but `<s>` ends one row; a row that
 *                   reaches back past its sentence's `<s>` is padded on the left with `<s>`, as
 *                   lmplz pads (`<s> <s> w`), so every row has N words. Blocks of tokens are
 *                   sorted by their positions' padded keys (radix) and equal rows summed; shards
 *                   from count files enter here as COUNT rows. Vocabulary limits (`--min-count`,
 *                   `--max-vocab`) then map rare words to `<unk>` and sort again.
 *   2. adjust       COUNT → ADJUSTED of every order k ≥ 2, and unigram counts by word id, and
 *                   the count-of-counts of every order. One pass: in suffix order every k-gram is
 *                   a run of adjacent rows (their last k words agree), so its raw count is the
 *                   run's sum and its Kneser-Ney adjusted count the number of distinct (k+1)-
 *                   grams that start inside it; raw for the top order and for n-grams that start
 *                   with `<s>`. k-grams leave in suffix order; their stream sorts them by context.
 *   3. discount     count-of-counts → the smoother's parameters (discounts, with fallback).
 *   4. initial      per order, ADJUSTED (context order) → one context at a time: its totals
 *                   and N1, N2, N3+; each child's α(h, w); the context's γ(h), into which count
 *                   pruning moves the α of its pruned children. → INITIAL (sorted back into
 *                   suffix order) and BACKOFF of the order below (contexts come in its suffix
 *                   order already). Unigrams: one context, in memory.
 *   5. interpolate  every order's INITIAL at once, lowest first: p(w | h) = α + γ(h)·p(w | h′),
 *                   where p(w | h′) is the row of the order below whose words are this row's
 *                   last k−1: in suffix order the current or a later row there (a merge join).
 *                   log10 p, and log10 γ from the BACKOFF row with the same words → MODEL.
 *   6. output       MODEL, order by order → ARPA text, or tables in memory.
 *
 * Every smoother streams: each is α(h, w) and γ(h) from its context's sums and the
 * count-of-counts (smoothing.ts), which stage 4 has at hand.
 *
 * Threads (a SortPool in the StreamEnv) take a partition of each block and their results are
 * put together in a fixed order, so the bytes never depend on the thread count: counting cuts a
 * block's positions by their predicted word (each share's rows a stretch of the suffix order, so
 * the shares make one run without a merge), sorting cuts a block of rows into equal slices (runs
 * merged), stage 4 cuts a batch between contexts, stage 5
 * between last words (an n-gram and its suffix end in the same word, so ranges of last words
 * interpolate independently), and stage 6 formats slices of each order's rows. Some work goes on
 * in the background: a sorter that has spilled fills one half of its block while another thread
 * sorts and stores the other; stage 2 reads the next batch while another thread scans the last
 * one's tail (cut where the last two words change, where every n-gram above the unigrams ends);
 * stage 4 gives whole orders (about half the work, with a share of the budget) to another thread,
 * which reads their ADJUSTED streams and hands back their INITIAL and BACKOFF streams (runs and
 * blocks in shared memory change owner, not bytes); and stage 5 reads the next range and writes
 * the last one's rows while other threads interpolate the range between.
 */
import { KotobaError } from '../errors.js';
import { BOS, type Vocabulary } from '../text/vocabulary.js';
import { log10f } from './log10f.js';
import {
  checkCount,
  copyShared,
  countingSortPass,
  freeThreads,
  gatherRows,
  sortAndStore,
  sortRows,
  storeRows,
  type CountedBlock,
  type SortJob,
  type SortPool,
  type SortResult,
  afterAll,
  concatRuns,
  MemoryBudget,
  MergeCursor,
  memoryEnv,
  minBlockBytes,
  newBlock,
  type PendingJob,
  pushRows,
  readRows,
  RowCollector,
  RowSorter,
  RowSpool,
  RunSet,
  SortScratch,
  spoolCursor,
  type SpoolImage,
  type StoredRun,
  type StreamImage,
  type RowCursor,
  type RowSpec,
  type RowTarget,
  type StreamEnv,
  type WordRange,
  roomFor,
  wordRanges,
} from './records.js';
import { createSmoother, type ContextStats, type Smoother, type SmoothingName, type SmoothingOptions } from './smoothing.js';
import { arpaLineMax, formatModelChunks, type WordBytes } from './arpa.js';
import { ArpaKernel } from './arpa-kernel.js';
import { INTERPOLATION_KERNEL_BYTES, interpolationError, InterpolationKernel } from './interpolate-kernel.js';

// ---------------------------------------------------------------------------------------------
// Row layouts

const descending = (from: number, to: number) => Array.from({ length: from - to + 1 }, (_, i) => from - i);
const ascending = (from: number, to: number) => Array.from({ length: Math.max(0, to - from + 1) }, (_, i) => from + i);

/** COUNT rows of order N: N words and a count, suffix order, equal rows summed. */
export function countSpec(N: number): RowSpec {
  return { width: N + 1, key: descending(N - 1, 0), radix: ascending(0, N - 1), sum: N };
}

/** ADJUSTED rows of order k in context order; blocks arrive in suffix order (last word sorted). */
function adjustedSpec(k: number): RowSpec {
  return { width: k + 2, key: [...descending(k - 2, 0), k - 1], radix: ascending(0, k - 2), sum: -1 };
}

/**
 * Where the fields of an INITIAL row of order k lie: its k words, α and γ, then a tag word that
 * holds the ordinal of its context among order k's contexts (the low 31 bits) and whether it is
 * kept (KEPT, the top bit; count pruning drops the rest). α and γ are float32 bits, one word each,
 * for a smoother that computes in float32 (modified Kneser-Ney, which thus sorts and stores rows
 * of k + 3 words), and float64 in two words each otherwise.
 */
interface InitialLayout {
  readonly width: number;
  readonly alpha: number;
  readonly gamma: number;
  readonly tag: number;
  readonly float32: boolean;
}

function initialLayout(k: number, float32: boolean): InitialLayout {
  const v = float32 ? 1 : 2;
  return { width: k + 2 * v + 1, alpha: k, gamma: k + v, tag: k + 2 * v, float32 };
}

/** An INITIAL row's tag bit for a kept n-gram; context ordinals stay below it. */
const KEPT = 2 ** 31;

/** INITIAL rows of order k in suffix order; blocks arrive in context order (context sorted). */
function initialSpec(k: number, float32: boolean): RowSpec {
  return { width: initialLayout(k, float32).width, key: descending(k - 1, 0), radix: [k - 1], sum: -1 };
}

// Floats in uint32 words.
const F64 = new Float64Array(1);
const F64_WORDS = new Uint32Array(F64.buffer);
const F32 = new Float32Array(1);
const F32_WORD = new Uint32Array(F32.buffer);

function putF64(row: Uint32Array, at: number, x: number): void {
  F64[0] = x;
  row[at] = F64_WORDS[0]!;
  row[at + 1] = F64_WORDS[1]!;
}
function getF64(row: Uint32Array, at: number): number {
  F64_WORDS[0] = row[at]!;
  F64_WORDS[1] = row[at + 1]!;
  return F64[0]!;
}
/** An INITIAL row's α or γ (see InitialLayout). */
function putValue(row: Uint32Array, at: number, x: number, float32: boolean): void {
  if (float32) row[at] = f32Bits(x);
  else putF64(row, at, x);
}
function getValue(row: Uint32Array, at: number, float32: boolean): number {
  return float32 ? f32FromBits(row[at]!) : getF64(row, at);
}
/**
 * The bits of x as a float32 (how MODEL rows hold log10 values).
 *
 * @example
 * ```ts
 * // runs
 * import { f32Bits, f32FromBits } from 'kotoba';
 * f32Bits(1);                 // 0x3f800000
 * f32FromBits(f32Bits(-0.5)); // -0.5
 * ```
 */
export function f32Bits(x: number): number {
  F32[0] = x;
  return F32_WORD[0]!;
}
/**
 * The float32 with bits `b`.
 *
 * @example
 * ```ts
 * // runs
 * import { f32FromBits } from 'kotoba';
 * f32FromBits(0x40490fdb); // 3.1415927410125732, π in float32
 * ```
 */
export function f32FromBits(b: number): number {
  F32_WORD[0] = b;
  return F32[0]!;
}

const f = Math.fround;

/** Where the pipeline reports its stages: messages, and counts done for progress bars. */
export interface PipelineLog {
  warn(message: string): void;
  info(message: string): void;
  /** `done` of `total` units of `stage` (total 0 when unknown); called every few million rows. */
  progress?(stage: string, done: number, total: number): void;
}

const PROGRESS_EVERY = 1 << 20;

// ---------------------------------------------------------------------------------------------
// 1. count

/** Bytes per slot of a counting block: the token (sentences padded, `padSentences`) and its sort's three arrays. */
const BYTES_PER_BLOCK_TOKEN = 16;

/** Blocks below this many rows are sorted by one thread. */
export const PARALLEL_MIN_ROWS = 1 << 15;

/**
 * The predicted words of a block of tokens, counted as the block fills, to cut its positions into
 * shares for the threads by word (`ranges`): each share's COUNT rows are a stretch of the suffix
 * order (its words first), so the shares' runs follow one another without a merge.
 */
export class WordHistogram {
  /** Positions per word id (grown on demand; charge `bytes` to the budget). */
  private counts = new Uint32Array(0);
  positions = 0;
  private max = 0;

  get bytes(): number {
    return this.counts.byteLength;
  }

  /** Counts the predicted words of `tokens[from, to)` (every word but `<s>`). */
  add(tokens: Uint32Array, from: number, to: number): void {
    let counts = this.counts;
    let max = this.max;
    let positions = 0;
    for (let p = from; p < to; p++) {
      const w = tokens[p]!;
      if (w === BOS) continue;
      if (w >= counts.length) this.counts = counts = roomFor(counts, w);
      counts[w]!++;
      if (w > max) max = w;
      positions++;
    }
    this.max = max;
    this.positions += positions;
  }

  /**
   * At most `n` ranges of word ids with about equal positions, in order, covering every id; a
   * word is never split, so one word can make its share larger.
   */
  ranges(n: number): WordRange[] {
    return wordRanges(this.counts, this.max, this.positions, n);
  }

  clear(): void {
    this.counts.fill(0, 0, this.max + 1);
    this.positions = 0;
    this.max = 0;
  }

  /** Clears it and lets its array go. */
  release(): void {
    this.counts = new Uint32Array(0);
    this.positions = 0;
    this.max = 0;
  }
}

/** The distinct COUNT rows of a range of tokens (`countTokens`), taken in suffix order. */
export interface CountedTokens {
  /** Positions not taken yet: the rows left are at most as many. */
  readonly left: number;
  /** Writes the next rows, at most `max`, into `out` (N words and the count each); how many (0 at the end). */
  take(out: Uint32Array, max: number): number;
}

/** `<s>` tokens added before each sentence's own in a counting block of order N (`padSentences`). */
const padding = (N: number): number => Math.max(0, N - 2);

/**
 * Copies whole sentences `tokens[from, to)` into a counting block from `at`, each `<s>` written
 * N − 1 times (lmplz's padding): there the word at distance d of any position p is `block[p − d]`,
 * `<s>` beyond the sentence's start, with no test. Returns where the copy ends.
 */
export function padSentences(tokens: Uint32Array, from: number, to: number, N: number, block: Uint32Array, at: number): number {
  const pad = padding(N);
  let o = at;
  for (let p = from; p < to; p++) {
    const w = tokens[p]!;
    if (w === BOS) for (let i = 0; i < pad; i++) block[o++] = BOS;
    block[o++] = w;
  }
  return o;
}

/**
 * Counts a block of padded sentences `block[from, to)` (`padSentences`): its positions (every word
 * but `<s>`) sorted by their keys (LSD radix sort: the word at distance N−1 first, the predicted
 * word last); the rows are then taken in one pass that writes each distinct row as its run of
 * equal positions ends (each position is read once, at random: a second pass would read them
 * again). With `range`, only the positions whose predicted word is in it: their rows are a
 * stretch of the suffix order.
 */
export function countTokens(block: Uint32Array, from: number, to: number, N: number, scratch: SortScratch, range?: WordRange): CountedTokens {
  const lo = range?.lo ?? 0;
  const hi = range?.hi ?? 0x100000000;
  const n = range ? range.n : wordsIn(block, from, to);
  let perm = scratch.perm(n);
  let spare = scratch.spare(n);
  const keys = scratch.keys(n);
  const j = positionsIn(block, from, to, lo, hi, perm);
  if (j !== n) throw new Error(`countTokens: ${j} positions in the word range, not ${n}`);
  for (let d = N - 1; d >= 0; d--) {
    const max = wordsBack(block, perm, n, d, keys);
    countingSortPass(keys, perm, spare, n, scratch.buckets(max + 1));
    [perm, spare] = [spare, perm];
  }
  const sorted = perm;
  let start = 0; // in `sorted`: the next row's first position
  return {
    get left() {
      return n - start;
    },
    take(out, max) {
      const { rows, next } = takeCounted(block, sorted, n, N, start, out, max);
      start = next;
      return rows;
    },
  };
}

// Each loop of counting is a function of its own (see sortRows' loops): V8 compiles it alone.

/** Positions `from…to` of `block` that hold a word (not `<s>`). */
function wordsIn(block: Uint32Array, from: number, to: number): number {
  let n = 0;
  for (let p = from; p < to; p++) if (block[p] !== BOS) n++;
  return n;
}

/** The positions `from…to` of `block` whose word (not `<s>`) is in `[lo, hi)`, into `perm`; how many. */
function positionsIn(block: Uint32Array, from: number, to: number, lo: number, hi: number, perm: Uint32Array): number {
  let j = 0;
  for (let p = from; p < to; p++) {
    const w = block[p]!;
    if (w !== BOS && w >= lo && w < hi) perm[j++] = p;
  }
  return j;
}

/** keys[i] = the word d positions before perm[i], for i < n; the largest. */
function wordsBack(block: Uint32Array, perm: Uint32Array, n: number, d: number, keys: Uint32Array): number {
  let max = 0;
  for (let i = 0; i < n; i++) {
    const w = block[perm[i]! - d]!;
    keys[i] = w;
    if (w > max) max = w;
  }
  return max;
}

/**
 * COUNT rows into `out` (at most `max`) from the n-grams ending at sorted positions
 * `sorted[start…n)`: one row per run of equal n-grams. The rows, and where the next begins.
 * Positions are touched two thousand ahead of their comparison, as gatherRows does: on Penn
 * Treebank 33–43 ms against 43–49 ms.
 */
function takeCounted(block: Uint32Array, sorted: Uint32Array, n: number, N: number, start: number, out: Uint32Array, max: number): { rows: number; next: number } {
  let rows = 0;
  let touchedTo = start;
  let touched = 0;
  for (let o = 0; rows < max && start < n; rows++, o += N + 1) {
    const q = sorted[start]!;
    let end = start + 1;
    for (; end < n; end++) {
      if (end >= touchedTo) {
        touchedTo = Math.min(n, end + 2048);
        for (let i = end; i < touchedTo; i++) {
          const t = sorted[i]!;
          touched |= block[t]! | block[t - N + 1]!;
        }
      }
      const p = sorted[end]!;
      let d = 0;
      while (d < N && block[p - d] === block[q - d]) d++;
      if (d < N) break;
    }
    for (let j = 0; j < N; j++) out[o + N - 1 - j] = block[q - j]!;
    out[o + N] = end - start;
    start = end;
  }
  if (touched === -1) out[0] = out[0]!;
  return { rows, next: start };
}

/** Smoothers rebuilt by this thread, by recipe (the last one: one order at a time uses it). */
let rebuilt: { recipe: SmootherRecipe; smoother: Smoother } | null = null;

function smootherFrom(recipe: SmootherRecipe): Smoother {
  if (rebuilt?.recipe !== recipe && JSON.stringify(rebuilt?.recipe) !== JSON.stringify(recipe)) {
    const smoother = createSmoother(recipe.name, recipe.options);
    smoother.prepare({ order: recipe.order, vocabSize: recipe.vocabSize, countOfCounts: recipe.countOfCounts, warn() {}, info() {} });
    rebuilt = { recipe, smoother };
  }
  return rebuilt!.smoother;
}

/**
 * One job's work, the same on any thread: count a range of tokens, or sort rows (then store the
 * run, or return it to be kept in memory: rows, and the order to read them in); or a piece of
 * stage 2, 4, 5 or 6.
 */
export function runSortJob(job: SortJob, env: StreamEnv, scratch: SortScratch): SortResult {
  if (job.kind === 'adjust') return { adjusted: adjustPiece(job.rows, job.n, job.order, job.out) };
  if (job.kind === 'interpolate') return interpolateFast(job.range as InterpolationRange, (words) => newBlock(env, words));
  if (job.kind === 'orders') return { orders: initialOrders(job.orders, smootherFrom(job.smoother as SmootherRecipe), job.budget, env, scratch) };
  if (job.kind === 'initial') {
    return initialRows(job.order, job.rows, job.n, smootherFrom(job.smoother as SmootherRecipe), job.threshold, job.out);
  }
  if (job.kind === 'arpa') return { chunks: formatModelChunks(job.words, job.rows, job.n, job.order, job.top) };
  if (job.kind === 'gather') {
    gatherRows(job.rows, job.perm, 0, job.perm.length, job.width, job.out);
    return { gathered: job.perm.length };
  }
  if (job.kind === 'rows') {
    if (job.store) return { run: sortAndStore(job.rows, job.n, job.spec, env, scratch) };
    if (job.range) return { rows: job.rows, perm: sortRows(job.rows, job.n, job.spec, scratch, job.range), n: job.range.out.length };
    const perm = sortRows(job.rows, job.n, job.spec, scratch);
    return { rows: job.rows, perm: copyShared(perm.subarray(0, job.n), env), n: job.n };
  }
  const N = job.order;
  const counted = countTokens(job.tokens, job.from, job.to, N, scratch, job.range);
  if (job.store) return { run: storeRows(env, N + 1, (out, max) => counted.take(out, max)) };
  // Kept in memory, in blocks of an eighth of the positions (the rows are at most as many; the
  // last block is part filled, and the blocks hold no more rows than there are positions).
  const chunk = Math.max(1 << 12, Math.ceil(counted.left / 8));
  const blocks: CountedBlock[] = [];
  while (counted.left > 0) {
    const rows = newBlock(env, Math.min(chunk, counted.left) * (N + 1));
    blocks.push({ rows, n: counted.take(rows, chunk) });
  }
  return { counted: blocks };
}

/**
 * The batches that stage 6 reads MODEL rows into, made once for every order of a model and viewed
 * at each order's width: a new pair per order was zeroed by the allocator each time (0.09 s of
 * Penn Treebank's 0.29 s stage at 2G). `words`: the most that any order asks for (`arpaBatchWords`);
 * their owner takes them out of the budget.
 */
export class ArpaBatches {
  private readonly arrays: Uint32Array[] = [];
  constructor(
    private readonly env: StreamEnv,
    private readonly words: number,
  ) {}

  /** Batch i (0 or 1), `words` long. */
  take(i: number, words: number): Uint32Array {
    return (this.arrays[i] ??= newBlock(this.env, Math.max(words, this.words))).subarray(0, words);
  }
}

/** Words of each of `arpaLines`' batches for order k (two of them with a pool that formats in the background, else one). */
export function arpaBatchWords(k: number, batchRows: number, pool: SortPool | undefined): number {
  return (pool?.begin && pool.threads > 1 ? batchRows >> 1 : batchRows) * (k + 2);
}

/**
 * Stage 6 for ARPA files: MODEL rows of order k read a batch at a time and formatted, the lines
 * in order. With a pool, each batch is cut into one slice per thread and formatted at once:
 * every thread formats, the caller's too, and the lines move on to the writing thread without a
 * copy. With `begin`, the other threads format the tail of a batch while this one reads the next
 * batch and formats its head (two batches, each half the rows). `batches`: arrays to read into,
 * kept from one order to the next (by default, new ones).
 */
export function* arpaLines(cursor: RowCursor, k: number, top: number, words: WordBytes, env: StreamEnv, batchRows: number, batches?: ArpaBatches): Generator<Uint8Array> {
  const pool = env.pool;
  const W = k + 2;
  // The batches (unless the caller's), their lines (about ten bytes a word), and each thread's
  // formatter (a copy of the words, a slice of rows and a chunk of lines in its WebAssembly
  // memory) come out of the budget.
  const threads = pool?.threads ?? 1;
  const formatter = ArpaKernel.scratchBytes(arpaLineMax(words, k)) + words.bytes.byteLength + words.start.byteLength;
  const reserved = batchRows * ((batches ? 0 : W * 4) + 10 * W) + threads * formatter;
  batches ??= new ArpaBatches(env, 0);
  env.budget.take(reserved, true);
  try {
    const batchWords = arpaBatchWords(k, batchRows, pool);
    if (pool?.begin && pool.threads > 1) yield* formatInBackground(cursor, k, top, words, pool, [batches.take(0, batchWords), batches.take(1, batchWords)]);
    else yield* formatBatches(cursor, k, top, words, pool, batches.take(0, batchWords));
  } finally {
    env.budget.give(reserved);
  }
}

/** Reads up to a batch of MODEL rows into `batch`; the rows read. */
function readBatch(cursor: RowCursor, W: number, batch: Uint32Array): number {
  return readRows(cursor, W, batch, 0, batch.length / W);
}

/** Stage 6 a batch at a time, each cut into one slice per free thread of `pool` (none: all here). */
function* formatBatches(cursor: RowCursor, k: number, top: number, words: WordBytes, pool: SortPool | undefined, batch: Uint32Array): Generator<Uint8Array> {
  const W = k + 2;
  for (;;) {
    const n = readBatch(cursor, W, batch);
    if (n === 0) return;
    const T = pool && n >= PARALLEL_MIN_ROWS ? freeThreads(pool) : 1;
    if (T === 1) yield* formatModelChunks(words, batch, n, k, top);
    else {
      const jobs: SortJob[] = [];
      for (let t = 0; t < T; t++) {
        const a = Math.floor((n * t) / T);
        const b = Math.floor((n * (t + 1)) / T);
        jobs.push({ kind: 'arpa', rows: batch.subarray(a * W, b * W), n: b - a, order: k, top, words });
      }
      for (const r of pool!.run(jobs)) if ('chunks' in r) yield* r.chunks;
    }
    if (n * W < batch.length) return;
  }
}

/**
 * The share of a batch this thread formats at first; the rest goes to the others. It also reads
 * the batches, and the share moves towards the point where neither side waits (the lines are
 * the same whatever the cut).
 */
const HEAD_SHARE = 0.45;

function* formatInBackground(cursor: RowCursor, k: number, top: number, words: WordBytes, pool: SortPool, batches: [Uint32Array, Uint32Array]): Generator<Uint8Array> {
  const W = k + 2;
  const helpers = pool.threads - 1;
  const tail: PendingJob[] = []; // a batch's tail, being formatted elsewhere
  let share = HEAD_SHARE;
  function* tailLines(): Generator<Uint8Array> {
    while (tail.length > 0) {
      const r = tail[0]!.wait();
      tail.shift();
      if ('chunks' in r) yield* r.chunks;
    }
  }
  try {
    for (let i = 0; ; i++) {
      // Read while the tail of the batch before is formatted (it is in the other batch).
      const batch = batches[i & 1]!;
      const n = readBatch(cursor, W, batch);
      if (tail.length > 0) share = Math.min(0.9, Math.max(0.1, share + (tail.every((job) => job.ready()) ? -0.02 : 0.02)));
      yield* tailLines();
      if (n === 0) return;
      const head = n < PARALLEL_MIN_ROWS ? n : Math.floor(n * share);
      for (let t = 0; t < (head < n ? helpers : 0); t++) {
        const a = head + Math.floor(((n - head) * t) / helpers);
        const b = head + Math.floor(((n - head) * (t + 1)) / helpers);
        tail.push(pool.begin!({ kind: 'arpa', rows: batch.subarray(a * W, b * W), n: b - a, order: k, top, words }));
      }
      yield* formatModelChunks(words, batch, head, k, top);
      if (n * W < batch.length) return yield* tailLines();
    }
  } finally {
    // Stopped early (an error downstream): no thread is left formatting into a batch.
    for (const job of tail.splice(0)) {
      try {
        job.wait();
      } catch {
        // The error that stopped us is the one to report.
      }
    }
  }
}

/**
 * Stage 1: sentences of word ids (and count-file rows) in, COUNT rows out. Tokens are buffered
 * into blocks as large as the budget allows, padded (`padSentences`); each full block is sorted
 * and summed into a run.
 *
 * @example
 * ```ts
 * // runs
 * import { corpusFromText, memoryEnv, NgramCounter } from 'kotoba';
 * const corpus = corpusFromText(['a b a b', 'b a']);
 * const counter = new NgramCounter(2, memoryEnv());
 * counter.addTokens(corpus.tokens);
 * const rows = counter.finish(); // COUNT rows: [w0, w1, count], suffix order, <s>-padded
 * while (rows.next()) console.log(Array.from(rows.row.subarray(rows.at, rows.at + 3)));
 * ```
 */
export class NgramCounter {
  readonly spec: RowSpec;
  private readonly runs: RunSet;
  private shards: RowSorter | null = null;
  private block: Uint32Array = new Uint32Array(0);
  private blockLength = 0;
  private reserved = 0;
  /**
   * With a pool of threads: the block's predicted words, counted as tokens arrive (on this thread,
   * which otherwise waits for the reader), to count in shares by word.
   */
  private readonly shared: boolean;
  private readonly blockWords = new WordHistogram();
  private histogramBytes = 0;
  /** Sentences and words (`</s>` not included) seen so far. */
  sentences = 0;
  words = 0;
  /** Occurrences of each word id as a predicted token, when asked for (vocabulary limits). */
  wordCounts: Float64Array | null;

  constructor(
    readonly order: number,
    private readonly env: StreamEnv,
    private readonly scratch = new SortScratch(),
    countWords = false,
  ) {
    this.spec = countSpec(order);
    this.runs = new RunSet(this.spec, env);
    this.wordCounts = countWords ? new Float64Array(1024) : null;
    this.shared = !!env.pool && env.pool.threads > 1;
  }

  /** Adds whole sentences (`<s> … </s>`). */
  addTokens(tokens: Uint32Array): void {
    if (tokens.length > 0 && tokens[0] !== BOS) throw new Error('NgramCounter.addTokens: tokens must be whole sentences, each starting with <s>');
    let sentences = 0;
    for (let i = 0; i < tokens.length; i++) if (tokens[i] === BOS) sentences++;
    this.sentences += sentences;
    this.words += tokens.length - 2 * sentences;
    if (this.wordCounts) {
      for (let i = 0; i < tokens.length; i++) this.countWord(tokens[i]!, 1);
    }
    const pad = padding(this.order);
    const slots = tokens.length + pad * sentences;
    if (this.blockLength + slots <= this.block.length || this.grow(this.blockLength + slots)) return this.append(tokens, 0, tokens.length);
    this.flush();
    if (slots <= this.block.length || this.grow(slots)) return this.append(tokens, 0, tokens.length);
    // More than a block can hold: blocks of whole sentences (one sentence longer than that alone).
    const room = this.block.length + Math.floor(this.env.budget.available / BYTES_PER_BLOCK_TOKEN);
    for (let from = 0; from < tokens.length; ) {
      let to = from;
      let used = 0;
      while (to < tokens.length) {
        let end = to + 1;
        while (end < tokens.length && tokens[end] !== BOS) end++;
        if (to > from && used + end - to + pad > room) break;
        used += end - to + pad;
        to = end;
      }
      if (used > this.block.length) this.grow(used, true);
      this.append(tokens, from, to);
      this.flush();
      from = to;
    }
  }

  /** Copies whole sentences into the block, which has room for them (and counts their words when shared). */
  private append(tokens: Uint32Array, from: number, to: number): void {
    this.blockLength = padSentences(tokens, from, to, this.order, this.block, this.blockLength);
    if (this.shared) this.countBlockWords(tokens, from, to);
  }

  private countWord(id: number, n: number): void {
    let c = this.wordCounts!;
    if (id >= c.length) {
      const bigger = new Float64Array(Math.max(id + 1, c.length * 2));
      bigger.set(c);
      this.wordCounts = c = bigger;
    }
    c[id]! += n;
  }

  /** Grows the block to hold `need` slots if the budget allows (or, with `force`, whatever it says). */
  private grow(need: number, force = false): boolean {
    let size = Math.max(1 << 12, this.block.length);
    while (size < need) size *= 2;
    if (force) size = need;
    let extra = (size - this.block.length) * BYTES_PER_BLOCK_TOKEN;
    if (!this.env.budget.take(extra, force || size * BYTES_PER_BLOCK_TOKEN <= minBlockBytes(this.env))) {
      // Settle for what fits, if that holds `need`.
      const fits = this.block.length + Math.floor(this.env.budget.available / BYTES_PER_BLOCK_TOKEN);
      if (fits < need) return false;
      size = fits;
      extra = (size - this.block.length) * BYTES_PER_BLOCK_TOKEN;
      this.env.budget.take(extra, true);
    }
    const bigger = newBlock(this.env, size);
    bigger.set(this.block.subarray(0, this.blockLength));
    this.env.budget.garbage(this.block.byteLength);
    this.block = bigger;
    this.reserved += extra;
    return true;
  }

  private giveBack(): void {
    this.env.budget.give(this.reserved + this.histogramBytes);
    this.histogramBytes = 0;
    this.blockWords.release();
    this.reserved = 0;
    this.block = new Uint32Array(0);
    this.blockLength = 0;
  }

  /** Sorts and sums the current block into a stored run. */
  private flush(): void {
    if (this.blockLength > 0) this.countBlock(false);
    this.blockLength = 0;
  }

  /**
   * Adds COUNT rows (any order; from a count file), `n` rows of `order + 1` words in `rows`.
   */
  addCountRows(rows: Uint32Array, n: number): void {
    const W = this.order + 1;
    this.shards ??= new RowSorter(this.spec, this.env, this.scratch);
    const s = this.shards;
    for (let i = 0; i < n; i++) {
      const at = s.push();
      const b = s.block;
      for (let j = 0; j < W; j++) b[at + j] = rows[i * W + j]!;
      if (this.wordCounts) this.countWord(rows[i * W + W - 2]!, rows[i * W + W - 1]!);
    }
  }

  /**
   * The COUNT rows of the block as a run: stored, or kept in memory when they are the whole
   * stream. With a pool of threads the positions are cut into one share per thread by their
   * predicted word (`WordHistogram`), each counted on its own thread; the shares' rows follow one
   * another in suffix order, so they make one run without a merge, whatever the cut.
   */
  private countBlock(keep: boolean): void {
    const pool = this.env.pool;
    const threads = pool && this.shared && this.blockLength >= PARALLEL_MIN_ROWS ? freeThreads(pool) : 1;
    const job = { kind: 'count', tokens: this.block, from: 0, to: this.blockLength, order: this.order, store: !keep } as const;
    const ranges = threads > 1 ? this.blockWords.ranges(threads) : [];
    this.blockWords.clear();
    if (ranges.length < 2) return this.adopt([runSortJob(job, this.env, this.scratch)]);
    this.adopt(pool!.run(ranges.map((range) => ({ ...job, range })), this.scratch));
  }

  /** Counts predicted words into the block's histogram (its growth charged to the budget). */
  private countBlockWords(tokens: Uint32Array, from: number, to: number): void {
    this.blockWords.add(tokens, from, to);
    if (this.blockWords.bytes > this.histogramBytes) {
      this.env.budget.take(this.blockWords.bytes - this.histogramBytes, true);
      this.histogramBytes = this.blockWords.bytes;
    }
  }

  /**
   * Whether the last block's rows stay in memory: when they are the whole stream and fit the
   * budget beside the block (at most one row of N + 1 words per slot).
   */
  private canKeep(slots: number): boolean {
    return !this.runs.spilled && !this.shards && slots * (this.order + 1) * 4 <= this.env.budget.available;
  }

  /** Takes the runs of one block's shares (in word order): one run. */
  private adopt(shares: SortResult[]): void {
    const stored: StoredRun[] = [];
    let follows = false;
    for (const r of shares) {
      if ('run' in r) stored.push(r.run);
      else if ('counted' in r) {
        for (const { rows, n } of r.counted) {
          const bytes = rows.byteLength;
          this.env.budget.take(bytes, true);
          this.runs.keep(rows, n, null, () => this.env.budget.give(bytes), { distinct: true, follows });
          follows = true;
        }
      }
    }
    if (stored.length > 0) this.runs.add(concatRuns(stored));
  }

  /** Ends the input: COUNT rows, merged from every run and shard. */
  finish(onMerge?: (runsLeft: number) => void): RowCursor {
    if (this.blockLength > 0) this.countBlock(this.canKeep(this.blockLength));
    this.giveBack();
    this.env.budget.garbage(this.scratch.release());
    const counted = this.runs.cursor(onMerge);
    if (!this.shards) return counted;
    return new MergeCursor(this.spec, [counted, this.shards.finish(onMerge)]);
  }

  /** Frees everything (on error). */
  drop(): void {
    this.giveBack();
    this.runs.drop();
    this.shards?.drop();
  }
}

/** Stage 1b: COUNT rows with every word id mapped through `remap` (rare words → `<unk>`), re-sorted. */
export function remapCounts(counts: RowCursor, N: number, remap: Uint32Array, env: StreamEnv, scratch: SortScratch): RowCursor {
  const sorter = new RowSorter(countSpec(N), env, scratch);
  while (counts.next()) {
    const row = counts.row;
    const at = counts.at;
    const o = sorter.push();
    const b = sorter.block;
    for (let j = 0; j < N; j++) b[o + j] = remap[row[at + j]!]!;
    b[o + N] = row[at + N]!;
  }
  return sorter.finish();
}

// ---------------------------------------------------------------------------------------------
// 2. adjust

/** What stage 2 leaves: unigram counts by word id, and count-of-counts for every order. */
export interface AdjustedCounts {
  /** Raw and adjusted counts of each word id as a unigram. */
  unigramRaw: Float64Array;
  unigramAdjusted: Float64Array;
  /** N-grams per order (index k; the unigrams are the whole vocabulary). */
  sizes: number[];
  /**
   * Count-of-counts n[0..4] per order over adjusted counts, collected exactly as lmplz collects
   * them (its one quirk included, see `adjustCounts`), for the modified Kneser-Ney discounts.
   */
  adjustedCountOfCounts: Float64Array[];
  /** Count-of-counts n[0..4] per order over raw counts. */
  rawCountOfCounts: Float64Array[];
}

/** What one piece of stage 2 adds up to, besides its rows (see `CountAdjuster`). */
export interface AdjustedPiece {
  /** Rows written per order k (index k, 2 ≤ k ≤ N). */
  sizes: number[];
  adjustedCountOfCounts: Float64Array[];
  rawCountOfCounts: Float64Array[];
  /** Per stretch of rows with the same last word: the word, and its raw and adjusted unigram counts there. */
  words: Uint32Array;
  raw: Float64Array;
  adjusted: Float64Array;
}

/**
 * Stage 2's scan of COUNT rows (suffix order), a row at a time, with the n-grams of every order
 * still open. In suffix order every k-gram is a stretch of adjacent rows (their last k words
 * agree): its raw count is the stretch's sum, and its Kneser-Ney adjusted count the number of
 * distinct (k+1)-grams that start inside it (raw for the top order and for n-grams that start
 * with `<s>`). Where the last two words change every n-gram above the unigrams closes, so pieces
 * of the stream cut there can be scanned apart (`end` after each) and their rows appended in
 * order: only the unigrams' sums go on across a cut, and they add up.
 */
class CountAdjuster {
  readonly sizes: number[];
  readonly adjustedCountOfCounts: Float64Array[];
  readonly rawCountOfCounts: Float64Array[];
  /** The k-gram open at each order (2 ≤ k < N): its counts; its words are the last k of `prev`. */
  private readonly openRaw: Float64Array;
  private readonly openAdj: Float64Array;
  private readonly prev: Uint32Array;
  private prevFull = 0;
  private rows = 0;
  /** The unigram sums of the last word so far. */
  private wordRaw = 0;
  private wordAdj = 0;

  constructor(
    private readonly N: number,
    private readonly targets: RowTarget[],
    /** Called with each stretch's last word and its unigram sums, when the word changes or the piece ends. */
    private readonly onWord: (w: number, raw: number, adjusted: number) => void,
  ) {
    this.sizes = new Array<number>(N + 1).fill(0);
    this.adjustedCountOfCounts = Array.from({ length: N }, () => new Float64Array(5));
    this.rawCountOfCounts = Array.from({ length: N }, () => new Float64Array(5));
    this.openRaw = new Float64Array(N + 1);
    this.openAdj = new Float64Array(N + 1);
    this.prev = new Uint32Array(N);
  }

  /**
   * Appends a piece that another thread scanned after every row scanned here (`adjustPiece`):
   * its rows of order k (`rows[k]`), its sizes and count-of-counts, its words' unigram sums.
   */
  append(piece: AdjustedPiece, rows: Uint32Array[]): void {
    for (let k = 2; k <= this.N; k++) {
      pushRows(this.targets[k]!, rows[k]!, piece.sizes[k]!, k + 2);
      this.sizes[k]! += piece.sizes[k]!;
    }
    for (let k = 0; k < this.N; k++) {
      for (let c = 0; c < 5; c++) {
        this.adjustedCountOfCounts[k]![c]! += piece.adjustedCountOfCounts[k]![c]!;
        this.rawCountOfCounts[k]![c]! += piece.rawCountOfCounts[k]![c]!;
      }
    }
    for (let i = 0; i < piece.words.length; i++) this.onWord(piece.words[i]!, piece.raw[i]!, piece.adjusted[i]!);
  }

  /** The last word of the last row scanned (there must be one). */
  get lastWord(): number {
    return this.prev[this.N - 1]!;
  }

  /** Closes the open k-gram of order k (its words: the last k of `prev`). */
  private close(k: number, atEnd: boolean): void {
    const { N, prev } = this;
    const raw = this.openRaw[k]!;
    checkCount(raw);
    // An n-gram that starts with <s> cannot be extended to the left: its adjusted count is raw.
    const adj = prev[N - k] === BOS ? raw : this.openAdj[k]!;
    const t = this.targets[k]!;
    const o = t.push();
    const b = t.block;
    for (let j = 0; j < k; j++) b[o + j] = prev[N - k + j]!;
    b[o + k] = raw;
    b[o + k + 1] = adj;
    this.sizes[k]!++;
    tally(this.adjustedCountOfCounts[k - 1]!, atEnd ? raw : adj);
    tally(this.rawCountOfCounts[k - 1]!, raw);
  }

  /** Scans COUNT rows `from … to−1` of `rows` (N + 1 words each). */
  scan(rows: Uint32Array, from: number, to: number): void {
    const { N, openRaw, openAdj, prev } = this;
    const W = N + 1;
    const top = this.targets[N];
    for (let r = from; r < to; r++) {
      const at = r * W;
      const c = rows[at + N]!;
      // How many words are real (the rest is <s> padding): a row that starts with <s> reaches
      // back to its sentence's start.
      let lead = 0;
      while (lead < N - 1 && rows[at + lead] === BOS) lead++;
      const full = lead > 0 ? N - lead + 1 : N;
      let same = 0;
      if (this.rows > 0) {
        while (same < N && rows[at + N - 1 - same] === prev[N - 1 - same]) same++;
        if (same === 0) this.endWord();
      }
      for (let k = Math.min(this.prevFull, N - 1); k > same && k >= 2; k--) this.close(k, false);
      for (let k = Math.max(2, same + 1); k <= full; k++) {
        // A new k-gram: one more distinct left extension of the (k−1)-gram it ends with.
        if (k < N) openRaw[k] = openAdj[k] = 0;
        if (k === 2) this.wordAdj++;
        else openAdj[k - 1]!++;
      }
      this.wordRaw += c;
      for (let k = 2; k <= Math.min(full, N - 1); k++) openRaw[k]! += c;
      if (full === N && N >= 2) {
        const o = top!.push();
        const b = top!.block;
        for (let j = 0; j < N; j++) b[o + j] = rows[at + j]!;
        b[o + N] = c;
        b[o + N + 1] = c;
        this.sizes[N]!++;
        tally(this.adjustedCountOfCounts[N - 1]!, c);
        tally(this.rawCountOfCounts[N - 1]!, c);
      }
      for (let j = 0; j < N; j++) prev[j] = rows[at + j]!;
      this.prevFull = full;
      this.rows++;
    }
  }

  private endWord(): void {
    this.onWord(this.prev[this.N - 1]!, this.wordRaw, this.wordAdj);
    this.wordRaw = this.wordAdj = 0;
  }

  /**
   * Closes every open n-gram: at a cut between pieces, or at the stream's end (`atEnd`, where
   * lmplz's quirk applies, see `adjustCounts`). The next row scanned starts afresh.
   */
  end(atEnd: boolean): void {
    if (this.rows === 0) return;
    for (let k = Math.min(this.prevFull, this.N - 1); k >= 2; k--) this.close(k, atEnd);
    this.endWord();
    this.rows = 0;
    this.prevFull = 0;
  }
}

function tally(table: Float64Array, c: number): void {
  if (c < 5) table[c]!++;
}

/** Whether COUNT row i (N + 1 words each) starts a piece: its last two words are not row i − 1's. */
function startsPiece(rows: Uint32Array, i: number, N: number): boolean {
  const W = N + 1;
  return i === 0 || rows[i * W + N - 1] !== rows[(i - 1) * W + N - 1] || rows[i * W + N - 2] !== rows[(i - 1) * W + N - 2];
}

/**
 * Stage 2 on a piece of COUNT rows (n rows from a cut, see `CountAdjuster`), on any thread: its
 * rows of order k into `out[k]`, which has room for n rows (each COUNT row ends at most one
 * n-gram of each order), and its sums.
 */
export function adjustPiece(rows: Uint32Array, n: number, N: number, out: Uint32Array[]): AdjustedPiece {
  const targets: RowCollector[] = [];
  for (let k = 2; k <= N; k++) targets[k] = new RowCollector(k + 2, out[k]!.subarray(0, n * (k + 2)));
  const words: number[] = [];
  const raw: number[] = [];
  const adjusted: number[] = [];
  const scan = new CountAdjuster(N, targets, (w, r, a) => (words.push(w), raw.push(r), adjusted.push(a)));
  scan.scan(rows, 0, n);
  scan.end(false);
  for (let k = 2; k <= N; k++) if (targets[k]!.block.buffer !== out[k]!.buffer) throw new Error(`adjustPiece: more ${k}-grams than rows`);
  return {
    sizes: scan.sizes,
    adjustedCountOfCounts: scan.adjustedCountOfCounts,
    rawCountOfCounts: scan.rawCountOfCounts,
    words: Uint32Array.from(words),
    raw: Float64Array.from(raw),
    adjusted: Float64Array.from(adjusted),
  };
}

/** Options of `adjustCounts`: the stream's environment (its budget, and a pool of threads to use), and `batchRows` for tests. */
export interface AdjustOptions {
  env?: StreamEnv;
  /** At most how many COUNT rows will come, where known: a shorter stream than `PARALLEL_ADJUST_ROWS` stays on one thread. */
  maxRows?: number;
  batchRows?: number;
}

/**
 * Stage 2 uses a second thread only for streams of at least this many rows. On Penn Treebank
 * (under 1 M COUNT rows, in memory) the stage took 0.18–0.25 s with a second thread against
 * 0.17–0.18 s without: this thread's reading and appending are most of the work there, and they
 * stay here. On ten copies of it (1G budget) it took 1.24–1.33 s against 1.57–1.60 s.
 */
const PARALLEL_ADJUST_ROWS = 1 << 21;

/**
 * Stage 2: COUNT rows (suffix order) → ADJUSTED rows of orders 2..N into `out(k)`, each order's
 * rows in suffix order, and the unigram counts.
 *
 * The rows are read in batches. With a pool that runs jobs in the background, and a long stream
 * (`PARALLEL_ADJUST_ROWS`), each batch is cut where the last two words change (see
 * `CountAdjuster`): another thread scans the batch's tail into arrays of its own while this one
 * scans the head straight into `out`, then reads the next batch and appends the other thread's
 * rows. The rows and sums are the same for any cut.
 *
 * lmplz quirk, copied on purpose: when lmplz collects count-of-counts, the lower-order n-grams
 * still open at the end of its stream (the suffixes of the last row) are counted with their raw
 * count instead of their adjusted count. It moves a discount in the fifth digit on Penn
 * Treebank; copying it makes kotoba's numbers KenLM's.
 */
export function adjustCounts(counts: RowCursor, N: number, V: number, out: (k: number) => RowTarget, log?: PipelineLog, options: AdjustOptions = {}): AdjustedCounts {
  const raw1 = new Float64Array(V);
  const adj1 = new Float64Array(V);
  const targets: RowTarget[] = [];
  for (let k = 2; k <= N; k++) targets[k] = out(k);
  const scan = new CountAdjuster(N, targets, (w, raw, adj) => {
    raw1[w]! += raw;
    adj1[w]! += adj;
  });
  const env = options.env ?? memoryEnv();
  const pool = env.pool;
  const parallel = pool?.begin !== undefined && pool.threads > 1 && N >= 2 && (options.maxRows ?? Infinity) >= PARALLEL_ADJUST_ROWS;
  const W = N + 1;
  // The batches, and the other thread's rows of every order for one (at most one row of each per COUNT row).
  let outWords = 0;
  if (parallel) for (let k = 2; k <= N; k++) outWords += k + 2;
  const rowBytes = ((parallel ? 2 : 1) * W + outWords) * 4;
  const batchRows = options.batchRows ?? Math.max(1 << 12, Math.min(1 << 16, Math.floor(env.budget.available / 16 / rowBytes)));
  const reserved = batchRows * rowBytes;
  env.budget.take(reserved, true);
  let rows = 0;
  try {
    const read = (batch: Uint32Array, n: number) => {
      const got = readRows(counts, W, batch, n * W, batchRows - n);
      if (Math.floor((rows + got) / PROGRESS_EVERY) > Math.floor(rows / PROGRESS_EVERY)) log?.progress?.('adjusting counts', rows + got, 0);
      rows += got;
      return got;
    };
    if (parallel) adjustInParallel(N, scan, env, batchRows, read);
    else {
      const batch = new Uint32Array(batchRows * W);
      for (let got = batchRows; got === batchRows; ) {
        got = read(batch, 0);
        scan.scan(batch, 0, got);
      }
    }
  } finally {
    env.budget.give(reserved);
  }
  scan.end(true);
  const sizes = scan.sizes;
  sizes[1] = V;
  const { adjustedCountOfCounts, rawCountOfCounts } = scan;
  if (N === 1) adj1.set(raw1);
  for (let v = 0; v < V; v++) {
    if (raw1[v] === 0) continue; // never-seen unigrams (<s>, an absent <unk>)
    tally(adjustedCountOfCounts[0]!, adj1[v]!);
    tally(rawCountOfCounts[0]!, raw1[v]!);
  }
  if (N >= 2 && rows > 0) {
    // The quirk for the unigram that ends the last row.
    const w = scan.lastWord;
    const a = adjustedCountOfCounts[0]!;
    if (adj1[w]! < 5) a[adj1[w]!]!--;
    if (raw1[w]! < 5) a[raw1[w]!]!++;
  }
  return { unigramRaw: raw1, unigramAdjusted: adj1, sizes, adjustedCountOfCounts, rawCountOfCounts };
}

/**
 * The batches of `adjustCounts` on two threads: read into two buffers in turn, so that the next
 * batch is read while the other thread still scans the last one's tail. Leaves the stream's last
 * piece open in `scan`.
 */
function adjustInParallel(
  N: number,
  scan: CountAdjuster,
  env: StreamEnv,
  batchRows: number,
  read: (batch: Uint32Array, n: number) => number,
): void {
  const pool = env.pool!;
  const W = N + 1;
  const buffers = [newBlock(env, batchRows * W), newBlock(env, batchRows * W)];
  const out: Uint32Array[] = [];
  for (let k = 2; k <= N; k++) out[k] = newBlock(env, batchRows * (k + 2));
  // The share of a batch this thread scans, moved towards where neither thread waits for the other.
  let share = 0.25;
  let pending: PendingJob | null = null;
  /** Appends the other thread's piece (it follows every row this thread has scanned). */
  const append = () => {
    share += pending!.ready() ? -0.05 : 0.05;
    share = Math.min(0.9, Math.max(0.1, share));
    const r = pending!.wait();
    pending = null;
    if (!('adjusted' in r)) throw new Error('adjustCounts: a job answered with something else');
    scan.append(r.adjusted, out);
  };
  let current = 0;
  let n = 0; // rows in buffers[current], not scanned yet
  try {
    for (;;) {
      const batch = buffers[current]!;
      n += read(batch, n);
      if (pending) append();
      if (n < batchRows) {
        // The stream's end: the rest here.
        scan.scan(batch, 0, n);
        return;
      }
      // The last piece that starts in the batch may go on in the next one: rows 0 … cut−1 are
      // whole pieces (row 0 may continue a piece this thread has begun). The other thread takes
      // the pieces from `mid` on.
      let cut = n - 1;
      while (cut > 0 && !startsPiece(batch, cut, N)) cut--;
      let mid = Math.max(1, Math.floor(cut * share));
      while (mid < cut && !startsPiece(batch, mid, N)) mid++;
      if (mid >= cut || freeThreads(pool) < 2) {
        // No cut to be had (one piece nearly fills the batch), or the other thread is at a
        // sorter's half (`begin` would wait for it): the batch goes on here.
        scan.scan(batch, 0, n);
        n = 0;
        continue;
      }
      pending = pool.begin!({ kind: 'adjust', rows: batch.subarray(mid * W, cut * W), n: cut - mid, order: N, out });
      scan.scan(batch, 0, mid);
      scan.end(false);
      // The last piece moves to the other buffer, where the next batch follows it.
      current = 1 - current;
      buffers[current]!.set(batch.subarray(cut * W, n * W));
      n -= cut;
    }
  } finally {
    if (pending) {
      try {
        (pending as PendingJob).wait();
      } catch {
        // The error that brought us here is the one to report.
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// 4. initial probabilities

/** Sums over one context's children, as the smoothers read them (one context: index 0). */
function oneContextStats(): ContextStats {
  return {
    total: new Float64Array(1),
    distinct: new Uint32Array(1),
    n1: new Uint32Array(1),
    n2: new Uint32Array(1),
    n3: new Uint32Array(1),
    startsWithBos: new Uint8Array(1),
  };
}

function addChild(s: ContextStats, c: number): void {
  if (c === 0) return;
  s.total[0]! += c;
  s.distinct[0]!++;
  if (c === 1) s.n1[0]!++;
  else if (c === 2) s.n2[0]!++;
  else s.n3[0]!++;
}

function clearStats(s: ContextStats): void {
  s.total[0] = 0;
  s.distinct[0] = s.n1[0] = s.n2[0] = s.n3[0] = 0;
}

/**
 * Stage 4 for the unigrams (one context, in memory): p(w) = α(w) + γ·base, interpolated with the
 * uniform distribution at once. `<s>` gets probability 1 (log10 0, as KenLM writes it).
 */
export function unigramProbabilities(adjusted: AdjustedCounts, smoother: Smoother, V: number): Float64Array {
  const c = smoother.counts === 'adjusted' ? adjusted.unigramAdjusted : adjusted.unigramRaw;
  const stats = oneContextStats();
  for (let w = 0; w < V; w++) addChild(stats, c[w]!);
  const g0 = stats.total[0]! > 0 ? smoother.gamma(1, stats, 0) : 0;
  const base = smoother.base(V);
  const p = new Float64Array(V);
  for (let w = 0; w < V; w++) {
    const a = c[w]! > 0 ? smoother.alpha(1, c[w]!, stats, 0) : 0;
    p[w] = smoother.float32 ? f(a + f(g0 * base)) : a + g0 * base;
  }
  p[BOS] = 1;
  return p;
}

/** INITIAL rows of one order, and the BACKOFF rows of the order below, from stage 4 (to be ended). */
interface InitialOrder {
  initial: RowSorter;
  backoffs: RowSpool;
  kept: number;
  /** BACKOFF rows (contexts of order k − 1). */
  contexts: number;
}

/** One order's stage 4 for another thread: its ADJUSTED stream, ended here (RowSorter.handOff). */
export interface OrderJob {
  order: number;
  adjusted: StreamImage;
  /** Its n-grams (ADJUSTED rows). */
  rows: number;
  threshold: number;
}

/**
 * One order's stage 4 done on another thread: its INITIAL and BACKOFF streams ended there for
 * this one to read, and the bytes of that thread's budget that their blocks in memory hold.
 */
export interface OrderDone {
  order: number;
  initial: StreamImage;
  backoffs: SpoolImage;
  kept: number;
  contexts: number;
  held: number;
}

/** A smoother as a thread other than its owner rebuilds it: its name, options and the counts it prepares from. */
export interface SmootherRecipe {
  name: SmoothingName;
  options: SmoothingOptions;
  order: number;
  vocabSize: number;
  countOfCounts: Float64Array[];
}

/** What stage 4 makes of a batch of whole contexts (see `initialRows`). */
export interface InitialBatch {
  /** n INITIAL rows (see InitialLayout), context ordinals counted from 0 in this batch. */
  initial: Uint32Array;
  /** One BACKOFF row (k + 1 words) per context. */
  backoffs: Uint32Array;
  contexts: number;
  kept: number;
}

/**
 * Stage 4 on `n` ADJUSTED rows of order k (whole contexts, context order): per context, its
 * children's α and its γ, count pruning moving the α of pruned children into γ (so every
 * distribution still sums to 1). A pure function of its rows: any thread can run it on a slice.
 * The rows go into `out`, which has room for n INITIAL rows and n BACKOFF rows (a context has at
 * least one child), so that a stage reuses one pair of arrays for all its batches.
 */
export function initialRows(k: number, rows: Uint32Array, n: number, smoother: Smoother, threshold: number, out: { initial: Uint32Array; backoffs: Uint32Array }): InitialBatch {
  const W = k + 2;
  const L = initialLayout(k, smoother.float32);
  const IW = L.width;
  const column = k + (smoother.counts === 'adjusted' ? 1 : 0);
  const { initial, backoffs } = out;
  const stats = oneContextStats();
  let alpha = new Float64Array(64);
  let contexts = 0;
  let kept = 0;
  for (let start = 0; start < n; ) {
    // The context's children: rows start … end−1 share words 0 … k−2.
    let end = start + 1;
    while (end < n && sameWords(rows, start * W, end * W, k - 1)) end++;
    const size = end - start;
    if (size > alpha.length) alpha = new Float64Array(size * 2);
    clearStats(stats);
    for (let i = start; i < end; i++) addChild(stats, rows[i * W + column]!);
    stats.startsWithBos[0] = rows[start * W] === BOS ? 1 : 0;
    let gamma = smoother.gamma(k, stats, 0);
    for (let i = start; i < end; i++) {
      const c = rows[i * W + column]!;
      alpha[i - start] = c > 0 ? smoother.alpha(k, c, stats, 0) : 0;
    }
    if (threshold > 0) {
      for (let i = start; i < end; i++) {
        if (rows[i * W + k]! <= threshold) gamma = smoother.float32 ? f(gamma + alpha[i - start]!) : gamma + alpha[i - start]!;
      }
    }
    for (let i = start; i < end; i++) {
      const o = i * IW;
      for (let j = 0; j < k; j++) initial[o + j] = rows[i * W + j]!;
      putValue(initial, o + L.alpha, alpha[i - start]!, L.float32);
      putValue(initial, o + L.gamma, gamma, L.float32);
      const keep = threshold === 0 || rows[i * W + k]! > threshold;
      initial[o + L.tag] = keep ? contexts + KEPT : contexts;
      if (keep) kept++;
    }
    const o = contexts * (k + 1);
    for (let j = 0; j < k - 1; j++) backoffs[o + j] = rows[start * W + j]!;
    putF64(backoffs, o + k - 1, gamma);
    contexts++;
    start = end;
  }
  return { initial: initial.subarray(0, n * IW), backoffs: backoffs.subarray(0, contexts * (k + 1)), contexts, kept };
}

/** Whether INITIAL row `a` (order k, width aw, at row index ia) has INITIAL row `b` (order k − 1, width bw, at ib) as its suffix. */
function isSuffixRow(a: Uint32Array, ia: number, aw: number, k: number, b: Uint32Array, ib: number, bw: number): boolean {
  for (let j = 1; j < k; j++) if (a[ia * aw + j] !== b[ib * bw + j - 1]) return false;
  return true;
}

function sameWords(rows: Uint32Array, a: number, b: number, m: number): boolean {
  for (let j = 0; j < m; j++) if (rows[a + j] !== rows[b + j]) return false;
  return true;
}

/**
 * Stage 4 for order k ≥ 2: ADJUSTED rows in context order, read in batches that end at a
 * context boundary, each batch cut into one slice of whole contexts per thread (`initialRows`),
 * the results appended in order → INITIAL rows (`expectedRows` of them, one per ADJUSTED row),
 * sorted back into suffix order, and the contexts' BACKOFF rows.
 */
function initialOrder(
  k: number,
  adjusted: RowCursor,
  expectedRows: number,
  smoother: Smoother,
  recipe: SmootherRecipe | null,
  threshold: number,
  env: StreamEnv,
  scratch: SortScratch,
  log?: PipelineLog,
): InitialOrder {
  const initial = new RowSorter(initialSpec(k, smoother.float32), env, scratch, expectedRows);
  const backoffs = new RowSpool(k + 1, env, expectedRows); // BACKOFF of order k−1: k−1 words, γ; a context per row at most
  const W = k + 2;
  const L = initialLayout(k, smoother.float32);
  const IW = L.width;
  const pool = recipe ? env.pool : undefined;
  const allocate = (words: number) => newBlock(env, words);
  const rowWords = W + IW + k + 1; // a batch row, and room for its INITIAL row and a BACKOFF row
  let batchRows = Math.max(1 << 12, Math.min(1 << 20, Math.floor(env.budget.available / 16 / 4 / rowWords)));
  // The batch, and the results of its slices until they are appended, come out of the budget.
  let reserved = batchRows * rowWords * 4;
  env.budget.take(reserved, true);
  let batch = allocate(batchRows * W);
  /** Room for the INITIAL and BACKOFF rows of a batch of `rows` rows. */
  const outArrays = (rows: number) => ({ initial: allocate(rows * IW), backoffs: allocate(rows * (k + 1)) });
  let out = outArrays(batchRows);
  /** The part of `out` for batch rows a … b−1. */
  const outFor = (a: number, b: number) => ({ initial: out.initial.subarray(a * IW, b * IW), backoffs: out.backoffs.subarray(a * (k + 1), b * (k + 1)) });
  try {
    let n = 0;
    let kept = 0;
    let contexts = 0;
    let rows = 0;
    const append = (r: InitialBatch) => {
      const m = r.initial.length / IW;
      if (contexts + r.contexts > KEPT) throw new KotobaError(`more than 2^31 contexts of ${k}-grams`, 'estimate a lower order, or from less text');
      // The batch numbered its contexts from 0.
      for (let i = 0; i < m; i++) r.initial[i * IW + L.tag]! += contexts;
      pushRows(initial, r.initial, m, IW);
      pushRows(backoffs, r.backoffs, r.contexts, k + 1);
      contexts += r.contexts;
      kept += r.kept;
    };
    /** Processes batch rows 0 … upto−1 (whole contexts). */
    const process = (upto: number) => {
      const cuts = [0];
      if (pool && upto >= PARALLEL_MIN_ROWS) {
        const T = freeThreads(pool);
        for (let t = 1; t < T; t++) {
          let c = Math.max(cuts[cuts.length - 1]!, Math.floor((upto * t) / T));
          while (c > 0 && c < upto && sameWords(batch, (c - 1) * W, c * W, k - 1)) c++;
          if (c > cuts[cuts.length - 1]! && c < upto) cuts.push(c);
        }
      }
      cuts.push(upto);
      if (cuts.length === 2) return append(initialRows(k, batch, upto, smoother, threshold, out));
      const jobs: SortJob[] = [];
      for (let t = 0; t + 1 < cuts.length; t++) {
        const a = cuts[t]!;
        const b = cuts[t + 1]!;
        jobs.push({ kind: 'initial', rows: batch.subarray(a * W, b * W), n: b - a, order: k, smoother: recipe!, threshold, out: outFor(a, b) });
      }
      for (const r of pool!.run(jobs)) if ('initial' in r) append(r);
    };
    for (;;) {
      const got = readRows(adjusted, W, batch, n * W, batchRows - n);
      n += got;
      if (Math.floor((rows + got) / PROGRESS_EVERY) > Math.floor(rows / PROGRESS_EVERY)) log?.progress?.(`initial probabilities of ${k}-grams`, rows + got, 0);
      rows += got;
      if (n < batchRows) break; // the stream's end
      // End the batch at the last context boundary; the open context moves to the front.
      let cut = n - 1;
      while (cut > 0 && sameWords(batch, (cut - 1) * W, cut * W, k - 1)) cut--;
      if (cut === 0) {
        // One context fills the batch: grow it.
        const bigger = allocate(batchRows * 2 * W);
        bigger.set(batch);
        batch = bigger;
        out = outArrays(batchRows * 2);
        // The old batch and its output arrays (`reserved` bytes) are garbage now.
        env.budget.take(reserved, true);
        env.budget.garbage(reserved);
        reserved *= 2;
        batchRows *= 2;
      } else {
        process(cut);
        batch.copyWithin(0, cut * W, n * W);
        n -= cut;
      }
    }
    if (n > 0) process(n);
    env.budget.give(reserved);
    return { initial, backoffs, kept, contexts };
  } catch (e) {
    initial.drop();
    backoffs.drop();
    throw e;
  }
}

/**
 * Stage 4 of whole orders on this thread for another one (see `estimateFromCounts`), one after the
 * other inside a budget of `bytes` of its own: each ADJUSTED stream read, and its INITIAL and
 * BACKOFF streams ended for the other thread. This thread owns the streams it was given: on an
 * error it drops every one of them.
 */
export function initialOrders(orders: OrderJob[], smoother: Smoother, bytes: number, env: StreamEnv, scratch: SortScratch): OrderDone[] {
  const own: StreamEnv = { ...env, budget: new MemoryBudget(bytes, env.budget.collect) };
  const done: OrderDone[] = [];
  try {
    for (const o of orders) {
      const adjusted = new RunSet(adjustedSpec(o.order), own);
      adjusted.adopt(o.adjusted, undefined, scratch);
      o.adjusted = { runs: [], blocks: [] };
      const before = own.budget.used;
      const cursor = adjusted.cursor();
      let stage: InitialOrder;
      try {
        stage = initialOrder(o.order, cursor, o.rows, smoother, null, o.threshold, own, scratch);
      } finally {
        cursor.close();
      }
      const initial = stage.initial.handOff().image;
      const backoffs = stage.backoffs.handOff().image;
      own.budget.garbage(scratch.release());
      done.push({ order: o.order, initial, backoffs, kept: stage.kept, contexts: stage.contexts, held: own.budget.used - before });
    }
    return done;
  } catch (e) {
    for (const d of done) for (const run of [...d.initial.runs, ...d.backoffs.runs]) run.drop();
    for (const o of orders) for (const run of o.adjusted.runs) run.drop();
    throw e;
  }
}

/**
 * The orders that stage 4 gives another thread when one is free: about half the work, by the
 * words of their ADJUSTED rows (orders are independent there), the largest first, each to the
 * side with less so far (the rest stay on this thread). None below trigrams.
 */
export function ordersElsewhere(N: number, sizes: readonly number[]): number[] {
  const weight = (k: number) => orderWeight(sizes, k);
  const orders = ascending(2, N).sort((a, b) => weight(b) - weight(a) || b - a);
  if (orders.length < 2) return [];
  let here = 0;
  let there = 0;
  const out: number[] = [];
  for (const k of orders) {
    if (there <= here) {
      out.push(k);
      there += weight(k);
    } else here += weight(k);
  }
  return out.sort((a, b) => a - b);
}

/** Stage 4's work on order k, as `ordersElsewhere` weighs it: the words of its ADJUSTED rows. */
function orderWeight(sizes: readonly number[], k: number): number {
  return sizes[k]! * (k + 2);
}

// ---------------------------------------------------------------------------------------------
// 5. interpolate

/** Where interpolated n-grams go, order by order (rows of one order arrive in suffix order). */
export interface ModelSink {
  /**
   * A kept n-gram of order k: words `row[at … at+k)`, its log10 probability and log10 backoff
   * (0 when it has no children), the row (among the kept n-grams of order k−1) of its suffix, and
   * the ordinal of its context among the contexts of order k (see `context`).
   */
  add(k: number, row: Uint32Array, at: number, log10Prob: number, log10Backoff: number, suffixRow: number, context: number): void;
  /** The n-gram of order k−1 in kept row `row` (−1: pruned) is context number `context` of order k. */
  context?(k: number, context: number, row: number): void;
  /** `n` MODEL rows of order k at once (a sink that needs no links may take them so). */
  addRows?(k: number, rows: Uint32Array, n: number): void;
}

/**
 * One range of the rows of every order in suffix order (last word first, a row before the rows
 * it is a suffix of), for `interpolateRange` (arrays, not cursors). A range may begin anywhere,
 * even among the n-grams of one last word: the rows before it whose probabilities its rows need
 * are the suffixes of its first row, and each is the last row of its order before the range, so
 * that row of each order comes with the range and their probabilities are computed again.
 */
export interface InterpolationRange {
  top: number;
  /** float32 arithmetic and glibc's log10f (modified Kneser-Ney), or float64. */
  float32: boolean;
  /** p(w) of every word id (from stage 4). */
  p1: Float64Array;
  /** The unigrams of the range: ids from … to−1. */
  from: number;
  to: number;
  /**
   * initial[k]: INITIAL rows of order k (k ≥ 2) in the range, initialRows[k] of them; the first
   * is the row before the range when before[k] is 1 (read, not interpolated: see below).
   */
  initial: Uint32Array[];
  initialRows: number[];
  before: number[];
  /** backoffs[j]: BACKOFF rows of order j (j < top) in the range, backoffRows[j] of them. */
  backoffs: Uint32Array[];
  backoffRows: number[];
  /** Whether to link the rows (suffix, context, backoffOf below); a sink that takes rows only needs none. */
  links: boolean;
}

/** What `interpolateRange` makes of a range, order by order (the links empty when not asked for). */
export interface InterpolatedRange {
  /** model[k]: MODEL rows of the kept n-grams of order k, kept[k] of them. */
  model: Uint32Array[];
  kept: number[];
  /** suffix[k]: each kept row's suffix, as its kept row in this range of order k−1 (k = 2: the word id). */
  suffix: Int32Array[];
  /** context[k]: each kept row's context ordinal (from stage 4). */
  context: Uint32Array[];
  /** backoffOf[j]: for each BACKOFF row of order j, its n-gram's kept row in this range (j = 1: the word id; −1: pruned). */
  backoffOf: Int32Array[];
}

/**
 * Stage 5 on one range of last words: every order at once. In suffix order an n-gram and its
 * suffix end in the same word, so a range of last words holds every suffix its rows need, and
 * ranges interpolate independently (on any thread). Within one, order k's row needs p of its
 * suffix, a row of order k−1 that is the current or a later one there, so the orders advance
 * together as a cascade of merge joins; each row's backoff is the BACKOFF row with its words.
 */
export function interpolateRange(r: InterpolationRange, allocate: (words: number) => Uint32Array): InterpolatedRange {
  const N = r.top;
  const float32 = r.float32;
  const log10 = float32 ? log10f : (x: number) => Math.log10(x);
  const model: Uint32Array[] = [];
  const kept = new Array<number>(N + 1).fill(0);
  const suffix: Int32Array[] = [];
  const context: Uint32Array[] = [];
  const backoffOf: Int32Array[] = [];
  const links = r.links;
  const layout = Array.from({ length: N + 1 }, (_, k) => initialLayout(k, float32));
  const nextBackoff = new Int32Array(N + 1); // next BACKOFF row of order j to match
  for (let j = 1; j < N; j++) backoffOf[j] = new Int32Array(links ? r.backoffRows[j]! : 0).fill(-1);
  // log10 γ of this n-gram as a context (the BACKOFF row with its words), or 0 when it has none.
  const backoff = (k: number, row: Uint32Array, at: number, keptRow: number): number => {
    if (k === N) return 0;
    const i = nextBackoff[k]!;
    if (i >= r.backoffRows[k]!) return 0;
    const b = r.backoffs[k]!;
    const bw = k + 2;
    for (let j = 0; j < k; j++) if (b[i * bw + j] !== row[at + j]) return 0;
    if (links) backoffOf[k]![i] = keptRow;
    nextBackoff[k] = i + 1;
    return log10(getF64(b, i * bw + k));
  };
  // Unigrams: every id of the range.
  const unigrams = allocate((r.to - r.from) * 3);
  const word = new Uint32Array(1);
  for (let w = r.from; w < r.to; w++) {
    word[0] = w;
    const o = (w - r.from) * 3;
    unigrams[o] = w;
    unigrams[o + 1] = f32Bits(log10(r.p1[w]!));
    unigrams[o + 2] = f32Bits(backoff(1, word, 0, w));
  }
  model[1] = unigrams;
  kept[1] = r.to - r.from;
  for (let k = 2; k <= N; k++) {
    const n = r.initialRows[k]! - r.before[k]!;
    model[k] = allocate(n * (k + 2));
    suffix[k] = new Int32Array(links ? n : 0);
    context[k] = new Uint32Array(links ? n : 0);
  }
  const next = new Int32Array(N + 1); // next row of order k
  const p = new Float64Array(N + 1); // probability of order k's current (last stepped) row
  const currentKept = new Float64Array(N + 1); // its kept row, or −1
  // The rows before the range: order 2's, then each whose suffix is the one below it (the chain
  // of suffixes the range's rows may need), their probabilities as stepping them gave. A kept
  // one is the last kept row of its order before the range: row −1 here. The rest are skipped.
  const known = new Uint8Array(N + 1);
  for (let k = 2; k < N; k++) {
    next[k] = r.before[k]!;
    currentKept[k] = -1;
    if (!r.before[k] || (k > 2 && !(known[k - 1] && isSuffixRow(r.initial[k]!, 0, layout[k]!.width, k, r.initial[k - 1]!, 0, layout[k - 1]!.width)))) continue;
    const row = r.initial[k]!;
    const lower = k === 2 ? r.p1[row[1]!]! : p[k - 1]!;
    const alpha = getValue(row, layout[k]!.alpha, float32);
    const gamma = getValue(row, layout[k]!.gamma, float32);
    p[k] = float32 ? f(alpha + f(gamma * lower)) : alpha + gamma * lower;
    known[k] = 1;
  }
  const step = (k: number): boolean => {
    const i = next[k]!;
    if (i >= r.initialRows[k]!) return false;
    next[k] = i + 1;
    const L = layout[k]!;
    const W = L.width;
    const row = r.initial[k]!;
    const at = i * W;
    let lower: number;
    let suffixRow: number;
    if (k === 2) {
      lower = r.p1[row[at + 1]!]!;
      suffixRow = row[at + 1]!;
    } else {
      // Advance order k−1 to this row's suffix (words 1 … k−1 here, 0 … k−2 there).
      const d = r.initial[k - 1]!;
      const dw = layout[k - 1]!.width;
      for (;;) {
        const c = next[k - 1]! - 1;
        if (c >= 0) {
          let cmp = 0;
          for (let j = k - 1; j >= 1 && cmp === 0; j--) cmp = row[at + j]! - d[c * dw + j - 1]!;
          if (cmp === 0 && c === 0 && r.before[k - 1] && !known[k - 1]) throw interpolationError(1, k);
          if (cmp === 0) break;
          if (cmp < 0) throw interpolationError(2, k);
        }
        if (!step(k - 1)) throw interpolationError(3, k);
      }
      lower = p[k - 1]!;
      suffixRow = currentKept[k - 1]!;
    }
    const alpha = getValue(row, at + L.alpha, float32);
    const gamma = getValue(row, at + L.gamma, float32);
    const prob = float32 ? f(alpha + f(gamma * lower)) : alpha + gamma * lower;
    p[k] = prob;
    const tag = row[at + L.tag]!;
    const keep = tag >= KEPT;
    const keptRow = keep ? kept[k]!++ : -1;
    currentKept[k] = keptRow;
    const bo = backoff(k, row, at, keptRow);
    if (keep) {
      const out = model[k]!;
      const o = keptRow * (k + 2);
      for (let j = 0; j < k; j++) out[o + j] = row[at + j]!;
      out[o + k] = f32Bits(log10(prob));
      out[o + k + 1] = f32Bits(bo);
      if (links) {
        suffix[k]![keptRow] = suffixRow;
        context[k]![keptRow] = tag - KEPT;
      }
    }
    return true;
  };
  // The top order drives; then the rows of lower orders that extend no higher n-gram.
  for (let k = N; k >= 2; k--) while (step(k));
  return { model, kept, suffix, context, backoffOf };
}

/** `interpolateRange`, in this thread's WebAssembly kernel where it does such a range (interpolate-kernel.ts). */
export function interpolateFast(r: InterpolationRange, allocate: (words: number) => Uint32Array, kernel = InterpolationKernel.get()): InterpolatedRange {
  return kernel?.interpolate(r, allocate, (part) => interpolateRange(part, allocate), splitRange) ?? interpolateRange(r, allocate);
}

/**
 * Compares n-gram a (`an` words at `ai`) with n-gram b in suffix order: last words first, then
 * the words before them; a suffix before the n-grams it is a suffix of.
 */
function compareSuffixOrder(a: Uint32Array, ai: number, an: number, b: Uint32Array, bi: number, bn: number): number {
  for (let i = 1, m = Math.min(an, bn); i <= m; i++) {
    const d = a[ai + an - i]! - b[bi + bn - i]!;
    if (d !== 0) return d;
  }
  return an - bn;
}

/**
 * One stream of stage 5 in two buffers of fixed size: rows start … end−1 of `buf` are read and
 * not yet interpolated. Reading moves to the other buffer (`spare`), so that a range another
 * thread is interpolating in `buf` is never written over.
 */
interface RangeStream {
  cursor: RowCursor;
  /** Words per row (k), row width. */
  k: number;
  W: number;
  buf: Uint32Array;
  spare: Uint32Array;
  capacity: number;
  start: number;
  end: number;
  /** The cursor is exhausted. */
  done: boolean;
}

/** First row in [from, to) of the stream's buffer whose words come after `key` (`orEqual`: at or after). */
function firstAfter(s: RangeStream, from: number, to: number, key: Uint32Array, kn: number, orEqual: boolean): number {
  return firstRowAfter(s.buf, s.W, s.k, from, to, key, kn, orEqual);
}

/** `firstAfter` in rows of k words (width W) in `buf`. */
function firstRowAfter(buf: Uint32Array, W: number, k: number, from: number, to: number, key: Uint32Array, kn: number, orEqual: boolean): number {
  let lo = from;
  let hi = to;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    const c = compareSuffixOrder(buf, mid * W, k, key, 0, kn);
    if (c > 0 || (orEqual && c === 0)) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/**
 * Cuts a range into `parts` ranges of about as many top-order rows each, in suffix order (as a
 * range is cut into one slice per thread): each part's rows of lower orders are those before its
 * cut, and the row of each order before a part comes with it (see InterpolationRange).
 */
export function splitRange(r: InterpolationRange, parts: number): InterpolationRange[] {
  const N = r.top;
  const topRows = N >= 2 ? r.initialRows[N]! : 0;
  if (parts <= 1 || topRows < parts) return [r];
  // The streams: INITIAL rows of orders 2 … N (after their row before the range), then BACKOFF rows of orders 1 … N − 1.
  const streams = [
    ...ascending(2, N).map((k) => ({ k, W: initialLayout(k, r.float32).width, buf: r.initial[k]!, start: r.before[k]!, end: r.initialRows[k]!, backoff: false })),
    ...ascending(1, N - 1).map((j) => ({ k: j, W: j + 2, buf: r.backoffs[j]!, start: 0, end: r.backoffRows[j]!, backoff: true })),
  ];
  const top = streams[N - 2]!;
  const key = new Uint32Array(N);
  let from = streams.map((s) => s.start);
  let unigramsFrom = r.from;
  const out: InterpolationRange[] = [];
  for (let t = 1; t <= parts; t++) {
    let to = streams.map((s) => s.end);
    let unigramsTo = r.to;
    if (t < parts) {
      const at = Math.floor((topRows * t) / parts);
      key.set(top.buf.subarray(at * top.W, at * top.W + N));
      to = streams.map((s, i) => firstRowAfter(s.buf, s.W, s.k, from[i]!, s.end, key, N, true));
      unigramsTo = Math.max(unigramsFrom, Math.min(r.to, key[N - 1]! + 1));
    }
    const part: InterpolationRange = { ...r, from: unigramsFrom, to: unigramsTo, initial: [], initialRows: [], before: [], backoffs: [], backoffRows: [] };
    streams.forEach((s, i) => {
      const a = from[i]!;
      const b = to[i]!;
      if (s.backoff) {
        part.backoffs[s.k] = s.buf.subarray(a * s.W, b * s.W);
        part.backoffRows[s.k] = b - a;
      } else {
        const before = s.k < N && a > 0 ? 1 : 0;
        part.initial[s.k] = s.buf.subarray((a - before) * s.W, b * s.W);
        part.initialRows[s.k] = b - a + before;
        part.before[s.k] = before;
      }
    });
    out.push(part);
    from = to;
    unigramsFrom = unigramsTo;
  }
  return out;
}

/**
 * Stage 5: the orders' INITIAL and BACKOFF streams read through buffers of fixed size (together
 * a sixteenth of the budget, at most 256 MB, each stream's share as large as its part of the
 * rows), in ranges that end where the first buffer ends, so that a range never holds more rows
 * than the buffers, however many n-grams share a last word (`</s>` ends one per sentence and
 * order). Each range is cut into one slice per thread, every slice interpolated on its own
 * (`interpolateRange`), the results handed to `sink` in order.
 */
function interpolate(
  N: number,
  p1: Float64Array,
  initial: RowCursor[],
  backoffs: RowCursor[],
  sizes: { initial: number[]; backoffs: number[] },
  smoother: Smoother,
  sink: ModelSink,
  env: StreamEnv,
  log?: PipelineLog,
): void {
  const V = p1.length;
  const pool = env.pool;
  const allocate = (words: number) => newBlock(env, words);
  const sharedP1 = pool ? new Float64Array(allocate(V * 2).buffer, 0, V) : p1;
  if (pool) sharedP1.set(p1);
  // INITIAL streams of orders 2 … N, then BACKOFF streams of orders 1 … N − 1. Buffer shares in
  // proportion to the streams' bytes; the buffers and each range's results are charged to the
  // budget while they live, so the MODEL spools grow only into what is left.
  const kinds = [
    ...initial.slice(2).map((cursor, i) => ({ cursor, k: i + 2, W: initialLayout(i + 2, smoother.float32).width, rows: sizes.initial[i + 2]! })),
    ...backoffs.slice(1).map((cursor, i) => ({ cursor, k: i + 1, W: i + 3, rows: sizes.backoffs[i + 1]! })),
  ];
  const bufferBytes = Math.max(minBlockBytes(env), Math.min(256 << 20, Math.floor(env.budget.available / 16)));
  const total = kinds.reduce((n, s) => n + s.rows * s.W * 4, 0);
  const streams: RangeStream[] = kinds.map(({ cursor, k, W, rows }) => {
    const capacity = Math.max(4, Math.floor((bufferBytes * rows) / Math.max(1, total) / 2));
    return { cursor, k, W, buf: allocate(capacity * W), spare: allocate(capacity * W), capacity, start: 0, end: 0, done: false };
  });
  // The buffers, and each thread's WebAssembly kernel (a part of a range at a time, in its own
  // memory) where it interpolates these rows.
  const kernels = smoother.float32 && sink.addRows ? (pool?.threads ?? 1) * INTERPOLATION_KERNEL_BYTES : 0;
  const taken = streams.reduce((n, s) => n + 2 * s.buf.byteLength, 0) + kernels;
  env.budget.take(taken, true);
  /**
   * Once half of a stream's rows are used: its unused rows, and the row before them (a range's
   * predecessor), move to the front of the other buffer, which is then filled.
   */
  const fill = (s: RangeStream) => {
    if (s.done || s.end - s.start >= s.capacity >> 1) return;
    const keep = s.start > 0 ? 1 : 0;
    const to = s.spare;
    to.set(s.buf.subarray((s.start - keep) * s.W, s.end * s.W));
    s.spare = s.buf;
    s.buf = to;
    s.end -= s.start - keep;
    s.start = keep;
    const want = s.capacity - s.end;
    const got = readRows(s.cursor, s.W, to, s.end * s.W, want);
    s.end += got;
    if (got < want) s.done = true;
  };
  const bound = new Uint32Array(N);
  const cut = new Uint32Array(N);
  let unigramsFrom = 0;
  /** The next range, cut into `T` slices; null after the last. */
  const nextRange = (T: (topRows: number) => number): { slices: InterpolationRange[]; topRows: number } | null => {
    if (unigramsFrom === V && streams.every((s) => s.done && s.start === s.end)) return null;
    for (const s of streams) fill(s);
    // The range: every row up to the last row read of the stream whose buffer ends first.
    let limit: RangeStream | null = null;
    for (const s of streams) {
      if (s.done) continue;
      if (!limit || compareSuffixOrder(s.buf, (s.end - 1) * s.W, s.k, limit.buf, (limit.end - 1) * limit.W, limit.k) < 0) limit = s;
    }
    const last = !limit;
    let bn = 0;
    if (limit) {
      bn = limit.k;
      bound.set(limit.buf.subarray((limit.end - 1) * limit.W, (limit.end - 1) * limit.W + bn));
    }
    const ends = streams.map((s) => (last ? s.end : firstAfter(s, s.start, s.end, bound, bn, false)));
    const unigramsTo = last ? V : bound[bn - 1]! + 1;
    // One slice per thread, cut at rows of the top order so that each has its share of them.
    const top = N >= 2 ? streams[N - 2] : undefined;
    const topRows = top ? ends[N - 2]! - top.start : 0;
    const slices = T(topRows);
    const cuts: number[][] = [streams.map((s) => s.start)];
    const unigramCuts = [unigramsFrom];
    for (let t = 1; t < slices; t++) {
      const at = top!.start + Math.floor((topRows * t) / slices);
      cut.set(top!.buf.subarray(at * top!.W, at * top!.W + N));
      cuts.push(streams.map((s, i) => firstAfter(s, cuts[t - 1]![i]!, ends[i]!, cut, N, true)));
      unigramCuts.push(Math.max(unigramCuts[t - 1]!, Math.min(unigramsTo, cut[N - 1]! + 1)));
    }
    cuts.push(ends);
    unigramCuts.push(unigramsTo);
    const ranges: InterpolationRange[] = [];
    for (let t = 0; t < slices; t++) {
      const range: InterpolationRange = { top: N, float32: smoother.float32, p1: sharedP1, from: unigramCuts[t]!, to: unigramCuts[t + 1]!, initial: [], initialRows: [], before: [], backoffs: [], backoffRows: [], links: !sink.addRows };
      streams.forEach((s, i) => {
        const a = cuts[t]![i]!;
        const b = cuts[t + 1]![i]!;
        if (i < N - 1) {
          const k = s.k;
          const before = k < N && a > 0 ? 1 : 0;
          range.initial[k] = s.buf.subarray((a - before) * s.W, b * s.W);
          range.initialRows[k] = b - a + before;
          range.before[k] = before;
        } else {
          range.backoffs[s.k] = s.buf.subarray(a * s.W, b * s.W);
          range.backoffRows[s.k] = b - a;
        }
      });
      ranges.push(range);
    }
    streams.forEach((s, i) => (s.start = ends[i]!));
    unigramsFrom = unigramsTo;
    return { slices: ranges, topRows };
  };
  const keptBefore = new Float64Array(N + 1);
  const backoffsBefore = new Float64Array(N + 1);
  let done = 0;
  /** Hands a range's results to the sink, in order. */
  const deliver = (results: InterpolatedRange[], topRows: number) => {
    let resultBytes = 0;
    for (const r of results) for (const arrays of [r.model, r.suffix, r.context, r.backoffOf]) for (const a of arrays) resultBytes += a?.byteLength ?? 0;
    env.budget.take(resultBytes, true);
    for (const r of results) {
      for (let k = 1; k <= N; k++) {
        const W = k + 2;
        const m = r.model[k]!;
        if (sink.addRows) sink.addRows(k, m, r.kept[k]!);
        else {
          for (let i = 0; i < r.kept[k]!; i++) {
            const at = i * W;
            const suffixRow = k === 1 ? -1 : k === 2 ? r.suffix[k]![i]! : r.suffix[k]![i]! + keptBefore[k - 1]!;
            sink.add(k, m, at, f32FromBits(m[at + k]!), f32FromBits(m[at + k + 1]!), suffixRow, k === 1 ? 0 : r.context[k]![i]!);
          }
        }
      }
      for (let j = 1; j < N; j++) {
        const of = r.backoffOf[j]!;
        if (sink.context) for (let i = 0; i < of.length; i++) sink.context(j + 1, backoffsBefore[j]! + i, j === 1 || of[i]! < 0 ? of[i]! : of[i]! + keptBefore[j]!);
        backoffsBefore[j]! += of.length;
      }
      for (let k = 1; k <= N; k++) keptBefore[k]! += r.kept[k]!;
    }
    env.budget.give(resultBytes);
    done += topRows;
    log?.progress?.('interpolating', done, 0);
  };
  const interpolateHere = (range: InterpolationRange) => interpolateFast(range, allocate);
  if (pool?.begin && pool.threads > 1) {
    // The other threads interpolate a range while this one reads the next and hands the one
    // before to the sink: a pipeline, since reading and writing the streams are a large part.
    const helpers = pool.threads - 1;
    const slices = (topRows: number) => (topRows >= PARALLEL_MIN_ROWS ? helpers : 1);
    type Started = { wait: () => InterpolatedRange[]; topRows: number };
    const start = (range: { slices: InterpolationRange[]; topRows: number }): Started => {
      const jobs = range.slices.map((r) => pool.begin!({ kind: 'interpolate', range: r }));
      return { wait: () => jobs.map((j) => j.wait() as InterpolatedRange), topRows: range.topRows };
    };
    const first = nextRange(slices);
    let running = first && start(first);
    while (running) {
      const next = nextRange(slices);
      const results = running.wait();
      const topRows = running.topRows;
      running = next && start(next);
      deliver(results, topRows);
    }
  } else {
    const slices = (topRows: number) => (pool && topRows >= PARALLEL_MIN_ROWS ? freeThreads(pool) : 1);
    for (let range = nextRange(slices); range; range = nextRange(slices)) {
      const results = range.slices.length > 1 ? pool!.run(range.slices.map((r): SortJob => ({ kind: 'interpolate', range: r }))).map((r) => r as InterpolatedRange) : range.slices.map(interpolateHere);
      deliver(results, range.topRows);
    }
  }
  env.budget.give(taken);
}

// ---------------------------------------------------------------------------------------------
// The recipe

/**
 * Starts stage 4 of `orders` on another thread of the pool: their ADJUSTED streams ended here
 * and handed over, with a share of the budget by their part of the work. `wait` gives their
 * INITIAL and BACKOFF cursors once that thread is done, the blocks they hold charged to this
 * budget until read; `drop` (on an error) waits for the thread and frees what it made.
 */
function initialElsewhere(
  orders: number[],
  sorters: RowSorter[],
  sizes: readonly number[],
  recipe: SmootherRecipe,
  thresholds: number[] | null,
  float32: boolean,
  env: StreamEnv,
): { wait(): { order: number; initial: RowCursor; backoffs: RowCursor; kept: number; contexts: number }[]; drop(): void } {
  let total = 0;
  let there = 0;
  for (let k = 2; k < sizes.length; k++) total += orderWeight(sizes, k);
  for (const k of orders) there += orderWeight(sizes, k);
  const releases: (() => void)[] = [];
  const jobs: OrderJob[] = orders.map((k) => {
    const { image, release } = sorters[k]!.handOff(false);
    releases.push(release);
    return { order: k, adjusted: image, rows: sizes[k]!, threshold: thresholds?.[k - 1] ?? 0 };
  });
  // At least a byte: a budget already spent leaves the other thread its forced minimums, as here.
  // (An unbounded budget gives an unbounded share, which takes nothing from it.)
  const available = env.budget.available;
  const share = Number.isFinite(available) ? Math.max(1, Math.floor((available * there) / Math.max(1, total))) : Infinity;
  const taken = Number.isFinite(share) ? share : 0;
  env.budget.take(taken, true);
  let pending: PendingJob | null = env.pool!.begin!({ kind: 'orders', orders: jobs, smoother: recipe, budget: share });
  const settle = (): OrderDone[] => {
    const job = pending!;
    pending = null;
    try {
      const r = job.wait();
      return 'orders' in r ? r.orders : [];
    } finally {
      // The ADJUSTED blocks have been read there; the share comes back but for what the results hold.
      for (const release of releases) release();
    }
  };
  return {
    wait() {
      const done = settle();
      // What the results hold stays taken until they are read; the rest of the share comes back.
      let held = 0;
      for (const o of done) held += o.held;
      if (held > taken) env.budget.take(held - taken, true);
      else env.budget.give(taken - held);
      return done.map((o) => {
        // Given back once both the INITIAL blocks and the BACKOFF block have been read.
        const release = afterAll(2, () => env.budget.give(o.held));
        const set = new RunSet(initialSpec(o.order, float32), env);
        set.adopt(o.initial, release);
        return { order: o.order, initial: set.cursor(), backoffs: spoolCursor(o.order + 1, env, o.backoffs, release), kept: o.kept, contexts: o.contexts };
      });
    },
    drop() {
      if (!pending) return;
      try {
        for (const o of settle()) for (const run of [...o.initial.runs, ...o.backoffs.runs]) run.drop();
      } catch {
        // The error that brought us here is the one to report.
      }
    },
  };
}

/** What the pipeline needs besides the counts. */
export interface PipelineOptions {
  order: number;
  smoother: Smoother;
  /** The smoother's name and options when it is a built-in one (threads rebuild it from them). */
  smoothing?: { name: SmoothingName; options: SmoothingOptions };
  /** Count thresholds per order (index k−1), or null. */
  thresholds: number[] | null;
  log: PipelineLog;
}

/** What estimation found: sizes, totals, the model's description. */
export interface PipelineResult {
  /** Kept n-grams per order (index k−1). */
  counts: number[];
  description: string;
}

/**
 * Stages 2–5 on counted n-grams: from COUNT rows to a model in `sink`. `vocab` is the final
 * vocabulary (after any restriction; only its size is read); `totals` the corpus' sentences and
 * words. `estimate()` and kotoba/node's `trainNgramModel` are this with a counter in front and a
 * sink behind.
 *
 * @example
 * ```ts
 * import { createSmoother, estimateFromCounts, memoryEnv, NgramCounter, type Corpus, type ModelSink } from 'kotoba';
 * declare const corpus: Corpus;
 * const env = memoryEnv(256 << 20); // a 256 MB budget, runs kept in memory
 * const counter = new NgramCounter(4, env);
 * counter.addTokens(corpus.tokens);
 * let bigrams = 0;
 * const sink: ModelSink = { add: (k) => void (k === 2 && bigrams++) };
 * const result = estimateFromCounts(counter.finish(), corpus.vocab, corpus, {
 *   order: 4, smoother: createSmoother('mkn'), thresholds: null, log: console,
 * }, env, () => sink);
 * result.counts; // n-grams per order; bigrams === result.counts[1]
 * ```
 */
export function estimateFromCounts(
  countRows: RowCursor,
  vocab: Pick<Vocabulary, 'size'>,
  totals: { sentences: number; words: number },
  options: PipelineOptions,
  env: StreamEnv,
  makeSink: (counts: number[]) => ModelSink,
): PipelineResult {
  const N = options.order;
  const V = vocab.size;
  const { smoother, thresholds, log } = options;
  const scratch = new SortScratch();
  const sorters: RowSorter[] = [];
  const cleanup: { drop(): void }[] = [];
  try {
    log.info(`=== 2/6 adjusting counts of ${N}-grams of ${totals.words} words in ${totals.sentences} sentences ===`);
    const adjusted = adjustCounts(
      countRows,
      N,
      V,
      (k) => {
        // Every token but <s> ends one COUNT row, and each COUNT row ends at most one k-gram.
        const s = new RowSorter(adjustedSpec(k), env, scratch, totals.words + totals.sentences);
        sorters[k] = s;
        cleanup.push(s);
        return s;
      },
      log,
      { env, maxRows: totals.words + totals.sentences },
    );
    countRows.close();
    // The orders that wait for stage 4 after the first: a spilled stream's block goes to storage
    // now rather than at its turn, so that the orders before it sort in the memory it held.
    for (let k = 3; k <= N; k++) sorters[k]!.storeBlock();
    log.info(`n-grams per order: ${adjusted.sizes.slice(1).join(' ')}`);

    log.info(`=== 3/6 ${smoother.name} parameters ===`);
    smoother.prepare({
      order: N,
      vocabSize: V,
      countOfCounts: smoother.counts === 'adjusted' ? adjusted.adjustedCountOfCounts : adjusted.rawCountOfCounts,
      warn: (m) => log.warn(m),
      info: (m) => log.info(m),
    });

    log.info('=== 4/6 initial probabilities ===');
    // Threads rebuild a built-in smoother from its name and the same counts.
    const recipe: SmootherRecipe | null =
      options.smoothing && env.pool
        ? { ...options.smoothing, order: N, vocabSize: V, countOfCounts: smoother.counts === 'adjusted' ? adjusted.adjustedCountOfCounts : adjusted.rawCountOfCounts }
        : null;
    const p1 = unigramProbabilities(adjusted, smoother, V);
    const initial: RowCursor[] = [];
    const backoffs: RowCursor[] = [];
    const counts = [V];
    const sizes = { initial: [] as number[], backoffs: [] as number[] };
    const ended = (k: number, stage: { initial: RowCursor; backoffs: RowCursor; kept: number; contexts: number }) => {
      initial[k] = stage.initial;
      backoffs[k - 1] = stage.backoffs;
      sizes.initial[k] = adjusted.sizes[k]!;
      sizes.backoffs[k - 1] = stage.contexts;
      cleanup.push({ drop: () => (stage.initial.close(), stage.backoffs.close()) });
      counts[k - 1] = stage.kept;
    };
    // Orders are independent here: with a thread free, it takes whole orders (about half the
    // work, in a share of the budget), while this one does the rest.
    const pool = env.pool;
    const there = recipe && pool?.begin && freeThreads(pool) > 1 ? ordersElsewhere(N, adjusted.sizes) : [];
    // This thread's orders' ADJUSTED blocks are sorted now, on every free thread (side by side,
    // see RowSorter.sortTogether), so that it does not sort them alone later, and their sorts'
    // spare arrays are back in the budget before it is shared out; the orders given away go
    // unsorted, and the other thread sorts them itself (the two then take about as long).
    if (there.length > 0) RowSorter.sortTogether(sorters.filter((_, k) => k >= 2 && !there.includes(k)));
    const elsewhere = there.length > 0 ? initialElsewhere(there, sorters, adjusted.sizes, recipe!, thresholds, smoother.float32, env) : null;
    if (elsewhere) cleanup.push(elsewhere);
    for (let k = 2; k <= N; k++) {
      if (there.includes(k)) continue;
      const stage = initialOrder(k, sorters[k]!.finish(), adjusted.sizes[k]!, smoother, recipe, thresholds?.[k - 1] ?? 0, env, scratch, log);
      ended(k, { initial: stage.initial.finish(), backoffs: stage.backoffs.finish(), kept: stage.kept, contexts: stage.contexts });
    }
    if (elsewhere) for (const o of elsewhere.wait()) ended(o.order, o);
    env.budget.garbage(scratch.release());

    log.info('=== 5/6 interpolating orders ===');
    interpolate(N, p1, initial, backoffs, sizes, smoother, makeSink(counts), env, log);
    const description = `${N}-gram ${smoother.name}${thresholds ? `, pruned ${thresholds.join(' ')}` : ''}, trained on ${totals.words} words in ${totals.sentences} sentences`;
    return { counts, description };
  } finally {
    countRows.close();
    for (const c of cleanup) c.drop();
  }
}

/** Stage 6 for ARPA files: MODEL rows of every order spooled, to be written order by order. */
export class SpoolSink implements ModelSink {
  readonly spools: RowSpool[] = [];
  /** `counts`: the n-grams of each order (index k − 1), where known: each spool then grows without copying. */
  constructor(order: number, env: StreamEnv, counts: readonly number[] = []) {
    for (let k = 1; k <= order; k++) this.spools[k] = new RowSpool(k + 2, env, counts[k - 1] ?? 0);
  }
  add(k: number, row: Uint32Array, at: number, log10Prob: number, log10Backoff: number): void {
    const s = this.spools[k]!;
    const o = s.push();
    const b = s.block;
    for (let j = 0; j < k; j++) b[o + j] = row[at + j]!;
    b[o + k] = f32Bits(log10Prob);
    b[o + k + 1] = f32Bits(log10Backoff);
  }
  addRows(k: number, rows: Uint32Array, n: number): void {
    pushRows(this.spools[k]!, rows, n, k + 2);
  }
  /** MODEL rows of order k (call once per order, in order). */
  cursor(k: number): RowCursor {
    return this.spools[k]!.finish();
  }
  drop(): void {
    for (const s of this.spools) s?.drop();
  }
}

/** Collects COUNT-derived rows of each order in memory (for `countNgrams`). */
export function collectAdjusted(counts: RowCursor, N: number, V: number): { adjusted: AdjustedCounts; rows: RowCollector[] } {
  const rows: RowCollector[] = [];
  const adjusted = adjustCounts(counts, N, V, (k) => (rows[k] = new RowCollector(k + 2)));
  return { adjusted, rows };
}
