/**
 * The probing structure: KenLM's probing hash tables, one per order, with exact keys. All records
 * live in one Int32Array; a Float32Array view of the same memory reads their values.
 *
 *   unigrams     U ≥ V records of 4 fields; word w's record is at offset 4w
 *   order k < N  a hash table of cap[k] records of 4 fields
 *   order N      a hash table of cap[N] records of 3 fields (the highest order has no backoff)
 *
 *   field 0  key: ~(offset of the suffix), the suffix being the n-gram without its first word;
 *            complemented so that zero-filled memory reads as empty slots (unused in unigrams)
 *   field 1  the n-gram's first word in the low 24 bits; the high 8 bits are a one-byte Bloom
 *            filter of the last words of its extensions (so that most probes bound to miss are
 *            never made); with 2^24 words or more, the whole field is the word and there is no filter
 *   field 2  log10 p, float32
 *   field 3  log10 backoff, float32; −0.0 (KenLM's trick) marks an n-gram that no longer n-gram
 *            extends and whose backoff is zero, so that a state can leave it out
 *
 * An n-gram's slot is a hash of its words read right to left (the last word first), so the slots
 * of every order for the next word follow from the words alone, and their cache misses overlap;
 * the key (suffix, first word) makes each match exact. The tables hold 1.5 slots per n-gram, as
 * KenLM's do, so the structure is as large as KenLM's probing file: 16 bytes per slot below the
 * highest order, 12 at it.
 *
 * A blank is an n-gram the source lacked but whose extensions it lists (pruned SRILM files lack
 * prefixes of their n-grams): it is inserted with the probability that backing off gives, so that
 * its extensions can be found. Blanks are listed apart with the length of the n-gram that really
 * matched, which is what scoring reports for them.
 */
import { at, KotobaError } from '../errors.js';
import type { PerplexityRecord, Scored } from '../lm.js';
import { BOS, BOS_WORD, EOS_WORD, type Vocabulary } from '../text/vocabulary.js';
import { WordTable } from '../text/word-table.js';
import type { NgramSearch } from './search.js';
import { claimSlot, kernelInstance, modelBuffer, regionOf, SLOT_BYTES } from './wasm-memory.js';

const KEY = 0;
const WORD = 1;
const PROB = 2;
const BACKOFF = 3;
/** Bits of −0.0: "no extension, no backoff". */
const NO_EXTENSION = 0x80000000 | 0;
/** Slots per n-gram, KenLM's default probing multiplier. */
export const PROBING_MULTIPLIER = 1.5;
/** Every offset is an int32. */
const MAX_INTS = 0x7fffffff;
/** Word ids below this leave the top byte of the word field to the extension filter. */
const FILTER_WORDS = 1 << 24;
const LOW_24 = 0xffffff;

/** The filter bit of word w, given the hash of its unigram (bits 24–31 of the word field). */
const filterBit = (unigramHash: number): number => 1 << (24 + (unigramHash >>> 29));

// The hash of an n-gram, its words read right to left: start with the last word, then extend by
// each earlier one. MurmurHash3's finalizer mixes every step, so the high bits, which choose
// the slot, depend on every bit of every word.
function mix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return h ^ (h >>> 16);
}
/** Hash of the unigram `w`. */
export function startHash(w: number): number {
  return mix(w ^ 0x2545f491);
}
/** Hash of the n-gram `w` + (the n-gram hashed as `h`). */
export function extendHash(h: number, w: number): number {
  return mix(h ^ Math.imul(w + 1, 0x9e3779b1));
}
/**
 * The slot of hash `h` in a table of `capacity` slots: ⌊h · capacity / 2^32⌋, the high bits
 * scaled (no power-of-two rounding), computed exactly in two halves (as the kernel's 64-bit
 * product) so that every implementation places n-grams alike.
 */
function slotOf(h: number, capacity: number): number {
  const high = (h >>> 16) * capacity;
  const low = Math.floor(((h & 0xffff) * capacity) / 65536);
  return Math.floor((high + low) / 65536);
}

/**
 * Where the n-gram (suffix at `suffix`, first word `w`, hash `h`) is in the table of `cap`
 * slots of `fields` ints at `base`: its offset, or −1 − the offset of the empty slot where the
 * probe ended (where it would go). The scoring loops inline this.
 */
function probeTable(rec: Int32Array, base: number, cap: number, fields: number, h: number, suffix: number, w: number, mask: number): number {
  const key = ~suffix;
  for (let s = slotOf(h, cap); ; ) {
    const o = base + s * fields;
    const stored = rec[o + KEY]!;
    if (stored === key && (rec[o + WORD]! & mask) === w) return o;
    if (stored === 0) return -1 - o;
    if (++s === cap) s = 0;
  }
}

/** Where each order's records are in the one array. */
export interface ProbingLayout {
  order: number;
  /** Unigram records (≥ the vocabulary size). */
  unigramSlots: number;
  /** capacities[k]: slots of order k's table (k ≥ 2; entries 0 and 1 unused). */
  capacities: number[];
}

/** The arrays a probing model consists of: what the binary format stores. */
export interface ProbingArrays extends ProbingLayout {
  vocabSize: number;
  /** Real n-grams per order (unigrams first). */
  counts: number[];
  records: Int32Array;
  /** Pairs (offset of a blank, length of the n-gram it really matched). */
  blanks: Int32Array;
  /** Whether word fields carry the extension filter (vocabularies under 2^24 words). */
  filter: boolean;
}

const fieldsOf = (k: number, order: number) => (k === order ? 3 : 4);

/** Offsets of the orders' records: base[k] for k = 1..order, base[order + 1] = total. */
export function probingBases(layout: ProbingLayout): number[] {
  const { order, unigramSlots, capacities } = layout;
  const base = [0, 0];
  let at = 4 * unigramSlots;
  for (let k = 2; k <= order; k++) {
    base.push(at);
    at += capacities[k]! * fieldsOf(k, order);
  }
  base.push(at);
  return base;
}

/** Slots for `n` n-grams: 1.5 per n-gram, and always one empty slot. */
export function probingCapacity(n: number): number {
  return Math.ceil(n * PROBING_MULTIPLIER) + 1;
}

/** Thrown by the builder when blanks fill a table: build again with `extra` more slots there. */
export class TableFull extends Error {
  constructor(readonly extra: number[]) {
    super('a probing table is full');
  }
}

/** The ids of an n-gram's suffixes, kept from one n-gram to the next (sources come sorted). */
class SuffixCache {
  /** words[i]: the word i places from the right end. */
  readonly words = new Int32Array(256).fill(-1);
  /** ids[i]: offset of the n-gram of the last i + 1 words. */
  readonly ids = new Int32Array(256);
  /** hashes[i]: its hash. */
  readonly hashes = new Int32Array(256);
}

/**
 * Builds the probing structure from n-grams given order by order (lower orders first, as ARPA
 * files and estimation give them). Sources sorted by suffix (lmplz's order) cost one or two
 * probes per n-gram; missing prefixes and suffixes become blanks.
 */
export class ProbingBuilder {
  readonly records: Int32Array;
  private readonly values: Float32Array;
  private readonly base: number[];
  private readonly capacities: number[];
  private readonly used: number[];
  private readonly blanks = new Map<number, number>();
  private readonly suffixes = new SuffixCache();
  private readonly contexts = new SuffixCache();
  private readonly counts: number[];

  /**
   * @param counts n-grams per order as the source announces them (unigrams first)
   * @param extra  more slots per order, for blanks (after a `TableFull`)
   */
  constructor(
    readonly order: number,
    counts: readonly number[],
    private readonly extra: number[] = [],
    /** Allocate the records in a SharedArrayBuffer (for worker threads). */
    shared = false,
  ) {
    this.counts = counts.slice();
    // Room for the specials a file may lack.
    const unigramSlots = counts[0]! + 3;
    this.capacities = [0, 0];
    for (let k = 2; k <= order; k++) this.capacities.push(probingCapacity(counts[k - 1]! + (extra[k] ?? 0)));
    this.base = probingBases({ order, unigramSlots, capacities: this.capacities });
    const total = this.base[order + 1]!;
    if (!(total <= MAX_INTS)) {
      throw new KotobaError(`${counts.join(' ')} n-grams are too many for the probing structure`, 'convert the model to the trie format (kotoba convert --format trie)');
    }
    try {
      const bytes = modelBuffer(total * 4, shared);
      this.records = new Int32Array(bytes.buffer, bytes.byteOffset, total);
    } catch {
      throw new KotobaError(`cannot allocate ${(total * 4 / 1e9).toFixed(1)} GB for ${counts.join(' ')} n-grams`, 'check the n-gram counts of the model, or use a machine with more memory');
    }
    this.values = new Float32Array(this.records.buffer);
    this.used = new Array<number>(order + 2).fill(0);
    this.unigramSlots = unigramSlots;
    this.filter = unigramSlots <= FILTER_WORDS;
    this.wordMask = this.filter ? LOW_24 : -1;
  }

  private readonly unigramSlots: number;
  private readonly filter: boolean;
  private readonly wordMask: number;

  /** Sets word w's unigram values. */
  unigram(w: number, log10Prob: number, log10Backoff: number): void {
    if (w >= this.unigramSlots) throw new KotobaError(`more than ${this.counts[0]} unigrams`, 'the n-gram count in the \\data\\ header does not match the section');
    const o = w << 2;
    this.records[o + WORD] = w;
    this.values[o + PROB] = log10Prob + 0; // −0 as +0, the same in every structure
    this.setBackoff(o, log10Backoff);
  }

  /**
   * Sets the backoff of the n-gram at `o`. A zero backoff is stored as −0.0 ("no extension"):
   * extensions come later (with the next order), and flip it to +0.0.
   */
  private setBackoff(o: number, log10Backoff: number): void {
    if (log10Backoff === 0) this.records[o + BACKOFF] = NO_EXTENSION;
    else this.values[o + BACKOFF] = log10Backoff;
  }

  /** Adds the n-gram `words[0..k)` (k ≥ 2, orders in increasing order). */
  add(words: ArrayLike<number>, k: number, log10Prob: number, log10Backoff: number): void {
    const suffix = this.chain(this.suffixes, words, k, k - 1);
    const context = this.chain(this.contexts, words, k - 1, k - 1);
    this.extend(context, words[k - 1]!);
    const h = extendHash(this.suffixes.hashes[k - 2]!, words[0]!);
    const o = this.insert(k, h, suffix, words[0]!);
    this.values[o + PROB] = log10Prob + 0;
    if (k < this.order) this.setBackoff(o, log10Backoff);
  }

  /**
   * The offset of the n-gram of the `length` words ending at `words[end - 1]`, resolving its
   * suffixes through `cache` (the previous n-gram's, mostly shared) and inserting blanks for the
   * ones missing.
   */
  private chain(cache: SuffixCache, words: ArrayLike<number>, end: number, length: number): number {
    const { words: cw, ids, hashes } = cache;
    let i = 0;
    while (i < length && cw[i] === words[end - 1 - i]) i++;
    if (i === 0) {
      const w = words[end - 1]!;
      cw[0] = w;
      ids[0] = w << 2;
      hashes[0] = startHash(w);
      i = 1;
    }
    for (; i < length; i++) {
      const w = words[end - 1 - i]!;
      const h = extendHash(hashes[i - 1]!, w);
      let o = this.find(i + 1, h, ids[i - 1]!, w);
      if (o < 0) o = this.insertBlank(words, end - 1 - i, end, h, ids[i - 1]!);
      cw[i] = w;
      ids[i] = o;
      hashes[i] = h;
    }
    // Anything cached beyond this point belonged to another n-gram.
    cw[length] = -1;
    return ids[length - 1]!;
  }

  /** Offset of the n-gram (first word `w`, suffix at `suffix`) of order k with hash h, or -1. */
  private find(k: number, h: number, suffix: number, w: number): number {
    const o = probeTable(this.records, this.base[k]!, this.capacities[k]!, fieldsOf(k, this.order), h, suffix, w, this.wordMask);
    return o >= 0 ? o : -1;
  }

  private insert(k: number, h: number, suffix: number, w: number): number {
    const rec = this.records;
    const found = probeTable(rec, this.base[k]!, this.capacities[k]!, fieldsOf(k, this.order), h, suffix, w, this.wordMask);
    if (found >= 0) return found;
    // Keep one slot empty, so that every probe ends.
    if (++this.used[k]! >= this.capacities[k]! - 1) {
      const extra = this.extra.slice();
      extra[k] = Math.max(2 * (extra[k] ?? 0), this.counts[k - 1]!, 16);
      throw new TableFull(extra);
    }
    const o = -1 - found;
    rec[o + KEY] = ~suffix;
    rec[o + WORD] = w;
    if (k < this.order) rec[o + BACKOFF] = NO_EXTENSION;
    return o;
  }

  /** Marks the n-gram at `o` as the context of an n-gram ending in `w`: a state must keep it. */
  private extend(o: number, w: number): void {
    if (this.records[o + BACKOFF] === NO_EXTENSION) this.records[o + BACKOFF] = 0;
    if (this.filter) this.records[o + WORD]! |= filterBit(startHash(w));
  }

  /**
   * Inserts the blank `words[from..end)`, whose suffix (at `suffix`) exists: its probability is
   * its context's backoff plus its suffix's probability, what backing off gives.
   */
  private insertBlank(words: ArrayLike<number>, from: number, end: number, h: number, suffix: number): number {
    const k = end - from;
    const context = this.resolve(words, from, end - 1);
    this.extend(context, words[end - 1]!);
    const o = this.insert(k, h, suffix, words[from]!);
    const backoff = this.records[context + BACKOFF] === NO_EXTENSION ? 0 : this.values[context + BACKOFF]!;
    this.values[o + PROB] = backoff + this.values[suffix + PROB]! + 0;
    this.blanks.set(o, suffix < this.base[2]! ? 1 : (this.blanks.get(suffix) ?? k - 1));
    return o;
  }

  /** The offset of `words[from..end)`, inserting blanks for it and its parts where missing. */
  private resolve(words: ArrayLike<number>, from: number, end: number): number {
    let o = words[end - 1]! << 2;
    let h = startHash(words[end - 1]!);
    for (let j = end - 2; j >= from; j--) {
      h = extendHash(h, words[j]!);
      const found = this.find(end - j, h, o, words[j]!);
      o = found >= 0 ? found : this.insertBlank(words, j, end, h, o);
    }
    return o;
  }

  /** The finished arrays; `vocabSize` is the number of words the source defined. */
  finish(vocabSize: number): ProbingArrays {
    const blanks = new Int32Array(this.blanks.size * 2);
    let i = 0;
    for (const [o, matched] of [...this.blanks].sort((a, b) => a[0] - b[0])) {
      blanks[i++] = o;
      blanks[i++] = matched;
    }
    const counts = this.counts.slice(0, this.order);
    counts[0] = vocabSize;
    return {
      order: this.order,
      unigramSlots: this.unigramSlots,
      capacities: this.capacities,
      vocabSize,
      counts,
      records: this.records,
      blanks,
      filter: this.filter,
    };
  }
}

/**
 * Builds probing arrays, building again with more room when blanks fill a table: `feed` gives the
 * builder every n-gram, and may be called more than once.
 */
export function buildProbing(order: number, counts: readonly number[], feed: (builder: ProbingBuilder) => number, shared = false): ProbingArrays {
  let extra: number[] = [];
  for (;;) {
    const builder = new ProbingBuilder(order, counts, extra, shared);
    try {
      const vocabSize = feed(builder);
      return builder.finish(vocabSize);
    } catch (e) {
      if (!(e instanceof TableFull)) throw e;
      extra = e.extra;
    }
  }
}

/** The query side: scores, states and lookups over probing arrays. */
export class ProbingSearch implements NgramSearch {
  readonly format = 'probing' as const;
  readonly order: number;
  readonly vocabSize: number;
  readonly counts: number[];
  readonly byteLength: number;
  readonly arrays: ProbingArrays;
  private readonly rec: Int32Array;
  private readonly val: Float32Array;
  private readonly base: Int32Array;
  private readonly cap: Int32Array;
  /** Offset where the tables start (after the unigrams). */
  private readonly tables: number;
  private readonly blanks: Map<number, number>;
  private readonly wordMask: number;
  // Scratch for scoring (a model has at most 255 orders): the words before the text being
  // scored, most recent first (<s>, or a state's words); the offsets of the history's n-grams
  // (ctx[j]: its last j + 1 words) and of the current word's matches (found[j]), swapped as
  // one word's matches become the next word's history.
  private readonly before = new Int32Array(256);
  private ctx = new Int32Array(256);
  private found = new Int32Array(256);
  private length = 0;
  private matched = 0;
  private readonly one = new Uint32Array(1);
  private readonly oneLog10 = new Float64Array(1);
  /** The WebAssembly sentence loop, when the records are in a memory it can read. */
  private readonly kernel: Kernel | null;
  /** Whether whole sentences are scored by the WebAssembly kernel (else by the TypeScript loop). */
  readonly wasm: boolean;

  constructor(arrays: ProbingArrays) {
    this.arrays = arrays;
    this.order = arrays.order;
    this.vocabSize = arrays.vocabSize;
    this.counts = arrays.counts;
    this.rec = arrays.records;
    this.val = new Float32Array(arrays.records.buffer, arrays.records.byteOffset, arrays.records.length);
    const base = probingBases(arrays);
    this.base = Int32Array.from(base);
    this.cap = Int32Array.from(arrays.capacities.map((c) => c | 0));
    this.tables = base[2]!;
    this.byteLength = arrays.records.byteLength + arrays.blanks.byteLength;
    this.blanks = new Map();
    for (let i = 0; i < arrays.blanks.length; i += 2) this.blanks.set(arrays.blanks[i]!, arrays.blanks[i + 1]!);
    this.wordMask = arrays.filter ? LOW_24 : -1;
    this.kernel = this.blanks.size === 0 ? kernelFor(arrays.records, base, arrays.capacities, this.order) : null;
    this.wasm = this.kernel !== null;
  }

  private id(o: number): number {
    return o < this.tables ? o >> 2 : o;
  }

  private offset(id: number): number {
    return id < this.vocabSize ? id << 2 : id;
  }

  /** Order of the n-gram at offset o. */
  private orderAt(o: number): number {
    if (o < this.tables) return 1;
    let k = 2;
    while (o >= this.base[k + 1]!) k++;
    return k;
  }

  /** Sets the scratch state to `state` (an id, or -1): its words and the offsets of its suffixes. */
  private load(state: number): void {
    if (state < 0) {
      this.length = 0;
      return;
    }
    this.checkId(state, 'state');
    const k = this.orderAt(this.offset(state));
    // The suffix links from the state down to its last word: ctx[k-1] … ctx[0].
    let o = this.offset(state);
    for (let j = k - 1; j >= 0; j--) {
      this.ctx[j] = o;
      this.before[j] = j === 0 ? o >> 2 : this.rec[o + WORD]! & this.wordMask;
      o = ~this.rec[o + KEY]!;
    }
    // A state of the highest order (given by hand) keeps what the next word can use.
    this.length = Math.min(k, this.order - 1);
  }

  private checkId(id: number, what: string): void {
    const o = this.offset(id);
    const ok =
      Number.isInteger(id) &&
      id >= 0 &&
      (id < this.vocabSize || (o >= this.tables && o < this.base[this.order + 1]! && (o - this.base[this.orderAt(o)]!) % fieldsOf(this.orderAt(o), this.order) === 0 && this.rec[o + KEY] !== 0));
    if (!ok) throw new KotobaError(`${what} ${id} is not an n-gram of this model`, 'pass a state returned by begin() or score()');
  }

  begin(): number {
    // In a unigram model no word is context, <s> included (its backoff is never used, as in KenLM).
    return this.order === 1 || this.rec[(BOS << 2) + BACKOFF] === NO_EXTENSION ? -1 : BOS;
  }

  /**
   * Scores `words` after the scratch state (`ctx`, `length`, and `before`, the words before the
   * first), leaving the state after them in the scratch. For each word, the slot of every
   * order follows from the words alone (the hash of the last k words); a probe of order k
   * first asks the history's (k − 1)-gram, whose record is in cache, whether any of its
   * extensions ends in this word (the filter), and ends at the first order that misses.
   */
  private run(words: ArrayLike<number>, log10Out: Float64Array, ngramOut: Uint8Array | undefined): number {
    const rec = this.rec;
    const val = this.val;
    const base = this.base;
    const capacity = this.cap;
    const before = this.before;
    const N = this.order;
    const V = this.vocabSize;
    const mask = this.wordMask;
    const filter = mask === LOW_24;
    const blanks = this.blanks.size > 0;
    let ctx = this.ctx;
    let found = this.found;
    let len = this.length;
    let total = 0;
    for (let i = 0; i < words.length; i++) {
      const w = words[i]!;
      if (!(w >= 0 && w < V)) throw new KotobaError(`word id ${w} is outside the vocabulary of ${V} words`);
      let f = w << 2;
      found[0] = f;
      let m = 1;
      let h = startHash(w);
      const bit = filterBit(h);
      for (let k = 2; k <= len + 1; k++) {
        if (filter && (rec[ctx[k - 2]! + WORD]! & bit) === 0) break;
        // The word k − 1 places back: in `words`, or before them.
        const c = k - 1 <= i ? words[i - k + 1]! : before[k - 2 - i]!;
        h = extendHash(h, c);
        const fields = k === N ? 3 : 4;
        const start = base[k]!;
        const cap = capacity[k]!;
        const key = ~f;
        let s = slotOf(h, cap);
        let o = start + s * fields;
        for (;;) {
          const stored = rec[o]!;
          if (stored === key && (rec[o + WORD]! & mask) === c) break;
          if (stored === 0) {
            o = -1;
            break;
          }
          if (++s === cap) {
            s = 0;
            o = start;
          } else o += fields;
        }
        if (o < 0) break;
        f = o;
        found[k - 1] = o;
        m = k;
      }
      // log10 p of the match, then the backoffs of the longer contexts, shortest first.
      let lp = val[f + PROB]!;
      for (let j = m; j <= len; j++) lp = Math.fround(lp + val[ctx[j - 1]! + BACKOFF]!);
      log10Out[i] = lp;
      total = Math.fround(total + lp);
      const matched = blanks && m > 1 ? (this.blanks.get(f) ?? m) : m;
      if (ngramOut) ngramOut[i] = matched;
      this.matched = matched;
      // The next history: the longest match that can be extended (never the highest order).
      let next = m < N ? m : N - 1;
      while (next > 0 && rec[found[next - 1]! + BACKOFF] === NO_EXTENSION) next--;
      const t = ctx;
      ctx = found;
      found = t;
      len = next;
    }
    this.ctx = ctx;
    this.found = found;
    this.length = len;
    return total;
  }

  score(state: number, word: number): Scored<number> {
    this.load(state);
    this.one[0] = word;
    const log10 = this.run(this.one, this.oneLog10, undefined);
    const next = this.length === 0 ? -1 : this.id(this.ctx[this.length - 1]!);
    return { log10, next, ngram: this.matched };
  }

  scoreSentence(words: Uint32Array, log10Out: Float64Array, ngramOut?: Uint8Array): number {
    const n = words.length;
    const k = this.kernel;
    if (k && n <= k.capacity) {
      // The same loop in WebAssembly: the words in, the scores out.
      const V = this.vocabSize;
      for (let i = 0; i < n; i++) {
        const w = words[i]!;
        if (!(w < V)) throw new KotobaError(`word id ${w} is outside the vocabulary of ${V} words`);
        k.words[i] = w;
      }
      const len = this.begin() < 0 ? 0 : 1;
      k.ctx[0] = BOS << 2;
      const total = k.x.score(k.records, k.tables, this.order, this.wordMask, k.wordsAt, n, k.outAt, k.ngramAt, k.ctxAt, k.foundAt, len, k.beforeAt);
      for (let i = 0; i < n; i++) log10Out[i] = k.out[i]!;
      if (ngramOut) for (let i = 0; i < n; i++) ngramOut[i] = k.ngram[i]!;
      return total;
    }
    this.load(this.begin());
    // After <s>, the only word before the sentence.
    this.before[0] = BOS;
    return this.run(words, log10Out, ngramOut);
  }

  /**
   * `ppl` on a batch of text in the kernel: its lines of UTF-8 bytes tokenized on spaces and tabs
   * with `vocab`'s words (the same ids and errors as ByteTokenizer), scored, and recorded (as
   * PerplexityAccumulator.recording records). Null when the kernel cannot take it (no kernel, a
   * vocabulary table too big for it, a batch or a line too long): then the caller does it.
   */
  perplexityOfBytes(vocab: Vocabulary, bytes: Uint8Array, firstLine: number, source?: string): PerplexityRecord | null {
    const k = this.kernel;
    if (!k || bytes.length > BATCH_TEXT) return null;
    if (k.vocabulary === null) k.vocabulary = placeVocabulary(k, WordTable.fromVocabulary(vocab));
    if (!k.vocabulary) return null;
    new Uint8Array(k.buffer, k.textAt, bytes.length).set(bytes);
    const beginLength = this.begin() < 0 ? 0 : 1;
    k.x.perplexityBatch(
      k.records, k.tables, this.order, this.wordMask, beginLength, k.vocabAt, k.textAt, bytes.length,
      k.wordsAt, k.capacity, k.outAt, k.ngramAt, k.ctxAt, k.foundAt, k.beforeAt,
      k.totalsAt, k.oovAt, BATCH_LINES, k.unknownsAt, BATCH_UNKNOWNS, k.countsAt,
    );
    const [lines, tokens, oov, zeros, error, errorLine, unknown] = new Int32Array(k.buffer, k.countsAt, 7);
    if (error === 5 || error === 6) return null;
    // Unknown words with bytes above ASCII must be UTF-8 (known words are); in line order.
    const triples = new Int32Array(k.buffer, k.unknownsAt, 3 * unknown!);
    for (let u = 0; u < unknown!; u++) {
      try {
        strictUtf8.decode(bytes.subarray(triples[3 * u]!, triples[3 * u + 1]!));
      } catch {
        throw new KotobaError(`${at(source, firstLine + triples[3 * u + 2]!)}invalid UTF-8`, 'convert the file to UTF-8, e.g. with iconv');
      }
    }
    if (error === 2 || error === 3) {
      throw new KotobaError(`${at(source, firstLine + errorLine!)}${error === 2 ? BOS_WORD : EOS_WORD} inside a sentence`, '<s> may only open a line and </s> only close it; remove or rename it');
    }
    return {
      totals: Float64Array.from(new Float32Array(k.buffer, k.totalsAt, lines!)),
      oovLog10: Float64Array.from(new Float32Array(k.buffer, k.oovAt, oov!)),
      tokens: tokens!,
      oov: oov!,
      sentences: lines!,
      zeroProbability: zeros!,
    };
  }

  lookup(words: ArrayLike<number>): number {
    const n = words.length;
    if (n === 0 || n > this.order) return -1;
    const last = words[n - 1]!;
    if (!(last >= 0 && last < this.vocabSize)) return -1;
    let o = last << 2;
    let h = startHash(last);
    for (let j = n - 2; j >= 0; j--) {
      const w = words[j]!;
      h = extendHash(h, w);
      o = this.findAt(n - j, h, o, w);
      if (o < 0) return -1;
    }
    return this.id(o);
  }

  private findAt(k: number, h: number, suffix: number, w: number): number {
    const o = probeTable(this.rec, this.base[k]!, this.cap[k]!, fieldsOf(k, this.order), h, suffix, w, this.wordMask);
    return o >= 0 ? o : -1;
  }

  log10Prob(id: number): number {
    return this.val[this.offset(id) + PROB]!;
  }

  log10Backoff(id: number): number {
    const o = this.offset(id);
    // The highest order has no backoff field; −0.0 reads as 0.
    return this.orderAt(o) === this.order && this.order > 1 ? 0 : this.val[o + BACKOFF]! + 0;
  }

  wordsOf(id: number): number[] {
    const out: number[] = [];
    let o = this.offset(id);
    while (o >= this.tables) {
      out.push(this.rec[o + WORD]! & this.wordMask);
      o = ~this.rec[o + KEY]!;
    }
    out.push(o >> 2);
    return out;
  }

  suffixOf(id: number): number {
    const o = this.offset(id);
    return o < this.tables ? -1 : this.id(~this.rec[o + KEY]!);
  }

  firstWord(id: number): number {
    const o = this.offset(id);
    return o < this.tables ? o >> 2 : this.rec[o + WORD]! & this.wordMask;
  }

  positionOf(id: number): number {
    const o = this.offset(id);
    if (o < this.tables) return o >> 2;
    const k = this.orderAt(o);
    return (o - this.base[k]!) / fieldsOf(k, this.order);
  }

  positions(k: number): number {
    return k === 1 ? this.vocabSize : this.cap[k]!;
  }

  isBlank(id: number): boolean {
    return this.blanks.has(this.offset(id));
  }

  matchedLength(id: number): number {
    const o = this.offset(id);
    return this.blanks.get(o) ?? this.orderAt(o);
  }

  extendsAt(id: number): boolean {
    const o = this.offset(id);
    return !(this.orderAt(o) === this.order && this.order > 1) && this.rec[o + BACKOFF] !== NO_EXTENSION;
  }

  idsOfOrder(k: number): Int32Array {
    const fields = fieldsOf(k, this.order);
    const from = this.base[k]!;
    const to = this.base[k + 1]!;
    let n = 0;
    for (let o = from; o < to; o += fields) if (this.rec[o + KEY] !== 0) n++;
    const out = new Int32Array(n);
    n = 0;
    for (let o = from; o < to; o += fields) if (this.rec[o + KEY] !== 0) out[n++] = this.id(o);
    return out;
  }
}

type Exports = {
  score: (records: number, tables: number, order: number, mask: number, words: number, n: number, out: number, ngram: number, ctx: number, found: number, len: number, before: number) => number;
  perplexityBatch: (
    records: number, tables: number, order: number, mask: number, beginLength: number, vocab: number, text: number, length: number,
    ids: number, capacity: number, out: number, ngram: number, ctx: number, found: number, before: number,
    totals: number, oov: number, oovCapacity: number, unknowns: number, unknownCapacity: number, counts: number,
  ) => void;
};

/**
 * A scorer's view of the WebAssembly kernel: its entry points and its scratch slot, laid out as
 *
 *   tables (2 × 256 ints) · ctx, found, before (256 ints each) · counts (16 ints) · vocabulary
 *   header (16 ints) · per word of a line: id, score (float64), n-gram length · a batch of text ·
 *   per line of it: total · per unknown word: score · unknown words to check (3 ints each) ·
 *   the vocabulary table, when it fits
 */
interface Kernel {
  x: Exports;
  buffer: ArrayBufferLike;
  records: number;
  tables: number;
  ctxAt: number;
  foundAt: number;
  beforeAt: number;
  countsAt: number;
  vocabAt: number;
  wordsAt: number;
  outAt: number;
  ngramAt: number;
  textAt: number;
  totalsAt: number;
  oovAt: number;
  unknownsAt: number;
  tableAt: number;
  words: Int32Array;
  out: Float64Array;
  ngram: Uint8Array;
  ctx: Int32Array;
  /** The longest line the slot holds, in words. */
  capacity: number;
  /** Whether the vocabulary table is in the slot (for `perplexityOfBytes`): null until tried. */
  vocabulary: boolean | null;
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });
const LINE_WORDS = 32768;
const BATCH_TEXT = 1 << 19;
const BATCH_LINES = 1 << 17;
const BATCH_UNKNOWNS = 1 << 14;

/** The kernel for records in a WebAssembly memory (null elsewhere, or where none can be had). */
function kernelFor(records: Int32Array, base: number[], capacities: number[], order: number): Kernel | null {
  const region = regionOf(records.buffer);
  if (!region) return null;
  try {
    const instance = kernelInstance(region);
    if (!instance) return null;
    const slot = claimSlot(region);
    if (slot < 0) return null;
    const buffer = region.memory.buffer;
    const tables = new Int32Array(buffer, slot, 512);
    for (let k = 2; k <= order; k++) {
      tables[k] = base[k]!;
      tables[256 + k] = capacities[k]!;
    }
    const ctxAt = slot + 2048;
    const foundAt = ctxAt + 1024;
    const beforeAt = foundAt + 1024;
    new Int32Array(buffer, beforeAt, 1)[0] = BOS;
    const countsAt = beforeAt + 1024;
    const vocabAt = countsAt + 64;
    const wordsAt = vocabAt + 64;
    const outAt = wordsAt + 4 * LINE_WORDS;
    const ngramAt = outAt + 8 * LINE_WORDS;
    const textAt = ngramAt + LINE_WORDS;
    const totalsAt = textAt + BATCH_TEXT;
    const oovAt = totalsAt + 4 * BATCH_LINES;
    const unknownsAt = oovAt + 4 * BATCH_LINES;
    const tableAt = unknownsAt + 12 * BATCH_UNKNOWNS;
    return {
      x: instance.exports as unknown as Exports,
      buffer,
      records: records.byteOffset,
      tables: slot,
      ctxAt,
      foundAt,
      beforeAt,
      countsAt,
      vocabAt,
      wordsAt,
      outAt,
      ngramAt,
      textAt,
      totalsAt,
      oovAt,
      unknownsAt,
      tableAt,
      words: new Int32Array(buffer, wordsAt, LINE_WORDS),
      out: new Float64Array(buffer, outAt, LINE_WORDS),
      ngram: new Uint8Array(buffer, ngramAt, LINE_WORDS),
      ctx: new Int32Array(buffer, ctxAt, 256),
      capacity: LINE_WORDS - 1,
      vocabulary: null,
    };
  } catch {
    return null;
  }
}

/** Copies a vocabulary's word table into the kernel's slot; false when it does not fit. */
function placeVocabulary(k: Kernel, table: WordTable): boolean {
  const parts = [table.slotIds, table.slotHashes, table.starts, table.bytes];
  let at = k.tableAt;
  const offsets: number[] = [];
  for (const p of parts) {
    offsets.push(at);
    at += Math.ceil(p.byteLength / 8) * 8;
  }
  if (at > k.tables + SLOT_BYTES) return false;
  parts.forEach((p, i) => new Uint8Array(k.buffer, offsets[i]!, p.byteLength).set(new Uint8Array(p.buffer, p.byteOffset, p.byteLength)));
  new Int32Array(k.buffer, k.vocabAt, 5).set([table.slotIds.length - 1, ...offsets]);
  return true;
}

/**
 * Checks probing arrays read from a file, in one pass: every key names an n-gram of the order
 * below, every word is in the vocabulary, every value is a number a model can hold, every table
 * keeps an empty slot (so that probes end), and the counts add up. Throws `fail(reason)`.
 */
export function validateProbing(a: ProbingArrays, fail: (reason: string) => Error): void {
  const { order, vocabSize: V, unigramSlots, capacities, records } = a;
  if (!(Number.isInteger(order) && order >= 1 && order <= 255)) throw fail(`order ${order}`);
  if (!(Number.isInteger(unigramSlots) && unigramSlots >= V && V >= 3)) throw fail('vocabulary size');
  for (let k = 2; k <= order; k++) if (!(Number.isInteger(capacities[k]) && capacities[k]! >= 2)) throw fail(`capacity of order ${k}`);
  const base = probingBases(a);
  if (base[order + 1] !== records.length) throw fail('size of the records');
  const values = new Float32Array(records.buffer, records.byteOffset, records.length);
  if (a.filter && unigramSlots > FILTER_WORDS) throw fail('the word filter');
  const wordMask = a.filter ? LOW_24 : -1;
  // A value a model can hold: −∞ or finite and not huge, so that sums of them stay finite.
  const ok = (x: number) => (x >= -1e30 && x <= 1e30) || x === -Infinity;
  for (let w = 0; w < V; w++) {
    const o = w << 2;
    if (!(ok(values[o + PROB]!) && values[o + PROB]! <= 0 && ok(values[o + BACKOFF]!))) throw fail(`the values of unigram ${w}`);
  }
  // Blanks: inside the tables, in increasing order, each counted once in its order.
  const blanksPerOrder = new Array<number>(order + 2).fill(0);
  const blankSet = new Set<number>();
  for (let i = 0, k = 2; i < a.blanks.length; i += 2) {
    const o = a.blanks[i]!;
    const matched = a.blanks[i + 1]!;
    if (!(o >= base[2]! && o < base[order + 1]! && records[o + KEY] !== 0 && matched >= 1 && matched < 255)) throw fail('the blanks');
    if (i > 0 && o <= a.blanks[i - 2]!) throw fail('the order of the blanks');
    while (o >= base[k + 1]!) k++;
    if ((o - base[k]!) % fieldsOf(k, order) !== 0 || matched >= k) throw fail('the blanks');
    blanksPerOrder[k]!++;
    blankSet.add(o);
  }
  // occupied: one bit per slot of the order below (its unigrams first), so that checking that a
  // key names a stored n-gram reads a small bitmap rather than the table (a cache miss each).
  let occupied = new Uint32Array((unigramSlots + 31) >>> 5);
  for (let w = 0; w < V; w++) occupied[w >>> 5]! |= 1 << (w & 31);
  for (let k = 2; k <= order; k++) {
    const fields = fieldsOf(k, order);
    // The order below has 4 fields per record (it is never the highest).
    const below = base[k - 1]!;
    const belowEnd = base[k]!;
    const middle = k < order;
    const start = base[k]!;
    const next = middle ? new Uint32Array((capacities[k]! + 31) >>> 5) : occupied;
    let used = 0;
    for (let o = start, slot = 0, end = base[k + 1]!; o < end; o += fields, slot++) {
      const key = records[o + KEY]!;
      if (key === 0) continue;
      used++;
      if (middle) next[slot >>> 5]! |= 1 << (slot & 31);
      const suffix = ~key;
      const w = records[o + WORD]! & wordMask;
      const at = (suffix - below) >>> 2;
      if (!(suffix >= below && suffix < belowEnd && ((suffix - below) & 3) === 0 && w >= 0 && w < V && (occupied[at >>> 5]! & (1 << (at & 31))) !== 0)) {
        throw fail(`an n-gram of order ${k} links to no n-gram`);
      }
      const p = values[o + PROB]!;
      // A blank may hold a positive log10 p (where a backoff weight is positive).
      if (!(((p >= -1e30 && p <= 0) || p === -Infinity || (p > 0 && p <= 1e30 && blankSet.has(o))))) throw fail(`a probability of order ${k}`);
      if (middle) {
        const b = values[o + BACKOFF]!;
        if (!((b >= -1e30 && b <= 1e30) || b === -Infinity)) throw fail(`a backoff of order ${k}`);
      }
    }
    occupied = next;
    if (used >= capacities[k]!) throw fail(`the order-${k} table has no empty slot`);
    if (used !== a.counts[k - 1]! + blanksPerOrder[k]!) throw fail(`the order-${k} count`);
  }
}
