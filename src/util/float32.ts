/**
 * Float32 values as the shortest decimal that reads back to them, as lmplz and KenLM's query print
 * them (ties to the even last digit, as their double-conversion breaks them): for ARPA files and
 * for every score kotoba prints.
 */
const POW10 = Array.from({ length: 23 }, (_, i) => Number(`1e${i}`)); // exact in float64
const LOG10_2 = Math.log10(2);
// Bit casts through one shared word.
const F32 = new Float32Array(1);
const U32 = new Uint32Array(F32.buffer);
const DIGITS = new Uint8Array(32);
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
 * points to its float32 neighbours; take the first precision at which an integer fits that
 * interval, and of those the one nearest `x`. Gives up where float64 rounding could decide it,
 * and outside the plain-notation range.
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
  const lo = (a + down) / 2; // exact in float64
  const hi = (a + up) / 2;
  // e = floor(log10 a), from the binary exponent, corrected by one comparison.
  const binary = (bits >>> 23) - 127;
  let e = Math.floor(binary * LOG10_2);
  if (e + 1 >= 0 && e + 1 < POW10.length && a >= POW10[e + 1]!) e++;
  // No precision below this can have a decimal inside an interval this narrow.
  const first = Math.max(1, Math.floor(e - (binary - 23) * LOG10_2));
  for (let p = first; p <= 9; p++) {
    const s = p - 1 - e; // digits after the decimal point
    if (s < 0 || s > 22) return -1;
    const scale = POW10[s]!;
    const l = lo * scale;
    const h = hi * scale;
    // Too close to call in float64 (or a tie at an end point): let the exact method decide.
    if (Math.abs(l - Math.round(l)) < 1e-6 || Math.abs(h - Math.round(h)) < 1e-6) return -1;
    const mLo = Math.ceil(l);
    const mHi = Math.floor(h);
    if (mLo > mHi) continue;
    // The candidate nearest a; a tie goes to the even digit (lmplz's double-conversion). a·10^s
    // is exact in float64 for s ≤ 12 (24-bit mantissa × 5^s); beyond, let the exact method decide.
    const v = a * scale;
    const below = Math.floor(v);
    if (s > 12 && Math.abs(v - below - 0.5) < 1e-6) return -1;
    const nearest = v - below === 0.5 ? below + (below % 2) : Math.round(v);
    // m < 10^9 fits an int32, so the digit loop runs on integer division.
    let m = Math.min(mHi, Math.max(mLo, nearest)) | 0;
    // Digits of m, least significant first, dropping trailing zeros of the fraction.
    let frac = s;
    while (frac > 0 && m % 10 === 0) {
      m = (m / 10) | 0;
      frac--;
    }
    let n = 0;
    do {
      DIGITS[n++] = 48 + (m % 10);
      m = (m / 10) | 0;
    } while (m > 0);
    while (n <= frac) DIGITS[n++] = 48; // leading zeros: 0.00ddd
    if (x < 0) out[at++] = 45; // '-'
    for (let i = n - 1; i >= 0; i--) {
      out[at++] = DIGITS[i]!;
      if (i === frac && frac > 0) out[at++] = 46; // '.'
    }
    return at;
  }
  return -1;
}
