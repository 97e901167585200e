/**
 * Threads for sorting: helper workers that run `runSortJob` on blocks in shared memory while the
 * estimation worker runs its own share, so that counting and sorting use every core. Jobs go to
 * a helper through its message port; the helper answers on the port and then flips its slot of a
 * shared Int32Array, on which the estimation worker waits (it is synchronous).
 */
import { receiveMessageOnPort, type MessagePort } from 'node:worker_threads';
import { KotobaError } from '../errors.js';
import { runSortJob } from '../ngram/pipeline.js';
import { SortScratch, type SortJob, type SortPool, type SortResult, type StreamEnv } from '../ngram/records.js';
import { tempDirError, type FileStorage } from './temp-storage.js';

/** A helper's slot: idle, working, or done with an answer on its port. */
export const IDLE = 0;
export const BUSY = 1;
export const DONE = 2;

/** What a helper answers. */
export type HelperAnswer =
  | { stored: { path: string; words: number } }
  | { rows: Uint32Array; perm: Uint32Array | null; n: number }
  | { chunks: Uint8Array[] }
  | { initial: Uint32Array; backoffs: Uint32Array; contexts: number; kept: number }
  | { model: Uint32Array[]; kept: number[]; suffix: Int32Array[]; context: Uint32Array[]; backoffOf: Int32Array[] }
  | { error: string; hint?: string; code?: string };

/** The estimation worker's side of the helpers. */
export class WorkerSortPool implements SortPool {
  readonly threads: number;
  constructor(
    private readonly ports: MessagePort[],
    private readonly slots: Int32Array,
    private readonly env: () => StreamEnv,
    private readonly storage: FileStorage,
  ) {
    this.threads = ports.length + 1;
  }

  allocate(words: number): Uint32Array {
    return new Uint32Array(new SharedArrayBuffer(words * 4));
  }

  collect(): void {
    for (const port of this.ports) port.postMessage({ collect: true });
  }

  run(jobs: SortJob[], scratch = new SortScratch()): SortResult[] {
    if (jobs.length > this.threads) throw new Error('WorkerSortPool: more jobs than threads');
    for (let i = 1; i < jobs.length; i++) {
      Atomics.store(this.slots, i - 1, BUSY);
      this.ports[i - 1]!.postMessage({ job: jobs[i], dir: this.storage.dir });
    }
    let mine: SortResult | null = null;
    let failure: unknown = null;
    try {
      mine = runSortJob(jobs[0]!, this.env(), scratch);
    } catch (e) {
      failure = e;
    }
    const results: SortResult[] = [];
    // Collect every answer before failing, so that no helper is left working.
    for (let i = 1; i < jobs.length; i++) {
      while (Atomics.load(this.slots, i - 1) === BUSY) Atomics.wait(this.slots, i - 1, BUSY, 1000);
      let answer = receiveMessageOnPort(this.ports[i - 1]!);
      while (!answer) {
        Atomics.wait(this.slots, i - 1, DONE, 1);
        answer = receiveMessageOnPort(this.ports[i - 1]!);
      }
      Atomics.store(this.slots, i - 1, IDLE);
      const a = answer.message as HelperAnswer;
      if ('error' in a) {
        // A full disk: worded with this thread's estimate of the space needed, unless this thread
        // has written nothing yet (then the helper's own message, with its estimate, stands).
        failure ??= a.code && this.storage.neededBytes() > 0 ? tempDirError(Object.assign(new Error(a.error), { code: a.code }), this.storage.dir, () => this.storage.neededBytes()) : new KotobaError(a.error, a.hint);
      } else if ('stored' in a) results[i] = { run: this.storage.adopt(a.stored.path, a.stored.words) };
      else results[i] = a;
    }
    if (failure) {
      for (const r of results) if (r && 'run' in r) r.run.drop();
      if (mine && 'run' in mine) mine.run.drop();
      throw failure;
    }
    results[0] = mine!;
    return results;
  }
}
