/**
 * ARPA files, the interchange format of KenLM, SRILM and IRSTLM: read and write. Browser-safe
 * (text in, byte chunks out); file handling lives in node/.
 *
 * Values are written as the shortest decimal that reads back to the same float32, as lmplz writes
 * them. ARPA has no −∞: a probability of 0 is written as -99 (SRILM's convention) and -99 or below
 * reads back as −∞.
 *
 * A model whose text was lowercased or segmented says so in a comment line before `\data\`
 * (`# kotoba text options: {"lowercase":true,"segment":null}`): KenLM reads `#` lines there,
 * SRILM and IRSTLM any text. With the default options there is no such line, so the file stays
 * byte-identical to lmplz's.
 *
 * The reader takes every file as untrusted, as KenLM's does: numbers are decimals (or `-inf`),
 * a log10 probability is at most 0 (0 is a probability of 1: lmplz writes it for `<s>`), a log10
 * backoff is finite and at most 99, the header's counts must fit in the bytes that follow before
 * anything is allocated for them, and an error names the line.
 */
import { KotobaError, at, printable } from '../errors.js';
import { textOptionsFromJson, textOptionsToJson } from '../text/text-options.js';
import type { TokenizeOptions } from '../text/tokenize.js';
import { BOS_WORD, EOS_WORD, UNK_WORD, Vocabulary } from '../text/vocabulary.js';
import { FNV_START, fnvFinish, WordTable } from '../text/word-table.js';
import { concatBytes } from '../util/bytes.js';
import { formatFloat32, shortestDigits } from '../util/float32.js';
import { emptyOrder, type NgramOrderTable, type NgramTables } from './tables.js';
import { ArpaKernel } from './arpa-kernel.js';

const LOG_ZERO = -99;
/** The comment line before `\data\` that holds a model's text options. */
const TEXT_OPTIONS_COMMENT = '# kotoba text options: ';
/** The highest order a model may have (the query model's limit). */
const MAX_ORDER = 255;
const POW10 = Array.from({ length: 23 }, (_, i) => Number(`1e${i}`)); // exact in float64
// Bit casts through one shared word.
const F32 = new Float32Array(1);
const U32 = new Uint32Array(F32.buffer);
const LATIN1 = new TextDecoder('latin1');
const UTF8 = new TextEncoder();

/**
 * An ARPA value: the shortest float32 digits, with -99 for log10 0.
 *
 * @example
 * ```ts
 * // runs
 * import { formatArpaValue } from 'kotoba';
 * formatArpaValue(Math.fround(-0.30103)); // '-0.30103'
 * formatArpaValue(-Infinity);             // '-99'
 * ```
 */
export function formatArpaValue(x: number): string {
  return x === -Infinity || x <= LOG_ZERO ? String(LOG_ZERO) : formatFloat32(x);
}

const LOG_ZERO_BYTES = UTF8.encode(String(LOG_ZERO));

/** Appends bytes to a buffer that is handed out, as a copy, whenever a line might not fit. */
class ByteWriter {
  at = 0;
  constructor(public buf: Uint8Array = new Uint8Array(1 << 20)) {}
  /** The bytes so far (a copy), leaving the buffer empty and at least `need` bytes long. */
  take(need = 0): Uint8Array {
    const chunk = this.buf.slice(0, this.at);
    this.at = 0;
    if (need > this.buf.length) this.buf = new Uint8Array(need * 2);
    return chunk;
  }
  bytes(b: Uint8Array): void {
    // A plain loop: words are short, and TypedArray.set costs more than it copies here.
    const buf = this.buf;
    let at = this.at;
    for (let i = 0; i < b.length; i++) buf[at++] = b[i]!;
    this.at = at;
  }
  byte(c: number): void {
    this.buf[this.at++] = c;
  }
  /** An ARPA value: shortest float32 digits, -99 for log10 0. */
  value(x: number): void {
    if (x === -Infinity || x <= LOG_ZERO) return this.bytes(LOG_ZERO_BYTES);
    if (x === 0) return this.byte(48);
    const end = shortestDigits(x, this.buf, this.at);
    if (end >= 0) this.at = end;
    else this.bytes(UTF8.encode(formatFloat32(x)));
  }
  // Backoff weights repeat (contexts with the same counts share one): their digits are cached,
  // 16 bytes per slot of a direct-mapped table keyed by the float's bits.
  private readonly cacheBits = new Int32Array(CACHE_SLOTS).fill(-1);
  private readonly cacheText = new Uint8Array(CACHE_SLOTS * 16);
  /** `value`, through the cache. */
  cachedValue(x: number): void {
    F32[0] = x;
    const bits = U32[0]! | 0;
    const slot = Math.imul(bits, 0x9e3779b1) >>> (32 - CACHE_BITS);
    const text = this.cacheText;
    const at = slot * 16;
    if (this.cacheBits[slot] === bits) {
      const n = text[at]!;
      const buf = this.buf;
      let o = this.at;
      for (let i = 1; i <= n; i++) buf[o++] = text[at + i]!;
      this.at = o;
      return;
    }
    const start = this.at;
    this.value(x);
    const n = this.at - start;
    if (n < 16) {
      this.cacheBits[slot] = bits;
      text[at] = n;
      for (let i = 0; i < n; i++) text[at + 1 + i] = this.buf[start + i]!;
    }
  }
}

const CACHE_BITS = 12;
const CACHE_SLOTS = 1 << CACHE_BITS;

/**
 * The n-grams of one order as the ARPA writer reads them: after `next()` returns true, the words
 * are `words[at … at+order)`, with their log10 probability and backoff.
 */
export interface ArpaRows {
  next(): boolean;
  words: Uint32Array;
  at: number;
  log10Prob: number;
  log10Backoff: number;
}

/** The rows of one table, for the writer. */
function tableRows(t: NgramOrderTable): ArpaRows {
  let i = -1;
  const rows: ArpaRows = {
    words: t.words,
    at: 0,
    log10Prob: 0,
    log10Backoff: 0,
    next() {
      if (++i >= t.size) return false;
      rows.at = i * t.order;
      rows.log10Prob = t.log10Prob[i]!;
      rows.log10Backoff = t.log10Backoff[i]!;
      return true;
    },
  };
  return rows;
}

/** The words of a vocabulary as UTF-8 bytes, word i at `bytes[start[i], start[i+1])`. */
export interface WordBytes {
  bytes: Uint8Array;
  start: Int32Array;
  /** Bytes of the longest word. */
  longest: number;
  /**
   * Names these words across threads (a copy sent to a worker is a new object with the same id),
   * so that the WebAssembly formatter of a thread copies them into its memory once.
   */
  id?: number;
}

/**
 * The words of `vocab` as UTF-8 bytes, for the ARPA writer; `allocate` may give shared memory,
 * for writers on other threads.
 *
 * @example
 * ```ts
 * // runs
 * import { Vocabulary, wordBytes } from 'kotoba';
 * const wb = wordBytes(Vocabulary.fromWords(['私']));
 * wb.start[4] - wb.start[3]; // 3: 私 in UTF-8
 * ```
 */
export function wordBytes(vocab: Vocabulary, allocate: (bytes: number) => Uint8Array = (bytes) => new Uint8Array(bytes)): WordBytes {
  // Encoded into one growing buffer: an array per word would cost a few hundred bytes each in
  // objects (200 MB at a million words), all at once.
  const words = vocab.list();
  const start = new Int32Array(allocate(4 * (words.length + 1)).buffer);
  let buf = new Uint8Array(Math.max(64, words.length * 8));
  let longest = 0;
  for (let i = 0; i < words.length; i++) {
    const w = words[i]!;
    const o = start[i]!;
    if (buf.length - o < 3 * w.length) {
      const bigger = new Uint8Array(Math.max(buf.length * 2, o + 3 * w.length));
      bigger.set(buf.subarray(0, o));
      buf = bigger;
    }
    const n = UTF8.encodeInto(w, buf.subarray(o)).written;
    start[i + 1] = o + n;
    if (n > longest) longest = n;
  }
  const bytes = allocate(start[words.length]!);
  bytes.set(buf.subarray(0, start[words.length]!));
  return { bytes, start, longest, id: WORD_BYTES_IDS + wordBytesMade++ };
}

// Ids of word tables: a random base per thread, so that tables made on different threads differ.
const WORD_BYTES_IDS = Math.floor(Math.random() * 2 ** 20) * 2 ** 32;
let wordBytesMade = 0;

/** Bytes an ARPA line of order k can take, at most. */
export const arpaLineMax = (wb: WordBytes, k: number) => 64 + k * (wb.longest + 1);

/** One ARPA line: probability, tab, words, and (below the top order) tab, backoff. */
function writeLine(w: ByteWriter, wb: WordBytes, k: number, top: number, words: Uint32Array, at: number, log10Prob: number, log10Backoff: number): void {
  w.value(log10Prob);
  const buf = w.buf;
  const { bytes, start } = wb;
  let o = w.at;
  for (let j = 0; j < k; j++) {
    buf[o++] = j === 0 ? 9 : 32;
    const id = words[at + j]!;
    for (let b = start[id]!, end = start[id + 1]!; b < end; b++) buf[o++] = bytes[b]!;
  }
  w.at = o;
  if (k !== top) {
    w.byte(9);
    w.cachedValue(log10Backoff);
  }
  w.byte(10);
}

/**
 * ARPA lines for `n` MODEL rows of order k (k word ids, then the bits of log10 p and log10
 * backoff as float32: estimation's last stream), as one byte array — a slice of an order that a
 * thread formats while others format the next slices.
 *
 * @example
 * ```ts
 * // runs
 * import { f32Bits, formatModelRows, Vocabulary, wordBytes } from 'kotoba';
 * const vocab = Vocabulary.fromWords(['a', 'b']);
 * const rows = Uint32Array.of(3, 4, f32Bits(-0.5), f32Bits(-0.25)); // the bigram "a b"
 * new TextDecoder().decode(formatModelRows(wordBytes(vocab), rows, 1, 2, 3)); // '-0.5\ta b\t-0.25\n'
 * ```
 */
export function formatModelRows(wb: WordBytes, rows: Uint32Array, n: number, k: number, top: number): Uint8Array {
  const chunks = formatModelChunks(wb, rows, n, k, top);
  return chunks.length === 1 ? chunks[0]! : concatBytes(chunks);
}

/**
 * `formatModelRows` as chunks of about a megabyte, each owning its buffer: a thread hands them
 * on (transferred, not copied) to the one that writes the file. Formatted by the WebAssembly
 * kernel where it runs (`kernel`; null: by the TypeScript loop), to the same bytes.
 */
export function formatModelChunks(wb: WordBytes, rows: Uint32Array, n: number, k: number, top: number, kernel: ArpaKernel | null = ArpaKernel.get()): Uint8Array[] {
  const max = arpaLineMax(wb, k);
  const W = k + 2;
  if (kernel) {
    // The rows whose values need the exact method, written into the kernel's chunk (by one
    // writer: each holds a cache of digits).
    let w: ByteWriter | null = null;
    const fallback = (buf: Uint8Array, at: number, i: number) => {
      w ??= new ByteWriter(buf);
      w.buf = buf;
      w.at = at;
      writeLine(w, wb, k, top, rows, i * W, f32FromWord(rows[i * W + k]!), f32FromWord(rows[i * W + k + 1]!));
      return w.at;
    };
    const chunks = kernel.format(wb, rows, n, k, top, max, fallback);
    if (chunks) return chunks;
  }
  const w = new ByteWriter();
  const chunks: Uint8Array[] = [];
  for (let i = 0; i < n; i++) {
    if (w.at + max > w.buf.length) chunks.push(w.take(max));
    const at = i * W;
    writeLine(w, wb, k, top, rows, at, f32FromWord(rows[at + k]!), f32FromWord(rows[at + k + 1]!));
  }
  chunks.push(w.take());
  return chunks;
}

function f32FromWord(bits: number): number {
  U32[0] = bits;
  return F32[0]!;
}

/**
 * ARPA text as UTF-8 chunks of about a megabyte: the header from `counts` (n-grams per order),
 * then each order as `rowsOf(k)` gives it (called once per order, in order): rows to format,
 * or its lines already formatted (by threads, `formatModelRows`); `text`, the model's text
 * options, in a comment line before `\data\`. The one writer of ARPA files: for tables in
 * memory (`writeArpa`) and for estimation's streams.
 *
 * @example
 * ```ts
 * import { arpaChunks, type ArpaRows, type Vocabulary } from 'kotoba';
 * declare const vocab: Vocabulary;
 * declare const rowsOf: (order: number) => ArpaRows; // e.g. read from a file, order by order
 * for (const chunk of arpaChunks(vocab, [vocab.size, 1200], rowsOf)) process.stdout.write(chunk);
 * ```
 */
export function* arpaChunks(
  vocab: Vocabulary | WordBytes,
  counts: readonly number[],
  rowsOf: (order: number) => ArpaRows | Iterable<Uint8Array>,
  text?: TokenizeOptions,
): Generator<Uint8Array> {
  const wb = vocab instanceof Vocabulary ? wordBytes(vocab) : vocab;
  const w = new ByteWriter();
  // The text options as a comment before \data\, only when they are not the defaults (the file
  // then stays byte for byte lmplz's).
  const json = text && textOptionsToJson(text);
  let head = json && (json.lowercase || json.segment) ? `${TEXT_OPTIONS_COMMENT}${JSON.stringify(json)}\n` : '';
  head += '\\data\\\n';
  counts.forEach((n, i) => (head += `ngram ${i + 1}=${n}\n`));
  const top = counts.length;
  w.bytes(UTF8.encode(head));
  for (let k = 1; k <= top; k++) {
    const section = UTF8.encode(`\n\\${k}-grams:\n`);
    const max = arpaLineMax(wb, k);
    if (w.at + section.length + max > w.buf.length) yield w.take(section.length + max);
    w.bytes(section);
    const rows = rowsOf(k);
    if (!('log10Prob' in rows)) {
      yield w.take();
      yield* rows;
      continue;
    }
    while (rows.next()) {
      if (w.at + max > w.buf.length) yield w.take(max);
      writeLine(w, wb, k, top, rows.words, rows.at, rows.log10Prob, rows.log10Backoff);
    }
  }
  if (w.at + 16 > w.buf.length) yield w.take(16);
  w.bytes(UTF8.encode('\n\\end\\\n'));
  yield w.take();
}

/**
 * Writes `tables` as ARPA text (UTF-8 bytes) through `out`, in chunks. N-grams come in the order
 * of the tables (estimation keeps lmplz's suffix order).
 *
 * @example
 * ```ts
 * import { writeArpa, type NgramTables } from 'kotoba';
 * import { writeAtomic } from 'kotoba/node';
 * declare const tables: NgramTables;
 * await writeAtomic('wiki3.arpa.gz', (out) => writeArpa(tables, out)); // gzipped, written atomically
 * ```
 */
export async function writeArpa(tables: NgramTables, out: (chunk: Uint8Array) => Promise<void> | void): Promise<void> {
  const counts = tables.orders.map((o) => o.size);
  for (const chunk of arpaChunks(tables.vocab, counts, (k) => tableRows(tables.orders[k - 1]!), tables.text)) await out(chunk);
}

/**
 * ARPA text of `tables` as one string (small models, the browser).
 *
 * @example
 * ```ts
 * // runs
 * import { arpaText, corpusFromText, estimate } from 'kotoba';
 * const text = await arpaText(estimate(corpusFromText(['a b', 'b a']), { order: 2, smoothing: 'wb' }));
 * text.split('\n').slice(0, 3); // ['\\data\\', 'ngram 1=5', 'ngram 2=6']
 * ```
 */
export async function arpaText(tables: NgramTables): Promise<string> {
  const chunks: Uint8Array[] = [];
  await writeArpa(tables, (c) => void chunks.push(c));
  const all = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) {
    all.set(c, at);
    at += c.length;
  }
  return new TextDecoder().decode(all);
}

/** Options for `parseArpa`. */
export interface ArpaReadOptions {
  /** File name for error messages. */
  source?: string;
  warn?: (message: string) => void;
  /**
   * At most this many bytes of ARPA text follow (a file's size; for gzip, the bound its
   * compression ratio allows): the header's counts are checked against it before anything is
   * allocated for them.
   */
  maxBytes?: number;
}

/** The longest line read: far more than any n-gram's, and a bound on what a damaged file costs. */
export const MAX_ARPA_LINE_BYTES = 16 * 2 ** 20;

/** The most n-grams of one order a header may promise when the file's size is not known. */
const MAX_UNBOUNDED_COUNT = 2 ** 31 - 1;

/**
 * Parses ARPA text (from KenLM, SRILM, IRSTLM or kotoba). Errors name the line and what was
 * expected. Word ids follow the order of the unigrams, with `<unk>`, `<s>`, `</s>` first.
 *
 * @example
 * ```ts
 * import { BackoffModel, parseArpa } from 'kotoba';
 * const text = await (await fetch('models/wiki3.arpa')).text();
 * const tables = parseArpa(text, { source: 'wiki3.arpa', warn: console.warn });
 * const model = BackoffModel.fromTables(tables);
 * ```
 */
export function parseArpa(text: string, options: ArpaReadOptions = {}): NgramTables {
  return parseArpaBytes(UTF8.encode(text), options);
}

const isSpace = (c: number) => c === 32 || c === 9 || c === 13;
const isDigit = (c: number) => c >= 48 && c <= 57;

/**
 * A decimal number in `b[start, end)` — `[+-]digits[.digits][e[+-]digits]`, or `inf`, `-inf`,
 * `infinity` in any case, as KenLM reads them — or NaN for anything else (hexadecimal,
 * `Infinity` spelled otherwise, trailing junk). Up to 15 significant digits it is one exact
 * multiplication or division of two float64s, so correctly rounded, as `Number()` would give;
 * longer forms go through `Number()` itself, once the grammar has been checked.
 */
function parseDecimal(b: Uint8Array, start: number, end: number): number {
  let i = start;
  let negative = false;
  if (b[i] === 45 || b[i] === 43) negative = b[i++] === 45;
  let mantissa = 0;
  let digits = 0;
  let exponent = 0;
  let any = false;
  for (; i < end && isDigit(b[i]!); i++, any = true) {
    if (digits > 0 || b[i] !== 48) digits++;
    mantissa = mantissa * 10 + (b[i]! - 48);
  }
  if (i < end && b[i] === 46) {
    for (i++; i < end && isDigit(b[i]!); i++, any = true) {
      if (digits > 0 || b[i] !== 48) digits++;
      mantissa = mantissa * 10 + (b[i]! - 48);
      exponent--;
    }
  }
  if (!any) return infinity(b, i, end, negative);
  if (i < end && (b[i] === 101 || b[i] === 69)) {
    let j = i + 1;
    let negativeExponent = false;
    if (b[j] === 45 || b[j] === 43) negativeExponent = b[j++] === 45;
    let e = 0;
    const first = j;
    for (; j < end && isDigit(b[j]!); j++) e = e * 10 + (b[j]! - 48);
    if (j === first) return NaN;
    exponent += negativeExponent ? -e : e;
    i = j;
  }
  if (i !== end) return NaN;
  if (digits > 15 || exponent < -22 || exponent > 22) return Number(LATIN1.decode(b.subarray(start, end)));
  const value = exponent >= 0 ? mantissa * POW10[exponent]! : mantissa / POW10[-exponent]!;
  return negative ? -value : value;
}

const INF = UTF8.encode('infinity');

/** ±Infinity when `b[start, end)` is `inf` or `infinity` (any case), else NaN. */
function infinity(b: Uint8Array, start: number, end: number, negative: boolean): number {
  const n = end - start;
  if (n !== 3 && n !== INF.length) return NaN;
  for (let i = 0; i < n; i++) if ((b[start + i]! | 0x20) !== INF[i]) return NaN;
  return negative ? -Infinity : Infinity;
}

/** How much of a line is made into text, at most: more than any header, marker or number. */
const LINE_TEXT_BYTES = 256;

/** Text from the file for a message: its first 60 characters, escaped (see {@link printable}). */
function snippet(text: string): string {
  return printable(text.length > 60 ? `${text.slice(0, 60)}…` : text);
}

/**
 * The largest log10 backoff read. A backoff weight is the mass left after h over the mass left
 * after its suffix, and no real model leaves 10^-99 of the latter; larger values could only add
 * up to an infinite score.
 */
const MAX_LOG_BACKOFF = 99;

/**
 * Where an ARPA reader puts what it reads: tables (`parseArpaBytes`), or a query structure built
 * as the file streams by (the Node loader), so that the file is never held whole.
 */
export interface ArpaSink {
  /** The n-gram counts of the `\data\` header, before anything else. */
  counts(counts: readonly number[]): void;
  /** All unigrams, once their section is read: the vocabulary and each word's values by id. */
  unigrams(vocab: Vocabulary, log10Prob: Float32Array, log10Backoff: Float32Array): void;
  /** One n-gram of order k ≥ 2: its word ids in text order (the array is reused), its values. */
  ngram(k: number, words: Uint32Array, log10Prob: number, log10Backoff: number): void;
}

type Phase = 'preamble' | 'counts' | 'section' | 'ngrams' | 'end' | 'done';

/**
 * ARPA text as it arrives in chunks of bytes (UTF-8): no string per line or per word, and no
 * more of the file in memory than one chunk. Errors name the line and what was expected.
 *
 * @example
 * ```ts
 * import { ArpaReader, type ArpaSink } from 'kotoba';
 * declare const sink: ArpaSink;
 * declare const chunks: AsyncIterable<Uint8Array>; // e.g. a file stream
 * const reader = new ArpaReader(sink, { source: 'wiki3.arpa' });
 * for await (const chunk of chunks) reader.push(chunk);
 * reader.end();
 * ```
 */
export class ArpaReader {
  private phase: Phase = 'preamble';
  private lineNo = 0;
  private carry: Uint8Array = new Uint8Array(0);
  private first = true;
  private readonly counts: number[] = [];
  /** Order of the current section, and n-grams read in it. */
  private k = 0;
  private read = 0;
  private readonly vocab = new Vocabulary();
  private readonly table = new WordTable();
  private readonly decoder = new TextDecoder('utf-8', { fatal: true });
  private readonly seenSpecial = [false, false, false];
  private uniWords = new Uint32Array(0);
  private uniProb = new Float32Array(0);
  private uniBackoff = new Float32Array(0);
  private words = new Uint32Array(0);
  private readonly src: string | undefined;
  /** The lines' bytes so far, for the bound on the header's counts. */
  private bytesRead = 0;
  /** Bytes of long lines not kept (see `keep`), counted as read. */
  private dropped = 0;
  private countLines: number[] = [];
  /** The text options of a kotoba model's header comment, if any. */
  text: TokenizeOptions | undefined;

  constructor(
    private readonly sink: ArpaSink,
    private readonly options: ArpaReadOptions = {},
  ) {
    this.src = options.source;
    for (const special of [UNK_WORD, BOS_WORD, EOS_WORD]) {
      const bytes = UTF8.encode(special);
      this.table.add(this.vocab.id(special), bytes, 0, bytes.length);
    }
  }

  /** Reads the next chunk of the file. */
  push(chunk: Uint8Array): void {
    if (this.phase === 'done') return;
    let b = chunk;
    if (this.first) {
      this.first = false;
      if (b.length >= 3 && b[0] === 0xef && b[1] === 0xbb && b[2] === 0xbf) b = b.subarray(3);
    }
    if (this.carry.length > 0) {
      // Only the carried partial line is joined with the start of the chunk.
      const nl = b.indexOf(10);
      if (nl < 0) {
        this.carry = this.keep(this.carry, b);
        return;
      }
      const line = new Uint8Array(this.carry.length + nl + 1);
      line.set(this.carry);
      line.set(b.subarray(0, nl + 1), this.carry.length);
      this.carry = new Uint8Array(0);
      this.lines(line, 0, line.length);
      b = b.subarray(nl + 1);
    }
    const consumed = this.lines(b, 0, b.length);
    // A copy: the chunk's memory may be reused for the next one (and Buffer's slice is a view).
    if (consumed < b.length && (this.phase as Phase) !== 'done') this.carry = this.keep(new Uint8Array(0), b.subarray(consumed));
  }

  /**
   * The partial line `carry` followed by `more`. Only an n-gram line is kept whole: any other is
   * compared by its first bytes, so a long comment costs nothing however long it is.
   */
  private keep(carry: Uint8Array, more: Uint8Array): Uint8Array {
    if (this.phase !== 'ngrams') {
      const room = Math.max(0, LINE_TEXT_BYTES - carry.length);
      this.dropped += Math.max(0, more.length - room);
      more = more.subarray(0, room);
    } else if (carry.length + more.length > MAX_ARPA_LINE_BYTES) this.tooLong();
    const joined = new Uint8Array(carry.length + more.length);
    joined.set(carry);
    joined.set(more, carry.length);
    return joined;
  }

  /** The file has ended: reads its last line (one without a newline), and checks it was complete. */
  end(): void {
    if (this.carry.length > 0 && this.phase !== 'done') {
      const line = new Uint8Array(this.carry.length + 1);
      line.set(this.carry);
      line[this.carry.length] = 10;
      this.carry = new Uint8Array(0);
      this.lines(line, 0, line.length);
    }
    const k = this.k;
    switch (this.phase) {
      case 'preamble':
        throw new KotobaError(`${at(this.src)}not an ARPA file: no \\data\\ line`, 'give an ARPA file (or a kotoba binary model)');
      case 'counts':
        this.fail('file ends inside the \\data\\ header');
        break;
      case 'section':
        this.fail(`file ends before the \\${k}-grams: section`);
        break;
      case 'ngrams':
        this.fail(`file ends after ${this.read} of ${this.counts[k - 1]} ${k}-grams`, 'the file is truncated');
        break;
      case 'end':
        this.fail('file ends without \\end\\', 'the file is truncated');
        break;
    }
  }

  /** The description of the model read. */
  get description(): string {
    return `${this.counts.length}-gram backoff model read from ARPA`;
  }

  private fail(what: string, hint?: string): never {
    throw new KotobaError(`${at(this.src, this.lineNo)}${what}`, hint ?? 'the ARPA file is malformed or truncated');
  }

  private tooLong(): never {
    this.lineNo++;
    this.fail(`line longer than ${MAX_ARPA_LINE_BYTES.toLocaleString('en-US')} bytes`, 'this is not an ARPA file, or it is damaged');
  }

  /** Reads the complete lines of b[start, end); returns where the first incomplete one starts. */
  private lines(b: Uint8Array, start: number, end: number): number {
    let pos = start;
    while (pos < end && this.phase !== 'done') {
      const nl = b.indexOf(10, pos);
      if (nl < 0 || nl >= end) break;
      const lineEnd = nl > pos && b[nl - 1] === 13 ? nl - 1 : nl;
      this.lineNo++;
      this.bytesRead += nl + 1 - pos + this.dropped;
      this.dropped = 0;
      if (this.phase === 'ngrams') this.ngramLine(b, pos, lineEnd);
      else this.otherLine(b, pos, lineEnd);
      pos = nl + 1;
    }
    return pos;
  }

  /** A header, section or end line. */
  private otherLine(b: Uint8Array, start: number, end: number): void {
    // Lines compared as text (headers, markers) are short: their first bytes are enough.
    const text = new TextDecoder().decode(b.subarray(start, Math.min(end, start + LINE_TEXT_BYTES))).trim();
    switch (this.phase) {
      case 'preamble':
        // Anything before \data\ is ignored (SRILM and IRSTLM write comments there), but
        // kotoba's text options.
        if (text === '\\data\\') this.phase = 'counts';
        else if (text.startsWith(TEXT_OPTIONS_COMMENT.trim())) this.readTextOptions(text);
        return;
      case 'counts': {
        if (text === '') {
          if (this.counts.length > 0) this.startSection(1);
          return;
        }
        const m = /^ngram\s+(\d+)\s*=\s*(\d+)$/.exec(text);
        if (!m) {
          if (text.startsWith('\\') && this.counts.length > 0) {
            this.startSection(1);
            this.otherLine(b, start, end);
            return;
          }
          this.fail(`expected 'ngram N=COUNT' in the \\data\\ header, found '${snippet(text)}'`);
        }
        const k = Number(m![1]);
        if (k !== this.counts.length + 1) this.fail(`expected 'ngram ${this.counts.length + 1}=…', found order ${k}`);
        if (k > MAX_ORDER) this.fail(`order ${k} is above ${MAX_ORDER}`, `kotoba reads models of order 1 to ${MAX_ORDER}`);
        this.counts.push(Number(m![2]));
        this.countLines.push(this.lineNo);
        return;
      }
      case 'section':
        if (text === '') return;
        if (text !== `\\${this.k}-grams:`) this.fail(`expected '\\${this.k}-grams:', found '${snippet(text)}'`);
        this.phase = 'ngrams';
        this.read = 0;
        if (this.k === 1) {
          const n = this.counts[0]!;
          this.uniWords = new Uint32Array(n);
          this.uniProb = new Float32Array(n);
          this.uniBackoff = new Float32Array(n);
        }
        this.words = new Uint32Array(this.k);
        if (this.counts[this.k - 1] === 0) this.endSection();
        return;
      case 'end':
        if (text === '') return;
        if (text !== '\\end\\') {
          const N = this.counts.length;
          this.fail(`expected '\\end\\' after ${this.counts[N - 1]} ${N}-grams, found '${snippet(text)}'`, 'the n-gram count in the \\data\\ header does not match the section');
        }
        this.phase = 'done';
        return;
    }
  }

  private startSection(k: number): void {
    if (k === 1) {
      if (this.counts.length === 0) this.fail('the \\data\\ header lists no n-gram counts');
      this.checkCounts();
      this.sink.counts(this.counts);
    }
    this.k = k;
    this.phase = 'section';
  }

  /**
   * Bounds the header's counts before anything is allocated for them: the shortest k-gram line,
   * '0', a tab, k one-byte words and a newline, takes 2k + 2 bytes.
   */
  private checkCounts(): void {
    const left = (this.options.maxBytes ?? Infinity) - this.bytesRead;
    let need = 0;
    for (let k = 1; k <= this.counts.length; k++) {
      const count = this.counts[k - 1]!;
      need += count * (2 * k + 2);
      if (need > left || count > MAX_UNBOUNDED_COUNT) {
        throw new KotobaError(
          `${at(this.src, this.countLines[k - 1])}the header promises ${count} ${k}-grams, more than ${Number.isFinite(left) ? `the ${left} bytes left in the file can hold` : 'kotoba reads'}`,
          'the file is truncated, or its \\data\\ header is wrong',
        );
      }
    }
  }

  /** The `# kotoba text options: {…}` comment of a kotoba model. */
  private readTextOptions(text: string): void {
    let json: unknown;
    try {
      json = JSON.parse(text.slice(TEXT_OPTIONS_COMMENT.trim().length));
    } catch {
      this.fail('the kotoba text options are not valid JSON', 'the header is damaged: train the model again');
    }
    this.text = textOptionsFromJson(json, at(this.src, this.lineNo).slice(0, -2));
  }

  private endSection(): void {
    if (this.k === 1) this.finishUnigrams();
    if (this.k < this.counts.length) this.startSection(this.k + 1);
    else this.phase = 'end';
  }

  /**
   * One n-gram line: log10 p, the words, and the optional backoff. The hot loop of reading: the
   * fields are scanned in place, each word hashed as its bytes go by.
   */
  private ngramLine(b: Uint8Array, start: number, end: number): void {
    const k = this.k;
    const size = this.counts[k - 1]!;
    const i = this.read;
    const words = this.words;
    const table = this.table;
    const fieldText = (from: number, to: number) => snippet(new TextDecoder().decode(b.subarray(from, Math.min(to, from + LINE_TEXT_BYTES))));
    let j = start;
    while (j < end && isSpace(b[j]!)) j++;
    let from = j;
    while (j < end && !isSpace(b[j]!)) j++;
    if (from >= end || b[from] === 92 /* \ */) {
      this.fail(`expected ${size} ${k}-grams, found ${i}`, 'the n-gram count in the \\data\\ header does not match the section');
    }
    const prob = parseDecimal(b, from, j);
    if (Number.isNaN(prob)) this.fail(`expected a log10 probability, found '${fieldText(from, j)}'`);
    if (prob > 0) this.fail(`log10 probability '${fieldText(from, j)}' is above 0, a probability above 1`, 'a log10 probability is at most 0; -99 stands for a probability of 0');
    for (let w = 0; w < k; w++) {
      while (j < end && isSpace(b[j]!)) j++;
      if (j >= end) this.fail(`expected ${k} words after the probability of a ${k}-gram`);
      from = j;
      let h = FNV_START;
      for (; j < end; j++) {
        const c = b[j]!;
        if (c === 32 || c === 9 || c === 13) break;
        h = Math.imul(h ^ c, 0x01000193);
      }
      let id = table.findHashed(b, from, j, fnvFinish(h));
      if (k === 1) {
        if (id < 0) {
          let word: string;
          try {
            word = this.decoder.decode(b.subarray(from, j));
          } catch {
            this.fail('invalid UTF-8 in a word', 'convert the file to UTF-8');
          }
          id = this.vocab.add(word!);
          table.add(id, b, from, j);
        } else if (id <= 2) this.seenSpecial[id] = true;
      } else if (id < 0) {
        this.fail(`the word '${fieldText(from, j)}' of a ${k}-gram is not among the unigrams`);
      }
      words[w] = id;
    }
    let backoff = 0;
    while (j < end && isSpace(b[j]!)) j++;
    if (j < end) {
      from = j;
      while (j < end && !isSpace(b[j]!)) j++;
      backoff = parseDecimal(b, from, j);
      if (Number.isNaN(backoff)) this.fail(`expected a log10 backoff, found '${fieldText(from, j)}'`);
      if (!Number.isFinite(backoff) || backoff > MAX_LOG_BACKOFF) {
        this.fail(`log10 backoff '${fieldText(from, j)}' is ${Number.isFinite(backoff) ? `above ${MAX_LOG_BACKOFF}` : 'not finite'}`, `a log10 backoff weight is a finite number up to ${MAX_LOG_BACKOFF}; -99 stands for a weight of 0`);
      }
      while (j < end && isSpace(b[j]!)) j++;
      if (j < end) this.fail(`too many fields for a ${k}-gram`);
    }
    const p = prob <= LOG_ZERO ? -Infinity : prob;
    const bo = backoff <= LOG_ZERO ? -Infinity : backoff;
    if (k === 1) {
      this.uniWords[i] = words[0]!;
      this.uniProb[i] = p;
      this.uniBackoff[i] = bo;
    } else this.sink.ngram(k, words, p, bo);
    this.read = i + 1;
    if (this.read === size) this.endSection();
  }

  /** Unigrams indexed by word id; the specials the file lacks are added, as KenLM does. */
  private finishUnigrams(): void {
    const V = this.vocab.size;
    const prob = new Float32Array(V).fill(-Infinity);
    const backoff = new Float32Array(V);
    for (let i = 0; i < this.uniWords.length; i++) {
      const id = this.uniWords[i]!;
      prob[id] = this.uniProb[i]!;
      backoff[id] = this.uniBackoff[i]!;
    }
    const src = this.src;
    if (!this.seenSpecial[0]) {
      this.options.warn?.(`${at(src)}the model has no <unk>; unknown words get log10 probability -100 (as KenLM does)`);
      prob[0] = -100;
    }
    if (!this.seenSpecial[1]) prob[1] = 0;
    if (!this.seenSpecial[2]) this.options.warn?.(`${at(src)}the model has no </s>; sentence ends get probability 0`);
    this.uniWords = new Uint32Array(0);
    this.uniProb = this.uniBackoff = new Float32Array(0);
    this.sink.unigrams(this.vocab, prob, backoff);
  }
}

/**
 * An `ArpaSink` that keeps everything as tables. They grow as n-grams arrive (the header's counts
 * are only a claim until the sections bear them out), and `tables()` trims them.
 */
export class TablesSink implements ArpaSink {
  private readonly orders: NgramOrderTable[] = [];
  private rows: number[] = [];
  private vocab: Vocabulary | null = null;

  counts(counts: readonly number[]): void {
    for (let k = 1; k <= counts.length; k++) this.orders.push(emptyOrder(k, 0));
    this.rows = counts.map(() => 0);
  }

  unigrams(vocab: Vocabulary, log10Prob: Float32Array, log10Backoff: Float32Array): void {
    const V = vocab.size;
    const uni = emptyOrder(1, V);
    for (let id = 0; id < V; id++) uni.words[id] = id;
    uni.log10Prob.set(log10Prob);
    uni.log10Backoff.set(log10Backoff);
    this.orders[0] = uni;
    this.vocab = vocab;
  }

  ngram(k: number, words: Uint32Array, log10Prob: number, log10Backoff: number): void {
    let t = this.orders[k - 1]!;
    const i = this.rows[k - 1]!++;
    if (i === t.size) t = this.orders[k - 1] = resized(t, Math.max(1024, 2 * t.size));
    t.words.set(words, i * k);
    t.log10Prob[i] = log10Prob;
    t.log10Backoff[i] = log10Backoff;
  }

  /** The tables read, with `description` (and the text options of a kotoba model). */
  tables(description: string, text?: TokenizeOptions): NgramTables {
    const orders = this.orders.map((t, k) => (k === 0 ? t : resized(t, this.rows[k]!)));
    return { vocab: this.vocab!, orders, description, ...(text ? { text } : {}) };
  }
}

/** A copy of `t` with room for `size` n-grams (the first min(size, t.size) kept). */
function resized(t: NgramOrderTable, size: number): NgramOrderTable {
  const out = emptyOrder(t.order, size);
  const n = Math.min(size, t.size);
  out.words.set(t.words.subarray(0, n * t.order));
  out.log10Prob.set(t.log10Prob.subarray(0, n));
  out.log10Backoff.set(t.log10Backoff.subarray(0, n));
  return out;
}

/**
 * Parses ARPA bytes (UTF-8, as read from a file) — the fast way in: no string per line or per
 * word. Same results and errors as {@link parseArpa}.
 *
 * @example
 * ```ts
 * import { BackoffModel, parseArpaBytes } from 'kotoba';
 * const bytes = new Uint8Array(await (await fetch('models/wiki3.arpa')).arrayBuffer());
 * const model = BackoffModel.fromTables(parseArpaBytes(bytes, { source: 'wiki3.arpa' }));
 * ```
 */
export function parseArpaBytes(b: Uint8Array, options: ArpaReadOptions = {}): NgramTables {
  const sink = new TablesSink();
  const reader = new ArpaReader(sink, { ...options, maxBytes: Math.min(options.maxBytes ?? Infinity, b.length) });
  reader.push(b);
  reader.end();
  return sink.tables(reader.description, reader.text);
}
