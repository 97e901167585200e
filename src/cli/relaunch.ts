/**
 * N-gram estimation allocates and frees typed arrays of a few hundred kilobytes to a few tens of
 * megabytes all the time (blocks, read buffers, result ranges). glibc's malloc serves those from
 * its heap once its dynamic mmap threshold has risen (to up to 32 MB), and a heap fragmented by
 * them keeps freed pages: measured, 150–300 MB of resident memory above what is live, more than
 * `--memory`'s stated margin. With the threshold fixed at 1 MB every such block is its own
 * mapping, returned to the system when freed (and the run was no slower). The threshold can only
 * be set before the process starts, so the commands that estimate start themselves again with it;
 * the library's users can set MALLOC_MMAP_THRESHOLD_ themselves. A small job (`smallJob`) is not
 * relaunched: a second Node process costs about 100 ms (Penn Treebank's training takes 1.4 s).
 *
 * The child also runs with V8_OPTIONS: estimation keeps every core busy (its default thread count
 * is the core count), so V8's background compilation of a hot function waits for a core while the
 * function runs unoptimized; compiled on the thread that needs it, estimation on two cores took
 * 5–7 % less time and 10–16 % less CPU (Penn Treebank 1.39–1.43 s against 1.47–1.56 s, ten copies
 * 9.46–9.76 s against 9.73–10.69 s, in alternating runs; thirty copies the same either way).
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { setFlagsFromString } from 'node:v8';
import { isGzip, openRegularFile } from '../node/io.js';
import { parseMemorySize } from '../node/ngram-train.js';
import { REPEATED_SIGNAL_MS } from '../node/signals.js';

const VARIABLE = 'MALLOC_MMAP_THRESHOLD_';
const THRESHOLD = String(1 << 20);
/** Set in the child's environment. */
const RELAUNCHED = 'KOTOBA_RELAUNCHED';
/** V8's options for the child (see above). */
const V8_OPTIONS = ['--no-concurrent-recompilation'];

/** An estimation as a command line asks for it (see Command.estimation). */
export interface EstimationJob {
  /** The text files, or null when the input is not text files of known size (count files, standard input). */
  texts: readonly string[] | null;
  order: number;
  /** `--memory` as given (default 50%). */
  memory: string | undefined;
}

/** Bytes of memory per byte of text, times N², that estimation may hold at most (see `smallJob`). */
const HELD_PER_TEXT_BYTE = 4;

/** What a fragmented heap may keep above what estimation holds (see `smallJob`). */
const HEAP_SLACK = 256 * 2 ** 20;

/**
 * Whether `job` is small enough to run without the malloc setting: its texts are plain regular
 * files (not gzipped, not a pipe) whose estimation holds at most `HELD_PER_TEXT_BYTE`·N² bytes per
 * byte of text, and that much fits the budget with room for a fragmented heap: as much again,
 * or `HEAP_SLACK` where that is less.
 *
 * Measured on Penn Treebank's training text (6.7 MB, every stage in memory), the process' peak
 * above its 77 MB at rest was 12, 36, 77 and 164 bytes per byte of text at orders 2, 3, 5 and 8:
 * at most 4·N². A heap fragmented by freed blocks kept at most 236 MB more than the relaunched
 * child's peak, in jobs that spill runs too (two to thirty copies of it at 1G and 2G, ten at 8G:
 * 0–236 MB): the blocks it fragments on are the small and middle-sized ones (glibc maps those of
 * 32 MB and more on their own), whose sizes are capped whatever the corpus. Small jobs by this
 * rule peaked at 166 MB (order 2, 300M), 258 MB (order 3, 512M), 556 MB (order 5, 1G), 563 MB
 * (order 4, 11.5 MB of text, 1G) and 1,108 MB (order 8, 2G). A file that cannot be read here
 * makes the job not small (the child reports it).
 */
export async function smallJob(job: EstimationJob): Promise<boolean> {
  if (!job.texts || job.texts.length === 0) return false;
  let budget: number;
  try {
    budget = parseMemorySize(job.memory ?? '50%');
  } catch {
    return false;
  }
  let bytes = 0;
  const head = new Uint8Array(2);
  for (const path of job.texts) {
    try {
      const { handle, size } = await openRegularFile(path);
      try {
        const { bytesRead } = await handle.read(head, 0, 2, 0);
        if (isGzip(head.subarray(0, bytesRead))) return false;
      } finally {
        await handle.close();
      }
      bytes += size;
    } catch {
      return false;
    }
  }
  const held = HELD_PER_TEXT_BYTE * job.order * job.order * bytes;
  return held + Math.min(held, HEAP_SLACK) <= budget;
}

/**
 * Estimation in this process: its worker threads compile on their own threads (V8_OPTIONS, which V8
 * reads as each thread's isolate starts; this thread only reads text and writes the model).
 */
export function estimateHere(): void {
  setFlagsFromString(V8_OPTIONS.join(' '));
}

/** Whether this process should run an estimating command again under the fixed threshold (Linux, glibc; not the relaunched child). */
export function shouldRelaunch(): boolean {
  if (process.platform !== 'linux' || process.env[VARIABLE] !== undefined) return false;
  const report = process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined;
  return typeof report?.header?.glibcVersionRuntime === 'string';
}

/**
 * Runs this command line again in a child process with the threshold set (and V8_OPTIONS), sharing
 * stdin, stdout and stderr, and resolves to its exit code (or dies of its signal). SIGINT, SIGTERM
 * and SIGHUP are passed on (a Ctrl-C on a terminal thus reaches the child twice: it takes the two
 * as one).
 */
export function relaunch(): Promise<number> {
  const child = spawn(process.execPath, [...process.execArgv, ...V8_OPTIONS, ...process.argv.slice(1)], {
    stdio: 'inherit',
    env: { ...process.env, [VARIABLE]: THRESHOLD, [RELAUNCHED]: '1' },
  });
  const forward = (signal: NodeJS.Signals) => child.kill(signal);
  const signals = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
  for (const s of signals) process.on(s, forward);
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      for (const s of signals) process.off(s, forward);
      if (signal) process.kill(process.pid, signal);
      resolve(code ?? 1);
    });
  });
}

/**
 * In the relaunched child: the parent's resident memory in bytes (Linux's /proc), which the
 * command's memory budget has to cover too; 0 elsewhere or when it cannot be read.
 */
export function relaunchParentBytes(): number {
  if (process.env[RELAUNCHED] !== '1') return 0;
  try {
    const status = readFileSync(`/proc/${process.ppid}/status`, 'latin1');
    const kb = /^VmRSS:\s+(\d+) kB/m.exec(status);
    return kb ? Number(kb[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/**
 * In the relaunched child: a SIGINT within REPEATED_SIGNAL_MS of the previous one is the same
 * Ctrl-C, sent by the terminal to the process group and passed on by the parent; it is dropped.
 * Otherwise a command's own SIGINT handler acts, or, where there is none, the process ends as by
 * default.
 */
export function dropRepeatedInterrupts(): void {
  if (process.env[RELAUNCHED] !== '1') return;
  let last = -Infinity;
  const onSigint = () => {
    const now = Date.now();
    const repeated = now - last < REPEATED_SIGNAL_MS;
    last = now;
    if (repeated || process.listenerCount('SIGINT') > 1) return;
    process.off('SIGINT', onSigint);
    process.kill(process.pid, 'SIGINT');
  };
  process.on('SIGINT', onSigint);
}
