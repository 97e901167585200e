/** ARPA and binary model files: round trips, other toolkits' layouts, damaged files, load speed. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  arpaText,
  BackoffModel,
  BINARY_VERSION,
  corpusFromText,
  deserializeModel,
  estimate,
  parseArpa,
  scoreSentence,
  serializeModel,
  splitWords,
} from '../src/index.js';
import { readCorpus } from '../src/node/index.js';
import { LECTURE, repoRoot } from './helpers.js';
import { concatBytes } from '../src/util/bytes.js';
import { join } from 'node:path';

const quiet = { warn() {}, info() {} };


test('ARPA: write → read → write is the identity, for every smoother', async () => {
  const corpus = corpusFromText([...LECTURE, 'a b c', 'a b d', 'b c a']);
  for (const smoothing of ['mkn', 'wb', 'abs', 'add', 'jm', 'mle'] as const) {
    const text = await arpaText(estimate(corpus, { order: 3, smoothing, log: quiet }));
    assert.equal(await arpaText(parseArpa(text)), text, smoothing);
  }
});

test('binary: a model survives the round trip exactly, and scores the same', async () => {
  const corpus = corpusFromText([...LECTURE, 'a b c', 'a b d']);
  const model = BackoffModel.fromTables(estimate(corpus, { order: 4, log: quiet }));
  const bytes = concatBytes(serializeModel(model));
  const back = deserializeModel(bytes);
  assert.equal(await arpaText(back.toTables()), await arpaText(model.toTables()));
  for (const line of [...LECTURE, '私 の 猫 は 本 だ']) {
    const ids = splitWords(line).map((w) => model.vocab.id(w));
    assert.deepEqual(scoreSentence(back, ids), scoreSentence(model, ids));
  }
});

test('binary: wrong magic, a newer version, truncation and a flipped byte are clear errors', () => {
  const model = BackoffModel.fromTables(estimate(corpusFromText(LECTURE), { order: 2, log: quiet }));
  const bytes = concatBytes(serializeModel(model));
  const wrongMagic = bytes.slice();
  wrongMagic[0] = 0x41;
  assert.throws(() => deserializeModel(wrongMagic, 'm.kblm'), /m\.kblm: not a kotoba binary model \(wrong magic number\)/);
  const newer = bytes.slice();
  new DataView(newer.buffer).setUint32(8, BINARY_VERSION + 1, true);
  assert.throws(() => deserializeModel(newer, 'm.kblm'), new RegExp(`version ${BINARY_VERSION + 1} is newer than this kotoba reads \\(version ${BINARY_VERSION}\\).*upgrade kotoba`));
  assert.throws(() => deserializeModel(bytes.subarray(0, bytes.length - 10), 'm.kblm'), /truncated or corrupt/);
  assert.throws(() => deserializeModel(bytes.subarray(0, 40), 'm.kblm'), /truncated or corrupt/);
  const flipped = bytes.slice();
  flipped[flipped.length - 3]! ^= 0x10;
  assert.throws(() => deserializeModel(flipped, 'm.kblm'), /truncated or corrupt/);
});

test('ARPA: a malformed or truncated file names the line and what was expected', () => {
  const good = ['\\data\\', 'ngram 1=3', 'ngram 2=1', '', '\\1-grams:', '-1\t<unk>\t0', '0\t<s>\t-0.5', '-0.3\t</s>', '', '\\2-grams:', '-0.2\t<s> </s>', '', '\\end\\', ''];
  assert.doesNotThrow(() => parseArpa(good.join('\n')));
  const bad = (lines: string[], pattern: RegExp) => assert.throws(() => parseArpa(lines.join('\n'), { source: 'm.arpa' }), pattern);
  bad(good.slice(0, 8), /m\.arpa:8: file ends before the \\2-grams: section/);
  bad(good.slice(0, 11), /m\.arpa:11: file ends without \\end\\ \(the file is truncated\)/);
  bad(good.map((l) => (l === '-1\t<unk>\t0' ? 'x\t<unk>\t0' : l)), /m\.arpa:6: expected a log10 probability, found 'x'/);
  bad(good.map((l) => (l === 'ngram 2=1' ? 'ngram 2=2' : l)), /m\.arpa:12: expected 2 2-grams, found 1/);
  bad(good.map((l) => (l === '-0.2\t<s> </s>' ? '-0.2\t<s> cat' : l)), /m\.arpa:11: the word 'cat' of a 2-gram is not among the unigrams/);
  bad(good.map((l) => (l === 'ngram 1=3' ? 'ngram one=3' : l)), /m\.arpa:2: expected 'ngram N=COUNT'/);
  bad(['hello'], /not an ARPA file/);
});

test('ARPA in SRILM layout: comments, -99 for <s>, no backoff column, exponents; missing prefixes back off', () => {
  const srilm = [
    '',
    '\\data\\',
    'ngram 1=5',
    'ngram 2=2',
    'ngram 3=1',
    '',
    '\\1-grams:',
    '-0.7781513\t</s>',
    '-99\t<s>\t-0.30103',
    '-1.0791812\ta\t-0.1760913',
    '-0.60206\tb\t-2.5e-01',
    '-1.2e+00\t<unk>',
    '',
    '\\2-grams:',
    '-0.30103\t<s> a\t-0.1',
    '-0.1249387\ta b',
    '',
    '\\3-grams:',
    '-0.05\tb a b',
    '',
    '\\end\\',
  ].join('\n');
  const t = parseArpa(srilm);
  const m = BackoffModel.fromTables(t);
  const id = (w: string) => m.vocab.id(w);
  // p(b | <s> a) backs off: no "<s> a b" trigram, so bo(<s> a) + p(b | a).
  let s = m.begin();
  const ra = m.score(s, id('a'));
  assert.ok(Math.abs(ra.log10 - -0.30103) < 1e-6);
  s = ra.next;
  const rb = m.score(s, id('b'));
  assert.ok(Math.abs(rb.log10 - (-0.1 + -0.1249387)) < 1e-6);
  assert.equal(rb.ngram, 2);
  // "b a b" exists although "b a" does not: the missing prefix gets a blank entry whose
  // probability is what backing off gives, and the trigram is still found after "b a".
  const fromB = m.score(m.score(-1, id('b')).next, id('a'));
  assert.ok(Math.abs(fromB.log10 - (-0.25 + -1.0791812)) < 1e-6);
  assert.equal(fromB.ngram, 1);
  const third = m.score(fromB.next, id('b'));
  assert.ok(Math.abs(third.log10 - -0.05) < 1e-6);
  assert.equal(third.ngram, 3);
});

test('binary loads at least 10 times faster than the ARPA text parses', async () => {
  const corpus = await readCorpus(join(repoRoot, 'corpus', 'wiki.train.txt'));
  const tables = estimate(corpus, { order: 4, log: quiet });
  const text = await arpaText(tables);
  const bytes = concatBytes(serializeModel(BackoffModel.fromTables(tables)));
  const best = (f: () => void) => {
    let t = Infinity;
    for (let i = 0; i < 3; i++) {
      const t0 = performance.now();
      f();
      t = Math.min(t, performance.now() - t0);
    }
    return t;
  };
  const arpaMs = best(() => BackoffModel.fromTables(parseArpa(text)));
  const binaryMs = best(() => deserializeModel(bytes));
  assert.ok(arpaMs / binaryMs >= 10, `ARPA ${arpaMs.toFixed(1)} ms vs binary ${binaryMs.toFixed(1)} ms`);
});
