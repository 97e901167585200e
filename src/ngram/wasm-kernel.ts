/**
 * Estimation's WebAssembly kernels (asm/arpa.ts, asm/interpolate.ts): each is
 * instantiated once per thread, on first use, over a memory of its own into which its caller
 * copies a bounded piece of work (a slice of rows, a part of a range) and from which it copies
 * the results. Where WebAssembly cannot run, there is no kernel and the TypeScript loops (the
 * references) do the work.
 */
import { decodeBase64 } from '../util/base64.js';

const PAGE = 65536;
/** The largest memory a 32-bit WebAssembly module addresses. */
const MAX_BYTES = 65536 * PAGE;

/** A kernel's instance and its private memory. */
export class PrivateKernel {
  private constructor(
    readonly memory: WebAssembly.Memory,
    readonly exports: WebAssembly.Exports,
  ) {}

  /** An instance of the module in `base64` over a memory of `initialBytes`, or null where WebAssembly cannot run it. */
  static load(base64: string, initialBytes: number): PrivateKernel | null {
    try {
      const memory = new WebAssembly.Memory({ initial: Math.max(1, Math.ceil(initialBytes / PAGE)) });
      const module = new WebAssembly.Module(decodeBase64(base64));
      return new PrivateKernel(memory, new WebAssembly.Instance(module, { env: { memory, abort: () => {} } }).exports);
    } catch {
      return null; // no WebAssembly here: the TypeScript loop
    }
  }

  /** Grows the memory to at least `bytes`; false when it cannot be had (past 4 GB, or refused). */
  room(bytes: number): boolean {
    const have = this.memory.buffer.byteLength;
    if (bytes <= have) return true;
    if (bytes > MAX_BYTES) return false;
    try {
      this.memory.grow(Math.ceil((bytes - have) / PAGE));
      return true;
    } catch {
      return false;
    }
  }
}

/** `get` of a kernel made once per thread by `make` (null where it cannot be made). */
export function perThread<T>(make: () => T | null): () => T | null {
  let made: T | null | undefined;
  return () => (made === undefined ? (made = make()) : made);
}
