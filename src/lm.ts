/**
 * The one idea: every model is a language model with a state. It starts at `<s>`; given a state
 * and a word it returns the word's log10 probability and the next state. Perplexity, sentence
 * scores, reranking, next-word lists, sampling and mixtures are written once, against this
 * interface, and work for every model family.
 */
import { KotobaError } from './errors.js';
import type { TokenizeOptions } from './text/tokenize.js';
import { BOS, EOS, UNK, type Vocabulary } from './text/vocabulary.js';

/**
 * How a text is scored: `sentence`, each line on its own from `<s>` (the n-gram models' way, and
 * the default), or `stream`, the state carried from line to line with `</s>` as the line break
 * (Mikolov's RNNLM, Zaremba et al. and PyTorch's word_language_model score text this way).
 */
export type Context = 'sentence' | 'stream';

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
  /**
   * How the model's text was split into words (lowercased, segmented), as stored in its file:
   * text given to the model must be split the same way, e.g. with `tokenizer(lm.text)`.
   * Undefined when unknown (an ARPA file from another toolkit, an older kotoba file).
   */
  readonly text?: TokenizeOptions;
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
  /** The context the model was trained in: how `kotoba ppl` scores with it unless told otherwise (absent: sentence). */
  readonly context?: Context;
  /**
   * Stream context, for models whose state can span lines (recurrent and Transformer models):
   * scores `words` (ids, `</s>` ending each line) continuing from `state`, the state after the
   * previous line's `</s>` (null: the start of the text, {@link LanguageModel.begin}), writes
   * log10 p of each word into `log10Out` and returns the state after the last word.
   */
  scoreStream?(state: S | null, words: Uint32Array, log10Out: Float64Array): S;
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
 * Scores word ids from the `<s>` state — a sentence without `<s>`, ending with `</s>` when it is
 * complete — through the model's fast path where it has one: log10 p of each word into
 * `log10Out`, the matched n-gram length into `ngramOut` (0 where it has no meaning). Returns
 * the total, summed in float32 as KenLM's query sums it. No allocation: the arrays are the
 * caller's, so a sentence of millions of words costs 13 bytes per word.
 *
 * @example
 * ```ts
 * // runs
 * import { BackoffModel, corpusFromText, EOS, estimate, scoreWordIds } from 'kotoba';
 * const model = BackoffModel.fromTables(estimate(corpusFromText(['a b c', 'a c']), { order: 2 }));
 * const words = Uint32Array.of(model.vocab.id('a'), model.vocab.id('c'), EOS);
 * const log10 = new Float64Array(words.length);
 * const total = scoreWordIds(model, words, log10); // log10 p(a c </s>), and each word's in log10
 * ```
 */
export function scoreWordIds(lm: LanguageModel<unknown>, words: Uint32Array, log10Out: Float64Array, ngramOut?: Uint8Array): number {
  const n = words.length;
  if (lm.scoreSentence) {
    lm.scoreSentence(words, log10Out, ngramOut);
  } else {
    let state = lm.begin();
    for (let i = 0; i < n; i++) {
      const r = lm.score(state, words[i]!);
      log10Out[i] = r.log10;
      if (ngramOut) ngramOut[i] = r.ngram ?? 0;
      state = r.next;
    }
  }
  let total = 0;
  for (let i = 0; i < n; i++) total = Math.fround(total + log10Out[i]!);
  return total;
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
  const words = lineWords(ids, withEnd);
  const log10 = new Float64Array(words.length);
  const ngram = new Uint8Array(words.length);
  scoreWordIds(lm, words, log10, ngram);
  return wordScores(lm, words, log10, ngram, ids.length, surface);
}

/**
 * Scores one line in stream context: continuing from `state`, the state after the previous
 * line's `</s>` (null for the first line of a text), as `kotoba score --context stream` does.
 * Returns what {@link scoreSentence} returns and the state after this line's `</s>`.
 *
 * @example
 * ```ts
 * import { scoreLine, type LanguageModel } from 'kotoba';
 * declare const lm: LanguageModel; // a recurrent or Transformer model
 * let state: unknown = null;
 * for (const line of [['the', 'cat', 'sat'], ['it', 'slept']]) {
 *   const r = scoreLine(lm, line.map((w) => lm.vocab.id(w)), state, line);
 *   console.log(r.total); // log10 p(line | the lines before it)
 *   state = r.next;
 * }
 * ```
 */
export function scoreLine<S>(
  lm: LanguageModel<S>,
  ids: ArrayLike<number>,
  state: S | null,
  surface?: readonly string[],
): { total: number; words: WordScore[]; next: S } {
  if (!lm.scoreStream) throw new KotobaError(`the ${lm.description} scores each line on its own`, STREAM_MODELS);
  const words = lineWords(ids, true);
  const log10 = new Float64Array(words.length);
  const next = lm.scoreStream(state, words, log10);
  return { ...wordScores(lm, words, log10, null, ids.length, surface), next };
}

/** What `--context stream` needs, for errors. */
const STREAM_MODELS = '--context stream needs a model whose state spans lines: rnn, gru, lstm or transformer';

/** ids (and `</s>` when `withEnd`) as the Uint32Array the fast paths take. */
function lineWords(ids: ArrayLike<number>, withEnd: boolean): Uint32Array {
  const n = ids.length + (withEnd ? 1 : 0);
  const words = new Uint32Array(n);
  for (let i = 0; i < ids.length; i++) words[i] = ids[i]!;
  if (withEnd) words[n - 1] = EOS;
  return words;
}

/** The per-word detail and the total, summed in float32 as KenLM's query sums it. */
function wordScores(
  lm: LanguageModel<unknown>, words: Uint32Array, log10: Float64Array, ngram: Uint8Array | null, given: number, surface?: readonly string[],
): { total: number; words: WordScore[] } {
  const n = words.length;
  let total = 0;
  for (let i = 0; i < n; i++) total = Math.fround(total + log10[i]!);
  const out: WordScore[] = [];
  for (let i = 0; i < n; i++) {
    const id = words[i]!;
    const word = i < given && surface ? surface[i]! : lm.vocab.word(id);
    const w: WordScore = { word, id, log10: log10[i]!, oov: id === UNK };
    if (ngram && ngram[i]) w.ngram = ngram[i]!;
    out.push(w);
  }
  return { total, words: out };
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
 * model's fast path when it has one, in the model's own context unless `context` says otherwise
 * (see {@link Context}). Buffers are reused: no allocation per token.
 *
 * @example
 * ```ts
 * import { scoreTokens } from 'kotoba';
 * import { loadModel, readCorpus } from 'kotoba/node';
 * const model = await loadModel('wiki.arpa');
 * const test = await readCorpus('wiki.test.txt', { ...model.text, vocab: model.vocab }); // unknown words → <unk>
 * const acc = scoreTokens(model, test.tokens);
 * console.log(acc.perplexity, acc.perplexityExcludingOov, acc.oov);
 * ```
 */
export function scoreTokens(lm: LanguageModel<unknown>, tokens: Uint32Array, context: Context = lm.context ?? 'sentence'): PerplexityAccumulator {
  if (context === 'stream') return scoreStream(lm, tokens, null).acc;
  return accumulateLines(tokens, (words, log10) => scoreWordIds(lm, words, log10));
}

/**
 * Perplexity over a token stream in stream context: each line continues from the state after
 * the line before (`state`, null at the start of the text). Returns the totals and the state
 * after the last line, to continue with the next part of the text.
 *
 * @example
 * ```ts
 * import { scoreStream, type Corpus, type LanguageModel } from 'kotoba';
 * declare const lm: LanguageModel;       // a recurrent or Transformer model
 * declare const parts: Corpus[];          // one text read in parts, with lm.vocab
 * let state: unknown = null;
 * for (const part of parts) {
 *   const r = scoreStream(lm, part.tokens, state);
 *   console.log(r.acc.perplexity);
 *   state = r.state;
 * }
 * ```
 */
export function scoreStream<S>(lm: LanguageModel<S>, tokens: Uint32Array, state: S | null): { acc: PerplexityAccumulator; state: S | null } {
  const scoreStream = lm.scoreStream?.bind(lm);
  if (!scoreStream) throw new KotobaError(`the ${lm.description} scores each line on its own`, STREAM_MODELS);
  const acc = accumulateLines(tokens, (words, log10) => {
    state = scoreStream(state, words, log10);
  });
  return { acc, state };
}

/**
 * The totals over the lines of a token stream (`<s> w… </s>` each): `score` fills log10 p of
 * the line's words (the ids after `<s>`, `</s>` included) in a buffer reused from line to line.
 */
function accumulateLines(tokens: Uint32Array, score: (words: Uint32Array, log10: Float64Array) => void): PerplexityAccumulator {
  const acc = new PerplexityAccumulator();
  let log10 = new Float64Array(256);
  for (let i = 0; i < tokens.length; ) {
    // tokens[i] is <s>; the sentence runs to its </s>, or to the end of a stream cut short (a
    // part of a text, as validation slices take): its words are scored without a </s>.
    let end = i + 1;
    while (end < tokens.length && tokens[end] !== EOS) end++;
    const words = tokens.subarray(i + 1, end + 1);
    // Grown geometrically over sentences, but never to twice one long sentence (a line may hold millions of words).
    if (words.length > log10.length) log10 = new Float64Array(Math.max(words.length, 2 * log10.length));
    score(words, log10);
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
