/** Reranking: n-best and plain parsing (and their errors), ordering, weights, `kotoba rerank`. */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { BackoffModel, CandidateReader, corpusFromText, estimate, formatFloat32, KotobaError, parseCandidates, rerankGroup, scoreSentence } from '../src/index.js';
import { saveNgramModel } from '../src/node/index.js';
import { corpusLines, TableModel } from './apps-helpers.js';
import { runCli, tempDir } from './helpers.js';

const NBEST = [
  '0 ||| the game was released ||| LM0= -10.5 TM0= -3 ||| -5.25',
  '0 ||| game the was released ||| LM0= -12 TM0= -2 ||| -4.5 ||| 0-1 1-0',
  '0 ||| the game released ||| LM0= -9 ||| -6',
  '1 ||| he was born ||| LM0= -3 ||| -1.0',
  '',
  '1 ||| was he born ||| LM0= -4 ||| -0.5',
].join('\n');

test('n-best: groups by id, fields kept, extra fields kept, blank lines ignored, format detected', () => {
  const { format, groups } = parseCandidates(NBEST);
  assert.equal(format, 'nbest');
  assert.equal(groups.length, 2);
  assert.deepEqual(
    groups.map((g) => [g.id, g.candidates.length]),
    [
      ['0', 3],
      ['1', 2],
    ],
  );
  const c = groups[0]!.candidates[1]!;
  assert.equal(c.sentence, 'game the was released');
  assert.equal(c.features, 'LM0= -12 TM0= -2');
  assert.equal(c.score, -4.5);
  assert.deepEqual(c.rest, ['0-1 1-0']);
  assert.equal(c.line, 2);
  assert.equal(groups[1]!.candidates[1]!.line, 6);
  assert.equal(groups[1]!.candidates[1]!.index, 1);
  // CRLF line ends are accepted.
  assert.equal(parseCandidates(NBEST.replace(/\n/g, '\r\n')).groups[0]!.candidates[0]!.score, -5.25);
});

test('plain: one candidate per line, groups split by blank lines (several, or with spaces)', () => {
  const { format, groups } = parseCandidates('\n\na b c\nb a c\n\n \n\nx y\n\n');
  assert.equal(format, 'plain');
  assert.deepEqual(
    groups.map((g) => [g.id, g.candidates.map((c) => c.sentence)]),
    [
      ['0', ['a b c', 'b a c']],
      ['1', ['x y']],
    ],
  );
  assert.equal(groups[1]!.candidates[0]!.line, 8);
  // Forced plain: '|||' is just text.
  assert.equal(parseCandidates('0 ||| a ||| b ||| 1', { format: 'plain' }).groups[0]!.candidates[0]!.sentence, '0 ||| a ||| b ||| 1');
});

test('malformed n-best lines are errors naming file and line', () => {
  const cases: [string, RegExp][] = [
    ['0 ||| a ||| f= 1 ||| -1\n0 ||| a b ||| f= 1', /x\.nbest:2: not an n-best line: 3 fields/],
    ['0 ||| a ||| f ||| -1\nplain line', /x\.nbest:2: not an n-best line: no \|\|\|/],
    ['zero ||| a ||| f ||| -1', /x\.nbest:1: n-best id 'zero' is not a whole number/],
    ['0 ||| a ||| f ||| high', /x\.nbest:1: n-best score 'high' is not a number/],
    ['0 ||| a ||| f ||| -1\n1 ||| b ||| f ||| -1\n0 ||| c ||| f ||| -1', /x\.nbest:3: n-best id 0 appears again/],
  ];
  for (const [text, message] of cases) {
    assert.throws(
      () => parseCandidates(text, { source: 'x.nbest' }),
      (e: unknown) => e instanceof KotobaError && message.test(e.message),
      text,
    );
  }
  assert.throws(() => parseCandidates('a b', { format: 'nbest', source: 'p.txt' }), /p\.txt:1: not an n-best line/);
  assert.throws(() => new CandidateReader({ format: 'xml' as 'plain' }), /unknown candidate format/);
});

test('the streaming reader returns each group as soon as it is complete', () => {
  const reader = new CandidateReader();
  const out: (string | null)[] = [];
  for (const line of NBEST.split('\n')) out.push(reader.push(line)?.id ?? null);
  assert.deepEqual(out, [null, null, null, '0', null, null]);
  assert.equal(reader.finish()?.id, '1');
  assert.equal(reader.finish(), null);
});

test('ranking: by log10 p, by λ·lm + score, normalised per token; ties keep the input order', () => {
  const m = new TableModel();
  // Under the table: p(a b </s>) = .5·.6·.48, p(b a </s>) = .3·.1·.1, p(a </s>) = .5·.1, p(c </s>) = .1·.3
  const lp = (s: string) => scoreSentence(m, s.split(' ').map((w) => m.vocab.id(w))).words.reduce((t, w) => t + w.log10, 0);
  const group = parseCandidates('0 ||| b a ||| f ||| 0\n0 ||| a b ||| f ||| -2\n0 ||| a ||| f ||| -0.1\n0 ||| c ||| f ||| 1').groups[0]!;
  const byLm = rerankGroup(m, group);
  assert.deepEqual(
    byLm.map((c) => c.sentence),
    ['a b', 'a', 'c', 'b a'],
  );
  for (const c of byLm) {
    assert.ok(Math.abs(c.log10 - lp(c.sentence)) < 1e-6);
    assert.equal(c.total, c.log10);
  }
  assert.deepEqual(
    byLm.map((c) => c.rank),
    [1, 2, 3, 4],
  );
  // λ = 1: score = log10 p + system score: a b → -0.842 - 2, a → -1.301 - 0.1, c → -1.523 + 1, b a → -2.523 + 0.
  const weighted = rerankGroup(m, group, { weight: 1 });
  assert.deepEqual(
    weighted.map((c) => c.sentence),
    ['c', 'a', 'b a', 'a b'],
  );
  for (const c of weighted) assert.ok(Math.abs(c.total - (c.log10 + c.score!)) < 1e-12);
  // λ = 0: the system's order alone.
  assert.deepEqual(
    rerankGroup(m, group, { weight: 0 }).map((c) => c.sentence),
    ['c', 'b a', 'a', 'a b'],
  );
  // Normalised: log10 p / tokens (a b: 3 tokens; a: 2).
  const norm = rerankGroup(m, group, { normalize: true });
  for (const c of norm) {
    assert.equal(c.tokens, c.sentence.split(' ').length + 1);
    assert.ok(Math.abs(c.total - c.log10 / c.tokens) < 1e-12);
  }
  for (let i = 1; i < norm.length; i++) assert.ok(norm[i - 1]!.total >= norm[i]!.total);
  // Ties: identical sentences keep their input order.
  const ties = parseCandidates('a b\nc\na b\na b\n').groups[0]!;
  const ranked = rerankGroup(m, ties);
  assert.deepEqual(
    ranked.map((c) => c.index),
    [0, 2, 3, 1],
  );
  // A plain candidate has no score to weigh.
  assert.throws(() => rerankGroup(m, ties, { weight: 0.5 }), /no existing score/);
});

test('kotoba rerank: candidate translations ranked by a model of the embedded corpus', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const model = join(dir, 'wiki3.kblm');
    const lm = BackoffModel.fromTables(estimate(corpusFromText(corpusLines('train', 0, 6000)), { order: 3 }));
    await saveNgramModel(model, lm);
    const plain = join(dir, 'candidates.txt');
    writeFileSync(plain, 'the game was released in Japan in 2011 .\ngame the Japan in released was 2011 the .\nthe game was released at Japan in 2011 .\n\nhe was born in 1950 .\nborn he in was 1950 .\n');
    const r = await runCli(['rerank', model, plain]);
    assert.equal(r.code, 0, r.stderr);
    const groups = r.stdout.split('\n\n').map((g) => g.trim().split('\n').map((l) => l.split('\t')));
    assert.equal(groups.length, 2);
    assert.equal(groups[0]![0]![2], 'the game was released in Japan in 2011 .');
    assert.equal(groups[0]![2]![2], 'game the Japan in released was 2011 the .');
    assert.equal(groups[1]![0]![2], 'he was born in 1950 .');
    for (const g of groups) {
      const scores = g.map((row) => Number(row[0]));
      for (let i = 1; i < scores.length; i++) assert.ok(scores[i - 1]! >= scores[i]!);
    }
    // The scores are the model's sentence scores.
    const ids = 'he was born in 1950 .'.split(' ').map((w) => lm.vocab.id(w));
    assert.equal(groups[1]![0]![1], formatFloat32(scoreSentence(lm, ids).total)); // as KenLM prints a float

    const nbest = join(dir, 'x.nbest');
    writeFileSync(nbest, NBEST + '\n');
    const j = await runCli(['rerank', '--json', '--weight', '0.5', '--top-k', '2', model, nbest]);
    assert.equal(j.code, 0, j.stderr);
    const rows = j.stdout.trim().split('\n').map((l) => JSON.parse(l) as { id: string; candidates: { rank: number; score: number; log10: number; system_score: number }[] });
    assert.deepEqual(
      rows.map((g) => [g.id, g.candidates.length]),
      [
        ['0', 2],
        ['1', 2],
      ],
    );
    for (const g of rows) for (const c of g.candidates) assert.ok(Math.abs(c.score - (0.5 * c.log10 + c.system_score)) < 1e-9);
    // n-best text output stays a valid n-best list, with the model's score as a feature.
    const t = await runCli(['rerank', model, nbest]);
    assert.equal(t.code, 0, t.stderr);
    const again = parseCandidates(t.stdout);
    assert.equal(again.format, 'nbest');
    assert.match(again.groups[0]!.candidates[0]!.features!, /kotoba= -\d+\.\d+$/);
    assert.deepEqual(again.groups[0]!.candidates.find((c) => c.rest)?.rest, ['0-1 1-0']);

    const bad = await runCli(['rerank', '--weight', '1', model, plain]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /candidates\.txt:1: --weight needs the n-best format/);
    const broken = await runCli(['rerank', model, '-'], { input: '0 ||| a ||| f ||| 1\n0 ||| b\n' });
    assert.equal(broken.code, 1);
    assert.match(broken.stderr, /<stdin>:2: not an n-best line/);
  } finally {
    cleanup();
  }
});
