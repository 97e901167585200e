/**
 * kotoba against real toolkits other than KenLM: NLTK (nltk.lm 3.8) and IRSTLM (Debian's
 * 6.00.05), plus an ARPA file in SRILM's layout. The reference numbers are committed fixtures
 * (test/fixtures/peers/), made by make-nltk.py and make-irstlm.sh on small.txt, a corpus written
 * for these tests; no peer runs here.
 *
 * How the comparisons are fair:
 *  - NLTK gets exactly kotoba's n-grams (see make-nltk.py), so every count agrees. For the
 *    interpolated smoothers we compare α(h, w) and γ(h) at orders ≥ 2, where the vocabulary size
 *    does not enter. kotoba does not expose α and γ, but for a seen n-gram h·w of an
 *    interpolated model p(w | h) = α(h, w) + γ(h)·p(w | h') and backoff(h) = γ(h), so we read
 *    them back from kotoba's tables: γ = 10^backoff(h), α = 10^p(h w) − γ·p(w | h').
 *  - IRSTLM counts sentence boundaries its own way (it pads the first sentence with an extra
 *    <s>, so its models hold `<s> <s>` n-grams, and it gives <s> and <unk> unigram
 *    probabilities of their own). Where its smoothing is defined like kotoba's (orders ≥ 2,
 *    contexts other than <s>) the α and γ agree to the precision of its ARPA files (6
 *    significant digits); the tests say where and why they do not.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  AbsoluteDiscounting,
  BackoffModel,
  BOS,
  corpusFromText,
  estimate,
  kneserNeyDiscounts,
  ModifiedKneserNey,
  parseArpa,
  scoreSentence,
  UNK,
  type NgramTables,
  type Smoother,
} from '../src/index.js';
import { loadNgramModel } from '../src/node/index.js';
import { fixtures } from './helpers.js';

const peers = join(fixtures, 'peers');
const read = (name: string) => readFileSync(join(peers, name), 'utf8');
const small = corpusFromText(read('small.txt'));
const heldout = read('heldout.txt').split('\n').slice(0, -1);

// ---------------------------------------------------------------------------------------------
// A reference reading of ARPA semantics, independent of BackoffModel's state machinery:
// p(w | h) = P(h w) if listed, else backoff(h) + p(w | h'), backoff 0 when h is not listed.

class ArpaReference {
  readonly prob = new Map<string, number>();
  readonly backoff = new Map<string, number>();
  readonly order: number;
  constructor(readonly tables: NgramTables) {
    this.order = tables.orders.length;
    for (const t of tables.orders) {
      for (let i = 0; i < t.size; i++) {
        const key = this.words(t.order, t.words, i).join(' ');
        this.prob.set(key, t.log10Prob[i]!);
        if (t.log10Backoff[i] !== 0) this.backoff.set(key, t.log10Backoff[i]!);
      }
    }
  }
  private words(k: number, words: Uint32Array, i: number): string[] {
    return Array.from(words.subarray(i * k, (i + 1) * k), (id) => this.tables.vocab.word(id));
  }
  /** Every listed n-gram of order ≥ 2 as words. */
  *ngrams(): Generator<string[]> {
    for (const t of this.tables.orders.slice(1)) for (let i = 0; i < t.size; i++) yield this.words(t.order, t.words, i);
  }
  /** log10 p(w | history), the history cut to the model's order. */
  log10(history: readonly string[], w: string): number {
    const h = history.slice(Math.max(0, history.length - (this.order - 1)));
    const word = this.prob.has(w) ? w : '<unk>';
    let acc = 0;
    for (let start = 0; ; start++) {
      const ctx = h.slice(start);
      const key = [...ctx, word].join(' ');
      const p = this.prob.get(key);
      if (p !== undefined) return acc + p;
      acc += this.backoff.get(ctx.join(' ')) ?? 0;
    }
  }
  /** α and γ of a listed n-gram h·w of an interpolated model, read back as the header explains. */
  alphaGamma(ngram: readonly string[]): { alpha: number; gamma: number; scale: number } {
    const h = ngram.slice(0, -1);
    const w = ngram[ngram.length - 1]!;
    const gamma = 10 ** (this.backoff.get(h.join(' ')) ?? 0);
    const lower = 10 ** this.log10(h.slice(1), w);
    const p = 10 ** this.prob.get(ngram.join(' '))!;
    // scale: the size of the terms α is the difference of (for tolerances on rounded files).
    return { alpha: p - gamma * lower, gamma, scale: p + gamma * lower };
  }
}

/** The state after reading `context` (KenLM semantics: from <s> when it starts with <s>, else from the empty context). */
function stateAfter(model: BackoffModel, context: readonly string[]): number {
  let state = -1; // the empty context (see BackoffModelArrays.state)
  let words = context;
  if (context[0] === '<s>') {
    state = model.begin();
    words = context.slice(1);
  }
  for (const w of words) state = model.score(state, model.vocab.id(w)).next;
  return state;
}

function log10Of(model: BackoffModel, context: readonly string[], word: string): number {
  return model.score(stateAfter(model, context), model.vocab.id(word)).log10;
}

/** Reports the largest error in the test output (node --test shows diagnostics). */
function worstIs(t: { diagnostic(message: string): void }, worst: number): void {
  t.diagnostic(`largest |Δ| = ${worst.toExponential(2)}`);
}

// ---------------------------------------------------------------------------------------------
// NLTK

interface NltkFixture {
  nltk: string;
  order: number;
  vocabularySize: number;
  alphaGamma: Record<'wb' | 'abs' | 'kn', { discount?: number; rows: [string[], string, number, number][] }>;
  score: Record<'lidstone' | 'laplace' | 'mle', { gamma?: number; rows: [string[], string, number][] }>;
}
const nltk = JSON.parse(read('nltk.json')) as NltkFixture;

function checkAlphaGamma(tables: NgramTables, rows: [string[], string, number, number][], label: string): number {
  const ref = new ArpaReference(tables);
  let worst = 0;
  for (const [context, word, alpha, gamma] of rows) {
    const ngram = [...context, word];
    assert.ok(ref.prob.has(ngram.join(' ')), `${label}: kotoba lacks the n-gram '${ngram.join(' ')}' that NLTK counted`);
    const k = ref.alphaGamma(ngram);
    const err = Math.max(Math.abs(k.alpha - alpha), Math.abs(k.gamma - gamma));
    worst = Math.max(worst, err);
    assert.ok(err <= 1e-6, `${label} '${ngram.join(' ')}': kotoba α=${k.alpha} γ=${k.gamma}, NLTK α=${alpha} γ=${gamma}`);
  }
  // Guard against a vacuous pass: the fixture has hundreds of n-grams of both orders.
  assert.ok(rows.length > 300, `${label}: only ${rows.length} rows`);
  assert.ok(rows.some((r) => r[0].length === 1) && rows.some((r) => r[0].length === 2));
  return worst;
}

test(`NLTK ${nltk.nltk}: the fixture counts the same n-grams as kotoba, and its V is kotoba's V`, () => {
  const tables = estimate(small, { order: nltk.order, smoothing: 'mle' });
  const ref = new ArpaReference(tables);
  // Every n-gram of order ≥ 2 that kotoba counts is an NLTK row and vice versa.
  const ours = new Set(Array.from(ref.ngrams(), (g) => g.join(' ')));
  const theirs = new Set(nltk.alphaGamma.wb.rows.map(([c, w]) => [...c, w].join(' ')));
  assert.deepEqual([...theirs].filter((g) => !ours.has(g)), []);
  assert.deepEqual([...ours].filter((g) => !theirs.has(g)), []);
  assert.equal(nltk.vocabularySize, small.vocab.size - 1, 'NLTK len(vocab) = kotoba V = |V| − 1 (all but <s>)');
});

test('NLTK WittenBellInterpolated: α and γ at orders 2–3 agree to 1e-6', (t) => {
  worstIs(t, checkAlphaGamma(estimate(small, { order: nltk.order, smoothing: 'wb' }), nltk.alphaGamma.wb.rows, 'wb'));
});

test('NLTK AbsoluteDiscountingInterpolated (D = 0.75 at every order): α and γ agree to 1e-6', (t) => {
  const discount = nltk.alphaGamma.abs.discount!;
  assert.equal(discount, 0.75);
  const tables = estimate(small, { order: nltk.order, smoothing: 'abs', smoothingOptions: { discount } });
  worstIs(t, checkAlphaGamma(tables, nltk.alphaGamma.abs.rows, 'abs'));
});

test('NLTK KneserNeyInterpolated (one D = 0.75): α and γ at orders 2–3 agree with kotoba’s Kneser-Ney given the same single discount', (t) => {
  // NLTK's Kneser-Ney has one discount; kotoba's modified KN with D1 = D2 = D3+ = D is the same
  // smoother, continuation counts below the top order included. Left out (see make-nltk.py):
  // contexts below the top order that start with <s> (NLTK divides by zero there; kotoba keeps
  // raw counts for them, as KenLM does) and the unigram level (NLTK's has no discount and no
  // uniform floor, nltk#2599).
  const D = nltk.alphaGamma.kn.discount!;
  const smoother = new ModifiedKneserNey(Array.from({ length: nltk.order }, () => [D, D, D]));
  const tables = estimate(small, { order: nltk.order, smoothing: smoother });
  worstIs(t, checkAlphaGamma(tables, nltk.alphaGamma.kn.rows, 'kn'));
});

function checkScores(tables: NgramTables, rows: [string[], string, number][], label: string, keep: (context: string[]) => boolean, atLeast = 500): number {
  const model = BackoffModel.fromTables(tables);
  let checked = 0;
  for (const [context, word, p] of rows) {
    if (!keep(context)) continue;
    const ours = 10 ** log10Of(model, context, word);
    assert.ok(Math.abs(ours - p) <= 1e-6, `${label} p(${word} | ${context.join(' ')}): kotoba ${ours}, NLTK ${p}`);
    checked++;
  }
  assert.ok(checked >= atLeast, `${label}: only ${checked} rows checked`);
  return checked;
}

const topOrderOrUnseen = (context: string[]) => context.length === nltk.order - 1;
const sentenceStart = (context: string[]) => context.length === 1 && context[0] === '<s>';

test('NLTK Lidstone (γ = 0.1) and Laplace: p(w | h) agrees to 1e-6 for seen and unseen top-order contexts and unseen words', () => {
  for (const [name, fixture] of [['lidstone', nltk.score.lidstone], ['laplace', nltk.score.laplace]] as const) {
    const tables = estimate(small, { order: nltk.order, smoothing: 'add', smoothingOptions: { delta: fixture.gamma! } });
    checkScores(tables, fixture.rows, name, topOrderOrUnseen);
  }
});

test('NLTK Lidstone at a sentence start: p(w | <s>) in a trigram model uses the counts after <s>, as NLTK does', () => {
  // The history <s> is as long as a history gets there; kotoba once gave these words the uniform
  // 1/V (additive smoothing only at full-length n-grams), found by this comparison.
  for (const fixture of [nltk.score.lidstone, nltk.score.laplace]) {
    const tables = estimate(small, { order: nltk.order, smoothing: 'add', smoothingOptions: { delta: fixture.gamma! } });
    checkScores(tables, fixture.rows, `additive δ=${fixture.gamma} at <s>`, sentenceStart, 10);
  }
});

test('NLTK MLE: p(w | h) agrees to 1e-6 (0 for unseen words) for every seen context', () => {
  // Unseen contexts are left out on purpose: NLTK returns 0 there, while a kotoba model, read with
  // ARPA semantics, backs off with weight 1 to the longest seen suffix.
  const tables = estimate(small, { order: nltk.order, smoothing: 'mle' });
  const ref = new ArpaReference(tables);
  const seen = (context: string[]) => (ref.prob.has(context.join(' ')) && context.length === nltk.order - 1) || sentenceStart(context);
  const n = checkScores(tables, nltk.score.mle.rows, 'mle', seen);
  assert.ok(nltk.score.mle.rows.some(([c, , p]) => seen(c) && p === 0), 'some seen-context rows are unseen words (p = 0)');
  assert.ok(n > 0);
});

// ---------------------------------------------------------------------------------------------
// IRSTLM

interface IrstlmSentence {
  words: string[];
  scoreLm: number;
  log10: (number | null)[];
}
interface IrstlmFixture {
  irstlm: string;
  order: number;
  models: Record<string, { arpa: string; stats: Record<string, { n1: number; n2: number; n3: number; n4: number }>; sentences: IrstlmSentence[] }>;
}
const irstlm = JSON.parse(read('irstlm.json')) as IrstlmFixture;
const IRSTLM_MODELS = ['witten-bell', 'kneser-ney', 'improved-kneser-ney', 'tlm-improved-kneser-ney'] as const;

function headerCounts(text: string): number[] {
  return Array.from(text.matchAll(/^ngram\s+\d+\s*=\s*(\d+)\s*$/gm), (m) => Number(m[1]));
}

for (const name of IRSTLM_MODELS) {
  const file = `irstlm-${name}.arpa`;

  test(`IRSTLM ${file}: kotoba reads it — header counts, <s> </s> <unk> as IRSTLM writes them`, async () => {
    const text = read(file);
    const model = await loadNgramModel(join(peers, file));
    assert.deepEqual(model.counts, headerCounts(text));
    const tables = parseArpa(text);
    const ref = new ArpaReference(tables);
    // IRSTLM gives <s> and <unk> real unigram probabilities (not -99); kotoba keeps them as read.
    for (const w of ['<s>', '</s>', '<unk>']) {
      const line = new RegExp(`^(\\S+)\\t${w}(\\t|$)`, 'm').exec(text);
      assert.ok(line, `${w} is listed`);
      assert.equal(ref.prob.get(w), Math.fround(Number(line![1])));
    }
    assert.equal(model.log10Prob(UNK), ref.prob.get('<unk>'));
    assert.ok(model.log10Prob(UNK) > -1.5, 'IRSTLM reserves a large mass for <unk>');
    // IRSTLM keeps n-grams of its padded sentence start, which kotoba reads like any other.
    assert.ok(model.lookup(['<s>', '<s>'].map((w) => model.vocab.id(w))) >= 0);
  });

  test(`IRSTLM ${file}: every context's distribution sums to 1, once <s> (which IRSTLM predicts) is counted`, async (t) => {
    // kotoba never predicts <s> (distribution() leaves it at 0); IRSTLM gives it probability
    // mass, so the sum over every word of p(w | h) is Σ distribution + p(<s> | h). Contexts
    // that end in </s> are left out: IRSTLM writes backoff weights for them (`</s>`, `cat </s>`)
    // from cross-sentence n-grams that it then drops, so their distributions sum to
    // 10^backoff, not 1. No sentence ever has such a context.
    const model = await loadNgramModel(join(peers, file));
    const ref = new ArpaReference(parseArpa(read(file)));
    const V = model.vocab.size;
    const out = new Float64Array(V);
    let contexts = 0;
    let worst = 0;
    const check = (state: number, label: string) => {
      model.distribution(state, out);
      let sum = 10 ** model.score(state, BOS).log10;
      for (let w = 0; w < V; w++) sum += out[w]!;
      worst = Math.max(worst, Math.abs(sum - 1));
      // 6 significant digits per value in the file: sums hold to about 1e-5.
      assert.ok(Math.abs(sum - 1) < 1e-4, `${label}: Σ p = ${sum}`);
      contexts++;
    };
    check(-1, 'empty context');
    for (const key of new Set([...ref.backoff.keys(), ...Array.from(ref.ngrams(), (g) => g.slice(0, -1).join(' '))])) {
      if (key.split(' ').at(-1) === '</s>') continue;
      const id = model.lookup(key.split(' ').map((w) => model.vocab.id(w)));
      assert.ok(id >= 0, key);
      // Reading a context leaves the model in the context itself (it has children or a backoff).
      const state = stateAfter(model, key.split(' '));
      assert.equal(state, id, key);
      check(state, key);
    }
    assert.ok(contexts > 100, `only ${contexts} contexts`);
    t.diagnostic(`${contexts} contexts; largest |Σ p − 1| = ${worst.toExponential(2)}`);
  });

  test(`IRSTLM ${file}: kotoba's query gives IRSTLM's own scores (compile-lm --score per word, score-lm per sentence)`, async (t) => {
    const model = await loadNgramModel(join(peers, file));
    const ref = new ArpaReference(parseArpa(read(file)));
    const bos = model.log10Prob(BOS);
    let words = 0;
    let worstWord = 0;
    let worstTotal = 0;
    for (const s of irstlm.models[name]!.sentences) {
      const ids = s.words.map((w) => model.vocab.id(w));
      const ours = scoreSentence(model, ids);
      const history = ['<s>'];
      ours.words.forEach((w, i) => {
        const theirs = s.log10[i];
        // The independent ARPA reading agrees with kotoba's state machine.
        const expected = ref.log10(history, s.words[i] ?? '</s>');
        assert.ok(Math.abs(w.log10 - expected) < 1e-5, `reference: ${s.words.join(' ')} @${i}`);
        history.push(s.words[i] ?? '</s>');
        if (theirs === null || theirs === undefined) return; // IRSTLM's --score skips windows shorter than the order
        worstWord = Math.max(worstWord, Math.abs(w.log10 - theirs));
        assert.ok(Math.abs(w.log10 - theirs) < 1e-6, `'${s.words.join(' ')}' word ${i}: kotoba ${w.log10}, IRSTLM ${theirs}`);
        words++;
      });
      // score-lm also scores <s> (a unigram in IRSTLM's model): take it out.
      const irstTotal = s.scoreLm - bos;
      worstTotal = Math.max(worstTotal, Math.abs(ours.total - irstTotal));
      assert.ok(Math.abs(ours.total - irstTotal) < 1e-4, `'${s.words.join(' ')}': kotoba ${ours.total}, IRSTLM ${irstTotal}`);
    }
    assert.ok(words > 40, `only ${words} words compared`);
    t.diagnostic(`${words} words: largest |Δ log10| = ${worstWord.toExponential(2)}; sentence totals: ${worstTotal.toExponential(2)}`);
    assert.equal(irstlm.models[name]!.sentences.length, heldout.length);
  });
}

/** IRSTLM's discounts as build-sublm.pl (shift-beta / improved-shift-beta) and tlm compute them. */
function irstDiscounts(stats: { n1: number; n2: number; n3: number; n4: number }, improved: boolean): number[] {
  const { n1, n2, n3, n4 } = stats;
  const Y = n1 / (n1 + 2 * n2);
  if (!improved) return [Y, Y, Y];
  if (n3 === 0 || n4 === 0 || n2 <= n3 || n3 <= n4) return [Y, Y, Y];
  return [1 - (2 * Y * n2) / n1, 2 - (3 * Y * n3) / n2, 3 - (4 * Y * n4) / n3];
}

/**
 * Compares kotoba's α/γ with IRSTLM's for every n-gram of order ≥ 2 in both, to the precision
 * of IRSTLM's file: each value has 6 significant digits (≤ 1.2e-5 relative in probability), and
 * α is a difference of terms of size `scale`.
 */
function compareWithIrstlm(ours: NgramTables, file: string) {
  const k = new ArpaReference(ours);
  const i = new ArpaReference(parseArpa(read(file)));
  const mismatched: string[] = [];
  let compared = 0;
  let worst = 0; // relative to the tolerance's scale, outside the <s> context
  for (const g of i.ngrams()) {
    const key = g.join(' ');
    if (!k.prob.has(key)) continue;
    const a = k.alphaGamma(g);
    const b = i.alphaGamma(g);
    compared++;
    const da = Math.abs(a.alpha - b.alpha);
    const dg = Math.abs(a.gamma - b.gamma);
    if (!key.startsWith('<s> ') || g.length > 2) worst = Math.max(worst, da / b.scale, dg / b.gamma);
    const ok = da <= 5e-5 * b.scale + 1e-7 && dg <= 3e-5 * b.gamma;
    if (!ok) mismatched.push(key);
  }
  const onlyIrstlm = Array.from(i.ngrams(), (g) => g.join(' ')).filter((key) => !k.prob.has(key));
  const onlyOurs = Array.from(k.ngrams(), (g) => g.join(' ')).filter((key) => !i.prob.has(key));
  return { compared, mismatched, onlyIrstlm, onlyOurs, worst };
}

/** The differences the boundary handling predicts: context <s> (one extra successor, <s>), and IRSTLM's `<s> <s>` n-grams. */
function assertOnlyBoundaryDifferences(t: { diagnostic(m: string): void }, r: ReturnType<typeof compareWithIrstlm>, label: string): void {
  assert.deepEqual(r.onlyOurs, [], `${label}: n-grams kotoba has and IRSTLM lacks`);
  assert.ok(r.onlyIrstlm.every((g) => g.startsWith('<s> <s>')), `${label}: IRSTLM-only n-grams ${r.onlyIrstlm.join(', ')}`);
  const unexplained = r.mismatched.filter((g) => !/^<s> \S+$/.test(g));
  assert.deepEqual(unexplained, [], `${label}: α/γ differ outside the <s> context`);
  assert.ok(r.mismatched.length > 0, `${label}: the <s> context was expected to differ (IRSTLM counts <s> <s> there)`);
  assert.ok(r.compared > 400, `${label}: only ${r.compared} n-grams compared`);
  t.diagnostic(
    `${r.compared} n-grams compared; outside the <s> context the largest relative difference is ${r.worst.toExponential(2)}; ` +
      `differing: ${r.mismatched.length} n-grams of the <s> context; IRSTLM only: ${r.onlyIrstlm.join(', ')}`,
  );
}

test('IRSTLM witten-bell (build-lm.sh): α and γ equal kotoba’s wb for every n-gram of order ≥ 2 outside the <s> context', (t) => {
  const r = compareWithIrstlm(estimate(small, { order: 3, smoothing: 'wb' }), 'irstlm-witten-bell.arpa');
  assertOnlyBoundaryDifferences(t, r, 'witten-bell');
});

test('IRSTLM kneser-ney (build-lm.sh maps it to shift-beta = absolute discounting on raw counts): equal to kotoba’s abs given IRSTLM’s per-order β', (t) => {
  const stats = irstlm.models['kneser-ney']!.stats;
  const beta = [1, 2, 3].map((k) => irstDiscounts(stats[k]!, false)[0]!);
  class IrstlmShiftBeta extends AbsoluteDiscounting {
    override prepare(): void {
      this.discounts = beta;
    }
  }
  const r = compareWithIrstlm(estimate(small, { order: 3, smoothing: new IrstlmShiftBeta() }), 'irstlm-kneser-ney.arpa');
  assertOnlyBoundaryDifferences(t, r, 'shift-beta');
  // kotoba's own discount: the same at order 2; at order 3 IRSTLM's count-of-counts include its
  // padded `<s> <s>` trigrams, so β3 differs a little.
  const own = new AbsoluteDiscounting();
  estimate(small, { order: 3, smoothing: own });
  assert.ok(Math.abs(own.discounts[1]! - beta[1]!) < 1e-12, `D2 ${own.discounts[1]} vs β2 ${beta[1]}`);
  assert.notEqual(own.discounts[2], beta[2]);
  assert.ok(Math.abs(own.discounts[2]! - beta[2]!) < 0.01, `D3 ${own.discounts[2]} vs β3 ${beta[2]}`);
});

test('IRSTLM improved-kneser-ney (build-lm.sh: improved-shift-beta = three discounts on raw counts): equal to kotoba’s modified-KN α/γ on raw counts with IRSTLM’s β', (t) => {
  const stats = irstlm.models['improved-kneser-ney']!.stats;
  const mkn = new ModifiedKneserNey([1, 2, 3].map((k) => irstDiscounts(stats[k]!, true)));
  // kotoba's modified-KN formulas, fed raw counts at every order (IRSTLM's improved shift-beta).
  const rawCounts: Smoother = {
    name: 'improved shift-beta',
    counts: 'raw',
    float32: true,
    prepare: (ctx) => mkn.prepare(ctx),
    alpha: (order, count, stats, h) => mkn.alpha(order, count, stats, h),
    gamma: (order, stats, h) => mkn.gamma(order, stats, h),
    base: (v) => mkn.base(v),
  };
  const r = compareWithIrstlm(estimate(small, { order: 3, smoothing: rawCounts }), 'irstlm-improved-kneser-ney.arpa');
  assertOnlyBoundaryDifferences(t, r, 'improved-shift-beta');
});

test('IRSTLM tlm ImprovedKneserNey (corrected counts): equal to kotoba’s modified KN (KenLM’s adjusted counts) given IRSTLM’s discounts; discounts differ at orders 2–3', (t) => {
  const stats = irstlm.models['tlm-improved-kneser-ney']!.stats;
  const discounts = [1, 2, 3].map((k) => irstDiscounts(stats[k]!, true));
  const r = compareWithIrstlm(estimate(small, { order: 3, smoothing: new ModifiedKneserNey(discounts) }), 'irstlm-tlm-improved-kneser-ney.arpa');
  assertOnlyBoundaryDifferences(t, r, 'tlm ikn');
  // kotoba's own discounts (KenLM's): the unigram level's are IRSTLM's exactly; above it IRSTLM's
  // count-of-counts differ (its sentence-start n-grams), so its 2- and 3-gram discounts do too.
  const own = new ModifiedKneserNey();
  estimate(small, { order: 3, smoothing: own });
  for (let j = 1; j <= 3; j++) assert.equal(own.discounts[0]!.d[j], Math.fround(discounts[0]![j - 1]!), `1-gram D${j}`);
  assert.ok([2, 3].every((k) => [1, 2, 3].some((j) => Math.abs(own.discounts[k - 1]!.d[j]! - discounts[k - 1]![j - 1]!) > 1e-4)));
  // kotoba's discount formula on IRSTLM's count-of-counts gives IRSTLM's discounts.
  for (let k = 1; k <= 3; k++) {
    const { n1, n2, n3, n4 } = stats[k]!;
    const d = kneserNeyDiscounts(new Float64Array([0, n1, n2, n3, n4]));
    for (let j = 1; j <= 3; j++) assert.ok(Math.abs(d.d[j]! - discounts[k - 1]![j - 1]!) < 1e-6, `order ${k} D${j}`);
  }
});

test('IRSTLM unigrams are defined differently (documented bound): build-lm.sh adds one to every count, tlm uses continuation counts without a floor', (t) => {
  // Not compared value for value: IRSTLM's unigram level (merge-sublm.pl: (c+1)/(N+|V|), <s>
  // counted once, a large <unk> mass; tlm: N1+(•w)/N1+(••)) is not kotoba's interpolation with a
  // uniform floor. For words seen in training the two stay within a factor of 2.2.
  const pairs: [string, NgramTables][] = [
    ['irstlm-witten-bell.arpa', estimate(small, { order: 3, smoothing: 'wb' })],
    ['irstlm-tlm-improved-kneser-ney.arpa', estimate(small, { order: 3, smoothing: 'mkn' })],
  ];
  for (const [file, ours] of pairs) {
    const i = new ArpaReference(parseArpa(read(file)));
    const k = new ArpaReference(ours);
    let worst = 0;
    for (const w of small.vocab.list().slice(3)) worst = Math.max(worst, Math.abs(k.prob.get(w)! - i.prob.get(w)!));
    assert.ok(worst > 1e-3, `${file}: the unigram levels were expected to differ`);
    assert.ok(worst < Math.log10(2.2), `${file}: unigram log10 differs by up to ${worst}`);
    t.diagnostic(`${file}: largest unigram |Δ log10| = ${worst.toFixed(3)}`);
  }
});

// ---------------------------------------------------------------------------------------------
// SRILM's layout, by hand

test('SRILM layout (comment header, -99 for <s>, tabs, missing backoff column, 1.2e-05): read and scored by ARPA semantics', async () => {
  const model = await loadNgramModel(join(peers, 'srilm-hand.arpa'));
  assert.deepEqual(model.counts, [6, 5, 2]);
  const id = (w: string) => model.vocab.id(w);
  assert.equal(model.log10Prob(BOS), -Infinity, '-99 reads as log10 0');
  assert.equal(model.log10Prob(id('a')), Math.fround(-1.2e-5));
  assert.equal(model.log10Backoff(id('c')), 0, 'a missing backoff column is 0');
  assert.equal(model.log10Prob(model.lookup([id('b'), id('c')])), Math.fround(-0.12));
  // Worked by hand from the file, p(w | h) = P(h w) or backoff(h) + p(w | h'):
  const cases: [string, number][] = [
    ['a b c', -0.30103 - 0.2 - 0.15 - 0.69897], // trigrams, then </s> from the unigram (b c, c: no backoff)
    ['b a', -0.30103 - 0.69897 + (-0.1760913 - 1.2e-5) + (-0.2218487 - 0.69897)],
    ['a b a', -0.30103 - 0.2 + (-0.05 - 0.1760913 - 1.2e-5) + (-0.2218487 - 0.69897)],
    ['a b', -0.30103 - 0.2 + (-0.05 - 0.5)], // </s> through backoff(a b) and the bigram b </s>
    ['a c', -0.30103 + (-0.1 - 0.6) - 0.69897],
    ['c zebra', -0.30103 - 1 - 1.5 - 0.69897], // zebra is <unk>
    ['', -0.30103 - 0.69897],
  ];
  const ref = new ArpaReference(parseArpa(read('srilm-hand.arpa')));
  for (const [text, expected] of cases) {
    const words = text ? text.split(' ') : [];
    const r = scoreSentence(model, words.map(id));
    assert.ok(Math.abs(r.total - expected) < 1e-6, `'${text}': ${r.total} vs ${expected}`);
    const history = ['<s>'];
    let sum = 0;
    for (const w of [...words, '</s>']) {
      sum += ref.log10(history, w);
      history.push(w);
    }
    assert.ok(Math.abs(sum - expected) < 1e-6, `reference '${text}': ${sum}`);
  }
  assert.equal(scoreSentence(model, [id('zebra')]).words[0]!.oov, true);
});
