/**
 * Words for unsegmented text (Japanese, Chinese, Thai, …) from the platform's `Intl.Segmenter`
 * at word granularity, so that raw text trains and scores with no external tokenizer. The same
 * code runs in Node and in the browser; the words come from the ICU data of the runtime, so two
 * runtimes with different ICU versions may split a few words differently.
 *
 * What happens to each kind of character, decided once:
 *
 * - **Spaces and tabs** (U+0020, U+0009) already in the text always separate words; each
 *   space-separated piece is then segmented further (so `1900年代 は` gives `1900 年代 は`).
 * - **Punctuation** is kept: every punctuation segment is a token (`、` `。` `「` `」` `？`), as in
 *   the segmented corpora people train on (nlptutorial's `.word` files, KyTea, MeCab).
 * - **U+3000 IDEOGRAPHIC SPACE** is kept as a token, one per character (the `.word` files keep it
 *   so, and so do the counts published for them). Every other whitespace (U+00A0, U+2000…U+200A,
 *   U+FEFF, …) is dropped.
 * - **Latin runs and digits inside Japanese** stay whole where the Unicode rules keep them whole
 *   (`JavaScript`, `ＮＬＰ`, `3.14`, `3,000`, `１９００`) and are split from the kana and kanji
 *   around them (`1900年代` → `1900` `年代`); a hyphen is a token of its own (`GPT-4` →
 *   `GPT` `-` `4`).
 * - **`auto`** looks at each line: one with kana is segmented as `ja`; one with Han characters and
 *   no kana as `zh`; Thai, Lao, Khmer and Myanmar lines as `th`, `lo`, `km`, `my`; any other line
 *   (English, Korean, which writes spaces) is split on spaces only, exactly as without
 *   `--segment`.
 */
import { KotobaError } from '../errors.js';

/** The value of `segment` that picks a locale for each line from its script. */
export const SEGMENT_AUTO = 'auto';

const SPACE = 0x20;
const TAB = 0x09;
const IDEOGRAPHIC_SPACE = '\u3000';

const segmenters = new Map<string, Intl.Segmenter>();

/**
 * Checks that `locale` can be used to segment words on this runtime, and returns it.
 * Throws a KotobaError naming the problem when the runtime has no `Intl.Segmenter`, when the
 * tag is malformed, or when `Intl.Segmenter.supportedLocalesOf` does not list it.
 *
 * @example
 * ```ts
 * import { checkSegmentLocale } from 'kotoba';
 * checkSegmentLocale('ja'); // 'ja'
 * try {
 *   checkSegmentLocale('xx');
 * } catch (e) {
 *   // KotobaError: segmentation locale 'xx' is not supported …
 * }
 * ```
 */
export function checkSegmentLocale(locale: string): string {
  if (locale === SEGMENT_AUTO) return locale;
  if (typeof Intl === 'undefined' || typeof Intl.Segmenter !== 'function') {
    throw new KotobaError(
      'this JavaScript runtime has no Intl.Segmenter, so --segment cannot split words',
      'use Node 20 or later, or a current browser (Chrome 87+, Safari 14.1+, Firefox 125+)',
    );
  }
  let supported: string[];
  try {
    supported = Intl.Segmenter.supportedLocalesOf([locale]);
  } catch {
    throw new KotobaError(`'${locale}' is not a valid locale tag for --segment`, 'use a BCP 47 tag such as ja, zh, th, or auto');
  }
  if (supported.length === 0) {
    throw new KotobaError(
      `segmentation locale '${locale}' is not supported by this runtime's Intl.Segmenter`,
      'use e.g. ja, zh, th or auto; Intl.Segmenter.supportedLocalesOf lists what this runtime has',
    );
  }
  return locale;
}

function segmenter(locale: string): Intl.Segmenter {
  let s = segmenters.get(locale);
  if (!s) {
    checkSegmentLocale(locale);
    s = new Intl.Segmenter(locale, { granularity: 'word' });
    segmenters.set(locale, s);
  }
  return s;
}

/** Appends the tokens of one whitespace-free piece to `out`. */
function segmentPiece(piece: string, seg: Intl.Segmenter, out: string[]): void {
  for (const { segment: w } of seg.segment(piece)) {
    if (w.trim() !== '') {
      out.push(w);
      continue;
    }
    // A whitespace segment: only U+3000 survives, one token per character.
    for (const c of w) if (c === IDEOGRAPHIC_SPACE) out.push(c);
  }
}

/**
 * Words of a raw line from `Intl.Segmenter` at word granularity for `locale`. Spaces and tabs
 * separate words; punctuation and U+3000 are tokens; other whitespace is dropped (see the
 * module comment for the whole list).
 *
 * @example
 * ```ts
 * import { segmentWords } from 'kotoba';
 * segmentWords('私は読書が好きだ', 'ja'); // ['私', 'は', '読書', 'が', '好き', 'だ']
 * segmentWords('英語：　ＮＬＰ。', 'ja');  // ['英語', '：', '　', 'ＮＬＰ', '。']
 * ```
 */
export function segmentWords(line: string, locale: string): string[] {
  const seg = segmenter(locale);
  const out: string[] = [];
  let start = -1;
  for (let i = 0; i <= line.length; i++) {
    const c = i < line.length ? line.charCodeAt(i) : SPACE;
    if (c === SPACE || c === TAB) {
      if (start >= 0) segmentPiece(line.slice(start, i), seg, out);
      start = -1;
    } else if (start < 0) {
      start = i;
    }
  }
  return out;
}

// Scripts written without spaces between words, most specific first: kana means Japanese even
// when the line has kanji too.
const AUTO_SCRIPTS: [RegExp, string][] = [
  [/[\p{Script=Hiragana}\p{Script=Katakana}]/u, 'ja'],
  [/\p{Script=Han}/u, 'zh'],
  [/\p{Script=Thai}/u, 'th'],
  [/\p{Script=Lao}/u, 'lo'],
  [/\p{Script=Khmer}/u, 'km'],
  [/\p{Script=Myanmar}/u, 'my'],
];

/**
 * The locale `auto` uses for a line: `ja` for a line with kana, `zh` for Han without kana,
 * `th`/`lo`/`km`/`my` for those scripts, and `null` for a line that writes spaces between its
 * words (it is split on spaces only).
 *
 * @example
 * ```ts
 * import { detectSegmentLocale } from 'kotoba';
 * detectSegmentLocale('私は猫だ');       // 'ja'
 * detectSegmentLocale('我喜欢读书');     // 'zh'
 * detectSegmentLocale('the cat sat');   // null
 * ```
 */
export function detectSegmentLocale(line: string): string | null {
  for (const [re, locale] of AUTO_SCRIPTS) if (re.test(line)) return locale;
  return null;
}

/** Precision, recall and F1 of predicted word boundaries against gold ones. */
export interface BoundaryAgreement {
  precision: number;
  recall: number;
  f1: number;
  /** Boundaries in both. */
  matched: number;
  predicted: number;
  gold: number;
  /** Lines compared. */
  lines: number;
}

/**
 * Word-boundary agreement of two segmentations of the same lines: each line's boundaries are the
 * character offsets between adjacent words (the line's start and end are not counted), and the
 * counts are summed over all lines (micro-averaged). Lines whose words do not concatenate to the
 * same text in both are an error.
 *
 * @example
 * ```ts
 * import { boundaryAgreement } from 'kotoba';
 * const a = boundaryAgreement([['私', 'は', '猫']], [['私は', '猫']]);
 * // gold boundaries {1, 2}, predicted {2}: precision 1, recall 0.5
 * console.log(a);
 * ```
 */
export function boundaryAgreement(gold: readonly (readonly string[])[], predicted: readonly (readonly string[])[]): BoundaryAgreement {
  if (gold.length !== predicted.length) {
    throw new KotobaError(`boundary agreement needs the same number of lines, got ${gold.length} and ${predicted.length}`);
  }
  let matched = 0;
  let nPredicted = 0;
  let nGold = 0;
  for (let i = 0; i < gold.length; i++) {
    const g = gold[i]!;
    const p = predicted[i]!;
    if (g.join('') !== p.join('')) {
      throw new KotobaError(`line ${i + 1}: the two segmentations are of different text`, 'compare segmentations of the same lines');
    }
    const gb = boundaries(g);
    const pb = boundaries(p);
    for (const b of pb) if (gb.has(b)) matched++;
    nPredicted += pb.size;
    nGold += gb.size;
  }
  const precision = nPredicted === 0 ? 1 : matched / nPredicted;
  const recall = nGold === 0 ? 1 : matched / nGold;
  const f1 = precision + recall === 0 ? 0 : (2 * precision * recall) / (precision + recall);
  return { precision, recall, f1, matched, predicted: nPredicted, gold: nGold, lines: gold.length };
}

/** Offsets (in UTF-16 code units) between adjacent words. */
function boundaries(words: readonly string[]): Set<number> {
  const out = new Set<number>();
  let offset = 0;
  for (let i = 0; i < words.length - 1; i++) {
    offset += words[i]!.length;
    out.add(offset);
  }
  return out;
}
