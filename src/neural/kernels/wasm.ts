// The WebAssembly backends: asm/kernels.ts built with SIMD128 or relaxed SIMD, embedded as
// base64 by scripts/build-wasm.mjs. One WebAssembly.Memory per Kernels object, sized once:
//
//   [0, heapBase)             the module's static data (math tables)
//   [scratch, +threads·S)     packing buffers for gemm, one block of S bytes per thread
//   [extra, +extraBytes)      the thread pool's control block and argument slots (threads > 1)
//   [arena, +4·capacity)      tensors handed out by alloc()/allocInt32()
//
// The memory never grows, so every Float32Array view stays attached; tensors are passed to the
// module as byte offsets (view.byteOffset), which is why they must be views of this memory.
// With threads, the memory is shared and the module is its threads build (the same code with its
// memory import declared shared; see threaded.ts).

import { KernelsBase } from './base.js';
import { decodeBase64 } from '../../util/base64.js';
import {
  KERNELS_RELAXED_SIMD_THREADS_WASM_BASE64,
  KERNELS_RELAXED_SIMD_WASM_BASE64,
  KERNELS_SIMD_THREADS_WASM_BASE64,
  KERNELS_SIMD_WASM_BASE64,
} from './wasm-binaries.generated.js';

export type WasmBackend = 'wasm-relaxed-simd' | 'wasm-simd';

/** The module's exports; pointers are byte offsets, booleans 0/1. */
export interface KernelExports {
  scratchFloats(): number;
  heapBase(): number;
  setScratch(ptr: number, floats: number): void;
  gemm(transA: number, transB: number, M: number, N: number, K: number, alpha: number, A: number, B: number, beta: number, C: number, lda: number, ldb: number, ldc: number): void;
  gemv(trans: number, M: number, N: number, alpha: number, A: number, x: number, beta: number, y: number): void;
  addBias(rows: number, cols: number, out: number, bias: number): void;
  sumRows(rows: number, cols: number, d: number, dbias: number): void;
  tanhForward(n: number, x: number, y: number): void;
  tanhBackward(n: number, y: number, dy: number, dx: number): void;
  sigmoidForward(n: number, x: number, y: number): void;
  sigmoidBackward(n: number, y: number, dy: number, dx: number): void;
  /** rowLoss: where to write each row's float64 loss, or 0. */
  softmaxCrossEntropy(rows: number, V: number, logits: number, targets: number, losses: number, dlogits: number, scale: number, rowLoss: number): number;
  logSoftmax(rows: number, V: number, x: number): void;
  embeddingGather(rows: number, D: number, table: number, ids: number, out: number): void;
  embeddingScatterAdd(rows: number, D: number, dtable: number, ids: number, d: number): void;
  copy(n: number, x: number, y: number): void;
  zero(n: number, x: number): void;
  axpy(n: number, a: number, x: number, y: number): void;
  scale(n: number, a: number, x: number): void;
  mul(n: number, a: number, b: number, out: number): void;
  mulAdd(n: number, a: number, b: number, out: number): void;
  sumSquares(n: number, x: number): number;
  reluForward(n: number, x: number, y: number): void;
  reluBackward(n: number, y: number, dy: number, dx: number): void;
  adamw(n: number, grad: number, m: number, v: number, param: number, gscale: number, beta1: number, beta2: number, eps: number, keep: number, step: number, rbc2: number): void;
  adagrad(n: number, grad: number, acc: number, param: number, gscale: number, lr: number, eps: number, decay: number): void;
}

const PAGE = 65536;
/** Floats for gathering one strided row of A in gemm's M = 1 path (longer rows take the packed path). */
const VECTOR_SCRATCH_FLOATS = 32768;

const modules = new Map<string, Promise<WebAssembly.Module>>();

/** Compiles (once per process) the module of a backend, single-thread or threads build. */
function compiled(backend: WasmBackend, threads: boolean): Promise<WebAssembly.Module> {
  const key = `${backend}${threads ? '+threads' : ''}`;
  let m = modules.get(key);
  if (!m) {
    const relaxed = backend === 'wasm-relaxed-simd';
    const base64 = threads
      ? relaxed ? KERNELS_RELAXED_SIMD_THREADS_WASM_BASE64 : KERNELS_SIMD_THREADS_WASM_BASE64
      : relaxed ? KERNELS_RELAXED_SIMD_WASM_BASE64 : KERNELS_SIMD_WASM_BASE64;
    m = WebAssembly.compile(decodeBase64(base64));
    modules.set(key, m);
  }
  return m;
}

const align16 = (n: number): number => Math.ceil(n / 16) * 16;

/** A module instantiated on a memory laid out as described at the top of this file. */
export interface WasmSetup {
  backend: WasmBackend;
  module: WebAssembly.Module;
  memory: WebAssembly.Memory;
  /** The calling thread's instance. */
  exports: KernelExports;
  /** Byte offset of thread p's scratch, and its size in floats. */
  scratch: (p: number) => number;
  scratchFloats: number;
  /** Byte offset of the extraBytes reserved for the caller. */
  extra: number;
  arena: number;
  capacityFloats: number;
}

/**
 * Compiles and instantiates a backend on a fresh memory with room for capacityFloats floats, a
 * scratch block per thread and `extraBytes` more; with threads > 1 the memory is shared. The
 * caller has checked that the runtime supports the backend (and threads).
 */
export async function instantiateWasm(backend: WasmBackend, capacityFloats: number, threads = 1, extraBytes = 0): Promise<WasmSetup> {
  if (!Number.isInteger(capacityFloats) || capacityFloats < 0) {
    throw new RangeError(`kernels: capacityFloats must be a non-negative integer, got ${capacityFloats}`);
  }
  const shared = threads > 1;
  const module = await compiled(backend, shared);
  // The module's static data ends at heapBase; a throwaway instance tells us where (one page).
  const probeMemory = new WebAssembly.Memory(shared ? { initial: 1, maximum: 1, shared: true } : { initial: 1 });
  const probe = (await WebAssembly.instantiate(module, { env: { memory: probeMemory } })).exports as unknown as KernelExports;
  const scratch0 = align16(probe.heapBase());
  const scratchFloats = probe.scratchFloats() + VECTOR_SCRATCH_FLOATS;
  const scratchBytes = align16(scratchFloats * 4);
  const extra = scratch0 + threads * scratchBytes;
  const arena = align16(extra + extraBytes);
  const pages = Math.ceil((arena + align16(capacityFloats * 4)) / PAGE);
  let memory: WebAssembly.Memory;
  try {
    memory = new WebAssembly.Memory(shared ? { initial: pages, maximum: pages, shared: true } : { initial: pages, maximum: pages });
  } catch (e) {
    throw new RangeError(
      `kernels: cannot reserve ${((pages * PAGE) / 2 ** 20).toFixed(0)} MiB of WebAssembly memory for ${capacityFloats} floats ` +
        `(32-bit WebAssembly allows at most 4 GiB): ${(e as Error).message}`,
    );
  }
  const exports = (await WebAssembly.instantiate(module, { env: { memory } })).exports as unknown as KernelExports;
  exports.setScratch(scratch0, scratchFloats);
  return { backend, module, memory, exports, scratch: (p) => scratch0 + p * scratchBytes, scratchFloats, extra, arena, capacityFloats };
}

/** The kernels on one thread: every call runs the module's export directly. */
export class WasmKernels extends KernelsBase {
  readonly backend: WasmBackend;
  protected readonly x: KernelExports;

  protected constructor(setup: WasmSetup) {
    super(setup.memory.buffer as ArrayBuffer, setup.arena, setup.capacityFloats);
    this.backend = setup.backend;
    this.x = setup.exports;
  }

  /** Instantiates a backend with room for capacityFloats floats. The caller has checked that the runtime supports it. */
  static async create(backend: WasmBackend, capacityFloats: number): Promise<WasmKernels> {
    return new WasmKernels(await instantiateWasm(backend, capacityFloats));
  }

  protected gemmImpl(
    transA: boolean, transB: boolean, M: number, N: number, K: number,
    alpha: number, A: Float32Array, B: Float32Array, beta: number, C: Float32Array,
    lda: number, ldb: number, ldc: number,
  ): void {
    this.x.gemm(transA ? 1 : 0, transB ? 1 : 0, M, N, K, alpha, A.byteOffset, B.byteOffset, beta, C.byteOffset, lda, ldb, ldc);
  }

  protected gemvImpl(trans: boolean, M: number, N: number, alpha: number, A: Float32Array, x: Float32Array, beta: number, y: Float32Array): void {
    this.x.gemv(trans ? 1 : 0, M, N, alpha, A.byteOffset, x.byteOffset, beta, y.byteOffset);
  }

  protected addBiasImpl(rows: number, cols: number, out: Float32Array, bias: Float32Array): void {
    this.x.addBias(rows, cols, out.byteOffset, bias.byteOffset);
  }

  protected sumRowsImpl(rows: number, cols: number, d: Float32Array, dbias: Float32Array): void {
    this.x.sumRows(rows, cols, d.byteOffset, dbias.byteOffset);
  }

  protected tanhForwardImpl(n: number, x: Float32Array, y: Float32Array): void {
    this.x.tanhForward(n, x.byteOffset, y.byteOffset);
  }

  protected tanhBackwardImpl(n: number, y: Float32Array, dy: Float32Array, dx: Float32Array): void {
    this.x.tanhBackward(n, y.byteOffset, dy.byteOffset, dx.byteOffset);
  }

  protected sigmoidForwardImpl(n: number, x: Float32Array, y: Float32Array): void {
    this.x.sigmoidForward(n, x.byteOffset, y.byteOffset);
  }

  protected sigmoidBackwardImpl(n: number, y: Float32Array, dy: Float32Array, dx: Float32Array): void {
    this.x.sigmoidBackward(n, y.byteOffset, dy.byteOffset, dx.byteOffset);
  }

  protected softmaxCrossEntropyImpl(
    rows: number, V: number, logits: Float32Array, targets: Int32Array,
    losses: Float32Array, dlogits: Float32Array | null, scale: number,
  ): number {
    // Offset 0 is the module's static data, never an arena tensor, so it stands for "no dlogits".
    return this.x.softmaxCrossEntropy(rows, V, logits.byteOffset, targets.byteOffset, losses.byteOffset, dlogits ? dlogits.byteOffset : 0, scale, 0);
  }

  protected logSoftmaxImpl(rows: number, V: number, x: Float32Array): void {
    this.x.logSoftmax(rows, V, x.byteOffset);
  }

  protected embeddingGatherImpl(rows: number, D: number, table: Float32Array, ids: Int32Array, out: Float32Array): void {
    this.x.embeddingGather(rows, D, table.byteOffset, ids.byteOffset, out.byteOffset);
  }

  protected embeddingScatterAddImpl(rows: number, D: number, dtable: Float32Array, ids: Int32Array, d: Float32Array): void {
    this.x.embeddingScatterAdd(rows, D, dtable.byteOffset, ids.byteOffset, d.byteOffset);
  }

  protected copyImpl(n: number, x: Float32Array, y: Float32Array): void {
    this.x.copy(n, x.byteOffset, y.byteOffset);
  }

  protected zeroImpl(n: number, x: Float32Array): void {
    this.x.zero(n, x.byteOffset);
  }

  protected axpyImpl(n: number, a: number, x: Float32Array, y: Float32Array): void {
    this.x.axpy(n, a, x.byteOffset, y.byteOffset);
  }

  protected scaleImpl(n: number, a: number, x: Float32Array): void {
    this.x.scale(n, a, x.byteOffset);
  }

  protected mulImpl(n: number, a: Float32Array, b: Float32Array, out: Float32Array): void {
    this.x.mul(n, a.byteOffset, b.byteOffset, out.byteOffset);
  }

  protected mulAddImpl(n: number, a: Float32Array, b: Float32Array, out: Float32Array): void {
    this.x.mulAdd(n, a.byteOffset, b.byteOffset, out.byteOffset);
  }

  protected sumSquaresImpl(n: number, x: Float32Array): number {
    return this.x.sumSquares(n, x.byteOffset);
  }

  protected reluForwardImpl(n: number, x: Float32Array, y: Float32Array): void {
    this.x.reluForward(n, x.byteOffset, y.byteOffset);
  }

  protected reluBackwardImpl(n: number, y: Float32Array, dy: Float32Array, dx: Float32Array): void {
    this.x.reluBackward(n, y.byteOffset, dy.byteOffset, dx.byteOffset);
  }

  protected adamwImpl(
    n: number, grad: Float32Array, m: Float32Array, v: Float32Array, param: Float32Array,
    gscale: number, beta1: number, beta2: number, eps: number, keep: number, step: number, rbc2: number,
  ): void {
    this.x.adamw(n, grad.byteOffset, m.byteOffset, v.byteOffset, param.byteOffset, gscale, beta1, beta2, eps, keep, step, rbc2);
  }

  protected adagradImpl(n: number, grad: Float32Array, acc: Float32Array, param: Float32Array, gscale: number, lr: number, eps: number, decay: number): void {
    this.x.adagrad(n, grad.byteOffset, acc.byteOffset, param.byteOffset, gscale, lr, eps, decay);
  }
}
