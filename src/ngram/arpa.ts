/**
 * ARPA files, the interchange format of KenLM, SRILM and IRSTLM: read and write. Browser-safe
 * (text in, byte chunks out); file handling lives in node/.
 *
 * Values are written as the shortest decimal that reads back to the same float32, as lmplz writes
 * them. ARPA has no −∞: a probability of 0 is written as -99 (SRILM's convention) and -99 or below
 * reads back as −∞.
 */
import { KotobaError, at } from '../errors.js';
import { BOS_WORD, EOS_WORD, UNK_WORD, Vocabulary } from '../text/vocabulary.js';
import { emptyOrder, type NgramOrderTable, type NgramTables } from './tables.js';
import { WordTable } from '../text/word-table.js';

const LOG_ZERO = -99;
const POW10 = Array.from({ length: 23 }, (_, i) => Number(`1e${i}`)); // exact in float64
const LOG10_2 = Math.log10(2);
// Bit casts through one shared word.
const F32 = new Float32Array(1);
const U32 = new Uint32Array(F32.buffer);
const DIGITS = new Uint8Array(32);
const SCRATCH = new Uint8Array(64);
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

/**
 * The shortest decimal string that parses back to the float32 `x` (as lmplz and query print).
 *
 * @example
 * ```ts
 * // runs
 * import { formatFloat32 } from 'kotoba';
 * formatFloat32(Math.fround(0.1)); // '0.1', where String(Math.fround(0.1)) is '0.10000000149011612'
 * ```
 */
export function formatFloat32(x: number): string {
  if (!Number.isFinite(x)) return x > 0 ? 'inf' : x < 0 ? '-inf' : 'nan';
  if (x === 0) return '0';
  const end = shortestDigits(x, SCRATCH, 0);
  return end < 0 ? slowShortest(x) : LATIN1.decode(SCRATCH.subarray(0, end));
}

/** Tries precisions 9, 8, … down (exact, slow; the reference). */
function slowShortest(x: number): string {
  let best = toPrecisionHalfEven(x, 9);
  for (let p = 8; p >= 1; p--) {
    const s = toPrecisionHalfEven(x, p);
    if (Math.fround(Number(s)) !== x) break;
    best = s;
  }
  return String(Number(best));
}

/**
 * `x` to `p` significant digits with ties to the even digit, as lmplz's double-conversion
 * breaks them (toPrecision breaks them away from zero): the float32 2.73828125 is 2.7382812.
 */
function toPrecisionHalfEven(x: number, p: number): string {
  const up = x.toPrecision(p);
  // Every float32 has a finite decimal expansion; 100 digits show any that can be a tie here.
  const [mantissa, exponent] = Math.abs(x).toExponential(99).split('e') as [string, string];
  const digits = mantissa.replace('.', '');
  if (digits[p] !== '5' || !/^0*$/.test(digits.slice(p + 1))) return up;
  const last = Number(digits[p - 1]);
  if (last % 2 === 0) return `${x < 0 ? '-' : ''}${digits.slice(0, p)}e${Number(exponent) - p + 1}`;
  return up;
}

/**
 * The shortest digits by arithmetic, written into `out` at `at` (returns the new end, or -1 for
 * "use the exact method"): the decimals that read back as `x` are those inside the half-way
 * points to its float32 neighbours; take the first precision at which an integer fits that
 * interval, and of those the one nearest `x`. Gives up where float64 rounding could decide it,
 * and outside the plain-notation range.
 */
function shortestDigits(x: number, out: Uint8Array, at: number): number {
  const a = Math.abs(x);
  if (a < 1e-6 || a >= 1e9) return -1;
  F32[0] = a;
  const bits = U32[0]!;
  U32[0] = bits + 1;
  const up = F32[0]!;
  U32[0] = bits - 1;
  const down = F32[0]!;
  const lo = (a + down) / 2; // exact in float64
  const hi = (a + up) / 2;
  // e = floor(log10 a), from the binary exponent, corrected by one comparison.
  const binary = (bits >>> 23) - 127;
  let e = Math.floor(binary * LOG10_2);
  if (e + 1 >= 0 && e + 1 < POW10.length && a >= POW10[e + 1]!) e++;
  // No precision below this can have a decimal inside an interval this narrow.
  const first = Math.max(1, Math.floor(e - (binary - 23) * LOG10_2));
  for (let p = first; p <= 9; p++) {
    const s = p - 1 - e; // digits after the decimal point
    if (s < 0 || s > 22) return -1;
    const scale = POW10[s]!;
    const l = lo * scale;
    const h = hi * scale;
    // Too close to call in float64 (or a tie at an end point): let the exact method decide.
    if (Math.abs(l - Math.round(l)) < 1e-6 || Math.abs(h - Math.round(h)) < 1e-6) return -1;
    const mLo = Math.ceil(l);
    const mHi = Math.floor(h);
    if (mLo > mHi) continue;
    // The candidate nearest a; a tie goes to the even digit (lmplz's double-conversion). a·10^s
    // is exact in float64 for s ≤ 12 (24-bit mantissa × 5^s); beyond, let the exact method decide.
    const v = a * scale;
    const below = Math.floor(v);
    if (s > 12 && Math.abs(v - below - 0.5) < 1e-6) return -1;
    const nearest = v - below === 0.5 ? below + (below % 2) : Math.round(v);
    // m < 10^9 fits an int32, so the digit loop runs on integer division.
    let m = Math.min(mHi, Math.max(mLo, nearest)) | 0;
    // Digits of m, least significant first, dropping trailing zeros of the fraction.
    let frac = s;
    while (frac > 0 && m % 10 === 0) {
      m = (m / 10) | 0;
      frac--;
    }
    let n = 0;
    do {
      DIGITS[n++] = 48 + (m % 10);
      m = (m / 10) | 0;
    } while (m > 0);
    while (n <= frac) DIGITS[n++] = 48; // leading zeros: 0.00ddd
    if (x < 0) out[at++] = 45; // '-'
    for (let i = n - 1; i >= 0; i--) {
      out[at++] = DIGITS[i]!;
      if (i === frac && frac > 0) out[at++] = 46; // '.'
    }
    return at;
  }
  return -1;
}

const LOG_ZERO_BYTES = UTF8.encode(String(LOG_ZERO));

/** Appends bytes to a buffer that is handed out, as a copy, whenever a line might not fit. */
class ByteWriter {
  buf = new Uint8Array(1 << 20);
  at = 0;
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
    else this.bytes(UTF8.encode(slowShortest(x)));
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
  const encoded = vocab.list().map((w) => UTF8.encode(w));
  const start = new Int32Array(allocate(4 * (encoded.length + 1)).buffer);
  for (let i = 0; i < encoded.length; i++) start[i + 1] = start[i]! + encoded[i]!.length;
  const bytes = allocate(start[encoded.length]!);
  encoded.forEach((b, i) => bytes.set(b, start[i]!));
  return { bytes, start, longest: encoded.reduce((m, b) => Math.max(m, b.length), 0) };
}

/** Bytes an ARPA line of order k can take, at most. */
const lineMax = (wb: WordBytes, k: number) => 64 + k * (wb.longest + 1);

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
  const w = new ByteWriter();
  const max = lineMax(wb, k);
  const chunks: Uint8Array[] = [];
  const W = k + 2;
  for (let i = 0; i < n; i++) {
    if (w.at + max > w.buf.length) chunks.push(w.take(max));
    const at = i * W;
    writeLine(w, wb, k, top, rows, at, f32FromWord(rows[at + k]!), f32FromWord(rows[at + k + 1]!));
  }
  chunks.push(w.take());
  if (chunks.length === 1) return chunks[0]!;
  const out = new Uint8Array(chunks.reduce((m, c) => m + c.length, 0));
  let o = 0;
  for (const c of chunks) {
    out.set(c, o);
    o += c.length;
  }
  return out;
}

function f32FromWord(bits: number): number {
  U32[0] = bits;
  return F32[0]!;
}

/**
 * ARPA text as UTF-8 chunks of about a megabyte: the header from `counts` (n-grams per order),
 * then each order as `rowsOf(k)` gives it (called once per order, in order): rows to format,
 * or its lines already formatted (by threads, `formatModelRows`). The one writer of ARPA files:
 * for tables in memory (`writeArpa`) and for estimation's streams.
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
): Generator<Uint8Array> {
  const wb = vocab instanceof Vocabulary ? wordBytes(vocab) : vocab;
  const w = new ByteWriter();
  let head = '\\data\\\n';
  counts.forEach((n, i) => (head += `ngram ${i + 1}=${n}\n`));
  const top = counts.length;
  w.bytes(UTF8.encode(head));
  for (let k = 1; k <= top; k++) {
    const section = UTF8.encode(`\n\\${k}-grams:\n`);
    const max = lineMax(wb, k);
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
  for (const chunk of arpaChunks(tables.vocab, counts, (k) => tableRows(tables.orders[k - 1]!))) await out(chunk);
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
}

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
 * A decimal number in `b[start, end)`, or NaN. Up to 15 significant digits it is one exact
 * multiplication or division of two float64s, so correctly rounded, as `Number()` would give;
 * longer or odder forms go through `Number()` itself.
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
  if (i < end && (b[i] === 101 || b[i] === 69) && any) {
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
  if (!any || i !== end || digits > 15 || exponent < -22 || exponent > 22) return slowNumber(b, start, end);
  const value = exponent >= 0 ? mantissa * POW10[exponent]! : mantissa / POW10[-exponent]!;
  return negative ? -value : value;
}

function slowNumber(b: Uint8Array, start: number, end: number): number {
  const text = LATIN1.decode(b.subarray(start, end)).toLowerCase();
  if (text === '-inf' || text === '-infinity') return -Infinity;
  if (text === 'inf' || text === 'infinity') return Infinity;
  return text.trim() === '' ? NaN : Number(text);
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
  const src = options.source;
  let pos = b.length >= 3 && b[0] === 0xef && b[1] === 0xbb && b[2] === 0xbf ? 3 : 0;
  let lineNo = 0;
  let lineStart = 0;
  let lineEnd = 0;
  /** Advances to the next line: [lineStart, lineEnd) without its CR LF; false at the end. */
  const nextLine = (): boolean => {
    if (pos >= b.length) return false;
    let end = b.indexOf(10, pos);
    if (end < 0) end = b.length;
    lineStart = pos;
    lineEnd = end > pos && b[end - 1] === 13 ? end - 1 : end;
    pos = end + 1;
    lineNo++;
    return true;
  };
  const lineText = () => new TextDecoder().decode(b.subarray(lineStart, lineEnd)).trim();
  const fail = (what: string, hint?: string): never => {
    throw new KotobaError(`${at(src, lineNo)}${what}`, hint ?? 'the ARPA file is malformed or truncated');
  };
  const blank = () => {
    for (let i = lineStart; i < lineEnd; i++) if (!isSpace(b[i]!)) return false;
    return true;
  };

  // Header: anything before \data\ is ignored (SRILM and IRSTLM write comments there).
  do {
    if (!nextLine()) {
      throw new KotobaError(`${at(src)}not an ARPA file: no \\data\\ line`, 'give an ARPA file (or a kotoba binary model)');
    }
  } while (lineText() !== '\\data\\');
  const counts: number[] = [];
  for (;;) {
    if (!nextLine()) fail('file ends inside the \\data\\ header');
    const t = lineText();
    if (t === '') {
      if (counts.length > 0) break;
      continue;
    }
    const m = /^ngram\s+(\d+)\s*=\s*(\d+)$/.exec(t);
    if (!m) {
      if (t.startsWith('\\') && counts.length > 0) {
        pos = lineStart;
        lineNo--;
        break;
      }
      fail(`expected 'ngram N=COUNT' in the \\data\\ header, found '${t.slice(0, 60)}'`);
    }
    const k = Number(m![1]);
    if (k !== counts.length + 1) fail(`expected 'ngram ${counts.length + 1}=…', found order ${k}`);
    counts.push(Number(m![2]));
  }
  if (counts.length === 0) fail('the \\data\\ header lists no n-gram counts');
  const N = counts.length;

  const vocab = new Vocabulary();
  const table = new WordTable();
  for (const special of [UNK_WORD, BOS_WORD, EOS_WORD]) {
    const bytes = UTF8.encode(special);
    table.add(vocab.id(special), bytes, 0, bytes.length);
  }
  const decoder = new TextDecoder('utf-8', { fatal: true });
  const orders: NgramOrderTable[] = [];
  const seenSpecial = [false, false, false];
  let fieldStart = 0;
  let fieldEnd = 0;
  /** The next field of the current line into [fieldStart, fieldEnd); false when none is left. */
  const field = (): boolean => {
    let i = fieldEnd;
    while (i < lineEnd && isSpace(b[i]!)) i++;
    if (i >= lineEnd) return false;
    fieldStart = i;
    while (i < lineEnd && !isSpace(b[i]!)) i++;
    fieldEnd = i;
    return true;
  };
  const fieldText = () => new TextDecoder().decode(b.subarray(fieldStart, fieldEnd)).slice(0, 40);
  for (let k = 1; k <= N; k++) {
    do {
      if (!nextLine()) fail(`file ends before the \\${k}-grams: section`);
    } while (blank());
    if (lineText() !== `\\${k}-grams:`) fail(`expected '\\${k}-grams:', found '${lineText().slice(0, 60)}'`);
    const size = counts[k - 1]!;
    const t = emptyOrder(k, size);
    for (let i = 0; i < size; i++) {
      if (!nextLine()) fail(`file ends after ${i} of ${size} ${k}-grams`, 'the file is truncated');
      fieldEnd = lineStart;
      if (!field() || b[fieldStart] === 92 /* \\ */) {
        fail(`expected ${size} ${k}-grams, found ${i}`, 'the n-gram count in the \\data\\ header does not match the section');
      }
      const prob = parseDecimal(b, fieldStart, fieldEnd);
      if (Number.isNaN(prob)) fail(`expected a log10 probability, found '${fieldText()}'`);
      for (let j = 0; j < k; j++) {
        if (!field()) fail(`expected ${k} words after the probability of a ${k}-gram`);
        let id = table.find(b, fieldStart, fieldEnd);
        if (k === 1) {
          if (id < 0) {
            let word: string;
            try {
              word = decoder.decode(b.subarray(fieldStart, fieldEnd));
            } catch {
              fail('invalid UTF-8 in a word', 'convert the file to UTF-8');
            }
            id = vocab.add(word!);
            table.add(id, b, fieldStart, fieldEnd);
          } else if (id <= 2) seenSpecial[id] = true;
        } else if (id < 0) {
          fail(`the word '${fieldText()}' of a ${k}-gram is not among the unigrams`);
        }
        t.words[i * k + j] = id;
      }
      let backoff = 0;
      if (field()) {
        backoff = parseDecimal(b, fieldStart, fieldEnd);
        if (Number.isNaN(backoff)) fail(`expected a log10 backoff, found '${fieldText()}'`);
        if (field()) fail(`too many fields for a ${k}-gram`);
      }
      t.log10Prob[i] = prob <= LOG_ZERO ? -Infinity : prob;
      t.log10Backoff[i] = backoff <= LOG_ZERO ? -Infinity : backoff;
    }
    orders.push(t);
  }
  do {
    if (!nextLine()) fail('file ends without \\end\\', 'the file is truncated');
  } while (blank());
  if (lineText() !== '\\end\\') {
    fail(`expected '\\end\\' after ${counts[N - 1]} ${N}-grams, found '${lineText().slice(0, 60)}'`, 'the n-gram count in the \\data\\ header does not match the section');
  }

  // Unigrams indexed by word id; specials the file lacks are added, as KenLM does.
  const uni = orders[0]!;
  const full = emptyOrder(1, vocab.size);
  full.log10Prob.fill(-Infinity);
  for (let i = 0; i < uni.size; i++) {
    const id = uni.words[i]!;
    full.log10Prob[id] = uni.log10Prob[i]!;
    full.log10Backoff[id] = uni.log10Backoff[i]!;
  }
  for (let id = 0; id < vocab.size; id++) full.words[id] = id;
  if (!seenSpecial[0]) {
    options.warn?.(`${at(src)}the model has no <unk>; unknown words get log10 probability -100 (as KenLM does)`);
    full.log10Prob[0] = -100;
  }
  if (!seenSpecial[1]) full.log10Prob[1] = 0;
  if (!seenSpecial[2]) options.warn?.(`${at(src)}the model has no </s>; sentence ends get probability 0`);
  orders[0] = full;
  return { vocab, orders, description: `${N}-gram backoff model read from ARPA` };
}
