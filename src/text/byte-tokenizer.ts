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
import { FNV_START, fnvStep, WordTable } from './word-table.js';

const SPACE = 0x20;
const TAB = 0x09;
const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Lines of UTF-8 bytes to a vocabulary's word ids, one sentence per line. */
export interface LineTokenizer {
  /** The ids of the last line: its words (unknown ones as `<unk>`), then `</s>`. */
  readonly ids: Uint32Array;
  /** Per word of the last line: 1 when it is not in the vocabulary. */
  readonly unknown: Uint8Array;
  /**
   * Tokenizes the line `b[start, end)` (without its newline), line `lineNo` of the source, and
   * returns the number of ids, `</s>` included.
   */
  line(b: Uint8Array, start: number, end: number, lineNo: number): number;
  /** The words of the last line as written (the `n − 1` before `</s>`). */
  words(b: Uint8Array, n: number): string[];
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
  /** Byte offsets [start, end) of each word of the last line (for printing the words as written). */
  spans = new Int32Array(2048);
  unknown = new Uint8Array(1024);
  private readonly table: WordTable;

  constructor(
    readonly vocab: Vocabulary,
    private readonly source?: string,
  ) {
    this.table = WordTable.fromVocabulary(vocab);
  }

  line(b: Uint8Array, start: number, end: number, lineNo: number): number {
    if (end > start && b[end - 1] === 13) end--;
    let n = 0;
    let i = start;
    for (;;) {
      while (i < end && (b[i] === SPACE || b[i] === TAB)) i++;
      if (i >= end) break;
      const from = i;
      let h = FNV_START;
      for (; i < end; i++) {
        const c = b[i]!;
        if (c === SPACE || c === TAB) break;
        h = fnvStep(h, c);
      }
      if (n + 2 > this.ids.length) this.grow();
      let id = this.table.findHashed(b, from, i, h);
      this.unknown[n] = id < 0 ? 1 : 0;
      if (id < 0) {
        this.checkUtf8(b, from, i, lineNo);
        id = UNK;
      }
      this.ids[n] = id;
      this.spans[2 * n] = from;
      this.spans[2 * n + 1] = i;
      n++;
    }
    const first = markers(this.ids, n, lineNo, this.source);
    n = first.end;
    if (first.start === 1) {
      this.ids.copyWithin(0, 1, n);
      this.spans.copyWithin(0, 2, 2 * n);
      this.unknown.copyWithin(0, 1, n);
      n--;
    }
    this.ids[n] = EOS;
    this.unknown[n] = 0;
    return n + 1;
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
    const unknown = new Uint8Array(this.unknown.length * 2);
    unknown.set(this.unknown);
    this.unknown = unknown;
  }
}

/**
 * Where a line's words are, once `<s>` opening it and `</s>` closing it are left out: any other
 * sentence marker is an error naming the line.
 */
function markers(ids: Uint32Array, n: number, lineNo: number, source: string | undefined): { start: number; end: number } {
  let start = 0;
  if (n > 0 && ids[0] === BOS) start = 1;
  if (n > start && ids[n - 1] === EOS) n--;
  for (let j = start; j < n; j++) {
    const id = ids[j]!;
    if (id === BOS || id === EOS) {
      throw new KotobaError(`${at(source, lineNo)}${id === BOS ? BOS_WORD : EOS_WORD} inside a sentence`, '<s> may only open a line and </s> only close it; remove or rename it');
    }
  }
  return { start, end: n };
}

/** Each line decoded (strict UTF-8) and split by `tokenizer(options)`: --lowercase, --segment. */
class StringTokenizer implements LineTokenizer {
  ids = new Uint32Array(1024);
  unknown = new Uint8Array(1024);
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
    if (words.length + 1 > this.ids.length) {
      this.ids = new Uint32Array(2 * words.length + 2);
      this.unknown = new Uint8Array(2 * words.length + 2);
    }
    let n = 0;
    for (const w of words) {
      const id = this.vocab.find(w);
      this.unknown[n] = id < 0 ? 1 : 0;
      this.ids[n++] = id < 0 ? UNK : id;
    }
    const m = markers(this.ids, n, lineNo, this.source);
    if (m.start === 1) {
      this.ids.copyWithin(0, 1, m.end);
      this.unknown.copyWithin(0, 1, m.end);
    }
    words = words.slice(m.start, m.end);
    n = words.length;
    this.ids[n] = EOS;
    this.unknown[n] = 0;
    this.last = words;
    return n + 1;
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
