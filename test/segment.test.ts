// Unsegmented text: Intl.Segmenter words (segment.ts), `--segment` on the commands that read
// text, the lecture's sentences written without spaces, and the agreement of Intl.Segmenter with
// the hand-checked segmentation of nlptutorial's Japanese Wikipedia files.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  BackoffModel,
  boundaryAgreement,
  checkSegmentLocale,
  corpusFromText,
  detectSegmentLocale,
  estimate,
  KotobaError,
  scoreSentence,
  segmentWords,
  splitWords,
  tokenizer,
} from '../src/index.js';
import { fixtures, LECTURE, needShared, runCli, sharedPath, tempDir } from './helpers.js';

/** The lecture's three sentences as a Japanese writer types them: no spaces. */
const LECTURE_RAW = LECTURE.map((s) => s.replaceAll(' ', ''));
const jaTrain = join(fixtures, 'ja', 'train.txt');
const jaTest = join(fixtures, 'ja', 'test.txt');
const lines = (path: string) => readFileSync(path, 'utf8').split('\n').filter((l) => l !== '');

test('Intl.Segmenter on the lecture sentences written without spaces', () => {
  assert.deepEqual(LECTURE_RAW[0], '私は読書が好きだ');
  // What this runtime's ICU gives. It differs from the lecture's hand segmentation in two
  // places: digits are split from kanji (1900 年代) and the verb 書かれた is split into
  // morphemes; both are consistent, which is what a language model needs.
  assert.deepEqual(segmentWords(LECTURE_RAW[0]!, 'ja'), ['私', 'は', '読書', 'が', '好き', 'だ']);
  assert.deepEqual(segmentWords(LECTURE_RAW[1]!, 'ja'), ['私', 'の', '本', 'は', '1900', '年代', 'に', '書', 'か', 'れ', 'た']);
  assert.deepEqual(segmentWords(LECTURE_RAW[2]!, 'ja'), ['1900', '年代', 'は', '20', '世紀', 'だ']);
  // Spaces already in the text separate words; each piece is then segmented further.
  assert.deepEqual(segmentWords(LECTURE[2]!, 'ja'), ['1900', '年代', 'は', '20', '世紀', 'だ']);
  assert.deepEqual(segmentWords('私は 読書', 'ja'), ['私', 'は', '読書']);
});

test('punctuation, U+3000, other whitespace, Latin runs and digits', () => {
  // Punctuation is a token per segment; U+3000 is a token per character; Latin and full-width
  // runs stay whole; decimals stay whole; a hyphen is its own token.
  assert.deepEqual(segmentWords('英語：　ｎａｔｕｒａｌ　　ＮＬＰ。', 'ja'), ['英語', '：', '　', 'ｎａｔｕｒａｌ', '　', '　', 'ＮＬＰ', '。']);
  assert.deepEqual(segmentWords('価格は3.14ドル、GPT-4とJavaScriptを使う。', 'ja'), [
    '価格', 'は', '3.14', 'ドル', '、', 'GPT', '-', '4', 'と', 'JavaScript', 'を', '使う', '。',
  ]);
  // NBSP, U+FEFF and tabs are dropped; they never become (empty) words.
  const words = segmentWords('\ufeff私は\u00a0猫\tだ', 'ja');
  assert.deepEqual(words, ['私', 'は', '猫', 'だ']);
  assert.deepEqual(segmentWords('', 'ja'), []);
  assert.deepEqual(segmentWords('   ', 'ja'), []);
  // Lowercasing happens before segmentation.
  assert.deepEqual(tokenizer({ segment: 'ja', lowercase: true })('ＪＳとTypeScript'), ['ｊｓ', 'と', 'typescript']);
});

test('auto picks a locale per line from its script', () => {
  assert.equal(detectSegmentLocale('私は猫だ'), 'ja');
  assert.equal(detectSegmentLocale('漢字だけ'), 'ja'); // kana present
  assert.equal(detectSegmentLocale('我喜欢读书'), 'zh');
  assert.equal(detectSegmentLocale('ฉันชอบอ่านหนังสือ'), 'th');
  assert.equal(detectSegmentLocale('나는 책을 좋아한다'), null); // Korean writes spaces
  assert.equal(detectSegmentLocale('the cat sat.'), null);
  const auto = tokenizer({ segment: 'auto' });
  // English keeps the default split exactly (punctuation stays attached, as without --segment).
  assert.deepEqual(auto('the cat sat.'), splitWords('the cat sat.'));
  assert.deepEqual(auto('the cat sat.'), ['the', 'cat', 'sat.']);
  assert.deepEqual(auto('私は読書が好きだ'), ['私', 'は', '読書', 'が', '好き', 'だ']);
  assert.deepEqual(auto('我喜欢读书。'), ['我', '喜欢', '读书', '。']);
  assert.deepEqual(auto('ฉันชอบอ่านหนังสือ'), ['ฉัน', 'ชอบ', 'อ่าน', 'หนังสือ']);
});

test('an unsupported or malformed locale is a KotobaError, raised before any text is read', () => {
  assert.equal(checkSegmentLocale('ja'), 'ja');
  assert.throws(() => tokenizer({ segment: 'xx' }), (e: unknown) => e instanceof KotobaError && /'xx' is not supported/.test(e.message));
  assert.throws(() => tokenizer({ segment: 'not a tag' }), (e: unknown) => e instanceof KotobaError && /not a valid locale tag/.test(e.message));
  assert.throws(() => segmentWords('私', 'xx'), KotobaError);
});

test('boundaryAgreement counts offsets between words', () => {
  const a = boundaryAgreement([['私', 'は', '猫']], [['私は', '猫']]);
  assert.deepEqual([a.matched, a.predicted, a.gold], [1, 1, 2]);
  assert.equal(a.precision, 1);
  assert.equal(a.recall, 0.5);
  assert.ok(Math.abs(a.f1 - 2 / 3) < 1e-12);
  const b = boundaryAgreement([['ab', 'c'], ['d']], [['a', 'b', 'c'], ['d']]);
  assert.deepEqual([b.matched, b.predicted, b.gold, b.precision, b.recall], [1, 2, 1, 0.5, 1]);
  assert.throws(() => boundaryAgreement([['ab']], [['ac']]), KotobaError);
});

test('the lecture: trained on raw text with --segment ja, MLE scores are the counts', async () => {
  const corpus = corpusFromText(LECTURE_RAW, { segment: 'ja' });
  assert.equal(corpus.words, 6 + 11 + 6);
  const lm = BackoffModel.fromTables(estimate(corpus, { order: 3, smoothing: 'mle' }));
  const ids = (s: string) => segmentWords(s, 'ja').map((w) => lm.vocab.id(w));
  // <s> 私 is seen twice, <s> 私 は once: P(は | <s> 私) = 1/2; P(私 | <s>) = 2/3.
  const r = scoreSentence(lm, ids('私は'), false);
  assert.ok(Math.abs(r.words[0]!.log10 - Math.log10(2 / 3)) < 1e-6, `P(私|<s>) ${r.words[0]!.log10}`);
  assert.ok(Math.abs(r.words[1]!.log10 - Math.log10(1 / 2)) < 1e-6, `P(は|<s> 私) ${r.words[1]!.log10}`);
  // 1900 is always followed by 年代; 年代 by に once and は once.
  const s = scoreSentence(lm, ids('1900年代は20世紀だ'), true);
  assert.deepEqual(s.words.map((w) => w.word), ['1900', '年代', 'は', '20', '世紀', 'だ', '</s>']);
  assert.ok(Math.abs(s.words[1]!.log10) < 1e-6);
  assert.ok(Math.abs(s.words[2]!.log10 - Math.log10(1 / 2)) < 1e-6);
  // A word order never seen has probability 0 under MLE.
  assert.equal(scoreSentence(lm, ids('読書は私'), true).total, -Infinity);

  // The CLI, from the raw file, gives the same numbers.
  const { dir, cleanup } = tempDir();
  try {
    writeFileSync(join(dir, 'lecture.txt'), LECTURE_RAW.join('\n') + '\n');
    const t = await runCli(['train', '--order', '3', '--smoothing', 'mle', '--segment', 'ja', '--json', '-o', join(dir, 'lecture.arpa'), join(dir, 'lecture.txt')]);
    assert.equal(t.code, 0, t.stderr);
    assert.equal(JSON.parse(t.stdout).words, 23);
    const q = await runCli(['score', '--words', '--json', '--segment', 'ja', join(dir, 'lecture.arpa')], { input: '私は\n' });
    assert.equal(q.code, 0, q.stderr);
    const words = JSON.parse(q.stdout).words as { word: string; log10: number }[];
    assert.deepEqual(words.map((w) => w.word), ['私', 'は', '</s>']);
    assert.ok(Math.abs(words[1]!.log10 - Math.log10(1 / 2)) < 1e-6);
    // Without --segment too: the model stores its --segment ja and applies it.
    const plain = await runCli(['score', '--words', '--json', join(dir, 'lecture.arpa')], { input: '私は\n' });
    assert.equal(plain.stdout, q.stdout);
  } finally {
    cleanup();
  }
});

test('train, ppl and score honour --segment on the shipped Japanese fixture', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const model = join(dir, 'ja.arpa');
    const segmented = lines(jaTrain).map((l) => segmentWords(l, 'ja'));
    const t = await runCli(['train', '--order', '3', '--segment', 'ja', '--json', '-o', model, jaTrain]);
    assert.equal(t.code, 0, t.stderr);
    const tj = JSON.parse(t.stdout);
    assert.equal(tj.words, segmented.reduce((n, s) => n + s.length, 0));
    assert.equal(tj.vocabulary, new Set(segmented.flat()).size + 3);

    const testWords = lines(jaTest).map((l) => segmentWords(l, 'ja'));
    const p = await runCli(['ppl', '--json', '--segment', 'ja', model, jaTest]);
    assert.equal(p.code, 0, p.stderr);
    const pj = JSON.parse(p.stdout);
    assert.equal(pj.tokens, testWords.reduce((n, s) => n + s.length + 1, 0));
    assert.ok(pj.oov < pj.tokens / 10, `${pj.oov} OOVs of ${pj.tokens}`);
    // The same without --segment (the model applies its own); another segmentation is refused.
    const pn = await runCli(['ppl', '--json', model, jaTest]);
    assert.equal(pn.code, 0, pn.stderr);
    assert.deepEqual(JSON.parse(pn.stdout), pj);
    const auto = await runCli(['ppl', '--json', '--segment', 'auto', model, jaTest]);
    assert.equal(auto.code, 1);
    assert.match(auto.stderr, /ja\.arpa reads text with --segment ja \(as it was trained\); --segment auto would read it differently/);

    const s = await runCli(['score', '--words', '--json', '--segment', 'ja', model, jaTest]);
    assert.equal(s.code, 0, s.stderr);
    const rows = s.stdout.trim().split('\n').map((l) => JSON.parse(l) as { words: { word: string }[] });
    assert.deepEqual(rows.map((r) => r.words.map((w) => w.word).slice(0, -1)), testWords);

    const bad = await runCli(['ppl', '--segment', 'xx', model, jaTest]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /segmentation locale 'xx' is not supported/);
  } finally {
    cleanup();
  }
});

test('every command that reads text takes --segment; next, generate and rerank split with it', async () => {
  for (const command of ['train', 'ppl', 'score', 'rerank', 'next', 'generate', 'interpolate', 'sweep']) {
    const h = await runCli([command, '--help']);
    assert.equal(h.code, 0, `${command}: ${h.stderr}`);
    assert.match(h.stdout, /--segment LANG/, `kotoba ${command} has no --segment`);
  }
  const { dir, cleanup } = tempDir();
  try {
    const model = join(dir, 'ja.kblm');
    const t = await runCli(['train', '--order', '3', '--segment', 'ja', '-o', model, jaTrain]);
    assert.equal(t.code, 0, t.stderr);
    const next = await runCli(['next', '--json', '--segment', 'ja', '-k', '3', model, '私は']);
    assert.equal(next.code, 0, next.stderr);
    const nj = JSON.parse(next.stdout) as { context: string[]; oov: number; next: unknown[] };
    assert.deepEqual([nj.context, nj.oov, nj.next.length], [['私', 'は'], 0, 3]);
    const gen = await runCli(['generate', '--json', '--segment', 'ja', '--prefix', '私は', '--seed', '3', model]);
    assert.equal(gen.code, 0, gen.stderr);
    const gj = JSON.parse(gen.stdout) as { words: string[]; prefix_words: number };
    assert.deepEqual([gj.words.slice(0, 2), gj.prefix_words], [['私', 'は'], 2]);
    const rr = await runCli(['rerank', '--json', '--segment', 'ja', model], { input: '好きだ読むの本を私は。\n私は本を読むのが好きだ。\n' });
    assert.equal(rr.code, 0, rr.stderr);
    const rj = JSON.parse(rr.stdout) as { candidates: { sentence: string; tokens: number; oov: number }[] };
    assert.equal(rj.candidates[0]!.sentence, '私は本を読むのが好きだ。');
    assert.deepEqual(rj.candidates.map((c) => [c.tokens, c.oov]), [[segmentWords('私は本を読むのが好きだ。', 'ja').length + 1, 0], [segmentWords('好きだ読むの本を私は。', 'ja').length + 1, 0]]);
  } finally {
    cleanup();
  }
});

// Script-change baseline: a boundary wherever the script class changes (kanji / hiragana /
// katakana / other). Intl.Segmenter's dictionary must beat it, or it is not worth using.
function scriptRuns(line: string): string[] {
  const cls = (c: string) => (/\p{Script=Han}/u.test(c) ? 1 : /\p{Script=Hiragana}/u.test(c) ? 2 : /\p{Script=Katakana}/u.test(c) ? 3 : 4);
  const out: string[] = [];
  for (const c of line) {
    if (out.length > 0 && cls(c) === cls(out[out.length - 1]!.slice(-1))) out[out.length - 1] += c;
    else out.push(c);
  }
  return out;
}

// Measured with Node 20.20 (ICU 78.2): train P 0.976 R 0.860 F1 0.915; test P 0.964 R 0.842
// F1 0.899. Intl.Segmenter splits less finely than the gold files (which split inflections:
// 使 っ て い る vs 使 って いる), hence recall below precision. The thresholds leave 0.035 of F1
// for other ICU versions' dictionaries; a change in how we treat punctuation or U+3000 costs
// far more than that (dropping U+3000 alone makes the texts differ and the comparison fail).
const AGREEMENT = [
  { name: 'wiki-ja-train', lines: 818, f1: 0.88, precision: 0.94, recall: 0.82 },
  { name: 'wiki-ja-test', lines: 84, f1: 0.865, precision: 0.93, recall: 0.8 },
];

for (const spec of AGREEMENT) {
  const parts = ['data', 'nlptutorial', 'data', `${spec.name}.txt`];
  test(`agreement of Intl.Segmenter with the gold segmentation of ${spec.name}`, { skip: needShared(...parts) }, () => {
    const raw = readFileSync(sharedPath(...parts), 'utf8').split('\n');
    const gold = readFileSync(sharedPath('data', 'nlptutorial', 'data', `${spec.name}.word`), 'utf8').split('\n');
    if (raw.at(-1) === '') raw.pop();
    if (gold.at(-1) === '') gold.pop();
    assert.equal(raw.length, spec.lines);
    assert.equal(gold.length, spec.lines);
    const goldWords = gold.map((l) => l.split(' ').filter((w) => w !== ''));
    const ours = boundaryAgreement(goldWords, raw.map((l) => segmentWords(l, 'ja')));
    const base = boundaryAgreement(goldWords, raw.map(scriptRuns));
    const f = (x: number) => x.toFixed(4);
    console.log(
      `${spec.name}: Intl.Segmenter vs gold word boundaries over ${ours.lines} lines: ` +
        `precision ${f(ours.precision)} recall ${f(ours.recall)} F1 ${f(ours.f1)} ` +
        `(${ours.matched} of ${ours.predicted} predicted, ${ours.gold} gold); script-change baseline F1 ${f(base.f1)}`,
    );
    assert.ok(ours.f1 >= spec.f1, `F1 ${ours.f1} < ${spec.f1}`);
    assert.ok(ours.precision >= spec.precision, `precision ${ours.precision} < ${spec.precision}`);
    assert.ok(ours.recall >= spec.recall, `recall ${ours.recall} < ${spec.recall}`);
    assert.ok(ours.f1 > base.f1 + 0.1, `Intl.Segmenter F1 ${ours.f1} does not beat the script-change baseline ${base.f1}`);
  });
}

test('raw wiki-ja-train trains with --segment ja and scores its test file', { skip: needShared('data', 'nlptutorial', 'data', 'wiki-ja-test.txt') }, async () => {
  const { dir, cleanup } = tempDir();
  try {
    const model = join(dir, 'wiki-ja.kblm');
    const train = sharedPath('data', 'nlptutorial', 'data', 'wiki-ja-train.txt');
    const testFile = sharedPath('data', 'nlptutorial', 'data', 'wiki-ja-test.txt');
    const t = await runCli(['train', '--order', '3', '--segment', 'ja', '-o', model, train]);
    assert.equal(t.code, 0, t.stderr);
    const pr = await runCli(['ppl', '--json', '--segment', 'ja', model, testFile]);
    assert.equal(pr.code, 0, pr.stderr);
    const p = JSON.parse(pr.stdout);
    const expectedTokens = lines(testFile).reduce((n, l) => n + segmentWords(l, 'ja').length + 1, 0);
    assert.equal(p.tokens, expectedTokens);
    assert.ok(Number.isFinite(p.perplexity) && p.perplexity > 1);
    console.log(`wiki-ja 3-gram mkn on raw text with --segment ja: test perplexity ${p.perplexity.toFixed(2)} (${p.oov} OOVs of ${p.tokens} tokens)`);
  } finally {
    cleanup();
  }
});
