/**
 * Splitting text into words. The default splits on U+0020 SPACE and TAB only (runs collapse):
 * `/\s+/` would also split on U+FEFF, U+00A0 and U+3000, which real corpora contain as tokens,
 * and change their published counts. Unsegmented text (Japanese, Chinese) can be split into
 * words with the platform's `Intl.Segmenter` instead (segment.ts).
 */
import { checkSegmentLocale, detectSegmentLocale, SEGMENT_AUTO, segmentWords } from './segment.js';

/** How lines are split into words. */
export interface TokenizeOptions {
  /** Lowercase every word (locale-independent). */
  lowercase?: boolean;
  /**
   * Segment with `Intl.Segmenter` at word granularity for this locale (`ja`, `zh`, …), or
   * `auto` to pick a locale per line from its script (segment.ts). Absent: split on spaces and tabs.
   */
  segment?: string;
}

const SPACE = 0x20;
const TAB = 0x09;

/**
 * Calls `visit` for each word of a line split on spaces and tabs, in order, without building an
 * array: a corpus line of millions of words costs its ids, not an array of strings.
 *
 * @example
 * ```ts
 * // runs
 * import { forEachWord } from 'kotoba';
 * let words = 0;
 * forEachWord('  私 は\t読書 が ', () => words++); // words === 4
 * ```
 */
export function forEachWord(line: string, visit: (word: string) => void): void {
  let start = -1;
  for (let i = 0; i < line.length; i++) {
    const c = line.charCodeAt(i);
    if (c === SPACE || c === TAB) {
      if (start >= 0) {
        visit(line.slice(start, i));
        start = -1;
      }
    } else if (start < 0) {
      start = i;
    }
  }
  if (start >= 0) visit(line.slice(start));
}

/**
 * Splits a line on spaces and tabs, dropping empty strings.
 *
 * @example
 * ```ts
 * // runs
 * import { splitWords } from 'kotoba';
 * splitWords('  私 は\t読書 が  好き だ '); // ['私', 'は', '読書', 'が', '好き', 'だ']
 * splitWords('全角\u3000スペース');         // ['全角\u3000スペース']: U+3000 is not a separator
 * ```
 */
export function splitWords(line: string): string[] {
  const out: string[] = [];
  forEachWord(line, (w) => out.push(w));
  return out;
}

export { segmentWords } from './segment.js';

/** Visits the words of a line in order (see `wordVisitor`). */
export type WordVisitor = (line: string, visit: (word: string) => void) => void;

/**
 * The words of a line for the given options, visited one by one: what `tokenizer` collects
 * into an array, for callers that keep only each word's id.
 *
 * @example
 * ```ts
 * // runs
 * import { wordVisitor } from 'kotoba';
 * const ids: number[] = [];
 * wordVisitor({ lowercase: true })('The cat SAT', (w) => ids.push(w.length)); // ids: [3, 3, 3]
 * ```
 */
export function wordVisitor(options: TokenizeOptions = {}): WordVisitor {
  const { lowercase = false, segment } = options;
  let each: WordVisitor = forEachWord;
  if (segment) {
    // Checked now, so that a bad locale fails before any text is read.
    checkSegmentLocale(segment === SEGMENT_AUTO ? 'ja' : segment);
    each = (line, visit) => {
      const locale = segment === SEGMENT_AUTO ? detectSegmentLocale(line) : segment;
      if (locale) for (const w of segmentWords(line, locale)) visit(w);
      else forEachWord(line, visit);
    };
  }
  return lowercase ? (line, visit) => each(line.toLowerCase(), visit) : each;
}

/**
 * A tokenizer for the given options: line in, words out.
 *
 * @example
 * ```ts
 * // runs
 * import { tokenizer } from 'kotoba';
 * tokenizer({ lowercase: true })('The cat SAT'); // ['the', 'cat', 'sat']
 * tokenizer({ segment: 'ja' })('私は読書が好きだ'); // ['私', 'は', '読書', 'が', '好き', 'だ']
 * tokenizer({ segment: 'auto' });                  // ja or zh per line by script, else spaces
 * ```
 */
export function tokenizer(options: TokenizeOptions = {}): (line: string) => string[] {
  const each = wordVisitor(options);
  if (each === forEachWord) return splitWords;
  return (line) => {
    const words: string[] = [];
    each(line, (w) => words.push(w));
    return words;
  };
}
