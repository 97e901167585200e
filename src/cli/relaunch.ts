/**
 * N-gram estimation allocates and frees typed arrays of a few hundred kilobytes to a few tens of
 * megabytes all the time (blocks, read buffers, result ranges). glibc's malloc serves those from
 * its heap once its dynamic mmap threshold has risen (to up to 32 MB), and a heap fragmented by
 * them keeps freed pages: measured, 150–300 MB of resident memory above what is live, more than
 * `--memory`'s stated margin. With the threshold fixed at 1 MB every such block is its own
 * mapping, returned to the system when freed (and the run was no slower). The threshold can only
 * be set before the process starts, so the commands that estimate start themselves again with it;
 * the library's users can set MALLOC_MMAP_THRESHOLD_ themselves.
 *
 * The child also runs with V8_OPTIONS: estimation keeps every core busy (its default thread count
 * is the core count), so V8's background compilation of a hot function waits for a core while the
 * function runs unoptimized; compiled on the thread that needs it, estimation on two cores took
 * 5–7 % less time and 10–16 % less CPU (Penn Treebank 1.39–1.43 s against 1.47–1.56 s, ten copies
 * 9.46–9.76 s against 9.73–10.69 s, in alternating runs; thirty copies the same either way).
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { REPEATED_SIGNAL_MS } from '../node/signals.js';

const VARIABLE = 'MALLOC_MMAP_THRESHOLD_';
const THRESHOLD = String(1 << 20);
/** Set in the child's environment. */
const RELAUNCHED = 'KOTOBA_RELAUNCHED';
/** V8's options for the child (see above). */
const V8_OPTIONS = ['--no-concurrent-recompilation'];

/**
 * Whether the command line `argv` (without node and the script) estimates an n-gram model: `count`,
 * and `train` unless `--model` names a neural or log-linear kind. Read from the raw arguments,
 * before the CLI is loaded, so that the relaunching parent stays a bare Node process (about 45 MB
 * of memory rather than 60); a mistyped line is relaunched too, and the child reports it.
 */
export function estimates(argv: readonly string[]): boolean {
  if (argv[0] === 'count') return true;
  if (argv[0] !== 'train') return false;
  let model = 'ngram';
  for (let i = 1; i < argv.length; i++) {
    if (argv[i] === '--model' && i + 1 < argv.length) model = argv[++i]!;
    else if (argv[i]!.startsWith('--model=')) model = argv[i]!.slice('--model='.length);
  }
  return model === 'ngram';
}

/** Whether this process should run the command again under the fixed threshold (Linux, glibc). */
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
