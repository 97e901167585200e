/**
 * kotoba's numeric core: float32 kernels for the neural models, in WebAssembly SIMD (with fused
 * multiply-add where relaxed SIMD is available) or plain TypeScript, behind one interface.
 * Works in Node and in the browser; the wasm bytes are embedded, so loading needs no I/O.
 *
 * @example
 * ```ts
 * // runs
 * import { createKernels, floatsFor } from 'kotoba';
 * const k = await createKernels(floatsFor(20 * 200, 200 * 10000, 20 * 10000));
 * const h = k.alloc(20 * 200), W = k.alloc(200 * 10000), logits = k.alloc(20 * 10000);
 * k.gemm(false, false, 20, 10000, 200, 1, h, W, 0, logits); // logits(20×10000) = h·W
 * ```
 *
 * @module
 */

import { KotobaError } from '../../errors.js';
import { detectWasmFeatures } from './detect.js';
import { JsKernels } from './js.js';
import { availableCores, threadsSupported } from './pool.js';
import { ThreadedWasmKernels } from './threaded.js';
import { MAX_THREADS, type KernelBackend, type KernelOptions, type Kernels } from './types.js';
import { WasmKernels, type WasmBackend } from './wasm.js';

export type { KernelBackend, KernelOptions, Kernels } from './types.js';
export { floatsFor, MAX_THREADS } from './types.js';

/**
 * Creates kernels with a memory of capacityFloats float32 slots. With `backend: 'auto'` (the
 * default) picks the fastest backend the runtime supports: 'wasm-relaxed-simd', then
 * 'wasm-simd', then 'js'. Forcing a wasm backend the runtime lacks is an error. With `threads`
 * (wasm backends only), large products and softmax rows are split across that many threads;
 * results are bit-identical for any thread count.
 *
 * @example
 * ```ts
 * // runs
 * import { createKernels } from 'kotoba';
 * const k = await createKernels(1 << 20);                    // fastest available, one thread
 * const ref = await createKernels(1 << 20, { backend: 'js' }); // plain TypeScript
 * const all = await createKernels(1 << 20, { threads: 'auto' }); // every core where memory can be shared
 * console.log(k.backend, ref.backend, all.threads);
 * all.close(); // stops its worker threads now (idle ones never keep the process alive)
 * ```
 */
export async function createKernels(capacityFloats: number, options: KernelOptions = {}): Promise<Kernels> {
  const wanted = options.backend ?? 'auto';
  if (wanted !== 'auto' && wanted !== 'js' && wanted !== 'wasm-relaxed-simd' && wanted !== 'wasm-simd') {
    throw new TypeError(`kernels: unknown backend '${String(wanted)}'; use 'auto', 'wasm-relaxed-simd', 'wasm-simd' or 'js'`);
  }
  const available = await availableKernelBackends();
  const backend = wanted === 'auto' ? available[0]! : wanted;
  if (!available.includes(backend)) {
    throw new Error(`kernels: backend '${backend}' is not supported by this runtime (available: ${available.join(', ')})`);
  }
  const threads = await resolveThreads(options.threads ?? 1, backend);
  if (backend === 'js') return new JsKernels(capacityFloats);
  return threads > 1 ? ThreadedWasmKernels.start(backend as WasmBackend, capacityFloats, threads) : WasmKernels.create(backend as WasmBackend, capacityFloats);
}

/** The thread count a `threads` option asks for, checked against the backend and the runtime. */
async function resolveThreads(threads: number | 'auto', backend: KernelBackend): Promise<number> {
  const capable = backend !== 'js' && threadsSupported();
  if (threads === 'auto') return capable ? Math.min(MAX_THREADS, await availableCores()) : 1;
  if (!Number.isInteger(threads) || threads < 1 || threads > MAX_THREADS) {
    throw new KotobaError(`threads must be a whole number from 1 to ${MAX_THREADS}, got ${String(threads)}`, 'e.g. --threads 2');
  }
  if (threads > 1 && !capable) {
    throw new KotobaError(
      backend === 'js' ? `the js kernels run on one thread, not ${threads}` : `${threads} threads need shared memory, which this runtime does not offer`,
      backend === 'js' ? 'use a wasm backend, or one thread' : 'serve the page cross-origin isolated (COOP/COEP headers), or use one thread',
    );
  }
  return threads;
}

/** Synchronous plain-TypeScript kernels (for tests and tiny models). */
export function createJsKernels(capacityFloats: number): Kernels {
  return new JsKernels(capacityFloats);
}

/** The backends this runtime supports, fastest first (always ends with 'js'). */
export async function availableKernelBackends(): Promise<KernelBackend[]> {
  const f = await detectWasmFeatures();
  const out: KernelBackend[] = [];
  if (f.relaxedSimd) out.push('wasm-relaxed-simd');
  if (f.simd) out.push('wasm-simd');
  out.push('js');
  return out;
}
