// Estimation at scale (not a test): kotoba train and KenLM's lmplz side by side on corpora made
// k times larger than Penn Treebank, at the same memory budgets and two threads, in the same run;
// printed as Markdown and saved to bench/results/scale.md.
//
//   npm run bench:scale                          k = 1, 10, 30, 100 (hours; k = 100 needs ~25 GB of
//                                                temporary disk and ~1.5 GB of corpus: df -h first)
//   npm run bench:scale -- --k 1,10              a subset
//   node dist/bench/scale.js --k 10 --memory 1G --no-save
//
// Corpus k: k copies of ../shared/data/ptb/ptb.train.txt with <unk> renamed UNK (lmplz refuses
// <unk>), every word of copy i suffixed _i, so that every copy adds new words and n-grams
// (k = 100: 89 M tokens, about 230 M n-grams). Generated here into the work folder, never kept.
//
// For each k and budget (--memory 1G,2G): lmplz -o 5 -S BUDGET -T TMP and kotoba train --order 5
// --memory BUDGET --temp-dir TMP --threads 2, both pinned to two CPUs (taskset) where the machine
// has more. Measured per run: wall, CPU (user + system), peak RSS (GNU time; or, when larger, the
// sum over the command's processes polled every 50 ms, as kotoba relaunches itself), the most temporary
// disk in use at once (polled: the files in TMP, and deleted files that the processes still hold
// open there, which is how lmplz keeps them), and whether the two ARPA files are byte-identical
// (SHA-256). Then kotoba again on one thread, for the speed-up of each stage (counting and sorting).
// Seconds per million n-grams show whether time grows linearly with the corpus.
//
// The machine may be shared: each large run is timed once (they take long), so read ratios from
// the same run, and CPU seconds, rather than absolute walls; at k = 1 each tool runs five times,
// alternating, and the run of median wall is the one reported.

import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { createReadStream, createWriteStream, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cpus, homedir, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { descendantPids, measure, check, type Measured } from './lib/measure.js';
import { machineDescription, today } from './lib/machine.js';
import { markdownTable, num, ratio, seconds } from './lib/table.js';

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const ptb = join(repoRoot, '..', 'shared', 'data', 'ptb', 'ptb.train.txt');
const cli = join(repoRoot, 'dist', 'bin', 'main.js');
const LMPLZ = process.env.LMPLZ ?? join(process.env.KENLM_BIN ?? join(homedir(), '.cache', 'kenlm', 'build', 'bin'), 'lmplz');
const ORDER = 5;

const argv = process.argv.slice(2);
const option = (name: string) => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
};
if (argv.includes('--help')) {
  console.log('usage: node dist/bench/scale.js [--k 1,10,30,100] [--memory 1G,2G] [--threads 2] [--temp-dir DIR] [--no-lmplz] [--no-save]');
  process.exit(0);
}
const KS = (option('--k') ?? '1,10,30,100').split(',').map(Number);
const BUDGETS = (option('--memory') ?? '1G,2G').split(',');
const THREADS = Number(option('--threads') ?? 2);
/**
 * Runs of each tool at each budget, alternating, and the one of median wall reported: a run of a
 * second or two is at the mercy of a noisy minute.
 */
const rounds = (k: number) => (k <= 1 ? 5 : 1);
/** Alternating pairs of runs (1 thread, THREADS) for the thread table. */
const threadPairs = (k: number) => (k <= 1 ? 9 : k < 100 ? 3 : 1);
/** The run of median wall (the upper middle of an even count). */
const medianRun = <R extends { m: { seconds: number } }>(runs: R[]): R => [...runs].sort((a, b) => a.m.seconds - b.m.seconds)[runs.length >> 1]!;
const median = (xs: number[]) => {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};
const withLmplz = !argv.includes('--no-lmplz');
const log = (m: string) => process.stderr.write(`[bench:scale ${new Date().toISOString().slice(11, 19)}] ${m}\n`);

if (!existsSync(ptb)) {
  console.log('bench:scale: Penn Treebank not found at ../shared/data/ptb (next to the repository); nothing to do.');
  process.exit(0);
}
if (!existsSync(cli)) {
  console.error('bench:scale: dist/bin/main.js is missing; run npm run build first');
  process.exit(1);
}
if (withLmplz && !existsSync(LMPLZ)) {
  console.error(`bench:scale: lmplz not found (build it with ../shared/tools/build-kenlm.sh, or set LMPLZ or KENLM_BIN); --no-lmplz runs kotoba alone`);
  process.exit(1);
}

const work = mkdtempSync(join(option('--temp-dir') ?? tmpdir(), 'kotoba-bench-scale-'));
const cleanup = () => rmSync(work, { recursive: true, force: true });
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    cleanup();
    process.exit(130);
  });
}

// Two CPUs for every run where the machine has more, so that "2 threads" means the same for both.
const pin = cpus().length > THREADS && spawnSync('taskset', ['--version']).status === 0 ? ['taskset', '-c', Array.from({ length: THREADS }, (_, i) => i).join(',')] : [];

// ---------------------------------------------------------------------------------------------
// Corpus k

const ptbLines = readFileSync(ptb, 'utf8').split('\n').slice(0, -1).map((l) => l.replace(/<unk>/g, 'UNK'));

async function writeCorpus(k: number): Promise<{ path: string; tokens: number }> {
  const path = join(work, `ptb.x${k}.txt`);
  const out = createWriteStream(path);
  let tokens = 0;
  for (let i = 1; i <= k; i++) {
    let chunk = '';
    for (const line of ptbLines) {
      const words = line.split(' ').filter(Boolean);
      tokens += words.length;
      chunk += words.map((w) => `${w}_${i}`).join(' ') + '\n';
      if (chunk.length > 1 << 20) {
        if (!out.write(chunk)) await new Promise<void>((r) => out.once('drain', () => r()));
        chunk = '';
      }
    }
    if (!out.write(chunk)) await new Promise<void>((r) => out.once('drain', () => r()));
  }
  await new Promise<void>((resolve, reject) => out.end((e?: Error | null) => (e ? reject(e) : resolve())));
  return { path, tokens };
}

// ---------------------------------------------------------------------------------------------
// Measuring

/** The most bytes under `dir` at once while `run` goes: files there, and deleted ones still open. */
async function withTempDisk<T>(dir: string, run: () => Promise<T>): Promise<{ result: T; peakBytes: number }> {
  let peak = 0;
  const sample = () => {
    let bytes = 0;
    const walk = (d: string) => {
      for (const name of safe(() => readdirSync(d), [] as string[])) {
        const p = join(d, name);
        const st = safe(() => statSync(p), null);
        if (!st) continue;
        if (st.isDirectory()) walk(p);
        else bytes += st.size;
      }
    };
    walk(dir);
    // Only this process's descendants: a walk over every process's files took a few percent of a
    // core, which slowed kotoba's two threads more than that (one waits when the other is held up).
    for (const pid of descendantPids(process.pid)) {
      for (const fd of safe(() => readdirSync(`/proc/${pid}/fd`), [] as string[])) {
        const target = safe(() => readlinkSync(`/proc/${pid}/fd/${fd}`), '');
        if (target.startsWith(dir) && target.endsWith(' (deleted)')) bytes += safe(() => statSync(`/proc/${pid}/fd/${fd}`).size, 0);
      }
    }
    peak = Math.max(peak, bytes);
  };
  const timer = setInterval(sample, 250);
  try {
    return { result: await run(), peakBytes: peak };
  } finally {
    clearInterval(timer);
    sample();
  }
}

function safe<T>(f: () => T, fallback: T): T {
  try {
    return f();
  } catch {
    return fallback;
  }
}

async function sha256(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest('hex');
}

interface Run {
  tool: string;
  budget: string;
  m: Measured;
  tempBytes: number;
  hash: string;
}

async function runLmplz(corpus: string, budget: string): Promise<Run> {
  const temp = join(work, 'tmp-lmplz');
  mkdirSync(temp, { recursive: true });
  const arpa = join(work, 'lmplz.arpa');
  log(`lmplz -o ${ORDER} -S ${budget}`);
  const { result: m, peakBytes } = await withTempDisk(temp, () =>
    measure(pin[0] ?? LMPLZ, [...pin.slice(1), ...(pin.length ? [LMPLZ] : []), '-o', String(ORDER), '-S', budget, '-T', temp + '/', '--text', corpus, '--arpa', arpa], { tree: true }),
  );
  check('lmplz', m);
  const hash = await sha256(arpa);
  rmSync(arpa);
  rmSync(temp, { recursive: true, force: true });
  return { tool: 'lmplz', budget, m, tempBytes: peakBytes, hash };
}

async function runKotoba(corpus: string, budget: string, threads: number): Promise<Run & { ngrams: number; stages: Record<string, number> }> {
  const temp = join(work, 'tmp-kotoba');
  mkdirSync(temp, { recursive: true });
  const arpa = join(work, 'kotoba.arpa');
  log(`kotoba train --order ${ORDER} --memory ${budget} --threads ${threads}`);
  const args = [cli, 'train', '--order', String(ORDER), '--memory', budget, '--threads', String(threads), '--temp-dir', temp, '--json', '-o', arpa, corpus];
  const { result: m, peakBytes } = await withTempDisk(temp, () => measure(pin[0] ?? process.execPath, [...pin.slice(1), ...(pin.length ? [process.execPath] : []), ...args], { tree: true }));
  check('kotoba train', m);
  const summary = JSON.parse(m.stdout) as { ngrams: number[]; temp_peak_bytes: number; stage_seconds: Record<string, number> };
  const hash = await sha256(arpa);
  rmSync(arpa);
  rmSync(temp, { recursive: true, force: true });
  return { tool: 'kotoba', budget, m, tempBytes: Math.max(peakBytes, summary.temp_peak_bytes), hash, ngrams: summary.ngrams.reduce((a, b) => a + b, 0), stages: summary.stage_seconds };
}

// ---------------------------------------------------------------------------------------------
// The runs

const gb = (bytes: number) => (Number.isFinite(bytes) ? `${num(bytes / 1e9)} GB` : '–');
const mb = (x: number) => (Number.isFinite(x) ? `${num(x)} MB` : '–');
const budgetMB = (b: string) => {
  const m = /^(\d+(?:\.\d+)?)([KMGT])$/i.exec(b);
  return m ? (Number(m[1]) * { K: 1 / 1024, M: 1, G: 1024, T: 1024 * 1024 }[m[2]!.toUpperCase() as 'K' | 'M' | 'G' | 'T']) : NaN;
};

const rows: string[][] = [];
const growth: string[][] = [];
const threadRows: string[][] = [];
const perMillion = new Map<string, number>();
for (const k of KS) {
  log(`k = ${k}: writing the corpus`);
  const corpus = await writeCorpus(k);
  let ngrams = NaN;
  for (const budget of BUDGETS) {
    const kotobaRuns: Awaited<ReturnType<typeof runKotoba>>[] = [];
    const lmplzRuns: Run[] = [];
    for (let i = 0; i < rounds(k); i++) {
      kotobaRuns.push(await runKotoba(corpus.path, budget, THREADS));
      if (withLmplz) lmplzRuns.push(await runLmplz(corpus.path, budget));
    }
    const kotoba = medianRun(kotobaRuns);
    ngrams = kotoba.ngrams;
    const lmplz = withLmplz ? medianRun(lmplzRuns) : null;
    const sameBytes = lmplz !== null && [...kotobaRuns, ...lmplzRuns].every((r) => r.hash === lmplz.hash);
    for (const r of [lmplz, kotoba]) {
      if (!r) continue;
      const spm = r.m.seconds / (ngrams / 1e6);
      perMillion.set(`${r.tool} ${budget} ${k}`, spm);
      rows.push([
        String(k),
        num(corpus.tokens / 1e6) + ' M',
        num(ngrams / 1e6) + ' M',
        r.tool,
        budget,
        seconds(r.m.seconds),
        seconds(r.m.cpuSeconds),
        mb(r.m.peakMB),
        mb(r.m.peakMB - budgetMB(budget)),
        gb(r.tempBytes),
        num(spm, 3),
        r.tool === 'kotoba' && lmplz ? ratio(kotoba.m.seconds, lmplz.m.seconds) : '',
        r.tool === 'kotoba' && lmplz ? (sameBytes ? 'yes' : 'NO') : '',
      ]);
    }
  }
  if (THREADS > 1) {
    // The same run on one thread and on THREADS, in alternating pairs right after one another (a
    // slow minute then hits both sides alike), stage by stage: medians of the estimation thread's
    // clock (counting includes waiting for the text to be read) and of the wall.
    const budget = BUDGETS[0]!;
    const pairs = threadPairs(k);
    const one: Awaited<ReturnType<typeof runKotoba>>[] = [];
    const many: Awaited<ReturnType<typeof runKotoba>>[] = [];
    for (let i = 0; i < pairs; i++) {
      one.push(await runKotoba(corpus.path, budget, 1));
      many.push(await runKotoba(corpus.path, budget, THREADS));
    }
    const stage = (runs: typeof one, f: (r: (typeof one)[number]) => number) => median(runs.map(f));
    const cell = (name: string) => {
      const [a, b] = [stage(one, (r) => r.stages[name] ?? NaN), stage(many, (r) => r.stages[name] ?? NaN)];
      return [seconds(a), seconds(b), `${num(a / b, 2)}×`];
    };
    const sorting = (r: (typeof one)[number]) => (r.stages.count ?? 0) + (r.stages.initial ?? 0);
    const wall = (r: (typeof one)[number]) => r.m.seconds;
    threadRows.push([String(k), budget, String(pairs), ...cell('count'), ...cell('initial'), ...cell('write'), `${num(stage(one, sorting) / stage(many, sorting), 2)}×`, `${num(stage(one, wall) / stage(many, wall), 2)}×`]);
  }
  rmSync(corpus.path);
}
for (const budget of BUDGETS) {
  for (const tool of withLmplz ? ['lmplz', 'kotoba'] : ['kotoba']) {
    const cells = KS.map((k) => num(perMillion.get(`${tool} ${budget} ${k}`) ?? NaN, 3));
    const base = perMillion.get(`${tool} ${budget} ${KS.includes(10) ? 10 : KS[0]}`) ?? NaN;
    const last = perMillion.get(`${tool} ${budget} ${KS[KS.length - 1]}`) ?? NaN;
    growth.push([`${tool} ${budget}`, ...cells, `${num(last / base, 2)}×`]);
  }
}
cleanup();

const report = [
  `# Estimation at scale: kotoba train and lmplz`,
  '',
  `${today()}, ${machineDescription()}; ${pin.length ? `both pinned to ${THREADS} CPUs with taskset` : `${THREADS} threads for kotoba; lmplz runs its own threads`}. Order ${ORDER}, modified Kneser-Ney, corpus k = k copies of Penn Treebank train (words of copy i suffixed _i). One run each (at k = 1, the run of median wall among five of each tool, alternating), on a machine that may be shared; same ARPA bytes: every run's file against lmplz's.`,
  '',
  markdownTable(
    ['k', 'tokens', 'n-grams', 'tool', 'budget', 'wall', 'CPU', 'peak RSS', 'RSS − budget', 'temp disk', 's / M n-grams', 'wall kotoba / lmplz', 'same ARPA bytes'],
    rows,
  ),
  '',
  'Seconds per million n-grams, by k (linear growth: the last column, k = largest / k = 10, near 1):',
  '',
  markdownTable(['run', ...KS.map((k) => `k = ${k}`), 'growth'], growth),
  '',
  `kotoba train on 1 thread against ${THREADS}, stage by stage (--memory ${BUDGETS[0]}; medians over alternating pairs of runs (nine at k = 1, one at k = 100); seconds of the estimation thread's stages: counting and sorting the n-grams, which includes waiting for the text to be read, the initial probabilities with their two sorts, and formatting the ARPA file; then the counting-and-sorting stages together, and the whole run's wall):`,
  '',
  markdownTable(
    ['k', 'budget', 'pairs', 'count, 1', `count, ${THREADS}`, 'speed-up', 'initial, 1', `initial, ${THREADS}`, 'speed-up', 'write, 1', `write, ${THREADS}`, 'speed-up', 'count + initial', 'wall'],
    threadRows,
  ),
  '',
  'Targets (issue 7): kotoba wall ≤ 1.0× lmplz at the same budget; peak RSS ≤ budget + 200 MB; k = 100 completes with --memory 2G; s / M n-grams at k = 100 within 15% of k = 10; 2 threads ≥ 1.6× one on counting and sorting.',
  '',
].join('\n');
console.log(report);
if (!argv.includes('--no-save')) {
  const out = join(repoRoot, 'bench', 'results', 'scale.md');
  writeFileSync(out, report);
  log(`wrote ${out}`);
}
