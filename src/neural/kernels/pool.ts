// Worker threads for the wasm kernels. Each worker holds its own instance of the kernels module
// on the one shared WebAssembly.Memory (with its own packing scratch) and lives as long as the
// kernels: started once, in the background, then woken per call through a control block in that
// same memory, so a call costs a few atomic operations and, at most, a futex wake — no message,
// no copy, no allocation.
//
// A call is a job of n chunks (ranges of the output, see threaded.ts), each with its own
// argument slot. Every thread, the caller included, claims chunks one by one with an atomic
// compare-and-swap and runs them: first the chunks of its own block (thread p's block starts at
// chunk ⌊p·n/threads⌋, so on a quiet machine each thread keeps its share, and the same weights
// stay in its cache from call to call), then whatever others have not claimed yet. So a worker
// that the operating system has not scheduled (a busy machine) delays nothing: the caller takes
// its chunks, and the call runs at one thread's speed instead of waiting for it. Which thread
// runs a chunk never changes what the chunk computes.
//
//   calling thread                                 workers
//   writes the slots, marks chunks free, bumps ──▶ spin, then Atomics.wait on the job word;
//   the job word; claims and runs chunks           claim and run chunks; the one that
//   waits until done = n (spin, then wait)    ◀─── completes the last chunk notifies
//
// Works in Node (worker_threads) and in browsers (Web Workers, where the page is cross-origin
// isolated so that memory can be shared). The worker's code is `workerMain` below, sent as
// source text, so nothing needs a separate file, a bundler or a path.

import { KotobaError } from '../../errors.js';

/** Float64 arguments per chunk slot: more than any kernel takes (gemm: 13). */
export const SLOT_ARGS = 16;
/** Chunks per thread at most: enough to even out unequal threads, few enough to stay cheap. */
export const CHUNKS_PER_THREAD = 4;

// The control block, in Int32 units: a header, one counter per thread (chunks it has run, for
// the benchmarks and tests), then one claim word per chunk.
const JOB = 0; // the current job's number (1, 2, …): bumped to wake the workers
const DONE = 1; // chunks of the current job completed
const FAILED = 2; // 1 + the index of a thread whose chunk threw; 0 when none did
const OP = 3; // the export the job calls; EXIT tells the workers to leave
const CHUNKS = 4; // chunks in the job
const HEADER = 8;
const runsAt = (): number => HEADER;
const claimsAt = (threads: number): number => HEADER + threads;
// A chunk's claim word holds the job's number while the chunk is free, CLAIMED once taken.
const CLAIMED = -1;
const EXIT = -1;

/** Bytes of the control block and of the argument slots for a pool of `threads`. */
export function poolBytes(threads: number): { control: number; slots: number } {
  const chunks = threads * CHUNKS_PER_THREAD;
  return { control: Math.ceil(((claimsAt(threads) + chunks) * 4) / 16) * 16, slots: chunks * SLOT_ARGS * 8 };
}

/**
 * Spin iterations before sleeping, on both sides: a worker that finished a job keeps polling
 * for the next one (an LSTM step issues its small products tens of microseconds apart), and the
 * caller polls for the last chunks before it blocks. About 20–50 µs on current cores.
 */
const SPIN = 20000;

/** What a worker needs, sent once as its first message. */
interface WorkerInit {
  module: WebAssembly.Module;
  memory: WebAssembly.Memory;
  /** Its packing scratch: byte offset and float count (see asm/kernels.ts setScratch). */
  scratch: number;
  scratchFloats: number;
  /** Its thread index and the thread count: where its own block of chunks starts. */
  index: number;
  threads: number;
  /** The control block (byte offset, Int32 words) and the indices of its fields. */
  control: number;
  controlWords: number;
  fields: { job: number; done: number; failed: number; op: number; chunks: number; runs: number; claims: number; claimed: number };
  /** The argument slots: byte offset, and Float64 arguments per slot. */
  slots: number;
  slotArgs: number;
  /** The kernels' export names; a job names one by its index here. */
  names: string[];
  spin: number;
}

/** The body of every worker. Self-contained (it is sent as source text): it uses only its arguments. */
function workerMain(port: { receive(handler: (init: unknown) => void): void; post(message: unknown): void }): void {
  port.receive(async (message) => {
    const init = message as WorkerInit;
    let exports: Record<string, (...args: number[]) => number>;
    try {
      const instance = await WebAssembly.instantiate(init.module, { env: { memory: init.memory } });
      exports = instance.exports as unknown as typeof exports;
      exports.setScratch!(init.scratch, init.scratchFloats);
    } catch (e) {
      port.post({ error: String((e as Error)?.message ?? e) });
      return;
    }
    const fns = init.names.map((n) => exports[n]!);
    const buffer = init.memory.buffer as unknown as SharedArrayBuffer;
    const ctl = new Int32Array(buffer, init.control, init.controlWords);
    const slots = new Float64Array(buffer, init.slots);
    const { job, done, failed, op, chunks, runs, claims, claimed } = init.fields;
    const { index, threads, slotArgs, spin } = init;
    let seen = Atomics.load(ctl, job); // before `ready`: the first job may come right after it
    port.post({ ready: true });
    for (;;) {
      let g = Atomics.load(ctl, job);
      for (let i = 0; g === seen && i < spin; i++) g = Atomics.load(ctl, job);
      if (g === seen) {
        Atomics.wait(ctl, job, seen);
        continue;
      }
      seen = g;
      const f = ctl[op]!;
      if (f < 0) return;
      // Read after the job number; if a newer job has replaced it meanwhile, every claim below
      // fails (the claim words hold the newer number), so a stale worker never runs a chunk.
      const n = ctl[chunks]!;
      const first = Math.floor((index * n) / threads);
      for (let i = 0; i < n; i++) {
        const c = first + i < n ? first + i : first + i - n;
        if (Atomics.compareExchange(ctl, claims + c, g, claimed) !== g) continue;
        const o = c * slotArgs;
        try {
          fns[f]!(slots[o]!, slots[o + 1]!, slots[o + 2]!, slots[o + 3]!, slots[o + 4]!, slots[o + 5]!, slots[o + 6]!, slots[o + 7]!,
            slots[o + 8]!, slots[o + 9]!, slots[o + 10]!, slots[o + 11]!, slots[o + 12]!, slots[o + 13]!, slots[o + 14]!, slots[o + 15]!);
        } catch {
          Atomics.store(ctl, failed, 1 + index);
        }
        Atomics.add(ctl, runs + index, 1);
        if (Atomics.add(ctl, done, 1) === n - 1) Atomics.notify(ctl, done);
      }
    }
  });
}

/** A started worker: how to send it a message, hear its answers, and stop it. */
interface WorkerHandle {
  post(message: unknown): void;
  onMessage(handler: (message: unknown) => void): void;
  /** Lets the process exit while the worker lives (Node). */
  unref(): void;
  terminate(): void;
}

/** Whether this runtime can run the kernels on threads: shared memory, and a way to start workers. */
export function threadsSupported(): boolean {
  const g = globalThis as { SharedArrayBuffer?: unknown; crossOriginIsolated?: boolean; Worker?: unknown; process?: { versions?: { node?: string } } };
  if (typeof g.SharedArrayBuffer !== 'function' || g.crossOriginIsolated === false) return false;
  return typeof g.process?.versions?.node === 'string' || typeof g.Worker === 'function';
}

/** Logical cores of this machine (1 when unknown): the default thread count. */
export async function availableCores(): Promise<number> {
  const g = globalThis as { navigator?: { hardwareConcurrency?: number }; process?: { versions?: { node?: string } } };
  if (typeof g.process?.versions?.node === 'string') {
    try {
      const specifier = 'node:os'; // a variable, so browser bundlers leave it alone
      const os = (await import(specifier)) as { availableParallelism?: () => number; cpus: () => unknown[] };
      return Math.max(1, os.availableParallelism ? os.availableParallelism() : os.cpus().length);
    } catch {
      return 1;
    }
  }
  return Math.max(1, g.navigator?.hardwareConcurrency ?? 1);
}

/** The part of node:worker_threads used here (typed by hand: the library builds without Node's types). */
interface NodeWorkerConstructor {
  new (source: string, options: { eval: true }): {
    postMessage(message: unknown): void;
    on(event: 'message', handler: (message: unknown) => void): void;
    on(event: 'error', handler: (error: Error) => void): void;
    unref(): void;
    terminate(): Promise<number>;
  };
}

async function startWorker(): Promise<WorkerHandle> {
  const g = globalThis as { process?: { versions?: { node?: string } } };
  if (typeof g.process?.versions?.node === 'string') {
    const specifier = 'node:worker_threads';
    const { Worker } = (await import(specifier)) as { Worker: NodeWorkerConstructor };
    // A dynamic import: eval'd worker code is CommonJS or an ES module as the process was started.
    const source = `import(${JSON.stringify(specifier)}).then(({ parentPort }) =>
  (${workerMain.toString()})({ receive: (h) => parentPort.once('message', h), post: (m) => parentPort.postMessage(m) }));`;
    const w = new Worker(source, { eval: true });
    return {
      post: (m) => w.postMessage(m),
      onMessage: (h) => {
        w.on('message', h);
        w.on('error', (e) => h({ error: e.message }));
      },
      unref: () => w.unref(),
      terminate: () => void w.terminate(),
    };
  }
  const source = `(${workerMain.toString()})({ receive: (h) => { self.onmessage = (e) => { self.onmessage = null; h(e.data); }; }, post: (m) => self.postMessage(m) });`;
  const url = URL.createObjectURL(new Blob([source], { type: 'text/javascript' }));
  const w = new Worker(url);
  URL.revokeObjectURL(url);
  return {
    post: (m) => w.postMessage(m),
    onMessage: (h) => {
      w.onmessage = (e) => h(e.data);
      w.onerror = (e) => h({ error: e.message || 'the worker failed to start' });
    },
    unref: () => {},
    terminate: () => w.terminate(),
  };
}

/** Stops workers: tells them to leave their loop, then terminates them. */
function stopWorkers(ctl: Int32Array, workers: WorkerHandle[]): void {
  ctl[OP] = EXIT;
  Atomics.store(ctl, JOB, (Atomics.load(ctl, JOB) % 0x7ffffffe) + 1);
  Atomics.notify(ctl, JOB);
  for (const w of workers) w.terminate();
}

/** Frees the workers of pools that were dropped without close(). */
const orphans = new FinalizationRegistry<{ ctl: Int32Array; workers: WorkerHandle[]; closed: boolean }>((held) => {
  if (!held.closed) stopWorkers(held.ctl, held.workers);
});

/** Where the pool lives in the shared memory, and what each worker instantiates. */
export interface PoolSetup {
  module: WebAssembly.Module;
  memory: WebAssembly.Memory;
  threads: number;
  /** Byte offset of thread p's scratch, and its size in floats. */
  scratch: (p: number) => number;
  scratchFloats: number;
  /** Byte offsets of the control block and the argument slots (see poolBytes). */
  control: number;
  slots: number;
  /** The calling thread's instance exports. */
  exports: Record<string, unknown>;
}

/** The worker threads of one kernels instance. */
export class KernelPool {
  readonly threads: number;
  /** The most chunks a job may have (threads · CHUNKS_PER_THREAD). */
  readonly maxChunks: number;
  /** Export names by index: what `run` calls. */
  readonly names: readonly string[];
  private readonly ctl: Int32Array;
  private readonly fns: ((...args: number[]) => number)[];
  /** Per-chunk views of the argument slots. */
  private readonly slotViews: Float64Array[] = [];
  /** Atomics.wait is refused on a browser's main thread; there the caller only spins. */
  private readonly canBlock: boolean;
  private readonly held: { ctl: Int32Array; workers: WorkerHandle[]; closed: boolean };
  private job = 0;
  /** Where the chunks' claim words start in the control block. */
  private readonly claims: number;
  /**
   * Resolves once every worker is running (rejects, once, if one cannot start). Calls do not
   * wait for it: until a worker is up, the threads that are take its chunks.
   */
  readonly ready: Promise<void>;
  /** Why a worker could not start: thrown by the next call. */
  private startError: unknown = null;
  /**
   * Whether the calling thread, done with its own block of chunks, takes the chunks the workers
   * have not claimed (the default). Tests turn it off so that the workers' blocks always run on
   * the workers.
   */
  callerSteals = true;

  private constructor(setup: PoolSetup, names: string[], workers: WorkerHandle[], ready: Promise<void>) {
    const buffer = setup.memory.buffer as unknown as SharedArrayBuffer;
    this.threads = setup.threads;
    this.maxChunks = setup.threads * CHUNKS_PER_THREAD;
    this.names = names;
    this.claims = claimsAt(setup.threads);
    this.ctl = new Int32Array(buffer, setup.control, this.claims + this.maxChunks);
    this.ready = ready;
    ready.catch((e: unknown) => {
      this.startError = e;
    });
    for (let c = 0; c < this.maxChunks; c++) this.slotViews.push(new Float64Array(buffer, setup.slots + c * SLOT_ARGS * 8, SLOT_ARGS));
    this.fns = names.map((n) => setup.exports[n] as (...args: number[]) => number);
    this.canBlock = canBlock(this.ctl);
    this.held = { ctl: this.ctl, workers, closed: false };
    orphans.register(this, this.held, this.held);
  }

  /**
   * Starts threads − 1 workers on the setup's memory, without waiting for them (see `ready`): a
   * command that never makes a large call pays nothing for them.
   */
  static async start(setup: PoolSetup): Promise<KernelPool> {
    const names = Object.keys(setup.exports).filter((n) => typeof setup.exports[n] === 'function').sort();
    const workers: WorkerHandle[] = [];
    const ready: Promise<void>[] = [];
    const failed = (p: number, why: string) => new KotobaError(`cannot start kernel thread ${p} of ${setup.threads}: ${why}`, 'use fewer threads (--threads 1: none)');
    for (let p = 1; p < setup.threads; p++) {
      let w: WorkerHandle;
      try {
        w = await startWorker();
      } catch (e) {
        for (const other of workers) other.terminate();
        throw failed(p, (e as Error).message);
      }
      workers.push(w);
      ready.push(
        new Promise<void>((resolve, reject) => {
          w.onMessage((m) => {
            const msg = m as { ready?: boolean; error?: string };
            // Running, a worker never keeps the process alive (while it starts, `ready` may be awaited).
            w.unref();
            if (msg.ready) resolve();
            else reject(failed(p, msg.error ?? 'unknown error'));
          });
        }),
      );
      const init: WorkerInit = {
        module: setup.module,
        memory: setup.memory,
        scratch: setup.scratch(p),
        scratchFloats: setup.scratchFloats,
        index: p,
        threads: setup.threads,
        control: setup.control,
        controlWords: claimsAt(setup.threads) + setup.threads * CHUNKS_PER_THREAD,
        fields: { job: JOB, done: DONE, failed: FAILED, op: OP, chunks: CHUNKS, runs: runsAt(), claims: claimsAt(setup.threads), claimed: CLAIMED },
        slots: setup.slots,
        slotArgs: SLOT_ARGS,
        names,
        spin: SPIN,
      };
      w.post(init);
    }
    return new KernelPool(setup, names, workers, Promise.all(ready).then(() => undefined));
  }

  /** Chunks each thread has run so far (thread 0: the calling thread). */
  chunksRun(): number[] {
    return Array.from({ length: this.threads }, (_, p) => Atomics.load(this.ctl, runsAt() + p));
  }

  /** The export index of a kernel name (for `run`). */
  op(name: string): number {
    const i = this.names.indexOf(name);
    if (i < 0) throw new Error(`kernels: no export '${name}'`);
    return i;
  }

  /** Chunk c's arguments. */
  slot(c: number): Float64Array {
    return this.slotViews[c]!;
  }

  /**
   * Calls export `op` once per chunk c < n, with slot c's arguments, on whichever threads claim
   * the chunks (this one included), and returns once all n are done.
   */
  run(op: number, n: number): void {
    if (this.held.closed) throw new Error('kernels: used after close()');
    if (this.startError) throw this.startError;
    const ctl = this.ctl;
    const g = (this.job = (this.job % 0x7ffffffe) + 1); // 1 … 2³¹ − 2: never 0 or CLAIMED
    const claims = this.claims;
    for (let c = 0; c < n; c++) ctl[claims + c] = g;
    ctl[OP] = op;
    ctl[CHUNKS] = n;
    Atomics.store(ctl, DONE, 0);
    Atomics.store(ctl, JOB, g); // publishes the slots, the claim words and the op
    // As many workers as there are chunks besides this thread's first (all, when it leaves them theirs).
    Atomics.notify(ctl, JOB, this.callerSteals ? Math.min(n, this.threads) - 1 : this.threads - 1);
    const f = this.fns[op]!;
    let error: unknown = null;
    const last = this.callerSteals ? n : Math.floor(n / this.threads); // the end of its own block
    for (let c = 0; c < last; c++) {
      if (Atomics.compareExchange(ctl, claims + c, g, CLAIMED) !== g) continue;
      const a = this.slotViews[c]!;
      try {
        f(a[0]!, a[1]!, a[2]!, a[3]!, a[4]!, a[5]!, a[6]!, a[7]!, a[8]!, a[9]!, a[10]!, a[11]!, a[12]!, a[13]!, a[14]!, a[15]!);
      } catch (e) {
        error ??= e;
      }
      Atomics.add(ctl, runsAt(), 1);
      Atomics.add(ctl, DONE, 1);
    }
    // The workers' last chunks: spin, then sleep until the one that completes the last wakes us.
    for (let i = 0, v = Atomics.load(ctl, DONE); v !== n; v = Atomics.load(ctl, DONE)) {
      if (i < SPIN || !this.canBlock) i++;
      else Atomics.wait(ctl, DONE, v);
    }
    const failed = Atomics.exchange(ctl, FAILED, 0);
    if (error) throw error;
    if (failed) throw new Error(`kernels: ${this.names[op]} failed on worker thread ${failed - 1}`);
  }

  /** Stops the workers; the kernels must not be used afterwards. */
  close(): void {
    if (this.held.closed) return;
    this.held.closed = true;
    orphans.unregister(this.held);
    stopWorkers(this.ctl, this.held.workers);
  }
}

/** Whether Atomics.wait may block here (a browser's main thread refuses it). */
function canBlock(ctl: Int32Array): boolean {
  try {
    Atomics.wait(ctl, FAILED, 1, 0); // FAILED is 0: returns 'not-equal' at once where allowed
    return true;
  } catch {
    return false;
  }
}
