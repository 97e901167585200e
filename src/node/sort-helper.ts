/**
 * A sorting helper thread (see sort-pool.ts): runs the jobs the estimation worker sends on its
 * port, on blocks in shared memory, writing stored runs into the job's temporary folder.
 */
import { workerData, type MessagePort } from 'node:worker_threads';
import { KotobaError } from '../errors.js';
import { runSortJob } from '../ngram/pipeline.js';
import { MemoryBudget, SortScratch, type SortJob, type StreamEnv } from '../ngram/records.js';
import { mapOrderRuns, runFile, type HelperAnswer, type HelperMessage } from './sort-pool.js';
import { collectGarbage } from './collect.js';
import { FileStorage, TempUsage } from './temp-storage.js';

const { port, slots, index, minReadBytes } = workerData as { port: MessagePort; slots: SharedArrayBuffer; index: number; minReadBytes: number };
const slot = new Int32Array(slots);
const scratch = new SortScratch();
const storages = new Map<string, FileStorage>();
const shared = (words: number) => new Uint32Array(new SharedArrayBuffer(words * 4));

port.on('message', (message: HelperMessage | { collect: true }) => {
  if ('collect' in message) {
    // The estimation worker collects: blocks it freed may still have views here, and this
    // thread's sort arrays (as large as its largest share of a block since) are no longer needed.
    scratch.release();
    collectGarbage();
    return;
  }
  const { dir } = message;
  let answer: HelperAnswer;
  try {
    let storage = storages.get(dir);
    if (!storage) storages.set(dir, (storage = new FileStorage(dir, message.failAfter, `h${index}-`, new TempUsage(message.usage))));
    const own = storage;
    // Stage 4's whole orders come with their runs' files, which this thread now owns.
    const job: SortJob = message.job.kind === 'orders' ? mapOrderRuns(message.job, (r) => own.adopt(r.path!, r.words)) : message.job;
    // The worker accounts for a block's memory; the helper only sorts it (an orders job brings its own budget).
    const env: StreamEnv = { storage, budget: new MemoryBudget(Infinity, collectGarbage), minReadBytes, pool: { threads: 1, run: () => [], allocate: shared } };
    const result = runSortJob(job, env, scratch);
    // A block kept in memory was sorted here: its sort's arrays were that stream's share of the
    // budget, which the worker takes back now.
    if (job.kind === 'rows' && !job.store) scratch.release();
    answer = 'run' in result ? { stored: { path: result.run.path!, words: result.run.words } } : 'orders' in result ? mapOrderRuns(result, runFile) : result;
  } catch (e) {
    const code = (e as { code?: string }).code;
    answer = e instanceof KotobaError ? { error: e.message, ...(code ? { code } : {}) } : { error: `sorting helper: ${(e as Error)?.message ?? String(e)}` };
  }
  // Formatted lines move to the estimation worker, which moves them on to the writer: no copies.
  port.postMessage(answer, 'chunks' in answer ? answer.chunks.map((c) => c.buffer as ArrayBuffer) : []);
  // Counted after it is sent, so that the worker finds the message once it sees the count.
  Atomics.add(slot, index, 1);
  Atomics.notify(slot, index);
});
