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
  let start = -1;
  for (let i = 0; i < line.length; i++) {
    const c = line.charCodeAt(i);
    if (c === SPACE || c === TAB) {
      if (start >= 0) {
        out.push(line.slice(start, i));
        start = -1;
      }
    } else if (start < 0) {
      start = i;
    }
  }
  if (start >= 0) out.push(line.slice(start));
  return out;
}

export { segmentWords } from './segment.js';

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
  const { lowercase = false, segment } = options;
  let split: (line: string) => string[] = splitWords;
  if (segment) {
    // Checked now, so that a bad locale fails before any text is read.
    checkSegmentLocale(segment === SEGMENT_AUTO ? 'ja' : segment);
    if (segment === SEGMENT_AUTO) {
      split = (line) => {
        const locale = detectSegmentLocale(line);
        return locale ? segmentWords(line, locale) : splitWords(line);
      };
    } else {
      split = (line) => segmentWords(line, segment);
    }
  }
  if (!lowercase) return split;
  return (line) => split(line.toLowerCase());
}
