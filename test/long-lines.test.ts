/**
 * Very long lines: a line is read in time linear in its length and memory bounded by it, and a
 * line longer than `--max-line-bytes` (default 64 MiB) is one error naming the file and the
 * line — so that a file with no newline at all, such as a gzip bomb of NUL bytes, ends quickly.
 */
import assert from 'node:assert/strict';
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { KotobaError } from '../src/errors.js';
import { estimate } from '../src/index.js';
import { DEFAULT_MAX_LINE_BYTES, readCorpus, readLines, saveNgramModel } from '../src/node/index.js';
import { LECTURE, repoRoot, runCli, tempDir } from './helpers.js';

/** Words of the embedded corpus, repeated up to `bytes` bytes: one line, or lines of 20 words. */
async function corpusWords(bytes: number): Promise<string[]> {
  const words: string[] = [];
  let size = 0;
  const source: string[] = [];
  for await (const line of readLines(join(repoRoot, 'corpus', 'wiki.valid.txt'))) source.push(...line.split(' ').filter(Boolean));
  for (let i = 0; size < bytes; i++) {
    const w = source[i % source.length]!;
    words.push(w);
    size += w.length + 1;
  }
  return words;
}

const MESSAGE = (file: string, line: number, limit: number) =>
  new RegExp(`^kotoba: ${file}:${line}: line longer than ${limit.toLocaleString('en-US')} bytes \\(put one sentence per line, or raise the limit with --max-line-bytes\\)\\n$`);

test('a line longer than --max-line-bytes is one error naming the file and line, for every command that reads text; nothing is written', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const model = join(dir, 'm.arpa');
    const small = join(dir, 'small.txt');
    writeFileSync(small, LECTURE.join('\n') + '\n');
    assert.equal((await runCli(['train', '-q', '--order', '2', '-o', model, small])).code, 0);
    const long = join(dir, 'long.txt');
    const text = `${LECTURE[0]}\n${'私 は '.repeat(300_000)}\n${LECTURE[1]}\n`; // line 2: 2.4 MB
    writeFileSync(long, text);
    const limit = ['--max-line-bytes', '1M'];
    const out = join(dir, 'out.arpa');
    for (const args of [['train', ...limit, '-o', out, long], ['ppl', ...limit, model, long], ['rerank', ...limit, model, long]]) {
      const r = await runCli(args);
      assert.notEqual(r.code, 0, args.join(' '));
      assert.match(r.stderr, MESSAGE('.*long\\.txt', 2, 2 ** 20), args.join(' '));
    }
    // From standard input, and for the training file of a neural model.
    assert.match((await runCli(['score', ...limit, model], { input: text })).stderr, MESSAGE('<stdin>', 2, 2 ** 20));
    assert.match((await runCli(['train', '--model', 'rnn', ...limit, '-o', join(dir, 'r.safetensors'), long])).stderr, MESSAGE('.*long\\.txt', 2, 2 ** 20));
    assert.deepEqual(readdirSync(dir).sort(), ['long.txt', 'm.arpa', 'small.txt'], 'no output, no temporary file');
    // A line of exactly the limit is accepted; one byte more is not.
    const exact = join(dir, 'exact.txt');
    writeFileSync(exact, `a b\n${'x'.repeat(1000)}\r\n`);
    assert.equal((await runCli(['ppl', '--max-line-bytes', '1001', model, exact])).code, 0, 'CR counted, newline not');
    assert.match((await runCli(['ppl', '--max-line-bytes', '1000', model, exact])).stderr, MESSAGE('.*exact\\.txt', 2, 1000));
    // With the limit raised, the long line is a sentence like any other.
    const ok = await runCli(['ppl', '--json', '--max-line-bytes', '4M', model, long]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(JSON.parse(ok.stdout).tokens, 6 + 1 + 600_000 + 1 + 7 + 1);
  } finally {
    cleanup();
  }
});

test('a gzip bomb of NUL bytes ends at the line limit: the default 64 MiB in the library, --max-line-bytes in the CLI', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const bomb = join(dir, 'bomb.txt.gz');
    writeFileSync(bomb, gzipSync(Buffer.alloc(DEFAULT_MAX_LINE_BYTES + 2 ** 20), { level: 9 })); // 65 MiB of NULs in 65 kB
    assert.equal(DEFAULT_MAX_LINE_BYTES, 64 * 2 ** 20);
    await assert.rejects(
      (async () => {
        for await (const line of readLines(bomb)) assert.fail(`a line of ${line.length} characters`);
      })(),
      (e: unknown) => e instanceof KotobaError && new RegExp(`bomb\\.txt\\.gz:1: line longer than ${DEFAULT_MAX_LINE_BYTES.toLocaleString('en-US')} bytes`).test(e.message),
    );
    const r = await runCli(['train', '--max-line-bytes', '8M', '-o', join(dir, 'm.arpa'), bomb]);
    assert.match(r.stderr, MESSAGE('.*bomb\\.txt\\.gz', 1, 8 * 2 ** 20));
  } finally {
    cleanup();
  }
});

test('a line of 16 MB is read in linear time: through a pipe, as fast as the same words in lines of 20', async () => {
  const words = await corpusWords(16e6);
  const oneLine = words.join(' ') + '\n';
  let lines = '';
  for (let i = 0; i < words.length; i += 20) lines += words.slice(i, i + 20).join(' ') + '\n';
  const { dir, cleanup } = tempDir();
  try {
    const model = join(dir, 'm.kblm');
    await saveNgramModel(model, estimate(await readCorpus(join(repoRoot, 'corpus', 'wiki.valid.txt')), { order: 2, log: { warn() {}, info() {} } }));
    const timed = async (input: string) => {
      const t0 = performance.now();
      const r = await runCli(['ppl', '--json', model], { input });
      assert.equal(r.code, 0, r.stderr);
      return { seconds: (performance.now() - t0) / 1000, tokens: JSON.parse(r.stdout).tokens as number };
    };
    const long = await timed(oneLine);
    const short = await timed(lines);
    assert.equal(long.tokens, words.length + 1);
    assert.equal(short.tokens, words.length + Math.ceil(words.length / 20));
    // Concatenating and searching the line chunk by chunk (64 kB from a pipe) took ~10× longer.
    assert.ok(long.seconds < 3 * short.seconds, `one line ${long.seconds.toFixed(2)} s, lines ${short.seconds.toFixed(2)} s`);
  } finally {
    cleanup();
  }
});

test('lines split across read chunks: CRLF, UTF-8 and the byte count hold at every boundary', async () => {
  const { dir, cleanup } = tempDir();
  try {
    // The file is read in 1 MiB chunks: put a CR, a 3-byte character and a newline on the boundary.
    const chunk = 2 ** 20;
    const first = 'a'.repeat(chunk - 1);
    const second = `b${'私'.repeat((chunk - 1) / 3)}`; // the next boundary falls inside a 私
    const file = join(dir, 'edges.txt');
    writeFileSync(file, `${first}\r\n${second}\n\nlast`);
    const got: string[] = [];
    for await (const line of readLines(file, { maxLineBytes: chunk })) got.push(line);
    assert.deepEqual(got.map((l) => l.length), [first.length, second.length, 0, 4]);
    assert.ok(got[0] === first && got[1] === second && got[3] === 'last');
    await assert.rejects(
      (async () => {
        for await (const _ of readLines(file, { maxLineBytes: chunk - 2 })) void _;
      })(),
      /edges\.txt:1: line longer than 1,048,574 bytes/,
    );
  } finally {
    cleanup();
  }
});
