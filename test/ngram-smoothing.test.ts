/**
 * Smoothers against hand-computed values, the lecture's maximum-likelihood example, Neubig's
 * tutorial exercises, and the property that every distribution sums to 1.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import {
  BackoffModel,
  BOS,
  corpusFromText,
  estimate,
  scoreSentence,
  splitWords,
  SMOOTHING_NAMES,
  type SmoothingName,
} from '../src/index.js';
import { LECTURE, needShared, runCli, sharedPath, tempDir } from './helpers.js';

const quiet = { warn() {}, info() {} };
const AB = ['a b c', 'a b d'];

function model(lines: readonly string[], order: number, smoothing: SmoothingName, options = {}) {
  return BackoffModel.fromTables(estimate(corpusFromText(lines), { order, smoothing, smoothingOptions: options, log: quiet }));
}

/** p(word | context words) from a model, as a probability. */
function prob(m: BackoffModel, context: string, word: string): number {
  let state = m.begin();
  const words = splitWords(context);
  if (words[0] === '<s>') words.shift();
  else state = -1; // no sentence start: the empty context
  for (const w of words) state = m.score(state, m.vocab.id(w)).next;
  return Math.pow(10, m.score(state, m.vocab.id(word)).log10);
}

const close = (a: number, b: number, tol = 1e-6) => assert.ok(Math.abs(a - b) <= tol * Math.max(1, Math.abs(b)), `${a} ≠ ${b}`);

test('lecture: maximum likelihood P(は | <s> 私) = 0.5 and P(20世紀 | <s> 私 の 本 は) = 0, reported as -inf', () => {
  const m3 = model(LECTURE, 3, 'mle');
  close(prob(m3, '<s> 私', 'は'), 0.5);
  close(prob(m3, '<s> 私', 'の'), 0.5);
  const m6 = model(LECTURE, 6, 'mle');
  assert.equal(prob(m6, '<s> 私 の 本 は', '20世紀'), 0);
  const ids = splitWords('私 の 本 は 20世紀 だ').map((w) => m6.vocab.id(w));
  const r = scoreSentence(m6, ids);
  assert.equal(r.words[4]!.log10, -Infinity);
  assert.equal(r.total, -Infinity);
  // An unseen word has probability 0 too: maximum likelihood cannot handle it.
  assert.equal(scoreSentence(m6, [m6.vocab.id('猫')]).words[0]!.log10, -Infinity);
});

test('hand-computed: interpolated Witten-Bell on "a b c / a b d"', () => {
  const m = model(AB, 2, 'wb');
  // Unigrams a2 b2 c1 d1 </s>2: T = 8, 5 distinct; base 1/6 (7 words but <s>).
  const pc = 1 / 13 + (5 / 13) * (1 / 6);
  close(prob(m, '', 'c'), pc);
  // After b: c1 d1, T = 2, 2 distinct: α = 1/4, γ = 1/2.
  close(prob(m, '<s> b', 'c'), 1 / 4 + (1 / 2) * pc);
  close(prob(m, '<s> b', 'a'), (1 / 2) * (2 / 13 + (5 / 13) * (1 / 6)));
});

test('hand-computed: modified Kneser-Ney on "a b c / a b d" (fallback discounts)', () => {
  const m = model(AB, 2, 'mkn');
  // Adjusted unigram counts a1 b1 c1 d1 </s>2 (distinct left words); n3 = 0 → D = 0.5, 1, 1.5.
  // T = 6; γ = (0.5·4 + 1·1)/6 = 1/2; uniform 1/6.
  close(prob(m, '', 'c'), 0.5 / 6 + 0.5 / 6);
  close(prob(m, '', '</s>'), 1 / 6 + 0.5 / 6);
  close(prob(m, '', '<unk>'), 0.5 / 6);
  // Bigrams use raw counts: after b, c1 d1: α = 0.5/2, γ = 0.5·2/2.
  close(prob(m, '<s> b', 'c'), 0.25 + 0.5 * (1 / 6));
});

test('hand-computed: interpolated absolute discounting with D = n1/(n1 + 2 n2)', () => {
  const m = model(AB, 2, 'abs');
  // Unigram raw count-of-counts n1 = 2 (c, d), n2 = 3 → D = 2/8; bigram n1 = 4, n2 = 2 → D = 1/2.
  const pc = (1 - 0.25) / 8 + ((0.25 * 5) / 8) * (1 / 6);
  close(prob(m, '', 'c'), pc);
  close(prob(m, '<s> b', 'c'), (1 - 0.5) / 2 + ((0.5 * 2) / 2) * pc);
  const fixed = model(AB, 2, 'abs', { discount: 0.75 });
  const pc75 = (1 - 0.75) / 8 + ((0.75 * 5) / 8) * (1 / 6);
  close(prob(fixed, '<s> b', 'c'), (1 - 0.75) / 2 + ((0.75 * 2) / 2) * pc75);
});

test('hand-computed: additive (Laplace, Lidstone) at the top order, uniform for unseen contexts', () => {
  const m = model(AB, 2, 'add');
  close(prob(m, '<s> b', 'c'), (1 + 1) / (2 + 6));
  close(prob(m, '<s> b', 'a'), 1 / (2 + 6));
  close(prob(m, '<s> c', '</s>'), (1 + 1) / (1 + 6));
  const lid = model(AB, 2, 'add', { delta: 0.5 });
  close(prob(lid, '<s> b', 'c'), (1 + 0.5) / (2 + 0.5 * 6));
  // A word never seen as a context (</s> is only predicted): uniform.
  close(prob(m, '<s> </s>', 'a'), 1 / 6);
});

test('hand-computed: Jelinek-Mercer with an unknown-word floor', () => {
  const m = model(AB, 2, 'jm', { lambda: [0.95], vocabularySize: 1_000_000 });
  const pc = 0.95 * (1 / 8) + 0.05 / 1_000_000;
  close(prob(m, '', 'c'), pc);
  close(prob(m, '<s> b', 'c'), 0.95 * (1 / 2) + 0.05 * pc);
  close(prob(m, '', 'zzz'), 0.05 / 1_000_000);
  const two = model(AB, 2, 'jm', { lambda: [0.9, 0.7] });
  close(prob(two, '<s> b', 'c'), 0.7 * 0.5 + 0.3 * (0.9 * (1 / 8) + 0.1 / 6));
});

test('every smoother: the distribution sums to 1 for every context in the model and every history of a test text', () => {
  const train = corpusFromText([...LECTURE, ...AB, 'a b a b c d', '私 は a b', 'b b b b']);
  const probe = corpusFromText(['私 は 本 が 好き だ', 'a d c b', 'x y 私 の', 'b b a'], { vocab: train.vocab });
  for (const smoothing of SMOOTHING_NAMES) {
    for (const order of [1, 2, 3, 4]) {
      const m = BackoffModel.fromTables(estimate(train, { order, smoothing, log: quiet }));
      const out = new Float64Array(m.vocab.size);
      const check = (state: number, what: string) => {
        m.distribution(state, out);
        let sum = 0;
        for (let w = 0; w < out.length; w++) sum += out[w]!;
        assert.ok(Math.abs(sum - 1) <= 1e-6, `${smoothing} order ${order} ${what}: sums to ${sum}`);
        // distribution() agrees with score() word by word
        for (const w of [0, 2, 3, out.length - 1]) {
          if (w === BOS) continue;
          close(out[w]!, Math.pow(10, m.score(state, w).log10), 1e-5);
        }
      };
      check(-1, 'empty context');
      for (let id = 0; id < m.vocab.size; id++) if (id !== BOS) check(id, `context ${m.vocab.word(id)}`);
      for (const ids of m.ordered) for (const id of ids) check(id, `context ${m.words(id).map((w) => m.vocab.word(w)).join(' ')}`);
      // Histories met while scoring held-out text, unseen ones included.
      for (let i = 0, state = m.begin(); i < probe.tokens.length; i++) {
        const t = probe.tokens[i]!;
        if (t === BOS) {
          state = m.begin();
          continue;
        }
        check(state, `history before token ${i}`);
        state = m.score(state, t).next;
      }
    }
  }
});

const tutorial = needShared('data', 'nlptutorial', 'test');

test("Neubig's tutorial 01: unigram with λ1 = 0.95, V = 1,000,000 gives entropy 6.709899 and coverage 0.8", { skip: tutorial }, async () => {
  const t = (f: string) => sharedPath('data', 'nlptutorial', 'test', f);
  // The model's maximum-likelihood part is the train answer: word → P_ML.
  const answer = readFileSync(t('01-train-answer.txt'), 'utf8').trim().split('\n').map((l) => l.split('\t'));
  const m = model(readFileSync(t('01-train-input.txt'), 'utf8').trim().split('\n'), 1, 'jm', { lambda: [0.95], vocabularySize: 1e6 });
  for (const [w, p] of answer) close(prob(m, '', w!), 0.95 * Number(p) + 0.05 / 1e6);
  const { dir, cleanup } = tempDir();
  try {
    const path = `${dir}/u.arpa`;
    assert.equal((await runCli(['train', '--order', '1', '--smoothing', 'jm', '--lambda', '0.95', '--unk-vocab', '1000000', '-o', path, t('01-train-input.txt')])).code, 0);
    const r = JSON.parse((await runCli(['ppl', '--json', path, t('01-test-input.txt')])).stdout);
    const expected = readFileSync(t('01-test-answer.txt'), 'utf8');
    const entropy = Number(/entropy = (\S+)/.exec(expected)![1]);
    const coverage = Number(/coverage = (\S+)/.exec(expected)![1]);
    // ARPA stores float32 log10 values, so agreement is to float32 precision.
    close(r.entropy_bits, entropy, 1e-6);
    close(1 - r.oov / r.tokens, coverage);
  } finally {
    cleanup();
  }
});

test("Neubig's tutorial 02: the bigram model's maximum-likelihood probabilities", { skip: tutorial }, () => {
  const t = (f: string) => sharedPath('data', 'nlptutorial', 'test', f);
  const m = model(readFileSync(t('02-train-input.txt'), 'utf8').trim().split('\n'), 2, 'mle');
  const answer = readFileSync(t('02-train-answer.txt'), 'utf8').trim().split('\n').map((l) => l.split('\t'));
  assert.ok(answer.length > 5);
  for (const [ngram, p] of answer) {
    const words = ngram!.split(' ');
    const context = words.length === 1 ? '' : words[0] === '<s>' ? '<s>' : `<s> ${words[0]}`;
    close(prob(m, context, words[words.length - 1]!), Number(p));
  }
});
