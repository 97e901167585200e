/**
 * The safetensors format (Hugging Face): an 8-byte little-endian header length n, n bytes of
 * JSON header, then raw little-endian tensor data. The header maps each tensor name to
 * `{ dtype, shape, data_offsets: [begin, end] }` (offsets relative to the end of the header), and
 * `__metadata__` to a string→string map. Browser-safe; only F32 and I32 tensors are used here.
 */
import { KotobaError } from '../errors.js';

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
  const chunks = encodeSafetensors(tensors, metadata);
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let o = 0;
  for (const c of chunks) {
    out.set(c, o);
    o += c.length;
  }
  return out;
}

/** True when the first bytes look like a safetensors file (a sane length, then `{`). */
export function looksLikeSafetensors(head: Uint8Array): boolean {
  if (head.length < 9) return false;
  const view = new DataView(head.buffer, head.byteOffset, head.byteLength);
  const n = view.getBigUint64(0, true);
  return n > 1n && n < 1n << 32n && head[8] === 0x7b; // '{'
}

/**
 * Decodes a safetensors file. A truncated or corrupt file is a KotobaError naming `source`.
 * Tensors are copied out of `bytes` (their offsets need not be aligned).
 */
export function decodeSafetensors(bytes: Uint8Array, source: string): SafetensorsFile {
  const corrupt = (why: string) => new KotobaError(`${source}: not a valid safetensors file: ${why}`, 'the file is truncated or corrupt; train or download it again');
  if (bytes.length < 8) throw corrupt(`only ${bytes.length} bytes`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n64 = view.getBigUint64(0, true);
  if (n64 > BigInt(bytes.length - 8)) throw corrupt(`the header says ${n64} bytes, the file has ${bytes.length - 8} after the length`);
  const n = Number(n64);
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + n))) as Record<string, unknown>;
  } catch (e) {
    throw corrupt(`the header is not JSON (${(e as Error).message})`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) throw corrupt('the header is not a JSON object');
  const base = 8 + n;
  const dataLength = bytes.length - base;
  const tensors = new Map<string, SafeTensor>();
  let metadata: Record<string, string> = {};
  for (const [name, entry] of Object.entries(header)) {
    if (name === '__metadata__') {
      if (typeof entry !== 'object' || entry === null) throw corrupt('__metadata__ is not an object');
      metadata = entry as Record<string, string>;
      continue;
    }
    const e = entry as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (!Array.isArray(e.shape) || !e.shape.every((d) => Number.isInteger(d) && d >= 0)) throw corrupt(`tensor ${name} has no valid shape`);
    if (!Array.isArray(e.data_offsets) || e.data_offsets.length !== 2) throw corrupt(`tensor ${name} has no valid data_offsets`);
    const [begin, end] = e.data_offsets as number[];
    if (!Number.isInteger(begin) || !Number.isInteger(end) || begin! < 0 || end! < begin!) throw corrupt(`tensor ${name} has invalid data_offsets`);
    if (end! > dataLength) throw corrupt(`tensor ${name} ends at byte ${end} of ${dataLength}`);
    const count = (e.shape as number[]).reduce((a, b) => a * b, 1);
    if (e.dtype !== 'F32' && e.dtype !== 'I32') throw corrupt(`tensor ${name} has dtype ${String(e.dtype)}; kotoba reads F32 and I32`);
    if (end! - begin! !== count * 4) throw corrupt(`tensor ${name}: ${end! - begin!} bytes for shape ${JSON.stringify(e.shape)}`);
    // A copy (aligned, independent of `bytes`); not bytes.slice(), which is a view on a Node Buffer.
    const raw = new Uint8Array(end! - begin!);
    raw.set(bytes.subarray(base + begin!, base + end!));
    let data: Float32Array | Int32Array = e.dtype === 'F32' ? new Float32Array(raw.buffer, 0, count) : new Int32Array(raw.buffer, 0, count);
    if (!LITTLE_ENDIAN) {
      const dv = new DataView(raw.buffer);
      data = e.dtype === 'F32' ? Float32Array.from({ length: count }, (_, i) => dv.getFloat32(i * 4, true)) : Int32Array.from({ length: count }, (_, i) => dv.getInt32(i * 4, true));
    }
    tensors.set(name, e.dtype === 'F32' ? { dtype: 'F32', shape: e.shape as number[], data: data as Float32Array } : { dtype: 'I32', shape: e.shape as number[], data: data as Int32Array });
  }
  for (const [k, v] of Object.entries(metadata)) if (typeof v !== 'string') throw corrupt(`metadata ${k} is not a string`);
  return { tensors, metadata };
}
