/**
 * Threads for sorting: helper workers that run `runSortJob` on blocks in shared memory while the
 * estimation worker runs its own share, so that counting and sorting use every core. Jobs go to
 * a helper through its message port; the helper answers on the port and then flips its slot of a
 * shared Int32Array, on which the estimation worker waits (it is synchronous).
 */
import { receiveMessageOnPort, type MessagePort } from 'node:worker_threads';
import { KotobaError } from '../errors.js';
import { runSortJob, type AdjustedPiece, type OrderDone, type OrderJob } from '../ngram/pipeline.js';
import { SortScratch, type PendingJob, type SortJob, type SortPool, type SortResult, type StoredRun, type StreamEnv } from '../ngram/records.js';
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
  /** Per helper: the job `begin` gave it, until its result is taken. */
  private readonly started: (Started | null)[];
  /** The helpers with a job from `begin`, oldest first. */
  private readonly busy: number[] = [];
  constructor(
    private readonly ports: MessagePort[],
    private readonly slots: Int32Array,
    private readonly env: () => StreamEnv,
    private readonly storage: FileStorage,
  ) {
    this.threads = ports.length + 1;
    this.started = ports.map(() => null);
  }

  allocate(words: number): Uint32Array {
    return new Uint32Array(new SharedArrayBuffer(words * 4));
  }

  collect(): void {
    for (const port of this.ports) port.postMessage({ collect: true });
  }

  free(): number {
    // A helper done with its job from `begin` is free again: its answer waits in the job's handle
    // (a long job, such as stage 4's whole orders, may end while this thread is busy).
    for (const i of this.busy.slice()) if (Atomics.load(this.slots, i) !== BUSY) this.settle(i);
    // A helper that is gathering rows gives way (run waits for it: a few milliseconds).
    return this.threads - this.busy.filter((i) => !this.started[i]!.yields).length;
  }

  begin(job: SortJob): PendingJob {
    if (this.busy.length === this.ports.length) this.settle(this.busy[0]!);
    const helper = this.started.indexOf(null);
    this.post(helper, job);
    const started: Started = { answer: undefined, yields: job.kind === 'gather' };
    this.started[helper] = started;
    this.busy.push(helper);
    return {
      ready: () => started.answer !== undefined || Atomics.load(this.slots, helper) !== BUSY,
      wait: () => {
        if (started.answer === undefined) this.settle(helper);
        const a = started.answer!;
        if ('error' in a) throw a.error;
        return a.result;
      },
    };
  }

  /** Takes the answer of helper `i`'s job from `begin` into its handle. */
  private settle(i: number): void {
    const started = this.started[i]!;
    try {
      started.answer = { result: this.answer(i) };
    } catch (error) {
      started.answer = { error };
    }
    this.started[i] = null;
    this.busy.splice(this.busy.indexOf(i), 1);
  }

  private post(i: number, job: SortJob): void {
    Atomics.store(this.slots, i, BUSY);
    const message: HelperMessage = { job: job.kind === 'orders' ? mapOrderRuns(job, runFile) : job, dir: this.storage.dir, usage: this.storage.usage.buffer, failAfter: this.storage.failAfter };
    this.ports[i]!.postMessage(message);
  }

  /** Waits for helper `i`'s answer: its result, or the error to throw. */
  private answer(i: number): SortResult {
    while (Atomics.load(this.slots, i) === BUSY) Atomics.wait(this.slots, i, BUSY, 1000);
    let answer = receiveMessageOnPort(this.ports[i]!);
    while (!answer) {
      Atomics.wait(this.slots, i, DONE, 1);
      answer = receiveMessageOnPort(this.ports[i]!);
    }
    Atomics.store(this.slots, i, IDLE);
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
    for (let i = 0; helpers.length < jobs.length - 1; i++) if (!this.started[i] || this.started[i]!.yields) helpers.push(i);
    for (const h of helpers) if (this.started[h]) this.settle(h);
    helpers.forEach((h, j) => this.post(h, jobs[j + 1]!));
    let mine: SortResult | null = null;
    let failure: unknown = null;
    try {
      mine = runSortJob(jobs[0]!, this.env(), scratch);
    } catch (e) {
      failure = e;
    }
    const results: SortResult[] = [];
    // Collect every answer before failing, so that no helper is left working.
    helpers.forEach((h, j) => {
      try {
        results[j + 1] = this.answer(h);
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

/** A job from `begin`: its answer once taken. */
interface Started {
  answer: { result: SortResult } | { error: unknown } | undefined;
  /** A short job (gathering rows) that `run` waits for rather than go without its thread. */
  yields: boolean;
}
