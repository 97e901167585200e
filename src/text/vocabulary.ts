import { KotobaError } from '../errors.js';

/** Word id of `<unk>`, the unknown word. Fixed, as in KenLM. */
export const UNK = 0;
/** Word id of `<s>`, the sentence start: context only, never scored. */
export const BOS = 1;
/** Word id of `</s>`, the sentence end: scored and counted like a word. */
export const EOS = 2;

export const UNK_WORD = '<unk>';
export const BOS_WORD = '<s>';
export const EOS_WORD = '</s>';

/**
 * A bijection between words and dense integer ids. Ids 0, 1, 2 are always `<unk>`, `<s>`,
 * `</s>`; other words get ids in order of first appearance (the order KenLM uses, which fixes
 * the order of n-grams in its ARPA files).
 *
 * @example
 * const vocab = new Vocabulary();
 * vocab.add('私'); // 3
 * vocab.id('猫');  // 0: unknown words map to <unk>
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

  /** Builds a vocabulary from words listed in id order (ids 0..2 must be the specials, or absent). */
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

  has(word: string): boolean {
    return this.ids.has(word);
  }

  /** Id of `word`, adding it when it is new and the vocabulary is not closed. */
  add(word: string): number {
    const found = this.ids.get(word);
    if (found !== undefined) return found;
    if (this.closed) return UNK;
    const id = this.words.length;
    this.words.push(word);
    this.ids.set(word, id);
    return id;
  }

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
