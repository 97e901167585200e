/**
 * Sentences of word ids straight from UTF-8 bytes, for the default tokenization (words split on
 * U+0020 and TAB): no string per line or per word, only one per new word type. The fast way in
 * for estimation at scale; it reads exactly as `readLines` + `CorpusBuilder` do — a byte-order
 * mark at the start is dropped, CRLF is accepted, a last line without a newline is a sentence,
 * `<s>` and `</s>` are accepted only at the ends of a line, invalid UTF-8 is an error naming the
 * line — and the tests hold the two to the same ids.
 */
import { isUtf8 } from 'node:buffer';
import { KotobaError, at } from '../errors.js';
import { BOS, BOS_WORD, EOS, EOS_WORD, UNK, Vocabulary } from '../text/vocabulary.js';
import { FNV_START, fnvFinish, WordTable } from '../text/word-table.js';
import { DEFAULT_MAX_LINE_BYTES, invalidUtf8Offset } from './io.js';
import { ReadEnd, TokenizeKernel } from './tokenize-kernel.js';

const NL = 0x0a;
const CR = 0x0d;
const SPACE = 0x20;
const TAB = 0x09;
const UTF8 = new TextEncoder();
// A byte-order mark is a character here: the one that may open a file is skipped before decoding.
const DECODER = new TextDecoder('utf-8', { ignoreBOM: true });

/**
 * Turns chunks of UTF-8 text (one sentence per line) into `<s> w1 … </s>` sentences of word ids,
 * growing a vocabulary in first-appearance order, or mapping to a fixed one.
 *
 * @example
 * ```ts
 * // runs
 * import { ByteCorpusReader } from 'kotoba/node';
 * const reader = new ByteCorpusReader();
 * reader.beginSource('chat.txt');
 * reader.push(new TextEncoder().encode('a b c\nb c'));
 * reader.end(); // the last line has no newline: still a sentence
 * reader.takeTokens(); // Uint32Array [1, 3, 4, 5, 2, 1, 4, 5, 2]: <s> a b c </s> <s> b c </s>
 * reader.vocab.list(); // ['<unk>', '<s>', '</s>', 'a', 'b', 'c']
 * ```
 */
export class ByteCorpusReader {
  readonly vocab: Vocabulary;
  /** The TypeScript loop's table of the words' bytes (the kernel keeps its own). */
  private readonly table: WordTable | null = null;
  private readonly closed: boolean;
  private ids = new Uint32Array(1 << 16);
  private length = 0;
  private carry = new Uint8Array(0);
  /** Chunks of a long line after `carry`, joined once its newline comes (joining them one by one would be quadratic). */
  private pending: Uint8Array[] = [];
  private pendingBytes = 0;
  private readonly maxLineBytes: number;
  private source: string | undefined;
  /** The WebAssembly loop (null: this file's TypeScript loop, the reference). */
  private readonly kernel: TokenizeKernel | null;
  private lineNo = 0;
  private atStart = true;
  sentences = 0;
  words = 0;

  /** `kernel: false` reads with the TypeScript loop even where the WebAssembly one runs (tests hold the two to the same ids). */
  constructor(options: { fixed?: Iterable<string>; maxLineBytes?: number; kernel?: boolean } = {}) {
    this.maxLineBytes = options.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES;
    this.vocab = options.fixed ? Vocabulary.fromWords(options.fixed) : new Vocabulary();
    this.closed = options.fixed !== undefined;
    this.vocab.closed = this.closed;
    this.kernel = options.kernel === false ? null : TokenizeKernel.create(this.vocab, this.closed, this.maxLineBytes);
    if (this.kernel) return;
    this.table = new WordTable();
    const words = this.vocab.list();
    for (let id = 0; id < words.length; id++) {
      const b = UTF8.encode(words[id]!);
      this.table.add(id, b, 0, b.length);
    }
  }

  /** Names the file the following chunks come from (for errors), restarting the line count. */
  beginSource(source: string): void {
    this.source = source;
    this.lineNo = 0;
    this.atStart = true;
    this.carry = new Uint8Array(0);
    this.pending = [];
    this.pendingBytes = 0;
  }

  /** Number of tokens (`<s>` and `</s>` included) waiting in `takeTokens`. */
  get pendingTokens(): number {
    return this.length;
  }

  /** The tokens read so far, leaving the reader empty (its vocabulary stays). */
  takeTokens(): Uint32Array {
    const out = this.ids.slice(0, this.length);
    this.length = 0;
    return out;
  }

  /** Reads the complete lines in `chunk` (with what was left of the last one). */
  push(chunk: Uint8Array): void {
    if (!this.atStart && this.carry.length > 0 && chunk.length > 0 && chunk.indexOf(NL) < 0) {
      // A long line goes on: keep the piece, and join them all once.
      this.pending.push(chunk.slice());
      this.pendingBytes += chunk.length;
      if (this.carry.length + this.pendingBytes > this.maxLineBytes) this.tooLong(this.lineNo + 1);
      return;
    }
    let buf = chunk;
    if (this.carry.length + this.pendingBytes > 0) {
      buf = new Uint8Array(this.carry.length + this.pendingBytes + chunk.length);
      let at = 0;
      for (const piece of [this.carry, ...this.pending, chunk]) {
        buf.set(piece, at);
        at += piece.length;
      }
      this.pending = [];
      this.pendingBytes = 0;
    }
    let start = 0;
    if (this.atStart) {
      if (buf.length < 3 && chunk.length > 0) {
        this.carry = buf.slice();
        return;
      }
      if (buf[0] === 0xef && buf[1] === 0xbb && buf[2] === 0xbf) start = 3;
      this.atStart = false;
    }
    // The complete lines are checked now, the rest with the next chunk (or at the end). isUtf8 is
    // native (0.1 ms for Penn Treebank's 5 MB, against 26 ms in JavaScript), which finds the bad byte.
    const lines = buf.lastIndexOf(NL) + 1; // the complete lines end here
    const checked = buf.subarray(start, chunk.length === 0 ? buf.length : lines);
    if (!isUtf8(checked)) {
      const bad = invalidUtf8Offset(checked);
      if (bad >= 0) this.invalid(buf, start, start + bad);
    }
    let lineStart = start;
    if (this.kernel) {
      if (lines > start) {
        this.kernelLines(buf, start, lines, false);
        lineStart = lines;
      }
    } else {
      for (let i = buf.indexOf(NL, start); i >= 0; i = buf.indexOf(NL, lineStart)) {
        if (i - lineStart > this.maxLineBytes) this.tooLong(this.lineNo + 1);
        this.line(buf, lineStart, i > lineStart && buf[i - 1] === CR ? i - 1 : i);
        lineStart = i + 1;
      }
    }
    if (buf.length - lineStart > this.maxLineBytes) this.tooLong(this.lineNo + 1);
    this.carry = buf.slice(lineStart);
  }

  /** A line longer than the limit (its CR counted, its newline not, as readLines counts). */
  private tooLong(line: number): never {
    throw new KotobaError(
      `${at(this.source, line)}line longer than ${this.maxLineBytes.toLocaleString('en-US')} bytes`,
      'put one sentence per line, or raise the limit with --max-line-bytes',
    );
  }

  /** Ends the current file: its last line, if it had no newline, is a sentence too. */
  end(): void {
    this.push(new Uint8Array(0));
    const b = this.carry;
    this.carry = new Uint8Array(0);
    if (b.length === 0) return;
    if (incomplete(b)) {
      throw new KotobaError(`${at(this.source, this.lineNo + 1)}invalid UTF-8 (truncated character at end of file)`, 'convert the file to UTF-8');
    }
    if (this.kernel) this.kernelLines(b, 0, b.length, true);
    else this.line(b, 0, b[b.length - 1] === CR ? b.length - 1 : b.length);
  }

  /** The lines of `buf[from, to)` through the WebAssembly loop (see TokenizeKernel.read), with `line`'s errors. */
  private kernelLines(buf: Uint8Array, from: number, to: number, newline: boolean): void {
    const r = this.kernel!.read(buf, from, to, newline, this.vocab, (ids) => {
      this.ensure(ids.length);
      this.ids.set(ids, this.length);
      this.length += ids.length;
    });
    this.lineNo += r.lines;
    this.sentences += r.lines;
    this.words += r.words;
    if (r.end === ReadEnd.TooLong) this.tooLong(this.lineNo + 1);
    if (r.end === ReadEnd.BosInside || r.end === ReadEnd.EosInside) this.markerInside(this.lineNo + 1, r.end === ReadEnd.BosInside ? BOS : EOS);
  }

  private markerInside(line: number, id: number): never {
    throw new KotobaError(
      `${at(this.source, line)}${id === BOS ? BOS_WORD : EOS_WORD} inside a sentence`,
      '<s> may only open a line and </s> only close it; remove or rename it',
    );
  }

  private invalid(buf: Uint8Array, from: number, bad: number): never {
    let line = this.lineNo + 1;
    for (let i = from; i < bad; i++) if (buf[i] === NL) line++;
    throw new KotobaError(`${at(this.source, line)}invalid UTF-8`, 'convert the file to UTF-8, e.g. with iconv');
  }

  /** One sentence from `buf[from, to)`. */
  private line(buf: Uint8Array, from: number, to: number): void {
    this.lineNo++;
    this.ensure(((to - from + 1) >> 1) + 2);
    const ids = this.ids;
    const table = this.table!;
    let length = this.length;
    ids[length++] = BOS;
    let n = 0;
    for (let i = from, word = 0; i < to; word++) {
      while (i < to && (buf[i] === SPACE || buf[i] === TAB)) i++;
      if (i >= to) break;
      // The word's end and its hash (FNV-1a, as WordTable hashes) in one pass.
      const s = i;
      let h = FNV_START;
      for (let c = buf[i]!; c !== SPACE && c !== TAB; c = buf[i]!) {
        h = Math.imul(h ^ c, 0x01000193);
        if (++i >= to) break;
      }
      let id = table.findHashed(buf, s, i, fnvFinish(h));
      if (id < 0) {
        if (this.closed) id = UNK;
        else {
          id = this.vocab.add(DECODER.decode(buf.subarray(s, i)));
          table.add(id, buf, s, i);
        }
      }
      if (id === BOS || id === EOS) {
        // As CorpusBuilder: <s> may open the line and </s> close it; both are dropped.
        if (id === BOS ? word === 0 : onlySpaces(buf, i, to)) continue;
        this.markerInside(this.lineNo, id);
      }
      ids[length++] = id;
      n++;
    }
    ids[length++] = EOS;
    this.length = length;
    this.words += n;
    this.sentences++;
  }

  private ensure(n: number): void {
    if (this.length + n <= this.ids.length) return;
    const bigger = new Uint32Array(Math.max(this.ids.length * 2, this.length + n));
    bigger.set(this.ids.subarray(0, this.length));
    this.ids = bigger;
  }
}

function onlySpaces(b: Uint8Array, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (b[i] !== SPACE && b[i] !== TAB) return false;
  return true;
}

/** True when `b` ends inside a UTF-8 character. */
function incomplete(b: Uint8Array): boolean {
  for (let i = b.length - 1, k = 0; i >= 0 && k < 4; i--, k++) {
    const c = b[i]!;
    if ((c & 0xc0) === 0x80) continue;
    const need = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
    return b.length - i < need;
  }
  return false;
}
