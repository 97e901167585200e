/**
 * Runs on disk for estimation's sorted streams: one file per run in a private folder of the
 * temporary directory, written and read synchronously in large blocks (the estimation worker
 * has nothing else to do meanwhile), deleted as soon as it has been read. A full disk is one
 * error naming the folder and how much space the job needs, never a crash.
 */
import { closeSync, mkdtempSync, openSync, readSync, rmSync, unlinkSync, writeSync } from 'node:fs';
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

/** Writes all of `bytes` at the end of file `fd`. */
function writeAll(fd: number, bytes: Uint8Array): void {
  let done = 0;
  while (done < bytes.length) done += writeSync(fd, bytes, done, bytes.length - done);
}

/**
 * The temporary files of one job, counted across its threads in shared memory: bytes held now
 * and at most, runs begun and merge runs. A run may be written on one thread and read and removed
 * on another, so no thread's own count would be right.
 */
export class TempUsage {
  static readonly HELD = 0;
  static readonly PEAK = 1;
  static readonly RUNS = 2;
  static readonly MERGED = 3;
  private readonly cells: BigInt64Array;
  constructor(readonly buffer: SharedArrayBuffer = new SharedArrayBuffer(4 * 8)) {
    this.cells = new BigInt64Array(buffer);
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
    let words = 0;
    const fail = (e: unknown, attempted = 0): never => {
      if (fd >= 0) closeSync(fd);
      rmSync(path, { force: true });
      this.failedBytes = Math.max(this.failedBytes, words * 4 + attempted);
      this.usage.add(-words * 4);
      // The code travels with the message, for a thread that words it with its own estimate.
      throw Object.assign(tempDirError(e, this.dir, () => this.neededBytes()), { code: (e as NodeJS.ErrnoException)?.code });
    };
    try {
      fd = openSync(path, 'wx');
    } catch (e) {
      fail(e);
    }
    this.usage.count(TempUsage.RUNS, 1);
    return {
      append: (w: Uint32Array) => {
        const bytes = new Uint8Array(w.buffer, w.byteOffset, w.byteLength);
        try {
          if (this.bytesHeld + bytes.length > this.failAfter) throw Object.assign(new Error('no space left on device'), { code: 'ENOSPC' });
          writeAll(fd, bytes);
        } catch (e) {
          fail(e, bytes.length);
        }
        words += w.length;
        this.usage.add(bytes.length);
      },
      end: (): StoredRun => {
        try {
          closeSync(fd);
        } catch (e) {
          fd = -1;
          fail(e);
        }
        return this.fileRun(path, words);
      },
    };
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
        rmSync(path, { force: true });
        this.usage.add(-words * 4);
      },
    };
  }
}
