/**
 * The command line's options as one consistent whole: every option is the command's own (no
 * prototype names), every number has a declared range checked by the parser, every command
 * declares its positional arguments, every short flag means one thing in every command, scores
 * print as KenLM prints them, and every file written is reported on stderr.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, truncateSync, writeFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import { checkPositionals, formatOptions, parseArgs, rangeText, type OptionSpec } from '../src/cli/args.js';
import { commands, shortFlags } from '../src/cli/commands.js';
import { formatCount } from '../src/cli/common.js';
import { relaunchParentBytes, smallJob } from '../src/cli/relaunch.js';
import { KotobaError } from '../src/errors.js';
import { formatFloat32 } from '../src/index.js';
import { assertCleanFailure, LECTURE, repoRoot, runCli, tempDir } from './helpers.js';

const corpus = join(repoRoot, 'corpus', 'wiki.valid.txt');
const NUMERIC = new Set(['number', 'integer', 'bytes', 'numbers', 'integers']);
/** Numeric options that take any finite value by design. */
const UNBOUNDED = new Set(['rerank --weight']);

const hasBound = (s: OptionSpec) => s.min !== undefined || s.max !== undefined || s.above !== undefined || s.below !== undefined;
const rejects = (fn: () => unknown, pattern: RegExp) => assert.throws(fn, (e: unknown) => e instanceof KotobaError && pattern.test(e.message));

test('counts print with thousands separators exactly as toLocaleString(\'en-US\') prints them', () => {
  for (const n of [0, 7, 12, 999, 1000, 2317235, 100000, 999999, 1000000, -1, -1234, -999999, 2 ** 53 - 1, 1.5, -0, 1e21, NaN, Infinity]) {
    assert.equal(formatCount(n), n.toLocaleString('en-US'), String(n));
  }
});

test('option names are looked up among the command’s own: --constructor, --toString, --__proto__ are unknown', async () => {
  for (const c of commands) {
    for (const name of ['constructor', 'toString', '__proto__', 'hasOwnProperty', 'valueOf']) {
      rejects(() => parseArgs([`--${name}`, '1'], c), new RegExp(`unknown option --${name}`));
      rejects(() => parseArgs([`--${name}=1`], c), new RegExp(`unknown option --${name}`));
    }
  }
  // End to end: before any file is opened.
  assertCleanFailure(await runCli(['ppl', '--constructor', '1', 'model.arpa']), /unknown option --constructor \(see 'kotoba ppl --help'\)/);
  assertCleanFailure(await runCli(['train', '--__proto__', '1', '-o', 'x.arpa']), /unknown option --__proto__/);
});

test('every command declares its positional arguments: a missing one or an extra one is an error', async () => {
  for (const c of commands) {
    const { names, required, repeats } = c.positionals;
    const args = (n: number) => Array.from({ length: n }, (_, i) => `arg${i}`);
    assert.doesNotThrow(() => checkPositionals(args(required), c), c.name);
    if (required > 0) rejects(() => checkPositionals(args(required - 1), c), new RegExp(`^missing ${names[required - 1]} \\(usage: kotoba ${c.name}`));
    if (repeats) assert.doesNotThrow(() => checkPositionals(args(names.length + 3), c));
    else rejects(() => checkPositionals(args(names.length + 1), c), new RegExp(`^unexpected argument 'arg${names.length}'`));
  }
  // End to end: an extra file is no longer ignored silently.
  const { dir, cleanup } = tempDir();
  try {
    const text = join(dir, 'a.txt');
    writeFileSync(text, LECTURE.join('\n') + '\n');
    assertCleanFailure(await runCli(['ppl', 'model.arpa', text, text]), /unexpected argument '.*a\.txt' \(usage: kotoba ppl MODEL \[FILE\|-\]\)/);
    assertCleanFailure(await runCli(['info', 'model.kblm', 'extra']), /unexpected argument 'extra'/);
    assertCleanFailure(await runCli(['generate', 'model.kblm', 'the', 'game']), /unexpected argument 'the' \(give the start of the sentences with --prefix/);
    assertCleanFailure(await runCli(['convert', 'model.arpa']), /missing OUT \(usage: kotoba convert .*IN OUT\)/);
  } finally {
    cleanup();
  }
});

test('every numeric option has a declared range, enforced by the parser and shown in --help', async () => {
  for (const c of commands) {
    const help = formatOptions(c.options);
    for (const [name, spec] of Object.entries(c.options)) {
      if (!NUMERIC.has(spec.type)) continue;
      const label = `${c.name} --${name}`;
      assert.ok(hasBound(spec) || UNBOUNDED.has(label), `${label} has no range`);
      if (!hasBound(spec)) continue;
      assert.ok(help.includes(`[${rangeText(spec)}]`), `${label}: range in the help`);
      // Just outside each bound: an error naming the option and its range.
      const outside: number[] = [];
      if (spec.min !== undefined) outside.push(spec.min - (spec.type === 'number' || spec.type === 'numbers' ? 1e-9 * Math.max(1, Math.abs(spec.min)) : 1));
      if (spec.above !== undefined) outside.push(spec.above);
      if (spec.max !== undefined) outside.push(spec.max + 1);
      if (spec.below !== undefined) outside.push(spec.below);
      for (const v of outside) rejects(() => parseArgs([`--${name}`, String(v)], c), new RegExp(`^--${name} must be .*, not ${String(v).replace('.', '\\.')} `));
      // Inside: accepted as given.
      const inside = spec.min ?? (spec.above !== undefined ? spec.above + 1 : spec.max!);
      const parsed = parseArgs([`--${name}`, String(inside)], c).options[name];
      assert.deepEqual(parsed, spec.type === 'numbers' || spec.type === 'integers' ? [inside] : inside, label);
      if (spec.type === 'integer' || spec.type === 'integers') rejects(() => parseArgs([`--${name}`, `${inside}.5`], c), new RegExp(`^--${name} must be an integer`));
    }
  }
  const h = await runCli(['train', '--help']);
  assert.match(h.stdout, /\n {2}-n, --order N +n-gram order.* \[integer 1 ≤ N ≤ 255\]\n/);
  assert.match(h.stdout, /\n {6}--dropout P +.* \[0 ≤ P < 1\]\n/);
});

test('numbers are decimal: no hex, no Infinity, no overflow, no empty value', async () => {
  const train = commands.find((c) => c.name === 'train')!;
  for (const bad of ['0x10', 'Infinity', '1e309', 'NaN', '', ' ', '3a', '1,5']) {
    rejects(() => parseArgs(['--lr', bad], train), /--lr must be a number, not/);
  }
  assert.equal(parseArgs(['--lr', '1e-3'], train).options.lr, 0.001);
  assert.equal(parseArgs(['--lr=.5'], train).options.lr, 0.5);
  const ppl = commands.find((c) => c.name === 'ppl')!;
  assert.equal(parseArgs(['--max-line-bytes', '1M'], ppl).options['max-line-bytes'], 2 ** 20);
  assert.equal(parseArgs(['--max-line-bytes', '1.5k'], ppl).options['max-line-bytes'], 1536);
  rejects(() => parseArgs(['--max-line-bytes', '1X'], ppl), /must be a number of bytes \(e\.g\. 1048576 or 1M\)/);
  rejects(() => parseArgs(['--max-line-bytes', '1G'], ppl), /--max-line-bytes must be a number of bytes 1 ≤ N ≤ \d+, not 1G/);
  assertCleanFailure(await runCli(['generate', '--count', '0x2', 'm.kblm']), /--count must be a number, not '0x2'/);
});

test('out-of-range values end to end: --discount 5 and -1, --max-vocab 0, --batch 0, --temperature -1 are one-line errors and write nothing', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const out = join(dir, 'm.arpa');
    assertCleanFailure(await runCli(['train', '--smoothing', 'abs', '--discount', '5', '-o', out, corpus]), /--discount must be 0 ≤ D ≤ 1, not 5 \(see 'kotoba train --help'\)/);
    assertCleanFailure(await runCli(['train', '--smoothing', 'abs', '--discount', '-1', '-o', out, corpus]), /--discount must be 0 ≤ D ≤ 1, not -1/);
    assertCleanFailure(await runCli(['train', '--max-vocab', '0', '-o', out, corpus]), /--max-vocab must be an integer N ≥ 4, not 0/);
    assertCleanFailure(await runCli(['train', '--model', 'rnn', '--batch', '0', '-o', join(dir, 'r.safetensors'), corpus]), /--batch must be an integer 1 ≤ N ≤ 65536, not 0/);
    assertCleanFailure(await runCli(['generate', '--temperature', '-1', 'm.kblm']), /--temperature must be T ≥ 0, not -1/);
    assert.deepEqual(readdirSync(dir), [], 'nothing written');
  } finally {
    cleanup();
  }
});

test('train: an option of another model family or another smoother is an error, not ignored', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const out = join(dir, 'm.arpa');
    assertCleanFailure(await runCli(['train', '--hidden', '100', '-o', out, corpus]), /--hidden does not apply to n-gram models \(it is an option of --model ffnn, rnn, gru, lstm, transformer\)/);
    assertCleanFailure(await runCli(['train', '--seed', '1', '-o', out, corpus]), /--seed does not apply to n-gram models/);
    assertCleanFailure(await runCli(['train', '--discount', '0.5', '-o', out, corpus]), /--discount does not apply to --smoothing mkn \(it is an option of --smoothing abs\)/);
    assertCleanFailure(await runCli(['train', '--model', 'rnn', '--smoothing', 'wb', '-o', join(dir, 'r.safetensors'), corpus]), /--smoothing does not apply to the rnn model/);
    assert.ok(!existsSync(out));
  } finally {
    cleanup();
  }
});

test('one meaning per flag: a short flag stands for the same option, and an option has the same type and range, in every command', async () => {
  const byShort = new Map<string, string>();
  const byLong = new Map<string, { spec: OptionSpec; command: string }>();
  for (const c of commands) {
    for (const [name, spec] of Object.entries(c.options)) {
      if (spec.short) {
        const other = byShort.get(spec.short);
        assert.ok(other === undefined || other === name, `-${spec.short} is --${other} elsewhere but --${name} in ${c.name}`);
        byShort.set(spec.short, name);
      }
      const seen = byLong.get(name);
      if (seen) {
        for (const key of ['type', 'short', 'min', 'max', 'above', 'below'] as const) {
          assert.equal(spec[key], seen.spec[key], `--${name}: ${key} differs between ${seen.command} and ${c.name}`);
        }
      } else byLong.set(name, { spec, command: c.name });
    }
  }
  assert.deepEqual(shortFlags(), byShort);
  assert.equal(byShort.get('n'), 'order');
  assert.equal(byShort.get('k'), 'top-k');
  assert.equal(byShort.get('t'), 'threshold');
  // --seed where random numbers are drawn, and nowhere else.
  assert.deepEqual(commands.filter((c) => c.options.seed).map((c) => c.name).sort(), ['demo', 'generate', 'train']);
  // --max-line-bytes where a text file is read, and nowhere else.
  assert.deepEqual(commands.filter((c) => c.options['max-line-bytes']).map((c) => c.name).sort(), ['count', 'interpolate', 'ppl', 'rerank', 'score', 'sweep', 'train']);
  // The old spellings: a clear error where the flag now means something else, a warning where it does not.
  const generate = commands.find((c) => c.name === 'generate')!;
  rejects(() => parseArgs(['-n', '3'], generate), /^-n is no longer short for --count in kotoba generate \(write --count/);
  rejects(() => parseArgs(['-t', '0.7'], generate), /^-t is no longer short for --temperature in kotoba generate \(write --temperature/);
  for (const name of ['rerank', 'next']) {
    const p = parseArgs(['--top', '2'], commands.find((c) => c.name === name)!);
    assert.equal(p.options['top-k'], 2);
    assert.deepEqual(p.warnings, ['--top is deprecated: write --top-k']);
  }
  const h = await runCli(['--help']);
  assert.match(h.stdout, /\n {2}-S --memory, -T --temp-dir, -h --help, -k --top-k, -n --order, -o --output, /);
});

test('numbers print as KenLM prints them: a sentence total is the same float32 digits with or without --words', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const model = join(dir, 'm.arpa');
    assert.equal((await runCli(['train', '-q', '--order', '3', '-o', model, corpus])).code, 0);
    const input = 'the game was released in 2011 .\nzzqx the\n';
    const totals = (await runCli(['score', model], { input })).stdout.trim().split('\n');
    const words = (await runCli(['score', '--words', model], { input })).stdout.trim().split('\n');
    assert.deepEqual(totals, words.map((l) => /Total: (\S+) OOV/.exec(l)![1]));
    for (const t of totals) {
      assert.equal(formatFloat32(Math.fround(Number(t))), t, 'the shortest digits of a float32');
    }
  } finally {
    cleanup();
  }
});

test('every command that writes a file says so on stderr, with its size; --quiet says nothing', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const arpa = join(dir, 'm.arpa');
    const size = '[\\d.]+ (bytes|kB|MB)';
    const t = await runCli(['train', '--order', '2', '-o', arpa, corpus]);
    assert.equal(t.code, 0, t.stderr);
    assert.match(t.stderr, new RegExp(`^wrote .*m\\.arpa: order 2, [\\d,]+ n-grams, ${size}\\n$`));
    const c = await runCli(['convert', arpa, join(dir, 'm.kblm')]);
    assert.match(c.stderr, new RegExp(`^wrote .*m\\.kblm: binary \\(probing\\), order 2, [\\d,]+ n-grams, ${size}\\n$`));
    const p = await runCli(['prune', '-t', '1e-6', arpa, '-o', join(dir, 'p.arpa')]);
    assert.match(p.stderr, new RegExp(`^wrote .*p\\.arpa: order 2, [\\d,]+ n-grams \\(of [\\d,]+\\), ${size}\\n$`));
    const i = await runCli(['interpolate', arpa, join(dir, 'm.kblm'), '-o', join(dir, 'mix.json'), '--arpa', join(dir, 'mix.arpa')]);
    assert.equal(i.code, 0, i.stderr);
    assert.match(i.stderr, new RegExp(`^wrote .*mix\\.json: mixture of 2 models, ${size}\\nwrote .*mix\\.arpa: order 2, [\\d,]+ n-grams, ${size}\\n$`));
    assert.doesNotMatch(i.stdout, /wrote/, 'stdout has the results only');
    const q = await runCli(['train', '-q', '--order', '2', '-o', join(dir, 'q.arpa'), corpus]);
    assert.equal(q.code, 0);
    assert.equal(q.stderr, '');
  } finally {
    cleanup();
  }
});

test("a relaunched command takes its parent's resident memory out of the memory budget (Linux)", { skip: process.platform !== 'linux' && 'Linux only (/proc)' }, () => {
  assert.equal(relaunchParentBytes(), 0, 'a command that was not relaunched has no parent to count');
  // A child told it was relaunched reads this process' resident memory.
  const url = new URL('../src/cli/relaunch.js', import.meta.url).href;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', `import { relaunchParentBytes } from '${url}'; console.log(relaunchParentBytes());`], {
    env: { ...process.env, KOTOBA_RELAUNCHED: '1' },
    encoding: 'utf8',
  });
  assert.equal(r.status, 0, r.stderr);
  const bytes = Number(r.stdout.trim());
  const rss = process.memoryUsage().rss;
  assert.ok(bytes > rss / 4 && bytes < rss * 4, `the parent's ${bytes} bytes, where this process has ${rss} resident`);
});

test('the command lines that estimate an n-gram model say so (the executable relaunches them under the malloc setting unless they are small)', () => {
  const cases: [string[], string[] | null | false][] = [
    [['train', '-o', 'm.arpa', 'text'], ['text']],
    [['train', '--model', 'ngram', '-o', 'm.arpa', 'a', 'b'], ['a', 'b']],
    [['train', '--model=ngram', '-o', 'm.arpa'], null],
    [['train', '-o', 'm.arpa', 'a', '-'], null],
    [['train', '--from-counts', '-o', 'm.arpa', 'a.counts'], null],
    [['count', '--order', '3', '-o', 'a.counts', 'text'], ['text']],
    [['train', '--model', 'lstm', '-o', 'm.safetensors', 'text'], false],
    [['train', '--model=transformer', '-o', 'm.safetensors', 'text'], false],
    [['ppl', 'm.arpa', 'text'], false],
    [['sweep', 'text'], false],
  ];
  for (const [[name, ...rest], expected] of cases) {
    const command = commands.find((c) => c.name === name)!;
    const job = command.estimation?.(parseArgs(rest, command)) ?? null;
    const what = [name, ...rest].join(' ');
    if (expected === false) assert.equal(job, null, what);
    else assert.deepEqual(job?.texts, expected, what);
  }
  const command = commands.find((c) => c.name === 'train')!;
  assert.deepEqual(command.estimation!(parseArgs(['-n', '5', '-S', '2G', '-o', 'm.arpa', 'a'], command)), { texts: ['a'], order: 5, memory: '2G' });
});

test('a small estimation runs without relaunching: plain regular files whose 4·N² bytes per byte fit the budget twice, or with 256 MiB to spare', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const text = join(dir, 'a.txt');
    writeFileSync(text, 'a b c\n'.repeat(1000)); // 6,000 bytes
    const gz = join(dir, 'a.txt.gz');
    writeFileSync(gz, gzipSync('a b c\n'));
    const folder = join(dir, 'folder');
    mkdirSync(folder);
    const job = (texts: string[] | null, order: number, memory?: string) => smallJob({ texts, order, memory });
    assert.equal(await job([text], 5, '1G'), true);
    assert.equal(await job([text, text], 5, '1G'), true);
    // 8 · 5² · 6,000 bytes = 1.2 MB: a budget of 1M is too small, 2M is not.
    assert.equal(await job([text], 5, '1M'), false);
    assert.equal(await job([text], 5, '2M'), true);
    assert.equal(await job([text], 10, '2M'), false);
    // 100 · 3,000,000 bytes = 286.1 MiB: twice that is 572.2 MiB, with 256 MiB to spare 542.1 MiB.
    const big = join(dir, 'big.txt');
    writeFileSync(big, '');
    truncateSync(big, 3_000_000);
    assert.equal(await job([big], 5, '580M'), true);
    assert.equal(await job([big], 5, '560M'), true, 'the 256 MiB decides');
    assert.equal(await job([big], 5, '540M'), false);
    assert.equal(await job([gz], 3, '1G'), false, 'gzipped: its text may be much larger');
    assert.equal(await job([text, folder], 3, '1G'), false, 'not a regular file');
    assert.equal(await job([join(dir, 'missing.txt')], 3, '1G'), false, 'the child reports it');
    assert.equal(await job(null, 3, '1G'), false, 'standard input, or count files');
    assert.equal(await job([text], 3, 'lots'), false, 'the child reports the bad size');
    if (process.platform === 'linux') assert.equal(await job(['/dev/null'], 3, '1G'), false, 'a device');
  } finally {
    cleanup();
  }
});
