// The WebAssembly backends: asm/kernels.ts built with SIMD128 or relaxed SIMD, embedded as
// base64 by scripts/build-wasm.mjs. One WebAssembly.Memory per Kernels object, sized once:
//
//   [0, heapBase)            the module's static data (math tables)
//   [scratch, +scratchBytes)  packing buffers for gemm (see asm/kernels.ts)
//   [arena, +4·capacity)     tensors handed out by alloc()/allocInt32()
//
// The memory never grows, so every Float32Array view stays attached; tensors are passed to the
// module as byte offsets (view.byteOffset), which is why they must be views of this memory.

import { KernelsBase } from './base.js';
import { KERNELS_RELAXED_SIMD_WASM_BASE64, KERNELS_SIMD_WASM_BASE64 } from './wasm-binaries.generated.js';

export type WasmBackend = 'wasm-relaxed-simd' | 'wasm-simd';

/** The module's exports; pointers are byte offsets, booleans 0/1. */
interface KernelExports {
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
  softmaxCrossEntropy(rows: number, V: number, logits: number, targets: number, losses: number, dlogits: number, scale: number): number;
  logSoftmax(rows: number, V: number, x: number): void;
  embeddingGather(rows: number, D: number, table: number, ids: number, out: number): void;
  embeddingScatterAdd(rows: number, D: number, dtable: number, ids: number, d: number): void;
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

const modules = new Map<WasmBackend, Promise<WebAssembly.Module>>();

/** Compiles (once per process) the module of a backend. */
function compiled(backend: WasmBackend): Promise<WebAssembly.Module> {
  let m = modules.get(backend);
  if (!m) {
    const base64 = backend === 'wasm-relaxed-simd' ? KERNELS_RELAXED_SIMD_WASM_BASE64 : KERNELS_SIMD_WASM_BASE64;
    m = WebAssembly.compile(decodeBase64(base64));
    modules.set(backend, m);
  }
  return m;
}

function decodeBase64(s: string): Uint8Array<ArrayBuffer> {
  const bin = atob(s);
  const bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  return bytes;
}

const align16 = (n: number): number => Math.ceil(n / 16) * 16;

export class WasmKernels extends KernelsBase {
  readonly backend: WasmBackend;
  private readonly x: KernelExports;

  private constructor(backend: WasmBackend, x: KernelExports, memory: WebAssembly.Memory, arena: number, capacityFloats: number) {
    super(memory.buffer, arena, capacityFloats);
    this.backend = backend;
    this.x = x;
  }

  /** Instantiates a backend with room for capacityFloats floats. The caller has checked that the runtime supports it. */
  static async create(backend: WasmBackend, capacityFloats: number): Promise<WasmKernels> {
    if (!Number.isInteger(capacityFloats) || capacityFloats < 0) {
      throw new RangeError(`kernels: capacityFloats must be a non-negative integer, got ${capacityFloats}`);
    }
    const module = await compiled(backend);
    // The module's static data ends at heapBase; a throwaway instance tells us where (one page).
    const probe = (await WebAssembly.instantiate(module, { env: { memory: new WebAssembly.Memory({ initial: 1 }) } })).exports as unknown as KernelExports;
    const scratch = align16(probe.heapBase());
    const scratchFloats = probe.scratchFloats() + VECTOR_SCRATCH_FLOATS;
    const arena = align16(scratch + scratchFloats * 4);
    const pages = Math.ceil((arena + align16(capacityFloats * 4)) / PAGE);
    let memory: WebAssembly.Memory;
    try {
      memory = new WebAssembly.Memory({ initial: pages, maximum: pages });
    } catch (e) {
      throw new RangeError(
        `kernels: cannot reserve ${((pages * PAGE) / 2 ** 20).toFixed(0)} MiB of WebAssembly memory for ${capacityFloats} floats ` +
          `(32-bit WebAssembly allows at most 4 GiB): ${(e as Error).message}`,
      );
    }
    const x = (await WebAssembly.instantiate(module, { env: { memory } })).exports as unknown as KernelExports;
    x.setScratch(scratch, scratchFloats);
    return new WasmKernels(backend, x, memory, arena, capacityFloats);
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
    return this.x.softmaxCrossEntropy(rows, V, logits.byteOffset, targets.byteOffset, losses.byteOffset, dlogits ? dlogits.byteOffset : 0, scale);
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
