// Which WebAssembly features this runtime has, decided once per process by validating tiny
// modules. Relaxed SIMD ships enabled in Chromium (since 114) and in Node ≥ 22; Node 20 has it
// behind a V8 flag, which may be set at run time as long as it is set before the kernels are
// compiled. The flag is set only under Node, through a dynamic import whose specifier is a
// variable so that browser bundlers leave it alone, and only when the probe fails without it.

/** () → v128: i32x4.splat(0). Valid where SIMD128 is. */
const SIMD_PROBE = Uint8Array.of(
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // magic, version
  0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7b, // types: () → v128
  0x03, 0x02, 0x01, 0x00, // one function of type 0
  0x0a, 0x08, 0x01, 0x06, 0x00, 0x41, 0x00, 0xfd, 0x11, 0x0b, // code: i32.const 0; i32x4.splat; end
);

/** () → v128: f32x4.relaxed_madd of three splats. Valid where relaxed SIMD is. */
const RELAXED_SIMD_PROBE = Uint8Array.of(
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
  0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7b,
  0x03, 0x02, 0x01, 0x00,
  0x0a, 0x13, 0x01, 0x11, 0x00,
  0x41, 0x00, 0xfd, 0x11, 0x41, 0x00, 0xfd, 0x11, 0x41, 0x00, 0xfd, 0x11, // three i32x4.splat(0)
  0xfd, 0x85, 0x02, // f32x4.relaxed_madd (0xfd 261)
  0x0b,
);

/** What the runtime supports. */
export interface WasmFeatures {
  simd: boolean;
  relaxedSimd: boolean;
}

let features: Promise<WasmFeatures> | null = null;

/** Detects (once) SIMD128 and relaxed SIMD, enabling the latter on Node 20 where it is behind a flag. */
export function detectWasmFeatures(): Promise<WasmFeatures> {
  features ??= detect();
  return features;
}

function validates(bytes: Uint8Array<ArrayBuffer>): boolean {
  try {
    return typeof WebAssembly === 'object' && WebAssembly.validate(bytes);
  } catch {
    return false;
  }
}

async function detect(): Promise<WasmFeatures> {
  const simd = validates(SIMD_PROBE);
  if (!simd) return { simd: false, relaxedSimd: false };
  if (validates(RELAXED_SIMD_PROBE)) return { simd, relaxedSimd: true };
  if (await enableRelaxedSimdInNode()) return { simd, relaxedSimd: validates(RELAXED_SIMD_PROBE) };
  return { simd, relaxedSimd: false };
}

/** Sets V8's relaxed-SIMD flag when running under Node; false elsewhere or on failure. */
async function enableRelaxedSimdInNode(): Promise<boolean> {
  const proc = (globalThis as { process?: { versions?: { node?: string } } }).process;
  if (typeof proc?.versions?.node !== 'string') return false;
  try {
    const specifier = 'node:v8';
    const v8 = (await import(specifier)) as { setFlagsFromString?: (flags: string) => void };
    if (typeof v8.setFlagsFromString !== 'function') return false;
    v8.setFlagsFromString('--experimental-wasm-relaxed-simd');
    return true;
  } catch {
    return false;
  }
}
