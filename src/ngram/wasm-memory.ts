/**
 * Memory for n-gram models that the WebAssembly kernel (asm/ngram.ts) can read: a model's bytes
 * placed in a WebAssembly.Memory (shared between threads when asked), followed by scratch slots
 * where each scorer writes a sentence's words and reads its scores. The kernel needs nothing
 * else, so a model loaded into such memory is scored without copying it; a model anywhere else
 * is scored by the TypeScript loop, with the same results.
 */

import { decodeBase64 } from '../util/base64.js';
import { NGRAM_SHARED_WASM_BASE64, NGRAM_WASM_BASE64 } from './ngram-wasm.generated.js';

const PAGE = 65536;
/** Scratch per scorer (one per thread): a line of 32,768 words, a batch of text, a vocabulary table. */
export const SLOT_BYTES = 1 << 22;
/** Scorers per memory (threads); more scorers use the TypeScript loop. */
const SLOTS = 64;
/** A header (a counter of claimed slots; the checksum's lanes), then the slots. */
const SCRATCH_BYTES = 64 + SLOTS * SLOT_BYTES;
/** The largest memory a 32-bit WebAssembly module addresses. */
const MAX_PAGES = 65536;

/** A WebAssembly memory holding a model, and where its scratch slots start. */
export interface WasmRegion {
  memory: WebAssembly.Memory;
  /** Byte offset of the scratch area (after the model's bytes). */
  scratch: number;
}

const regions = new WeakMap<ArrayBufferLike, WasmRegion>();

/**
 * `bytes` zero bytes for a model, at offset 0 of a WebAssembly memory when one can be had (the
 * scratch slots follow them); otherwise in a plain buffer. `shared`: a SharedArrayBuffer, for
 * worker threads.
 */
export function modelBuffer(bytes: number, shared: boolean): Uint8Array {
  const scratch = Math.ceil(bytes / 64) * 64;
  const pages = Math.ceil((scratch + SCRATCH_BYTES) / PAGE);
  if (typeof WebAssembly === 'object' && pages <= MAX_PAGES) {
    try {
      const memory = new WebAssembly.Memory(shared ? { initial: pages, maximum: pages, shared: true } : { initial: pages, maximum: pages });
      regions.set(memory.buffer, { memory, scratch });
      return new Uint8Array(memory.buffer, 0, bytes);
    } catch {
      // No memory that large here: a plain buffer.
    }
  }
  return new Uint8Array(shared ? new SharedArrayBuffer(bytes) : new ArrayBuffer(bytes));
}

/** The WebAssembly memory `buffer` belongs to, if `modelBuffer` made it (or `adoptRegion`). */
export function regionOf(buffer: ArrayBufferLike): WasmRegion | undefined {
  return regions.get(buffer);
}

/** Registers a region received from another thread (its buffer is a new object here). */
export function adoptRegion(region: WasmRegion): WasmRegion {
  regions.set(region.memory.buffer, region);
  return region;
}

/** Claims a scratch slot of `region` for one scorer: its byte offset, or -1 when all are taken. */
export function claimSlot(region: WasmRegion): number {
  const counter = new Int32Array(region.memory.buffer, region.scratch, 1);
  const slot = Atomics.add(counter, 0, 1);
  return slot < SLOTS ? region.scratch + 64 + slot * SLOT_BYTES : -1;
}

/** The compiled kernel, for a plain and for a shared memory (null where it cannot be compiled). */
const modules: [WebAssembly.Module | null | undefined, WebAssembly.Module | null | undefined] = [undefined, undefined];

/** An instance of the n-gram kernel (asm/ngram.ts) over `region`'s memory, or null where there is none. */
export function kernelInstance(region: WasmRegion): WebAssembly.Instance | null {
  const shared = region.memory.buffer instanceof SharedArrayBuffer ? 1 : 0;
  try {
    if (modules[shared] === undefined) {
      modules[shared] = null;
      const bytes = decodeBase64(shared ? NGRAM_SHARED_WASM_BASE64 : NGRAM_WASM_BASE64);
      modules[shared] = new WebAssembly.Module(bytes);
    }
    const module = modules[shared];
    return module ? new WebAssembly.Instance(module, { env: { memory: region.memory, abort: () => {} } }) : null;
  } catch {
    return null;
  }
}

const checksummers = new WeakMap<WasmRegion, ((p: number, groups: number, state: number) => void) | null>();

/**
 * Runs the words of `words` (a view into `region`'s memory, 16-byte aligned, a multiple of four
 * words long) through four FNV-1a lanes, starting from and updating `lanes`; false when the
 * kernel is not there (the caller does it).
 */
export function checksumInKernel(region: WasmRegion, words: Uint32Array, lanes: Uint32Array): boolean {
  let run = checksummers.get(region);
  if (run === undefined) {
    run = (kernelInstance(region)?.exports.checksum as typeof run) ?? null;
    checksummers.set(region, run);
  }
  if (!run || words.byteOffset % 16 !== 0 || words.length % 4 !== 0) return false;
  // The lanes go through the first 16 bytes of the scratch area's header.
  const state = new Uint32Array(region.memory.buffer, region.scratch + 16, 4);
  state.set(lanes);
  run(words.byteOffset, words.length / 4, region.scratch + 16);
  lanes.set(state);
  return true;
}
