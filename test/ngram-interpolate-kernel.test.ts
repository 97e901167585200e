/**
 * The WebAssembly interpolation (asm/interpolate.ts) gives the MODEL rows of `interpolateRange`,
 * the TypeScript reference, on the ranges that estimation really makes: whole, cut into many small
 * parts, with a value whose log10 is not finite (the part goes to the TypeScript loop), and with
 * a range that lacks rows (the same error).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { corpusFromText, estimate, memoryEnv } from '../src/index.js';
import { InterpolationKernel } from '../src/ngram/interpolate-kernel.js';
import { f32Bits, interpolateRange, runSortJob, splitRange, type InterpolatedRange, type InterpolationRange } from '../src/ngram/pipeline.js';
import { SortScratch, type SortJob, type SortPool, type SortResult } from '../src/ngram/records.js';
import { repoRoot } from './helpers.js';

const lines = readFileSync(join(repoRoot, 'corpus', 'wiki.train.txt'), 'utf8').split('\n').slice(0, 3000);
const allocate = (words: number) => new Uint32Array(words);

/**
 * The ranges stage 5 interpolates for a model of order N (copies: the streams reuse their
 * buffers), as for an ARPA file (no links; estimate() makes tables, which link their rows).
 */
function rangesOf(order: number): InterpolationRange[] {
  const ranges: InterpolationRange[] = [];
  const env = memoryEnv();
  const copy = (r: InterpolationRange): InterpolationRange => ({
    ...r,
    links: false,
    p1: r.p1.slice(),
    initial: r.initial.map((a) => a?.slice()),
    backoffs: r.backoffs.map((a) => a?.slice()),
    initialRows: [...r.initialRows],
    before: [...r.before],
    backoffRows: [...r.backoffRows],
  });
  const pool: SortPool = {
    threads: 2,
    allocate: (words) => new Uint32Array(new SharedArrayBuffer(words * 4)),
    run: (jobs: SortJob[], scratch?: SortScratch) => jobs.map((job) => runSortJob(job, env, scratch ?? new SortScratch())),
    free: () => 2,
    begin(job: SortJob) {
      if (job.kind === 'interpolate') ranges.push(copy(job.range as InterpolationRange));
      const result: SortResult = runSortJob(job, env, new SortScratch());
      return { ready: () => true, wait: () => result };
    },
  };
  env.pool = pool;
  estimate(corpusFromText(lines), { order, streams: env });
  return ranges;
}

/** The MODEL rows of every order, as arrays of words. */
const rowsOf = (r: InterpolatedRange, N: number) => Array.from({ length: N }, (_, i) => Array.from(r.model[i + 1]!.subarray(0, r.kept[i + 1]! * (i + 3))));

test('the WebAssembly interpolation gives the MODEL rows of interpolateRange, whole and in parts', () => {
  const kernel = InterpolationKernel.get();
  assert.ok(kernel, 'WebAssembly runs here');
  const fallback = (part: InterpolationRange) => interpolateRange(part, allocate);
  let parts = 0;
  for (const N of [1, 2, 3, 5]) {
    const ranges = rangesOf(N);
    assert.ok(ranges.length > 0, `order ${N}: ranges`);
    for (const r of ranges) {
      const expected = rowsOf(interpolateRange(r, allocate), N);
      assert.deepEqual(rowsOf(kernel.interpolate(r, allocate, fallback, splitRange)!, N), expected, `order ${N}, whole`);
      assert.deepEqual(rowsOf(kernel.interpolate(r, allocate, fallback, splitRange, 5)!, N), expected, `order ${N}, parts of 5 rows`);
      // The parts themselves, through the TypeScript loop, make the same rows.
      const split = splitRange(r, 7);
      parts += split.length;
      const joined = split.map((p) => rowsOf(interpolateRange(p, allocate), N));
      assert.deepEqual(
        expected.map((_, k) => joined.flatMap((p) => p[k]!)),
        expected,
        `order ${N}, splitRange`,
      );
    }
  }
  assert.ok(parts > 20, `${parts} parts`);
});

test('a value whose log10 is not finite goes to the TypeScript loop; a missing suffix is the same error', () => {
  const kernel = InterpolationKernel.get()!;
  const fallback = (part: InterpolationRange) => interpolateRange(part, allocate);
  const N = 3;
  const r = rangesOf(N)[0]!;
  // A trigram of probability 0 (α = γ = 0): log10 is −∞.
  const W = N + 3;
  const zeroed = { ...r, initial: r.initial.map((a) => a?.slice()) };
  zeroed.initial[N]![5 * W + N] = f32Bits(0);
  zeroed.initial[N]![5 * W + N + 1] = f32Bits(0);
  const expected = rowsOf(interpolateRange(zeroed, allocate), N);
  assert.notDeepEqual(expected, rowsOf(interpolateRange(r, allocate), N), 'the change shows');
  assert.deepEqual(rowsOf(kernel.interpolate(zeroed, allocate, fallback, splitRange, 4)!, N), expected);
  // Bigrams cut short: the trigrams' suffixes run out.
  const cut = { ...r, initialRows: [...r.initialRows] };
  cut.initialRows[2] = 3;
  assert.throws(() => interpolateRange(cut, allocate), /the 2-grams ended before a suffix of a 3-gram/);
  assert.throws(() => kernel.interpolate(cut, allocate, fallback, splitRange), /the 2-grams ended before a suffix of a 3-gram/);
  // Other smoothers compute in float64: the kernel leaves them to the loop.
  assert.equal(kernel.interpolate({ ...r, float32: false }, allocate, fallback, splitRange), null);
});
