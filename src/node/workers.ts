/**
 * Scoring on every core: batches of lines go to worker threads (and every N-th to this thread),
 * results come back in input order.
 * Each batch is scored by the same function (`batchRunner`) whatever the number of threads, and
 * the results are merged in input order, so the output is identical for any `--threads`. An
 * n-gram model's arrays are shared with the workers (SharedArrayBuffer), not copied; other
 * models are loaded by each worker from their file. At most two batches per thread are in
 * flight, so memory stays bounded however long the input is.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { KotobaError } from '../errors.js';
import type { LanguageModel } from '../lm.js';
import { batchRunner, type Batch, type BatchJob, type BatchResult } from '../apps/score-text.js';
import { BackoffModel } from '../ngram/model.js';
import { ProbingSearch, type ProbingArrays } from '../ngram/probing.js';
import { TrieSearch, type TrieArrays } from '../ngram/trie.js';
import { adoptRegion, regionOf, type WasmRegion } from '../ngram/wasm-memory.js';
import type { TokenizeOptions } from '../text/tokenize.js';
import { Vocabulary } from '../text/vocabulary.js';

/** The number of threads `--threads` defaults to: every core. */
export function defaultThreads(): number {
  return availableParallelism();
}

/** How a worker gets the model: an n-gram model's arrays (shared), or a file to load. */
export type ModelTransfer =
  | { kind: 'probing' | 'trie'; vocab: string[]; description: string; text?: TokenizeOptions; arrays: ProbingArrays | TrieArrays; region?: WasmRegion }
  | { kind: 'path'; path: string };

/** What a worker needs to start. */
export interface WorkerInit {
  model: ModelTransfer;
  text: TokenizeOptions;
  source: string;
  job: BatchJob;
}

/** The transfer of `lm` to workers: its arrays when it is an n-gram model, else its file. */
export function modelTransfer(lm: LanguageModel<unknown>, path: string): ModelTransfer {
  if (lm instanceof BackoffModel) {
    const search = lm.search;
    const arrays = search instanceof ProbingSearch ? search.arrays : (search as TrieSearch).arrays;
    const region = search instanceof ProbingSearch ? regionOf(search.arrays.records.buffer) : undefined;
    return { kind: lm.format, vocab: lm.vocab.list(), description: lm.description, ...(lm.text ? { text: lm.text } : {}), arrays, ...(region ? { region } : {}) };
  }
  return { kind: 'path', path };
}

/** The model a worker was sent (arrays checked by the thread that loaded them). */
export function modelFromTransfer(t: ModelTransfer & { kind: 'probing' | 'trie' }): BackoffModel {
  let arrays = t.arrays;
  if (t.region) {
    // The records as a view of the WebAssembly memory itself, so that this thread's scorer reads them there.
    const buffer = adoptRegion(t.region).memory.buffer;
    const a = arrays as ProbingArrays;
    arrays = { ...a, records: new Int32Array(buffer, a.records.byteOffset, a.records.length) };
  }
  const search = t.kind === 'probing' ? new ProbingSearch(arrays as ProbingArrays) : new TrieSearch(arrays as TrieArrays);
  return new BackoffModel(Vocabulary.fromWords(t.vocab), search, t.description, t.text);
}

/** Options for {@link runBatches}. */
export interface RunOptions {
  threads: number;
  /** The model's file (for workers that load it themselves). */
  modelPath: string;
  text: TokenizeOptions;
  /** The input's name, for error messages. */
  source: string;
}

/**
 * The results of `job` on each batch, in input order: on this thread when `threads` is 1 or the
 * input is a single batch, otherwise on `threads` − 1 worker threads and this one.
 *
 * @example
 * ```ts
 * import { loadModel, lineBatches, runBatches } from 'kotoba/node';
 * const lm = await loadModel('wiki.kblm');
 * const options = { threads: 2, modelPath: 'wiki.kblm', text: {}, source: 'big.txt' };
 * for await (const text of runBatches(lm, lineBatches('big.txt'), { kind: 'score', format: {} }, options)) {
 *   process.stdout.write(text as string);
 * }
 * ```
 */
export async function* runBatches(lm: LanguageModel<unknown>, batches: AsyncIterable<Batch>, job: BatchJob, options: RunOptions): AsyncGenerator<BatchResult> {
  const input = batches[Symbol.asyncIterator]();
  const head = await input.next();
  if (head.done) return;
  // A batch's bytes may be a view of a buffer the next batch reuses: keep a copy of the first.
  const first = { done: false, value: 'bytes' in head.value ? { ...head.value, bytes: new Uint8Array(head.value.bytes) } : head.value };
  const second = await input.next();
  // A job with state from line to line (stream context) takes its batches in order on this thread.
  const stateful = 'context' in job && job.context === 'stream';
  if (options.threads <= 1 || second.done || stateful) {
    const run = batchRunner(lm, options.text, options.source, job);
    yield run(first.value);
    if (second.done) return;
    yield run(second.value);
    for (let b = await input.next(); !b.done; b = await input.next()) yield run(b.value);
    return;
  }
  // threads − 1 workers, and this thread takes every threads-th batch itself (between reading the
  // others), so that N threads are N cores' work, not N workers competing with the reader.
  const pool = new Pool(options.threads - 1, { model: modelTransfer(lm, options.modelPath), text: options.text, source: options.source, job });
  const here = batchRunner(lm, options.text, options.source, job);
  let index = 0;
  const run = (batch: Batch): Promise<BatchResult> => (index++ % options.threads === options.threads - 1 ? settled(() => here(batch)) : pool.run(batch));
  try {
    // Results in input order; at most two batches per thread in flight.
    const inFlight: Promise<BatchResult>[] = [run(first.value), run(second.value)];
    for (let b = await input.next(); !b.done; b = await input.next()) {
      inFlight.push(run(b.value));
      if (inFlight.length >= 2 * options.threads) yield await inFlight.shift()!;
    }
    while (inFlight.length > 0) yield await inFlight.shift()!;
  } finally {
    await pool.close();
  }
}

/** The result of `work` as a settled promise: an error waits its turn in input order, as a worker's would. */
function settled<T>(work: () => T): Promise<T> {
  try {
    return Promise.resolve(work());
  } catch (e) {
    const failed = Promise.reject(e as Error);
    failed.catch(() => {});
    return failed;
  }
}

interface Pending {
  resolve: (r: BatchResult) => void;
  reject: (e: Error) => void;
}

/** Worker threads that each run the job on the batches they are given, in the order given. */
class Pool {
  private readonly workers: Worker[] = [];
  private readonly pending = new Map<number, Pending>();
  private readonly load: number[] = [];
  private nextId = 0;
  private failure: Error | null = null;

  constructor(threads: number, init: WorkerInit) {
    for (let i = 0; i < threads; i++) {
      const worker = new Worker(new URL('./score-worker.js', import.meta.url), { workerData: init });
      worker.on('message', (m: { id: number; result?: BatchResult; error?: { message: string; kotoba: boolean; partial?: string } }) => {
        const p = this.pending.get(m.id);
        if (!p) return;
        this.pending.delete(m.id);
        this.load[i]!--;
        if (m.error) p.reject(m.error.kotoba ? Object.assign(new KotobaError(m.error.message), { partial: m.error.partial }) : new Error(m.error.message));
        else p.resolve(m.result!);
      });
      worker.on('error', (e) => this.fail(e));
      worker.on('exit', (code) => {
        if (code !== 0) this.fail(new Error(`a worker thread stopped (exit code ${code})`));
      });
      this.workers.push(worker);
      this.load.push(0);
    }
  }

  private fail(e: Error): void {
    this.failure ??= e;
    for (const p of this.pending.values()) p.reject(e);
    this.pending.clear();
  }

  /** Runs the job on a batch, on the least busy worker. */
  run(batch: Batch): Promise<BatchResult> {
    if (this.failure) return Promise.reject(this.failure);
    let w = 0;
    for (let i = 1; i < this.workers.length; i++) if (this.load[i]! < this.load[w]!) w = i;
    const id = this.nextId++;
    this.load[w]!++;
    // Text goes as a copy of its bytes, whose buffer moves to the worker (a view would send the
    // whole buffer it is part of); groups of candidates are cloned.
    const message = 'bytes' in batch ? { id, batch: { bytes: new Uint8Array(batch.bytes), firstLine: batch.firstLine } } : { id, batch };
    const result = new Promise<BatchResult>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.workers[w]!.postMessage(message, 'bytes' in message.batch ? [message.batch.bytes.buffer as ArrayBuffer] : []);
    });
    // Awaited in input order: a later batch may fail while an earlier one is awaited.
    result.catch(() => {});
    return result;
  }

  async close(): Promise<void> {
    this.failure ??= new Error('closed');
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}
