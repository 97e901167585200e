/**
 * kotoba's binary n-gram format: a model's query structure (probing or trie) written as it lies in
 * memory, so that loading is one read, views into it, and a linear check. Layout, little-endian:
 *
 *   bytes 0..7    magic "KOTOBALM"
 *   bytes 8..11   format version (uint32)
 *   bytes 12..15  byte length of the JSON header (uint32)
 *   bytes 16..19  checksum of the whole file, these four bytes read as zero (uint32)
 *   bytes 20..23  zero
 *   JSON header   { format, order, vocabSize, counts, description, …the structure's sizes,
 *                   text, sections: [{ name, offset, bytes }] }
 *                 (text: the model's text options, { lowercase, segment }; absent when unknown)
 *   sections      the vocabulary (UTF-8 words, one per line), then the arrays, each 64-byte aligned
 *
 * A model file is untrusted input: the checksum (header included) catches damage, and every
 * structural invariant is checked at load in time linear in the file (probing.ts and trie.ts
 * say which), so that a crafted file is a one-line error, never a hang or a wrong number.
 */
import { KotobaError } from '../errors.js';
import { textOptionsFromJson, textOptionsToJson, type TextOptionsJson } from '../text/text-options.js';
import { Vocabulary } from '../text/vocabulary.js';
import { BackoffModel } from './model.js';
import { ProbingSearch, validateProbing, type ProbingArrays } from './probing.js';
import type { NgramFormat, Quantization } from './search.js';
import { TrieSearch, trieWords, validateTrie, type TrieArrays } from './trie.js';
import { checksumInKernel, regionOf } from './wasm-memory.js';

/** The first eight bytes of every binary model. */
export const BINARY_MAGIC = 'KOTOBALM';
/** The format version this kotoba writes (and the newest it reads). */
export const BINARY_VERSION = 2;
/** File extension of binary models. */
export const BINARY_EXTENSION = '.kblm';
const PREFIX = 24;

interface Section {
  name: string;
  offset: number;
  bytes: number;
}

/** The JSON header: what the model is, and the sizes its structure needs besides the arrays. */
interface Header {
  format: NgramFormat;
  order: number;
  vocabSize: number;
  /** Real n-grams per order, unigrams first. */
  counts: number[];
  description: string;
  /** The model's text options (absent when unknown). */
  text?: TextOptionsJson;
  /** Probing: unigram records, the slots of each order ≥ 2, whether word fields hold a filter. */
  unigramSlots?: number;
  capacities?: number[];
  filter?: boolean;
  /** Trie: entries per order (blanks included), quantization, 32-bit probabilities. */
  entries?: number[];
  quantization?: Quantization;
  fullProb?: boolean;
  sections: Section[];
}

/**
 * FNV-1a over the file's 32-bit words, in four interleaved lanes (for speed), reading the
 * checksum's own word (word 4) as zero. The chunks are the file in order; each chunk's length is
 * a multiple of 4 (serializeModel pads the vocabulary), and a last partial word reads as if
 * padded with zeros.
 */
function checksumOf(chunks: Uint8Array[]): number {
  const h = Uint32Array.of(0x811c9dc5, 0x01000193, 0x2545f491, 0x9e3779b9);
  let g = 0; // index of the next word in the file
  const one = (w: number) => {
    h[g & 3] = Math.imul(h[g & 3]! ^ (g === 4 ? 0 : w), 0x01000193);
    g++;
  };
  for (const c of chunks) {
    const n = c.byteLength >>> 2;
    const words = c.byteOffset % 4 === 0 ? new Uint32Array(c.buffer, c.byteOffset, n) : new Uint32Array(c.slice(0, n * 4).buffer);
    let i = 0;
    while (i < n && (g < 8 || (g & 3) !== 0)) one(words[i++]!);
    const groups = Math.floor((n - i) / 4);
    // Whole groups of four words: in the WebAssembly kernel when the bytes are in its memory.
    const region = regionOf(words.buffer);
    if (groups > 0 && region && checksumInKernel(region, words.subarray(i, i + 4 * groups), h)) {
      i += 4 * groups;
      g += 4 * groups;
    } else {
      let h0 = h[0]!;
      let h1 = h[1]!;
      let h2 = h[2]!;
      let h3 = h[3]!;
      for (; i + 4 <= n; i += 4) {
        h0 = Math.imul(h0 ^ words[i]!, 0x01000193);
        h1 = Math.imul(h1 ^ words[i + 1]!, 0x01000193);
        h2 = Math.imul(h2 ^ words[i + 2]!, 0x01000193);
        h3 = Math.imul(h3 ^ words[i + 3]!, 0x01000193);
        g += 4;
      }
      h.set([h0, h1, h2, h3]);
    }
    while (i < n) one(words[i++]!);
    if (c.byteLength % 4 !== 0) {
      let last = 0;
      for (let j = n * 4; j < c.byteLength; j++) last |= c[j]! << (8 * (j - n * 4));
      one(last);
    }
  }
  return (Math.imul(h[0]! ^ Math.imul(h[1]!, 31), 0x01000193) ^ Math.imul(h[2]! ^ Math.imul(h[3]!, 17), 0x01000193)) >>> 0;
}

/** Sections start on 64-byte boundaries, so that a 16-byte record never straddles two cache lines. */
const ALIGN = 64;
const align = (n: number) => Math.ceil(n / ALIGN) * ALIGN;

/**
 * True when `bytes` starts with the binary format's magic number.
 *
 * @example
 * ```ts
 * import { BackoffModel, deserializeModel, isBinaryModel, parseArpa } from 'kotoba';
 * declare const bytes: Uint8Array; // a model file's contents
 * const model = isBinaryModel(bytes)
 *   ? deserializeModel(bytes)
 *   : BackoffModel.fromTables(parseArpa(new TextDecoder().decode(bytes)));
 * ```
 */
export function isBinaryModel(bytes: Uint8Array): boolean {
  if (bytes.length < 8) return false;
  for (let i = 0; i < 8; i++) if (bytes[i] !== BINARY_MAGIC.charCodeAt(i)) return false;
  return true;
}

function littleEndian(): boolean {
  return new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;
}

function bytesOf(a: ArrayBufferView): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

/** The model's arrays as named sections, with the header fields of its structure. */
function partsOf(model: BackoffModel): { fields: Partial<Header>; parts: [string, Uint8Array][] } {
  const search = model.search;
  if (search instanceof ProbingSearch) {
    const a = search.arrays;
    return {
      fields: { unigramSlots: a.unigramSlots, capacities: a.capacities.slice(2), filter: a.filter },
      parts: [
        ['records', bytesOf(a.records)],
        ['blanks', bytesOf(a.blanks)],
      ],
    };
  }
  if (search instanceof TrieSearch) {
    const a = search.arrays;
    const parts: [string, Uint8Array][] = [
      ['unigram.prob', bytesOf(a.unigramProb)],
      ['unigram.backoff', bytesOf(a.unigramBackoff)],
      ['unigram.next', bytesOf(a.unigramNext)],
    ];
    for (let k = 2; k <= a.order; k++) {
      parts.push([`order.${k}`, bytesOf(a.bits[k]!)]);
      if (a.quantization) {
        parts.push([`bins.prob.${k}`, bytesOf(a.probCentres[k]!)]);
        if (k < a.order) parts.push([`bins.backoff.${k}`, bytesOf(a.backoffCentres[k]!)]);
      }
    }
    parts.push(['blanks', bytesOf(a.blanks)]);
    return { fields: { entries: a.entries, fullProb: a.fullProb, ...(a.quantization ? { quantization: a.quantization } : {}) }, parts };
  }
  throw new KotobaError('internal: unknown n-gram structure');
}

/**
 * The model as a list of byte chunks to write one after the other.
 *
 * @example
 * ```ts
 * import { serializeModel, type BackoffModel } from 'kotoba';
 * import { writeAtomic } from 'kotoba/node';
 * declare const model: BackoffModel;
 * await writeAtomic('wiki3.kblm', async (out) => {
 *   for (const chunk of serializeModel(model)) await out(chunk);
 * });
 * ```
 */
export function serializeModel(model: BackoffModel): Uint8Array[] {
  if (!littleEndian()) throw new KotobaError('the binary format needs a little-endian machine', 'write an ARPA file instead');
  const { fields, parts: arrays } = partsOf(model);
  const vocabText = new TextEncoder().encode(model.vocab.list().join('\n'));
  // Padded to a whole number of 32-bit words, so that every chunk is (for the checksum).
  const vocabBytes = new Uint8Array((vocabText.length + 3) & ~3);
  vocabBytes.set(vocabText);
  const parts: [string, Uint8Array][] = [['vocab', vocabBytes], ...arrays];
  const lengths = parts.map(([name, b]) => (name === 'vocab' ? vocabText.length : b.length));
  // The header's size depends on the offsets it lists; iterate until it is stable.
  let headerBytes = new Uint8Array(0);
  let sections: Section[] = [];
  for (let guess = 0; ; ) {
    let offset = align(PREFIX + guess);
    sections = parts.map(([name, b], i) => {
      const s = { name, offset, bytes: lengths[i]! };
      offset = align(offset + b.length);
      return s;
    });
    const header: Header = {
      format: model.format,
      order: model.order,
      vocabSize: model.vocab.size,
      counts: model.counts,
      description: model.description,
      ...(model.text ? { text: textOptionsToJson(model.text) } : {}),
      ...fields,
      sections,
    };
    headerBytes = new TextEncoder().encode(JSON.stringify(header));
    if (headerBytes.length === guess) break;
    guess = headerBytes.length;
  }
  const prefix = new Uint8Array(align(PREFIX + headerBytes.length));
  for (let i = 0; i < 8; i++) prefix[i] = BINARY_MAGIC.charCodeAt(i);
  const view = new DataView(prefix.buffer);
  view.setUint32(8, BINARY_VERSION, true);
  view.setUint32(12, headerBytes.length, true);
  prefix.set(headerBytes, PREFIX);
  const chunks: Uint8Array[] = [prefix];
  let at = prefix.length;
  for (let i = 0; i < parts.length; i++) {
    const pad = sections[i]!.offset - at;
    if (pad > 0) chunks.push(new Uint8Array(pad));
    chunks.push(parts[i]![1]);
    at = sections[i]!.offset + parts[i]![1].length;
  }
  view.setUint32(16, checksumOf(chunks), true);
  return chunks;
}

/**
 * Writes the checksum of a whole binary model file into it (after an edit: the tests craft
 * damaged files that only the structural checks can catch).
 */
export function sealBinaryModel(bytes: Uint8Array): void {
  new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).setUint32(16, checksumOf([bytes]), true);
}

/**
 * Opens a binary model. The typed arrays are views of `bytes` (copied only when misaligned), so
 * a model read into a SharedArrayBuffer can be shared with worker threads. A wrong magic
 * number, another version, a damaged or truncated file and every broken invariant of the
 * structure are one-line errors.
 *
 * @example
 * ```ts
 * import { deserializeModel } from 'kotoba';
 * const response = await fetch('models/wiki3.kblm');
 * const model = deserializeModel(new Uint8Array(await response.arrayBuffer()), 'wiki3.kblm');
 * ```
 */
export function deserializeModel(bytes: Uint8Array, source = 'model', options: { trusted?: boolean } = {}): BackoffModel {
  if (!isBinaryModel(bytes)) {
    throw new KotobaError(`${source}: not a kotoba binary model (wrong magic number)`, 'give a .kblm file written by kotoba, or an ARPA file');
  }
  if (!littleEndian()) throw new KotobaError('the binary format needs a little-endian machine', 'use the ARPA file instead');
  if (bytes.length < PREFIX) throw corrupt(source, 'it is shorter than its header');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = view.getUint32(8, true);
  if (version > BINARY_VERSION) {
    throw new KotobaError(
      `${source}: binary model format version ${version} is newer than this kotoba reads (version ${BINARY_VERSION})`,
      'upgrade kotoba, or convert the model to ARPA with the kotoba that wrote it',
    );
  }
  if (version !== BINARY_VERSION) {
    throw new KotobaError(`${source}: binary model format version ${version} is older than this kotoba reads (version ${BINARY_VERSION})`, 'convert the model again from its ARPA file');
  }
  const headerLength = view.getUint32(12, true);
  if (PREFIX + headerLength > bytes.length) throw corrupt(source, 'it is shorter than its header');
  if (!options.trusted && checksumOf([bytes]) !== view.getUint32(16, true)) throw corrupt(source, 'the checksum does not match');
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(PREFIX, PREFIX + headerLength)));
  } catch {
    throw corrupt(source, 'its header is not JSON');
  }
  const header = checkHeader(parsed, bytes.length, (reason) => corrupt(source, reason));
  const fail = (reason: string) => corrupt(source, reason);
  const sections = new Map(header.sections.map((s) => [s.name, s]));
  const get = (name: string): Uint8Array => {
    const s = sections.get(name);
    if (!s) throw fail(`the section ${name} is missing`);
    return bytes.subarray(s.offset, s.offset + s.bytes);
  };
  // A section as 32-bit values (`count` of them when given), a view unless misaligned.
  const words = <T>(name: string, make: (buffer: ArrayBufferLike, offset: number, length: number) => T, count?: number): T => {
    let b = get(name);
    if (b.length % 4 !== 0 || (count !== undefined && b.length !== count * 4)) throw fail(`the section ${name} has the wrong size`);
    if (b.byteOffset % 4 !== 0) b = b.slice();
    return make(b.buffer, b.byteOffset, b.length / 4);
  };
  const int32 = (b: ArrayBufferLike, o: number, n: number) => new Int32Array(b, o, n);
  const uint32 = (b: ArrayBufferLike, o: number, n: number) => new Uint32Array(b, o, n);
  const float32 = (b: ArrayBufferLike, o: number, n: number) => new Float32Array(b, o, n);
  let list: string[];
  try {
    list = new TextDecoder('utf-8', { fatal: true }).decode(get('vocab')).split('\n');
  } catch {
    throw fail('the vocabulary is not UTF-8');
  }
  const vocab = Vocabulary.fromWords(list);
  if (list.length !== header.vocabSize || vocab.size !== header.vocabSize) throw fail('the vocabulary does not match its size');
  const { order, vocabSize, counts } = header;
  const text = header.text === undefined ? undefined : textOptionsFromJson(header.text, source);
  if (header.format === 'probing') {
    const capacities = [0, 0, ...(header.capacities ?? [])];
    const arrays: ProbingArrays = {
      order,
      vocabSize,
      counts,
      unigramSlots: header.unigramSlots ?? -1,
      capacities,
      records: words('records', int32),
      blanks: words('blanks', int32),
      filter: header.filter === true,
    };
    if (arrays.blanks.length % 2 !== 0) throw fail('the blanks');
    if (!options.trusted) validateProbing(arrays, fail);
    return new BackoffModel(vocab, new ProbingSearch(arrays), header.description, text);
  }
  const entries = header.entries ?? [];
  const q = header.quantization;
  const shape = { order, vocabSize, entries, fullProb: header.fullProb === true, ...(q ? { quantization: q } : {}) };
  if (entries.length !== order || entries[0] !== vocabSize) throw fail('the counts');
  const bits: Uint32Array[] = [new Uint32Array(0), new Uint32Array(0)];
  const probCentres: Float32Array[] = [];
  const backoffCentres: Float32Array[] = [];
  for (let k = 2; k <= order; k++) {
    bits[k] = words(`order.${k}`, uint32, trieWords(shape, k));
    if (q) {
      probCentres[k] = words(`bins.prob.${k}`, float32, 2 ** q.probBits);
      if (k < order) backoffCentres[k] = words(`bins.backoff.${k}`, float32, 2 ** q.backoffBits);
    }
  }
  const arrays: TrieArrays = {
    ...shape,
    counts,
    unigramProb: words('unigram.prob', float32, vocabSize),
    unigramBackoff: words('unigram.backoff', float32, vocabSize),
    unigramNext: words('unigram.next', uint32, vocabSize + 1),
    bits,
    probCentres,
    backoffCentres,
    blanks: words('blanks', int32),
  };
  if (arrays.blanks.length % 2 !== 0) throw fail('the blanks');
  if (!options.trusted) validateTrie(arrays, fail);
  return new BackoffModel(vocab, new TrieSearch(arrays), header.description, text);
}

const isCount = (x: unknown): x is number => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;

/** The parsed header, every field of the right type and every section inside the file. */
function checkHeader(h: unknown, fileBytes: number, fail: (reason: string) => Error): Header {
  if (h === null || typeof h !== 'object' || Array.isArray(h)) throw fail('its header is not an object');
  const o = h as Record<string, unknown>;
  if (o.format !== 'probing' && o.format !== 'trie') throw fail('unknown structure');
  if (!(isCount(o.order) && o.order >= 1 && o.order <= 255)) throw fail('its order is not from 1 to 255');
  if (!(isCount(o.vocabSize) && o.vocabSize >= 3)) throw fail('its vocabulary size');
  const counts = o.counts;
  if (!(Array.isArray(counts) && counts.length === o.order && counts.every(isCount) && counts[0] === o.vocabSize)) throw fail('its n-gram counts');
  if (typeof o.description !== 'string') throw fail('its description');
  const countList = (x: unknown, n: number) => Array.isArray(x) && x.length === n && x.every(isCount);
  if (o.format === 'probing') {
    if (!isCount(o.unigramSlots) || !countList(o.capacities, o.order - 1) || typeof o.filter !== 'boolean') throw fail('its table sizes');
  } else {
    if (!countList(o.entries, o.order)) throw fail('its entry counts');
    const q = o.quantization;
    if (q !== undefined) {
      const qq = q as Record<string, unknown>;
      if (q === null || typeof q !== 'object' || !isCount(qq.probBits) || !isCount(qq.backoffBits) || qq.probBits < 2 || qq.probBits > 25 || qq.backoffBits < 2 || qq.backoffBits > 25) {
        throw fail('its quantization');
      }
    }
    if (o.fullProb !== undefined && typeof o.fullProb !== 'boolean') throw fail('its header');
  }
  if (!Array.isArray(o.sections)) throw fail('its section list');
  const names = new Set<string>();
  for (const s of o.sections as unknown[]) {
    const ss = s as Record<string, unknown>;
    if (s === null || typeof s !== 'object' || typeof ss.name !== 'string' || !isCount(ss.offset) || !isCount(ss.bytes) || ss.offset % ALIGN !== 0 || ss.offset < PREFIX) {
      throw fail('its section list');
    }
    if (ss.offset + ss.bytes > fileBytes) throw fail(`the section ${ss.name.slice(0, 40)} runs past the end of the file`);
    if (names.has(ss.name)) throw fail('its section list');
    names.add(ss.name);
  }
  return o as unknown as Header;
}

function corrupt(source: string, reason: string): KotobaError {
  return new KotobaError(`${source}: the binary model is truncated or corrupt: ${reason}`, 'rebuild it, or convert it again from the ARPA file');
}
