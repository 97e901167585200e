/**
 * Float32 values as the shortest decimal that reads back to them, as lmplz and KenLM's query print
 * them (ties to the even last digit, as their double-conversion breaks them): for ARPA files and
 * for every score kotoba prints.
 */
const POW10 = Float64Array.from({ length: 23 }, (_, i) => Number(`1e${i}`)); // exact in float64
const LOG10_2 = Math.log10(2);
// Bit casts through one shared word.
const F32 = new Float32Array(1);
const U32 = new Uint32Array(F32.buffer);
const SCRATCH = new Uint8Array(64);
const LATIN1 = new TextDecoder('latin1');

/**
 * The shortest decimal string that parses back to the float32 `x` (as lmplz and query print).
 *
 * @example
 * ```ts
 * // runs
 * import { formatFloat32 } from 'kotoba';
 * formatFloat32(Math.fround(0.1)); // '0.1', where String(Math.fround(0.1)) is '0.10000000149011612'
 * ```
 */
export function formatFloat32(x: number): string {
  if (!Number.isFinite(x)) return x > 0 ? 'inf' : x < 0 ? '-inf' : 'nan';
  if (x === 0) return '0';
  const end = shortestDigits(x, SCRATCH, 0);
  return end < 0 ? slowShortest(x) : LATIN1.decode(SCRATCH.subarray(0, end));
}

/** Tries precisions 9, 8, … down (exact, slow; the reference). */
function slowShortest(x: number): string {
  let best = toPrecisionHalfEven(x, 9);
  for (let p = 8; p >= 1; p--) {
    const s = toPrecisionHalfEven(x, p);
    if (Math.fround(Number(s)) !== x) break;
    best = s;
  }
  return String(Number(best));
}

/**
 * `x` to `p` significant digits with ties to the even digit, as lmplz's double-conversion
 * breaks them (toPrecision breaks them away from zero): the float32 2.73828125 is 2.7382812.
 */
function toPrecisionHalfEven(x: number, p: number): string {
  const up = x.toPrecision(p);
  // Every float32 has a finite decimal expansion; 100 digits show any that can be a tie here.
  const [mantissa, exponent] = Math.abs(x).toExponential(99).split('e') as [string, string];
  const digits = mantissa.replace('.', '');
  if (digits[p] !== '5' || !/^0*$/.test(digits.slice(p + 1))) return up;
  const last = Number(digits[p - 1]);
  if (last % 2 === 0) return `${x < 0 ? '-' : ''}${digits.slice(0, p)}e${Number(exponent) - p + 1}`;
  return up;
}

/**
 * The shortest digits by arithmetic, written into `out` at `at` (returns the new end, or -1 for
 * "use the exact method"): the decimals that read back as `x` are those inside the half-way
 * points to its float32 neighbours. In units of the ninth significant digit that interval is
 * the integers L … H; the shortest decimals in it are the multiples of the largest power of ten
 * that has one there, and of those the one nearest `x`. Gives up where float64 rounding could
 * decide it, and outside the plain-notation range. (Math.floor and Math.ceil only: V8's
 * Math.round costs several times as much, and this runs for every value of an ARPA file.)
 */
export function shortestDigits(x: number, out: Uint8Array, at: number): number {
  const a = Math.abs(x);
  if (a < 1e-6 || a >= 1e9) return -1;
  F32[0] = a;
  const bits = U32[0]!;
  U32[0] = bits + 1;
  const up = F32[0]!;
  U32[0] = bits - 1;
  const down = F32[0]!;
  // e = floor(log10 a), from the binary exponent, corrected by one comparison.
  const binary = (bits >>> 23) - 127;
  let e = Math.floor(binary * LOG10_2);
  if (e + 1 >= 0 && e + 1 < POW10.length && a >= POW10[e + 1]!) e++;
  const s9 = 8 - e; // digits after the point at nine significant digits
  if (s9 < 0 || s9 > 22) return -1;
  const lo = ((a + down) / 2) * POW10[s9]!; // (a ± neighbour)/2 is exact in float64
  const hi = ((a + up) / 2) * POW10[s9]!;
  const loFloor = Math.floor(lo);
  const H = Math.floor(hi);
  // Too close to an integer to call in float64 (or a tie at an end point): the exact method.
  if (lo - loFloor < 1e-6 || lo - loFloor > 1 - 1e-6 || hi - H < 1e-6 || hi - H > 1 - 1e-6) return -1;
  const L = loFloor + 1;
  // A multiple of d lies in L … H whenever d ≤ H − L + 1: the largest such power of ten, then
  // larger ones while they have a multiple there too (never past the point: an integer's
  // trailing zeros are digits).
  let d = 1;
  let j = 0;
  while (j < s9 && d * 10 <= H - L + 1) {
    d *= 10;
    j++;
  }
  while (j < s9 && j < 8 && Math.floor(H / (d * 10)) * (d * 10) >= L) {
    d *= 10;
    j++;
  }
  const s = s9 - j; // digits after the point
  // The candidate nearest a; a tie goes to the even digit (lmplz's double-conversion). a·10^s
  // is exact in float64 for s ≤ 12 (24-bit mantissa × 5^s); beyond, let the exact method decide.
  const v = a * POW10[s]!;
  const below = Math.floor(v);
  const r = v - below;
  if (s > 12 && Math.abs(r - 0.5) < 1e-6) return -1;
  const nearest = r === 0.5 ? below + (below % 2) : r > 0.5 ? below + 1 : below;
  // m < 10^9 fits an int32, so the digit loops run on integer division.
  let m = Math.min(Math.floor(H / d), Math.max(Math.ceil(L / d), nearest)) | 0;
  let frac = s;
  while (frac > 0 && m % 10 === 0) {
    m = (m / 10) | 0;
    frac--;
  }
  // m has `digits` digits; they are written from the right, the point after `frac` of them
  // (0.00ddd when frac reaches past them).
  let digits = 1;
  while (digits < 10 && m >= POW10[digits]!) digits++;
  if (x < 0) out[at++] = 45; // '-'
  const end = at + (frac >= digits ? frac + 2 : frac > 0 ? digits + 1 : digits);
  let o = end;
  for (let i = 0; i < frac; i++) {
    const q = (m / 10) | 0;
    out[--o] = 48 + m - q * 10;
    m = q;
  }
  if (frac > 0) out[--o] = 46; // '.'
  do {
    const q = (m / 10) | 0;
    out[--o] = 48 + m - q * 10;
    m = q;
  } while (m > 0);
  return end;
}
