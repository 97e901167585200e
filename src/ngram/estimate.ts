/**
 * Estimation from a corpus in memory: the pipeline of pipeline.ts (count → adjust → discount →
 * initial probabilities → interpolate → output) with every stream in memory, ending in tables.
 * The same stages stream through disk for corpora larger than memory (kotoba/node's
 * `trainNgramModel`, `kotoba train --memory`), so both give the same bytes.
 *
 * Count pruning (lmplz's --prune) happens in stage 4: a pruned n-gram's α is added to its
 * context's γ, so every distribution still sums to 1.
 */
import type { Corpus } from '../text/corpus.js';
import { KotobaError } from '../errors.js';
import { createSmoother, type Smoother, type SmoothingName, type SmoothingOptions } from './smoothing.js';
import { estimateFromCounts, NgramCounter, type ModelSink } from './pipeline.js';
import { memoryEnv, SortScratch, type StreamEnv } from './records.js';
import { emptyOrder, type NgramOrderTable, type NgramTables } from './tables.js';

/** Where estimation reports its stages (`info`) and its fallbacks (`warn`); `console` is one. */
export interface Logger {
  warn(message: string): void;
  info(message: string): void;
}

/** A Logger that drops every message: the default. */
export const silentLogger: Logger = { warn() {}, info() {} };

/** Options for `estimate`: the order, the smoother, count pruning, a logger. */
export interface EstimateOptions {
  /** Highest order N (1 or more). */
  order: number;
  /** Smoother name (default `mkn`) or an instance. */
  smoothing?: SmoothingName | Smoother;
  smoothingOptions?: SmoothingOptions;
  /**
   * Count thresholds per order, as lmplz `--prune`: n-grams of order k seen at most prune[k-1]
   * times are dropped (the last value repeats). Must start with 0 and never decrease.
   */
  prune?: number[];
  log?: Logger;
  /**
   * Where the sorted streams of estimation live (default: memory, unbounded, so every stream is
   * one block). `memoryEnv(bytes)` bounds the blocks and keeps the runs in memory, to see the
   * merging at work; files on disk are kotoba/node's `trainNgramModel`.
   */
  streams?: StreamEnv;
}

/**
 * Validates an order given by a user.
 *
 * @example
 * ```ts
 * // runs
 * import { checkOrder } from 'kotoba';
 * checkOrder(5); // 5
 * // checkOrder(2.5) throws KotobaError: order must be a whole number of at least 1, not 2.5 (pass e.g. --order 3)
 * ```
 */
export function checkOrder(order: number): number {
  if (!Number.isInteger(order) || order < 1) {
    throw new KotobaError(`order must be a whole number of at least 1, not ${order}`, 'pass e.g. --order 3');
  }
  if (order > 255) throw new KotobaError(`order ${order} is too large`, 'use an order of at most 255');
  return order;
}

/**
 * Checks lmplz-style count thresholds and expands them to one per order.
 *
 * @example
 * ```ts
 * // runs
 * import { pruneThresholds } from 'kotoba';
 * pruneThresholds([0, 1], 4); // [0, 1, 1, 1]: the last value repeats
 * pruneThresholds([0, 0], 4); // null: nothing to prune
 * ```
 */
export function pruneThresholds(prune: number[] | undefined, order: number): number[] | null {
  if (!prune || prune.every((t) => t === 0)) return null;
  if (prune[0] !== 0) {
    throw new KotobaError('unigram pruning is not supported: the first --prune threshold must be 0', 'e.g. --prune 0 1 1');
  }
  const out: number[] = [];
  for (let k = 0; k < order; k++) {
    const t = prune[Math.min(k, prune.length - 1)]!;
    if (!Number.isInteger(t) || t < 0) throw new KotobaError(`--prune thresholds must be whole numbers ≥ 0, not ${t}`);
    if (k > 0 && t < out[k - 1]!) {
      throw new KotobaError('--prune thresholds must not decrease with the order', 'e.g. --prune 0 1 2');
    }
    out.push(t);
  }
  return out;
}

/**
 * Estimates a backoff n-gram model from a corpus.
 *
 * @example
 * ```ts
 * // runs
 * import { BackoffModel, corpusFromText, estimate } from 'kotoba';
 * const corpus = corpusFromText(['私 は 読書 が 好き だ', '私 の 本 は 1900年代 に 書かれた', '1900年代 は 20世紀 だ']);
 * const tables = estimate(corpus, { order: 3, log: console }); // modified Kneser-Ney; on data this small it warns and falls back
 * const wittenBell = estimate(corpus, { order: 3, smoothing: 'wb', prune: [0, 0, 1] }); // drops trigrams seen once
 * const model = BackoffModel.fromTables(tables);
 * ```
 */
export function estimate(corpus: Corpus, options: EstimateOptions): NgramTables {
  const N = checkOrder(options.order);
  const log = options.log ?? silentLogger;
  const smoother = smootherOf(options);
  const thresholds = pruneThresholds(options.prune, N);
  const env = options.streams ?? memoryEnv();
  log.info(`=== 1/6 counting ${N}-grams of ${corpus.words} words in ${corpus.sentences} sentences ===`);
  const counter = new NgramCounter(N, env, new SortScratch());
  let sink: ModelTablesSink | null = null;
  try {
    counter.addTokens(corpus.tokens);
    // A built-in smoother by name, so that the threads of a pool in `streams` can rebuild it.
    const smoothing = typeof options.smoothing === 'object' ? undefined : { name: options.smoothing ?? 'mkn', options: options.smoothingOptions ?? {} };
    const result = estimateFromCounts(counter.finish(), corpus.vocab, corpus, { order: N, smoother, ...(smoothing ? { smoothing } : {}), thresholds, log }, env, (counts) => (sink = new ModelTablesSink(counts)));
    log.info('=== 6/6 linking the tables ===');
    return { vocab: corpus.vocab, orders: sink!.finish(), description: result.description, ...(corpus.text ? { text: corpus.text } : {}) };
  } finally {
    counter.drop();
  }
}

/** The smoother that `options` name (or hold). */
export function smootherOf(options: Pick<EstimateOptions, 'smoothing' | 'smoothingOptions'>): Smoother {
  return typeof options.smoothing === 'object' ? options.smoothing : createSmoother(options.smoothing ?? 'mkn', options.smoothingOptions);
}

/** Stage 6 for tables (the estimation side; the ARPA reader has its own TablesSink): each order's rows straight into its arrays, with links between orders. */
export class ModelTablesSink implements ModelSink {
  private readonly orders: NgramOrderTable[];
  private readonly filled: number[];
  /** Per order k ≥ 3: each n-gram's context ordinal, and each context ordinal's row in order k−1. */
  private readonly contextOf: Uint32Array[] = [];
  private readonly rowOf: Int32Array[] = [];
  constructor(counts: number[]) {
    this.orders = counts.map((size, i) => {
      const t = emptyOrder(i + 1, size);
      if (i > 0) {
        t.suffixRow = new Int32Array(size);
        t.contextRow = new Int32Array(size);
      }
      return t;
    });
    this.filled = counts.map(() => 0);
    for (let k = 3; k <= counts.length; k++) {
      this.contextOf[k] = new Uint32Array(counts[k - 1]!);
      this.rowOf[k] = new Int32Array(1024);
    }
  }
  add(k: number, row: Uint32Array, at: number, log10Prob: number, log10Backoff: number, suffixRow: number, context: number): void {
    const t = this.orders[k - 1]!;
    const r = this.filled[k - 1]!++;
    for (let j = 0; j < k; j++) t.words[r * k + j] = row[at + j]!;
    t.log10Prob[r] = log10Prob;
    t.log10Backoff[r] = log10Backoff;
    if (k === 1) return;
    t.suffixRow![r] = suffixRow;
    if (k === 2) t.contextRow![r] = row[at]!; // the unigram row is the word id
    else this.contextOf[k]![r] = context;
  }
  context(k: number, context: number, row: number): void {
    if (k < 3) return;
    let rows = this.rowOf[k]!;
    if (context >= rows.length) {
      const bigger = new Int32Array(Math.max(context + 1, rows.length * 2));
      bigger.set(rows);
      this.rowOf[k] = rows = bigger;
    }
    rows[context] = row;
  }
  finish(): NgramOrderTable[] {
    for (let k = 3; k <= this.orders.length; k++) {
      const t = this.orders[k - 1]!;
      const of = this.contextOf[k]!;
      const rows = this.rowOf[k]!;
      for (let r = 0; r < t.size; r++) t.contextRow![r] = rows[of[r]!]!;
    }
    return this.orders;
  }
}
