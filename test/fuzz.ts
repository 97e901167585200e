/**
 * Seeded mutation fuzzing of the readers of untrusted files, reusable for any format.
 *
 * A format is a few lines (see {@link FuzzFormat}): valid files to start from, optional
 * format-aware mutations and crafted cases, the real loader, and what a loaded result must
 * satisfy. {@link fuzzSuite} registers one test per format; each runs its mutants in a worker
 * thread, so that a mutant that hangs is stopped and named instead of hanging the suite. Every
 * mutant must either load (and pass the format's check) or be refused with a KotobaError whose
 * message is one printable line — never another exception (the CLI's "internal error"), never
 * longer than the time limit. A sample of the mutants also goes through the CLI, which must exit
 * 0, or 1 with one line `kotoba: …` on stderr. A failure names the format, the seed, the mutant
 * and what was done to it, and keeps the mutant's bytes in a temporary file, so it reproduces.
 * KOTOBA_FUZZ_VERBOSE=1 prints why each refused mutant was refused; KOTOBA_FUZZ_SEED=N and
 * KOTOBA_FUZZ_COUNT=N run another, or a longer, campaign.
 *
 * Adding a format, in a test file:
 *
 *   fuzzSuite(import.meta.url, {
 *     kblm: async (dir) => ({ fileName: 'm.kblm', seeds: [bytesOfAModel], load: loadModel, check: (lm) => checkModel(lm, true, sentences) }),
 *   });
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { BOS, EOS, KotobaError, Random, scoreSentence, splitWords, type LanguageModel } from '../src/index.js';
import { cli, repoRoot } from './helpers.js';

/** A mutant and what was done to make it. */
export interface Mutant {
  bytes: Uint8Array;
  how: string;
}

/** One way to change a file. */
export type Mutation = (bytes: Uint8Array, m: Mutator) => Mutant;

/** A file format under test. */
export interface FuzzFormat {
  /** The name a mutant is written under (loaders look at the extension). */
  fileName: string;
  /** Valid files; each mutant starts from one of them. */
  seeds: Uint8Array[];
  /** Format-aware mutations, drawn as often as all the byte-level ones together. */
  mutations?: Mutation[];
  /** Hand-made cases, run first: the known ways in. With `path`, that path is loaded instead (a device, a pipe). */
  crafted?: (Mutant & { path?: string })[];
  /** Reads the file at `path` with the real loader. */
  load(path: string): Promise<unknown>;
  /** Assertions on what `load` returned (throw to fail). */
  check?(loaded: unknown): void;
  /** The CLI arguments that read the file at `path` (absent: no CLI sample). */
  cli?(path: string): string[];
}

/** Builds a format in `dir`, a temporary folder for its seeds and helper files. */
export type FormatFactory = (dir: string) => Promise<FuzzFormat>;

export interface FuzzOptions {
  /** Mutants per format, crafted cases included (default 300). */
  count?: number;
  seed?: number;
  /** The most one mutant may take, in ms (default 10 s: far above any, on a loaded machine). */
  timeLimit?: number;
  /** Mutants also run through the CLI per format, evenly spaced from the first (default 3). */
  cliSamples?: number;
}

// ---- mutations ------------------------------------------------------------------------------

/** Numbers that break readers: non-finite, out of range, not decimal, not whole, huge. */
export const EXTREME_NUMBERS = [
  'inf', '-inf', 'nan', 'NaN', 'Infinity', '1e309', '-1e309', '3.5e38', '-3.5e38', '1e38', '0x10', '1e-400', '-0',
  '0', '+5', '5', '-1', '2.5', '99', '1e9', '99999999999', '4294967296', '9007199254740993', '1.2.3', '1e', '--1', '',
];

/** JSON values of every type, extreme or wrong where a reader expects something else. */
export const EXTREME_JSON: unknown[] = [
  null, true, false, 0, -1, 2.5, 1e9, 1e308, -1e308, 2 ** 53, '', 'x', '\n\u001b[31m', '<s>', [], {}, [0], { a: 1 }, 'F64', '1e9',
];

const INTERESTING_BYTES = [0x00, 0xff, 0x0a, 0x0d, 0x09, 0x20, 0x2d, 0x30, 0x39, 0x5c, 0x7b, 0x7d, 0x22, 0x80, 0xc3, 0x1b];
const LATIN1 = new TextDecoder('latin1');
const NUMBER = /[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?/g;

function splice(b: Uint8Array, at: number, remove: number, insert: Uint8Array = new Uint8Array(0)): Uint8Array {
  const out = new Uint8Array(b.length - remove + insert.length);
  out.set(b.subarray(0, at));
  out.set(insert, at);
  out.set(b.subarray(at + remove), at + insert.length);
  return out;
}

/** Seeded choices for mutations. */
export class Mutator {
  private readonly rng: Random;
  constructor(seed: number) {
    this.rng = new Random(seed);
  }
  /** Uniform in [0, n). */
  int(n: number): number {
    return this.rng.int(Math.max(1, n));
  }
  pick<T>(a: readonly T[]): T {
    return a[this.int(a.length)]!;
  }
  /** A span length up to `max`: mostly a few bytes, sometimes many. */
  span(max: number): number {
    return Math.max(1, Math.min(max, this.int(2) ? 1 + this.int(8) : 1 + this.int(Math.max(1, max))));
  }
  /** One random byte-level mutation. */
  mutate(b: Uint8Array): Mutant {
    // A copy when b is a Node Buffer, whose slice() is a view: mutants never change their seed.
    return this.pick(BYTE_MUTATIONS)(b.constructor === Uint8Array ? b : new Uint8Array(b), this);
  }
}

/** Byte-level mutations that apply to any file. */
export const BYTE_MUTATIONS: Mutation[] = [
  function flipBits(b, m) {
    const out = b.slice();
    const n = 1 + m.int(4);
    const where: number[] = [];
    for (let k = 0; k < n && out.length > 0; k++) {
      const i = m.int(out.length);
      out[i]! ^= 1 << m.int(8);
      where.push(i);
    }
    return { bytes: out, how: `flip bits at ${where.join(', ')}` };
  },
  function setByte(b, m) {
    const out = b.slice();
    const i = m.int(out.length);
    const v = m.pick(INTERESTING_BYTES);
    if (out.length > 0) out[i] = v;
    return { bytes: out, how: `byte ${i} = 0x${v.toString(16)}` };
  },
  function truncate(b, m) {
    const n = m.int(b.length);
    return { bytes: b.slice(0, n), how: `truncate to ${n} bytes` };
  },
  function deleteSpan(b, m) {
    const at = m.int(b.length);
    const n = m.span(b.length - at);
    return { bytes: splice(b, at, Math.min(n, b.length - at)), how: `delete ${n} bytes at ${at}` };
  },
  function duplicateSpan(b, m) {
    const from = m.int(b.length);
    const n = Math.min(m.span(b.length - from), b.length - from);
    const to = m.int(b.length + 1);
    return { bytes: splice(b, to, 0, b.slice(from, from + n)), how: `copy ${n} bytes from ${from} to ${to}` };
  },
  function insertRandom(b, m) {
    const at = m.int(b.length + 1);
    const bytes = Uint8Array.from({ length: m.span(64) }, () => (m.int(2) ? m.pick(INTERESTING_BYTES) : m.int(256)));
    return { bytes: splice(b, at, 0, bytes), how: `insert ${bytes.length} bytes at ${at}` };
  },
  function replaceNumber(b, m) {
    const text = LATIN1.decode(b.subarray(0, 1 << 20));
    const found = [...text.matchAll(NUMBER)];
    if (found.length === 0) return BYTE_MUTATIONS[0]!(b, m);
    const hit = m.pick(found);
    const value = m.pick(EXTREME_NUMBERS);
    return { bytes: splice(b, hit.index!, hit[0].length, new TextEncoder().encode(value)), how: `number '${hit[0]}' at ${hit.index} → '${value}'` };
  },
  function shuffleLines(b, m) {
    const lines: Uint8Array[] = [];
    for (let start = 0; start < b.length; ) {
      let end = b.indexOf(0x0a, start);
      end = end < 0 ? b.length : end + 1;
      lines.push(b.subarray(start, end));
      start = end;
    }
    if (lines.length < 2) return BYTE_MUTATIONS[3]!(b, m);
    const i = m.int(lines.length);
    const j = m.int(lines.length);
    const op = m.int(3);
    if (op === 0) [lines[i], lines[j]] = [lines[j]!, lines[i]!];
    else if (op === 1) lines.splice(j, 0, lines[i]!);
    else lines.splice(i, 1);
    const out = new Uint8Array(lines.reduce((n, l) => n + l.length, 0));
    let at = 0;
    for (const l of lines) {
      out.set(l, at);
      at += l.length;
    }
    return { bytes: out, how: `${['swap', 'duplicate', 'delete'][op]} line ${i}${op === 2 ? '' : ` / ${j}`}` };
  },
  function hugeInteger(b, m) {
    // A length or count field set to something huge, at a random 4-aligned offset.
    return hugeIntegerAt(m.int(Math.max(1, b.length >> 2)) * 4)(b, m);
  },
];

/** Writes a huge little-endian integer (u32 or u64) at byte `at`: for formats with length fields there. */
export function hugeIntegerAt(at: number): Mutation {
  return (b, m) => {
    const out = b.slice();
    const view = new DataView(out.buffer);
    const values = [0xffffffffffffffffn, 1n << 62n, 1n << 53n, 0xffffffffn, 0x7fffffffn, BigInt(b.length), BigInt(b.length) + 1n, 0n];
    const v = m.pick(values);
    if (at + 8 <= out.length && m.int(2)) view.setBigUint64(at, v, true);
    else if (at + 4 <= out.length) view.setUint32(at, Number(v & 0xffffffffn), true);
    return { bytes: out, how: `integer at ${at} = ${v}` };
  };
}

/**
 * One mutation of a JSON value, by a random walk from the root: at each level it stops (and
 * changes that value) or goes into a random member — into strings that hold JSON too, so that
 * values nested in metadata strings are reached. Returns the new value and its path.
 */
export function mutateJson(value: unknown, m: Mutator): { value: unknown; how: string } {
  const nested = typeof value === 'string' ? parseNested(value) : undefined;
  if (nested !== undefined && m.int(4) !== 0) {
    const inner = mutateJson(nested, m);
    return { value: JSON.stringify(inner.value), how: `(json)${inner.how}` };
  }
  const keys = value !== null && typeof value === 'object' ? Object.keys(value) : [];
  if (keys.length > 0 && m.int(4) !== 0) {
    const key = m.pick(keys);
    const inner = mutateJson((value as Record<string, unknown>)[key], m);
    const copy: Record<string, unknown> | unknown[] = Array.isArray(value) ? value.slice() : { ...(value as object) };
    (copy as Record<string, unknown>)[key] = inner.value;
    return { value: copy, how: `.${key}${inner.how}` };
  }
  return changeJsonHere(value, m);
}

function parseNested(text: string): unknown {
  if (!/^\s*[[{]/.test(text)) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function changeJsonHere(value: unknown, m: Mutator): { value: unknown; how: string } {
  const op = m.int(4);
  if (op === 0 && Array.isArray(value) && value.length > 0) {
    const copy = value.slice();
    const i = m.int(copy.length);
    if (m.int(2)) copy.splice(i, 1);
    else copy.splice(i, 0, copy[m.int(copy.length)]);
    return { value: copy, how: ` delete or repeat element ${i}` };
  }
  if (op === 0 && value !== null && typeof value === 'object' && Object.keys(value).length > 0) {
    const copy = { ...(value as Record<string, unknown>) };
    const key = m.pick(Object.keys(copy));
    delete copy[key];
    return { value: copy, how: ` delete key ${key}` };
  }
  if (op === 1 && typeof value === 'number') {
    const v = m.pick([value + 1, value - 1, -value, value * 1000, value + 0.5, value * 2 ** 31]);
    return { value: v, how: ` = ${v}` };
  }
  if (op === 2 && typeof value === 'string') {
    const v = m.int(2) ? value + value.slice(0, 1) : 'x'.repeat(100_000);
    return { value: v, how: ` = string of ${v.length}` };
  }
  const v = m.pick(EXTREME_JSON);
  return { value: v, how: ` = ${JSON.stringify(v)}` };
}

// ---- checks ---------------------------------------------------------------------------------

/**
 * What every loaded model must satisfy, on `sentences` and an unseen one: every log10 score
 * finite or −∞, every next-word probability finite and ≥ 0 and equal to 10^score, `<s>` never
 * predicted; with `normalized`, also every score ≤ 0 and every distribution summing to 1.
 */
export function checkModel(loaded: unknown, normalized: boolean, sentences: readonly string[]): void {
  const lm = loaded as LanguageModel<unknown>;
  const V = lm.vocab.size;
  const dist = new Float64Array(V);
  for (const line of [...sentences, 'words nobody has seen', '']) {
    const ids = splitWords(line).map((w) => lm.vocab.id(w));
    const { total, words } = scoreSentence(lm, ids);
    for (const w of words) {
      assert.ok(w.log10 === -Infinity || Number.isFinite(w.log10), `log10 ${w.log10} for '${w.word}'`);
      if (normalized) assert.ok(w.log10 <= 1e-6, `log10 ${w.log10} > 0`);
    }
    assert.ok(total === -Infinity || Number.isFinite(total), `sentence total ${total}`);
    if (!lm.distribution) continue;
    let state = lm.begin();
    for (const id of [...ids.slice(0, 2), EOS]) {
      lm.distribution(state, dist);
      let sum = 0;
      for (let w = 0; w < V; w++) {
        assert.ok(Number.isFinite(dist[w]!) && dist[w]! >= 0, `p = ${dist[w]} for word ${w}`);
        sum += dist[w]!;
      }
      assert.equal(dist[BOS], 0, '<s> is never predicted');
      if (normalized) assert.ok(Math.abs(sum - 1) < 1e-4, `the distribution sums to ${sum}`);
      const r = lm.score(state, id);
      const p = Math.pow(10, r.log10);
      assert.ok(Math.abs(p - dist[id]!) <= 1e-4 * Math.max(1, p), `p(${id}) = ${dist[id]} by distribution, ${p} by score`);
      state = r.next;
    }
  }
}

// ---- running --------------------------------------------------------------------------------

type Outcome = 'loaded' | 'refused';

type Message =
  | { type: 'start'; i: number; how: string; dir: string }
  | { type: 'done'; i: number; outcome: Outcome; ms: number }
  | { type: 'fail'; i: number; how: string; error: string; file: string }
  | { type: 'cli'; args: string[]; outcome: Outcome; how: string; code: number | null; stderr: string }
  | { type: 'end'; dir: string; loaded: number; refused: number; slowest: number };

/** Checks that an error is a clean refusal: a KotobaError, one printable line, not "internal". */
export function assertCleanError(e: unknown): void {
  if (!(e instanceof KotobaError)) throw new Error(`not a KotobaError: ${(e as Error)?.stack ?? String(e)}`);
  assert.doesNotMatch(e.message, /[\u0000-\u001f\u007f]/, 'the message is one line of printable text');
  // Paths are echoed, and may be as long as the system allows (4096 bytes), but no more.
  assert.ok(e.message.length < 16_384, `a message of ${e.message.length} characters`);
  assert.doesNotMatch(e.message, /internal error/);
}

async function runWorker(name: string, factory: FormatFactory, count: number, seed: number, cliSamples: number, timeLimit: number): Promise<void> {
  const post = (msg: Message) => parentPort!.postMessage(msg);
  const dir = mkdtempSync(join(tmpdir(), `kotoba-fuzz-${name}-`));
  const format = await factory(dir);
  const seeds = format.seeds.map((s) => new Uint8Array(s)); // plain copies (a Buffer's slice() is a view)
  const m = new Mutator(seed);
  const crafted = format.crafted ?? [];
  const mutations = format.mutations ?? [];
  const path = join(dir, format.fileName);
  const cliEvery = Math.max(1, Math.floor(count / Math.max(1, cliSamples)));
  let loaded = 0;
  let refused = 0;
  let slowest = 0;
  for (let i = 0; i < count; i++) {
    let mutant: Mutant;
    let target = path;
    if (i < crafted.length) {
      mutant = { bytes: crafted[i]!.bytes, how: `crafted: ${crafted[i]!.how}` };
      target = crafted[i]!.path ?? path;
    } else {
      const base = m.pick(seeds);
      mutant = mutations.length > 0 && m.int(2) ? m.pick(mutations)(base, m) : m.mutate(base);
    }
    post({ type: 'start', i, how: mutant.how, dir });
    if (target === path) writeFileSync(path, mutant.bytes);
    const t0 = performance.now();
    let outcome: Outcome;
    try {
      const result = await format.load(target);
      format.check?.(result);
      outcome = 'loaded';
    } catch (e) {
      try {
        assertCleanError(e);
        outcome = 'refused';
        if (process.env.KOTOBA_FUZZ_VERBOSE) process.stderr.write(`${name} ${i} (${mutant.how}): ${(e as Error).message}\n`);
      } catch (why) {
        const keep = join(dir, `failure-${i}-${format.fileName}`);
        writeFileSync(keep, mutant.bytes);
        post({ type: 'fail', i, how: mutant.how, error: (why as Error).message, file: keep });
        continue;
      }
    }
    const ms = performance.now() - t0;
    slowest = Math.max(slowest, ms);
    if (outcome === 'loaded') loaded++;
    else refused++;
    post({ type: 'done', i, outcome, ms });
    if (format.cli && cliSamples > 0 && i % cliEvery === 0) {
      // On the same file, before the next mutant replaces it (the main thread's timer still runs).
      const args = format.cli(target);
      const run = spawnSync(process.execPath, [cli, ...args], { cwd: repoRoot, env: { ...process.env, KOTOBA_DEBUG: '' }, encoding: 'utf8', stdio: ['ignore', 'ignore', 'pipe'], timeout: timeLimit });
      post({ type: 'cli', args, outcome, how: mutant.how, code: run.status, stderr: run.stderr });
    }
  }
  post({ type: 'end', dir, loaded, refused, slowest });
}

/**
 * Registers one test per format (in the main thread), or runs one format's mutants (in the
 * worker that test starts on this same module). Call it at the top level of a test file with
 * that file's `import.meta.url`.
 */
export function fuzzSuite(moduleUrl: string, formats: Record<string, FormatFactory>, options: FuzzOptions = {}): void {
  // KOTOBA_FUZZ_SEED and KOTOBA_FUZZ_COUNT run other and longer campaigns than the suite's.
  const count = Number(process.env.KOTOBA_FUZZ_COUNT) || options.count || 300;
  const seed = Number(process.env.KOTOBA_FUZZ_SEED) || options.seed || 1;
  const timeLimit = options.timeLimit ?? 10_000;
  const cliSamples = options.cliSamples ?? 3;
  if (!isMainThread) {
    const job = workerData as { fuzz?: string } | null;
    if (job?.fuzz && formats[job.fuzz]) void runWorker(job.fuzz, formats[job.fuzz]!, count, seed, cliSamples, timeLimit);
    return;
  }
  for (const name of Object.keys(formats)) {
    test(`fuzz ${name}: ${count} seeded mutants (seed ${seed}) load cleanly or are refused in one line`, async (t) => {
      const failures: string[] = [];
      const cliRuns: Extract<Message, { type: 'cli' }>[] = [];
      const end = await new Promise<Extract<Message, { type: 'end' }>>((resolve, reject) => {
        const worker = new Worker(new URL(moduleUrl), { workerData: { fuzz: name } });
        let current: Extract<Message, { type: 'start' }> | null = null;
        let timer: NodeJS.Timeout | undefined;
        const stop = (error: Error) => {
          clearTimeout(timer);
          void worker.terminate();
          reject(error);
        };
        worker.on('message', (msg: Message) => {
          clearTimeout(timer);
          if (msg.type === 'start') {
            current = msg;
            timer = setTimeout(() => stop(new Error(`${name}: mutant ${msg.i} (${msg.how}, in ${msg.dir}) did not finish in ${timeLimit} ms (seed ${seed})`)), timeLimit);
          } else if (msg.type === 'fail') {
            failures.push(`mutant ${msg.i} (${msg.how}), kept in ${msg.file}: ${msg.error}`);
          } else if (msg.type === 'cli') {
            cliRuns.push(msg);
          } else if (msg.type === 'end') {
            void worker.terminate();
            resolve(msg);
          }
        });
        worker.on('error', (e) => stop(new Error(`${name}: the worker failed${current ? ` at mutant ${current.i} (${current.how})` : ''}: ${e.stack ?? e.message}`)));
        worker.on('exit', (code) => {
          if (code !== 0 && code !== 1) stop(new Error(`${name}: the worker exited with ${code}${current ? ` at mutant ${current.i} (${current.how})` : ''}`));
        });
      });
      try {
        assert.deepEqual(failures.slice(0, 5), [], `${failures.length} of ${count} mutants of ${name} (seed ${seed}) failed`);
        for (const { args, outcome, how, code, stderr } of cliRuns) {
          const what = `kotoba ${args.join(' ')} (${how})`;
          if (outcome === 'loaded') assert.equal(code, 0, `${what}: exit 0, as the loader accepted it; stderr: ${stderr}`);
          else {
            assert.equal(code, 1, `${what}: exit 1; stderr: ${stderr}`);
            assert.match(stderr, /^kotoba: [^\n]*\n$/, `${what}: one line on stderr`);
            assert.doesNotMatch(stderr, /internal error/, what);
          }
        }
        t.diagnostic(`${name}: ${end.loaded} loaded, ${end.refused} refused, ${cliRuns.length} through the CLI; slowest ${end.slowest.toFixed(0)} ms`);
        // A fuzz whose every mutant is refused at the first byte would test nothing deeper.
        assert.ok(end.loaded > 0 && end.refused > 0, `${name}: both outcomes occur (${end.loaded} loaded, ${end.refused} refused)`);
      } finally {
        if (failures.length === 0) rmSync(end.dir, { recursive: true, force: true });
      }
    });
  }
}
