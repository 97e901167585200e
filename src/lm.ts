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

/** Scores one sentence (ids without `<s>`; `</s>` is appended when `withEnd`). */
export function scoreSentence(
  lm: LanguageModel<unknown>,
  ids: ArrayLike<number>,
  withEnd = true,
): { total: number; words: WordScore[] } {
  const n = ids.length + (withEnd ? 1 : 0);
  const words = new Uint32Array(n);
  for (let i = 0; i < ids.length; i++) words[i] = ids[i]!;
  if (withEnd) words[n - 1] = EOS;
  const log10 = new Float64Array(n);
  const ngram = new Uint8Array(n);
  let total: number;
  if (lm.scoreSentence) {
    total = lm.scoreSentence(words, log10, ngram);
  } else {
    total = 0;
    let state = lm.begin();
    for (let i = 0; i < n; i++) {
      const r = lm.score(state, words[i]!);
      log10[i] = r.log10;
      ngram[i] = r.ngram ?? 0;
      total += r.log10;
      state = r.next;
    }
  }
  const out: WordScore[] = [];
  for (let i = 0; i < n; i++) {
    const id = words[i]!;
    const w: WordScore = { word: lm.vocab.word(id), id, log10: log10[i]!, oov: id === UNK };
    if (ngram[i]) w.ngram = ngram[i]!;
    out.push(w);
  }
  return { total, words: out };
}

/**
 * Running totals for perplexity, counted the way KenLM's `query` counts: every word and one
 * `</s>` per sentence are tokens; `<s>` is context only. "Excluding OOVs" drops the unknown
 * words from both the sum and the count.
 */
export class PerplexityAccumulator {
  /** Sum of log10 p over all tokens. */
  log10Sum = 0;
  /** Sum of log10 p over the tokens that are in the vocabulary. */
  log10SumInVocab = 0;
  tokens = 0;
  oov = 0;
  sentences = 0;
  /** Tokens with probability 0 (log10 = -Infinity). */
  zeroProbability = 0;

  add(id: number, log10: number): void {
    this.tokens++;
    this.log10Sum += log10;
    if (log10 === -Infinity) this.zeroProbability++;
    if (id === UNK) this.oov++;
    else this.log10SumInVocab += log10;
  }

  /** Adds a scored sentence: `words` and their log10 scores, `</s>` included. */
  addSentence(words: ArrayLike<number>, log10: ArrayLike<number>, n = words.length): void {
    this.sentences++;
    for (let i = 0; i < n; i++) this.add(words[i]!, log10[i]!);
  }

  /** 10^(-Σ log10 p / N), OOVs included. Infinity when some token has probability 0. */
  get perplexity(): number {
    return this.tokens === 0 ? NaN : Math.pow(10, -this.log10Sum / this.tokens);
  }

  get perplexityExcludingOov(): number {
    const n = this.tokens - this.oov;
    return n === 0 ? NaN : Math.pow(10, -this.log10SumInVocab / n);
  }

  /** Cross-entropy in bits per token, OOVs included. */
  get entropyBits(): number {
    return (-this.log10Sum / this.tokens) * Math.log2(10);
  }
}

/** Perplexity of `lm` over sentences of word ids (without `<s>`/`</s>`). */
export function perplexity(
  lm: LanguageModel<unknown>,
  sentences: Iterable<ArrayLike<number>>,
): PerplexityAccumulator {
  const acc = new PerplexityAccumulator();
  for (const ids of sentences) {
    const { words } = scoreSentence(lm, ids);
    acc.sentences++;
    for (const w of words) acc.add(w.id, w.log10);
  }
  return acc;
}

export { BOS, EOS, UNK };
