/**
 * Estimation at scale: the streaming pipeline writes the same bytes whatever its memory budget
 * (one run in memory, or many runs on disk merged over several levels) and thread count; count
 * shards merge into the model of the concatenated corpus; temporary files go away on success,
 * error and signals; a full disk or an unwritable temporary folder is one line.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { arpaText, corpusFromText, countNgrams, estimate, KotobaError, MemoryBudget, MemoryStorage, memoryEnv, type SmoothingName } from '../src/index.js';
import { countNgramFiles, FileStorage, trainNgramModel } from '../src/node/index.js';
import { TempUsage } from '../src/node/temp-storage.js';
import { adjustCounts, countSpec, f32Bits, arpaLines, NgramCounter, ordersElsewhere, padSentences, runSortJob, WordHistogram, type AdjustOptions } from '../src/ngram/pipeline.js';
import { formatModelRows, wordBytes } from '../src/ngram/arpa.js';
import { Vocabulary } from '../src/text/vocabulary.js';
import { concatRuns, MergeCursor, pushRows, readRows, RowCollector, RowSorter, RowSpool, RunSet, SortScratch, sortRows, wordRanges, type RowCursor, type SortJob, type SortPool, type SortResult, type StreamEnv } from '../src/ngram/records.js';
import { cli, needShared, repoRoot, runCli, sharedPath, tempDir } from './helpers.js';

const wikiLines = readFileSync(join(repoRoot, 'corpus', 'wiki.train.txt'), 'utf8').split('\n').slice(0, -1);
const json = (stdout: string) => JSON.parse(stdout) as Record<string, number>;

test('a tiny memory budget (many runs, merged over several levels) gives the bytes of one run in memory, for every smoother', async () => {
  const corpus = corpusFromText(wikiLines.slice(0, 1500));
  // Every order with modified Kneser-Ney; the other smoothers (which differ only in stage 4) at order 3.
  const cases: [number, SmoothingName][] = [1, 2, 3, 4, 5].map((order) => [order, 'mkn']);
  for (const smoothing of ['wb', 'abs', 'add', 'jm', 'mle'] as const) cases.push([3, smoothing]);
  for (const [order, smoothing] of cases) {
    {
      const prune = order >= 3 && smoothing !== 'mle' ? [0, 1, 1] : undefined;
      const options = { order, smoothing, ...(prune ? { prune } : {}) };
      const inMemory = await arpaText(estimate(corpus, options));
      const streams = memoryEnv(48 << 10, 4 << 10);
      const spilled = await arpaText(estimate(corpus, { ...options, streams }));
      assert.ok(inMemory === spilled, `order ${order} ${smoothing}: the tiny budget changed the model`);
      if (order >= 3) {
        assert.ok(streams.storage.runsWritten > 20, `order ${order}: only ${streams.storage.runsWritten} runs`);
        assert.ok(streams.storage.mergedRuns > 0, `order ${order}: no merge level`);
      }
      assert.equal(streams.storage.bytesHeld, 0, 'every run was read and dropped');
    }
  }
});

test('a context with more children than a batch holds (the batch grows) and one long sentence, under a tiny budget', async () => {
  const lines = Array.from({ length: 6000 }, (_, i) => `the w${i} x`);
  lines.push(Array.from({ length: 20000 }, (_, i) => `v${i % 97}`).join(' '));
  const corpus = corpusFromText(lines);
  for (const order of [2, 3]) {
    const inMemory = await arpaText(estimate(corpus, { order }));
    const spilled = await arpaText(estimate(corpus, { order, streams: memoryEnv(48 << 10, 4 << 10) }));
    assert.ok(inMemory === spilled, `order ${order}`);
  }
});

test('a pool of threads sorts the calling thread\'s share of a block with the sorter\'s scratch, freed when the stream ends', () => {
  // The estimation worker's pool once kept arrays of its own as large as the largest block it
  // sorted, for the whole run and outside the budget (53 MB at a 300 MB budget).
  const env = memoryEnv();
  const given: (SortScratch | undefined)[] = [];
  const pool: SortPool = {
    threads: 2,
    allocate: (words) => new Uint32Array(words),
    run(jobs: SortJob[], scratch?: SortScratch) {
      given.push(scratch);
      return jobs.map((job) => runSortJob(job, env, scratch ?? new SortScratch()));
    },
  };
  env.pool = pool;
  const scratch = new SortScratch();
  const sorter = new RowSorter(countSpec(2), env, scratch);
  const n = 1 << 16;
  for (let i = 0; i < n; i++) {
    const at = sorter.push();
    sorter.block.set([(i * 7919) % 1000, i % 13, 1], at);
  }
  const rows = sorter.finish();
  assert.ok(given.length > 0 && given.every((g) => g === scratch), 'the pool is handed the sorter\'s scratch');
  assert.equal(scratch.perm(0).length, 0, 'the scratch is freed once the block is sorted');
  let total = 0;
  while (rows.next()) total += rows.row[rows.at + 2]!;
  assert.equal(total, n);
});

/**
 * A pool of "two threads" whose background jobs run only when their result is asked for (so a
 * buffer written while another thread would still read it shows in the result); `ready` says
 * whether that thread is done, as the caller wants it.
 */
function lazyPool(env: StreamEnv, ready: () => boolean, free?: () => number, queues?: () => boolean): { pool: SortPool; begun: () => number; waited: () => number } {
  let begun = 0;
  let waited = 0;
  const begin = (job: SortJob) => {
    begun++;
    let result: SortResult | null = null;
    return { ready, wait: () => (waited++, (result ??= runSortJob(job, env, new SortScratch()))) };
  };
  const pool: SortPool = {
    threads: 2,
    allocate: (words) => new Uint32Array(new SharedArrayBuffer(words * 4)),
    run: (jobs: SortJob[], scratch?: SortScratch) => jobs.map((job) => runSortJob(job, env, scratch ?? new SortScratch())),
    ...(free ? { free } : {}),
    begin,
    // With `queues`: a job goes behind the other thread's when that says yes.
    ...(queues ? { enqueue: (job: SortJob) => (queues() ? begin(job) : null) } : {}),
  };
  return { pool, begun: () => begun, waited: () => waited };
}

/** Rows [word 0, word 1, id] through a RowSorter by words 0 and 1 (stable): the ids as they come back. */
function sortedIds(env: StreamEnv, rows: Uint32Array, n: number, W: number): number[] {
  const sorter = new RowSorter({ width: W, radix: [1, 0], key: [0, 1], sum: -1 }, env, new SortScratch());
  pushRows(sorter, rows, n, W);
  const cursor = sorter.finish();
  const ids: number[] = [];
  while (cursor.next()) ids.push(cursor.row[cursor.at + 2]!);
  return ids;
}

/** n rows [word 0, word 1, id] (3 words each) with many equal keys, for the sorters' tests. */
function idRows(n: number): Uint32Array {
  const rows = new Uint32Array(n * 3);
  for (let i = 0; i < n; i++) rows.set([(i * 7919) % 101, i % 7, i], i * 3);
  return rows;
}

/** Row indices of `rows` (W words each) in a stable sort by words 0 and 1. */
function stableOrder(rows: Uint32Array, n: number, W: number): number[] {
  return Array.from({ length: n }, (_, i) => i).sort((a, b) => rows[a * W]! - rows[b * W]! || rows[a * W + 1]! - rows[b * W + 1]! || a - b);
}

test('the memory budget collects freed blocks only when, with what is in use, they pass the budget (and a constant)', () => {
  const MB = 1 << 20;
  let collections = 0;
  const budget = new MemoryBudget(1024 * MB, () => collections++);
  // Well inside the budget: 300 MB in use and 500 MB freed (over the 64 MB constant) need no collection.
  assert.ok(budget.take(300 * MB));
  for (let i = 0; i < 5; i++) budget.garbage(100 * MB);
  assert.equal(collections, 0);
  // Taking more brings use and garbage past the budget: one collection, and the garbage count restarts.
  assert.ok(budget.take(400 * MB));
  assert.equal(collections, 1);
  // At the budget, garbage is collected once it passes the constant (a sixteenth: 64 MB).
  assert.ok(budget.take(300 * MB));
  budget.garbage(60 * MB);
  assert.equal(collections, 1);
  budget.garbage(10 * MB);
  assert.equal(collections, 2);
  // Giving back moves memory from use to garbage: no collection needed for that alone.
  budget.give(1000 * MB);
  assert.equal(collections, 2);
  assert.equal(budget.used, 0);
});

test('a sorter (and a spool) told how many rows are coming grows through one block without copying, takes the budget step by step, and sorts the same', () => {
  const W = 3;
  const n = 50_000;
  const rows = idRows(n);
  const spec = { width: W, radix: [1, 0], key: [0, 1], sum: -1 };
  const env = memoryEnv();
  const sorter = new RowSorter(spec, env, new SortScratch(), n);
  const buffers = new Set<ArrayBufferLike>();
  const used: number[] = [];
  for (let i = 0; i < n; i++) {
    const at = sorter.push();
    sorter.block.set(rows.subarray(i * W, i * W + W), at);
    buffers.add(sorter.block.buffer);
    used.push(env.budget.used);
  }
  assert.equal(buffers.size, 1, 'every block is a view of one buffer');
  assert.ok(used[0]! < used[n - 1]! / 100, `the budget grows with the rows (${used[0]} bytes at the first row, ${used[n - 1]} at the last)`);
  assert.equal(used[n - 1], n * (W + 3) * 4, 'no room taken for rows that are not coming');
  const cursor = sorter.finish();
  const ids: number[] = [];
  while (cursor.next()) ids.push(cursor.row[cursor.at + 2]!);
  cursor.close();
  assert.deepEqual(ids, sortedIds(memoryEnv(), rows, n, W));
  assert.deepEqual(ids, stableOrder(rows, n, W));
  assert.equal(env.budget.used, 0, 'the block is given back');
  // Under a budget too small for them all, it spills as before: the same rows, sorted.
  const small = memoryEnv(256 << 10, 4 << 10);
  const spilled = new RowSorter(spec, small, new SortScratch(), n);
  pushRows(spilled, rows, n, W);
  const back = spilled.finish();
  const again: number[] = [];
  while (back.next()) again.push(back.row[back.at + 2]!);
  assert.ok(small.storage.runsWritten > 1, `${small.storage.runsWritten} runs`);
  assert.deepEqual(again, ids);
  // A spool told the same keeps its rows in the order they came, in one buffer too.
  const spoolEnv = memoryEnv();
  const spool = new RowSpool(W, spoolEnv, n);
  const spoolBuffers = new Set<ArrayBufferLike>();
  for (let i = 0; i < n; i++) {
    const at = spool.push();
    spool.block.set(rows.subarray(i * W, i * W + W), at);
    spoolBuffers.add(spool.block.buffer);
  }
  assert.equal(spoolBuffers.size, 1, 'every block of the spool is a view of one buffer');
  assert.equal(spoolEnv.budget.used, n * W * 4);
  const spooled = spool.finish();
  const inOrder: number[] = [];
  while (spooled.next()) inOrder.push(spooled.row[spooled.at + 2]!);
  spooled.close();
  assert.deepEqual(inOrder, Array.from({ length: n }, (_, i) => i));
  assert.equal(spoolEnv.budget.used, 0);
});

test('a sorter that has spilled fills one half of its block while another thread sorts the other, and its runs keep their order', () => {
  const W = 3;
  const n = 400_000;
  const rows = idRows(n);
  const order = stableOrder(rows, n, W);
  // Equal keys come back in the order they went in: the runs sorted elsewhere, and those sorted
  // here while the other thread was still busy (with this stream's other half, or with another
  // stream's job), are merged in block order.
  for (const otherJobs of [false, true]) {
    const env = memoryEnv(2 << 20, 4 << 10); // blocks of 65,536 rows, then halves of 32,768
    let asked = 0;
    let sortedHere = 0;
    let freeAsked = 0;
    // Every third question finds the other thread still at the other half. It is free when the
    // block first spills (a sorter halves its block only then); with other jobs, every third
    // question after that finds it busy with another stream's.
    const free = () => (otherJobs && ++freeAsked > 2 && freeAsked % 3 === 0 ? (sortedHere++, 1) : 2);
    const { pool, begun } = lazyPool(env, () => (++asked % 3 === 0 ? (sortedHere++, false) : true), free);
    env.pool = pool;
    const out = sortedIds(env, rows, n, W);
    assert.ok(begun() >= 4 && sortedHere >= 2, `${begun()} halves sorted elsewhere, ${sortedHere} here`);
    assert.equal(out.length, n);
    for (let i = 0; i < n; i++) if (out[i] !== order[i]) assert.fail(`row ${i}: ${out[i]} where ${order[i]} belongs (other jobs: ${otherJobs})`);
    assert.equal(env.budget.used, 0, 'the block and its halves are given back');
  }
});

/**
 * `env`'s pool: a lazy one (see `lazyPool`) whose other thread is never free; its queue refuses
 * every third job, and every third question finds a queued job not done yet.
 */
function busyPool(env: StreamEnv): { begun: () => number; refused: () => number } {
  let offered = 0;
  let refused = 0;
  let asked = 0;
  const queues = () => (++offered % 3 === 0 ? (refused++, false) : true);
  const { pool, begun } = lazyPool(env, () => ++asked % 3 !== 0, () => 1, queues);
  env.pool = pool;
  return { begun, refused: () => refused };
}

test('a sorter whose other thread is always busy queues its halves behind that thread\'s jobs from the first spill on, sorts here those the queue refuses, and its runs keep their order', () => {
  const W = 3;
  const n = 400_000;
  const rows = idRows(n);
  const order = stableOrder(rows, n, W);
  const env = memoryEnv(2 << 20, 4 << 10); // blocks of 65,536 rows, then halves of 32,768
  const { begun, refused } = busyPool(env);
  const out = sortedIds(env, rows, n, W);
  assert.ok(begun() >= 4 && refused() >= 2, `${begun()} halves queued, ${refused()} refused`);
  assert.equal(out.length, n);
  for (let i = 0; i < n; i++) if (out[i] !== order[i]) assert.fail(`row ${i}: ${out[i]} where ${order[i]} belongs`);
  assert.equal(env.budget.used, 0, 'the block and its halves are given back');
});

test('a spool that has spilled fills one half of its block while another thread writes the other (queued, or written here when the queue refuses): every row back in order', () => {
  const W = 3;
  const n = 400_000;
  const rows = idRows(n);
  const env = memoryEnv(1 << 20, 4 << 10); // halves of about 43,000 rows
  const { begun, refused } = busyPool(env);
  const spool = new RowSpool(W, env);
  pushRows(spool, rows, n, W);
  const cursor = spool.finish();
  let i = 0;
  while (cursor.next()) {
    if (cursor.row[cursor.at + 2] !== i) assert.fail(`row ${i}: ${cursor.row[cursor.at + 2]}`);
    i++;
  }
  assert.equal(i, n);
  assert.ok(begun() >= 4 && refused() >= 2, `${begun()} halves written elsewhere, ${refused()} refused`);
  assert.equal(env.budget.used, 0, 'the block and the read buffer are given back');
});

test('a sorter that has spilled stores its block when asked (its memory back in the budget) and reads back every row sorted; one that has not keeps its block', () => {
  const W = 3;
  const n = 100_000;
  const rows = idRows(n);
  for (const spilled of [true, false]) {
    const env = spilled ? memoryEnv(1 << 20, 4 << 10) : memoryEnv();
    const sorter = new RowSorter({ width: W, radix: [1, 0], key: [0, 1], sum: -1 }, env, new SortScratch());
    pushRows(sorter, rows, n, W);
    const held = env.budget.used;
    const runs = env.storage.runsWritten;
    sorter.storeBlock();
    if (spilled) {
      assert.ok(runs > 0 && env.storage.runsWritten > runs, `${runs} runs, then ${env.storage.runsWritten}`);
      assert.equal(env.budget.used, 0, `the block's ${held} bytes are given back`);
    } else {
      assert.equal(env.storage.runsWritten, 0, 'nothing stored');
      assert.equal(env.budget.used, held, 'the block is kept');
    }
    const cursor = sorter.finish();
    const ids: number[] = [];
    while (cursor.next()) ids.push(cursor.row[cursor.at + 2]!);
    assert.deepEqual(ids, stableOrder(rows, n, W), spilled ? 'spilled' : 'in memory');
  }
});

test('a half that fails to be stored on another thread (a full disk) fails the stream that pushed it, and dropping the stream frees every run', () => {
  const W = 3;
  const n = 400_000;
  class FullAfterFourRuns extends MemoryStorage {
    override begin() {
      if (this.runsWritten >= 4) throw new KotobaError('no space left in the temporary folder', 'free some space');
      return super.begin();
    }
  }
  const storage = new FullAfterFourRuns(); // the first spill: two runs (one per free thread), then halves
  const env: StreamEnv = { storage, budget: new MemoryBudget(2 << 20), minReadBytes: 4 << 10 };
  const { pool, begun } = lazyPool(env, () => true, () => 2);
  env.pool = pool;
  const sorter = new RowSorter({ width: W, radix: [1, 0], key: [0, 1], sum: -1 }, env, new SortScratch());
  const rows = idRows(n);
  assert.throws(() => pushRows(sorter, rows, n, W), /no space left/);
  assert.ok(begun() >= 3, `${begun()} halves handed over`);
  sorter.drop();
  assert.equal(storage.bytesHeld, 0, 'every run written is dropped');
  assert.equal(env.budget.used, 0, 'the block is given back');
});

test('a sorted block kept in memory is read through its permutation with the next rows gathered on another thread', () => {
  const W = 3;
  const n = 200_000;
  const env = memoryEnv();
  // Gathered only when asked for: a buffer read while it is being filled would show.
  const { pool, begun, waited } = lazyPool(env, () => false, () => 2);
  env.pool = pool;
  const rows = new Uint32Array(n * W);
  for (let i = 0; i < n; i++) rows.set([(i * 7919) % 1009, i % 11, i], i * W);
  const out = sortedIds(env, rows, n, W);
  assert.equal(env.storage.runsWritten, 0, 'kept in memory');
  assert.ok(begun() > 4 && waited() === begun(), `${begun()} gathers begun, ${waited()} waited for`);
  assert.deepEqual(out, stableOrder(rows, n, W));
});

test('a block kept in memory, sorted on several threads, is cut by its most significant column into shares that make one run: the order of one thread, read without a merge', () => {
  // Shares by sortRows' range, concatenated: the whole sort (stable), with many passes, one pass,
  // and the comparison sort of few rows with large ids.
  const cases: { n: number; ids: number; spec: { width: number; radix: number[]; key: number[]; sum: number } }[] = [
    { n: 60_000, ids: 301, spec: { width: 4, radix: [0, 1, 2], key: [2, 1, 0], sum: -1 } },
    { n: 60_000, ids: 97, spec: { width: 3, radix: [1], key: [1, 0], sum: -1 } },
    { n: 300, ids: 1_000_000, spec: { width: 3, radix: [0, 1], key: [1, 0], sum: -1 } },
  ];
  for (const { n, ids, spec } of cases) {
    const W = spec.width;
    const rows = new Uint32Array(n * W);
    for (let i = 0; i < n * W; i++) rows[i] = ((i * 7919) ^ (i >> 3)) % ids;
    const whole = Array.from(sortRows(rows, n, spec, new SortScratch()).subarray(0, n));
    const top = spec.radix[spec.radix.length - 1]!;
    const counts = new Uint32Array(ids);
    let max = 0;
    for (let i = 0; i < n; i++) {
      counts[rows[i * W + top]!]!++;
      max = Math.max(max, rows[i * W + top]!);
    }
    const shares = wordRanges(counts, max, n, 3);
    assert.equal(shares.length, 3);
    const joined: number[] = [];
    for (const r of shares) joined.push(...sortRows(rows, n, spec, new SortScratch(), { lo: r.lo, hi: r.hi, out: new Uint32Array(r.n) }));
    assert.deepEqual(joined, whole, `${n} rows, ids below ${ids}, radix ${spec.radix}`);
    assert.throws(() => sortRows(rows, n, spec, new SortScratch(), { lo: shares[0]!.lo, hi: shares[0]!.hi, out: new Uint32Array(shares[0]!.n + 1) }), /rows in the range/);
  }
  // Through a sorter on a pool of two threads: range jobs that tile one permutation, one kept run.
  const env = memoryEnv();
  const jobs: SortJob[] = [];
  env.pool = {
    threads: 2,
    allocate: (words) => new Uint32Array(new SharedArrayBuffer(words * 4)),
    run: (batch: SortJob[], scratch?: SortScratch) => (jobs.push(...batch), batch.map((job) => runSortJob(job, env, scratch ?? new SortScratch()))),
    free: () => 2,
  };
  const n = 200_000;
  const rows = new Uint32Array(n * 3);
  for (let i = 0; i < n; i++) rows.set([(i * 7919) % 1009, i % 11, i], i * 3);
  const sorter = new RowSorter({ width: 3, radix: [1, 0], key: [0, 1], sum: -1 }, env, new SortScratch());
  pushRows(sorter, rows, n, 3);
  const cursor = sorter.finish();
  const shares = jobs.filter((j) => j.kind === 'rows' && j.range);
  assert.equal(shares.length, 2, 'one share per thread');
  assert.equal(shares.reduce((sum, j) => sum + (j.kind === 'rows' ? j.range!.out.length : 0), 0), n, 'the shares tile the block');
  assert.ok(!(cursor instanceof MergeCursor), 'one run: read without a merge');
  const got: number[] = [];
  while (cursor.next()) got.push(cursor.row[cursor.at + 2]!);
  assert.deepEqual(got, stableOrder(rows, n, 3));
});

test('blocks kept in memory sorted together on a pool: each whole on one thread, the largest first to the thread with less, each read as one run, the budget as after sorting each alone', () => {
  const W = 3;
  const spec = { width: W, radix: [1, 0], key: [0, 1], sum: -1 };
  const sizes = [50_000, 120_000, 40_000, 70_000];
  const read = (cursor: RowCursor) => {
    const ids: number[] = [];
    while (cursor.next()) ids.push(cursor.row[cursor.at + 2]!);
    return ids;
  };
  const env = memoryEnv(256 << 20);
  const { pool, begun } = lazyPool(env, () => true, () => 2, () => true);
  const ran: SortJob[] = [];
  env.pool = { ...pool, run: (jobs, scratch) => (ran.push(...jobs), pool.run(jobs, scratch)) };
  const inputs = sizes.map((n, b) => {
    const rows = new Uint32Array(n * W);
    for (let i = 0; i < n; i++) rows.set([(i * 7919 + b) % 101, (i + b) % 7, i], i * W);
    return rows;
  });
  const sorters = sizes.map((n, b) => {
    const sorter = new RowSorter(spec, env, new SortScratch());
    pushRows(sorter, inputs[b]!, n, W);
    return sorter;
  });
  // What each block holds after sorting alone (its rows and permutation).
  const alone = sizes.map((n, b) => {
    const own = memoryEnv(256 << 20);
    const sorter = new RowSorter(spec, own, new SortScratch());
    pushRows(sorter, inputs[b]!, n, W);
    sorter.sortNow();
    return own.budget.used;
  });
  RowSorter.sortTogether(sorters);
  // Largest first: 120 k here, then 70 k and 50 k on the other thread (less work so far), 40 k
  // here (a tie stays here).
  assert.equal(begun(), 2, 'two blocks sorted on the other thread');
  assert.equal(ran.length, 0, 'none cut into shares');
  assert.equal(env.budget.used, alone.reduce((a, b) => a + b, 0), 'each block holds what it holds after sorting alone');
  sorters.forEach((sorter, b) => {
    const cursor = sorter.finish();
    assert.ok(!(cursor instanceof MergeCursor), 'one run');
    assert.deepEqual(read(cursor), stableOrder(inputs[b]!, sizes[b]!, W), `block ${b}`);
  });
  assert.equal(env.budget.used, 0, 'all of it back once read');
  // One block to keep: cut into shares, as sortNow does.
  const one = new RowSorter(spec, env, new SortScratch());
  pushRows(one, inputs[1]!, sizes[1]!, W);
  RowSorter.sortTogether([one]);
  assert.equal(ran.filter((j) => j.kind === 'rows' && j.range).length, 2, 'two shares');
  assert.deepEqual(read(one.finish()), stableOrder(inputs[1]!, sizes[1]!, W));
});

test('a block kept in memory gives its sort\'s spare arrays back to the budget once sorted: the block and its permutation stay taken until read', () => {
  const env = memoryEnv(64 << 20);
  const W = 3;
  const n = 100_000;
  const sorter = new RowSorter({ width: W, radix: [1, 0], key: [0, 1], sum: -1 }, env, new SortScratch());
  pushRows(sorter, idRows(n), n, W);
  const filling = env.budget.used; // the block and the sort's three arrays, per row
  assert.ok(filling >= n * (W + 3) * 4);
  const cursor = sorter.finish();
  const kept = env.budget.used;
  assert.equal(kept, (filling / (W + 3)) * W + n * 4, 'the block and the permutation');
  let rows = 0;
  while (cursor.next()) rows++;
  assert.equal(rows, n);
  assert.equal(env.budget.used, 0, 'all of it back once read');
});

test('a sorter handed off unsorted gives its block as it is, for the thread that reads it to sort (with its own arrays); one that has spilled sorts here', () => {
  const W = 3;
  const n = 5_000;
  const spec = { width: W, radix: [1, 0], key: [0, 1], sum: -1 };
  const rows = idRows(n);
  const read = (cursor: RowCursor) => {
    const ids: number[] = [];
    while (cursor.next()) ids.push(cursor.row[cursor.at + 2]!);
    return ids;
  };
  const env = memoryEnv(1 << 20);
  const sorter = new RowSorter(spec, env, new SortScratch());
  pushRows(sorter, rows, n, W);
  const taken = env.budget.used;
  const { image, release } = sorter.handOff(false);
  assert.equal(image.blocks.length, 1);
  assert.ok(image.blocks[0]!.unsorted && image.blocks[0]!.n === n, 'the block as it is');
  assert.deepEqual(Array.from(image.blocks[0]!.rows.subarray(0, n * W)), Array.from(rows), 'not sorted here');
  assert.throws(() => new RunSet(spec, memoryEnv()).adopt(image), /needs a scratch/);
  const there = memoryEnv();
  const set = new RunSet(spec, there);
  set.adopt(image, release, new SortScratch());
  assert.equal(env.budget.used, taken, 'the block stays taken until read');
  assert.deepEqual(read(set.cursor()), stableOrder(rows, n, W));
  assert.equal(env.budget.used, 0, 'given back once read');
  // A 16 kB budget: the sorter has spilled, so its runs are sorted and stored here.
  const small = memoryEnv(16 << 10, 1 << 10);
  const spilled = new RowSorter(spec, small, new SortScratch());
  pushRows(spilled, rows, n, W);
  const handed = spilled.handOff(false);
  assert.ok(handed.image.runs.length > 1 && handed.image.blocks.every((b) => !b.unsorted));
  const other = new RunSet(spec, small);
  other.adopt(handed.image, handed.release);
  assert.deepEqual(read(other.cursor()), stableOrder(rows, n, W));
});

test('readRows of a sorted block gathers long stretches straight into the caller\'s array, half on another thread: the rows of next(), in any mix', () => {
  const W = 3;
  const n = 200_000;
  const rows = new Uint32Array(n * W);
  for (let i = 0; i < n; i++) rows.set([(i * 7919) % 1009, i % 11, i], i * W);
  const want = stableOrder(rows, n, W);
  for (const threads of [1, 2]) {
    const env = memoryEnv();
    // Gathered elsewhere only when asked for: a stretch read before its half was gathered would show.
    const lazy = lazyPool(env, () => false, () => 2);
    if (threads > 1) env.pool = lazy.pool;
    const sorter = new RowSorter({ width: W, radix: [1, 0], key: [0, 1], sum: -1 }, env, new SortScratch());
    pushRows(sorter, rows, n, W);
    const cursor = sorter.finish();
    const got: number[] = [];
    const out = env.pool ? env.pool.allocate(80_000 * W) : new Uint32Array(80_000 * W);
    for (let step = 0; ; step++) {
      const max = [1, 5_000, 70_000, 3, 40_000][step % 5]!;
      const k = readRows(cursor, W, out, 0, max);
      for (let i = 0; i < k; i++) got.push(out[i * W + 2]!);
      if (k === max) assert.equal(cursor.row[cursor.at + 2], out[(k - 1) * W + 2], 'the current row is the last one taken');
      if (k < max) break;
      if (cursor.next()) got.push(cursor.row[cursor.at + 2]!);
    }
    assert.equal(cursor.next(), false, 'ended');
    assert.deepEqual(got, want, `${threads} threads`);
    if (threads > 1) assert.ok(lazy.begun() > 0 && lazy.waited() === lazy.begun(), 'halves gathered elsewhere');
  }
});

test('ARPA lines formatted in the background (each batch\'s tail on another thread while the next batch is read) come out in order', () => {
  const k = 3;
  const W = k + 2;
  const n = 150_000;
  const words = wordBytes(Vocabulary.fromWords(Array.from({ length: 500 }, (_, i) => `w${i}`)));
  const rows = new Uint32Array(n * W);
  for (let i = 0; i < n; i++) rows.set([3 + (i % 500), 3 + ((i * 7) % 500), 3 + ((i * 13) % 500), f32Bits(-(i % 997) / 101), f32Bits(-(i % 89) / 7)], i * W);
  const env = memoryEnv();
  // Formatted only when asked for: a batch read over the one being formatted would show.
  const { pool, begun, waited } = lazyPool(env, () => false);
  const cursor = () => ({ row: rows, at: -W, next() { this.at += W; return this.at < rows.length; }, close() {} });
  // Batches of 40,000 rows (two of them in 80,000): the last, of 30,000, is formatted here alone.
  const lines = Buffer.concat([...arpaLines(cursor(), k, k, words, { ...env, pool }, 80_000)]);
  assert.equal(begun(), 3);
  assert.ok(lines.equals(formatModelRows(words, rows, n, k, k)), 'the lines of every row, in order');
  // A reader that stops early leaves no batch being formatted.
  const before = begun();
  const early = arpaLines(cursor(), k, k, words, { ...env, pool }, 80_000);
  early.next();
  early.return(undefined);
  assert.ok(begun() > before && waited() === begun(), `${begun()} begun, ${waited()} waited for`);
});

/** A cursor over the rows of `rows` (width W), in order. */
const arrayCursor = (rows: Uint32Array, W: number): RowCursor => ({ row: rows, at: -W, next() { this.at += W; return this.at < rows.length; }, close() {} });

/** Every row of a merge: every third step reads one row with next(), the others a stretch (readRows). */
function readMerge(merge: RowCursor, W: number, stretch: number): number[][] {
  const got: number[][] = [];
  const out = new Uint32Array(stretch * W);
  for (let step = 0; ; step++) {
    if (step % 3 === 2) {
      if (!merge.next()) return got;
      got.push(Array.from(merge.row.subarray(merge.at, merge.at + W)));
      continue;
    }
    const n = readRows(merge, W, out, 0, stretch);
    for (let i = 0; i < n; i++) got.push(Array.from(out.subarray(i * W, i * W + W)));
    if (n < stretch) return got;
  }
}

test('a merge read in stretches (readRows, with the two-way loop once two runs are left) or row by row gives the rows in order, ties in run order', () => {
  const W = 3;
  const spec = { width: W, key: [0, 1], radix: [1, 0], sum: -1 };
  // Runs of rows [key 0, key 1, run and position]: many equal keys across runs.
  const runs = [700, 40, 1300].map((n, r) => {
    const rows = Array.from({ length: n }, (_, i) => [(i * 7) % 50, (i * 3) % 4, r * 10_000 + i]);
    rows.sort((a, b) => a[0]! - b[0]! || a[1]! - b[1]!);
    return Uint32Array.from(rows.flat());
  });
  const expected = runs
    .flatMap((rows) => Array.from({ length: rows.length / W }, (_, i) => Array.from(rows.subarray(i * W, i * W + W))))
    .sort((a, b) => a[0]! - b[0]! || a[1]! - b[1]! || a[2]! - b[2]!);
  for (const stretch of [1, 3, 64, 5000]) {
    for (const pick of [[0, 2], [0, 1, 2]]) {
      const got = readMerge(new MergeCursor(spec, pick.map((r) => arrayCursor(runs[r]!, W))), W, stretch);
      const want = expected.filter((row) => pick.includes(Math.floor(row[2]! / 10_000)));
      assert.deepEqual(got, want, `runs ${pick.join(', ')} in stretches of ${stretch}`);
    }
  }
});

test('a merge that sums (COUNT rows) gives each key once with its total, two runs or more, equal keys within a run too, in stretches or row by row', () => {
  const W = 3;
  const spec = { width: W, key: [0, 1], radix: [1, 0], sum: 2 };
  // Runs of rows [key 0, key 1, count]; the same key recurs across runs and inside one.
  const runs = [900, 30, 1500].map((n, r) => {
    const rows = Array.from({ length: n }, (_, i) => [(i * 7 + r) % 60, (i * 3) % 5, 1 + ((i + r) % 4)]);
    rows.sort((a, b) => a[0]! - b[0]! || a[1]! - b[1]!);
    return Uint32Array.from(rows.flat());
  });
  for (const stretch of [1, 2, 64, 5000]) {
    for (const pick of [[0, 2], [2, 1], [0, 1, 2]]) {
      const totals = new Map<string, number>();
      for (const r of pick) for (let i = 0; i < runs[r]!.length; i += W) totals.set(`${runs[r]![i]},${runs[r]![i + 1]}`, (totals.get(`${runs[r]![i]},${runs[r]![i + 1]}`) ?? 0) + runs[r]![i + 2]!);
      const want = [...totals].map(([k, c]) => [...k.split(',').map(Number), c]).sort((a, b) => a[0]! - b[0]! || a[1]! - b[1]!);
      const got = readMerge(new MergeCursor(spec, pick.map((r) => arrayCursor(runs[r]!, W))), W, stretch);
      assert.deepEqual(got, want, `runs ${pick.join(', ')} in stretches of ${stretch}`);
    }
  }
});

test('a block of tokens is cut into shares by predicted word: ranges in order that cover every id, about equal, a word never split', () => {
  // Word 7 is a third of the positions; words 0 (<unk>) and 1 (<s>, never predicted) have none.
  const sentence = [1, 7, 3, 7, 9, 7, 2, 1, 12, 7, 5, 2];
  const tokens = Uint32Array.from({ length: 40 * sentence.length }, (_, i) => sentence[i % sentence.length]! + (i % 5 === 4 && sentence[i % sentence.length]! > 2 ? 20 : 0));
  const words = new WordHistogram();
  words.add(tokens, 0, tokens.length);
  const counts = new Map<number, number>();
  for (let p = 0; p < tokens.length; p++) if (tokens[p] !== 1) counts.set(tokens[p]!, (counts.get(tokens[p]!) ?? 0) + 1);
  assert.equal(words.positions, tokens.length - 80);
  for (const n of [1, 2, 3, 4, 8]) {
    const ranges = words.ranges(n);
    assert.ok(ranges.length >= 1 && ranges.length <= n, `${n} shares at most`);
    assert.equal(ranges[0]!.lo, 0);
    assert.equal(ranges.at(-1)!.hi, 2 ** 32);
    for (let i = 1; i < ranges.length; i++) assert.equal(ranges[i]!.lo, ranges[i - 1]!.hi, 'the ranges follow one another');
    for (const r of ranges) {
      const inside = [...counts].filter(([w]) => w >= r.lo && w < r.hi).reduce((a, [, c]) => a + c, 0);
      assert.equal(r.n, inside, `share [${r.lo}, ${r.hi}) of ${n}: its positions`);
      assert.ok(r.n > 0, 'no empty share');
    }
    // About equal: no share is larger than an equal part plus the largest word's positions.
    const largest = Math.max(...counts.values());
    for (const r of ranges) assert.ok(r.n <= words.positions / n + largest, `share of ${r.n} against ${words.positions / n}`);
  }
  words.clear();
  assert.equal(words.positions, 0);
  assert.deepEqual(words.ranges(2).map((r) => r.n), [0], 'an empty block: one share');
});

test('counting on a pool of threads (shares by predicted word): the rows of one thread, one run per block (kept shares read without a merge; stored ones as one run)', () => {
  const corpus = corpusFromText(wikiLines);
  const N = 4;
  const W = N + 1;
  const readAll = (cursor: RowCursor) => readMerge(cursor, W, 333);
  const one = new NgramCounter(N, memoryEnv());
  one.addTokens(corpus.tokens);
  const want = readAll(one.finish());
  // The tokens as the reader sends them: blocks of whole sentences.
  const messages: Uint32Array[] = [];
  for (let from = 0; from < corpus.tokens.length; ) {
    let to = Math.min(corpus.tokens.length, from + 3000);
    while (to < corpus.tokens.length && corpus.tokens[to] !== 1) to++;
    messages.push(corpus.tokens.slice(from, to));
    from = to;
  }
  // 1.5 MB: blocks of tens of thousands of tokens (large enough to share), several of them.
  for (const budget of [Infinity, 1.5 * 2 ** 20]) {
    const runsOf = (threads: number) => {
      const env = memoryEnv(budget, 1 << 12);
      if (threads > 1) env.pool = lazyPool(env, () => true).pool;
      const counter = new NgramCounter(N, env);
      for (const m of messages) counter.addTokens(m);
      const cursor = counter.finish();
      // The runs the merge reads (its cursors).
      const runs = cursor instanceof MergeCursor ? (cursor as unknown as { cursors: unknown[] }).cursors.length : 1;
      return { cursor, runs };
    };
    const single = runsOf(1);
    assert.deepEqual(readAll(single.cursor), want);
    const shared = runsOf(2);
    if (budget === Infinity) assert.ok(!(shared.cursor instanceof MergeCursor), 'kept shares follow one another: read without a merge');
    // One run per block, not one per share (the histogram's memory can make a block more).
    else assert.ok(single.runs >= 3 && shared.runs <= single.runs + 1, `one stored run per block on two threads too (${shared.runs} against ${single.runs} merged)`);
    assert.deepEqual(readAll(shared.cursor), want, `two threads, budget ${budget}`);
  }
  // One array (the library's estimate()): in memory, and in blocks of whole sentences where it is
  // larger than the budget; on one thread and two.
  for (const budget of [Infinity, 1.5 * 2 ** 20]) {
    for (const threads of [1, 2]) {
      const env = memoryEnv(budget, 1 << 12);
      if (threads > 1) env.pool = lazyPool(env, () => true).pool;
      const counter = new NgramCounter(N, env);
      counter.addTokens(corpus.tokens);
      const cursor = counter.finish();
      if (budget < Infinity) assert.ok(cursor instanceof MergeCursor, 'the array made several blocks');
      assert.deepEqual(readAll(cursor), want, `one array, budget ${budget}, ${threads} threads`);
    }
  }
});

test('sentences padded in a counting block: <s> stands N − 1 times, so the word at distance d of a position is the one d slots before (<s> beyond the start)', () => {
  const tokens = Uint32Array.from([1, 5, 6, 2, 1, 7, 2, 1, 2]);
  const padded = (N: number) => {
    const block = new Uint32Array(40).fill(99);
    const end = padSentences(tokens, 0, tokens.length, N, block, 3);
    return Array.from(block.subarray(3, end));
  };
  assert.deepEqual(padded(4), [1, 1, 1, 5, 6, 2, 1, 1, 1, 7, 2, 1, 1, 1, 2]);
  assert.deepEqual(padded(2), Array.from(tokens), 'order 2: <s> is the one word before');
  assert.deepEqual(padded(1), Array.from(tokens));
  for (const N of [1, 2, 3, 5, 8]) {
    const block = padded(N);
    // Each position's words in the sentence, from the block and from the tokens, to distance N − 1.
    const fromBlock = block.flatMap((w, p) => (w === 1 ? [] : [Array.from({ length: N }, (_, d) => block[p - d])]));
    const fromTokens: number[][] = [];
    let start = 0;
    tokens.forEach((w, p) => {
      if (w === 1) start = p;
      else fromTokens.push(Array.from({ length: N }, (_, d) => (p - d >= start ? tokens[p - d]! : 1)));
    });
    assert.deepEqual(fromBlock, fromTokens, `order ${N}`);
  }
});

test('a sentence longer than the budget\'s block is counted whole, and the blocks around it as usual', () => {
  const long = Array.from({ length: 20000 }, (_, i) => `w${i % 500}`).join(' ');
  const corpus = corpusFromText([...wikiLines.slice(0, 300), long, ...wikiLines.slice(300, 600)]);
  const one = new NgramCounter(3, memoryEnv());
  one.addTokens(corpus.tokens);
  const want = readMerge(one.finish(), 4, 100);
  // 128 KB: blocks of about 8,000 slots, the long sentence 20,002 tokens.
  const counter = new NgramCounter(3, memoryEnv(128 * 1024, 1 << 10));
  counter.addTokens(corpus.tokens);
  assert.deepEqual(readMerge(counter.finish(), 4, 100), want);
});

test('stored runs concatenated read as one run: every word in order, whatever the read buffer, each part dropped once read through', () => {
  for (const size of [1, 3, 7, 100]) {
    const storage = new MemoryStorage();
    const parts = [[1, 2, 3, 4, 5], [], [6, 7], [8, 9, 10, 11, 12, 13, 14]].map((words) => {
      const sink = storage.begin();
      sink.append(Uint32Array.from(words));
      return sink.end();
    });
    const run = concatRuns(parts);
    assert.equal(run.words, 14);
    const read = run.reader();
    const got: number[] = [];
    const into = new Uint32Array(size);
    for (let n = read(into); n > 0; n = read(into)) {
      got.push(...into.subarray(0, n));
      // Held: at most what is not read yet and the part read last.
      assert.ok(storage.bytesHeld <= (14 - got.length + 7) * 4, `after ${got.length} words in buffers of ${size}`);
    }
    assert.deepEqual(got, Array.from({ length: 14 }, (_, i) => i + 1), `buffers of ${size} words`);
    assert.equal(storage.bytesHeld, 7 * 4, 'the parts before the last are dropped as they are read through');
    run.drop();
    assert.equal(storage.bytesHeld, 0);
  }
});

test('pushRows appends a batch across block growth and spills: the stream reads back every row, in order or sorted', () => {
  const W = 3;
  const n = 5000;
  const rows = idRows(n);
  const spec = { width: W, radix: [1, 0], key: [0, 1], sum: -1 };
  // A 16 kB budget with 1 kB reads: blocks of a few hundred rows, so batches of 700 cross them.
  const targets = [new RowSpool(W, memoryEnv(16 << 10, 1 << 10)), new RowSorter(spec, memoryEnv(16 << 10, 1 << 10), new SortScratch()), new RowCollector(W)];
  for (const t of targets) for (let a = 0; a < n; a += 700) pushRows(t, rows.subarray(a * W), Math.min(700, n - a), W);
  const read = (c: { next(): boolean; row: Uint32Array; at: number }) => {
    const out: number[][] = [];
    while (c.next()) out.push(Array.from(c.row.subarray(c.at, c.at + W)));
    return out;
  };
  const inOrder = Array.from({ length: n }, (_, i) => Array.from(rows.subarray(i * W, i * W + W)));
  assert.deepEqual(read((targets[0] as RowSpool).finish()), inOrder, 'a spool gives the rows back in order');
  const sorted = [...inOrder].sort((x, y) => x[0]! - y[0]! || x[1]! - y[1]! || x[2]! - y[2]!);
  assert.deepEqual(read((targets[1] as RowSorter).finish()), sorted, 'a sorter gives them back sorted');
  const collector = targets[2] as RowCollector;
  assert.equal(collector.count, n);
  assert.deepEqual(Array.from(collector.block.subarray(0, n * W)), Array.from(rows));
});

test('stage 2 on two threads (each batch\'s tail scanned elsewhere, cut where the last two words change) gives the rows and sums of one thread', () => {
  // Many sentences that end in the same two words make a piece longer than a batch (no cut).
  const lines = [...wikiLines.slice(0, 800), ...Array.from({ length: 300 }, (_, i) => `w${i % 37} and so it ends here`)];
  const corpus = corpusFromText(lines);
  for (const N of [2, 3, 5]) {
    const counter = new NgramCounter(N, memoryEnv());
    counter.addTokens(corpus.tokens);
    const counted = counter.finish();
    const W = N + 1;
    const all: number[] = [];
    while (counted.next()) all.push(...counted.row.subarray(counted.at, counted.at + W));
    const rows = Uint32Array.from(all);
    const cursor = (): RowCursor => ({ row: rows, at: -W, next() { this.at += W; return this.at < rows.length; }, close() {} });
    const adjust = (options: AdjustOptions) => {
      const out: RowCollector[] = [];
      const sums = adjustCounts(cursor(), N, corpus.vocab.size, (k) => (out[k] = new RowCollector(k + 2)), undefined, options);
      return { sums, rows: out.map((c) => Array.from(c.block.subarray(0, c.count * c.width))) };
    };
    const one = adjust({});
    for (const batchRows of [40, 97, 1000]) {
      const env = memoryEnv();
      // The other thread's pieces are scanned only when their rows are asked for: a batch read over one still being scanned would show.
      const { pool, begun, waited } = lazyPool(env, () => false);
      env.pool = pool;
      const two = adjust({ env, batchRows });
      assert.ok(begun() > 2 && waited() === begun(), `order ${N}, batches of ${batchRows}: ${begun()} pieces elsewhere`);
      assert.deepEqual(two.sums, one.sums, `order ${N}, batches of ${batchRows}: sums`);
      for (let k = 2; k <= N; k++) assert.deepEqual(two.rows[k], one.rows[k], `order ${N}, batches of ${batchRows}: rows of order ${k}`);
    }
  }
});

test('stage 4 gives whole orders to a free thread (about half the work, in a share of the budget): the same bytes in memory and under a tiny budget, every byte given back', async () => {
  // By the words of their ADJUSTED rows (k + 2 per row), the largest first, each to the lighter side.
  assert.deepEqual(ordersElsewhere(5, [0, 10, 2600, 5800, 7100, 7300]), [2, 5]);
  assert.deepEqual(ordersElsewhere(3, [0, 10, 500, 400]), [3]);
  assert.deepEqual(ordersElsewhere(2, [0, 10, 500]), [], 'one order stays here');
  const corpus = corpusFromText(wikiLines.slice(0, 1500));
  for (const order of [3, 5]) {
    const options = { order, prune: [0, 1, 1] };
    const one = await arpaText(estimate(corpus, options));
    for (const budget of [Infinity, 48 << 10]) {
      const env = memoryEnv(budget, 4 << 10);
      // The other thread's work runs when its result is asked for (after this thread's orders),
      // and while it is out that thread is not free.
      let outstanding = () => 0;
      const lazy = lazyPool(env, () => false, () => 2 - outstanding());
      outstanding = () => lazy.begun() - lazy.waited();
      const begin = lazy.pool.begin!;
      const kinds: string[] = [];
      lazy.pool.begin = (job) => (kinds.push(job.kind), begin(job));
      env.pool = lazy.pool;
      const two = await arpaText(estimate(corpus, { ...options, streams: env }));
      const what = `order ${order}, budget ${budget}`;
      assert.ok(one === two, `${what}: the model changed`);
      assert.equal(kinds.filter((k) => k === 'orders').length, 1, `${what}: ${kinds.join(' ')}`);
      assert.equal(env.budget.used, 0, `${what}: the budget is given back`);
      assert.equal(env.storage.bytesHeld, 0, `${what}: every run was read and dropped`);
      if (budget !== Infinity) assert.ok(env.storage.runsWritten > 20, `${what}: ${env.storage.runsWritten} runs`);
    }
  }
});

test('estimate: the context and suffix links of every n-gram name the rows with those words, in one range or in many (cut inside last words)', () => {
  const corpus = corpusFromText(wikiLines.slice(0, 1500));
  for (const streams of [undefined, memoryEnv(48 << 10, 4 << 10)]) {
    const tables = estimate(corpus, { order: 4, prune: [0, 1, 1], ...(streams ? { streams } : {}) });
    assertLinks(tables);
  }
});

function assertLinks(tables: ReturnType<typeof estimate>): void {
  for (let k = 2; k <= 4; k++) {
    const o = tables.orders[k - 1]!;
    const below = tables.orders[k - 2]!;
    const key = (words: Uint32Array, i: number, m: number, from: number, to: number) => words.subarray(i * m + from, i * m + to).join(',');
    const rowOf = new Map<string, number>();
    for (let i = 0; i < below.size; i++) rowOf.set(key(below.words, i, k - 1, 0, k - 1), i);
    for (let i = 0; i < o.size; i++) {
      assert.equal(o.contextRow![i], rowOf.get(key(o.words, i, k, 0, k - 1)), `${k}-gram ${i}: context`);
      assert.equal(o.suffixRow![i], rowOf.get(key(o.words, i, k, 1, k)), `${k}-gram ${i}: suffix`);
    }
  }
}

test('countNgrams: counts and count-of-counts add up (every token ends one n-gram of each order it reaches)', () => {
  const corpus = corpusFromText(wikiLines.slice(0, 500));
  const counts = countNgrams(corpus.tokens, corpus.vocab.size, 3);
  const predicted = corpus.words + corpus.sentences;
  assert.equal(counts.orders[0]!.raw.reduce((a, b) => a + b, 0), predicted);
  // Every predicted token is the last word of one bigram (its sentence start counts as <s>).
  assert.equal(counts.orders[1]!.raw.reduce((a, b) => a + b, 0), predicted);
  // Trigrams: all tokens but the first word of each sentence (that one's n-gram is the bigram <s> w).
  assert.equal(counts.orders[2]!.raw.reduce((a, b) => a + b, 0), predicted - corpus.sentences);
  for (const o of counts.orders) {
    for (let g = 0; g < o.size; g++) assert.ok(o.adjusted[g]! <= o.raw[g]!);
  }
});

test('kotoba train: --memory 1M (runs on disk) and --threads 1, 2 or 3 write the bytes of the default run', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const train = join(dir, 'train.txt');
    writeFileSync(train, wikiLines.slice(0, 3000).join('\n') + '\n');
    const temp = join(dir, 'temp');
    mkdirSync(temp);
    const run = async (name: string, ...args: string[]) => {
      const out = join(dir, name);
      const r = await runCli(['train', '--order', '4', '--json', '-o', out, ...args, train]);
      assert.equal(r.code, 0, r.stderr);
      return { bytes: readFileSync(out), summary: json(r.stdout) };
    };
    const base = await run('base.arpa');
    assert.equal(base.summary.runs, 0, 'the default budget keeps everything in memory');
    // Every thread formats ARPA lines, in batches large enough to cut.
    const three = await run('three.arpa', '--threads', '3');
    assert.ok(three.bytes.equals(base.bytes), '--threads 3: different bytes');
    for (const threads of ['1', '2']) {
      const small = await run(`small${threads}.arpa`, '--memory', '1M', '--temp-dir', temp, '--threads', threads);
      assert.ok(small.bytes.equals(base.bytes), `--memory 1M --threads ${threads}: different bytes`);
      assert.ok(small.summary.runs > 10, `${small.summary.runs} runs`);
      assert.ok(small.summary.temp_peak_bytes > 0);
      assert.deepEqual(readdirSync(temp), [], 'the temporary folder is gone');
    }
    // Pruning and another smoother take the same streaming stages, on any number of threads.
    for (const threads of ['1', '3']) {
      const pruned = await run(`pruned${threads}.arpa`, '--smoothing', 'wb', '--prune', '0', '1', '--memory', '1M', '--temp-dir', temp, '--threads', threads);
      const expected = await arpaText(estimate(corpusFromText(wikiLines.slice(0, 3000)), { order: 4, smoothing: 'wb', prune: [0, 1] }));
      assert.equal(pruned.bytes.toString('utf8'), expected, `--threads ${threads}`);
    }
  } finally {
    cleanup();
  }
});

/** Splits lines into `n` shard files; returns their paths. */
function writeShards(dir: string, lines: string[], n: number): string[] {
  const size = Math.ceil(lines.length / n);
  return Array.from({ length: n }, (_, i) => {
    const path = join(dir, `shard${i}.txt`);
    writeFileSync(path, lines.slice(i * size, (i + 1) * size).join('\n') + '\n');
    return path;
  });
}

test('kotoba train: order 5 of the whole embedded corpus under --memory 24M on two threads (sorters\' halves queued behind the other thread\'s sorts) writes the bytes of the default run', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const train = join(repoRoot, 'corpus', 'wiki.train.txt');
    const temp = join(dir, 'temp');
    mkdirSync(temp);
    const base = join(dir, 'base.arpa');
    const small = join(dir, 'small.arpa');
    assert.equal((await runCli(['train', '--order', '5', '-o', base, train])).code, 0);
    const r = await runCli(['train', '--order', '5', '--memory', '24M', '--temp-dir', temp, '--threads', '2', '--json', '-o', small, train]);
    assert.equal(r.code, 0, r.stderr);
    // Blocks large enough to be cut in halves of at least 32,768 rows, spilled many times.
    assert.ok(json(r.stdout).runs > 100, `${json(r.stdout).runs} runs`);
    assert.ok(readFileSync(small).equals(readFileSync(base)), 'different bytes');
    assert.deepEqual(readdirSync(temp), [], 'the temporary folder is gone');
  } finally {
    cleanup();
  }
});

test('count shards: kotoba count + train --from-counts equal training on the concatenation (plain and gzipped, with --min-count)', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const lines = wikiLines.slice(0, 2000);
    const whole = join(dir, 'whole.txt');
    writeFileSync(whole, lines.join('\n') + '\n');
    const shards = writeShards(dir, lines, 3);
    const countFiles: string[] = [];
    for (const [i, shard] of shards.entries()) {
      const out = join(dir, `shard${i}.counts${i === 1 ? '.gz' : ''}`);
      const r = await runCli(['count', '--order', '3', '--memory', '1M', '-o', out, shard]);
      assert.equal(r.code, 0, r.stderr);
      countFiles.push(out);
    }
    for (const extra of [[], ['--min-count', '2'], ['--smoothing', 'wb', '--prune', '0', '1']]) {
      const fromText = join(dir, 'text.arpa');
      const fromCounts = join(dir, 'counts.arpa');
      let r = await runCli(['train', '--order', '3', ...extra, '-o', fromText, whole]);
      assert.equal(r.code, 0, r.stderr);
      r = await runCli(['train', '--from-counts', ...extra, '-o', fromCounts, ...countFiles]);
      assert.equal(r.code, 0, r.stderr);
      assert.ok(readFileSync(fromText).equals(readFileSync(fromCounts)), `${extra.join(' ')}: shards differ from the concatenation`);
    }
    // The library does the same.
    const lib = join(dir, 'lib.counts');
    await countNgramFiles(lib, shards.slice(0, 1), { order: 3 });
    assert.ok(readFileSync(lib).equals(readFileSync(countFiles[0]!)));
    // Shards of another order, or with text options at training, are refused.
    const r = await runCli(['train', '--from-counts', '--order', '4', '-o', join(dir, 'x.arpa'), ...countFiles]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /^kotoba: .*counted with order 3, not 4 \(pass --order 3/);
    // Shards counted with text options: the model takes theirs (the ARPA comment, the .kblm
    // header), as training on the concatenation with the same options does; mixed shards are refused.
    const lower: string[] = [];
    for (const [i, shard] of shards.entries()) {
      const out = join(dir, `lower${i}.counts`);
      assert.equal((await runCli(['count', '--order', '3', '--lowercase', '-o', out, shard])).code, 0);
      lower.push(out);
    }
    for (const name of ['lower.arpa', 'lower.kblm']) {
      const fromText = join(dir, `text-${name}`);
      const fromCounts = join(dir, `counts-${name}`);
      assert.equal((await runCli(['train', '--order', '3', '--lowercase', '-o', fromText, whole])).code, 0);
      const t = await runCli(['train', '--from-counts', '-o', fromCounts, ...lower]);
      assert.equal(t.code, 0, t.stderr);
      assert.ok(readFileSync(fromText).equals(readFileSync(fromCounts)), `${name}: lowercased shards differ from the concatenation`);
    }
    assert.match(readFileSync(join(dir, 'counts-lower.arpa'), 'utf8'), /^# kotoba text options: \{"lowercase":true,"segment":null\}\n\\data\\\n/);
    const mixed = await runCli(['train', '--from-counts', '-o', join(dir, 'mixed.arpa'), lower[0]!, countFiles[1]!]);
    assert.notEqual(mixed.code, 0);
    assert.match(mixed.stderr, /counted with other text options .* than the other inputs/);
  } finally {
    cleanup();
  }
});

test('count files: damage, truncation, a newer version and a foreign file are one-line errors', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const text = join(dir, 't.txt');
    writeFileSync(text, wikiLines.slice(0, 200).join('\n') + '\n');
    const good = join(dir, 'good.counts');
    assert.equal((await runCli(['count', '--order', '2', '-o', good, text])).code, 0);
    const bytes = readFileSync(good);
    const cases: [string, Uint8Array, RegExp][] = [];
    const flipped = Uint8Array.from(bytes);
    flipped[bytes.length - 100]! ^= 0x01; // a count or a word id deep in the rows
    cases.push(['flipped', flipped, /checksum mismatch|out of order|outside|count 0|repeat/]);
    cases.push(['truncated', bytes.subarray(0, bytes.length - 30), /truncated/]);
    const newer = Uint8Array.from(bytes);
    newer[8] = 9;
    cases.push(['newer', newer, /version 9 is newer than this kotoba reads \(1\) \(update kotoba/]);
    cases.push(['foreign', new TextEncoder().encode('this is a text file\n'), /not a kotoba count file/]);
    for (const [name, data, expected] of cases) {
      const path = join(dir, `${name}.counts`);
      writeFileSync(path, data);
      const out = join(dir, `${name}.arpa`);
      const r = await runCli(['train', '--from-counts', '--order', '2', '-o', out, path]);
      assert.notEqual(r.code, 0, name);
      assert.match(r.stderr, expected, name);
      assert.equal(r.stderr.trim().split('\n').length, 1, `${name}: ${r.stderr}`);
      assert.ok(!existsSync(out), `${name}: no model written`);
    }
  } finally {
    cleanup();
  }
});

const ptbSkip = needShared('data', 'ptb', 'ptb.train.txt');

test('Penn Treebank in 3 shards: train --from-counts is byte-identical to training on the whole text', { skip: ptbSkip }, async () => {
  const { dir, cleanup } = tempDir();
  try {
    const lines = readFileSync(sharedPath('data', 'ptb', 'ptb.train.txt'), 'utf8').split('\n').slice(0, -1);
    const shards = writeShards(dir, lines, 3);
    const counts = shards.map((s) => s.replace(/\.txt$/, '.counts.gz'));
    await Promise.all(shards.map((s, i) => countNgramFiles(counts[i]!, [s], { order: 3, threads: 1 })));
    const fromCounts = join(dir, 'shards.arpa');
    await trainNgramModel(fromCounts, { counts }, { order: 3, memory: '16M' });
    const expected = await arpaText(estimate(corpusFromText(lines), { order: 3 }));
    assert.ok(readFileSync(fromCounts, 'utf8') === expected, 'the shards give another model');
  } finally {
    cleanup();
  }
});

test('temporary files: removed after an error in the input; an unwritable --temp-dir fails before any work', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const temp = join(dir, 'temp');
    mkdirSync(temp);
    const bad = join(dir, 'bad.txt');
    // Enough text for runs on disk, then a byte that is not UTF-8.
    const good = Buffer.from(wikiLines.slice(0, 3000).join('\n') + '\n');
    writeFileSync(bad, Buffer.concat([good, Buffer.from([0x61, 0xff, 0x0a])]));
    const out = join(dir, 'm.arpa');
    let r = await runCli(['train', '--memory', '1M', '--temp-dir', temp, '-o', out, bad]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /^kotoba: .*bad\.txt:3001: invalid UTF-8/);
    assert.deepEqual(readdirSync(temp), []);
    assert.ok(!existsSync(out));
    for (const missing of [join(dir, 'no', 'such'), bad]) {
      r = await runCli(['train', '--temp-dir', missing, '-o', out, bad]);
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, new RegExp(`^kotoba: cannot write temporary files in ${missing.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: no such folder \\(pass --temp-dir`));
    }
  } finally {
    cleanup();
  }
});

/**
 * Starts `kotoba train` slowly enough to interrupt (tiny budget), waits for its first run file and
 * sends `signal` to it, or with `group` to its process group, as a Ctrl-C on a terminal does.
 */
async function interrupt(signal: NodeJS.Signals, group = false): Promise<{ code: number | null; stderr: string; temp: string; out: string; cleanup: () => void }> {
  const { dir, cleanup } = tempDir();
  const temp = join(dir, 'temp');
  mkdirSync(temp);
  const train = join(dir, 'train.txt');
  writeFileSync(train, wikiLines.join('\n') + '\n');
  const out = join(dir, 'm.arpa');
  const child = spawn(process.execPath, [cli, 'train', '--order', '5', '--memory', '1M', '--temp-dir', temp, '-o', out, train], { detached: group });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  const started = Date.now();
  for (;;) {
    const [folder] = readdirSync(temp);
    if (folder && readdirSync(join(temp, folder)).some((f) => f.startsWith('run-'))) break;
    if (Date.now() - started > 60000) throw new Error(`no run file appeared: ${stderr}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  if (group) process.kill(-child.pid!, signal);
  else child.kill(signal);
  return { code: await exited, stderr, temp, out, cleanup };
}

for (const [signal, group] of [['SIGINT', false], ['SIGTERM', false], ['SIGINT', true]] as const) {
  test(`temporary files and the partial model are removed on ${signal}${group ? ' sent to the process group (Ctrl-C)' : ''}`, async () => {
    const r = await interrupt(signal, group);
    try {
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, new RegExp(`kotoba: interrupted by ${signal}`));
      assert.deepEqual(readdirSync(r.temp), [], 'the temporary folder is gone');
      assert.ok(!existsSync(r.out), 'no model at the output path');
      assert.deepEqual(readdirSync(join(r.out, '..')).filter((f) => f.includes('.tmp')), [], 'no partial model beside it');
    } finally {
      r.cleanup();
    }
  });
}

/** A folder with an empty temporary folder, the first `lines` lines of the wiki text, and a model path (not written). */
function jobFolder(lines: number): { dir: string; temp: string; train: string; out: string; cleanup: () => void } {
  const { dir, cleanup } = tempDir();
  const temp = join(dir, 'temp');
  mkdirSync(temp);
  const train = join(dir, 'train.txt');
  writeFileSync(train, wikiLines.slice(0, lines).join('\n') + '\n');
  return { dir, temp, train, out: join(dir, 'm.arpa'), cleanup };
}

test("a logger that throws fails the job like any other error: the temporary folder is removed and no model is written", async () => {
  const { dir, temp, train, out, cleanup } = jobFolder(2000);
  try {
    const log = {
      info: (m: string) => {
        if (m.startsWith('=== 3')) throw new Error('the logger broke');
      },
      warn() {},
    };
    await assert.rejects(trainNgramModel(out, { text: [train] }, { order: 3, memory: '1M', tempDir: temp, log }), /the logger broke/);
    assert.deepEqual(readdirSync(temp), [], 'nothing left in the temporary folder');
    assert.deepEqual(readdirSync(dir).sort(), ['temp', 'train.txt']);
  } finally {
    cleanup();
  }
});

test('a run read and dropped leaves its file, spent, for a later run of any thread to write over (the largest first): every word back, bytes held as on disk, and spent files make room on a full disk', () => {
  const { dir, cleanup } = tempDir();
  try {
    const words = (n: number, seed: number) => Uint32Array.from({ length: n }, (_, i) => (Math.imul(i, 2654435761) + seed) >>> 0);
    const write = (storage: FileStorage, w: Uint32Array) => {
      const run = storage.begin();
      run.append(w.subarray(0, w.length >> 1));
      run.append(w.subarray(w.length >> 1));
      return run.end();
    };
    const read = (run: { reader(): (into: Uint32Array) => number }) => {
      const next = run.reader();
      const into = new Uint32Array(999);
      const got: number[] = [];
      for (let n; (n = next(into)) > 0; ) got.push(...into.subarray(0, n));
      return Uint32Array.from(got);
    };
    const spent = () => readdirSync(dir).filter((f) => f.startsWith('spent-'));
    // Two threads' storages in one folder, counting together.
    const usage = new TempUsage();
    const here = new FileStorage(dir, Infinity, '', usage);
    const there = new FileStorage(dir, Infinity, 'h0-', usage);
    const big = write(here, words(5000, 1));
    const small = write(here, words(3000, 2));
    assert.deepEqual(read(big), words(5000, 1));
    big.drop();
    small.drop();
    assert.equal(spent().length, 2);
    assert.equal(usage.held, 32_000, 'spent files are still on disk');
    // The other thread takes the largest and writes fewer words over it: the rest is cut off.
    const c = write(there, words(1000, 3));
    assert.deepEqual(read(c), words(1000, 3));
    assert.equal(statSync(c.path!).size, 4000);
    assert.equal(usage.held, 4000 + 12_000);
    // The next run takes the last one and grows past it.
    const d = write(here, words(4000, 4));
    assert.deepEqual(read(d), words(4000, 4));
    assert.deepEqual(spent(), []);
    assert.equal(usage.held, 4000 + 16_000);
    assert.equal(usage.peak, 32_000);
    // A run adopted from another thread is spent where it is dropped, and taken by the next.
    here.adopt(c.path!, c.words).drop();
    const e = write(there, words(200, 7));
    assert.deepEqual(read(e), words(200, 7));
    assert.equal(statSync(e.path!).size, 800);
    assert.deepEqual(spent(), []);
    // A full disk: spent files are removed to make room before the write fails.
    for (const f of readdirSync(dir)) rmSync(join(dir, f));
    const quota = new TempUsage();
    const full = new FileStorage(dir, 9000, '', quota);
    const beside = new FileStorage(dir, 9000, 'h0-', quota);
    write(full, words(1000, 1)).drop(); // 4000 bytes spent
    write(beside, words(500, 2)).drop(); // 2000 bytes spent
    const run = full.begin(); // over the 4000-byte file
    run.append(words(2000, 5)); // grows to 8000 bytes: the other spent file goes
    assert.deepEqual(spent(), []);
    assert.equal(full.bytesHeld, 8000);
    assert.throws(() => run.append(words(2000, 6)), { message: /^no space left for temporary files in / });
    assert.equal(full.bytesHeld, 0);
    assert.deepEqual(readdirSync(dir), [], 'the failed run is removed');
  } finally {
    cleanup();
  }
});

test('a full disk (injected: a temporary quota, on one thread and on two) is one error naming the folder and the space needed; nothing is left', async () => {
  const { dir, temp, train, out, cleanup } = jobFolder(3000);
  try {
    // On one thread while counting; on two threads also later, where stage 4's other thread
    // writes runs of its own (the quota counts every thread's files).
    const stages: number[] = [];
    for (const [threads, tempQuota] of [[1, 200_000], [2, 200_000], [2, 12_000_000], [2, 14_000_000], [2, 16_000_000]] as const) {
      let stage = 0;
      const log = { info: (m: string) => void (stage = Number(/^=== (\d)/.exec(m)?.[1] ?? stage)), warn() {} };
      await assert.rejects(trainNgramModel(out, { text: [train] }, { order: 4, memory: '1M', tempDir: temp, tempQuota, threads, log }), (e: Error) => {
        assert.match(e.message, /^no space left for temporary files in .*temp\/kotoba-\w+ \(this job needs roughly [\d.]+ (kB|MB|GB) there\) \(free some space, or pass --temp-dir/);
        return true;
      });
      stages.push(stage);
      assert.deepEqual(readdirSync(temp), [], `${threads} threads, quota ${tempQuota}: nothing left`);
      assert.deepEqual(readdirSync(dir).sort(), ['temp', 'train.txt']);
    }
    assert.ok(stages.some((s) => s >= 4), `full at stages ${stages.join(' ')}: none after the counts`);
  } finally {
    cleanup();
  }
});

test('a full disk (a small tmpfs as --temp-dir) is one line, exit 1, no model', async (t) => {
  const { dir, cleanup } = tempDir();
  const mnt = join(dir, 'small');
  mkdirSync(mnt);
  const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=256k', 'tmpfs', mnt]);
  if (mounted.status !== 0) {
    cleanup();
    t.skip(`cannot mount a tmpfs here (${(mounted.stderr?.toString() || mounted.error?.message || '').trim()}); the injected full disk above covers the path`);
    return;
  }
  try {
    const train = join(dir, 'train.txt');
    writeFileSync(train, wikiLines.join('\n') + '\n');
    const out = join(dir, 'm.arpa');
    const r = await runCli(['train', '--order', '4', '--memory', '1M', '--temp-dir', mnt, '-o', out, train]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^kotoba: no space left for temporary files in .*small\/kotoba-\w+ \(this job needs roughly .*\) \(free some space/);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.deepEqual(readdirSync(mnt), []);
    assert.ok(!existsSync(out));
  } finally {
    spawnSync('umount', [mnt]);
    cleanup();
  }
});
