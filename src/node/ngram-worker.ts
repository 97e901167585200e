/**
 * The estimation worker: runs pipeline.ts synchronously on its own thread, with runs on disk,
 * while the main thread reads and tokenizes the input, writes the output and stays free for
 * Ctrl-C. Input arrives as messages on a port (blocks of word ids, or count-file rows), taken
 * with `receiveMessageOnPort` and `Atomics.wait`; output chunks go back to the main thread, at
 * most a few ahead of what it has written (a shared counter it bumps). See ngram-train.ts.
 */
import { parentPort, receiveMessageOnPort, workerData } from 'node:worker_threads';
import { KotobaError } from '../errors.js';
import { arpaChunks, wordBytes } from '../ngram/arpa.js';
import { countFileChunks } from '../ngram/count-file.js';
import { pruneThresholds, smootherOf, ModelTablesSink } from '../ngram/estimate.js';
import { ArpaBatches, arpaBatchWords, arpaLines, estimateFromCounts, NgramCounter, remapCounts, SpoolSink, type PipelineLog } from '../ngram/pipeline.js';
import { MemoryBudget, SortScratch, type StreamEnv } from '../ngram/records.js';
import { vocabularyRestriction } from '../text/corpus.js';
import { Vocabulary } from '../text/vocabulary.js';
import { collectGarbage } from './collect.js';
import { FileStorage } from './temp-storage.js';
import { WorkerSortPool } from './sort-pool.js';
import { POSTED, VOCABULARY_BYTES_PER_TYPE, WRITTEN, type WorkerInput, type WorkerJob } from './ngram-job.js';

const job = workerData as WorkerJob;
const control = new Int32Array(job.control);
const port = parentPort!;
let taken = 0;
let sent = 0;

/** The next inbox message, waiting for it. */
function receive(): WorkerInput {
  for (;;) {
    const m = receiveMessageOnPort(job.inbox);
    if (m) {
      taken++;
      return m.message as WorkerInput;
    }
    const posted = Atomics.load(control, POSTED);
    // Posted but not yet visible: look again shortly; otherwise sleep until the next post.
    Atomics.wait(control, POSTED, posted, posted > taken ? 1 : 1000);
  }
}

/** Bytes per message at most. */
const CHUNK = 4 << 20;
/** Output bytes the worker may run ahead of the writer. */
const AHEAD_BYTES = 4 * CHUNK;
/** The sizes of the chunks sent and not yet known to be written, oldest first. */
const unwritten: number[] = [];
let unwrittenBytes = 0;

/**
 * Hands output (a chunk that owns its buffer) to the main thread in pieces of at most CHUNK
 * bytes, keeping at most AHEAD_BYTES unwritten (in bytes, not pieces: a thread's lines come in
 * pieces of a megabyte, and four of those in flight leave the writer waiting on each write).
 */
function send(chunk: Uint8Array): void {
  if (chunk.length > CHUNK) {
    for (let at = 0; at < chunk.length; at += CHUNK) send(chunk.slice(at, at + CHUNK));
    return;
  }
  port.postMessage({ type: 'chunk', chunk }, [chunk.buffer as ArrayBuffer]);
  sent++;
  unwritten.push(chunk.length);
  unwrittenBytes += chunk.length;
  for (let written = Atomics.load(control, WRITTEN); ; written = Atomics.load(control, WRITTEN)) {
    // The writer counts the chunks it has written: drop those from the oldest end.
    while (unwritten.length > sent - written) unwrittenBytes -= unwritten.shift()!;
    if (unwrittenBytes <= AHEAD_BYTES) return;
    Atomics.wait(control, WRITTEN, written, 1000);
  }
}

/** Seconds spent in each stage, by its number in the `=== k/6 … ===` lines. */
const STAGES = ['count', 'adjust', 'discount', 'initial', 'interpolate', 'write'];
const stageSeconds: Record<string, number> = {};
let stage = '';
let stageStarted = 0;
const endStage = () => {
  if (stage) stageSeconds[stage] = (stageSeconds[stage] ?? 0) + (performance.now() - stageStarted) / 1000;
};

const log: PipelineLog = {
  warn: (message) => port.postMessage({ type: 'warn', message }),
  info: (message) => {
    const m = /^=== (\d)\/6 /.exec(message);
    if (m) {
      endStage();
      stage = STAGES[Number(m[1]) - 1]!;
      stageStarted = performance.now();
    }
    port.postMessage({ type: 'info', message });
  },
  progress: (stage, done, total) => port.postMessage({ type: 'progress', stage, done, total }),
};

function run(): unknown {
  const N = job.order;
  const storage = new FileStorage(job.tempDir, job.tempQuota);
  // The helpers collect when this thread does (see SortPool.collect).
  const env: StreamEnv = { storage, budget: new MemoryBudget(job.memoryBytes, () => (collectGarbage(), env.pool?.collect?.())), minReadBytes: job.minReadBytes };
  if (job.helpers.length > 0) env.pool = new WorkerSortPool(job.helpers, new Int32Array(job.slots), () => env, storage);
  const restrict = job.minCount !== undefined || job.maxSize !== undefined;
  const counter = new NgramCounter(N, env, new SortScratch(), restrict);
  try {
    log.info(`=== 1/6 counting ${N}-grams ===`);
    let end: Extract<WorkerInput, { type: 'end' }>;
    // The vocabulary is charged to the budget as it grows: the reader's while the input is read,
    // then this thread's own (about the same size) until the model is written.
    let vocabularyBytes = 0;
    const chargeVocabulary = (types: number) => {
      const bytes = types * VOCABULARY_BYTES_PER_TYPE;
      if (bytes > vocabularyBytes) env.budget.take(bytes - vocabularyBytes, true);
      vocabularyBytes = Math.max(vocabularyBytes, bytes);
    };
    for (;;) {
      const m = receive();
      if (m.type === 'end') {
        end = m;
        break;
      }
      chargeVocabulary(m.types);
      if (m.type === 'tokens') counter.addTokens(m.tokens);
      else counter.addCountRows(m.rows, m.rows.length / (N + 1));
      // The message's array is copied into a block: dead now, as far as the collector knows.
      env.budget.garbage(m.type === 'tokens' ? m.tokens.byteLength : m.rows.byteLength);
      port.postMessage({ type: 'consumed' });
    }
    let vocab: Vocabulary | null = Vocabulary.fromWords(end.words);
    end.words = [];
    chargeVocabulary(vocab.size);
    let countRows = counter.finish((runs) => log.progress?.('merging count runs', runs, 0));
    if (restrict) {
      const counts = new Float64Array(vocab.size);
      counts.set(counter.wordCounts!.subarray(0, Math.min(vocab.size, counter.wordCounts!.length)));
      const r = vocabularyRestriction(counts, vocab, job.minCount ?? 0, job.maxSize);
      countRows = remapCounts(countRows, N, r.remap, env, new SortScratch());
      vocab = r.vocab;
    }
    const totals = { sentences: end.sentences, words: end.tokens };
    if (job.kind === 'counts') {
      log.info('=== 6/6 writing the count file ===');
      for (const chunk of countFileChunks({ order: N, ...totals, text: end.text }, vocab, countRows)) send(chunk);
      return { vocabulary: vocab.size, tempPeakBytes: storage.peakBytes, runs: storage.runsWritten, mergedRuns: storage.mergedRuns, stageSeconds };
    }
    const options = { order: N, smoother: smootherOf(job), smoothing: { name: job.smoothing, options: job.smoothingOptions }, thresholds: pruneThresholds(job.prune, N), log };
    if (job.kind === 'tables') {
      let sink: ModelTablesSink | null = null;
      const result = estimateFromCounts(countRows, vocab, totals, options, env, (counts) => (sink = new ModelTablesSink(counts)));
      const orders = sink!.finish();
      const transfer = orders.flatMap((o) => [o.words, o.log10Prob, o.log10Backoff, o.contextRow, o.suffixRow].filter((a) => a !== undefined).map((a) => a!.buffer as ArrayBuffer));
      port.postMessage({ type: 'tables', words: vocab.list(), orders, description: result.description, text: end.text }, transfer);
      return { ...result, vocabulary: vocab.size, tempPeakBytes: storage.peakBytes, runs: storage.runsWritten, mergedRuns: storage.mergedRuns, stageSeconds };
    }
    // Formatting runs on every thread of the pool (arpaLines).
    const pool = env.pool;
    // The words as bytes from here on, not as strings: every forced collection of the stages
    // (hundreds) would mark a million strings and their map, tens of milliseconds each.
    const words = wordBytes(vocab, pool ? (bytes) => new Uint8Array(new SharedArrayBuffer(Math.max(4, bytes))).subarray(0, bytes) : undefined);
    const vocabulary = vocab.size;
    vocab = null;
    let sink: SpoolSink | null = null;
    try {
      const result = estimateFromCounts(countRows, { size: vocabulary }, totals, options, env, (counts) => (sink = new SpoolSink(N, env, counts)));
      const spools = sink!;
      log.info('=== 6/6 writing the ARPA file ===');
      // Batches of MODEL rows and their lines take a sixteenth of the budget.
      // No order's batch holds more rows than the order has; one pair of batches serves them all.
      const budgetRows = Math.max(1 << 12, Math.min(1 << 21, Math.floor(env.budget.available / 16 / 14 / (N + 2))));
      const batchRows = (k: number) => Math.min(budgetRows, Math.max(1 << 12, result.counts[k - 1]!));
      let most = 0;
      for (let k = 1; k <= N; k++) most = Math.max(most, arpaBatchWords(k, batchRows(k), pool));
      const batches = new ArpaBatches(env, most);
      const batchBytes = most * 4 * 2;
      env.budget.take(batchBytes, true);
      const rowsOf = (k: number) => arpaLines(spools.cursor(k), k, N, words, env, batchRows(k), batches);
      try {
        for (const chunk of arpaChunks(words, result.counts, rowsOf, end.text)) send(chunk);
      } finally {
        env.budget.give(batchBytes);
      }
      return { ...result, vocabulary, tempPeakBytes: storage.peakBytes, runs: storage.runsWritten, mergedRuns: storage.mergedRuns, stageSeconds };
    } finally {
      (sink as SpoolSink | null)?.drop();
    }
  } finally {
    counter.drop();
  }
}

try {
  const result = run();
  endStage();
  port.postMessage({ type: 'done', result });
} catch (e) {
  if (e instanceof KotobaError) {
    const hint = e.hint;
    const message = hint && e.message.endsWith(` (${hint})`) ? e.message.slice(0, -hint.length - 3) : e.message;
    port.postMessage({ type: 'error', message, hint });
  } else {
    const err = e as Error;
    port.postMessage({ type: 'error', internal: true, message: err?.message ?? String(e), stack: err?.stack });
  }
}
