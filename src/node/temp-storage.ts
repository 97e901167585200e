/**
 * Runs on disk for estimation's sorted streams: one file per run in a private folder of the
 * temporary directory, written and read synchronously in large blocks (the estimation worker
 * has nothing else to do meanwhile). A run read to its end leaves its file, spent, for a later
 * run to write over (its pages are still in memory); the folder goes when the job ends. A full
 * disk is one error naming the folder and how much space the job needs, never a crash.
 */
import { closeSync, ftruncateSync, mkdtempSync, openSync, readSync, renameSync, rmSync, unlinkSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KotobaError } from '../errors.js';
import type { RunStorage, StoredRun } from '../ngram/records.js';

/** Human-readable bytes: 1.5 GB, 300 MB, 12 kB. */
export function formatBytes(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(1)} GB`;
  if (n >= 1e6) return `${Math.round(n / 1e6)} MB`;
  return `${Math.max(1, Math.round(n / 1e3))} kB`;
}

/** The one-line error for a temporary folder that cannot be written. */
export function tempDirError(err: unknown, dir: string, needed?: () => number): KotobaError {
  const code = (err as NodeJS.ErrnoException)?.code;
  if (code === 'ENOSPC' || code === 'EDQUOT') {
    const need = needed?.();
    return new KotobaError(
      `no space left for temporary files in ${dir}${need ? ` (this job needs roughly ${formatBytes(need)} there)` : ''}`,
      'free some space, or pass --temp-dir on a larger disk (a larger --memory needs less)',
    );
  }
  if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') {
    return new KotobaError(`cannot write temporary files in ${dir}: permission denied`, 'pass --temp-dir with a writable folder');
  }
  if (code === 'ENOENT' || code === 'ENOTDIR') {
    return new KotobaError(`cannot write temporary files in ${dir}: no such folder`, 'pass --temp-dir with an existing folder');
  }
  if (err instanceof KotobaError) return err;
  return new KotobaError(`cannot write temporary files in ${dir}: ${(err as Error)?.message ?? String(err)}`, 'pass --temp-dir with another folder');
}

/**
 * Makes a private folder for one job's temporary files inside `parent` (default: the OS
 * temporary directory) and proves it writable, before any work.
 *
 * @example
 * ```ts
 * import { makeTempFolder } from 'kotoba/node';
 * const folder = makeTempFolder('/scratch'); // e.g. /scratch/kotoba-Ab3xYz
 * try {
 *   // … files in folder.path …
 * } finally {
 *   folder.remove();
 * }
 * ```
 */
export function makeTempFolder(parent = tmpdir()): { path: string; remove: () => void } {
  let path: string;
  try {
    path = mkdtempSync(join(parent, 'kotoba-'));
    const probe = join(path, 'probe');
    const fd = openSync(probe, 'w');
    try {
      writeSync(fd, new Uint8Array(4096));
    } finally {
      closeSync(fd);
    }
    unlinkSync(probe);
  } catch (e) {
    throw tempDirError(e, parent);
  }
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

/** Writes all of `bytes` into file `fd` at `position`. */
function writeAll(fd: number, bytes: Uint8Array, position: number): void {
  let done = 0;
  while (done < bytes.length) done += writeSync(fd, bytes, done, bytes.length - done, position + done);
}

/**
 * The temporary files of one job, counted across its threads in shared memory: bytes held now
 * and at most (spent runs' files included: they are on disk), runs begun and merge runs, and the
 * spent runs' files that any thread may write over. A run may be written on one thread and read
 * and removed on another, so no thread's own count would be right.
 */
export class TempUsage {
  static readonly HELD = 0;
  static readonly PEAK = 1;
  static readonly RUNS = 2;
  static readonly MERGED = 3;
  /** A number of this job's own, in the names of its spent files. */
  private static readonly TAG = 4;
  /**
   * Spent runs' files, for any thread to write over (see FileStorage's claimSpent): slot i holds
   * the size of file `spent-TAG-i` (0: empty; −1: being renamed by a thread).
   */
  static readonly SPENT_SLOTS = 256;
  private static readonly FIRST_SLOT = 5;
  private readonly cells: BigInt64Array;
  constructor(readonly buffer: SharedArrayBuffer = TempUsage.newBuffer()) {
    this.cells = new BigInt64Array(buffer);
  }
  private static newBuffer(): SharedArrayBuffer {
    const buffer = new SharedArrayBuffer((TempUsage.FIRST_SLOT + TempUsage.SPENT_SLOTS) * 8);
    new BigInt64Array(buffer)[TempUsage.TAG] = BigInt(Math.floor(Math.random() * 2 ** 32));
    return buffer;
  }
  /** The name of the file of spent slot `slot`. */
  spentName(slot: number): string {
    return `spent-${this.cells[TempUsage.TAG]!.toString(36)}-${slot}.u32`;
  }
  /** Reserves an empty slot for a spent file: its index, or −1 when every slot is taken. */
  reserveSpent(): number {
    for (let i = 0; i < TempUsage.SPENT_SLOTS; i++) if (Atomics.compareExchange(this.cells, TempUsage.FIRST_SLOT + i, 0n, -1n) === 0n) return i;
    return -1;
  }
  /** Offers the file of a reserved slot, of `bytes`. */
  publishSpent(slot: number, bytes: number): void {
    Atomics.store(this.cells, TempUsage.FIRST_SLOT + slot, BigInt(bytes));
  }
  /** Empties a reserved slot (its file renamed or removed). */
  freeSpent(slot: number): void {
    Atomics.store(this.cells, TempUsage.FIRST_SLOT + slot, 0n);
  }
  /** Reserves the slot of the largest spent file: its index and size, or null when none is. */
  takeSpent(): { slot: number; bytes: number } | null {
    for (;;) {
      let slot = -1;
      let bytes = 0n;
      for (let i = 0; i < TempUsage.SPENT_SLOTS; i++) {
        const b = Atomics.load(this.cells, TempUsage.FIRST_SLOT + i);
        if (b > bytes) [slot, bytes] = [i, b];
      }
      if (slot < 0) return null;
      // Another thread may have taken it meanwhile: look again.
      if (Atomics.compareExchange(this.cells, TempUsage.FIRST_SLOT + slot, bytes, -1n) === bytes) return { slot, bytes: Number(bytes) };
    }
  }
  add(bytes: number): void {
    const held = Atomics.add(this.cells, TempUsage.HELD, BigInt(bytes)) + BigInt(bytes);
    let peak = Atomics.load(this.cells, TempUsage.PEAK);
    while (held > peak) {
      const seen = Atomics.compareExchange(this.cells, TempUsage.PEAK, peak, held);
      if (seen === peak) break;
      peak = seen;
    }
  }
  count(cell: number, n: number): void {
    Atomics.add(this.cells, cell, BigInt(n));
  }
  get held(): number {
    return Number(Atomics.load(this.cells, TempUsage.HELD));
  }
  get peak(): number {
    return Number(Atomics.load(this.cells, TempUsage.PEAK));
  }
  get runs(): number {
    return Number(Atomics.load(this.cells, TempUsage.RUNS));
  }
  get merged(): number {
    return Number(Atomics.load(this.cells, TempUsage.MERGED));
  }
}

/**
 * Runs as files in `dir`; a full disk is one error that says roughly how much space the job needs
 * (`neededBytes`). `failAfter` (tests) fails with ENOSPC once that many bytes are held.
 *
 * @example
 * ```ts
 * import { arpaText, estimate, MemoryBudget, type Corpus } from 'kotoba';
 * import { FileStorage, makeTempFolder } from 'kotoba/node';
 * declare const corpus: Corpus;
 * const folder = makeTempFolder();
 * try {
 *   const streams = { storage: new FileStorage(folder.path), budget: new MemoryBudget(64 << 20), minReadBytes: 1 << 16 };
 *   const text = await arpaText(estimate(corpus, { order: 5, streams })); // runs beyond 64 MB go to disk
 * } finally {
 *   folder.remove();
 * }
 * ```
 */
export class FileStorage implements RunStorage {
  /** Bytes of the run whose write met a full disk (the disk could not hold even that). */
  failedBytes = 0;
  private next = 0;

  constructor(
    readonly dir: string,
    /** Bytes after which a write fails as on a full disk (tests), counted over every thread. */
    readonly failAfter = Infinity,
    /** Distinguishes the files of threads that share the folder. */
    private readonly prefix = '',
    /** What every thread of the job holds in the folder (threads hand runs to each other). */
    readonly usage = new TempUsage(),
  ) {}

  /** Bytes held in runs by every thread of the job, and the most at once. */
  get bytesHeld(): number {
    return this.usage.held;
  }
  get peakBytes(): number {
    return this.usage.peak;
  }
  /** Runs begun so far by every thread, and of them those written by a merge of other runs. */
  get runsWritten(): number {
    return this.usage.runs;
  }
  get mergedRuns(): number {
    return this.usage.merged;
  }
  set mergedRuns(n: number) {
    this.usage.count(TempUsage.MERGED, n - this.usage.merged);
  }

  /**
   * Rough temporary space the whole job needs, for a full-disk message: four times the most this
   * storage held (the count runs, then the adjusted rows of every order beside them, about three
   * times as many bytes), counting a run that met a full disk; 0 before anything was written.
   */
  neededBytes(): number {
    return Math.max(this.peakBytes, this.bytesHeld + this.failedBytes) * 4;
  }

  /** Takes over a run file that another thread of the job wrote (it is read and removed from here). */
  adopt(path: string, words: number): StoredRun {
    return this.fileRun(path, words);
  }

  begin() {
    const path = join(this.dir, `run-${this.prefix}${this.next++}.u32`);
    let fd = -1;
    let written = 0;
    // Bytes of a spent run's file written over (counted in `usage` already, as on disk).
    let reused = 0;
    const held = () => Math.max(written, reused);
    const fail = (e: unknown, attempted = 0): never => {
      if (fd >= 0) closeSync(fd);
      rmSync(path, { force: true });
      this.failedBytes = Math.max(this.failedBytes, written + attempted);
      this.usage.add(-held());
      // The code travels with the message, for a thread that words it with its own estimate.
      throw Object.assign(tempDirError(e, this.dir, () => this.neededBytes()), { code: (e as NodeJS.ErrnoException)?.code });
    };
    try {
      reused = this.claimSpent(path);
      fd = openSync(path, reused > 0 ? 'r+' : 'wx');
    } catch (e) {
      fail(e);
    }
    this.usage.count(TempUsage.RUNS, 1);
    return {
      append: (w: Uint32Array) => {
        const bytes = new Uint8Array(w.buffer, w.byteOffset, w.byteLength);
        const grows = Math.max(0, written + bytes.length - reused) - Math.max(0, written - reused);
        const write = () => {
          if (this.bytesHeld + grows > this.failAfter) throw Object.assign(new Error('no space left on device'), { code: 'ENOSPC' });
          writeAll(fd, bytes, written);
        };
        try {
          try {
            write();
          } catch (e) {
            // Spent files make room first.
            if ((e as NodeJS.ErrnoException)?.code !== 'ENOSPC' || !this.removeSpent()) throw e;
            write();
          }
        } catch (e) {
          fail(e, bytes.length);
        }
        written += bytes.length;
        this.usage.add(grows);
      },
      end: (): StoredRun => {
        try {
          if (reused > written) ftruncateSync(fd, written);
          closeSync(fd);
        } catch (e) {
          fd = -1;
          fail(e);
        }
        this.usage.add(written - held());
        return this.fileRun(path, written / 4);
      },
    };
  }

  /**
   * Renames the largest spent run's file (see `fileRun`'s drop) as `path`, to be written over;
   * its size in bytes, or 0 when there is none. The pages of a file written over are in memory
   * already, while a new file's take new ones, and on a virtual machine that hands free memory
   * back to its host each new page costs a fault there: 4 GB written into new pages took 5-8 s of
   * the kernel's time on this project's machine, 0.4 s over cached ones. The job's threads share
   * the spent files (TempUsage's slots): most runs are written on one thread and read on another.
   */
  private claimSpent(path: string): number {
    const spent = this.usage.takeSpent();
    if (!spent) return 0;
    try {
      renameSync(join(this.dir, this.usage.spentName(spent.slot)), path);
    } finally {
      this.usage.freeSpent(spent.slot);
    }
    return spent.bytes;
  }

  /** Removes every spent run's file (room on a full disk); whether there was one. */
  private removeSpent(): boolean {
    let removed = false;
    for (let spent; (spent = this.usage.takeSpent()); removed = true) {
      try {
        rmSync(join(this.dir, this.usage.spentName(spent.slot)), { force: true });
      } finally {
        this.usage.freeSpent(spent.slot);
      }
      this.usage.add(-spent.bytes);
    }
    return removed;
  }

  private fileRun(path: string, words: number): StoredRun {
    let dropped = false;
    return {
      words,
      path,
      reader: () => {
        const fd = openSync(path, 'r');
        let position = 0;
        let open = true;
        return (into: Uint32Array) => {
          if (!open) return 0;
          const bytes = new Uint8Array(into.buffer, into.byteOffset, into.byteLength);
          let got = 0;
          while (got < bytes.length) {
            const n = readSync(fd, bytes, got, bytes.length - got, position);
            if (n === 0) break;
            got += n;
            position += n;
          }
          if (got < bytes.length) {
            closeSync(fd);
            open = false;
          }
          if (got % 4 !== 0) throw new KotobaError(`a temporary file in ${this.dir} is damaged`, 'do not touch the temporary folder while kotoba runs');
          return got / 4;
        };
      },
      drop: () => {
        if (dropped) return;
        dropped = true;
        // Kept, spent, for a later run to write over (see claimSpent), while a slot is free; the
        // folder goes at the end.
        const slot = words > 0 ? this.usage.reserveSpent() : -1;
        if (slot >= 0) {
          try {
            renameSync(path, join(this.dir, this.usage.spentName(slot)));
            this.usage.publishSpent(slot, words * 4);
            return;
          } catch {
            this.usage.freeSpent(slot);
          }
        }
        rmSync(path, { force: true });
        this.usage.add(-words * 4);
      },
    };
  }
}
