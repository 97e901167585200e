/**
 * The query side of a backoff n-gram model: KenLM's state API over one open-addressing hash
 * table of records in a typed array.
 *
 * Every n-gram has an integer id: unigrams are their word id; longer n-grams are V + a slot of
 * the hash table, keyed exactly (no hash-only matching) by (id of its context, last word). A
 * record holds everything a query needs from an n-gram, so that one cache line serves a probe:
 *
 *   [context id, last word, log10 p (f32 bits), log10 backoff (f32 bits), suffix id, state id]
 *
 * The suffix is the n-gram without its first word; the state is the longest suffix of the
 * n-gram, itself included, that can still be extended or carries a backoff weight. A model state
 * is therefore one integer, and scoring a word allocates nothing:
 *
 *   from the state's n-gram h: look up (h, w); if absent, add backoff(h) and move to suffix(h).
 */
import { KotobaError } from '../errors.js';
import type { LanguageModel, Scored } from '../lm.js';
import type { TokenizeOptions } from '../text/tokenize.js';
import { BOS, type Vocabulary } from '../text/vocabulary.js';
import { emptyOrder, type NgramOrderTable, type NgramTables } from './tables.js';

/** Int32 fields per record. */
export const RECORD = 6;
const CONTEXT = 0;
const WORD = 1;
const PROB = 2;
const BACKOFF = 3;
const SUFFIX = 4;
const STATE = 5;
/** Context field of an empty slot. */
const EMPTY = -1;
/** Context field of a unigram (the root). */
const ROOT = -2;
/** Set in `order` for a blank: an n-gram a file lacked, inserted so its extensions can be found. */
const BLANK = 0x80;

/** The arrays that make up a model: what the binary format stores, section by section. */
export interface BackoffModelArrays {
  order: number;
  /** Hash slots (any size; about 1.5 per n-gram above the unigrams). */
  capacity: number;
  /** (V + capacity) × RECORD int32 fields; prob and backoff are float32 bit patterns. */
  records: Int32Array;
  /** V + capacity: order of each n-gram (0 for an empty slot; BLANK set for a blank). */
  lengths: Uint8Array;
  /** Per order ≥ 2: n-gram ids in the order of the original tables (for writing them back). */
  ordered: Int32Array[];
}

function hashOf(context: number, word: number): number {
  let h = Math.imul(context ^ 0x5bd1e995, 0x9e3779b1) ^ Math.imul(word + 0x7f4a7c15, 0x85ebca6b);
  h ^= h >>> 15;
  h = Math.imul(h, 0x2c1b3c6d);
  h ^= h >>> 12;
  return h >>> 0;
}

/** First slot to probe for a key: the hash scaled to [0, capacity) (no power-of-two rounding). */
function firstSlot(context: number, word: number, capacity: number): number {
  return Math.floor((hashOf(context, word) * capacity) / 4294967296);
}

/**
 * A backoff n-gram model (ARPA semantics) answering queries: log10 p(w | state) with the length
 * of the matched n-gram, next states, and full next-word distributions.
 *
 * @example
 * ```ts
 * import { BackoffModel, estimate, type Corpus } from 'kotoba';
 * declare const corpus: Corpus;
 * const model = BackoffModel.fromTables(estimate(corpus, { order: 3 }));
 * let state = model.begin();
 * const { log10, next, ngram } = model.score(state, model.vocab.id('私'));
 * ```
 */
export class BackoffModel implements LanguageModel<number> {
  readonly vocab: Vocabulary;
  readonly description: string;
  readonly text: TokenizeOptions | undefined;
  readonly order: number;
  readonly ordered: Int32Array[];
  private readonly V: number;
  private readonly capacity: number;
  private readonly rec: Int32Array;
  private readonly recF: Float32Array; // the same memory, for prob and backoff
  private readonly orderOf: Uint8Array;
  private children: { start: Int32Array; ids: Int32Array } | null = null;
  /** Contexts passed while backing off (scratch for scoring; a model has at most 255 orders). */
  private readonly passed = new Int32Array(256);

  constructor(vocab: Vocabulary, arrays: BackoffModelArrays, description: string, text?: TokenizeOptions) {
    this.vocab = vocab;
    this.description = description;
    this.text = text;
    this.order = arrays.order;
    this.V = vocab.size;
    this.capacity = arrays.capacity;
    this.rec = arrays.records;
    this.recF = new Float32Array(arrays.records.buffer, arrays.records.byteOffset, arrays.records.length);
    this.orderOf = arrays.lengths;
    this.ordered = arrays.ordered;
    if (this.rec.length !== (this.V + this.capacity) * RECORD) throw new KotobaError('internal: n-gram records do not match the vocabulary');
  }

  /** The arrays behind the model (shared, not copied). */
  get arrays(): BackoffModelArrays {
    return { order: this.order, capacity: this.capacity, records: this.rec, lengths: this.orderOf, ordered: this.ordered };
  }

  /** Number of n-grams per order (blanks not counted). */
  get counts(): number[] {
    return [this.V, ...this.ordered.map((o) => o.length)];
  }

  /** Id of the n-gram (context id, word), or -1. */
  find(context: number, word: number): number {
    const rec = this.rec;
    const V = this.V;
    const cap = this.capacity;
    for (let s = firstSlot(context, word, cap); ; ) {
      const r = (V + s) * RECORD;
      const c = rec[r]!;
      if (c === EMPTY) return -1;
      if (c === context && rec[r + WORD] === word) return V + s;
      if (++s === cap) s = 0;
    }
  }

  /**
   * Id of the n-gram with these words, or -1.
   *
   * @example
   * ```ts
   * import type { BackoffModel } from 'kotoba';
   * declare const model: BackoffModel;
   * const id = model.lookup(['私', 'は'].map((w) => model.vocab.id(w)));
   * if (id >= 0) console.log(model.log10Prob(id), model.log10Backoff(id)); // as in the ARPA file
   * ```
   */
  lookup(words: ArrayLike<number>): number {
    if (words.length === 0) return -1;
    let id = words[0]!;
    if (id >= this.V) return -1;
    for (let i = 1; i < words.length && id >= 0; i++) id = this.find(id, words[i]!);
    return id;
  }

  /** Id of the context (all but the last word) of n-gram `id`; -1 for a unigram. */
  contextOf(id: number): number {
    return id < this.V ? -1 : this.rec[id * RECORD + CONTEXT]!;
  }

  /** Last word of n-gram `id`. */
  lastWord(id: number): number {
    return this.rec[id * RECORD + WORD]!;
  }

  /** log10 probability stored for n-gram `id`. */
  log10Prob(id: number): number {
    return this.recF[id * RECORD + PROB]!;
  }

  /** log10 backoff weight stored for n-gram `id`. */
  log10Backoff(id: number): number {
    return this.recF[id * RECORD + BACKOFF]!;
  }

  /** Id of the n-gram without its first word; -1 for a unigram. */
  suffixOf(id: number): number {
    return this.rec[id * RECORD + SUFFIX]!;
  }

  /** The state after `<s>`. */
  begin(): number {
    return this.rec[BOS * RECORD + STATE]!;
  }

  /**
   * log10 p(word | state), the next state, and the length of the n-gram that matched.
   *
   * @example
   * ```ts
   * import type { BackoffModel } from 'kotoba';
   * declare const model: BackoffModel;
   * let state = model.begin();
   * for (const word of ['私', 'は', '</s>']) {
   *   const { log10, next, ngram } = model.score(state, model.vocab.id(word));
   *   console.log(word, log10, `${ngram}-gram`);
   *   state = next;
   * }
   * ```
   */
  score(state: number, word: number): Scored<number> {
    const rec = this.rec;
    let j = 0;
    let n = -1;
    for (let h = state; h >= 0; h = rec[h * RECORD + SUFFIX]!) {
      n = this.find(h, word);
      if (n >= 0) break;
      this.passed[j++] = h;
    }
    if (n < 0) n = word;
    return { log10: this.total(n, j), next: rec[n * RECORD + STATE]!, ngram: n < this.V ? 1 : this.orderOf[n]! & 0x7f };
  }

  /**
   * log10 p of n-gram `n` plus the backoffs of the `j` contexts passed on the way down, added
   * in float32 from the shortest context up: KenLM's order of additions, so that scores agree
   * to the last bit.
   */
  private total(n: number, j: number): number {
    const recF = this.recF;
    let lp = recF[n * RECORD + PROB]!;
    while (j > 0) lp = Math.fround(lp + recF[this.passed[--j]! * RECORD + BACKOFF]!);
    return lp;
  }

  /**
   * The fast path. Where `score` walks down from the state, one dependent lookup after another,
   * this keeps the whole context chain (the ids of the last 1, 2, … words) and probes every
   * order at once: each probe's address depends only on the chain and the word, so the CPU
   * overlaps their cache misses, and the probes that hit are the next word's chain.
   *
   * @example
   * ```ts
   * import { EOS, splitWords, type BackoffModel } from 'kotoba';
   * declare const model: BackoffModel;
   * const words = Uint32Array.from([...splitWords('私 は 本 だ').map((w) => model.vocab.id(w)), EOS]);
   * const log10 = new Float64Array(words.length);
   * const ngram = new Uint8Array(words.length);
   * const total = model.scoreSentence(words, log10, ngram); // log10 p of the sentence, </s> included
   * ```
   */
  scoreSentence(words: Uint32Array, log10Out: Float64Array, ngramOut?: Uint8Array): number {
    const { rec, recF, V, capacity: cap, orderOf } = this;
    const chain = this.chain;
    const found = this.found;
    // The chain after <s>: its state and that state's suffixes, longest last.
    let chainLength = this.chainOf(rec[BOS * RECORD + STATE]!, chain);
    let total = 0;
    for (let i = 0; i < words.length; i++) {
      const w = words[i]!;
      found[0] = w;
      let m = 1; // order of the longest match
      for (let k = 1; k <= chainLength; k++) {
        const h = chain[k - 1]!;
        let n = -1;
        for (let s = firstSlot(h, w, cap); ; ) {
          const r = (V + s) * RECORD;
          const c = rec[r]!;
          if (c === EMPTY) break;
          if (c === h && rec[r + WORD] === w) {
            n = V + s;
            break;
          }
          if (++s === cap) s = 0;
        }
        // Suffixes of a stored n-gram are stored too, so the first miss ends the matches.
        if (n < 0) break;
        found[k] = n;
        m = k + 1;
      }
      const n = found[m - 1]!;
      // log10 p of the match, then the backoffs of the longer contexts, shortest first.
      let lp = recF[n * RECORD + PROB]!;
      for (let k = m; k <= chainLength; k++) lp = Math.fround(lp + recF[chain[k - 1]! * RECORD + BACKOFF]!);
      log10Out[i] = lp;
      if (ngramOut) ngramOut[i] = n < V ? 1 : orderOf[n]! & 0x7f;
      total = Math.fround(total + lp);
      // The next chain: the matches up to the order of the state they lead to.
      const state = rec[n * RECORD + STATE]!;
      chainLength = state < 0 ? 0 : orderOf[state]! & 0x7f;
      if (state >= V && orderOf[state]! & BLANK) chainLength = this.chainOf(state, chain);
      else for (let k = 0; k < chainLength; k++) chain[k] = found[k]!;
    }
    return total;
  }

  /** Writes the ids of `state` and its suffixes into `chain`, shortest first; returns the count. */
  private chainOf(state: number, chain: Int32Array): number {
    let k = 0;
    for (let h = state; h >= 0; h = this.rec[h * RECORD + SUFFIX]!) k++;
    let i = k;
    for (let h = state; h >= 0; h = this.rec[h * RECORD + SUFFIX]!) chain[--i] = h;
    return k;
  }

  private readonly chain = new Int32Array(256);
  private readonly found = new Int32Array(257);

  /**
   * p(w | state) for every word id w (`<s>` gets 0).
   *
   * @example
   * ```ts
   * import type { BackoffModel } from 'kotoba';
   * declare const model: BackoffModel;
   * const p = new Float64Array(model.vocab.size);
   * model.distribution(model.score(model.begin(), model.vocab.id('私')).next, p); // p(w | <s> 私)
   * const best = p.reduce((b, x, w) => (x > p[b] ? w : b), 0);
   * console.log(model.vocab.word(best), p[best]);
   * ```
   */
  distribution(state: number, out: Float64Array): void {
    const V = this.V;
    const { rec, recF } = this;
    const chain: number[] = [];
    for (let h = state; h >= 0; h = rec[h * RECORD + SUFFIX]!) chain.push(h);
    for (let w = 0; w < V; w++) out[w] = recF[w * RECORD + PROB]!;
    const { start, ids } = this.childIndex();
    // Shortest context first: back off everything, then overwrite the words seen after it.
    for (let i = chain.length - 1; i >= 0; i--) {
      const h = chain[i]!;
      const b = recF[h * RECORD + BACKOFF]!;
      if (b !== 0) for (let w = 0; w < V; w++) out[w] += b;
      for (let j = start[h]!; j < start[h + 1]!; j++) {
        const n = ids[j]!;
        out[rec[n * RECORD + WORD]!] = recF[n * RECORD + PROB]!;
      }
    }
    for (let w = 0; w < V; w++) out[w] = Math.pow(10, out[w]!);
    out[BOS] = 0;
  }

  /** Children of every n-gram, built on first use (only `distribution` needs them). */
  private childIndex(): { start: Int32Array; ids: Int32Array } {
    if (this.children) return this.children;
    const V = this.V;
    const total = V + this.capacity;
    const start = new Int32Array(total + 1);
    const real = (n: number) => this.rec[n * RECORD] !== EMPTY && !(this.orderOf[n]! & BLANK);
    for (let n = V; n < total; n++) if (real(n)) start[this.rec[n * RECORD + CONTEXT]! + 1]!++;
    for (let i = 0; i < total; i++) start[i + 1]! += start[i]!;
    const fill = start.slice(0, total);
    const ids = new Int32Array(start[total]!);
    for (let n = V; n < total; n++) if (real(n)) ids[fill[this.rec[n * RECORD + CONTEXT]!]!++] = n;
    this.children = { start, ids };
    return this.children;
  }

  /** Words of n-gram `id`. */
  words(id: number): number[] {
    const out: number[] = [];
    while (id >= this.V) {
      out.push(this.rec[id * RECORD + WORD]!);
      id = this.rec[id * RECORD + CONTEXT]!;
    }
    out.push(id);
    return out.reverse();
  }

  /**
   * The model as tables, n-grams in their original order (blanks left out).
   *
   * @example
   * ```ts
   * import { arpaText, pruneRelativeEntropy, type BackoffModel } from 'kotoba';
   * declare const model: BackoffModel;
   * const text = await arpaText(pruneRelativeEntropy(model, 1e-8).toTables()); // the pruned model as ARPA
   * ```
   */
  toTables(): NgramTables {
    const uni = emptyOrder(1, this.V);
    for (let w = 0; w < this.V; w++) {
      uni.words[w] = w;
      uni.log10Prob[w] = this.log10Prob(w);
      uni.log10Backoff[w] = this.log10Backoff(w);
    }
    const orders: NgramOrderTable[] = [uni];
    for (let k = 2; k <= this.order; k++) {
      const ids = this.ordered[k - 2]!;
      const t = emptyOrder(k, ids.length);
      for (let i = 0; i < ids.length; i++) {
        const n = ids[i]!;
        // Walk the context chain backwards to recover the words.
        let id = n;
        for (let j = k - 1; j >= 1; j--) {
          t.words[i * k + j] = this.rec[id * RECORD + WORD]!;
          id = this.rec[id * RECORD + CONTEXT]!;
        }
        t.words[i * k] = id;
        t.log10Prob[i] = this.log10Prob(n);
        t.log10Backoff[i] = this.log10Backoff(n);
      }
      orders.push(t);
    }
    return { vocab: this.vocab, orders, description: this.description, ...(this.text ? { text: this.text } : {}) };
  }

  /**
   * Builds the query structure from tables (estimated, or read from ARPA).
   *
   * @example
   * ```ts
   * // runs
   * import { arpaText, BackoffModel, corpusFromText, estimate, parseArpa } from 'kotoba';
   * const tables = estimate(corpusFromText(['a b c', 'a c b', 'b a c']), { order: 3, smoothing: 'wb' });
   * const model = BackoffModel.fromTables(tables);
   * const same = BackoffModel.fromTables(parseArpa(await arpaText(tables))); // or from ARPA text
   * model.counts; // n-grams per order
   * ```
   */
  static fromTables(tables: NgramTables): BackoffModel {
    return new BackoffModel(tables.vocab, buildArrays(tables), tables.description, tables.text);
  }
}

function buildArrays(tables: NgramTables): BackoffModelArrays {
  const V = tables.vocab.size;
  const N = tables.orders.length;
  let higher = 0;
  for (let k = 2; k <= N; k++) higher += tables.orders[k - 1]!.size;
  // 1.5 slots per n-gram (KenLM's probing default), with room for blanks.
  const capacity = Math.ceil(higher * 1.5) + 16;
  const total = V + capacity;
  const rec = new Int32Array(total * RECORD);
  const recF = new Float32Array(rec.buffer);
  const orderOf = new Uint8Array(total);
  const hasChildren = new Uint8Array(total);
  for (let n = V; n < total; n++) rec[n * RECORD + CONTEXT] = EMPTY;
  let used = 0;

  const uni = tables.orders[0]!;
  if (uni.size !== V) throw new KotobaError(`internal: ${uni.size} unigrams for a vocabulary of ${V}`);
  for (let i = 0; i < V; i++) {
    const w = uni.words[i]!;
    const r = w * RECORD;
    rec[r + CONTEXT] = ROOT;
    rec[r + WORD] = w;
    recF[r + PROB] = uni.log10Prob[i]!;
    recF[r + BACKOFF] = uni.log10Backoff[i]!;
    rec[r + SUFFIX] = -1;
    orderOf[w] = 1;
  }

  const find = (context: number, word: number): number => {
    for (let s = firstSlot(context, word, capacity); ; ) {
      const r = (V + s) * RECORD;
      const c = rec[r]!;
      if (c === EMPTY) return -1 - s; // where it would go
      if (c === context && rec[r + WORD] === word) return V + s;
      if (++s === capacity) s = 0;
    }
  };
  const insert = (context: number, word: number, order: number, knownSuffix = -1): number => {
    const found = find(context, word);
    if (found >= 0) return found;
    if (used + 1 >= capacity) throw new KotobaError('internal: n-gram table is full');
    const id = V + (-1 - found);
    const r = id * RECORD;
    rec[r + CONTEXT] = context;
    rec[r + WORD] = word;
    used++;
    orderOf[id] = order;
    hasChildren[context] = 1;
    // Suffix: the context's suffix extended by the word (a unigram context's suffix is the word).
    rec[r + SUFFIX] = knownSuffix >= 0 ? knownSuffix : order === 2 ? word : suffixExtension(rec[context * RECORD + SUFFIX]!, word, order - 1);
    return id;
  };
  // Returns the id of (suffix n-gram `h` + word), inserting a blank when the file lacked it.
  const suffixExtension = (h: number, word: number, order: number): number => {
    const found = find(h, word);
    if (found >= 0) return found;
    const id = insert(h, word, order);
    markBlank(id);
    return id;
  };
  // A blank n-gram stands in for one the tables lack (a pruned SRILM file can have "a b c"
  // without "a b"): its probability is what backing off would give, its backoff weight 0.
  const markBlank = (id: number): void => {
    const r = id * RECORD;
    const h = rec[r + CONTEXT]!;
    const w = rec[r + WORD]!;
    let acc = recF[h * RECORD + BACKOFF]!;
    let matched = 1;
    let p = recF[w * RECORD + PROB]!;
    for (let g = rec[h * RECORD + SUFFIX]!; g >= 0; g = rec[g * RECORD + SUFFIX]!) {
      const n = find(g, w);
      if (n >= 0) {
        p = recF[n * RECORD + PROB]!;
        matched = orderOf[n]! & 0x7f;
        break;
      }
      acc += recF[g * RECORD + BACKOFF]!;
    }
    recF[r + PROB] = acc + p;
    recF[r + BACKOFF] = 0;
    orderOf[id] = BLANK | matched;
    let k = 1;
    for (let g = id; g >= V; g = rec[g * RECORD + CONTEXT]!) k++;
    blanks[k]!.push(id);
  };
  const blanks: number[][] = Array.from({ length: N + 1 }, () => []);

  const ordered: Int32Array[] = [];
  for (let k = 2; k <= N; k++) {
    const t = tables.orders[k - 1]!;
    const ids = new Int32Array(t.size);
    if (t.contextRow && t.suffixRow) {
      // Links known (estimation): one probe per n-gram, no walking, no blanks needed.
      const below = k === 2 ? null : ordered[k - 3]!;
      for (let i = 0; i < t.size; i++) {
        const h = below ? below[t.contextRow[i]!]! : t.contextRow[i]!;
        const sfx = below ? below[t.suffixRow[i]!]! : t.suffixRow[i]!;
        const id = insert(h, t.words[i * k + k - 1]!, k, sfx);
        recF[id * RECORD + PROB] = t.log10Prob[i]!;
        recF[id * RECORD + BACKOFF] = t.log10Backoff[i]!;
        ids[i] = id;
      }
      ordered.push(ids);
      continue;
    }
    for (let i = 0; i < t.size; i++) {
      // Context id: walk the first k−1 words (inserting blanks for missing prefixes).
      let h = t.words[i * k]!;
      for (let j = 1; j < k - 1; j++) {
        const w = t.words[i * k + j]!;
        const found = find(h, w);
        if (found >= 0) h = found;
        else {
          h = insert(h, w, j + 1);
          markBlank(h);
        }
      }
      const w = t.words[i * k + k - 1]!;
      const existing = find(h, w);
      const id = existing >= 0 ? existing : insert(h, w, k);
      orderOf[id] = k; // a real n-gram (it may have been a blank so far)
      recF[id * RECORD + PROB] = t.log10Prob[i]!;
      recF[id * RECORD + BACKOFF] = t.log10Backoff[i]!;
      ids[i] = id;
    }
    ordered.push(ids);
  }

  // States: an n-gram is a state if it can be extended or carries a backoff weight. Suffixes
  // are shorter, so going up the orders fills states bottom-up.
  const setState = (n: number) => {
    const r = n * RECORD;
    rec[r + STATE] = hasChildren[n] === 1 || recF[r + BACKOFF] !== 0 ? n : n < V ? -1 : rec[rec[r + SUFFIX]! * RECORD + STATE]!;
  };
  for (let w = 0; w < V; w++) setState(w);
  for (let k = 2; k <= N; k++) {
    for (const n of blanks[k]!) setState(n);
    const ids = ordered[k - 2]!;
    for (let i = 0; i < ids.length; i++) setState(ids[i]!);
  }
  return { order: N, capacity, records: rec, lengths: orderOf, ordered };
}
