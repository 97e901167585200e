/**
 * The query side of a backoff n-gram model: KenLM's state API over one open-addressing hash
 * table in typed arrays.
 *
 * Every n-gram has an integer id: unigrams are their word id; longer n-grams are V + a slot of
 * the hash table, keyed exactly (no hash-only matching) by (id of its context, last word). Each
 * n-gram also stores its suffix (the n-gram without its first word) and its *state*: the longest
 * suffix of it, itself included, that can still be extended or carries a backoff weight. A model
 * state is therefore one integer, and scoring a word allocates nothing:
 *
 *   from the state's n-gram h: look up (h, w); if absent, add backoff(h) and move to suffix(h).
 */
import { KotobaError } from '../errors.js';
import type { LanguageModel, Scored } from '../lm.js';
import { BOS, type Vocabulary } from '../text/vocabulary.js';
import { emptyOrder, type NgramOrderTable, type NgramTables } from './tables.js';

const EMPTY = 0xffffffff;

/** The arrays that make up a model: what the binary format stores, section by section. */
export interface BackoffModelArrays {
  order: number;
  /** Hash slots, a power of two. */
  capacity: number;
  /** 2 × capacity: (context id, word) per slot; context 0xFFFFFFFF marks an empty slot. */
  keys: Uint32Array;
  /** V + capacity, per n-gram id: log10 probability. */
  prob: Float32Array;
  /** V + capacity: log10 backoff weight. */
  backoff: Float32Array;
  /** V + capacity: id of the n-gram without its first word (-1 for unigrams). */
  suffix: Int32Array;
  /** V + capacity: id of the state after this n-gram (-1: empty context). */
  state: Int32Array;
  /** V + capacity: order of the n-gram; 0 for an empty slot. A blank (inserted) n-gram has 0x80 set. */
  length: Uint8Array;
  /** Per order ≥ 2: n-gram ids in the order of the original tables (for writing them back). */
  ordered: Int32Array[];
}

function hashSlot(context: number, word: number, mask: number): number {
  let h = Math.imul(context ^ 0x5bd1e995, 0x9e3779b1) ^ Math.imul(word + 0x7f4a7c15, 0x85ebca6b);
  h ^= h >>> 15;
  h = Math.imul(h, 0x2c1b3c6d);
  h ^= h >>> 12;
  return h & mask;
}

const BLANK = 0x80;

/**
 * A backoff n-gram model (ARPA semantics) answering queries: log10 p(w | state) with the length
 * of the matched n-gram, next states, and full next-word distributions.
 *
 * @example
 * const model = BackoffModel.fromTables(estimate(corpus, { order: 3 }));
 * let state = model.begin();
 * const { log10, next, ngram } = model.score(state, model.vocab.id('私'));
 */
export class BackoffModel implements LanguageModel<number> {
  readonly vocab: Vocabulary;
  readonly description: string;
  readonly order: number;
  private readonly V: number;
  private readonly mask: number;
  private readonly keys: Uint32Array;
  private readonly prob: Float32Array;
  private readonly backoff: Float32Array;
  private readonly suffix: Int32Array;
  private readonly stateOf: Int32Array;
  private readonly length: Uint8Array;
  readonly ordered: Int32Array[];
  private children: { start: Int32Array; ids: Int32Array } | null = null;

  constructor(vocab: Vocabulary, arrays: BackoffModelArrays, description: string) {
    this.vocab = vocab;
    this.description = description;
    this.order = arrays.order;
    this.V = vocab.size;
    this.mask = arrays.capacity - 1;
    this.keys = arrays.keys;
    this.prob = arrays.prob;
    this.backoff = arrays.backoff;
    this.suffix = arrays.suffix;
    this.stateOf = arrays.state;
    this.length = arrays.length;
    this.ordered = arrays.ordered;
  }

  /** The arrays behind the model (shared, not copied). */
  get arrays(): BackoffModelArrays {
    return {
      order: this.order,
      capacity: this.mask + 1,
      keys: this.keys,
      prob: this.prob,
      backoff: this.backoff,
      suffix: this.suffix,
      state: this.stateOf,
      length: this.length,
      ordered: this.ordered,
    };
  }

  /** Number of n-grams per order (blanks not counted). */
  get counts(): number[] {
    return [this.V, ...this.ordered.map((o) => o.length)];
  }

  /** Id of the n-gram (context id, word), or -1. */
  find(context: number, word: number): number {
    const keys = this.keys;
    const mask = this.mask;
    for (let s = hashSlot(context, word, mask); ; s = (s + 1) & mask) {
      const c = keys[2 * s]!;
      if (c === EMPTY) return -1;
      if (c === context && keys[2 * s + 1] === word) return this.V + s;
    }
  }

  /** Id of the n-gram with these words, or -1. */
  lookup(words: ArrayLike<number>): number {
    if (words.length === 0) return -1;
    let id = words[0]!;
    if (id >= this.V) return -1;
    for (let i = 1; i < words.length && id >= 0; i++) id = this.find(id, words[i]!);
    return id;
  }

  begin(): number {
    return this.stateOf[BOS]!;
  }

  score(state: number, word: number): Scored<number> {
    const passed = this.passed;
    let j = 0;
    let n = -1;
    for (let h = state; h >= 0; h = this.suffix[h]!) {
      n = this.find(h, word);
      if (n >= 0) break;
      passed[j++] = h;
    }
    if (n < 0) n = word;
    return { log10: this.total(n, j), next: this.stateOf[n]!, ngram: n < this.V ? 1 : this.length[n]! & 0x7f };
  }

  /**
   * log10 p of n-gram `n` plus the backoffs of the `j` contexts passed on the way down, added
   * in float32 from the shortest context up: KenLM's order of additions, so scores agree to
   * the last bit.
   */
  private total(n: number, j: number): number {
    let lp = this.prob[n]!;
    while (j > 0) lp = Math.fround(lp + this.backoff[this.passed[--j]!]!);
    return lp;
  }

  /** Contexts passed while backing off (scratch for `score`; a model has at most 255 orders). */
  private readonly passed = new Int32Array(256);

  scoreSentence(words: Uint32Array, log10Out: Float64Array, ngramOut?: Uint8Array): number {
    const { suffix, stateOf, length, keys, mask, V, passed } = this;
    let state = stateOf[BOS]!;
    let total = 0;
    for (let i = 0; i < words.length; i++) {
      const w = words[i]!;
      let j = 0;
      let n = -1;
      for (let h = state; h >= 0; h = suffix[h]!) {
        // find(h, w), inlined for the hot loop
        for (let s = hashSlot(h, w, mask); ; s = (s + 1) & mask) {
          const c = keys[2 * s]!;
          if (c === EMPTY) break;
          if (c === h && keys[2 * s + 1] === w) {
            n = V + s;
            break;
          }
        }
        if (n >= 0) break;
        passed[j++] = h;
      }
      if (n < 0) n = w;
      const lp = this.total(n, j);
      log10Out[i] = lp;
      if (ngramOut) ngramOut[i] = n < V ? 1 : length[n]! & 0x7f;
      total = Math.fround(total + lp);
      state = stateOf[n]!;
    }
    return total;
  }

  /** p(w | state) for every word id w (`<s>` gets 0). */
  distribution(state: number, out: Float64Array): void {
    const V = this.V;
    const chain: number[] = [];
    for (let h = state; h >= 0; h = this.suffix[h]!) chain.push(h);
    for (let w = 0; w < V; w++) out[w] = this.prob[w]!;
    const { start, ids } = this.childIndex();
    // Shortest context first: back off everything, then overwrite the words seen after it.
    for (let i = chain.length - 1; i >= 0; i--) {
      const h = chain[i]!;
      const b = this.backoff[h]!;
      if (b !== 0) for (let w = 0; w < V; w++) out[w] += b;
      for (let j = start[h]!; j < start[h + 1]!; j++) {
        const n = ids[j]!;
        out[this.keys[2 * (n - V) + 1]!] = this.prob[n]!;
      }
    }
    for (let w = 0; w < V; w++) out[w] = Math.pow(10, out[w]!);
    out[BOS] = 0;
  }

  /** Children of every n-gram, built on first use (only `distribution` needs them). */
  private childIndex(): { start: Int32Array; ids: Int32Array } {
    if (this.children) return this.children;
    const V = this.V;
    const cap = this.mask + 1;
    const start = new Int32Array(V + cap + 1);
    for (let s = 0; s < cap; s++) {
      const c = this.keys[2 * s]!;
      if (c !== EMPTY && !(this.length[V + s]! & BLANK)) start[c + 1]!++;
    }
    for (let i = 0; i < V + cap; i++) start[i + 1]! += start[i]!;
    const fill = start.slice(0, V + cap);
    const ids = new Int32Array(start[V + cap]!);
    for (let s = 0; s < cap; s++) {
      const c = this.keys[2 * s]!;
      if (c !== EMPTY && !(this.length[V + s]! & BLANK)) ids[fill[c]!++] = V + s;
    }
    this.children = { start, ids };
    return this.children;
  }

  /** Id of the context (all but the last word) of n-gram `id`; -1 for a unigram. */
  contextOf(id: number): number {
    return id < this.V ? -1 : this.keys[2 * (id - this.V)]!;
  }

  /** Last word of n-gram `id`. */
  lastWord(id: number): number {
    return id < this.V ? id : this.keys[2 * (id - this.V) + 1]!;
  }

  /** log10 probability stored for n-gram `id`. */
  log10Prob(id: number): number {
    return this.prob[id]!;
  }

  /** log10 backoff weight stored for n-gram `id`. */
  log10Backoff(id: number): number {
    return this.backoff[id]!;
  }

  /** Id of the n-gram without its first word; -1 for a unigram. */
  suffixOf(id: number): number {
    return this.suffix[id]!;
  }

  /** Words of n-gram `id`. */
  words(id: number): number[] {
    const out: number[] = [];
    while (id >= this.V) {
      const s = id - this.V;
      out.push(this.keys[2 * s + 1]!);
      id = this.keys[2 * s]!;
    }
    out.push(id);
    return out.reverse();
  }

  /** The model as tables, n-grams in their original order (blanks left out). */
  toTables(): NgramTables {
    const uni = emptyOrder(1, this.V);
    for (let w = 0; w < this.V; w++) {
      uni.words[w] = w;
      uni.log10Prob[w] = this.prob[w]!;
      uni.log10Backoff[w] = this.backoff[w]!;
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
          const s = id - this.V;
          t.words[i * k + j] = this.keys[2 * s + 1]!;
          id = this.keys[2 * s]!;
        }
        t.words[i * k] = id;
        t.log10Prob[i] = this.prob[n]!;
        t.log10Backoff[i] = this.backoff[n]!;
      }
      orders.push(t);
    }
    return { vocab: this.vocab, orders, description: this.description };
  }

  /** Builds the query structure from tables (estimated, or read from ARPA). */
  static fromTables(tables: NgramTables): BackoffModel {
    return new BackoffModel(tables.vocab, buildArrays(tables), tables.description);
  }
}

function buildArrays(tables: NgramTables): BackoffModelArrays {
  const V = tables.vocab.size;
  const N = tables.orders.length;
  let higher = 0;
  for (let k = 2; k <= N; k++) higher += tables.orders[k - 1]!.size;
  // Load factor at most 2/3 (KenLM's probing default is 1.5 slots per entry), with room for blanks.
  let capacity = 2;
  while (capacity < Math.ceil(higher * 1.5) + 2) capacity *= 2;
  const keys = new Uint32Array(2 * capacity).fill(EMPTY);
  const total = V + capacity;
  const prob = new Float32Array(total);
  const backoff = new Float32Array(total);
  const suffix = new Int32Array(total).fill(-1);
  const state = new Int32Array(total).fill(-1);
  const length = new Uint8Array(total);
  const hasChildren = new Uint8Array(total);
  const mask = capacity - 1;
  let used = 0;

  const uni = tables.orders[0]!;
  if (uni.size !== V) throw new KotobaError(`internal: ${uni.size} unigrams for a vocabulary of ${V}`);
  for (let i = 0; i < V; i++) {
    const w = uni.words[i]!;
    prob[w] = uni.log10Prob[i]!;
    backoff[w] = uni.log10Backoff[i]!;
    length[w] = 1;
  }

  const find = (context: number, word: number): number => {
    for (let s = hashSlot(context, word, mask); ; s = (s + 1) & mask) {
      const c = keys[2 * s]!;
      if (c === EMPTY) return -1 - s; // where it would go
      if (c === context && keys[2 * s + 1] === word) return V + s;
    }
  };
  const insert = (context: number, word: number, order: number): number => {
    const r = find(context, word);
    if (r >= 0) return r;
    if (used + 1 >= capacity) throw new KotobaError('internal: n-gram table is full');
    const s = -1 - r;
    keys[2 * s] = context;
    keys[2 * s + 1] = word;
    used++;
    const id = V + s;
    length[id] = order;
    hasChildren[context] = 1;
    // Suffix: the context's suffix extended by the word (a unigram context's suffix is the word).
    suffix[id] = order === 2 ? word : suffixExtension(suffix[context]!, word, order - 1);
    return id;
  };
  // Returns the id of (suffix n-gram `h` + word), inserting a blank when the file lacked it.
  const suffixExtension = (h: number, word: number, order: number): number => {
    const r = find(h, word);
    if (r >= 0) return r;
    const id = insert(h, word, order);
    markBlank(id);
    return id;
  };
  // A blank n-gram stands in for one the tables lack (a pruned SRILM file can have "a b c"
  // without "a b"): its probability is what backing off would give, its backoff weight 0.
  const markBlank = (id: number): void => {
    const s = id - V;
    const h = keys[2 * s]!;
    const w = keys[2 * s + 1]!;
    let acc = backoff[h]!;
    let matched = 1;
    let p = prob[w]!;
    for (let g = suffix[h]!; g >= 0; g = suffix[g]!) {
      const n = find(g, w);
      if (n >= 0) {
        p = prob[n]!;
        matched = length[n]! & 0x7f;
        break;
      }
      acc += backoff[g]!;
    }
    prob[id] = acc + p;
    backoff[id] = 0;
    length[id] = BLANK | matched;
  };

  const ordered: Int32Array[] = [];
  for (let k = 2; k <= N; k++) {
    const t = tables.orders[k - 1]!;
    const ids = new Int32Array(t.size);
    for (let i = 0; i < t.size; i++) {
      // Context id: walk the first k−1 words (inserting blanks for missing prefixes).
      let h = t.words[i * k]!;
      for (let j = 1; j < k - 1; j++) {
        const w = t.words[i * k + j]!;
        const r = find(h, w);
        if (r >= 0) h = r;
        else {
          h = insert(h, w, j + 1);
          markBlank(h);
        }
      }
      const w = t.words[i * k + k - 1]!;
      const existing = find(h, w);
      const id = existing >= 0 ? existing : insert(h, w, k);
      length[id] = k; // a real n-gram (it may have been a blank so far)
      prob[id] = t.log10Prob[i]!;
      backoff[id] = t.log10Backoff[i]!;
      ids[i] = id;
    }
    ordered.push(ids);
  }

  // States: an n-gram is a state if it can be extended or carries a backoff weight.
  const isState = (n: number) => hasChildren[n] === 1 || backoff[n] !== 0;
  for (let w = 0; w < V; w++) state[w] = isState(w) ? w : -1;
  // Suffixes are shorter, so visiting by increasing order fills states bottom-up.
  const byOrder: number[][] = Array.from({ length: N + 1 }, () => []);
  for (let s = 0; s < capacity; s++) if (keys[2 * s] !== EMPTY) byOrder[countOrder(V + s)]!.push(V + s);
  function countOrder(id: number): number {
    let k = 1;
    while (id >= V) {
      id = keys[2 * (id - V)]!;
      k++;
    }
    return k;
  }
  for (let k = 2; k <= N; k++) for (const n of byOrder[k]!) state[n] = isState(n) ? n : state[suffix[n]!]!;
  return { order: N, capacity, keys, prob, backoff, suffix, state, length, ordered };
}
