/**
 * The WebAssembly ARPA formatter (asm/arpa.ts) writes the bytes of the TypeScript loop, which is
 * checked digit by digit against an exact reference in ngram-digits.test.ts: every kind of value
 * (ties, -99, 0, values only the exact method settles), every order, words of any bytes, lines
 * across chunk and slice boundaries, and a new vocabulary after another.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ArpaKernel } from '../src/ngram/arpa-kernel.js';
import { formatModelChunks, wordBytes } from '../src/ngram/arpa.js';
import { f32Bits } from '../src/ngram/pipeline.js';
import { Vocabulary } from '../src/text/vocabulary.js';

const F32 = new Float32Array(1);
const U32 = new Uint32Array(F32.buffer);
const floatOfBits = (b: number) => ((U32[0] = b >>> 0), F32[0]!);

const joined = (chunks: Uint8Array[]) => Buffer.concat(chunks.map((c) => Buffer.from(c.buffer, c.byteOffset, c.byteLength)));

/** Values of every kind an ARPA file holds, and some it never does (the kernel leaves those to the exact method). */
function values(rand: () => number): number[] {
  const out: number[] = [0, -99, -Infinity, -100, Math.fround(-98.99), Math.fround(1e-7), Math.fround(-1e-7), Math.fround(2e9), Math.fround(-3e12)];
  for (let i = 0; i < 6000; i++) {
    const x = floatOfBits(rand() & 0x7fffffff) * (rand() & 1 ? -1 : 1);
    if (Number.isFinite(x) && Math.abs(x) > 1e-12 && Math.abs(x) < 1e12) out.push(x);
  }
  for (let i = 0; i < 6000; i++) out.push(-Math.fround((rand() / 2 ** 32) * 10));
  // Short dyadic values: ties at 8 and 9 digits, exact short decimals.
  for (let k = 1; k <= 30; k++) for (let m = 1; m < 200; m += 2) out.push(Math.fround(-m / 2 ** k));
  return out;
}

test('the WebAssembly formatter writes the same ARPA lines as the TypeScript loop', () => {
  const kernel = ArpaKernel.get();
  assert.ok(kernel, 'WebAssembly runs here');
  let seed = 2024;
  const rand = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0), seed);
  const vs = values(rand);
  const words = ['a', 'the', '私', '1900年代', 'x'.repeat(300), 'é', 'UNK_7', 'ß∂ƒ'];
  for (let i = 0; i < 200; i++) words.push(`w${i}_${'z'.repeat(i % 17)}`);
  const vocab = Vocabulary.fromWords(words);
  const wb = wordBytes(vocab);
  const V = vocab.size;
  let fallbacks = 0;
  for (const top of [1, 3, 5]) {
    for (let k = 1; k <= top; k++) {
      // Enough rows to cross the kernel's slices of rows and its megabyte chunks.
      const n = k === top ? 40000 : 9000;
      const W = k + 2;
      const rows = new Uint32Array(n * W);
      for (let i = 0; i < n; i++) {
        for (let j = 0; j < k; j++) rows[i * W + j] = rand() % V;
        rows[i * W + k] = f32Bits(vs[rand() % vs.length]!);
        // Backoffs repeat (the kernel caches their digits), and take every kind of value too.
        rows[i * W + k + 1] = f32Bits(rand() % 3 === 0 ? vs[rand() % vs.length]! : vs[rand() % 50]!);
      }
      const expected = joined(formatModelChunks(wb, rows, n, k, top, null));
      const chunks = formatModelChunks(wb, rows, n, k, top, kernel);
      assert.ok(joined(chunks).equals(expected), `order ${k} of ${top}`);
      if (expected.length > 1 << 20) assert.ok(chunks.length > 1, 'chunks of about a megabyte');
      for (let i = 0; i < n; i++) if (Math.abs(floatOfBits(rows[i * W + k]!)) >= 1e9) fallbacks++;
    }
  }
  assert.ok(fallbacks > 0, 'some rows went to the exact method');

  // Another vocabulary with the same ids: the kernel copies the new words.
  const other = wordBytes(Vocabulary.fromWords(words.map((w) => `${w}!`)));
  const rows = Uint32Array.of(3, 4, f32Bits(-0.5), f32Bits(-0.25));
  assert.equal(joined(formatModelChunks(other, rows, 1, 2, 3, kernel)).toString(), 'a! the!'.replace(/^/, '-0.5\t') + '\t-0.25\n');
  assert.equal(joined(formatModelChunks(wb, rows, 1, 2, 3, kernel)).toString(), '-0.5\ta the\t-0.25\n');
  // No rows: one empty chunk, as the loop gives.
  assert.deepEqual(formatModelChunks(wb, rows, 0, 2, 3, kernel).map((c) => c.length), [0]);
});
