/**
 * A backoff n-gram model as plain tables, one per order: the words of each n-gram, its log10
 * probability and its log10 backoff weight. This is what ARPA files hold; estimation produces
 * it, the ARPA reader produces it, and the query model and the binary format are built from it.
 */
import type { TokenizeOptions } from '../text/tokenize.js';
import type { Vocabulary } from '../text/vocabulary.js';

/** The n-grams of one order as parallel arrays: words, log10 probabilities, log10 backoffs. */
export interface NgramOrderTable {
  order: number;
  size: number;
  /** size × order word ids, row-major. */
  words: Uint32Array;
  /** log10 p(w_n | w_1 … w_{n-1}); -Infinity for probability 0. */
  log10Prob: Float32Array;
  /** log10 backoff weight of the n-gram as a context; 0 at the top order. */
  log10Backoff: Float32Array;
  /**
   * Optional links, when the producer knows them (estimation does): the row, in the order below,
   * of each n-gram's context (its first order−1 words) and of its suffix (its last order−1
   * words). They spare the query model a hash lookup per word when it is built.
   */
  contextRow?: Int32Array;
  suffixRow?: Int32Array;
}

/** A backoff n-gram model as tables, one per order: what an ARPA file holds. */
export interface NgramTables {
  vocab: Vocabulary;
  /** orders[k-1] holds the k-grams; orders[0] holds one unigram per vocabulary id. */
  orders: NgramOrderTable[];
  /** A short description of how the model was made (kept in the binary format, shown by `info`). */
  description: string;
  /** How the training text was split into words; undefined when unknown (see LanguageModel.text). */
  text?: TokenizeOptions;
}

/**
 * A zero-filled table for `size` n-grams of order `order`.
 *
 * @example
 * ```ts
 * // runs
 * import { arpaText, emptyOrder, Vocabulary } from 'kotoba';
 * const vocab = Vocabulary.fromWords(['<unk>', '<s>', '</s>', 'a']);
 * const unigrams = emptyOrder(1, vocab.size); // one row per word id
 * unigrams.words.set([0, 1, 2, 3]);
 * unigrams.log10Prob.set([-2, 0, -0.5, -0.17]); // <s> is never predicted: 0, as KenLM writes it
 * console.log(await arpaText({ vocab, orders: [unigrams], description: 'a hand-made unigram model' }));
 * ```
 */
export function emptyOrder(order: number, size: number): NgramOrderTable {
  return {
    order,
    size,
    words: new Uint32Array(size * order),
    log10Prob: new Float32Array(size),
    log10Backoff: new Float32Array(size),
  };
}
