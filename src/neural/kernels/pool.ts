// Worker threads for the wasm kernels. Each worker holds its own instance of the kernels module
// on the one shared WebAssembly.Memory (with its own packing scratch) and lives as long as the
// kernels: created once, then woken per call through a control block in that same memory, so a
// call costs two atomic stores and, at most, a futex wake — no message, no copy, no allocation.
//
//   calling thread                               worker p (p = 1 … threads − 1)
//   writes slot p's arguments, bumps gen[p] ───▶ spins, then Atomics.wait on gen[p]; wakes,
//   runs part 0 itself                           calls export op[p](slot p), pending −= 1
//   waits until pending = 0 (spin, then wait) ◀─ and notifies the caller when it was the last
//
// Works in Node (worker_threads) and in browsers (Web Workers, where the page is cross-origin
// isolated so that memory can be shared). The worker's code is `workerMain` below, sent as
// source text, so nothing needs a separate file, a bundler or a path.

/** Float64 arguments per call slot: more than any kernel takes (gemm: 13). */
export const SLOT_ARGS = 16;

// The control block, in Int32 units: two words, then one generation counter and one export
// index per thread (index 0 belongs to the calling thread and is unused).
const PENDING = 0; // workers still running the current call
const FAILED = 1; // 1 + the index of a worker whose call threw; 0 when none did
const HEADER = 4;
/** The export index that tells a worker to leave its loop. */
const EXIT = -1;

/** Bytes of the control block and of the argument slots for a pool of `threads`. */
export function poolBytes(threads: number): { control: number; slots: number } {
  return { control: Math.ceil(((HEADER + 2 * threads) * 4) / 16) * 16, slots: threads * SLOT_ARGS * 8 };
}

/**
 * Spin iterations before sleeping, on both sides: a worker that finished a call keeps polling
 * for the next one (an LSTM step issues its small products tens of microseconds apart), and the
 * caller polls for the workers' completion before it blocks. About 20–50 µs on current cores.
 */
const SPIN = 20000;

/** What a worker needs, sent once as its first message. */
interface WorkerInit {
  module: WebAssembly.Module;
  memory: WebAssembly.Memory;
  /** Its packing scratch: byte offset and float count (see asm/kernels.ts setScratch). */
  scratch: number;
  scratchFloats: number;
  /** The control block (byte offset, Int32 words) and the indices this worker uses in it. */
  control: number;
  controlWords: number;
  pending: number;
  failed: number;
  gen: number;
  op: number;
  /** 1 + this worker's thread index: what `failed` is set to when its call throws. */
  failedValue: number;
  /** Its argument slot: byte offset and Float64 count. */
  slot: number;
  slotArgs: number;
  /** The kernels' export names; a call names one by its index here. */
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
    const a = new Float64Array(buffer, init.slot, init.slotArgs);
    const { gen, op, pending, failed, failedValue, spin } = init;
    let seen = Atomics.load(ctl, gen); // before `ready`: the first call may come right after it
    port.post({ ready: true });
    for (;;) {
      let g = Atomics.load(ctl, gen);
      for (let i = 0; g === seen && i < spin; i++) g = Atomics.load(ctl, gen);
      if (g === seen) {
        Atomics.wait(ctl, gen, seen);
        continue;
      }
      seen = g;
      const f = ctl[op]!;
      if (f < 0) return;
      try {
        fns[f]!(a[0]!, a[1]!, a[2]!, a[3]!, a[4]!, a[5]!, a[6]!, a[7]!, a[8]!, a[9]!, a[10]!, a[11]!, a[12]!, a[13]!, a[14]!, a[15]!);
      } catch {
        Atomics.store(ctl, failed, failedValue);
      }
      if (Atomics.sub(ctl, pending, 1) === 1) Atomics.notify(ctl, pending);
    }
  });
}

/** A started worker: how to send it a message, hear its answers, and stop it. */
interface WorkerHandle {
  post(message: unknown): void;
  onMessage(handler: (message: unknown) => void): void;
  /** Lets the process exit while the worker lives (Node; once it is ready, as its listeners ref it). */
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
    const source = `import('node:worker_threads').then(({ parentPort }) =>
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

/** Stops workers: tells each to leave its loop, then terminates it. */
function stopWorkers(ctl: Int32Array, workers: WorkerHandle[]): void {
  const threads = workers.length + 1;
  for (let p = 1; p < threads; p++) {
    ctl[HEADER + threads + p] = EXIT;
    Atomics.add(ctl, HEADER + p, 1);
    Atomics.notify(ctl, HEADER + p);
    workers[p - 1]!.terminate();
  }
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
  /** Byte offset and float count of thread p's scratch. */
  scratch: (p: number) => number;
  scratchFloats: number;
  /** Byte offsets of the control block and the argument slots (see poolBytes). */
  control: number;
  slots: number;
  /** The calling thread's instance exports (part 0 runs there). */
  exports: Record<string, unknown>;
}

/** The worker threads of one kernels instance. */
export class KernelPool {
  readonly threads: number;
  /** Export names by index: what `run` calls. */
  readonly names: readonly string[];
  private readonly ctl: Int32Array;
  private readonly args: Float64Array;
  private readonly fns: ((...args: number[]) => number)[];
  /** Per-slot views of `args` (slot p: arguments of thread p's part). */
  private readonly slotViews: Float64Array[] = [];
  /** Atomics.wait is refused on a browser's main thread; there the caller only spins. */
  private readonly canBlock: boolean;
  private readonly held: { ctl: Int32Array; workers: WorkerHandle[]; closed: boolean };

  private constructor(setup: PoolSetup, names: string[], workers: WorkerHandle[]) {
    const buffer = setup.memory.buffer as unknown as SharedArrayBuffer;
    this.threads = setup.threads;
    this.names = names;
    this.ctl = new Int32Array(buffer, setup.control, HEADER + 2 * setup.threads);
    this.args = new Float64Array(buffer, setup.slots, setup.threads * SLOT_ARGS);
    for (let p = 0; p < setup.threads; p++) this.slotViews.push(this.args.subarray(p * SLOT_ARGS, (p + 1) * SLOT_ARGS));
    this.fns = names.map((n) => setup.exports[n] as (...args: number[]) => number);
    this.canBlock = canBlock(this.ctl);
    this.held = { ctl: this.ctl, workers, closed: false };
    orphans.register(this, this.held, this.held);
  }

  /** Starts threads − 1 workers on the setup's memory; resolves once every one is ready. */
  static async start(setup: PoolSetup): Promise<KernelPool> {
    const names = Object.keys(setup.exports).filter((n) => typeof setup.exports[n] === 'function').sort();
    const workers: WorkerHandle[] = [];
    try {
      const ready: Promise<void>[] = [];
      for (let p = 1; p < setup.threads; p++) {
        const w = await startWorker();
        workers.push(w);
        ready.push(
          new Promise<void>((resolve, reject) => {
            w.onMessage((m) => {
              const msg = m as { ready?: boolean; error?: string };
              if (msg.ready) resolve();
              else reject(new Error(`kernels: worker thread ${p} failed to start: ${msg.error ?? 'unknown error'}`));
            });
          }),
        );
        const init: WorkerInit = {
          module: setup.module,
          memory: setup.memory,
          scratch: setup.scratch(p),
          scratchFloats: setup.scratchFloats,
          control: setup.control,
          controlWords: HEADER + 2 * setup.threads,
          pending: PENDING,
          failed: FAILED,
          gen: HEADER + p,
          op: HEADER + setup.threads + p,
          failedValue: 1 + p,
          slot: setup.slots + p * SLOT_ARGS * 8,
          slotArgs: SLOT_ARGS,
          names,
          spin: SPIN,
        };
        w.post(init);
      }
      await Promise.all(ready);
      for (const w of workers) w.unref(); // idle workers never keep the process alive
    } catch (e) {
      for (const w of workers) w.terminate();
      throw e;
    }
    return new KernelPool(setup, names, workers);
  }

  /** The export index of a kernel name (for `run`). */
  op(name: string): number {
    const i = this.names.indexOf(name);
    if (i < 0) throw new Error(`kernels: no export '${name}'`);
    return i;
  }

  /** Slot p's arguments (the call of thread p). */
  slot(p: number): Float64Array {
    return this.slotViews[p]!;
  }

  /**
   * Calls export `op` with each slot's arguments on `parts` threads (slot 0 on this thread,
   * slots 1 … parts − 1 on the workers) and returns once all are done.
   */
  run(op: number, parts: number): void {
    if (this.held.closed) throw new Error('kernels: used after close()');
    const ctl = this.ctl;
    const T = this.threads;
    Atomics.store(ctl, PENDING, parts - 1);
    for (let p = 1; p < parts; p++) {
      ctl[HEADER + T + p] = op;
      Atomics.add(ctl, HEADER + p, 1); // publishes the slot and the op (sequentially consistent)
      Atomics.notify(ctl, HEADER + p);
    }
    const a = this.slotViews[0]!;
    this.fns[op]!(a[0]!, a[1]!, a[2]!, a[3]!, a[4]!, a[5]!, a[6]!, a[7]!, a[8]!, a[9]!, a[10]!, a[11]!, a[12]!, a[13]!, a[14]!, a[15]!);
    for (let i = 0, v = Atomics.load(ctl, PENDING); v !== 0; v = Atomics.load(ctl, PENDING)) {
      if (i < SPIN || !this.canBlock) i++;
      else Atomics.wait(ctl, PENDING, v);
    }
    const failed = Atomics.exchange(ctl, FAILED, 0);
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
