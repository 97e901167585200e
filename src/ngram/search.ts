/**
 * What a query structure of a backoff n-gram model provides. `BackoffModel` is the one model
 * class; its data structure is one of KenLM's two, a format rather than a class of its own:
 *
 *   probing   hash tables, one per order (probing.ts): the fastest
 *   trie      sorted bit-packed arrays, optionally quantized (trie.ts): the smallest
 *
 * Ids are the structure's own, with one rule shared by both: a unigram's id is its word id, and
 * every other n-gram has an id of at least the vocabulary size. A state is the id of the longest
 * n-gram of the history that the model still needs (or -1 for none), so it is one integer.
 */
import type { PerplexityRecord, Scored } from '../lm.js';
import type { Vocabulary } from '../text/vocabulary.js';

/** The query structures a model can have. */
export type NgramFormat = 'probing' | 'trie';

/** Quantization of a trie's values (KenLM's `-q`/`-b`): bits per probability and per backoff. */
export interface Quantization {
  probBits: number;
  backoffBits: number;
}

export interface NgramSearch {
  readonly format: NgramFormat;
  readonly order: number;
  readonly vocabSize: number;
  /** Real n-grams per order, unigrams first (blanks not counted). */
  readonly counts: number[];
  /** Present when values are quantized (trie only). */
  readonly quantization?: Quantization;
  /** Bytes of the structure's arrays (what the file holds, vocabulary aside). */
  readonly byteLength: number;
  begin(): number;
  score(state: number, word: number): Scored<number>;
  scoreSentence(words: Uint32Array, log10Out: Float64Array, ngramOut?: Uint8Array): number;
  /** `LanguageModel.perplexityOfBytes`, where the structure has it (with the model's vocabulary). */
  perplexityOfBytes?(vocab: Vocabulary, bytes: Uint8Array, firstLine: number, source?: string): PerplexityRecord | null;
  /** Id of the n-gram with these words (a blank too), or -1. */
  lookup(words: ArrayLike<number>): number;
  log10Prob(id: number): number;
  log10Backoff(id: number): number;
  /** The n-gram's words, in text order. */
  wordsOf(id: number): number[];
  /** Id of the n-gram without its first word; -1 for a unigram. */
  suffixOf(id: number): number;
  /** The n-gram's first word (a unigram's: itself). */
  firstWord(id: number): number;
  /** Where the n-gram sits among the positions of its order: 0 ≤ position < positions(k). */
  positionOf(id: number): number;
  positions(k: number): number;
  /** True for a blank: an n-gram the source lacked, inserted so that its extensions are found. */
  isBlank(id: number): boolean;
  /** The length scoring reports when this n-gram matches: its order, or for a blank the order of what really matched. */
  matchedLength(id: number): number;
  /** Whether a state keeps this n-gram: it is a context of a longer one, or its backoff is not zero. */
  extendsAt(id: number): boolean;
  /** The ids of every n-gram of order k ≥ 2 (blanks included), in the structure's own order. */
  idsOfOrder(k: number): Int32Array;
}
