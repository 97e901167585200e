/**
 * The safetensors format (Hugging Face): an 8-byte little-endian header length n, n bytes of
 * JSON header, then raw little-endian tensor data. The header maps each tensor name to
 * `{ dtype, shape, data_offsets: [begin, end] }` (offsets relative to the end of the header), and
 * `__metadata__` to a string→string map. Browser-safe; only F32 and I32 tensors are used here.
 */
import { KotobaError, printable } from '../errors.js';
import { concatBytes } from '../util/bytes.js';

export type SafeTensor =
  | { dtype: 'F32'; shape: number[]; data: Float32Array }
  | { dtype: 'I32'; shape: number[]; data: Int32Array };

export interface SafetensorsFile {
  tensors: Map<string, SafeTensor>;
  metadata: Record<string, string>;
}

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** The bytes of a tensor, little-endian (a view when the platform is little-endian). */
function tensorBytes(t: SafeTensor): Uint8Array {
  const d = t.data;
  if (LITTLE_ENDIAN) return new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
  const out = new Uint8Array(d.byteLength);
  const view = new DataView(out.buffer);
  for (let i = 0; i < d.length; i++) {
    if (t.dtype === 'F32') view.setFloat32(i * 4, d[i]!, true);
    else view.setInt32(i * 4, d[i]!, true);
  }
  return out;
}

/**
 * Encodes tensors and metadata as safetensors, returned as chunks (header, then each tensor's
 * bytes, views where possible) so large models are written without one more copy.
 *
 * @example
 * ```ts
 * // runs
 * import { decodeSafetensors, encodeSafetensors, safetensorsBytes, type SafeTensor } from 'kotoba';
 * const tensors = new Map<string, SafeTensor>([['w', { dtype: 'F32', shape: [2], data: Float32Array.of(1, 2) }]]);
 * const chunks = encodeSafetensors(tensors, { format: 'x' }); // the header, then the bytes of w
 * const bytes = safetensorsBytes(tensors, { format: 'x' });  // the same, in one buffer
 * const file = decodeSafetensors(bytes, 'w.safetensors');
 * if (chunks.length !== 2 || file.tensors.get('w')?.data[1] !== 2 || file.metadata.format !== 'x') throw new Error('round trip');
 * ```
 */
export function encodeSafetensors(tensors: Map<string, SafeTensor>, metadata: Record<string, string>): Uint8Array[] {
  const header: Record<string, unknown> = { __metadata__: metadata };
  let offset = 0;
  for (const [name, t] of tensors) {
    const n = t.shape.reduce((a, b) => a * b, 1);
    if (n !== t.data.length) throw new Error(`tensor ${name}: shape ${JSON.stringify(t.shape)} does not match ${t.data.length} values`);
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + t.data.byteLength] };
    offset += t.data.byteLength;
  }
  let json = new TextEncoder().encode(JSON.stringify(header));
  // Pad with spaces so the data starts 8-byte aligned (as the reference implementation does).
  const padded = Math.ceil(json.length / 8) * 8;
  if (padded !== json.length) {
    const p = new Uint8Array(padded).fill(0x20);
    p.set(json);
    json = p;
  }
  const head = new Uint8Array(8 + json.length);
  new DataView(head.buffer).setBigUint64(0, BigInt(json.length), true);
  head.set(json, 8);
  return [head, ...Array.from(tensors.values(), tensorBytes)];
}

/** Concatenates {@link encodeSafetensors}'s chunks into one buffer. */
export function safetensorsBytes(tensors: Map<string, SafeTensor>, metadata: Record<string, string>): Uint8Array {
  return concatBytes(encodeSafetensors(tensors, metadata));
}

/** True when the first bytes look like a safetensors file (a sane length, then `{`). */
export function looksLikeSafetensors(head: Uint8Array): boolean {
  if (head.length < 9) return false;
  const view = new DataView(head.buffer, head.byteOffset, head.byteLength);
  const n = view.getBigUint64(0, true);
  return n > 1n && n < 1n << 32n && head[8] === 0x7b; // '{'
}

/**
 * Decodes a safetensors file, checking it as the reference implementation does: the header
 * length within the file, the header a JSON object, `__metadata__` a map of strings, every
 * tensor an F32 or I32 with a shape of whole numbers whose bytes match its offsets, and the
 * tensors tiling the data exactly (no overlaps, gaps or trailing bytes, so no byte is copied
 * twice). A truncated or corrupt file is a KotobaError naming `source`. Tensors are copied out
 * of `bytes` (their offsets need not be aligned).
 *
 * @example
 * ```ts
 * // runs
 * import { decodeSafetensors, KotobaError } from 'kotoba';
 * try {
 *   decodeSafetensors(new Uint8Array(8).fill(0xff), 'x.safetensors');
 * } catch (e) {
 *   if (!(e instanceof KotobaError)) throw e; // x.safetensors: not a valid safetensors file: the header says …
 * }
 * ```
 */
export function decodeSafetensors(bytes: Uint8Array, source: string): SafetensorsFile {
  const corrupt = (why: string) => new KotobaError(`${source}: not a valid safetensors file: ${why}`, 'the file is truncated or corrupt; train or download it again');
  if (bytes.length < 8) throw corrupt(`only ${bytes.length} bytes`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n64 = view.getBigUint64(0, true);
  if (n64 > BigInt(bytes.length - 8)) throw corrupt(`the header says ${n64} bytes, the file has ${bytes.length - 8} after the length`);
  const n = Number(n64);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + n)));
  } catch {
    // Not the parser's message: it quotes the file's bytes, newlines included.
    throw corrupt('the header is not valid UTF-8 JSON');
  }
  if (!isObject(header)) throw corrupt('the header is not a JSON object');
  const base = 8 + n;
  const dataLength = bytes.length - base;
  const metadata: Record<string, string> = {};
  const entries: { name: string; dtype: SafeTensor['dtype']; shape: number[]; begin: number; end: number }[] = [];
  for (const [name, entry] of Object.entries(header)) {
    if (name === '__metadata__') {
      if (!isObject(entry)) throw corrupt('__metadata__ is not an object');
      for (const [k, v] of Object.entries(entry)) {
        if (typeof v !== 'string') throw corrupt(`metadata ${printable(k.slice(0, 60))} is not a string`);
        metadata[k] = v;
      }
      continue;
    }
    const what = `tensor ${printable(name.slice(0, 80))}`;
    if (!isObject(entry)) throw corrupt(`${what} is not an object`);
    const { dtype, shape, data_offsets: offsets } = entry as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (dtype !== 'F32' && dtype !== 'I32') throw corrupt(`${what} has dtype ${printable(String(dtype).slice(0, 20))}; kotoba reads F32 and I32`);
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) throw corrupt(`${what} has no valid shape`);
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isSafeInteger(o))) throw corrupt(`${what} has no valid data_offsets`);
    const [begin, end] = offsets as [number, number];
    if (begin < 0 || end < begin || end > dataLength) throw corrupt(`${what} has data_offsets [${begin}, ${end}] outside the ${dataLength} bytes of data`);
    // Multiplied in order with a bound, so that a long or large shape cannot overflow.
    let count = 1;
    for (const d of shape as number[]) count = Math.min(count * d, dataLength + 1);
    if (count * 4 !== end - begin) throw corrupt(`${what}: ${end - begin} bytes for shape ${JSON.stringify(shape).slice(0, 60)}`);
    entries.push({ name, dtype, shape: shape as number[], begin, end });
  }
  entries.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let covered = 0;
  for (const e of entries) {
    if (e.begin !== covered) throw corrupt(`tensor ${printable(e.name.slice(0, 80))} starts at byte ${e.begin} of the data, not ${covered}: tensors overlap or leave a gap`);
    covered = e.end;
  }
  if (covered !== dataLength) throw corrupt(`${dataLength - covered} bytes after the last tensor`);
  const tensors = new Map<string, SafeTensor>();
  for (const { name, dtype, shape, begin, end } of entries) {
    const count = (end - begin) / 4;
    // A copy (aligned, independent of `bytes`); not bytes.slice(), which is a view on a Node Buffer.
    const raw = new Uint8Array(end - begin);
    raw.set(bytes.subarray(base + begin, base + end));
    let data: Float32Array | Int32Array = dtype === 'F32' ? new Float32Array(raw.buffer, 0, count) : new Int32Array(raw.buffer, 0, count);
    if (!LITTLE_ENDIAN) {
      const dv = new DataView(raw.buffer);
      data = dtype === 'F32' ? Float32Array.from({ length: count }, (_, i) => dv.getFloat32(i * 4, true)) : Int32Array.from({ length: count }, (_, i) => dv.getInt32(i * 4, true));
    }
    tensors.set(name, dtype === 'F32' ? { dtype, shape, data: data as Float32Array } : { dtype, shape, data: data as Int32Array });
  }
  return { tensors, metadata };
}

function isObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}
