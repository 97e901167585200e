/** Tokenising, vocabularies, corpora and reading text files. */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { BOS, corpusFromText, EOS, KotobaError, splitWords, tokenizer, UNK, Vocabulary } from '../src/index.js';
import { readCorpus, readLines, readWordList } from '../src/node/index.js';
import { tempDir } from './helpers.js';

test('splitWords splits on U+0020 and TAB only; U+3000, U+FEFF, U+00A0 stay inside tokens', () => {
  assert.deepEqual(splitWords('  a\tb  c '), ['a', 'b', 'c']);
  assert.deepEqual(splitWords('私\u3000は'), ['私\u3000は']);
  assert.deepEqual(splitWords('x \u3000 y \ufeff z\u00a0w'), ['x', '\u3000', 'y', '\ufeff', 'z\u00a0w']);
  assert.deepEqual(splitWords(''), []);
  assert.deepEqual(tokenizer({ lowercase: true })('The CAT'), ['the', 'cat']);
});

test('Vocabulary: fixed ids for <unk> <s> </s>, first-appearance order, unknown words map to <unk>', () => {
  const v = new Vocabulary();
  assert.equal(v.id('<unk>'), UNK);
  assert.equal(v.id('<s>'), BOS);
  assert.equal(v.id('</s>'), EOS);
  assert.equal(v.add('b'), 3);
  assert.equal(v.add('a'), 4);
  assert.equal(v.add('b'), 3);
  assert.equal(v.id('zzz'), UNK);
  v.closed = true;
  assert.equal(v.add('new'), UNK);
  assert.equal(v.size, 5);
  assert.throws(() => v.word(99), KotobaError);
});

test('corpus layout: <s> words </s> per line; an empty line is an empty sentence; <unk> in the text is the unknown word', () => {
  const c = corpusFromText(['a b', '', 'b <unk> c']);
  const w = (i: number) => c.vocab.word(c.tokens[i]!);
  assert.deepEqual([...c.tokens].map((_, i) => w(i)), ['<s>', 'a', 'b', '</s>', '<s>', '</s>', '<s>', 'b', '<unk>', 'c', '</s>']);
  assert.equal(c.sentences, 3);
  assert.equal(c.words, 5);
  assert.equal(c.tokens[8], UNK);
  // Sentence markers already in the text are accepted at the ends, refused inside.
  assert.deepEqual([...corpusFromText(['<s> a </s>']).tokens], [BOS, 3, EOS]);
  assert.throws(() => corpusFromText(['a </s> b'], { source: 'x.txt' }), /x\.txt:1: <\/s> inside a sentence/);
});

test('vocabulary options: min-count, max-size, fixed list', () => {
  const lines = ['a a a b b c', 'a b d'];
  const byCount = corpusFromText(lines, { minCount: 2 });
  assert.deepEqual(byCount.vocab.list(), ['<unk>', '<s>', '</s>', 'a', 'b']);
  assert.equal([...byCount.tokens].filter((t) => t === UNK).length, 2);
  const bySize = corpusFromText(lines, { maxSize: 4 });
  assert.deepEqual(bySize.vocab.list(), ['<unk>', '<s>', '</s>', 'a']);
  const fixed = corpusFromText(lines, { fixed: ['d', 'c'] });
  assert.deepEqual(fixed.vocab.list(), ['<unk>', '<s>', '</s>', 'd', 'c']);
  assert.equal(fixed.tokens[1], UNK);
});

test('readLines: BOM, CRLF, a last line without newline, gzip, a 1 MB line', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const plain = join(dir, 'a.txt');
    writeFileSync(plain, '\ufeffone two\r\nthree\r\n\r\nlast');
    const lines: string[] = [];
    for await (const l of readLines(plain)) lines.push(l);
    assert.deepEqual(lines, ['one two', 'three', '', 'last']);
    const gz = join(dir, 'a.txt.gz');
    writeFileSync(gz, gzipSync('x y\nz\n'));
    const glines: string[] = [];
    for await (const l of readLines(gz)) glines.push(l);
    assert.deepEqual(glines, ['x y', 'z']);
    const big = join(dir, 'big.txt');
    const longLine = Array.from({ length: 250_000 }, (_, i) => `w${i % 1000}`).join(' ');
    assert.ok(longLine.length > 1_000_000);
    writeFileSync(big, `short\n${longLine}\nend\n`);
    const corpus = await readCorpus(big);
    assert.equal(corpus.sentences, 3);
    assert.equal(corpus.words, 250_002);
  } finally {
    cleanup();
  }
});

test('readLines: invalid UTF-8 names the file and line; a missing file says so', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const bad = join(dir, 'bad.txt');
    writeFileSync(bad, Buffer.concat([Buffer.from('ok line\nsecond\nthird \xff here\n', 'latin1')]));
    await assert.rejects(async () => {
      for await (const _ of readLines(bad)) void _;
    }, /bad\.txt:3: invalid UTF-8/);
    await assert.rejects(async () => {
      for await (const _ of readLines(join(dir, 'missing.txt'))) void _;
    }, /missing\.txt: no such file or directory \(check the path\)/);
    const words = join(dir, 'v.txt');
    writeFileSync(words, 'a 12\nb\n\nc\tx\n');
    assert.deepEqual(await readWordList(words), ['a', 'b', 'c']);
  } finally {
    cleanup();
  }
});
