/**
 * Threads for sorting: helper workers that run `runSortJob` on blocks in shared memory while the
 * estimation worker runs its own share, so that counting and sorting use every core. Jobs go to
 * a helper through its message port, where they queue; the helper answers each on the port and
 * then counts it in its slot of a shared Int32Array, on which the estimation worker waits (it is
 * synchronous).
 */
import { receiveMessageOnPort, type MessagePort } from 'node:worker_threads';
import { KotobaError } from '../errors.js';
import { runSortJob, type AdjustedPiece, type OrderDone, type OrderJob } from '../ngram/pipeline.js';
import { SortScratch, type CountedBlock, type PendingJob, type SortJob, type SortPool, type SortResult, type StoredRun, type StreamEnv } from '../ngram/records.js';
import { tempDirError, type FileStorage } from './temp-storage.js';

/** Jobs a helper may have queued behind the one it runs (see `WorkerSortPool.enqueue`). */
const MAX_QUEUED = 4;

/** What a helper answers. */
export type HelperAnswer =
  | { stored: { path: string; words: number } }
  | { rows: Uint32Array; perm: Uint32Array | null; n: number }
  | { counted: CountedBlock[] }
  | { chunks: Uint8Array[] }
  | { gathered: number }
  | { adjusted: AdjustedPiece }
  | { initial: Uint32Array; backoffs: Uint32Array; contexts: number; kept: number }
  | { orders: OrderDone[] }
  | { model: Uint32Array[]; kept: number[]; suffix: Int32Array[]; context: Uint32Array[]; backoffOf: Int32Array[] }
  | { error: string; hint?: string; code?: string };

/** What a job for a helper carries besides the job: the job's temporary folder and its shared count. */
export interface HelperMessage {
  job: SortJob;
  dir: string;
  usage: SharedArrayBuffer;
  failAfter: number;
}

/**
 * Stage 4's whole orders (an `orders` job or its result) with every stored run mapped by `f`: to
 * its file to travel between threads (a StoredRun holds functions), and back to a run there.
 */
export function mapOrderRuns<T extends { orders: (OrderJob | OrderDone)[] }>(x: T, f: (run: StoredRun) => StoredRun): T {
  const image = <I extends { runs: StoredRun[] }>(i: I): I => ({ ...i, runs: i.runs.map(f) });
  const orders = x.orders.map((o) => ('adjusted' in o ? { ...o, adjusted: image(o.adjusted) } : { ...o, initial: image(o.initial), backoffs: image(o.backoffs) }));
  return { ...x, orders };
}

/** A run as it travels to another thread: its file's path and length only. */
export const runFile = (run: StoredRun): StoredRun => ({ path: run.path!, words: run.words }) as StoredRun;

/** The estimation worker's side of the helpers. */
export class WorkerSortPool implements SortPool {
  readonly threads: number;
  /** Per helper: its jobs whose answers are not taken yet, oldest first (it runs them in turn). */
  private readonly queues: Started[][];
  /** Per helper: answers taken so far (its slot counts the answers it has sent). */
  private readonly taken: number[];
  constructor(
    private readonly ports: MessagePort[],
    private readonly slots: Int32Array,
    private readonly env: () => StreamEnv,
    private readonly storage: FileStorage,
  ) {
    this.threads = ports.length + 1;
    this.queues = ports.map(() => []);
    this.taken = ports.map(() => 0);
  }

  allocate(words: number): Uint32Array {
    return new Uint32Array(new SharedArrayBuffer(words * 4));
  }

  collect(): void {
    for (const port of this.ports) port.postMessage({ collect: true });
  }

  free(): number {
    // A helper done with its jobs is free again: their answers wait in the jobs' handles (a long
    // job, such as stage 4's whole orders, may end while this thread is busy). A helper that is
    // gathering rows or scanning a piece of stage 2 gives way (run waits for it: milliseconds).
    let busy = 0;
    for (let i = 0; i < this.ports.length; i++) {
      this.takeReady(i);
      if (!this.queues[i]!.every((s) => s.yields)) busy++;
    }
    return this.threads - busy;
  }

  begin(job: SortJob): PendingJob {
    const queued = this.enqueue(job);
    if (queued) return queued;
    // Every helper is at a long job, or has a full queue: wait for the one whose jobs are fewest.
    const helper = this.shortestQueue(() => true);
    this.drain(helper);
    return this.post(helper, job);
  }

  /**
   * Starts a job behind the jobs a helper has already (the helper with the fewest), without
   * waiting; `null` where that could keep the caller waiting long (every helper is at stage 4's
   * whole orders, or has a full queue): the caller then does the work itself.
   */
  enqueue(job: SortJob): PendingJob | null {
    const helper = this.shortestQueue((q) => q.length < MAX_QUEUED && q.every((s) => s.kind !== 'orders'));
    return helper < 0 ? null : this.post(helper, job);
  }

  /** The helper with the fewest jobs among those whose queue passes `ok` (−1: none). */
  private shortestQueue(ok: (queue: Started[]) => boolean): number {
    let best = -1;
    for (let i = 0; i < this.ports.length; i++) {
      this.takeReady(i);
      const q = this.queues[i]!;
      if (ok(q) && (best < 0 || q.length < this.queues[best]!.length)) best = i;
    }
    return best;
  }

  private post(i: number, job: SortJob): PendingJob {
    const message: HelperMessage = { job: job.kind === 'orders' ? mapOrderRuns(job, runFile) : job, dir: this.storage.dir, usage: this.storage.usage.buffer, failAfter: this.storage.failAfter };
    this.ports[i]!.postMessage(message);
    // Answers that come before this job's: those taken, and those of the jobs queued before it.
    const ahead = this.taken[i]! + this.queues[i]!.length;
    const started: Started = { answer: undefined, yields: job.kind === 'gather' || job.kind === 'adjust', kind: job.kind };
    this.queues[i]!.push(started);
    return {
      ready: () => started.answer !== undefined || Atomics.load(this.slots, i) > ahead,
      wait: () => {
        while (started.answer === undefined) this.settle(i);
        const a = started.answer;
        if ('error' in a) throw a.error;
        return a.result;
      },
    };
  }

  /** Takes the answers helper `i` has sent, without waiting. */
  private takeReady(i: number): void {
    while (this.queues[i]!.length > 0 && Atomics.load(this.slots, i) > this.taken[i]!) this.settle(i);
  }

  /** Waits for every job of helper `i`. */
  private drain(i: number): void {
    while (this.queues[i]!.length > 0) this.settle(i);
  }

  /** Takes the answer of helper `i`'s oldest job into its handle, waiting for it. */
  private settle(i: number): void {
    const started = this.queues[i]!.shift()!;
    try {
      started.answer = { result: this.answer(i) };
    } catch (error) {
      started.answer = { error };
    }
  }

  /** Waits for helper `i`'s next answer: its result, or the error to throw. */
  private answer(i: number): SortResult {
    const taken = this.taken[i]!;
    while (Atomics.load(this.slots, i) === taken) Atomics.wait(this.slots, i, taken, 1000);
    // The helper sends its answer before it counts it: the message is there.
    let answer = receiveMessageOnPort(this.ports[i]!);
    while (!answer) {
      Atomics.wait(this.slots, i, Atomics.load(this.slots, i), 1);
      answer = receiveMessageOnPort(this.ports[i]!);
    }
    this.taken[i] = taken + 1;
    const a = answer.message as HelperAnswer;
    if ('error' in a) {
      // A full disk: worded with this thread's estimate of the space needed, unless this thread
      // has written nothing yet (then the helper's own message, with its estimate, stands).
      throw a.code && this.storage.neededBytes() > 0 ? tempDirError(Object.assign(new Error(a.error), { code: a.code }), this.storage.dir, () => this.storage.neededBytes()) : new KotobaError(a.error, a.hint);
    }
    if ('orders' in a) return mapOrderRuns(a, (r) => this.storage.adopt(r.path!, r.words));
    return 'stored' in a ? { run: this.storage.adopt(a.stored.path, a.stored.words) } : a;
  }

  run(jobs: SortJob[], scratch = new SortScratch()): SortResult[] {
    if (jobs.length > this.free()) throw new Error('WorkerSortPool: more jobs than free threads');
    const helpers: number[] = [];
    for (let i = 0; helpers.length < jobs.length - 1; i++) if (this.queues[i]!.every((s) => s.yields)) helpers.push(i);
    for (const h of helpers) this.drain(h);
    const pending = helpers.map((h, j) => this.post(h, jobs[j + 1]!));
    let mine: SortResult | null = null;
    let failure: unknown = null;
    try {
      mine = runSortJob(jobs[0]!, this.env(), scratch);
    } catch (e) {
      failure = e;
    }
    const results: SortResult[] = [];
    // Collect every answer before failing, so that no helper is left working.
    pending.forEach((p, j) => {
      try {
        results[j + 1] = p.wait();
      } catch (e) {
        failure ??= e;
      }
    });
    if (failure) {
      for (const r of results) if (r && 'run' in r) r.run.drop();
      if (mine && 'run' in mine) mine.run.drop();
      throw failure;
    }
    results[0] = mine!;
    return results;
  }
}

/** A job given to a helper: its answer once taken. */
interface Started {
  answer: { result: SortResult } | { error: unknown } | undefined;
  /** A short job (gathering rows, a piece of stage 2) that `run` waits for rather than go without its thread. */
  yields: boolean;
  kind: SortJob['kind'];
}
