/**
 * A sorting helper thread (see sort-pool.ts): runs the jobs the estimation worker sends on its
 * port, on blocks in shared memory, writing stored runs into the job's temporary folder.
 */
import { workerData, type MessagePort } from 'node:worker_threads';
import { KotobaError } from '../errors.js';
import { runSortJob } from '../ngram/pipeline.js';
import { MemoryBudget, SortScratch, type SortJob, type StreamEnv } from '../ngram/records.js';
import { DONE, type HelperAnswer } from './sort-pool.js';
import { collectGarbage } from './collect.js';
import { FileStorage } from './temp-storage.js';

const { port, slots, index, minReadBytes } = workerData as { port: MessagePort; slots: SharedArrayBuffer; index: number; minReadBytes: number };
const slot = new Int32Array(slots);
const scratch = new SortScratch();
const storages = new Map<string, FileStorage>();
const shared = (words: number) => new Uint32Array(new SharedArrayBuffer(words * 4));

port.on('message', ({ job, dir }: { job: SortJob; dir: string }) => {
  let answer: HelperAnswer;
  try {
    let storage = storages.get(dir);
    if (!storage) storages.set(dir, (storage = new FileStorage(dir, Infinity, `h${index}-`)));
    // The worker accounts for this block's memory; the helper only sorts it.
    const env: StreamEnv = { storage, budget: new MemoryBudget(Infinity), minReadBytes, pool: { threads: 1, run: () => [], allocate: shared } };
    const result = runSortJob(job, env, scratch);
    answer = 'run' in result ? { stored: { path: result.run.path!, words: result.run.words } } : result;
  } catch (e) {
    const code = (e as { code?: string }).code;
    answer = e instanceof KotobaError ? { error: e.message, ...(code ? { code } : {}) } : { error: `sorting helper: ${(e as Error)?.message ?? String(e)}` };
  }
  port.postMessage(answer);
  Atomics.store(slot, index, DONE);
  Atomics.notify(slot, index);
  // The job's sort arrays, and its view of the block, are as large as the block: free them now,
  // not at some later collection (once this handler has returned and dropped the job).
  scratch.release();
  setImmediate(collectGarbage);
});
