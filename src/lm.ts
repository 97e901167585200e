/**
 * The one idea: every model is a language model with a state. It starts at `<s>`; given a state
 * and a word it returns the word's log10 probability and the next state. Perplexity, sentence
 * scores, reranking, next-word lists, sampling and mixtures are written once, against this
 * interface, and work for every model family.
 */
import { BOS, EOS, UNK, type Vocabulary } from './text/vocabulary.js';

/** The result of scoring one word. */
export interface Scored<S> {
  /** log10 p(word | state); -Infinity for a word the model gives probability 0. */
  log10: number;
  /** The state after the word. */
  next: S;
  /** Length of the n-gram that matched (n-gram models); undefined where it has no meaning. */
  ngram?: number;
}

/**
 * A language model with a state, the interface every model family implements: it starts at
 * `<s>`, and given a state and a word returns the word's log10 probability and the next state.
 *
 * @example
 * ```ts
 * import type { LanguageModel } from 'kotoba';
 * declare const lm: LanguageModel;
 * let state = lm.begin();
 * for (const word of ['私', 'は', '</s>']) {
 *   const { log10, next } = lm.score(state, lm.vocab.id(word)); // log10 p(word | history)
 *   state = next;
 * }
 * ```
 */
export interface LanguageModel<S = unknown> {
  readonly vocab: Vocabulary;
  /** A short description, e.g. `5-gram modified Kneser-Ney`. */
  readonly description: string;
  /** The state after `<s>`. */
  begin(): S;
  /** log10 p(word | state) and the next state. `word` is a vocabulary id (UNK for unknown words). */
  score(state: S, word: number): Scored<S>;
  /**
   * Fills `out[w]` with p(w | state) (a probability, not a log) for every id w of the
   * vocabulary; `out[BOS]` is 0. Present where it is cheap.
   */
  distribution?(state: S, out: Float64Array): void;
  /**
   * Fast path for whole sentences: scores `words` (ids, without `<s>`, ending with `</s>` when the
   * sentence is complete) from the `<s>` state, writing log10 p of each word into `log10Out` and,
   * where the model has n-grams, the matched length into `ngramOut`. Returns the sum.
   */
  scoreSentence?(words: Uint32Array, log10Out: Float64Array, ngramOut?: Uint8Array): number;
  /**
   * Fast path for `ppl`: the perplexity totals of lines of UTF-8 text split on spaces and tabs
   * (line `firstLine` first; `source` names them in errors), as a recording accumulator records
   * them; null when the model cannot (then the caller tokenizes and scores).
   */
  perplexityOfBytes?(bytes: Uint8Array, firstLine: number, source?: string): PerplexityRecord | null;
}

/** Per-word detail of a scored sentence. */
export interface WordScore {
  word: string;
  id: number;
  log10: number;
  /** Length of the matched n-gram (n-gram models only). */
  ngram?: number;
  oov: boolean;
}

/**
 * Scores one sentence (ids without `<s>`; `</s>` is appended when `withEnd`). `surface` gives
 * the words as written, for the per-word detail of unknown words. The total is summed in
 * float32, as KenLM's query sums it.
 *
 * @example
 * ```ts
 * // runs
 * import { BackoffModel, corpusFromText, estimate, scoreSentence, splitWords } from 'kotoba';
 * const corpus = corpusFromText(['私 は 読書 が 好き だ', '私 の 本 は 1900年代 に 書かれた']);
 * const model = BackoffModel.fromTables(estimate(corpus, { order: 2, smoothing: 'wb' }));
 * const words = splitWords('私 は 本 が 好き だ');
 * const { total, words: detail } = scoreSentence(model, words.map((w) => model.vocab.id(w)), true, words);
 * console.log(total, detail.map((w) => `${w.word} ${w.log10.toFixed(2)} ${w.ngram}-gram`));
 * ```
 */
export function scoreSentence(
  lm: LanguageModel<unknown>,
  ids: ArrayLike<number>,
  withEnd = true,
  surface?: readonly string[],
): { total: number; words: WordScore[] } {
  const n = ids.length + (withEnd ? 1 : 0);
  const words = new Uint32Array(n);
  for (let i = 0; i < ids.length; i++) words[i] = ids[i]!;
  if (withEnd) words[n - 1] = EOS;
  const log10 = new Float64Array(n);
  const ngram = new Uint8Array(n);
  scoreWords(lm, words, log10, ngram);
  let total = 0;
  for (let i = 0; i < n; i++) total = Math.fround(total + log10[i]!);
  const out: WordScore[] = [];
  for (let i = 0; i < n; i++) {
    const id = words[i]!;
    const word = i < ids.length && surface ? surface[i]! : lm.vocab.word(id);
    const w: WordScore = { word, id, log10: log10[i]!, oov: id === UNK };
    if (ngram[i]) w.ngram = ngram[i]!;
    out.push(w);
  }
  return { total, words: out };
}

/**
 * Scores `words` (ids, without `<s>`, ending with `</s>` when the sentence is complete) from the
 * `<s>` state: log10 p of each into `log10Out`, and the matched n-gram length into `ngramOut`
 * where the model has one. The model's fast path when it has one, its state API otherwise.
 *
 * @example
 * ```ts
 * import { EOS, scoreWords, type LanguageModel } from 'kotoba';
 * declare const lm: LanguageModel;
 * const words = Uint32Array.of(lm.vocab.id('私'), lm.vocab.id('は'), EOS);
 * const log10 = new Float64Array(words.length);
 * scoreWords(lm, words, log10);
 * ```
 */
export function scoreWords(lm: LanguageModel<unknown>, words: Uint32Array, log10Out: Float64Array, ngramOut?: Uint8Array): void {
  if (lm.scoreSentence) {
    lm.scoreSentence(words, log10Out, ngramOut);
    return;
  }
  let state = lm.begin();
  for (let i = 0; i < words.length; i++) {
    const r = lm.score(state, words[i]!);
    log10Out[i] = r.log10;
    if (ngramOut) ngramOut[i] = r.ngram ?? 0;
    state = r.next;
  }
}

/** Sentences scored by a recording accumulator: see `PerplexityAccumulator.recording`. */
export interface PerplexityRecord {
  /** Each sentence's total (float32 sums). */
  totals: Float64Array;
  /** log10 p of each unknown word, in order. */
  oovLog10: Float64Array;
  tokens: number;
  oov: number;
  sentences: number;
  zeroProbability: number;
}

/**
 * Running totals for perplexity, counted and summed the way KenLM's `query` does, so that the
 * digits agree: every word and one `</s>` per sentence are tokens; `<s>` is context only; a
 * sentence's total is summed in float32 and the corpus total in float64. "Excluding OOVs" drops
 * the unknown words from both the sum and the count.
 *
 * @example
 * ```ts
 * // runs
 * import { EOS, PerplexityAccumulator, UNK } from 'kotoba';
 * const acc = new PerplexityAccumulator();
 * acc.addSentence([5, UNK, EOS], [-1.2, -2.5, -0.3]); // -4, the sentence's total
 * acc.perplexity;             // 10^(4 / 3) ≈ 21.54
 * acc.perplexityExcludingOov; // 10^(1.5 / 2) ≈ 5.62
 * ```
 */
export class PerplexityAccumulator {
  /** Sum of log10 p over all tokens. */
  log10Sum = 0;
  /** Sum of log10 p over the unknown tokens. */
  log10SumOov = 0;
  tokens = 0;
  oov = 0;
  sentences = 0;
  /** Tokens with probability 0 (log10 = -Infinity). */
  zeroProbability = 0;
  /** When recording: each sentence's total and each unknown word's log10 p, in order. */
  private journal: { totals: number[]; oov: number[] } | null = null;

  /**
   * An accumulator that also keeps each sentence's total and each unknown word's score, so that
   * another accumulator can take them in (`mergeRecord`) with exactly the sums it would have
   * computed itself: how results from several threads add up to one thread's digits.
   *
   * @example
   * ```ts
   * // runs
   * import { EOS, PerplexityAccumulator } from 'kotoba';
   * const part = PerplexityAccumulator.recording();
   * part.addSentence([5, EOS], [-1.5, -0.25]);
   * const acc = new PerplexityAccumulator();
   * acc.mergeRecord(part.takeRecord()); // as if the sentence were added to acc itself
   * ```
   */
  static recording(): PerplexityAccumulator {
    const acc = new PerplexityAccumulator();
    acc.journal = { totals: [], oov: [] };
    return acc;
  }

  /**
   * Adds a scored sentence: word ids and their log10 scores, `</s>` included. Returns its total.
   *
   * @example
   * ```ts
   * import { PerplexityAccumulator, type BackoffModel } from 'kotoba';
   * declare const model: BackoffModel;
   * declare const words: Uint32Array; // one sentence's ids, ending with </s>
   * const acc = new PerplexityAccumulator();
   * const log10 = new Float64Array(words.length);
   * model.scoreSentence(words, log10);
   * acc.addSentence(words, log10); // the sentence's total, summed in float32
   * ```
   */
  addSentence(words: ArrayLike<number>, log10: ArrayLike<number>, n = words.length): number {
    let total = 0;
    for (let i = 0; i < n; i++) {
      const lp = log10[i]!;
      total = Math.fround(total + lp);
      if (lp === -Infinity) this.zeroProbability++;
      if (words[i] === UNK) {
        this.oov++;
        this.log10SumOov += lp;
        this.journal?.oov.push(lp);
      }
    }
    this.sentences++;
    this.tokens += n;
    this.log10Sum += total;
    this.journal?.totals.push(total);
    return total;
  }

  /** What a recording accumulator kept since it was made (or last taken), and its counts. */
  takeRecord(): PerplexityRecord {
    const j = this.journal;
    if (!j) throw new Error('takeRecord needs an accumulator made by PerplexityAccumulator.recording()');
    const record: PerplexityRecord = {
      totals: Float64Array.from(j.totals),
      oovLog10: Float64Array.from(j.oov),
      tokens: this.tokens,
      oov: this.oov,
      sentences: this.sentences,
      zeroProbability: this.zeroProbability,
    };
    this.journal = { totals: [], oov: [] };
    this.log10Sum = this.log10SumOov = this.tokens = this.oov = this.sentences = this.zeroProbability = 0;
    return record;
  }

  /** Adds recorded sentences in order: the same sums as adding the sentences here. */
  mergeRecord(r: PerplexityRecord): void {
    for (let i = 0; i < r.totals.length; i++) this.log10Sum += r.totals[i]!;
    for (let i = 0; i < r.oovLog10.length; i++) this.log10SumOov += r.oovLog10[i]!;
    this.tokens += r.tokens;
    this.oov += r.oov;
    this.sentences += r.sentences;
    this.zeroProbability += r.zeroProbability;
  }

  /** Adds another accumulator's totals (e.g. of the next batch of sentences). */
  merge(other: PerplexityAccumulator): void {
    this.log10Sum += other.log10Sum;
    this.log10SumOov += other.log10SumOov;
    this.tokens += other.tokens;
    this.oov += other.oov;
    this.sentences += other.sentences;
    this.zeroProbability += other.zeroProbability;
  }

  /** 10^(-Σ log10 p / N), OOVs included. Infinity when some token has probability 0. */
  get perplexity(): number {
    return this.tokens === 0 ? NaN : Math.pow(10, -this.log10Sum / this.tokens);
  }

  /** 10^(-Σ log10 p / N) over the known words only: the unknown words leave both sum and count. */
  get perplexityExcludingOov(): number {
    const n = this.tokens - this.oov;
    return n === 0 ? NaN : Math.pow(10, -(this.log10Sum - this.log10SumOov) / n);
  }

  /** Cross-entropy in bits per token, OOVs included. */
  get entropyBits(): number {
    return (-this.log10Sum / this.tokens) * Math.log2(10);
  }
}

/**
 * Perplexity over a token stream (`<s> w… </s>` sentences, as `Corpus.tokens`), through the
 * model's fast path when it has one. Buffers are reused: no allocation per token.
 *
 * @example
 * ```ts
 * import { scoreTokens } from 'kotoba';
 * import { loadModel, readCorpus } from 'kotoba/node';
 * const model = await loadModel('wiki.arpa');
 * const test = await readCorpus('wiki.test.txt', { vocab: model.vocab }); // unknown words → <unk>
 * const acc = scoreTokens(model, test.tokens);
 * console.log(acc.perplexity, acc.perplexityExcludingOov, acc.oov);
 * ```
 */
export function scoreTokens(lm: LanguageModel<unknown>, tokens: Uint32Array): PerplexityAccumulator {
  const acc = new PerplexityAccumulator();
  let log10 = new Float64Array(256);
  for (let i = 0; i < tokens.length; ) {
    // tokens[i] is <s>; the sentence runs to its </s>.
    let end = i + 1;
    while (tokens[end] !== EOS) end++;
    const words = tokens.subarray(i + 1, end + 1);
    if (words.length > log10.length) log10 = new Float64Array(words.length * 2);
    scoreWords(lm, words, log10);
    acc.addSentence(words, log10, words.length);
    i = end + 1;
  }
  return acc;
}

/**
 * Perplexity of `lm` over sentences of word ids (without `<s>`/`</s>`).
 *
 * @example
 * ```ts
 * // runs
 * import { BackoffModel, corpusFromText, estimate, perplexity, splitWords } from 'kotoba';
 * const corpus = corpusFromText(['私 は 読書 が 好き だ', '1900年代 は 20世紀 だ']);
 * const model = BackoffModel.fromTables(estimate(corpus, { order: 2, smoothing: 'wb' }));
 * const acc = perplexity(model, [splitWords('私 は 猫 だ').map((w) => model.vocab.id(w))]);
 * console.log(acc.perplexity, acc.oov); // 猫 is unknown: acc.oov is 1
 * ```
 */
export function perplexity(
  lm: LanguageModel<unknown>,
  sentences: Iterable<ArrayLike<number>>,
): PerplexityAccumulator {
  const acc = new PerplexityAccumulator();
  for (const ids of sentences) {
    const { words } = scoreSentence(lm, ids);
    acc.addSentence(
      words.map((w) => w.id),
      words.map((w) => w.log10),
    );
  }
  return acc;
}

export { BOS, EOS, UNK };
