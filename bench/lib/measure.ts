/**
 * Timing a command as a child process: wall time, peak resident memory and exit status, for
 * benchmarks that compare kotoba with other programs (each system runs the same way, in its own
 * process, so start-up and memory are counted alike).
 *
 * Peak memory comes from GNU time (`/usr/bin/time -f %M`), which reports the largest resident
 * set of the command or of any one descendant it waited for (for a shell script that runs a
 * pipeline, the biggest single process, not the sum). Without GNU time, /proc/PID/status is
 * polled every 10 ms (Linux; the child itself only, and a short peak can be missed). `tree` adds
 * a poll of the summed resident sets of all the command's processes (every 50 ms), for a command
 * that runs in more than one process (kotoba's estimating commands relaunch themselves).
 */
import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface Measured {
  /** Wall-clock seconds from spawn to exit. */
  seconds: number;
  /** Peak resident set size in MB (2^20 bytes), or NaN when it could not be read. */
  peakMB: number;
  /** User + system CPU seconds of the command and the children it waited for (NaN without GNU time). */
  cpuSeconds: number;
  /** Exit code (null when killed by a signal). */
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Captured stdout (empty when stdout went to a file). */
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

export interface MeasureOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** A file to feed to stdin (default: none). */
  stdinFile?: string;
  /** A file to write stdout to (default: captured). */
  stdoutFile?: string;
  /** Kill the command after this many seconds. */
  timeoutSeconds?: number;
  /** Peak memory: also poll the sum over the command's process tree, and report the larger. */
  tree?: boolean;
}

/** The processes that `pid` started, and theirs, and so on, through /proc's children lists (Linux; none elsewhere). */
export function descendantPids(pid: number): number[] {
  const out: number[] = [];
  const walk = (p: number) => {
    let children: string[] = [];
    try {
      children = readFileSync(`/proc/${p}/task/${p}/children`, 'utf8').trim().split(/\s+/).filter(Boolean);
    } catch {
      return;
    }
    for (const c of children) {
      out.push(Number(c));
      walk(Number(c));
    }
  };
  walk(pid);
  return out;
}

/** Summed VmRSS in kB of the processes below `pid` (not `pid` itself). */
function descendantsRssKB(pid: number): number {
  let kb = 0;
  for (const c of descendantPids(pid)) {
    try {
      const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${c}/status`, 'utf8'));
      if (m) kb += Number(m[1]);
    } catch {
      // gone
    }
  }
  return kb;
}

const GNU_TIME = '/usr/bin/time';
const hasGnuTime = existsSync(GNU_TIME);

/** Runs `command args…` and measures it. Never throws for a non-zero exit; check `code`. */
export async function measure(command: string, args: string[], options: MeasureOptions = {}): Promise<Measured> {
  const rssFile = join(tmpdir(), `kotoba-bench-rss-${process.pid}-${Math.random().toString(36).slice(2)}`);
  const argv = hasGnuTime ? [GNU_TIME, '-f', '%M %U %S', '-o', rssFile, command, ...args] : [command, ...args];
  const stdin = options.stdinFile ? openSync(options.stdinFile, 'r') : 'ignore';
  const stdout = options.stdoutFile ? openSync(options.stdoutFile, 'w') : 'pipe';
  const started = performance.now();
  const child = spawn(argv[0]!, argv.slice(1), { cwd: options.cwd, env: options.env ?? process.env, stdio: [stdin, stdout, 'pipe'] });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout?.on('data', (d: Buffer) => out.push(d));
  child.stderr?.on('data', (d: Buffer) => err.push(d));
  let polledKB = 0;
  const poll = hasGnuTime
    ? null
    : setInterval(() => {
        try {
          const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'));
          if (m) polledKB = Math.max(polledKB, Number(m[1]));
        } catch {
          // the process has just exited
        }
      }, 10);
  let treeKB = 0;
  const treePoll = options.tree && hasGnuTime ? setInterval(() => (treeKB = Math.max(treeKB, descendantsRssKB(child.pid!))), 50) : null;
  let timedOut = false;
  const timer = options.timeoutSeconds
    ? setTimeout(() => {
        timedOut = true;
        child.kill('SIGKILL');
      }, options.timeoutSeconds * 1000)
    : null;
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (c, s) => resolve([c, s]));
  });
  const seconds = (performance.now() - started) / 1000;
  if (poll) clearInterval(poll);
  if (treePoll) clearInterval(treePoll);
  if (timer) clearTimeout(timer);
  if (typeof stdin === 'number') closeSync(stdin);
  if (typeof stdout === 'number') closeSync(stdout);
  let peakMB = polledKB > 0 ? polledKB / 1024 : NaN;
  let cpuSeconds = NaN;
  let stderr = Buffer.concat(err).toString('utf8');
  if (hasGnuTime) {
    try {
      const lines = readFileSync(rssFile, 'utf8').trim().split('\n');
      // GNU time writes "Command exited with non-zero status N" before the format line.
      const [kb, user, system] = lines[lines.length - 1]!.split(' ').map(Number);
      peakMB = kb! / 1024;
      cpuSeconds = user! + system!;
    } catch {
      // killed before GNU time wrote its report
    }
    rmSync(rssFile, { force: true });
    if (treeKB / 1024 > peakMB) peakMB = treeKB / 1024;
  }
  // GNU time reports a child's failure on the same stream; keep stderr the command's own.
  stderr = stderr.replace(/^Command (exited with non-zero status|terminated by signal) .*\n?/m, '');
  return { seconds, peakMB, cpuSeconds, code, signal, stdout: Buffer.concat(out).toString('utf8'), stderr, timedOut };
}

/** Fails with the command's own last words when it did not succeed. */
export function check(what: string, m: Measured): Measured {
  if (m.code !== 0) {
    const why = m.timedOut ? 'timed out' : m.signal ? `killed by ${m.signal}` : `exit ${m.code}`;
    const tail = (m.stderr.trim() || m.stdout.trim()).split('\n').slice(-3).join(' | ');
    throw new Error(`${what}: ${why}${tail ? `: ${tail}` : ''}`);
  }
  return m;
}

/** Best (smallest) seconds of `runs` calls of an in-process function, after `warmup` calls. */
export async function bestOf<T>(runs: number, fn: () => T | Promise<T>, warmup = 0): Promise<{ seconds: number; cpuSeconds: number; result: T }> {
  for (let i = 0; i < warmup; i++) await fn();
  let best = Infinity;
  let bestCpu = Infinity;
  let result!: T;
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    result = await fn();
    const c = process.cpuUsage(c0);
    best = Math.min(best, (performance.now() - t0) / 1000);
    // CPU time of this process: what one core spent, whatever else the machine was doing.
    bestCpu = Math.min(bestCpu, (c.user + c.system) / 1e6);
  }
  return { seconds: best, cpuSeconds: bestCpu, result };
}

/**
 * The fastest of `runs` runs of a command (each checked): on a shared machine the fastest run
 * is the one least disturbed by other work. Its own peak memory is reported with it.
 */
export async function measureBest(runs: number, what: string, command: string, args: string[], options: MeasureOptions = {}): Promise<Measured> {
  let best: Measured | null = null;
  for (let i = 0; i < runs; i++) {
    const m = check(what, await measure(command, args, options));
    if (!best || m.seconds < best.seconds) best = m;
  }
  return best!;
}
