/**
 * Count files: the counted n-grams of one shard of a corpus, so that shards counted anywhere
 * (`kotoba count`) merge into one model (`kotoba train --from-counts`) exactly as if the
 * corpus had been one file — the map and reduce steps of counting (Brants et al. 2007).
 *
 * The file is estimation's COUNT stream (pipeline.ts) with the words it needs to stand alone.
 * Version 1, little-endian, written and read as a stream (gzip it by naming it `.gz`):
 *
 *   bytes 0..7     magic "KBCOUNTS"
 *   bytes 8..11    format version (uint32), 1
 *   bytes 12..15   byte length H of the JSON header (uint32, at most 1 MB)
 *   H bytes        JSON header {"format":"kotoba-counts","version":1,"order":N,"sentences":S,
 *                  "words":W,"vocabulary":V,"vocabularyBytes":B,"text":{…}}: the order, the
 *                  shard's sentences and words (`</s>` not counted), its number of word types and
 *                  the byte length of the word list, and the text options it was counted with
 *   B bytes        the V words in UTF-8, each ended by "\n": word id i is the i-th, `<unk>`,
 *                  `<s>`, `</s>` first, then first appearance in the shard
 *   0–3 bytes      zeros, to a multiple of 4 bytes from the start of the file
 *   rows           (N + 1) uint32 each: N word ids and a count ≥ 1. One row per distinct n-gram
 *                  that ends a token, padded on the left with `<s>` where it reaches back past its
 *                  sentence's start (`<s> <s> w`), strictly increasing in suffix order (the last
 *                  word first). The counts sum to S + W.
 *   trailer        16 bytes: the number of rows (uint64 as two uint32, low first), the checksum
 *                  (uint32), and "KBCE"
 *
 * The checksum is 32-bit FNV-1a over every byte before the rows, then over every row word (as
 * one uint32 each): a damaged file is an error, not wrong counts. Readers check everything —
 * magic, version, sizes, words, row order, ids, counts, totals, checksum — in one pass.
 */
import { KotobaError } from '../errors.js';
import { BOS, BOS_WORD, EOS, EOS_WORD, UNK_WORD, Vocabulary } from '../text/vocabulary.js';
import { checkOrder } from './estimate.js';
import type { RowCursor } from './records.js';

/** The first eight bytes of every count file. */
export const COUNT_FILE_MAGIC = 'KBCOUNTS';
/** The format version this kotoba writes (and the newest it reads). */
export const COUNT_FILE_VERSION = 1;
const TRAILER_MAGIC = 'KBCE';
const TRAILER_BYTES = 16;
const MAX_HEADER_BYTES = 1 << 20;
const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;
const UTF8 = new TextEncoder();

/** What a count file says about its shard. */
export interface CountFileHeader {
  order: number;
  sentences: number;
  words: number;
  /** The text options the shard was counted with (lowercase, segment), as given. */
  text: { lowercase?: boolean; segment?: string };
}

function fnvBytes(h: number, b: Uint8Array): number {
  for (let i = 0; i < b.length; i++) h = Math.imul(h ^ b[i]!, FNV_PRIME);
  return h;
}

/**
 * A count file as byte chunks: `rows` is the COUNT stream (N + 1 words per row, suffix order),
 * `vocab` the shard's words.
 *
 * @example
 * ```ts
 * import { countFileChunks, type RowCursor, type Vocabulary } from 'kotoba';
 * import { writeAtomic } from 'kotoba/node';
 * declare const vocab: Vocabulary;
 * declare const rows: RowCursor; // COUNT rows of order 3
 * await writeAtomic('part1.counts.gz', async (out) => {
 *   for (const chunk of countFileChunks({ order: 3, sentences: 10, words: 52, text: {} }, vocab, rows)) await out(chunk);
 * });
 * ```
 */
export function* countFileChunks(header: CountFileHeader, vocab: Vocabulary, rows: RowCursor): Generator<Uint8Array> {
  const N = header.order;
  const words = UTF8.encode(vocab.list().map((w) => `${w}\n`).join(''));
  const json = UTF8.encode(
    JSON.stringify({
      format: 'kotoba-counts',
      version: COUNT_FILE_VERSION,
      order: N,
      sentences: header.sentences,
      words: header.words,
      vocabulary: vocab.size,
      vocabularyBytes: words.length,
      text: header.text,
    }),
  );
  const prefixLength = 16 + json.length + words.length;
  const prefix = new Uint8Array(prefixLength + ((4 - (prefixLength % 4)) % 4));
  for (let i = 0; i < 8; i++) prefix[i] = COUNT_FILE_MAGIC.charCodeAt(i);
  const view = new DataView(prefix.buffer);
  view.setUint32(8, COUNT_FILE_VERSION, true);
  view.setUint32(12, json.length, true);
  prefix.set(json, 16);
  prefix.set(words, 16 + json.length);
  let h = fnvBytes(FNV_OFFSET, prefix);
  yield prefix;
  const W = N + 1;
  const block = new Uint32Array(W * 65536);
  let n = 0;
  let total = 0;
  while (rows.next()) {
    const row = rows.row;
    const at = rows.at;
    for (let j = 0; j < W; j++) {
      const x = row[at + j]!;
      block[n++] = x;
      h = Math.imul(h ^ x, FNV_PRIME);
    }
    total++;
    if (n === block.length) {
      yield new Uint8Array(block.buffer.slice(0, n * 4));
      n = 0;
    }
  }
  if (n > 0) yield new Uint8Array(block.buffer.slice(0, n * 4));
  const trailer = new Uint8Array(TRAILER_BYTES);
  const t = new DataView(trailer.buffer);
  t.setUint32(0, total % 2 ** 32, true);
  t.setUint32(4, Math.floor(total / 2 ** 32), true);
  t.setUint32(8, h >>> 0, true);
  for (let i = 0; i < 4; i++) trailer[12 + i] = TRAILER_MAGIC.charCodeAt(i);
  yield trailer;
}

/**
 * True when `bytes` (a file's first bytes, gunzipped) start like a count file.
 *
 * @example
 * ```ts
 * import { isCountFile } from 'kotoba';
 * declare const head: Uint8Array;
 * if (!isCountFile(head)) console.error('not a kotoba count file');
 * ```
 */
export function isCountFile(bytes: Uint8Array): boolean {
  if (bytes.length < 8) return false;
  for (let i = 0; i < 8; i++) if (bytes[i] !== COUNT_FILE_MAGIC.charCodeAt(i)) return false;
  return true;
}

/**
 * Reads a count file pushed to it in chunks of any size, checking everything as it goes: the
 * header and words come first (`header`, `vocab`), then blocks of rows from `push`, and `end`
 * checks the trailer. Every problem is a KotobaError naming the file.
 *
 * @example
 * ```ts
 * import { CountFileReader } from 'kotoba';
 * declare const chunks: Iterable<Uint8Array>;
 * const reader = new CountFileReader('part1.counts');
 * let rows = 0;
 * for (const chunk of chunks) for (const block of reader.push(chunk)) rows += block.length / (reader.header!.order + 1);
 * reader.end(); // the trailer: row count and checksum
 * ```
 */
export class CountFileReader {
  header: CountFileHeader | null = null;
  vocab: Vocabulary | null = null;
  private pending = new Uint8Array(0);
  private offset = 0; // bytes of the file consumed before `pending`
  private prefixBytes = -1; // header + words + padding, once known
  private vocabBytes = 0;
  private vocabSize = 0;
  private hash = FNV_OFFSET;
  private rows = 0;
  private countSum = 0;
  private previous = new Uint32Array(0);
  private done = false;

  constructor(readonly source: string) {}

  private error(message: string, hint = 'count the shard again with kotoba count'): KotobaError {
    return new KotobaError(`${this.source}: ${message}`, hint);
  }

  /** Takes the next chunk; returns the blocks of rows it completes ((N + 1) words per row). */
  push(chunk: Uint8Array): Uint32Array[] {
    if (this.done) throw this.error('data after the end of the count file');
    // A plain view: Node's Buffer.slice does not copy, Uint8Array's does.
    let buf = new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    if (this.pending.length > 0) {
      buf = new Uint8Array(this.pending.length + chunk.length);
      buf.set(this.pending);
      buf.set(chunk, this.pending.length);
    }
    let used = 0;
    if (this.prefixBytes < 0) {
      used = this.readPrefix(buf);
      if (used === 0) {
        this.pending = buf.slice();
        return [];
      }
    }
    const out: Uint32Array[] = [];
    const W = this.header!.order + 1;
    const rowBytes = W * 4;
    // Hold back what may be the trailer.
    const available = buf.length - used - TRAILER_BYTES;
    const n = available > 0 ? Math.floor(available / rowBytes) : 0;
    if (n > 0) {
      const words = new Uint32Array(buf.slice(used, used + n * rowBytes).buffer);
      this.checkRows(words, n, W);
      out.push(words);
      used += n * rowBytes;
    }
    this.offset += used;
    this.pending = buf.slice(used);
    return out;
  }

  /** Parses magic, header and words once they are all in `buf`; returns the bytes used, or 0. */
  private readPrefix(buf: Uint8Array): number {
    if (buf.length < 16) return 0;
    if (!isCountFile(buf)) throw this.error('not a kotoba count file (no KBCOUNTS magic)', 'give a file written by kotoba count');
    const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    const version = view.getUint32(8, true);
    if (version > COUNT_FILE_VERSION) {
      throw this.error(`count file version ${version} is newer than this kotoba reads (${COUNT_FILE_VERSION})`, 'update kotoba, or count the shard with this version');
    }
    if (version < 1) throw this.error(`unknown count file version ${version}`);
    const headerBytes = view.getUint32(12, true);
    if (headerBytes > MAX_HEADER_BYTES) throw this.error(`header of ${headerBytes} bytes is too large`);
    if (buf.length < 16 + headerBytes) return 0;
    let json: Record<string, unknown>;
    try {
      json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(buf.subarray(16, 16 + headerBytes))) as Record<string, unknown>;
    } catch {
      throw this.error('damaged header (not JSON)');
    }
    const whole = (name: string, min: number, max: number): number => {
      const v = json[name];
      if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw this.error(`damaged header: ${name} is ${JSON.stringify(v)}`);
      return v;
    };
    if (json.format !== 'kotoba-counts') throw this.error('damaged header: not a kotoba-counts file');
    let order: number;
    try {
      order = checkOrder(whole('order', 1, 255));
    } catch (e) {
      throw e instanceof KotobaError ? this.error(e.message) : e;
    }
    const sentences = whole('sentences', 0, Number.MAX_SAFE_INTEGER);
    const words = whole('words', 0, Number.MAX_SAFE_INTEGER);
    this.vocabSize = whole('vocabulary', 3, 2 ** 32 - 1);
    this.vocabBytes = whole('vocabularyBytes', 0, 2 ** 40);
    const text = json.text;
    if (text !== undefined && (typeof text !== 'object' || text === null || Array.isArray(text))) throw this.error('damaged header: text options');
    const t = (text ?? {}) as Record<string, unknown>;
    const options: CountFileHeader['text'] = {};
    if (t.lowercase === true) options.lowercase = true;
    if (typeof t.segment === 'string') options.segment = t.segment;
    if (this.vocabBytes < this.vocabSize * 2) throw this.error('damaged header: the word list is too short for the vocabulary');
    const prefix = 16 + headerBytes + this.vocabBytes;
    const padded = prefix + ((4 - (prefix % 4)) % 4);
    if (buf.length < padded) return 0;
    this.vocab = this.readWords(buf.subarray(16 + headerBytes, prefix));
    for (let i = prefix; i < padded; i++) if (buf[i] !== 0) throw this.error('damaged padding after the word list');
    this.header = { order, sentences, words, text: options };
    this.hash = fnvBytes(FNV_OFFSET, buf.subarray(0, padded));
    this.prefixBytes = padded;
    this.previous = new Uint32Array(order + 1);
    return padded;
  }

  private readWords(bytes: Uint8Array): Vocabulary {
    let text: string;
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    } catch {
      throw this.error('damaged word list (invalid UTF-8)');
    }
    if (!text.endsWith('\n')) throw this.error('damaged word list (no final newline)');
    const list = text.slice(0, -1).split('\n');
    if (list.length !== this.vocabSize) throw this.error(`the word list has ${list.length} words, the header says ${this.vocabSize}`);
    if (list[0] !== UNK_WORD || list[1] !== BOS_WORD || list[2] !== EOS_WORD) throw this.error('the word list must start with <unk> <s> </s>');
    const vocab = Vocabulary.fromWords(list);
    if (vocab.size !== list.length) throw this.error('the word list repeats a word');
    for (let i = 3; i < list.length; i++) {
      const w = list[i]!;
      if (w === '' || /[ \t\r]/.test(w)) throw this.error(`word ${i} of the word list is empty or has a space in it`);
    }
    return vocab;
  }

  /** Checks rows: ids, counts, <s> only as left padding, </s> only last, strictly increasing. */
  private checkRows(words: Uint32Array, n: number, W: number): void {
    const N = W - 1;
    const V = this.vocabSize;
    const prev = this.previous;
    let h = this.hash;
    for (let r = 0; r < n; r++) {
      const at = r * W;
      let lead = 0;
      while (lead < N && words[at + lead] === BOS) lead++;
      for (let j = 0; j < N; j++) {
        const w = words[at + j]!;
        if (w >= V) throw this.error(`row ${this.rows + 1} has word id ${w}, outside the ${V} words`);
        if (j >= lead && w === BOS) throw this.error(`row ${this.rows + 1} has <s> after a word`);
        if (w === EOS && j !== N - 1) throw this.error(`row ${this.rows + 1} has </s> before its last word`);
      }
      if (lead === N) throw this.error(`row ${this.rows + 1} predicts <s>`);
      const count = words[at + N]!;
      if (count === 0) throw this.error(`row ${this.rows + 1} has count 0`);
      if (this.rows > 0) {
        let cmp = 0;
        for (let j = N - 1; j >= 0 && cmp === 0; j--) cmp = words[at + j]! - prev[j]!;
        if (cmp <= 0) throw this.error(`row ${this.rows + 1} is ${cmp === 0 ? 'a repeat' : 'out of order'} (rows must increase in suffix order)`);
      }
      for (let j = 0; j < W; j++) {
        prev[j] = words[at + j]!;
        h = Math.imul(h ^ words[at + j]!, FNV_PRIME);
      }
      this.countSum += count;
      this.rows++;
    }
    this.hash = h;
  }

  /** Checks the trailer: call after the last chunk. */
  end(): void {
    if (this.prefixBytes < 0) throw this.error('truncated count file (it ends inside its header)', 'copy or count the shard again');
    this.done = true;
    if (this.pending.length !== TRAILER_BYTES) {
      throw this.error(
        this.pending.length < TRAILER_BYTES ? 'truncated count file (no trailer)' : 'truncated count file (it ends inside a row)',
        'copy or count the shard again',
      );
    }
    const t = new DataView(this.pending.buffer, this.pending.byteOffset, TRAILER_BYTES);
    let magic = '';
    for (let i = 12; i < 16; i++) magic += String.fromCharCode(this.pending[i]!);
    if (magic !== TRAILER_MAGIC) throw this.error('truncated or damaged count file (no trailer)', 'copy or count the shard again');
    const rows = t.getUint32(0, true) + t.getUint32(4, true) * 2 ** 32;
    if (rows !== this.rows) throw this.error(`the trailer says ${rows} rows, the file has ${this.rows}`, 'copy or count the shard again');
    if (t.getUint32(8, true) !== this.hash >>> 0) throw this.error('checksum mismatch: the file is damaged', 'copy or count the shard again');
    const h = this.header!;
    if (this.countSum !== h.sentences + h.words) {
      throw this.error(`the counts sum to ${this.countSum}, but the header says ${h.sentences} sentences and ${h.words} words`);
    }
  }
}
