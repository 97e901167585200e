/**
 * The trie structure, after KenLM's `trie`: n-grams read right to left form a tree (a word, the
 * words that came before it, …), stored one order at a time as sorted bit-packed arrays.
 *
 *   unigrams   per word: log10 p and backoff (float32), and `next`, the index of its first
 *              child in the bigrams (children of word w: bigrams [next[w], next[w+1]))
 *   order k    one entry per n-gram, sorted by (parent, first word); each entry is bit-packed:
 *                word      the n-gram's first word           ⌈log2 V⌉ bits
 *                prob      log10 p: 31 bits (a float32 whose sign bit, always set, is left out),
 *                          or a q-bit bin code
 *                backoff   float32 (32 bits) or a b-bit code   (orders below the highest)
 *                next      first child in order k + 1         ⌈log2 (n_{k+1} + 1)⌉ bits
 *              plus one last entry whose `next` ends the children of the last n-gram
 *
 * The parent of an n-gram is its suffix (the n-gram without its first word), so the entries of an
 * order are sorted by suffix, lmplz's order, and a node's ancestors are the shorter n-grams the
 * state needs. Looking up w after a history walks down from w, one binary search per order.
 * Ids: a unigram is its word; the i-th n-gram of order k is V + n_2 + … + n_{k−1} + i.
 */
import { KotobaError } from '../errors.js';
import type { Scored } from '../lm.js';
import { BOS } from '../text/vocabulary.js';
import { encodeBackoff, encodeNearest, EXTENSION_CODE, makeBins, NO_EXTENSION_CODE } from './quantize.js';
import type { NgramSearch, Quantization } from './search.js';

const NO_EXTENSION = 0x80000000 | 0; // bits of −0.0
const F32 = new Float32Array(1);
const I32 = new Int32Array(F32.buffer);

/** Bits needed for the values 0..max. */
export function requiredBits(max: number): number {
  let bits = 0;
  while (max >= 2 ** bits) bits++;
  return bits;
}

/** `width` bits (≤ 32) at bit `pos` of `u32`, unsigned. */
function readBits(u32: Uint32Array, pos: number, width: number): number {
  const word = Math.floor(pos / 32);
  const shift = pos - word * 32;
  let v = u32[word]! >>> shift;
  if (shift + width > 32) v |= u32[word + 1]! << (32 - shift);
  return width === 32 ? v >>> 0 : v & ((1 << width) - 1);
}

function writeBits(u32: Uint32Array, pos: number, width: number, value: number): void {
  if (width === 0) return;
  const word = Math.floor(pos / 32);
  const shift = pos - word * 32;
  const mask = width === 32 ? 0xffffffff : (1 << width) - 1;
  value &= mask;
  u32[word] = (u32[word]! & ~(mask << shift)) | (value << shift);
  if (shift + width > 32) {
    const high = mask >>> (32 - shift);
    u32[word + 1] = (u32[word + 1]! & ~high) | (value >>> (32 - shift));
  }
}

/** Bit widths of one order's entries. */
export interface TrieOrderLayout {
  wordBits: number;
  probBits: number;
  backoffBits: number;
  nextBits: number;
}

/** The arrays a trie consists of: what the binary format stores. */
export interface TrieArrays {
  order: number;
  vocabSize: number;
  /** n-grams per order as stored (blanks included), unigrams first. */
  entries: number[];
  /** Real n-grams per order (blanks not counted). */
  counts: number[];
  /** 0: float32 values (31-bit probabilities, or 32 when some blank's is positive). */
  quantization?: Quantization;
  /** True when probabilities take 32 bits (some blank has a positive one). */
  fullProb: boolean;
  unigramProb: Float32Array;
  unigramBackoff: Float32Array;
  /** V + 1 indexes into the bigrams. */
  unigramNext: Uint32Array;
  /** bits[k]: order k's packed entries (k ≥ 2; entries 0 and 1 empty). */
  bits: Uint32Array[];
  /** Per order ≥ 2, when quantized: the probability bin centres, and the backoff's (below N). */
  probCentres: Float32Array[];
  backoffCentres: Float32Array[];
  /** Pairs (id of a blank, length of the n-gram it really matched), sorted. */
  blanks: Int32Array;
}

export function trieLayout(a: Pick<TrieArrays, 'order' | 'vocabSize' | 'entries' | 'quantization' | 'fullProb'>, k: number): TrieOrderLayout {
  const q = a.quantization;
  return {
    wordBits: requiredBits(a.vocabSize - 1),
    probBits: q ? q.probBits : a.fullProb ? 32 : 31,
    backoffBits: k === a.order ? 0 : q ? q.backoffBits : 32,
    nextBits: k === a.order ? 0 : requiredBits(a.entries[k]!),
  };
}

const entryBits = (l: TrieOrderLayout) => l.wordBits + l.probBits + l.backoffBits + l.nextBits;

/** 32-bit words for order k's entries (one more entry below the highest order, and a spare word). */
export function trieWords(a: Pick<TrieArrays, 'order' | 'vocabSize' | 'entries' | 'quantization' | 'fullProb'>, k: number): number {
  const n = a.entries[k - 1]! + (k < a.order ? 1 : 0);
  return Math.ceil((n * entryBits(trieLayout(a, k))) / 32) + 1;
}

/**
 * A trie with the n-grams of `source`, given per order ≥ 2 in trie order (`sorted`: by suffix,
 * then first word; see `canonicalOrder`), optionally quantized.
 */
export function buildTrie(source: NgramSearch, sorted: Int32Array[], quantization?: Quantization): TrieSearch {
  const N = source.order;
  const V = source.vocabSize;
  if (quantization) {
    for (const b of [quantization.probBits, quantization.backoffBits]) {
      if (!(Number.isInteger(b) && b >= 2 && b <= 25)) throw new KotobaError(`cannot quantize to ${b} bits`, 'give a whole number of bits from 2 to 25 (8 is usual)');
    }
  }
  const entries = [V, ...sorted.map((ids) => ids.length)];
  // A blank with a positive probability (possible where a backoff weight is positive) needs
  // the sign bit that 31-bit probabilities leave out.
  let fullProb = false;
  for (const ids of sorted) for (const n of ids) if (source.log10Prob(n) > 0) fullProb = true;
  const shape = { order: N, vocabSize: V, entries, fullProb, ...(quantization ? { quantization } : {}) };

  const unigramProb = new Float32Array(V);
  const unigramBackoff = new Float32Array(V);
  for (let w = 0; w < V; w++) {
    unigramProb[w] = source.log10Prob(w);
    const b = source.log10Backoff(w);
    unigramBackoff[w] = b === 0 && !source.extendsAt(w) ? -0 : b;
  }
  // rank[position]: index in trie order of each n-gram of the order being written (unigrams: word).
  let rank = new Int32Array(V);
  for (let w = 0; w < V; w++) rank[w] = w;
  const unigramNext = N >= 2 ? firstChildren(source, sorted[0]!, rank, V) : new Uint32Array(V + 1);
  const bits: Uint32Array[] = [new Uint32Array(0), new Uint32Array(0)];
  const probCentres: Float32Array[] = [];
  const backoffCentres: Float32Array[] = [];
  for (let k = 2; k <= N; k++) {
    const ids = sorted[k - 2]!;
    const layout = trieLayout(shape, k);
    const total = entryBits(layout);
    const out = new Uint32Array(trieWords(shape, k));
    let pc: Float32Array = new Float32Array(0);
    let bc: Float32Array = new Float32Array(0);
    if (quantization) {
      const probs = new Float32Array(ids.length);
      for (let i = 0; i < ids.length; i++) probs[i] = source.log10Prob(ids[i]!);
      pc = makeBins(probs, quantization.probBits);
      if (k < N) {
        const nonzero: number[] = [];
        for (let i = 0; i < ids.length; i++) {
          const b = source.log10Backoff(ids[i]!);
          if (b !== 0) nonzero.push(b);
        }
        bc = makeBins(Float32Array.from(nonzero), quantization.backoffBits, [-0, 0]);
      }
    }
    probCentres[k] = pc;
    backoffCentres[k] = bc;
    rank = new Int32Array(source.positions(k));
    for (let i = 0; i < ids.length; i++) rank[source.positionOf(ids[i]!)] = i;
    const next = k < N ? firstChildren(source, sorted[k - 1]!, rank, ids.length) : null;
    for (let i = 0; i < ids.length; i++) {
      const n = ids[i]!;
      let pos = i * total;
      writeBits(out, pos, layout.wordBits, source.firstWord(n));
      pos += layout.wordBits;
      const p = source.log10Prob(n);
      writeBits(out, pos, layout.probBits, quantization ? encodeNearest(pc, p) : floatBits(p) & (layout.probBits === 32 ? -1 : 0x7fffffff));
      pos += layout.probBits;
      if (k < N) {
        const b = source.log10Backoff(n);
        const ext = source.extendsAt(n);
        writeBits(out, pos, layout.backoffBits, quantization ? encodeBackoff(bc, b, ext) : b === 0 && !ext ? NO_EXTENSION : floatBits(b));
        pos += layout.backoffBits;
        writeBits(out, pos, layout.nextBits, next![i]!);
      }
    }
    // The extra entry: where the last n-gram's children end.
    if (k < N) writeBits(out, (ids.length + 1) * total - layout.nextBits, layout.nextBits, next![ids.length]!);
    bits[k] = out;
  }
  const blanks: number[] = [];
  for (let k = 2, base = V; k <= N; base += sorted[k - 2]!.length, k++) {
    const ids = sorted[k - 2]!;
    for (let i = 0; i < ids.length; i++) if (source.isBlank(ids[i]!)) blanks.push(base + i, source.matchedLength(ids[i]!));
  }
  return new TrieSearch({
    ...shape,
    counts: source.counts.slice(),
    unigramProb,
    unigramBackoff,
    unigramNext,
    bits,
    probCentres,
    backoffCentres,
    blanks: Int32Array.from(blanks),
  });
}

function floatBits(x: number): number {
  F32[0] = x;
  return I32[0]!;
}

/**
 * next[i]: index in `children` (the next order, in trie order) of the first child of the i-th
 * n-gram of the order below, whose trie index is `rank[position]`.
 */
function firstChildren(source: NgramSearch, children: Int32Array, rank: Int32Array, parents: number): Uint32Array {
  const next = new Uint32Array(parents + 1);
  for (let i = 0; i < children.length; i++) next[rank[source.positionOf(source.suffixOf(children[i]!))]! + 1]!++;
  for (let p = 0; p < parents; p++) next[p + 1]! += next[p]!;
  return next;
}

/** The query side: scores, states and lookups over trie arrays. */
export class TrieSearch implements NgramSearch {
  readonly format = 'trie' as const;
  readonly order: number;
  readonly vocabSize: number;
  readonly counts: number[];
  readonly quantization?: Quantization;
  readonly byteLength: number;
  readonly arrays: TrieArrays;
  private readonly layouts: TrieOrderLayout[];
  private readonly totals: Int32Array;
  /** Id of the first n-gram of each order (base[1] = 0, base[2] = V, …, base[N + 1] = end). */
  private readonly base: number[];
  private readonly blanks: Map<number, number>;
  // Scratch state: history words (most recent first), ids of its n-grams, their backoffs and
  // whether they extend; matches of the current word.
  private readonly hist = new Int32Array(256);
  private readonly ctx = new Int32Array(256);
  private readonly ctxBackoff = new Float64Array(256);
  private readonly found = new Int32Array(256);
  private readonly foundBackoff = new Float64Array(256);
  private readonly foundExtends = new Uint8Array(256);
  private length = 0;
  private matched = 0;
  /** The state the scratch holds, so that `score` called in sequence skips reloading it. */
  private loaded = -2;

  constructor(arrays: TrieArrays) {
    this.arrays = arrays;
    this.order = arrays.order;
    this.vocabSize = arrays.vocabSize;
    this.counts = arrays.counts;
    if (arrays.quantization) this.quantization = arrays.quantization;
    this.layouts = [];
    this.totals = new Int32Array(this.order + 1);
    for (let k = 2; k <= this.order; k++) {
      this.layouts[k] = trieLayout(arrays, k);
      this.totals[k] = entryBits(this.layouts[k]!);
    }
    this.base = [0, 0, arrays.vocabSize];
    for (let k = 2; k <= this.order; k++) this.base.push(this.base[k]! + arrays.entries[k - 1]!);
    this.blanks = new Map();
    for (let i = 0; i < arrays.blanks.length; i += 2) this.blanks.set(arrays.blanks[i]!, arrays.blanks[i + 1]!);
    let bytes = arrays.unigramProb.byteLength + arrays.unigramBackoff.byteLength + arrays.unigramNext.byteLength + arrays.blanks.byteLength;
    for (const b of arrays.bits) bytes += b.byteLength;
    for (const c of [...arrays.probCentres, ...arrays.backoffCentres]) if (c) bytes += c.byteLength;
    this.byteLength = bytes;
  }

  private orderOf(id: number): number {
    let k = 1;
    while (id >= this.base[k + 1]!) k++;
    return k;
  }

  /** Raw accessors of entry i of order k (for validation). */
  entryWord(k: number, i: number): number {
    return readBits(this.arrays.bits[k]!, i * this.totals[k]!, this.layouts[k]!.wordBits);
  }

  entryProb(k: number, i: number): number {
    const l = this.layouts[k]!;
    const code = readBits(this.arrays.bits[k]!, i * this.totals[k]! + l.wordBits, l.probBits);
    if (this.quantization) return this.arrays.probCentres[k]![code]!;
    if (l.probBits === 31 && code === 0) return 0;
    I32[0] = l.probBits === 32 ? code : code | 0x80000000;
    return F32[0]!;
  }

  /** Backoff of entry i of order k < N; `lastExtends` says whether it extends. */
  entryBackoff(k: number, i: number): number {
    const l = this.layouts[k]!;
    const code = readBits(this.arrays.bits[k]!, i * this.totals[k]! + l.wordBits + l.probBits, l.backoffBits);
    if (this.quantization) {
      this.lastExtends = code !== NO_EXTENSION_CODE;
      return code === NO_EXTENSION_CODE || code === EXTENSION_CODE ? 0 : this.arrays.backoffCentres[k]![code]!;
    }
    this.lastExtends = (code | 0) !== NO_EXTENSION;
    I32[0] = code;
    return F32[0]! + 0;
  }
  lastExtends = false;

  entryNext(k: number, i: number): number {
    const l = this.layouts[k]!;
    return readBits(this.arrays.bits[k]!, i * this.totals[k]! + this.totals[k]! - l.nextBits, l.nextBits);
  }

  /** Index of the entry with first word w among entries [lo, hi) of order k, or -1. */
  private search(k: number, lo: number, hi: number, w: number): number {
    const u32 = this.arrays.bits[k]!;
    const total = this.totals[k]!;
    const wordBits = this.layouts[k]!.wordBits;
    hi--;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const v = readBits(u32, mid * total, wordBits);
      if (v === w) return mid;
      if (v < w) lo = mid + 1;
      else hi = mid - 1;
    }
    return -1;
  }

  /** The children of the n-gram at (order k, index i): [lo, hi) in order k + 1. */
  private childRange(k: number, i: number): [number, number] {
    if (k === 1) return [this.arrays.unigramNext[i]!, this.arrays.unigramNext[i + 1]!];
    return [this.entryNext(k, i), this.entryNext(k, i + 1)];
  }

  /** (order, index) of the parent (the suffix) of entry i of order k ≥ 2. */
  private parentIndex(k: number, i: number): number {
    // The last entry of order k − 1 whose first child is at or before i.
    let lo = 0;
    let hi = this.arrays.entries[k - 2]! - 1;
    const firstChild = (p: number) => (k === 2 ? this.arrays.unigramNext[p]! : this.entryNext(k - 1, p));
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (firstChild(mid) <= i) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  begin(): number {
    const b = this.arrays.unigramBackoff[BOS]!;
    // In a unigram model no word is context, <s> included (its backoff is never used, as in KenLM).
    return this.arrays.order === 1 || floatBits(b) === NO_EXTENSION ? -1 : BOS;
  }

  private checkId(id: number, what: string): void {
    if (!(Number.isInteger(id) && id >= 0 && id < this.base[this.order + 1]!)) {
      throw new KotobaError(`${what} ${id} is not an n-gram of this model`, 'pass a state returned by begin() or score()');
    }
  }

  /** Sets the scratch state to `state`: its words, the ids of its suffixes and their backoffs. */
  private load(state: number): void {
    if (state === this.loaded) return;
    this.loaded = state;
    if (state < 0) {
      this.length = 0;
      return;
    }
    this.checkId(state, 'state');
    let k = this.orderOf(state);
    let i = state - this.base[k]!;
    const len = Math.min(k, this.order - 1);
    // Walk up from the state to its last word: ctx[k-1] … ctx[0].
    for (let j = k - 1; j >= 0; j--, k--) {
      if (j < len) {
        this.ctx[j] = this.base[k]! + i;
        this.hist[j] = k === 1 ? i : this.entryWord(k, i);
        this.ctxBackoff[j] = k === 1 ? this.arrays.unigramBackoff[i]! + 0 : this.entryBackoff(k, i);
      }
      if (k > 1) i = this.parentIndex(k, i);
    }
    this.length = len;
  }

  private step(w: number): number {
    const N = this.order;
    const len = this.length;
    const { hist, ctx, ctxBackoff, found, foundBackoff, foundExtends } = this;
    if (!(w >= 0 && w < this.vocabSize)) throw new KotobaError(`word id ${w} is outside the vocabulary of ${this.vocabSize} words`);
    const a = this.arrays;
    found[0] = w;
    foundBackoff[0] = a.unigramBackoff[w]! + 0;
    foundExtends[0] = floatBits(a.unigramBackoff[w]!) !== NO_EXTENSION ? 1 : 0;
    let lp = a.unigramProb[w]!;
    let m = 1;
    let lo = a.unigramNext[w]!;
    let hi = a.unigramNext[w + 1]!;
    for (let k = 2; k <= len + 1; k++) {
      const i = this.search(k, lo, hi, hist[k - 2]!);
      if (i < 0) break;
      lp = this.entryProb(k, i);
      m = k;
      found[k - 1] = this.base[k]! + i;
      if (k < N) {
        foundBackoff[k - 1] = this.entryBackoff(k, i);
        foundExtends[k - 1] = this.lastExtends ? 1 : 0;
        lo = this.entryNext(k, i);
        hi = this.entryNext(k, i + 1);
      }
    }
    for (let j = m; j <= len; j++) lp = Math.fround(lp + ctxBackoff[j - 1]!);
    this.matched = this.blanks.size > 0 && m > 1 ? (this.blanks.get(found[m - 1]!) ?? m) : m;
    let next = m < N ? m : N - 1;
    while (next > 0 && !foundExtends[next - 1]) next--;
    for (let j = next - 1; j >= 1; j--) hist[j] = hist[j - 1]!;
    hist[0] = w;
    for (let j = 0; j < next; j++) {
      ctx[j] = found[j]!;
      ctxBackoff[j] = foundBackoff[j]!;
    }
    this.length = next;
    return lp;
  }

  score(state: number, word: number): Scored<number> {
    this.load(state);
    const log10 = this.step(word);
    const next = this.length === 0 ? -1 : this.ctx[this.length - 1]!;
    this.loaded = next;
    return { log10, next, ngram: this.matched };
  }

  scoreSentence(words: Uint32Array, log10Out: Float64Array, ngramOut?: Uint8Array): number {
    this.load(this.begin());
    let total = 0;
    for (let i = 0; i < words.length; i++) {
      const lp = this.step(words[i]!);
      log10Out[i] = lp;
      if (ngramOut) ngramOut[i] = this.matched;
      total = Math.fround(total + lp);
    }
    this.loaded = -2;
    return total;
  }

  lookup(words: ArrayLike<number>): number {
    const n = words.length;
    if (n === 0 || n > this.order) return -1;
    const last = words[n - 1]!;
    if (!(last >= 0 && last < this.vocabSize)) return -1;
    let i = last;
    for (let k = 2; k <= n; k++) {
      const [lo, hi] = this.childRange(k - 1, i);
      i = this.search(k, lo, hi, words[n - k]!);
      if (i < 0) return -1;
    }
    return this.base[n]! + i;
  }

  log10Prob(id: number): number {
    const k = this.orderOf(id);
    return k === 1 ? this.arrays.unigramProb[id]! : this.entryProb(k, id - this.base[k]!);
  }

  log10Backoff(id: number): number {
    const k = this.orderOf(id);
    if (k === 1) return this.arrays.unigramBackoff[id]! + 0;
    return k === this.order ? 0 : this.entryBackoff(k, id - this.base[k]!);
  }

  wordsOf(id: number): number[] {
    let k = this.orderOf(id);
    let i = id - this.base[k]!;
    const out: number[] = [];
    for (; k > 1; k--) {
      out.push(this.entryWord(k, i));
      i = this.parentIndex(k, i);
    }
    out.push(i);
    return out;
  }

  suffixOf(id: number): number {
    const k = this.orderOf(id);
    return k === 1 ? -1 : this.base[k - 1]! + this.parentIndex(k, id - this.base[k]!);
  }

  firstWord(id: number): number {
    const k = this.orderOf(id);
    return k === 1 ? id : this.entryWord(k, id - this.base[k]!);
  }

  positionOf(id: number): number {
    return id - this.base[this.orderOf(id)]!;
  }

  positions(k: number): number {
    return this.arrays.entries[k - 1]!;
  }

  isBlank(id: number): boolean {
    return this.blanks.has(id);
  }

  matchedLength(id: number): number {
    return this.blanks.get(id) ?? this.orderOf(id);
  }

  extendsAt(id: number): boolean {
    const k = this.orderOf(id);
    if (k === 1) return floatBits(this.arrays.unigramBackoff[id]!) !== NO_EXTENSION;
    if (k === this.order) return false;
    this.entryBackoff(k, id - this.base[k]!);
    return this.lastExtends;
  }

  idsOfOrder(k: number): Int32Array {
    const out = new Int32Array(this.arrays.entries[k - 1]!);
    for (let i = 0; i < out.length; i++) out[i] = this.base[k]! + i;
    return out;
  }
}

/**
 * Checks trie arrays read from a file, in one pass: child ranges that start at 0, never go back
 * and end where the next order ends; words in the vocabulary and strictly increasing within each
 * range (so that binary searches are sound); values a model can hold. Throws `fail(reason)`.
 */
export function validateTrie(a: TrieArrays, fail: (reason: string) => Error): void {
  const { order: N, vocabSize: V, entries } = a;
  if (!(Number.isInteger(N) && N >= 1 && N <= 255)) throw fail(`order ${N}`);
  if (!(V >= 3 && entries[0] === V && entries.length === N)) throw fail('the counts');
  for (const e of entries) if (!(Number.isInteger(e) && e >= 0)) throw fail('the counts');
  const q = a.quantization;
  if (q) for (const b of [q.probBits, q.backoffBits]) if (!(Number.isInteger(b) && b >= 2 && b <= 25)) throw fail('the quantization');
  const finite = (x: number) => x === -Infinity || Math.abs(x) <= 1e30;
  if (a.unigramProb.length !== V || a.unigramBackoff.length !== V || a.unigramNext.length !== V + 1) throw fail('the unigrams');
  for (let w = 0; w < V; w++) if (!(finite(a.unigramProb[w]!) && a.unigramProb[w]! <= 0 && finite(a.unigramBackoff[w]!))) throw fail(`unigram ${w}`);
  const checkRanges = (next: (i: number) => number, parents: number, children: number, what: string) => {
    if (next(0) !== 0 || next(parents) !== children) throw fail(what);
    for (let i = 0; i < parents; i++) if (next(i + 1) < next(i)) throw fail(what);
  };
  if (N >= 2) checkRanges((i) => a.unigramNext[i]!, V, entries[1]!, 'the unigrams’ children');
  const s = new TrieSearch(a);
  for (let k = 2; k <= N; k++) {
    if (a.bits[k]?.length !== trieWords(a, k)) throw fail(`the size of order ${k}`);
    if (q) {
      if (a.probCentres[k]?.length !== 2 ** q.probBits) throw fail(`the bins of order ${k}`);
      for (const c of a.probCentres[k]!) if (!(finite(c) && c <= 0) && !a.fullProb) throw fail(`the bins of order ${k}`);
      if (k < N) {
        if (a.backoffCentres[k]?.length !== 2 ** q.backoffBits) throw fail(`the bins of order ${k}`);
        for (const c of a.backoffCentres[k]!) if (!finite(c)) throw fail(`the bins of order ${k}`);
      }
    }
    const n = entries[k - 1]!;
    if (k < N) checkRanges((i) => s.entryNext(k, i), n, entries[k]!, `the children of order ${k}`);
    // Words increase within each parent's range.
    const parentNext = (p: number) => (k === 2 ? a.unigramNext[p]! : s.entryNext(k - 1, p));
    const parents = entries[k - 2]!;
    for (let p = 0; p < parents; p++) {
      let last = -1;
      for (let i = parentNext(p); i < parentNext(p + 1); i++) {
        const w = s.entryWord(k, i);
        if (!(w < V && w > last)) throw fail(`the words of order ${k}`);
        last = w;
      }
    }
    for (let i = 0; i < n; i++) {
      const p = s.entryProb(k, i);
      if (!(finite(p) && (a.fullProb || p <= 0))) throw fail(`a probability of order ${k}`);
      if (k < N && !finite(s.entryBackoff(k, i))) throw fail(`a backoff of order ${k}`);
    }
  }
  const end = V + entries.slice(1).reduce((x, y) => x + y, 0);
  let real = 0;
  for (let i = 0; i < a.blanks.length; i += 2) {
    const id = a.blanks[i]!;
    if (!(id >= V && id < end && a.blanks[i + 1]! >= 1 && a.blanks[i + 1]! < 255 && (i === 0 || id > a.blanks[i - 2]!))) throw fail('the blanks');
    real++;
  }
  const total = entries.slice(1).reduce((x, y) => x + y, 0);
  const counted = a.counts.slice(1).reduce((x, y) => x + y, 0);
  if (a.counts.length !== N || counted + real !== total) throw fail('the counts');
}
