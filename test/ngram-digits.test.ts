/**
 * The digits of ARPA values: the shortest decimal that reads back as the float32, the nearest of
 * those, and a tie between two nearest broken to the even digit, as lmplz's double-conversion
 * prints them. Checked against an independent exact reference in BigInt arithmetic.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatArpaValue, formatFloat32 } from '../src/index.js';

const F32 = new Float32Array(1);
const U32 = new Uint32Array(F32.buffer);
const floatOfBits = (b: number) => ((U32[0] = b >>> 0), F32[0]!);

/** x = num / 2^shift exactly, as BigInts (x a finite non-zero float64). */
function asFraction(x: number): { num: bigint; shift: bigint } {
  let shift = 0n;
  let m = Math.abs(x);
  while (!Number.isInteger(m)) {
    m *= 2;
    shift++;
  }
  return { num: BigInt(m), shift };
}

/**
 * Reference: for p = 1, 2, …, the p-digit decimals on either side of |x|; the first precision at
 * which one reads back as x wins, the nearer of the two if both do, the even one on a tie.
 */
function reference(x: number): string {
  const { num, shift } = asFraction(x);
  const den = 1n << shift;
  const e = Math.floor(Math.log10(Math.abs(x)));
  for (let p = 1; p <= 9; p++) {
    for (const e10 of [e - 1, e, e + 1]) {
      // Candidates m·10^(e10−p+1) with 10^(p−1) ≤ m < 10^p.
      const s = p - 1 - e10;
      const scaledNum = s >= 0 ? num * 10n ** BigInt(s) : num;
      const scaledDen = s >= 0 ? den : den * 10n ** BigInt(-s);
      const lo = scaledNum / scaledDen;
      const rem2 = 2n * (scaledNum - lo * scaledDen);
      const text = (m: bigint) => `${x < 0 ? '-' : ''}${m}e${-s}`;
      const ok = (m: bigint) => m >= 10n ** BigInt(p - 1) && m < 10n ** BigInt(p) && Math.fround(Number(text(m))) === x;
      const order: bigint[] =
        rem2 < scaledDen ? [lo, lo + 1n] : rem2 > scaledDen ? [lo + 1n, lo] : lo % 2n === 0n ? [lo, lo + 1n] : [lo + 1n, lo];
      for (const m of order) if (ok(m)) return String(Number(text(m)));
    }
  }
  throw new Error(`no shortest form for ${x}`);
}

test('ties print as lmplz prints them: the even digit (Penn Treebank lines that differed)', () => {
  // From lmplz's Penn Treebank ARPA files: each value is exactly halfway between two 8-digit decimals.
  const lmplz: [number, string][] = [
    [-2.73828125, '-2.7382812'], // see stock
    [-2.81640625, '-2.8164062'], // declined figuring
    [-2.42578125, '-2.4257812'], // million and was
    [-1.75390625, '-1.7539062'], // N range thinking
    [-1.59765625, '-1.5976562'], // division of a
    [-3.17578125, '-3.1757812'], // on the newly
    [-2.70703125, '-2.7070312'], // he 's known
    [-1.26953125, '-1.2695312'], // the federal government UNK state
    [-1.72265625, '-1.7226562'], // of about N million square
  ];
  for (const [x, expected] of lmplz) {
    assert.equal(Math.fround(x), x, `${x} is a float32`);
    assert.equal(formatFloat32(x), expected);
    assert.equal(formatArpaValue(x), expected);
  }
  // An odd last digit rounds up to the even one.
  assert.equal(formatFloat32(Math.fround(1.00390625)), '1.0039062');
  assert.equal(formatFloat32(Math.fround(1.01171875)), '1.0117188');
});

test('shortest digits equal the exact reference on random and constructed float32 values', () => {
  let seed = 12345;
  const rand = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0), seed);
  const values: number[] = [];
  // Log-probabilities and backoffs: (-100, 1), all exponents there.
  for (let i = 0; i < 20000; i++) {
    const x = floatOfBits(rand() & 0x7fffffff) * (rand() & 1 ? -1 : 1);
    if (Number.isFinite(x) && x !== 0 && Math.abs(x) > 1e-12 && Math.abs(x) < 1e12) values.push(x);
  }
  for (let i = 0; i < 20000; i++) values.push(-Math.fround((rand() / 2 ** 32) * 10));
  // Short dyadic values: many ties at 8 and 9 digits, and exact short decimals.
  for (let k = 1; k <= 30; k++) for (let m = 1; m < 400; m += 2) values.push(Math.fround(-m / 2 ** k));
  for (const x of values) {
    const ours = formatFloat32(x);
    assert.equal(ours, reference(x), `${x}`);
    assert.equal(Math.fround(Number(ours)), x);
  }
  assert.ok(values.length > 30000, `${values.length} values`);
});
