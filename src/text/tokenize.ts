/**
 * Splitting text into words. The default splits on U+0020 SPACE and TAB only (runs collapse):
 * `/\s+/` would also split on U+FEFF, U+00A0 and U+3000, which real corpora contain as tokens,
 * and change their published counts. Unsegmented text (Japanese, Chinese) can be split into
 * words with the platform's `Intl.Segmenter` instead.
 */
export interface TokenizeOptions {
  /** Lowercase every word (locale-independent). */
  lowercase?: boolean;
  /**
   * Segment with `Intl.Segmenter` at word granularity for this locale (`ja`, `zh`, …), or
   * `auto` to use it only on lines that contain CJK characters. Absent: split on spaces and tabs.
   */
  segment?: string;
}

const SPACE = 0x20;
const TAB = 0x09;

/** Splits a line on spaces and tabs, dropping empty strings. */
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

const CJK = /[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff66-\uff9f\uac00-\ud7af]/u;
const segmenters = new Map<string, Intl.Segmenter>();

function segmenter(locale: string): Intl.Segmenter {
  let s = segmenters.get(locale);
  if (!s) {
    s = new Intl.Segmenter(locale, { granularity: 'word' });
    segmenters.set(locale, s);
  }
  return s;
}

/**
 * Words of a raw line from `Intl.Segmenter`: word-like segments and punctuation are kept,
 * whitespace is dropped (spaces already in the text still separate words).
 */
export function segmentWords(line: string, locale: string): string[] {
  const out: string[] = [];
  for (const piece of splitWords(line)) {
    for (const seg of segmenter(locale).segment(piece)) {
      const w = seg.segment;
      if (w.trim() === '' && !/[\u3000\ufeff]/u.test(w)) continue;
      out.push(w);
    }
  }
  return out;
}

/** A tokenizer for the given options: line in, words out. */
export function tokenizer(options: TokenizeOptions = {}): (line: string) => string[] {
  const { lowercase = false, segment } = options;
  let split: (line: string) => string[] = splitWords;
  if (segment === 'auto') {
    split = (line) => (CJK.test(line) ? segmentWords(line, 'ja') : splitWords(line));
  } else if (segment) {
    split = (line) => segmentWords(line, segment);
  }
  if (!lowercase) return split;
  return (line) => split(line.toLowerCase());
}
