/**
 * Stage 1 of estimation: counting. Every n-gram of every order up to N is found by sorting the
 * token positions of the corpus in suffix order (last word first, as KenLM's lmplz sorts), so
 * that each n-gram is a run of adjacent positions and counts, Kneser-Ney adjusted counts and the
 * context / suffix links between orders all come from one linear scan. No hashing, no
 * allocation per token: a few radix-sort passes over typed arrays.
 *
 * Conventions (KenLM's): a sentence is `<s> w1 … wk </s>`; `<s>` is context only; an n-gram never
 * reaches back past its sentence's `<s>` (the padded `<s> <s> w` of lmplz collapses to `<s> w`).
 */
import { BOS } from '../text/vocabulary.js';

/** The n-grams of one order, in suffix order. Unigrams are indexed by word id. */
/** The n-grams of one order, in suffix order, with their counts and links to the order below. */
export interface OrderCounts {
  order: number;
  size: number;
  /** A token position where the n-gram ends: its words are tokens[rep-order+1 … rep]. (order ≥ 2) */
  rep: Uint32Array;
  /** Number of occurrences. */
  raw: Uint32Array;
  /**
   * Kneser-Ney adjusted count: raw at the top order and for n-grams that start with `<s>`,
   * otherwise the number of distinct words seen to the left.
   */
  adjusted: Uint32Array;
  /** Index, in the order below, of the first order-1 words (the context). Unigrams: -1. */
  context: Int32Array;
  /** Index, in the order below, of the last order-1 words (the suffix). Unigrams: -1. */
  suffix: Int32Array;
}

/** All n-grams of orders 1..N of a token stream, with the count-of-counts for discounting. */
export interface NgramCounts {
  order: number;
  vocabSize: number;
  tokens: Uint32Array;
  /** orders[k-1] holds the k-grams. */
  orders: OrderCounts[];
  /**
   * Count-of-counts n[0..4] per order over adjusted counts, collected exactly as lmplz collects
   * them (including its one quirk, see `countNgrams`), for the modified Kneser-Ney discounts.
   */
  adjustedCountOfCounts: Float64Array[];
  /** Count-of-counts n[0..4] per order over raw counts. */
  rawCountOfCounts: Float64Array[];
}

/** Growable Uint32 / Int32 column. */
class Column<T extends Uint32Array | Int32Array> {
  length = 0;
  constructor(public data: T) {}
  push(v: number): number {
    if (this.length === this.data.length) {
      const bigger = new (this.data.constructor as new (n: number) => T)(this.data.length * 2);
      bigger.set(this.data);
      this.data = bigger;
    }
    this.data[this.length] = v;
    return this.length++;
  }
  done(): T {
    return this.data.subarray(0, this.length) as T;
  }
}

/**
 * Counts all n-grams of orders 1..`order` in `tokens` (`<s> … </s>` sentences of ids below
 * `vocabSize`).
 *
 * lmplz quirk, copied on purpose: when lmplz collects count-of-counts, the lower-order n-grams
 * still open at the end of its stream (the suffixes of the last top-order n-gram in suffix
 * order) are counted with their raw count instead of their adjusted count. It moves a
 * discount in the fifth digit on Penn Treebank; copying it makes kotoba's numbers KenLM's.
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
  // Predicted positions (every token but <s>) and how far each reaches back (its full order).
  let predicted = 0;
  for (let i = 0; i < tokens.length; i++) if (tokens[i] !== BOS) predicted++;
  const depth = new Uint8Array(tokens.length); // full order at p: min(N, distance to <s> + 1)
  let perm = new Uint32Array(predicted);
  {
    let start = 0;
    let j = 0;
    for (let p = 0; p < tokens.length; p++) {
      if (tokens[p] === BOS) {
        start = p;
        continue;
      }
      depth[p] = Math.min(N, p - start + 1);
      perm[j++] = p;
    }
  }
  // Word at distance d to the left of p within its full n-gram, padding with <s> like lmplz.
  const wordAt = (p: number, d: number): number => (d < depth[p]! ? tokens[p - d]! : BOS);

  // Sort positions by (w[p], w[p-1], …, w[p-N+1]): LSD radix sort, least significant key first.
  const buckets = new Uint32Array(vocabSize + 1);
  let spare = new Uint32Array(predicted);
  for (let d = N - 1; d >= 0; d--) {
    buckets.fill(0);
    for (let i = 0; i < predicted; i++) buckets[wordAt(perm[i]!, d) + 1]!++;
    for (let v = 1; v <= vocabSize; v++) buckets[v]! += buckets[v - 1]!;
    for (let i = 0; i < predicted; i++) {
      const p = perm[i]!;
      spare[buckets[wordAt(p, d)]!++] = p;
    }
    [perm, spare] = [spare, perm];
  }

  // One scan: each order-k n-gram is a run of positions whose first k keys agree.
  const reps: Column<Uint32Array>[] = [];
  const raws: Column<Uint32Array>[] = [];
  const adjusted: Column<Uint32Array>[] = [];
  const suffixes: Column<Int32Array>[] = [];
  for (let k = 1; k <= N; k++) {
    const initial = k === 1 ? vocabSize : 1 << 12;
    reps.push(new Column(new Uint32Array(initial)));
    raws.push(new Column(new Uint32Array(initial)));
    adjusted.push(new Column(new Uint32Array(initial)));
    suffixes.push(new Column(new Int32Array(initial)));
  }
  // Unigrams are indexed by word id: all of the vocabulary, counts 0 until seen.
  for (let v = 0; v < vocabSize; v++) {
    reps[0]!.push(0);
    raws[0]!.push(0);
    adjusted[0]!.push(0);
    suffixes[0]!.push(-1);
  }
  // posGroup[k][p]: index of the order-k n-gram ending at p (for contexts), orders 2..N-1.
  const posGroup: Int32Array[] = [];
  for (let k = 2; k < N; k++) posGroup[k] = new Int32Array(tokens.length).fill(-1);
  const current = new Int32Array(N + 1).fill(-1); // current group per order during the scan
  let previous = -1;
  for (let i = 0; i < predicted; i++) {
    const p = perm[i]!;
    const full = depth[p]!;
    // Length of the common key prefix with the previous position (0..N).
    let same = 0;
    if (previous >= 0) while (same < N && wordAt(p, same) === wordAt(previous, same)) same++;
    for (let k = 1; k <= full; k++) {
      if (k > same) {
        // A new k-gram starts here.
        let g: number;
        if (k === 1) {
          g = tokens[p]!;
          reps[0]!.data[g] = p;
        } else {
          g = reps[k - 1]!.push(p);
          raws[k - 1]!.push(0);
          adjusted[k - 1]!.push(0);
          suffixes[k - 1]!.push(current[k - 1]!);
          // One more distinct left extension for the (k-1)-gram it extends.
          adjusted[k - 2]!.data[current[k - 1]!]!++;
        }
        current[k] = g;
      }
      const g = current[k]!;
      raws[k - 1]!.data[g]!++;
      if (k < N && k >= 2) posGroup[k]![p] = g;
    }
    previous = p;
  }

  const orders: OrderCounts[] = [];
  for (let k = 1; k <= N; k++) {
    const size = reps[k - 1]!.length;
    const rep = reps[k - 1]!.done();
    const raw = raws[k - 1]!.done();
    const adj = adjusted[k - 1]!.done();
    // Top order and n-grams that start with <s> keep raw counts.
    for (let g = 0; g < size; g++) {
      if (k === N || (k > 1 && depth[rep[g]!] === k)) adj[g] = raw[g]!;
    }
    const context = new Int32Array(size).fill(-1);
    if (k >= 2) {
      for (let g = 0; g < size; g++) {
        const q = rep[g]! - 1; // the context ends one token earlier
        context[g] = k === 2 ? tokens[q]! : posGroup[k - 1]![q]!;
      }
    }
    orders.push({ order: k, size, rep, raw, adjusted: adj, context, suffix: suffixes[k - 1]!.done() });
  }

  // Count-of-counts, the way lmplz collects them.
  const adjustedCountOfCounts: Float64Array[] = [];
  const rawCountOfCounts: Float64Array[] = [];
  for (let k = 1; k <= N; k++) {
    const o = orders[k - 1]!;
    const a = new Float64Array(5);
    const r = new Float64Array(5);
    for (let g = 0; g < o.size; g++) {
      if (k === 1 && o.raw[g] === 0) continue; // never-seen unigrams (<s>, an absent <unk>)
      if (o.adjusted[g]! < 5) a[o.adjusted[g]!]!++;
      if (o.raw[g]! < 5) r[o.raw[g]!]!++;
    }
    adjustedCountOfCounts.push(a);
    rawCountOfCounts.push(r);
  }
  if (N >= 2 && predicted > 0) {
    // The quirk: the suffixes of the last top-order n-gram count with their raw count.
    const last = perm[predicted - 1]!;
    const top = Math.min(depth[last]!, N - 1);
    for (let k = 1; k <= top; k++) {
      const o = orders[k - 1]!;
      // The last top-order n-gram in suffix order ends, at every order, in that order's last n-gram.
      const g = k === 1 ? tokens[last]! : o.size - 1;
      const a = adjustedCountOfCounts[k - 1]!;
      if (o.adjusted[g]! < 5) a[o.adjusted[g]!]!--;
      if (o.raw[g]! < 5) a[o.raw[g]!]!++;
    }
  }
  return { order: N, vocabSize, tokens, orders, adjustedCountOfCounts, rawCountOfCounts };
}

/**
 * Words of n-gram `g` of order `k` (k ≥ 2) into `out`.
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
  if (k === 1) {
    out[0] = g;
    return;
  }
  const end = counts.orders[k - 1]!.rep[g]!;
  for (let j = 0; j < k; j++) out[j] = counts.tokens[end - k + 1 + j]!;
}
