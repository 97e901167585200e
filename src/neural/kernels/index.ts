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

import { detectWasmFeatures } from './detect.js';
import { JsKernels } from './js.js';
import type { KernelBackend, KernelOptions, Kernels } from './types.js';
import { WasmKernels } from './wasm.js';

export type { KernelBackend, KernelOptions, Kernels } from './types.js';
export { floatsFor } from './types.js';

/**
 * Creates kernels with a memory of capacityFloats float32 slots. With `backend: 'auto'` (the
 * default) picks the fastest backend the runtime supports: 'wasm-relaxed-simd', then
 * 'wasm-simd', then 'js'. Forcing a wasm backend the runtime lacks is an error.
 *
 * @example
 * ```ts
 * // runs
 * import { createKernels } from 'kotoba';
 * const k = await createKernels(1 << 20);                    // fastest available
 * const ref = await createKernels(1 << 20, { backend: 'js' }); // plain TypeScript
 * console.log(k.backend, ref.backend);
 * ```
 */
export async function createKernels(capacityFloats: number, options: KernelOptions = {}): Promise<Kernels> {
  const wanted = options.backend ?? 'auto';
  if (wanted === 'js') return new JsKernels(capacityFloats);
  const available = await availableKernelBackends();
  if (wanted === 'auto') {
    const best = available[0];
    return best === 'js' ? new JsKernels(capacityFloats) : WasmKernels.create(best, capacityFloats);
  }
  if (wanted !== 'wasm-relaxed-simd' && wanted !== 'wasm-simd') {
    throw new TypeError(`kernels: unknown backend '${String(wanted)}'; use 'auto', 'wasm-relaxed-simd', 'wasm-simd' or 'js'`);
  }
  if (!available.includes(wanted)) {
    throw new Error(`kernels: backend '${wanted}' is not supported by this runtime (available: ${available.join(', ')})`);
  }
  return WasmKernels.create(wanted, capacityFloats);
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
