/**
 * UTF-8 lines to word ids without decoding them: the fast way from a text file to a model's ids
 * when words are split on spaces and tabs (no `--lowercase`, no `--segment`). It gives the ids
 * and the errors that decoding, `splitWords` and `CorpusBuilder` give: a byte-order mark at the
 * start of the text is skipped, a CR before the LF is dropped, `<s>` and `</s>` are accepted
 * only at the ends of a line, and invalid UTF-8 is an error naming the line. Only unknown words
 * need checking for valid UTF-8: a known word's bytes are a vocabulary word's, and the
 * separators are ASCII.
 */
import { KotobaError, at } from '../errors.js';
import { tokenizer, type TokenizeOptions } from './tokenize.js';
import { BOS, BOS_WORD, EOS, EOS_WORD, UNK, type Vocabulary } from './vocabulary.js';
import { FNV_START, fnvFinish, WordTable } from './word-table.js';

const SPACE = 0x20;
const TAB = 0x09;
// A byte-order mark is a character here: the one that may open a file is skipped before decoding.
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Lines of UTF-8 bytes to a vocabulary's word ids, one sentence per line. */
export interface LineTokenizer {
  /** The ids of the last line: its words (unknown ones as `<unk>`), then `</s>`. */
  readonly ids: Uint32Array;
  /**
   * Tokenizes the line `b[start, end)` (without its newline), line `lineNo` of the source, and
   * returns the number of ids, `</s>` included.
   */
  line(b: Uint8Array, start: number, end: number, lineNo: number): number;
  /** The words of the last line as written (the `n − 1` before `</s>`). */
  words(b: Uint8Array, n: number): string[];
  /** `ids.subarray(0, n)`, made once per length (no allocation per sentence). */
  sentence(n: number): Uint32Array;
}

/** Views of the first n ids, one per n, made again when the ids array grows. */
class Views {
  private of: Uint32Array | null = null;
  private views: Uint32Array[] = [];
  get(ids: Uint32Array, n: number): Uint32Array {
    if (ids !== this.of) {
      this.of = ids;
      this.views = [];
    }
    return (this.views[n] ??= ids.subarray(0, n));
  }
}

/**
 * The tokenizer for text options: bytes straight to ids when words are split on spaces and tabs,
 * otherwise each line decoded and split by `tokenizer(options)`.
 *
 * @example
 * ```ts
 * // runs
 * import { lineTokenizer, Vocabulary } from 'kotoba';
 * const vocab = Vocabulary.fromWords(['私', 'は', '本']);
 * const t = lineTokenizer(vocab, { segment: 'ja' }, 'text.txt');
 * const bytes = new TextEncoder().encode('私は本');
 * t.ids.subarray(0, t.line(bytes, 0, bytes.length, 1)); // [3, 4, 5, 2]
 * ```
 */
export function lineTokenizer(vocab: Vocabulary, options: TokenizeOptions = {}, source?: string): LineTokenizer {
  return options.lowercase || options.segment ? new StringTokenizer(vocab, options, source) : new ByteTokenizer(vocab, source);
}

/**
 * Splits lines of UTF-8 bytes on spaces and tabs into a vocabulary's word ids, without decoding.
 *
 * @example
 * ```ts
 * // runs
 * import { ByteTokenizer, Vocabulary } from 'kotoba';
 * const vocab = Vocabulary.fromWords(['私', 'は']);
 * const tokenizer = new ByteTokenizer(vocab, 'text.txt');
 * const bytes = new TextEncoder().encode('私 は 猫');
 * const n = tokenizer.line(bytes, 0, bytes.length, 1); // 4: 私 は <unk> </s>
 * tokenizer.ids.subarray(0, n); // [3, 4, 0, 2]
 * ```
 */
export class ByteTokenizer implements LineTokenizer {
  ids = new Uint32Array(1024);
  private readonly views = new Views();
  /** Byte offsets [start, end) of each word of the last line (for printing the words as written). */
  spans = new Int32Array(2048);
  private readonly table: WordTable;

  constructor(
    readonly vocab: Vocabulary,
    /** The text's name, for error messages. */
    readonly source?: string,
  ) {
    this.table = WordTable.fromVocabulary(vocab);
  }

  line(b: Uint8Array, start: number, end: number, lineNo: number): number {
    if (end > start && b[end - 1] === 13) end--;
    const { slotIds, slotHashes, starts, bytes } = this.table;
    const mask = slotIds.length - 1;
    let ids = this.ids;
    let spans = this.spans;
    let n = 0;
    for (let i = start; i < end; ) {
      let c = b[i]!;
      if (c === SPACE || c === TAB) {
        i++;
        continue;
      }
      // A word: its FNV hash as its bytes go by, then its slot in the vocabulary's table.
      const from = i;
      let h = FNV_START;
      do {
        h = Math.imul(h ^ c, 0x01000193);
        c = b[++i]!;
      } while (i < end && c !== SPACE && c !== TAB);
      h = fnvFinish(h);
      const length = i - from;
      let id = -1;
      for (let s = h & mask; ; s = (s + 1) & mask) {
        const candidate = slotIds[s]!;
        if (candidate < 0) break;
        if (slotHashes[s] !== h) continue;
        const at = starts[candidate]!;
        if (starts[candidate + 1]! - at !== length) continue;
        let j = 0;
        while (j < length && bytes[at + j] === b[from + j]) j++;
        if (j === length) {
          id = candidate;
          break;
        }
      }
      if (id < 0) {
        this.checkUtf8(b, from, i, lineNo);
        id = UNK;
      }
      if (n + 2 > ids.length) {
        this.grow();
        ids = this.ids;
        spans = this.spans;
      }
      ids[n] = id;
      spans[2 * n] = from;
      spans[2 * n + 1] = i;
      n++;
    }
    const m = markers(ids, n, lineNo, this.source);
    if (m < 0) {
      n = -m - 1;
      ids.copyWithin(0, 1, n + 1);
      spans.copyWithin(0, 2, 2 * n + 2);
    } else n = m;
    ids[n] = EOS;
    return n + 1;
  }

  sentence(n: number): Uint32Array {
    return this.views.get(this.ids, n);
  }

  words(b: Uint8Array, n: number): string[] {
    const out: string[] = [];
    for (let j = 0; j + 1 < n; j++) out.push(utf8.decode(b.subarray(this.spans[2 * j]!, this.spans[2 * j + 1]!)));
    return out;
  }

  private checkUtf8(b: Uint8Array, start: number, end: number, lineNo: number): void {
    let ascii = true;
    for (let i = start; i < end && ascii; i++) ascii = b[i]! < 0x80;
    if (ascii) return;
    try {
      utf8.decode(b.subarray(start, end));
    } catch {
      throw new KotobaError(`${at(this.source, lineNo)}invalid UTF-8`, 'convert the file to UTF-8, e.g. with iconv');
    }
  }

  private grow(): void {
    const ids = new Uint32Array(this.ids.length * 2);
    ids.set(this.ids);
    this.ids = ids;
    const spans = new Int32Array(this.spans.length * 2);
    spans.set(this.spans);
    this.spans = spans;
  }
}

/**
 * The number of words of a line once `<s>` opening it and `</s>` closing it are left out: n, or
 * −n − 1 when the first of `ids` (a `<s>`) is to be dropped. Any other sentence marker is an
 * error naming the line.
 */
function markers(ids: Uint32Array, n: number, lineNo: number, source: string | undefined): number {
  let start = 0;
  if (n > 0 && ids[0] === BOS) start = 1;
  if (n > start && ids[n - 1] === EOS) n--;
  for (let j = start; j < n; j++) {
    const id = ids[j]!;
    if (id === BOS || id === EOS) {
      throw new KotobaError(`${at(source, lineNo)}${id === BOS ? BOS_WORD : EOS_WORD} inside a sentence`, '<s> may only open a line and </s> only close it; remove or rename it');
    }
  }
  return start === 1 ? -(n - 1) - 1 : n;
}

/** Each line decoded (strict UTF-8) and split by `tokenizer(options)`: --lowercase, --segment. */
class StringTokenizer implements LineTokenizer {
  ids = new Uint32Array(1024);
  private readonly views = new Views();
  private last: string[] = [];
  private readonly split: (line: string) => string[];

  constructor(
    readonly vocab: Vocabulary,
    options: TokenizeOptions,
    private readonly source?: string,
  ) {
    this.split = tokenizer(options);
  }

  line(b: Uint8Array, start: number, end: number, lineNo: number): number {
    if (end > start && b[end - 1] === 13) end--;
    let text: string;
    try {
      text = utf8.decode(b.subarray(start, end));
    } catch {
      throw new KotobaError(`${at(this.source, lineNo)}invalid UTF-8`, 'convert the file to UTF-8, e.g. with iconv');
    }
    let words = this.split(text);
    if (words.length + 1 > this.ids.length) this.ids = new Uint32Array(2 * words.length + 2);
    let n = 0;
    for (const w of words) {
      const id = this.vocab.find(w);
      this.ids[n++] = id < 0 ? UNK : id;
    }
    const m = markers(this.ids, n, lineNo, this.source);
    if (m < 0) {
      n = -m - 1;
      this.ids.copyWithin(0, 1, n + 1);
      words = words.slice(1, n + 1);
    } else {
      n = m;
      words = words.slice(0, n);
    }
    this.ids[n] = EOS;
    this.last = words;
    return n + 1;
  }

  sentence(n: number): Uint32Array {
    return this.views.get(this.ids, n);
  }

  words(_b: Uint8Array, n: number): string[] {
    return this.last.slice(0, n - 1);
  }
}

/** A run of whole lines of a text, and the number of its first line (for error messages). */
export interface TextBatch {
  bytes: Uint8Array;
  firstLine: number;
}

/** Calls `each(start, end, lineNo)` for every line of the batch (ends without the LF). */
export function forEachLine(batch: TextBatch, each: (start: number, end: number, lineNo: number) => void): void {
  const b = batch.bytes;
  let lineNo = batch.firstLine;
  for (let s = 0; s < b.length; lineNo++) {
    let e = b.indexOf(10, s);
    if (e < 0) e = b.length;
    each(s, e, lineNo);
    s = e + 1;
  }
}

/** The length of a byte-order mark at `b[0]`, if any (0 or 3). */
export function bomLength(b: Uint8Array): number {
  return b.length >= 3 && b[0] === 0xef && b[1] === 0xbb && b[2] === 0xbf ? 3 : 0;
}
