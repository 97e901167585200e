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

/** Tries precisions 9, 8, … down with toPrecision (exact, slow; the reference). */
function slowShortest(x: number): string {
  let best = x.toPrecision(9);
  for (let p = 8; p >= 1; p--) {
    const s = x.toPrecision(p);
    if (Math.fround(Number(s)) !== x) break;
    best = s;
  }
  return String(Number(best));
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
    // m < 10^9 fits an int32, so the digit loop runs on integer division.
    let m = Math.min(mHi, Math.max(mLo, Math.round(a * scale))) | 0;
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

/** Appends bytes to fixed-size chunks, handing each full chunk to `flush`. */
class ByteWriter {
  buf = new Uint8Array(1 << 20);
  at = 0;
  constructor(private readonly flush: (chunk: Uint8Array) => Promise<void> | void) {}
  async reserve(n: number): Promise<void> {
    if (this.at + n > this.buf.length) await this.drain(n);
  }
  async drain(need = 0): Promise<void> {
    if (this.at > 0) await this.flush(this.buf.slice(0, this.at));
    this.at = 0;
    if (need > this.buf.length) this.buf = new Uint8Array(need * 2);
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
  const { orders, vocab } = tables;
  // All words' UTF-8 bytes in one array, word i at [start[i], start[i+1]).
  const encoded = vocab.list().map((w) => UTF8.encode(w));
  const start = new Int32Array(encoded.length + 1);
  for (let i = 0; i < encoded.length; i++) start[i + 1] = start[i]! + encoded[i]!.length;
  const wordBytes = new Uint8Array(start[encoded.length]!);
  encoded.forEach((b, i) => wordBytes.set(b, start[i]!));
  const longest = encoded.reduce((m, b) => Math.max(m, b.length), 0);
  const w = new ByteWriter(out);
  let head = '\\data\\\n';
  for (const o of orders) head += `ngram ${o.order}=${o.size}\n`;
  const top = orders.length;
  await w.reserve(head.length * 3);
  w.bytes(UTF8.encode(head));
  for (const o of orders) {
    const k = o.order;
    const section = UTF8.encode(`\n\\${k}-grams:\n`);
    await w.reserve(section.length);
    w.bytes(section);
    const lineMax = 64 + k * (longest + 1);
    for (let i = 0; i < o.size; i++) {
      if (w.at + lineMax > w.buf.length) await w.drain(lineMax);
      w.value(o.log10Prob[i]!);
      const buf = w.buf;
      let at = w.at;
      for (let j = 0; j < k; j++) {
        buf[at++] = j === 0 ? 9 : 32;
        const id = o.words[i * k + j]!;
        for (let b = start[id]!, end = start[id + 1]!; b < end; b++) buf[at++] = wordBytes[b]!;
      }
      w.at = at;
      if (k !== top) {
        w.byte(9);
        w.value(o.log10Backoff[i]!);
      }
      w.byte(10);
    }
  }
  await w.reserve(16);
  w.bytes(UTF8.encode('\n\\end\\\n'));
  await w.drain();
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

function isSpace(c: number): boolean {
  return c === 32 || c === 9 || c === 13;
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
  const src = options.source;
  let pos = 0;
  let lineNo = 0;
  const nextLine = (): string | null => {
    if (pos >= text.length) return null;
    let end = text.indexOf('\n', pos);
    if (end < 0) end = text.length;
    let line = text.slice(pos, end);
    if (line.endsWith('\r')) line = line.slice(0, -1);
    pos = end + 1;
    lineNo++;
    return line;
  };
  const fail = (what: string, hint?: string): never => {
    throw new KotobaError(`${at(src, lineNo)}${what}`, hint ?? 'the ARPA file is malformed or truncated');
  };

  // Header: anything before \data\ is ignored (SRILM and IRSTLM write comments there).
  let line: string | null;
  do {
    line = nextLine();
    if (line === null) {
      throw new KotobaError(`${at(src)}not an ARPA file: no \\data\\ line`, 'give an ARPA file (or a kotoba binary model)');
    }
  } while (line.trim() !== '\\data\\');
  const counts: number[] = [];
  for (;;) {
    line = nextLine();
    if (line === null) fail('file ends inside the \\data\\ header');
    const t = line!.trim();
    if (t === '') {
      if (counts.length > 0) break;
      continue;
    }
    const m = /^ngram\s+(\d+)\s*=\s*(\d+)$/.exec(t);
    if (!m) {
      if (t.startsWith('\\') && counts.length > 0) {
        pos -= line!.length + 1;
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
  const orders: NgramOrderTable[] = [];
  let unigramIds: Int32Array | null = null;
  const seenSpecial = { unk: false, bos: false, eos: false };
  for (let k = 1; k <= N; k++) {
    do {
      line = nextLine();
      if (line === null) fail(`file ends before the \\${k}-grams: section`);
    } while (line!.trim() === '');
    if (line!.trim() !== `\\${k}-grams:`) fail(`expected '\\${k}-grams:', found '${line!.trim().slice(0, 60)}'`);
    const size = counts[k - 1]!;
    const t = emptyOrder(k, size);
    if (k === 1) unigramIds = new Int32Array(size);
    for (let i = 0; i < size; i++) {
      line = nextLine();
      if (line === null) fail(`file ends after ${i} of ${size} ${k}-grams`, 'the file is truncated');
      // Fields: prob, k words, optional backoff; separated by tabs or spaces.
      const s = line!;
      let p = 0;
      const field = (): string | null => {
        while (p < s.length && isSpace(s.charCodeAt(p))) p++;
        if (p >= s.length) return null;
        const start = p;
        while (p < s.length && !isSpace(s.charCodeAt(p))) p++;
        return s.slice(start, p);
      };
      const probText = field();
      if (probText === null || probText.startsWith('\\')) {
        fail(`expected ${size} ${k}-grams, found ${i}`, 'the n-gram count in the \\data\\ header does not match the section');
      }
      const prob = Number(probText);
      if (Number.isNaN(prob)) fail(`expected a log10 probability, found '${probText!.slice(0, 40)}'`);
      for (let j = 0; j < k; j++) {
        const w = field();
        if (w === null) fail(`expected ${k} words after the probability of a ${k}-gram`);
        let id: number;
        if (k === 1) {
          id = vocab.add(w!);
          if (w === UNK_WORD) seenSpecial.unk = true;
          else if (w === BOS_WORD) seenSpecial.bos = true;
          else if (w === EOS_WORD) seenSpecial.eos = true;
          unigramIds![i] = id;
        } else {
          id = vocab.find(w!);
          if (id < 0) fail(`the word '${w}' of a ${k}-gram is not among the unigrams`);
        }
        t.words[i * k + j] = id;
      }
      const backoffText = field();
      let backoff = 0;
      if (backoffText !== null) {
        backoff = Number(backoffText);
        if (Number.isNaN(backoff)) fail(`expected a log10 backoff, found '${backoffText.slice(0, 40)}'`);
        if (field() !== null) fail(`too many fields for a ${k}-gram`);
      }
      t.log10Prob[i] = prob <= LOG_ZERO ? -Infinity : prob;
      t.log10Backoff[i] = backoff <= LOG_ZERO ? -Infinity : backoff;
    }
    orders.push(t);
  }
  do {
    line = nextLine();
    if (line === null) fail('file ends without \\end\\', 'the file is truncated');
  } while (line!.trim() === '');
  if (line!.trim() !== '\\end\\') {
    fail(`expected '\\end\\' after ${counts[N - 1]} ${N}-grams, found '${line!.trim().slice(0, 60)}'`, 'the n-gram count in the \\data\\ header does not match the section');
  }

  // Unigrams indexed by word id; specials the file lacks are added, as KenLM does.
  const uni = orders[0]!;
  const full = emptyOrder(1, vocab.size);
  full.log10Prob.fill(-Infinity);
  for (let i = 0; i < uni.size; i++) {
    const id = uni.words[i]!;
    full.words[id] = id;
    full.log10Prob[id] = uni.log10Prob[i]!;
    full.log10Backoff[id] = uni.log10Backoff[i]!;
  }
  for (let id = 0; id < vocab.size; id++) full.words[id] = id;
  if (!seenSpecial.unk) {
    options.warn?.(`${at(src)}the model has no <unk>; unknown words get log10 probability -100 (as KenLM does)`);
    full.log10Prob[0] = -100;
  }
  if (!seenSpecial.bos) full.log10Prob[1] = 0;
  if (!seenSpecial.eos) options.warn?.(`${at(src)}the model has no </s>; sentence ends get probability 0`);
  orders[0] = full;
  return { vocab, orders, description: `${N}-gram backoff model read from ARPA` };
}
