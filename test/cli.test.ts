/**
 * The command line as users meet it: every command, stdin/stdout filters, --json, and the odd
 * and bad inputs the issue lists (each bad one: one clear line, a non-zero exit, no stack trace,
 * no half-written output file).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { BackoffModel, BINARY_VERSION, corpusFromText, estimate, serializeModel } from '../src/index.js';
import { assertCleanFailure, LECTURE, repoRoot, runCli, tempDir } from './helpers.js';

const train = join(repoRoot, 'corpus', 'wiki.valid.txt');

test('kotoba --help lists every command with an example; each command has --help', async () => {
  const r = await runCli(['--help']);
  assert.equal(r.code, 0);
  for (const c of ['train', 'ppl', 'score', 'convert', 'info', 'prune']) {
    assert.match(r.stdout, new RegExp(`\\n  ${c} `));
    const h = await runCli([c, '--help']);
    assert.equal(h.code, 0);
    assert.match(h.stdout, /usage: kotoba/);
    assert.match(h.stdout, /examples:\n  .*kotoba /);
  }
  assert.match(r.stdout, /e\.g\. kotoba train/);
});

test('train → ppl → score → convert → info → prune, as files and as Unix filters', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const arpa = join(dir, 'm.arpa');
    const t = await runCli(['train', '--order', '3', '-o', arpa, train]);
    assert.equal(t.code, 0, t.stderr);
    assert.equal(t.stdout, '');
    assert.match(t.stderr, /^wrote .*m\.arpa: order 3, [\d,]+ n-grams, [\d.]+ (kB|MB)\n$/, 'no progress on stderr when it is not a terminal: only what was written');
    // stdin in, stdout out
    const text = readFileSync(train, 'utf8').split('\n').slice(0, 50).join('\n') + '\n';
    const ppl = await runCli(['ppl', arpa], { input: text });
    assert.equal(ppl.code, 0, ppl.stderr);
    assert.match(ppl.stdout, /^Perplexity including OOVs:\t\d+\.\d+\nPerplexity excluding OOVs:\t\d+\.\d+\nOOVs:\t\d+\nTokens:\t\d+\n$/);
    const j = JSON.parse((await runCli(['ppl', '--json', arpa, '-'], { input: text })).stdout);
    assert.deepEqual(Object.keys(j).slice(0, 4), ['perplexity', 'perplexity_excluding_oov', 'oov', 'tokens']);
    assert.ok(j.perplexity > 1 && j.perplexity < 10000);
    const score = await runCli(['score', arpa], { input: 'the game was released\nzzqx\n' });
    const totals = score.stdout.trim().split('\n').map(Number);
    assert.equal(totals.length, 2);
    assert.ok(totals.every((x) => x < 0 && Number.isFinite(x)));
    const words = (await runCli(['score', '--words', '--json', arpa], { input: 'the game zzqx\n' })).stdout.trim().split('\n').map((l) => JSON.parse(l));
    assert.equal(words.length, 1);
    assert.deepEqual(words[0].words.map((w: { word: string }) => w.word), ['the', 'game', 'zzqx', '</s>']);
    assert.deepEqual(words[0].words.map((w: { oov: boolean }) => w.oov), [false, false, true, false]);
    assert.equal(words[0].oov, 1);
    assert.ok(Math.abs(words[0].words.reduce((s: number, w: { log10: number }) => s + w.log10, 0) - words[0].total) < 1e-4);
    // convert and back, info
    const bin = join(dir, 'm.kblm');
    assert.equal((await runCli(['convert', arpa, bin])).code, 0);
    const again = join(dir, 'again.arpa.gz');
    assert.equal((await runCli(['convert', bin, again])).code, 0);
    const ppl2 = JSON.parse((await runCli(['ppl', '--json', again], { input: text })).stdout);
    assert.equal(ppl2.perplexity, j.perplexity);
    const info = JSON.parse((await runCli(['info', '--json', bin])).stdout);
    assert.equal(info.order, 3);
    assert.equal(info.family, 'ngram');
    assert.equal(info.ngrams.length, 3);
    const pruned = join(dir, 'p.arpa');
    const pr = await runCli(['prune', '--threshold', '1e-6', '--json', arpa, '-o', pruned]);
    assert.equal(pr.code, 0, pr.stderr);
    const pj = JSON.parse(pr.stdout);
    assert.ok(pj.after[2] < pj.before[2]);
    // --prune and --prune-entropy at training
    const small = join(dir, 's.arpa');
    const tp = await runCli(['train', '--order', '3', '--prune', '0', '1', '1', '--json', '-o', small, train]);
    assert.equal(tp.code, 0, tp.stderr);
    assert.ok(JSON.parse(tp.stdout).ngrams[2] < info.ngrams[2]);
  } finally {
    cleanup();
  }
});

test('odd input that must work: one sentence (with the fallback warning), CRLF, BOM, no final newline', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const one = join(dir, 'one.txt');
    writeFileSync(one, 'just one sentence here\n');
    const r = await runCli(['train', '--order', '3', '-o', join(dir, 'one.arpa'), one]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /warning: modified Kneser-Ney discounts for 1-grams cannot be estimated .* fallback discounts/);
    // The same text with LF, with CRLF and a BOM, and without the final newline: the same model.
    const lf = join(dir, 'lf.txt');
    const crlf = join(dir, 'crlf.txt');
    const nonl = join(dir, 'nonl.txt');
    writeFileSync(lf, LECTURE.join('\n') + '\n');
    writeFileSync(crlf, '\ufeff' + LECTURE.join('\r\n') + '\r\n');
    writeFileSync(nonl, LECTURE.join('\n'));
    const models = [];
    for (const f of [lf, crlf, nonl]) {
      const out = join(dir, `${f.split('/').pop()}.arpa`);
      const t = await runCli(['train', '--order', '2', '-q', '-o', out, f]);
      assert.equal(t.code, 0, t.stderr);
      models.push(readFileSync(out, 'utf8'));
    }
    assert.equal(models[1], models[0]);
    assert.equal(models[2], models[0]);
  } finally {
    cleanup();
  }
});

test('bad input fails cleanly: one line naming the cause and the fix, non-zero exit, no output file', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const out = join(dir, 'out.arpa');
    const file = (name: string, content: string | Uint8Array) => {
      const p = join(dir, name);
      writeFileSync(p, content);
      return p;
    };
    assertCleanFailure(await runCli(['train', '-o', out, join(dir, 'missing.txt')]), /missing\.txt: no such file or directory \(check the path\)/);
    assertCleanFailure(await runCli(['train', '-o', out, dir]), /it is a directory/);
    assertCleanFailure(await runCli(['train', '-o', out, file('empty.txt', '')]), /empty\.txt: the corpus is empty/);
    assertCleanFailure(await runCli(['train', '-o', out, file('blank.txt', '\n\n')]), /blank\.txt: the corpus has no words/);
    assertCleanFailure(await runCli(['train', '-o', out, file('latin1.txt', Buffer.from('ok\ncaf\xe9\n', 'latin1'))]), /latin1\.txt:2: invalid UTF-8 \(convert the file to UTF-8/);
    const good = file('good.txt', LECTURE.join('\n') + '\n');
    assertCleanFailure(await runCli(['train', '--order', '0', '-o', out, good]), /--order must be an integer 1 ≤ N ≤ 255, not 0/);
    assertCleanFailure(await runCli(['train', '--order', 'three', '-o', out, good]), /--order must be a number, not 'three'/);
    assertCleanFailure(await runCli(['train', '--bogus', '-o', out, good]), /unknown option --bogus \(see 'kotoba train --help'\)/);
    assertCleanFailure(await runCli(['train', good]), /no output model given/);
    assertCleanFailure(await runCli(['train', '-o', join(dir, 'm.xyz'), good]), /cannot tell the model format of .*m\.xyz from its name \(end it in \.arpa/);
    assertCleanFailure(await runCli(['frobnicate']), /unknown command 'frobnicate'/);
    assert.deepEqual(readdirSync(dir).filter((f) => f.startsWith('out') || f.startsWith('.')), [], 'no output or temporary files left');

    // Damaged models.
    const arpa = join(dir, 'm.arpa');
    assert.equal((await runCli(['train', '-o', arpa, good])).code, 0);
    const text = readFileSync(arpa, 'utf8');
    const truncated = file('trunc.arpa', text.slice(0, Math.floor(text.length * 0.6)));
    assertCleanFailure(await runCli(['ppl', truncated], { input: 'a b\n' }), /trunc\.arpa:\d+: .*(truncated|expected)/);
    const binPath = join(dir, 'm.kblm');
    const bytes = Buffer.concat(serializeModel(BackoffModel.fromTables(estimate(corpusFromText(LECTURE), { order: 2, log: { warn() {}, info() {} } }))));
    writeFileSync(binPath, bytes);
    assertCleanFailure(await runCli(['ppl', file('cut.kblm', bytes.subarray(0, bytes.length - 100))], { input: 'a\n' }), /cut\.kblm: the binary model is truncated or corrupt/);
    const future = Buffer.from(bytes);
    future.writeUInt32LE(BINARY_VERSION + 1, 8);
    assertCleanFailure(await runCli(['info', file('future.kblm', future)]), /future\.kblm: binary model format version \d+ is newer .* \(upgrade kotoba/);
    assertCleanFailure(await runCli(['ppl', file('garbage.arpa', 'hello\nworld\n')], { input: 'a\n' }), /not an ARPA file/);

    // A failed write leaves the old model untouched and no temporary file behind.
    const before = readFileSync(arpa, 'utf8');
    assertCleanFailure(await runCli(['train', '--order', '0', '-o', arpa, good]), /order/);
    assert.equal(readFileSync(arpa, 'utf8'), before);
    assert.ok(!existsSync(join(dir, 'nonexistent-dir', 'x.arpa')));
    assertCleanFailure(await runCli(['train', '-o', join(dir, 'nonexistent-dir', 'x.arpa'), good]), /cannot write .*x\.arpa: no such file or directory/);
    assert.deepEqual(readdirSync(dir).filter((f) => f.endsWith('.tmp')), []);
  } finally {
    cleanup();
  }
});

test('-o - writes the ARPA model to standard output: train, prune and convert, the same bytes as a file', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const arpa = join(dir, 'm.arpa');
    await runCli(['train', '--order', '3', '-o', arpa, train]);
    const file = readFileSync(arpa, 'utf8');
    const trained = await runCli(['train', '--order', '3', '-o', '-', train]);
    assert.equal(trained.code, 0, trained.stderr);
    assert.equal(trained.stdout, file);
    assert.match(trained.stderr, /^wrote standard output: order 3, [\d,]+ n-grams\n$/);
    // Text in on standard input, the model out on standard output: a Unix filter, as lmplz is.
    const filter = await runCli(['train', '--order', '3', '-o', '-', '-'], { input: readFileSync(train) });
    assert.equal(filter.stdout, file);
    const converted = await runCli(['convert', arpa, '-']);
    assert.equal(converted.stdout, file);
    const pruned = join(dir, 'p.arpa');
    await runCli(['prune', '-t', '1e-6', arpa, '-o', pruned]);
    assert.equal((await runCli(['prune', '-t', '1e-6', arpa, '-o', '-'])).stdout, readFileSync(pruned, 'utf8'));
    // --json would go to standard output too.
    assertCleanFailure(await runCli(['train', '--json', '-o', '-', train]), /--json and the model would both go to standard output/);
    assertCleanFailure(await runCli(['convert', '--json', arpa, '-']), /--json and the model would both go to standard output/);
    // A reader that stops early ends the estimation quietly, with exit 0 and no temporary folder left.
    const temp = join(dir, 'temp');
    mkdirSync(temp);
    const r = await runCli(['train', '--order', '3', '--temp-dir', temp, '-o', '-', train], { shell: '"$@" | head -n 2; echo "status ${PIPESTATUS[0]}" >&2' });
    assert.equal(r.stdout, '\\data\\\nngram 1=' + /ngram 1=(\d+)/.exec(file)![1] + '\n');
    assert.equal(r.stderr, 'status 0\n');
    assert.deepEqual(readdirSync(temp), []);
  } finally {
    cleanup();
  }
});

test('count -o - writes the count file to standard output, but never to a terminal; --from-counts reads count files by name', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const counts = join(dir, 'a.counts');
    await runCli(['count', '--order', '3', '-o', counts, train]);
    const r = spawnSync(process.execPath, [join(repoRoot, 'dist', 'bin', 'main.js'), 'count', '--order', '3', '-o', '-', train]);
    assert.equal(r.status, 0, r.stderr.toString());
    assert.ok(Buffer.compare(r.stdout, readFileSync(counts)) === 0, 'the bytes of -o a.counts');
    assertCleanFailure(await runCli(['count', '--json', '-o', '-', train]), /--json and the count file would both go to standard output/);
    assertCleanFailure(await runCli(['train', '--from-counts', '-o', join(dir, 'm.arpa'), '-']), /--from-counts reads count files by name, not standard input/);
    if (existsSync('/usr/bin/script')) {
      // A terminal as standard output (script gives the command one).
      const tty = spawnSync('script', ['-qec', `${process.execPath} ${join(repoRoot, 'dist', 'bin', 'main.js')} count -o - ${train}`, '/dev/null'], { encoding: 'utf8' });
      assert.notEqual(tty.status, 0);
      assert.match(tty.stdout, /kotoba: a count file is binary: not written to a terminal/);
    }
  } finally {
    cleanup();
  }
});

test('a closed pipe is not an error (kotoba … | head)', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const arpa = join(dir, 'm.arpa');
    await runCli(['train', '-o', arpa, train]);
    const r = spawnSync('bash', ['-c', `yes "the game was released" | head -n 200000 | node ${join(repoRoot, 'dist', 'bin', 'main.js')} score ${arpa} | head -n 1`], { encoding: 'utf8' });
    assert.equal(r.status, 0);
    assert.equal(r.stdout.trim().split('\n').length, 1);
    assert.doesNotMatch(r.stderr, /EPIPE|Error/);
  } finally {
    cleanup();
  }
});
