/**
 * The query side of a backoff n-gram model: KenLM's state API over one of KenLM's two data
 * structures (search.ts), probing hash tables or a compact trie.
 *
 * A model state is one integer, the id of the longest n-gram of the history that can still
 * matter (or -1), and scoring a word allocates nothing:
 *
 *   for the history's n-grams h, longest first: if h·w is listed, its probability; otherwise
 *   add backoff(h) and try the next shorter h.
 */
import { KotobaError } from '../errors.js';
import type { LanguageModel, PerplexityRecord, Scored } from '../lm.js';
import type { TokenizeOptions } from '../text/tokenize.js';
import { BOS, Vocabulary } from '../text/vocabulary.js';
import { ArpaReader, type ArpaReadOptions, type ArpaSink } from './arpa.js';
import { buildProbing, ProbingBuilder, ProbingSearch, TableFull } from './probing.js';
import type { NgramFormat, NgramSearch, Quantization } from './search.js';
import { emptyOrder, type NgramOrderTable, type NgramTables } from './tables.js';
import { buildTrie } from './trie.js';

/** How to build a model's query structure. */
export interface NgramBuildOptions {
  /** `probing` (default: the fastest) or `trie` (the smallest). */
  format?: NgramFormat;
  /** Quantize the trie's values to these many bits (KenLM's `-q`, `-b`). */
  quantization?: Quantization;
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
  /** The data structure behind the model. */
  readonly search: NgramSearch;
  private children: { contexts: Int32Array; start: Int32Array; ids: Int32Array } | null = null;
  private canonical: Int32Array[] | null = null;

  constructor(vocab: Vocabulary, search: NgramSearch, description: string, text?: TokenizeOptions) {
    if (search.vocabSize !== vocab.size) throw new KotobaError(`internal: a structure for ${search.vocabSize} words with a vocabulary of ${vocab.size}`);
    this.vocab = vocab;
    this.description = description;
    this.text = text;
    this.order = search.order;
    this.search = search;
  }

  /** `probing` or `trie`. */
  get format(): NgramFormat {
    return this.search.format;
  }

  /** Number of n-grams per order (blanks not counted). */
  get counts(): number[] {
    return this.search.counts.slice();
  }

  /** Id of the n-gram (n-gram `context` followed by `word`), or -1. */
  find(context: number, word: number): number {
    return this.search.lookup([...this.search.wordsOf(context), word]);
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
    return this.search.lookup(words);
  }

  /** Id of the context (all but the last word) of n-gram `id`; -1 for a unigram. */
  contextOf(id: number): number {
    const words = this.search.wordsOf(id);
    return words.length === 1 ? -1 : this.search.lookup(words.slice(0, -1));
  }

  /** Last word of n-gram `id`. */
  lastWord(id: number): number {
    const words = this.search.wordsOf(id);
    return words[words.length - 1]!;
  }

  /** log10 probability stored for n-gram `id`. */
  log10Prob(id: number): number {
    return this.search.log10Prob(id);
  }

  /** log10 backoff weight stored for n-gram `id`. */
  log10Backoff(id: number): number {
    return this.search.log10Backoff(id);
  }

  /** Id of the n-gram without its first word; -1 for a unigram. */
  suffixOf(id: number): number {
    return this.search.suffixOf(id);
  }

  /** The state after `<s>`. */
  begin(): number {
    return this.search.begin();
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
    return this.search.score(state, word);
  }

  /**
   * The fast path: a whole sentence from `<s>`, keeping the history as words and n-gram ids
   * between words (where `score` starts from one integer each time). The probes of every order
   * for a word depend only on the history and the word, so their cache misses overlap.
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
    return this.search.scoreSentence(words, log10Out, ngramOut);
  }

  /**
   * The perplexity totals of lines of UTF-8 text split on spaces and tabs, in the probing
   * structure's WebAssembly kernel (null where it cannot: the caller then tokenizes and scores).
   *
   * @example
   * ```ts
   * import { PerplexityAccumulator, type BackoffModel } from 'kotoba';
   * declare const model: BackoffModel;
   * const record = model.perplexityOfBytes(new TextEncoder().encode('私 は 本 だ\n'), 1);
   * if (record) new PerplexityAccumulator().mergeRecord(record);
   * ```
   */
  perplexityOfBytes(bytes: Uint8Array, firstLine: number, source?: string): PerplexityRecord | null {
    return this.search.perplexityOfBytes?.(this.vocab, bytes, firstLine, source) ?? null;
  }

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
    const V = this.vocab.size;
    const search = this.search;
    const chain: number[] = [];
    for (let h = state; h >= 0; h = search.suffixOf(h)) chain.push(h);
    for (let w = 0; w < V; w++) out[w] = search.log10Prob(w);
    const { contexts, start, ids } = this.childIndex();
    // Shortest context first: back off everything, then overwrite the words seen after it.
    for (let i = chain.length - 1; i >= 0; i--) {
      const h = chain[i]!;
      const b = search.log10Backoff(h);
      if (b !== 0) for (let w = 0; w < V; w++) out[w] += b;
      const at = binarySearch(contexts, h);
      if (at < 0) continue;
      for (let j = start[at]!; j < start[at + 1]!; j++) {
        const n = ids[j]!;
        const words = search.wordsOf(n);
        out[words[words.length - 1]!] = search.log10Prob(n);
      }
    }
    for (let w = 0; w < V; w++) out[w] = Math.pow(10, out[w]!);
    out[BOS] = 0;
  }

  /** The n-grams listed after each context, built on first use (only `distribution` needs them). */
  private childIndex(): { contexts: Int32Array; start: Int32Array; ids: Int32Array } {
    if (this.children) return this.children;
    const pairs: [number, number][] = [];
    for (let k = 2; k <= this.order; k++) {
      for (const n of this.search.idsOfOrder(k)) if (!this.search.isBlank(n)) pairs.push([this.contextOf(n), n]);
    }
    pairs.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    const contexts: number[] = [];
    const start: number[] = [];
    const ids = new Int32Array(pairs.length);
    pairs.forEach(([h, n], i) => {
      if (contexts.length === 0 || contexts[contexts.length - 1] !== h) {
        contexts.push(h);
        start.push(i);
      }
      ids[i] = n;
    });
    start.push(pairs.length);
    this.children = { contexts: Int32Array.from(contexts), start: Int32Array.from(start), ids };
    return this.children;
  }

  /** Words of n-gram `id`. */
  words(id: number): number[] {
    return this.search.wordsOf(id);
  }

  /**
   * Per order ≥ 2: the ids of its n-grams (blanks left out) in the order they are written out:
   * sorted by suffix, the order lmplz writes (the last word first, then the one before, …).
   */
  get ordered(): Int32Array[] {
    if (!this.canonical) this.canonical = canonicalOrder(this.search).map((ids) => ids.filter((n) => !this.search.isBlank(n)));
    return this.canonical;
  }

  /**
   * The model as tables, n-grams sorted by suffix (blanks left out).
   *
   * @example
   * ```ts
   * import { arpaText, pruneRelativeEntropy, type BackoffModel } from 'kotoba';
   * declare const model: BackoffModel;
   * const text = await arpaText(pruneRelativeEntropy(model, 1e-8).toTables()); // the pruned model as ARPA
   * ```
   */
  toTables(): NgramTables {
    const V = this.vocab.size;
    const search = this.search;
    const uni = emptyOrder(1, V);
    for (let w = 0; w < V; w++) {
      uni.words[w] = w;
      uni.log10Prob[w] = search.log10Prob(w);
      uni.log10Backoff[w] = search.log10Backoff(w);
    }
    const orders: NgramOrderTable[] = [uni];
    for (let k = 2; k <= this.order; k++) {
      const ids = this.ordered[k - 2]!;
      const t = emptyOrder(k, ids.length);
      for (let i = 0; i < ids.length; i++) {
        const n = ids[i]!;
        t.words.set(search.wordsOf(n), i * k);
        t.log10Prob[i] = search.log10Prob(n);
        t.log10Backoff[i] = search.log10Backoff(n);
      }
      orders.push(t);
    }
    return { vocab: this.vocab, orders, description: this.description, ...(this.text ? { text: this.text } : {}) };
  }

  /**
   * Builds the query structure from tables (estimated, or read from ARPA): probing hash tables,
   * or a trie with `{ format: 'trie' }`, optionally quantized.
   *
   * @example
   * ```ts
   * // runs
   * import { arpaText, BackoffModel, corpusFromText, estimate, parseArpa } from 'kotoba';
   * const tables = estimate(corpusFromText(['a b c', 'a c b', 'b a c']), { order: 3, smoothing: 'wb' });
   * const model = BackoffModel.fromTables(tables);
   * const same = BackoffModel.fromTables(parseArpa(await arpaText(tables))); // or from ARPA text
   * const small = BackoffModel.fromTables(tables, { format: 'trie', quantization: { probBits: 8, backoffBits: 8 } });
   * model.counts; // n-grams per order
   * ```
   */
  static fromTables(tables: NgramTables, options: NgramBuildOptions = {}): BackoffModel {
    const V = tables.vocab.size;
    const N = tables.orders.length;
    const uni = tables.orders[0]!;
    if (uni.size !== V) throw new KotobaError(`internal: ${uni.size} unigrams for a vocabulary of ${V}`);
    const arrays = buildProbing(
      N,
      tables.orders.map((o) => o.size),
      (builder) => {
        for (let i = 0; i < V; i++) builder.unigram(uni.words[i]!, uni.log10Prob[i]!, uni.log10Backoff[i]!);
        for (let k = 2; k <= N; k++) {
          const t = tables.orders[k - 1]!;
          for (let i = 0; i < t.size; i++) builder.add(t.words.subarray(i * k, i * k + k), k, t.log10Prob[i]!, t.log10Backoff[i]!);
        }
        return V;
      },
    );
    const model = new BackoffModel(tables.vocab, new ProbingSearch(arrays), tables.description, tables.text);
    return options.format === 'trie' ? model.withFormat('trie', options.quantization) : model;
  }

  /**
   * The same model in another data structure (scores identical, unless quantized).
   *
   * @example
   * ```ts
   * import type { BackoffModel } from 'kotoba';
   * declare const model: BackoffModel;
   * const trie = model.withFormat('trie');                                    // exact, smaller
   * const q8 = model.withFormat('trie', { probBits: 8, backoffBits: 8 });    // about half again
   * ```
   */
  withFormat(format: NgramFormat, quantization?: Quantization): BackoffModel {
    if (format === 'probing') {
      if (this.format === 'probing') return this;
      return BackoffModel.fromTables(this.toTables());
    }
    return new BackoffModel(this.vocab, buildTrie(this.search, canonicalOrder(this.search), quantization), this.description, this.text);
  }
}

/** Options for {@link modelFromArpaChunks}. */
export interface ArpaLoadOptions extends ArpaReadOptions {
  /** Allocate the structure in a SharedArrayBuffer, to share it with worker threads. */
  shared?: boolean;
}

/**
 * A model built straight from ARPA text arriving in chunks: each n-gram goes into the probing
 * tables as it is read, so memory holds the finished structure and one chunk, never the file
 * or its tables. `open` gives the chunks from the start; it is called again in the rare case
 * where missing n-grams (blanks) overflow a table.
 *
 * @example
 * ```ts
 * import { modelFromArpaChunks } from 'kotoba';
 * const model = await modelFromArpaChunks(async function* () {
 *   const response = await fetch('models/wiki3.arpa');
 *   for await (const chunk of response.body!) yield chunk;
 * }, { source: 'wiki3.arpa' });
 * ```
 */
export async function modelFromArpaChunks(open: () => AsyncIterable<Uint8Array> | Iterable<Uint8Array>, options: ArpaLoadOptions = {}): Promise<BackoffModel> {
  let extra: number[] = [];
  for (let attempt = 0; ; attempt++) {
    let builder: ProbingBuilder | null = null;
    let vocab: Vocabulary | null = null;
    const sink: ArpaSink = {
      counts: (counts) => void (builder = new ProbingBuilder(counts.length, counts, extra, options.shared)),
      unigrams: (v, prob, backoff) => {
        vocab = v;
        for (let w = 0; w < v.size; w++) builder!.unigram(w, prob[w]!, backoff[w]!);
      },
      ngram: (k, words, prob, backoff) => builder!.add(words, k, prob, backoff),
    };
    // Warnings once, not again on a second reading.
    const reader = new ArpaReader(sink, attempt === 0 ? options : { ...options, warn: () => {} });
    try {
      for await (const chunk of open()) reader.push(chunk);
      reader.end();
    } catch (e) {
      if (!(e instanceof TableFull)) throw e;
      extra = e.extra;
      continue;
    }
    const v = vocab as Vocabulary | null;
    const b = builder as ProbingBuilder | null;
    if (!v || !b) throw new KotobaError(`${options.source ?? 'model'}: the ARPA file has no unigrams`);
    return new BackoffModel(v, new ProbingSearch(b.finish(v.size)), reader.description, reader.text);
  }
}

function binarySearch(sorted: Int32Array, x: number): number {
  let lo = 0;
  let hi = sorted.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const v = sorted[mid]!;
    if (v === x) return mid;
    if (v < x) lo = mid + 1;
    else hi = mid - 1;
  }
  return -1;
}

/**
 * Per order ≥ 2, every id (blanks included) sorted by suffix: by the position of the n-gram
 * without its first word in the order below, then by the first word. That is lexicographic
 * order on the words read right to left, lmplz's order, and a trie's. Two stable counting
 * sorts (first word, then suffix rank), linear in the n-grams.
 */
export function canonicalOrder(search: NgramSearch): Int32Array[] {
  const V = search.vocabSize;
  const out: Int32Array[] = [];
  // rank[position] of each n-gram of the order below in its sorted order (unigrams: the word id).
  let rank = new Int32Array(V);
  for (let w = 0; w < V; w++) rank[w] = w;
  for (let k = 2; k <= search.order; k++) {
    const ids = search.idsOfOrder(k);
    const n = ids.length;
    const byWord = countingSort(ids, V, (id) => search.firstWord(id));
    const suffixRank = (id: number) => rank[search.positionOf(search.suffixOf(id))]!;
    const sorted = countingSort(byWord, k === 2 ? V : out[k - 3]!.length, suffixRank);
    out.push(sorted);
    rank = new Int32Array(search.positions(k));
    for (let i = 0; i < n; i++) rank[search.positionOf(sorted[i]!)] = i;
  }
  return out;
}

/** Stable counting sort of `ids` by `key(id)` in [0, range). */
function countingSort(ids: Int32Array, range: number, key: (id: number) => number): Int32Array {
  const start = new Int32Array(range + 1);
  const keys = new Int32Array(ids.length);
  for (let i = 0; i < ids.length; i++) start[(keys[i] = key(ids[i]!)) + 1]!++;
  for (let r = 0; r < range; r++) start[r + 1]! += start[r]!;
  const out = new Int32Array(ids.length);
  for (let i = 0; i < ids.length; i++) out[start[keys[i]!]!++] = ids[i]!;
  return out;
}
