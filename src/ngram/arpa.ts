/**
 * ARPA files, the interchange format of KenLM, SRILM and IRSTLM: read and write. Browser-safe
 * (text in, text chunks out); file handling lives in node/.
 *
 * Values are written as the shortest decimal that reads back to the same float32, as lmplz writes
 * them. ARPA has no −∞: a probability of 0 is written as -99 (SRILM's convention) and -99 or below
 * reads back as −∞.
 */
import { KotobaError, at } from '../errors.js';
import { BOS_WORD, EOS_WORD, UNK_WORD, Vocabulary } from '../text/vocabulary.js';
import { emptyOrder, type NgramOrderTable, type NgramTables } from './tables.js';

const LOG_ZERO = -99;

/** An ARPA value: the shortest float32 digits, with -99 for log10 0. */
export function formatArpaValue(x: number): string {
  return x === -Infinity || x <= LOG_ZERO ? String(LOG_ZERO) : formatFloat32(x);
}

/** The shortest decimal string that parses back to the float32 `x` (as lmplz and query print). */
export function formatFloat32(x: number): string {
  if (!Number.isFinite(x)) return x > 0 ? 'inf' : x < 0 ? '-inf' : 'nan';
  if (x === 0) return '0';
  let best = x.toPrecision(9);
  for (let p = 8; p >= 1; p--) {
    const s = x.toPrecision(p);
    if (Math.fround(Number(s)) !== x) break;
    best = s;
  }
  return String(Number(best));
}

/**
 * Writes `tables` as ARPA text through `out`, in chunks. N-grams come in the order of the
 * tables (estimation keeps lmplz's suffix order).
 */
export async function writeArpa(tables: NgramTables, out: (chunk: string) => Promise<void> | void): Promise<void> {
  const { orders, vocab } = tables;
  const words = vocab.list();
  let head = '\\data\\\n';
  for (const o of orders) head += `ngram ${o.order}=${o.size}\n`;
  await out(head);
  const top = orders.length;
  for (const o of orders) {
    let buf = `\n\\${o.order}-grams:\n`;
    const k = o.order;
    for (let i = 0; i < o.size; i++) {
      let line = formatArpaValue(o.log10Prob[i]!) + '\t' + words[o.words[i * k]!];
      for (let j = 1; j < k; j++) line += ' ' + words[o.words[i * k + j]!];
      if (k !== top) line += '\t' + formatArpaValue(o.log10Backoff[i]!);
      buf += line + '\n';
      if (buf.length > 1 << 16) {
        await out(buf);
        buf = '';
      }
    }
    await out(buf);
  }
  await out('\n\\end\\\n');
}

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
          id = vocab.has(w!) ? vocab.id(w!) : -1;
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
