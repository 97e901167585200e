/**
 * log10 in float32, computed the way lmplz computes it: glibc's `log10f` (the fdlibm method on
 * top of glibc's table-driven `logf`, as in glibc 2.27–2.39 on x86-64). That function is not
 * correctly rounded; `Math.fround(Math.log10(x))` differs from it in the last bit for about half
 * of all values. Reproducing it makes kotoba's ARPA files byte-identical to KenLM's.
 */

// Bit casts through one shared word (typed arrays of one buffer are faster than a DataView).
const F32 = new Float32Array(1);
const U32 = new Uint32Array(F32.buffer);
const bitsOf = (x: number): number => ((F32[0] = x), U32[0]!);
const floatOf = (b: number): number => ((U32[0] = b), F32[0]!);
const f = Math.fround;

// logf: log(x) = log1p(z/c − 1) + log(c) + k·ln 2, with 16 table entries (1/c, log c) for z in
// [0x3f330000, 2·0x3f330000) and a degree-3 polynomial for log1p.
const INV_C = [
  1.398907162146528, 1.3403141896637998, 1.286432210124115, 1.2367150214269895, 1.1906977166711752, 1.1479821020556429,
  1.1082251448272158, 1.0711297413057381, 1.036437278977283, 1.0, 0.9492859795739057, 0.8951049428609004,
  0.8476821620351103, 0.8050314851692001, 0.7664671008843108, 0.731428603316328,
];
const LOG_C = [
  -0.33569133332882284, -0.2929040563774074, -0.2518726580937369, -0.21245868807117255, -0.17453945183745634,
  -0.1380057072319758, -0.10275976698545139, -0.06871392447020525, -0.0357891387398228, 0.0, 0.05204517742929496,
  0.11081431298787942, 0.1652495223695143, 0.21687389031699977, 0.2659635028121397, 0.3127556664073557,
];
/** INV_C then LOG_C, for the WebAssembly interpolation (asm/interpolate.ts), which computes logf as here. */
export const LOGF_TABLES = Float64Array.from([...INV_C, ...LOG_C]);
const LN2 = 0.6931471805599453;
const P0 = -0.25089342214237154;
const P1 = 0.333456765744066;
const P2 = -0.4999997485802103;

function logf(x: number): number {
  const ix = bitsOf(x);
  if (ix === 0x3f800000) return 0;
  const tmp = (ix - 0x3f330000) >>> 0;
  const i = (tmp >>> 19) & 15;
  const k = (tmp | 0) >> 23;
  const z = floatOf((ix - (tmp & 0xff800000)) >>> 0);
  const r = z * INV_C[i]! - 1;
  const y0 = LOG_C[i]! + k * LN2;
  const r2 = r * r;
  let y = P1 * r + P2;
  y = P0 * r2 + y;
  y = y * r2 + (y0 + r);
  return f(y);
}

// fdlibm's log10f: log10(x) = k·log10(2) + log(m)/ln(10), with log10(2) split in two.
const INV_LN10 = floatOf(0x3ede5bd9);
const LOG10_2_HI = floatOf(0x3e9a2080);
const LOG10_2_LO = floatOf(0x355427db);

/**
 * log10 of a positive float32, rounded exactly as glibc's log10f rounds it.
 *
 * @example
 * ```ts
 * // runs
 * import { formatFloat32, log10f } from 'kotoba';
 * formatFloat32(log10f(0.02));                              // '-1.6989701', as lmplz writes it
 * formatFloat32(Math.fround(Math.log10(Math.fround(0.02)))); // '-1.69897'
 * ```
 */
export function log10f(x: number): number {
  x = f(x);
  if (!(x > 0) || x === Infinity) return Math.log10(x);
  let bits = bitsOf(x);
  let k = 0;
  if (bits < 0x00800000) {
    // subnormal: scale up by 2^25
    k = -25;
    bits = bitsOf(f(x * 33554432));
  }
  k += (bits >>> 23) - 127;
  const negative = k < 0 ? 1 : 0;
  const y = f(k + negative);
  const m = floatOf((bits & 0x007fffff) | ((0x7f - negative) << 23));
  const z = f(f(y * LOG10_2_LO) + f(INV_LN10 * logf(m)));
  return f(z + f(y * LOG10_2_HI));
}
