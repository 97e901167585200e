/**
 * kotoba's own binary n-gram format: the query model's typed arrays written as they are, so
 * loading is a read and a few views (no parsing). Layout, all little-endian:
 *
 *   bytes 0..7    magic "KOTOBALM"
 *   bytes 8..11   format version (uint32)
 *   bytes 12..15  byte length of the JSON header (uint32)
 *   JSON header   { order, vocabSize, capacity, description, text, checksum, sections: [{ name, offset, bytes }] }
 *                 (text: the model's text options, { lowercase, segment }; absent when unknown)
 *   sections      vocabulary (UTF-8 words, one per line), then the arrays, each 8-byte aligned
 *
 * The checksum covers every section, so a damaged file is an error rather than wrong numbers.
 */
import { KotobaError } from '../errors.js';
import { textOptionsFromJson, textOptionsToJson, type TextOptionsJson } from '../text/text-options.js';
import { Vocabulary } from '../text/vocabulary.js';
import { BackoffModel, RECORD, type BackoffModelArrays } from './model.js';

/** The first eight bytes of every binary model. */
export const BINARY_MAGIC = 'KOTOBALM';
/** The format version this kotoba writes (and the newest it reads). */
export const BINARY_VERSION = 1;
/** File extension of binary models. */
export const BINARY_EXTENSION = '.kblm';

interface Section {
  name: string;
  offset: number;
  bytes: number;
}

interface Header {
  order: number;
  vocabSize: number;
  capacity: number;
  description: string;
  text?: TextOptionsJson;
  checksum: number;
  sections: Section[];
}

/** A fast 32-bit checksum of 8-byte-aligned section data (FNV-1a over 32-bit words). */
function checksumOf(chunks: Uint8Array[]): number {
  let h = 0x811c9dc5;
  for (const c of chunks) {
    const aligned = c.byteOffset % 4 === 0 ? c : c.slice();
    const words = new Uint32Array(aligned.buffer, aligned.byteOffset, aligned.byteLength >>> 2);
    for (let i = 0; i < words.length; i++) h = Math.imul(h ^ words[i]!, 0x01000193);
    for (let i = words.length * 4; i < c.length; i++) h = Math.imul(h ^ c[i]!, 0x01000193);
  }
  return h >>> 0;
}

const align8 = (n: number) => (n + 7) & ~7;

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
  const a = model.arrays;
  const vocabBytes = new TextEncoder().encode(model.vocab.list().join('\n'));
  const parts: [string, Uint8Array][] = [
    ['vocab', vocabBytes],
    ['records', bytesOf(a.records)],
    ['lengths', bytesOf(a.lengths)],
    ...a.ordered.map((o, i): [string, Uint8Array] => [`ordered${i + 2}`, bytesOf(o)]),
  ];
  const checksum = checksumOf(parts.map(([, b]) => b));
  // The header's size depends on the offsets it lists; iterate until it is stable.
  let headerBytes = new Uint8Array(0);
  let sections: Section[] = [];
  for (let guess = 0; ; ) {
    let offset = align8(16 + guess);
    sections = parts.map(([name, b]) => {
      const s = { name, offset, bytes: b.length };
      offset = align8(offset + b.length);
      return s;
    });
    const header: Header = {
      order: a.order,
      vocabSize: model.vocab.size,
      capacity: a.capacity,
      description: model.description,
      ...(model.text ? { text: textOptionsToJson(model.text) } : {}),
      checksum,
      sections,
    };
    headerBytes = new TextEncoder().encode(JSON.stringify(header));
    if (headerBytes.length === guess) break;
    guess = headerBytes.length;
  }
  const prefix = new Uint8Array(align8(16 + headerBytes.length));
  for (let i = 0; i < 8; i++) prefix[i] = BINARY_MAGIC.charCodeAt(i);
  const view = new DataView(prefix.buffer);
  view.setUint32(8, BINARY_VERSION, true);
  view.setUint32(12, headerBytes.length, true);
  prefix.set(headerBytes, 16);
  const chunks: Uint8Array[] = [prefix];
  let at = prefix.length;
  for (let i = 0; i < parts.length; i++) {
    const pad = sections[i]!.offset - at;
    if (pad > 0) chunks.push(new Uint8Array(pad));
    chunks.push(parts[i]![1]);
    at = sections[i]!.offset + parts[i]![1].length;
  }
  return chunks;
}

function bytesOf(a: ArrayBufferView): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

/**
 * Opens a binary model. The typed arrays are views of `bytes` (copied only when misaligned).
 * A wrong magic number, a newer version or a truncated file is a clear error.
 *
 * @example
 * ```ts
 * import { deserializeModel } from 'kotoba';
 * const response = await fetch('models/wiki3.kblm');
 * const model = deserializeModel(new Uint8Array(await response.arrayBuffer()), 'wiki3.kblm');
 * ```
 */
export function deserializeModel(bytes: Uint8Array, source = 'model'): BackoffModel {
  if (!isBinaryModel(bytes)) {
    throw new KotobaError(`${source}: not a kotoba binary model (wrong magic number)`, 'give a .kblm file written by kotoba, or an ARPA file');
  }
  if (!littleEndian()) throw new KotobaError('the binary format needs a little-endian machine', 'use the ARPA file instead');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.length < 16) throw corrupt(source);
  const version = view.getUint32(8, true);
  if (version > BINARY_VERSION) {
    throw new KotobaError(
      `${source}: binary model format version ${version} is newer than this kotoba reads (version ${BINARY_VERSION})`,
      'upgrade kotoba, or convert the model to ARPA with the kotoba that wrote it',
    );
  }
  if (version !== BINARY_VERSION) throw new KotobaError(`${source}: unknown binary model format version ${version}`, 'rebuild the model');
  const headerLength = view.getUint32(12, true);
  if (16 + headerLength > bytes.length) throw corrupt(source);
  let header: Header;
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(16, 16 + headerLength))) as Header;
  } catch {
    throw corrupt(source);
  }
  const sections = new Map(header.sections.map((s) => [s.name, s]));
  const get = (name: string): Uint8Array => {
    const s = sections.get(name);
    if (!s || s.offset + s.bytes > bytes.length) throw corrupt(source);
    return bytes.subarray(s.offset, s.offset + s.bytes);
  };
  const typed = <T>(name: string, Type: { new (b: ArrayBuffer, o: number, n: number): T; BYTES_PER_ELEMENT: number }, count: number): T => {
    let b = get(name);
    if (b.length !== count * Type.BYTES_PER_ELEMENT) throw corrupt(source);
    if (b.byteOffset % Type.BYTES_PER_ELEMENT !== 0) b = b.slice();
    return new Type(b.buffer as ArrayBuffer, b.byteOffset, count);
  };
  if (checksumOf(header.sections.map((s) => get(s.name))) !== header.checksum) throw corrupt(source);
  const words = new TextDecoder().decode(get('vocab')).split('\n');
  if (words.length !== header.vocabSize) throw corrupt(source);
  const vocab = Vocabulary.fromWords(words);
  if (vocab.size !== header.vocabSize) throw corrupt(source);
  const total = header.vocabSize + header.capacity;
  const ordered: Int32Array[] = [];
  for (let k = 2; k <= header.order; k++) {
    const s = sections.get(`ordered${k}`);
    if (!s) throw corrupt(source);
    ordered.push(typed(`ordered${k}`, Int32Array, s.bytes / 4));
  }
  const arrays: BackoffModelArrays = {
    order: header.order,
    capacity: header.capacity,
    records: typed('records', Int32Array, total * RECORD),
    lengths: typed('lengths', Uint8Array, total),
    ordered,
  };
  const text = header.text === undefined ? undefined : textOptionsFromJson(header.text, source);
  return new BackoffModel(vocab, arrays, header.description, text);
}

function corrupt(source: string): KotobaError {
  return new KotobaError(`${source}: the binary model is truncated or corrupt`, 'rebuild it, or convert it again from the ARPA file');
}
