/**
 * Counting, for inspection: every n-gram of orders 1..N of a token stream with its raw and
 * Kneser-Ney adjusted count, in memory. Estimation itself streams the same counts through
 * pipeline.ts (stages 1 and 2); this runs those two stages and keeps their rows.
 *
 * Conventions (KenLM's): a sentence is `<s> w1 … wk </s>`; `<s>` is context only; an n-gram never
 * reaches back past its sentence's `<s>` (the padded `<s> <s> w` of lmplz is the bigram `<s> w`).
 */
import { collectAdjusted, NgramCounter } from './pipeline.js';
import { memoryEnv, SortScratch } from './records.js';

/** The n-grams of one order, in suffix order (the last word first, as lmplz sorts), with their counts. */
export interface OrderCounts {
  order: number;
  size: number;
  /** size × order word ids, row-major. Unigrams: every word id, in id order. */
  words: Uint32Array;
  /** Number of occurrences. */
  raw: Uint32Array;
  /**
   * Kneser-Ney adjusted count: raw at the top order and for n-grams that start with `<s>`,
   * otherwise the number of distinct words seen to the left.
   */
  adjusted: Uint32Array;
}

/** All n-grams of orders 1..N of a token stream, with the count-of-counts for discounting. */
export interface NgramCounts {
  order: number;
  vocabSize: number;
  /** orders[k-1] holds the k-grams. */
  orders: OrderCounts[];
  /**
   * Count-of-counts n[0..4] per order over adjusted counts, collected exactly as lmplz collects
   * them (including its one quirk, see `adjustCounts`), for the modified Kneser-Ney discounts.
   */
  adjustedCountOfCounts: Float64Array[];
  /** Count-of-counts n[0..4] per order over raw counts. */
  rawCountOfCounts: Float64Array[];
}

/**
 * Counts all n-grams of orders 1..`order` in `tokens` (`<s> … </s>` sentences of ids below
 * `vocabSize`).
 *
 * @example
 * ```ts
 * // runs
 * import { corpusFromText, countNgrams } from 'kotoba';
 * const corpus = corpusFromText(['a b a b', 'b a']);
 * const counts = countNgrams(corpus.tokens, corpus.vocab.size, 2);
 * counts.orders[0].raw[corpus.vocab.id('a')];      // 3: unigrams are indexed by word id
 * counts.orders[0].adjusted[corpus.vocab.id('a')]; // 2: seen after <s> and after b
 * ```
 */
export function countNgrams(tokens: Uint32Array, vocabSize: number, order: number): NgramCounts {
  const N = order;
  const counter = new NgramCounter(N, memoryEnv(), new SortScratch());
  counter.addTokens(tokens);
  const { adjusted, rows } = collectAdjusted(counter.finish(), N, vocabSize);
  const orders: OrderCounts[] = [];
  const ids = new Uint32Array(vocabSize);
  for (let v = 0; v < vocabSize; v++) ids[v] = v;
  orders.push({ order: 1, size: vocabSize, words: ids, raw: Uint32Array.from(adjusted.unigramRaw), adjusted: Uint32Array.from(adjusted.unigramAdjusted) });
  for (let k = 2; k <= N; k++) {
    const r = rows[k]!;
    const W = k + 2;
    const words = new Uint32Array(r.count * k);
    const raw = new Uint32Array(r.count);
    const adj = new Uint32Array(r.count);
    for (let g = 0; g < r.count; g++) {
      for (let j = 0; j < k; j++) words[g * k + j] = r.block[g * W + j]!;
      raw[g] = r.block[g * W + k]!;
      adj[g] = r.block[g * W + k + 1]!;
    }
    orders.push({ order: k, size: r.count, words, raw, adjusted: adj });
  }
  return { order: N, vocabSize, orders, adjustedCountOfCounts: adjusted.adjustedCountOfCounts, rawCountOfCounts: adjusted.rawCountOfCounts };
}

/**
 * Words of n-gram `g` of order `k` into `out`.
 *
 * @example
 * ```ts
 * import { ngramWords, type Corpus, type NgramCounts } from 'kotoba';
 * declare const corpus: Corpus;
 * declare const counts: NgramCounts; // countNgrams(corpus.tokens, corpus.vocab.size, 3)
 * const words = new Uint32Array(3);
 * for (let g = 0; g < counts.orders[2].size; g++) {
 *   ngramWords(counts, 3, g, words); // the g-th trigram, in suffix order
 *   console.log(Array.from(words, (id) => corpus.vocab.word(id)).join(' '), counts.orders[2].raw[g]);
 * }
 * ```
 */
export function ngramWords(counts: NgramCounts, k: number, g: number, out: Uint32Array | number[]): void {
  const words = counts.orders[k - 1]!.words;
  for (let j = 0; j < k; j++) out[j] = words[g * k + j]!;
}
