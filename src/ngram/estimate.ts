/**
 * Estimation as a recipe of named stages (KenLM's lm/builder habit):
 *
 *   1. count        corpus ids → n-grams of every order with raw and adjusted counts (count.ts)
 *   2. discount     count-of-counts → the smoother's parameters (discounts, with fallback)
 *   3. initial      per context: totals and N1/N2/N3+; per n-gram α, per context γ
 *   4. interpolate  p(w|h) = α(h,w) + γ(h)·p(w|h'), lowest order first
 *   5. output       log10 probabilities and backoffs (γ of each context) as tables
 *
 * Count pruning (lmplz's --prune) happens between 3 and 4: a pruned n-gram's α is added to its
 * context's γ, so every distribution still sums to 1.
 */
import type { Corpus } from '../text/corpus.js';
import { BOS } from '../text/vocabulary.js';
import { KotobaError } from '../errors.js';
import { countNgrams, type NgramCounts } from './count.js';
import { createSmoother, type ContextStats, type Smoother, type SmoothingName, type SmoothingOptions } from './smoothing.js';
import { log10f } from './log10f.js';
import { emptyOrder, type NgramTables } from './tables.js';

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
}

const f = Math.fround;

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

function contextStats(counts: Uint32Array, context: Int32Array | null, size: number, contexts: number): ContextStats {
  const s: ContextStats = {
    total: new Float64Array(contexts),
    distinct: new Uint32Array(contexts),
    n1: new Uint32Array(contexts),
    n2: new Uint32Array(contexts),
    n3: new Uint32Array(contexts),
    startsWithBos: new Uint8Array(contexts),
  };
  for (let g = 0; g < size; g++) {
    const c = counts[g]!;
    if (c === 0) continue;
    const h = context ? context[g]! : 0;
    s.total[h]! += c;
    s.distinct[h]!++;
    if (c === 1) s.n1[h]!++;
    else if (c === 2) s.n2[h]!++;
    else s.n3[h]!++;
  }
  return s;
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
  const smoother =
    typeof options.smoothing === 'object' ? options.smoothing : createSmoother(options.smoothing ?? 'mkn', options.smoothingOptions);
  const thresholds = pruneThresholds(options.prune, N);
  const V = corpus.vocab.size;

  log.info(`=== 1/5 counting ${N}-grams of ${corpus.words} words in ${corpus.sentences} sentences ===`);
  const counts = countNgrams(corpus.tokens, V, N);
  log.info(`n-grams per order: ${counts.orders.map((o) => (o.order === 1 ? V : o.size)).join(' ')}`);

  log.info(`=== 2/5 ${smoother.name} parameters ===`);
  const kn = smoother.counts === 'adjusted';
  smoother.prepare({
    order: N,
    vocabSize: V,
    countOfCounts: kn ? counts.adjustedCountOfCounts : counts.rawCountOfCounts,
    warn: log.warn,
    info: log.info,
  });

  log.info('=== 3/5 initial probabilities ===');
  const alphas: Float64Array[] = [];
  const gammas: Float64Array[] = []; // gammas[k-1][h]: γ of context h (an (k-1)-gram) for order-k children
  const hasChildren: Uint8Array[] = [];
  const kept: (Uint8Array | null)[] = [];
  for (let k = 1; k <= N; k++) {
    const o = counts.orders[k - 1]!;
    const c = kn ? o.adjusted : o.raw;
    const contexts = k === 1 ? 1 : counts.orders[k - 2]!.size;
    const stats = contextStats(c, k === 1 ? null : o.context, o.size, contexts);
    if (k === 2) stats.startsWithBos[BOS] = 1;
    else if (k > 2) {
      const below = counts.orders[k - 2]!;
      for (let h = 0; h < contexts; h++) stats.startsWithBos[h] = counts.tokens[below.rep[h]! - (k - 2)] === BOS ? 1 : 0;
    }
    const alpha = new Float64Array(o.size);
    for (let g = 0; g < o.size; g++) {
      if (c[g]! > 0) alpha[g] = smoother.alpha(k, c[g]!, stats, k === 1 ? 0 : o.context[g]!);
    }
    const gamma = new Float64Array(contexts);
    const children = new Uint8Array(contexts);
    for (let h = 0; h < contexts; h++) {
      if (stats.total[h]! > 0) {
        gamma[h] = smoother.gamma(k, stats, h);
        children[h] = 1;
      }
    }
    let keep: Uint8Array | null = null;
    const t = thresholds?.[k - 1] ?? 0;
    if (k >= 2 && t > 0) {
      keep = new Uint8Array(o.size);
      for (let g = 0; g < o.size; g++) {
        if (o.raw[g]! > t) keep[g] = 1;
        else {
          // The pruned n-gram's mass moves to its context's backoff.
          const h = o.context[g]!;
          gamma[h] = smoother.float32 ? f(gamma[h]! + alpha[g]!) : gamma[h]! + alpha[g]!;
        }
      }
    }
    alphas.push(alpha);
    gammas.push(gamma);
    hasChildren.push(children);
    kept.push(keep);
  }

  log.info('=== 4/5 interpolating orders ===');
  const probs: Float64Array[] = [];
  {
    const p1 = new Float64Array(V);
    const base = smoother.base(V);
    const g0 = gammas[0]![0]!;
    const a1 = alphas[0]!;
    for (let w = 0; w < V; w++) p1[w] = smoother.float32 ? f(a1[w]! + f(g0 * base)) : a1[w]! + g0 * base;
    p1[BOS] = 1; // <s> is never predicted; KenLM writes log10 p = 0.
    probs.push(p1);
  }
  for (let k = 2; k <= N; k++) {
    const o = counts.orders[k - 1]!;
    const alpha = alphas[k - 1]!;
    const gamma = gammas[k - 1]!;
    const lower = probs[k - 2]!;
    const p = new Float64Array(o.size);
    if (smoother.float32) {
      for (let g = 0; g < o.size; g++) p[g] = f(alpha[g]! + f(gamma[o.context[g]!]! * lower[o.suffix[g]!]!));
    } else {
      for (let g = 0; g < o.size; g++) p[g] = alpha[g]! + gamma[o.context[g]!]! * lower[o.suffix[g]!]!;
    }
    probs.push(p);
  }

  log.info('=== 5/5 writing tables ===');
  const tables = toTables(counts, probs, gammas, hasChildren, kept, smoother.float32);
  return {
    vocab: corpus.vocab,
    orders: tables,
    description: `${N}-gram ${smoother.name}${thresholds ? `, pruned ${thresholds.join(' ')}` : ''}, trained on ${corpus.words} words in ${corpus.sentences} sentences`,
    ...(corpus.text ? { text: corpus.text } : {}),
  };
}

function toTables(
  counts: NgramCounts,
  probs: Float64Array[],
  gammas: Float64Array[],
  hasChildren: Uint8Array[],
  kept: (Uint8Array | null)[],
  float32: boolean,
) {
  const N = counts.order;
  const log10 = float32 ? log10f : (x: number) => Math.log10(x);
  const tables = [];
  let rowOf: Int32Array | null = null; // n-gram index → output row, for the order just written
  for (let k = 1; k <= N; k++) {
    const o = counts.orders[k - 1]!;
    const keep = kept[k - 1];
    let size = o.size;
    if (keep) {
      size = 0;
      for (let g = 0; g < o.size; g++) size += keep[g]!;
    }
    const t = emptyOrder(k, size);
    if (k >= 2) {
      t.contextRow = new Int32Array(size);
      t.suffixRow = new Int32Array(size);
    }
    const rows = new Int32Array(o.size).fill(-1);
    const p = probs[k - 1]!;
    const gamma = k < N ? gammas[k]! : null;
    const children = k < N ? hasChildren[k]! : null;
    let row = 0;
    for (let g = 0; g < o.size; g++) {
      if (keep && !keep[g]) continue;
      rows[g] = row;
      if (k === 1) t.words[row] = g;
      else {
        const end = o.rep[g]!;
        for (let j = 0; j < k; j++) t.words[row * k + j] = counts.tokens[end - k + 1 + j]!;
        // Contexts and suffixes of kept n-grams are kept (their counts are at least as large).
        t.contextRow![row] = rowOf![o.context[g]!]!;
        t.suffixRow![row] = rowOf![o.suffix[g]!]!;
      }
      t.log10Prob[row] = log10(p[g]!);
      t.log10Backoff[row] = gamma && children![g] ? log10(gamma[g]!) : 0;
      row++;
    }
    rowOf = rows;
    tables.push(t);
  }
  return tables;
}
