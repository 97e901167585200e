import { KotobaError } from '../errors.js';

/** Word id of `<unk>`, the unknown word. Fixed, as in KenLM. */
export const UNK = 0;
/** Word id of `<s>`, the sentence start: context only, never scored. */
export const BOS = 1;
/** Word id of `</s>`, the sentence end: scored and counted like a word. */
export const EOS = 2;

/** Spelling of the unknown word in text and ARPA files. */
export const UNK_WORD = '<unk>';
/** Spelling of the sentence start. */
export const BOS_WORD = '<s>';
/** Spelling of the sentence end. */
export const EOS_WORD = '</s>';

/**
 * A bijection between words and dense integer ids. Ids 0, 1, 2 are always `<unk>`, `<s>`,
 * `</s>`; other words get ids in order of first appearance (the order KenLM uses, which fixes
 * the order of n-grams in its ARPA files).
 *
 * @example
 * ```ts
 * // runs
 * import { Vocabulary } from 'kotoba';
 * const vocab = new Vocabulary();
 * vocab.add('私'); // 3
 * vocab.id('猫');  // 0: unknown words map to <unk>
 * ```
 */
export class Vocabulary {
  private readonly words: string[] = [UNK_WORD, BOS_WORD, EOS_WORD];
  private readonly ids = new Map<string, number>([
    [UNK_WORD, UNK],
    [BOS_WORD, BOS],
    [EOS_WORD, EOS],
  ]);
  /** When closed, `add` maps new words to `<unk>` instead of growing the vocabulary. */
  closed = false;

  /**
   * Builds a vocabulary from words listed in id order (ids 0..2 must be the specials, or absent).
   *
   * @example
   * ```ts
   * // runs
   * import { Vocabulary } from 'kotoba';
   * const vocab = Vocabulary.fromWords(['<unk>', '<s>', '</s>', '私', 'は']);
   * vocab.id('は'); // 4
   * vocab.closed = true; // a fixed word list: add('猫') now returns 0 (<unk>)
   * ```
   */
  static fromWords(words: Iterable<string>): Vocabulary {
    const vocab = new Vocabulary();
    for (const w of words) vocab.add(w);
    return vocab;
  }

  /** Number of word types, the three specials included. */
  get size(): number {
    return this.words.length;
  }

  /** Id of `word`, or `UNK` when it is not in the vocabulary. */
  id(word: string): number {
    return this.ids.get(word) ?? UNK;
  }

  /** Whether `word` is in the vocabulary (`<unk>`, `<s>` and `</s>` always are). */
  has(word: string): boolean {
    return this.ids.has(word);
  }

  /**
   * Id of `word`, or -1 when it is not in the vocabulary (one lookup, where `has` then `id`
   * would take two).
   *
   * @example
   * ```ts
   * import { Vocabulary } from 'kotoba';
   * const vocab = Vocabulary.fromWords(['猫']);
   * vocab.find('猫'); // 3
   * vocab.find('犬'); // -1
   * ```
   */
  find(word: string): number {
    return this.ids.get(word) ?? -1;
  }

  /**
   * Id of `word`, adding it when it is new and the vocabulary is not closed.
   *
   * @example
   * ```ts
   * // runs
   * import { splitWords, Vocabulary } from 'kotoba';
   * const vocab = new Vocabulary();
   * const ids = splitWords('私 は 読書 が 好き だ').map((w) => vocab.add(w)); // [3, 4, 5, 6, 7, 8]
   * ```
   */
  add(word: string): number {
    const found = this.ids.get(word);
    if (found !== undefined) return found;
    if (this.closed) return UNK;
    const id = this.words.length;
    this.words.push(word);
    this.ids.set(word, id);
    return id;
  }

  /**
   * The word with id `id`; a KotobaError for an id outside the vocabulary.
   *
   * @example
   * ```ts
   * import type { Vocabulary } from 'kotoba';
   * declare const vocab: Vocabulary;
   * declare const ids: Uint32Array;
   * const text = Array.from(ids, (id) => vocab.word(id)).join(' '); // '<s> 私 は … </s>'
   * ```
   */
  word(id: number): string {
    const w = this.words[id];
    if (w === undefined) throw new KotobaError(`word id ${id} is outside the vocabulary of ${this.words.length} words`);
    return w;
  }

  /** All words in id order (a copy). */
  list(): string[] {
    return this.words.slice();
  }
}
