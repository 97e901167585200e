/**
 * Linear mixtures: scores, distributions over the union vocabulary, EM, the mixture file, the
 * static ARPA export, and `kotoba interpolate`.
 */
import assert from 'node:assert/strict';
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  alignVocabularies,
  arpaText,
  BackoffModel,
  BOS,
  corpusFromText,
  EOS,
  estimate,
  fullDistribution,
  KotobaError,
  MixtureModel,
  mixNgramTables,
  parseArpa,
  scoreTokens,
  tuneWeights,
  UNK,
  type LanguageModel,
} from '../src/index.js';
import { loadModel, saveMixture, saveNgramModel } from '../src/node/index.js';
import { corpusLines, TableModel } from './apps-helpers.js';
import { runCli, tempDir } from './helpers.js';

// Two models of different text (so different vocabularies) and orders, and a unigram.
const textA = corpusLines('train', 0, 4000);
const textB = corpusLines('train', 4000, 8000);
const trigramA = BackoffModel.fromTables(estimate(corpusFromText(textA), { order: 3 }));
const bigramB = BackoffModel.fromTables(estimate(corpusFromText(textB), { order: 2, smoothing: 'wb' }));
const unigramA = BackoffModel.fromTables(estimate(corpusFromText(textA), { order: 1 }));
const unigramB = BackoffModel.fromTables(estimate(corpusFromText(textB), { order: 1 }));
const dev = corpusLines('valid', 0, 400);
const test_ = corpusLines('test', 0, 300);

/** log10 p of each token of `lines` under `lm`, words mapped through `lm.vocab`. */
function tokenScores(lm: LanguageModel<unknown>, lines: string[]): { words: string[]; log10: number[]; ngram: number[]; position: number[] } {
  const out = { words: [] as string[], log10: [] as number[], ngram: [] as number[], position: [] as number[] };
  for (const line of lines) {
    const words = line.split(' ').filter(Boolean);
    let state = lm.begin();
    [...words, '</s>'].forEach((w, j) => {
      const r = lm.score(state, lm.vocab.id(w));
      out.words.push(w);
      out.log10.push(r.log10);
      out.ngram.push(r.ngram ?? 0);
      out.position.push(j + 1);
      state = r.next;
    });
  }
  return out;
}

test('the union vocabulary keeps the first model\'s ids; identical vocabularies are shared', () => {
  const a = alignVocabularies([trigramA.vocab, bigramB.vocab]);
  assert.ok(a.vocab.size > trigramA.vocab.size && a.vocab.size > bigramB.vocab.size);
  for (const id of [0, 1, 2, 3, 100, trigramA.vocab.size - 1]) assert.equal(a.vocab.word(id), trigramA.vocab.word(id));
  const onlyB = bigramB.vocab.list().find((w) => !trigramA.vocab.has(w))!;
  const u = a.vocab.id(onlyB);
  assert.equal(a.absent[0]![u], 1);
  assert.equal(a.toComponent[0]![u], UNK);
  assert.equal(a.toComponent[1]![u], bigramB.vocab.id(onlyB));
  assert.equal(a.fromComponent[1]![bigramB.vocab.id(onlyB)], u);
  const same = alignVocabularies([trigramA.vocab, unigramA.vocab]);
  assert.equal(same.vocab, trigramA.vocab);
  assert.equal(same.toComponent[1], null);
});

test('mixture scores are log10 Σ λ_i p_i, words a component lacks getting p_i = 0', () => {
  const mix = new MixtureModel([trigramA, bigramB], [0.7, 0.3]);
  const sa = tokenScores(trigramA, test_.slice(0, 100));
  const sb = tokenScores(bigramB, test_.slice(0, 100));
  const sm = tokenScores(mix, test_.slice(0, 100));
  let lacking = 0;
  for (let t = 0; t < sm.words.length; t++) {
    const w = sm.words[t]!;
    const pa = w === '</s>' || trigramA.vocab.has(w) || !mix.vocab.has(w) ? 10 ** sa.log10[t]! : 0;
    const pb = w === '</s>' || bigramB.vocab.has(w) || !mix.vocab.has(w) ? 10 ** sb.log10[t]! : 0;
    if (pa === 0 || pb === 0) lacking++;
    assert.ok(Math.abs(sm.log10[t]! - Math.log10(0.7 * pa + 0.3 * pb)) < 1e-9, `token ${t} '${w}'`);
  }
  assert.ok(lacking > 0, 'the test text has words only one model knows');
  // The sentence fast path gives the same numbers as word-by-word scoring.
  const corpus = corpusFromText(test_.slice(0, 100), { vocab: mix.vocab });
  const fast = scoreTokens(mix, corpus.tokens);
  const slow = sm.log10.reduce((a, b) => a + b, 0);
  assert.ok(Math.abs(fast.log10Sum - slow) < 1e-3, `${fast.log10Sum} vs ${slow}`);
  assert.equal(fast.tokens, sm.words.length);
});

test('the mixture distribution sums to 1 over the union vocabulary and agrees with score', () => {
  const mix = new MixtureModel([trigramA, bigramB], [0.55, 0.45]);
  assert.ok(mix.distribution, 'both components have distribution');
  const V = mix.vocab.size;
  const dist = new Float64Array(V);
  let state = mix.begin();
  for (const w of [...test_[3]!.split(' ').filter(Boolean).slice(0, 15), '</s>']) {
    fullDistribution(mix, state, dist);
    let sum = 0;
    for (let i = 0; i < V; i++) sum += dist[i]!;
    assert.ok(Math.abs(sum - 1) < 1e-4, `sum ${sum}`);
    assert.equal(dist[BOS], 0);
    for (const id of [mix.vocab.id(w), EOS, UNK, 5, V - 1]) {
      assert.ok(Math.abs(dist[id]! - 10 ** mix.score(state, id).log10) < 1e-7, `p(${mix.vocab.word(id)})`);
    }
    state = mix.score(state, mix.vocab.id(w)).next;
  }
  // A component without distribution: the mixture has none either, and scoring every word still sums to 1.
  const t = new MixtureModel([new TableModel(), new TableModel()], [0.2, 0.8]);
  assert.equal(t.distribution, undefined);
  const d = fullDistribution(t, t.score(t.begin(), 3).next);
  assert.ok(Math.abs(d.reduce((a, b) => a + b, 0) - 1) < 1e-12);
});

test('EM: the likelihood never falls, weights sum to 1, and the optimum satisfies its KKT conditions', () => {
  const mix = new MixtureModel([trigramA, bigramB, unigramA]);
  const corpus = corpusFromText(dev, { vocab: mix.vocab });
  const seen: number[] = [];
  const r = tuneWeights(mix, corpus.tokens, { onIteration: (it) => seen.push(it.iteration) });
  assert.ok(r.converged);
  assert.deepEqual(
    seen,
    r.iterations.map((it) => it.iteration),
  );
  assert.ok(r.iterations.length > 3);
  for (let i = 0; i < r.iterations.length; i++) {
    const it = r.iterations[i]!;
    assert.ok(Math.abs(it.weights.reduce((a, b) => a + b, 0) - 1) < 1e-12);
    assert.ok(Math.abs(it.perplexity - 10 ** (-it.log10Likelihood / r.tokens)) < 1e-9 * it.perplexity);
    if (i > 0) assert.ok(it.log10Likelihood >= r.iterations[i - 1]!.log10Likelihood - 1e-9, `iteration ${i} lowered the likelihood`);
  }
  assert.ok(r.iterations[r.iterations.length - 1]!.perplexity < r.iterations[0]!.perplexity);
  // At the maximum, every component with weight > 0 has mean p_i / p_mix = 1 (the gradient condition).
  const tuned = mix.withWeights(r.weights);
  const per = [trigramA, bigramB, unigramA].map((m) => tokenScores(m, dev).log10);
  const mixed = tokenScores(tuned, dev);
  for (let k = 0; k < 3; k++) {
    if (r.weights[k]! < 0.01) continue;
    let mean = 0;
    const lacks = (w: string) => w !== '</s>' && tuned.vocab.has(w) && !([trigramA, bigramB, unigramA][k]!.vocab.has(w));
    for (let t = 0; t < mixed.words.length; t++) mean += (lacks(mixed.words[t]!) ? 0 : 10 ** per[k]![t]!) / 10 ** mixed.log10[t]!;
    mean /= mixed.words.length;
    assert.ok(Math.abs(mean - 1) < 2e-3, `component ${k}: mean ratio ${mean}`);
  }
  // The tuned mixture beats each model alone (same vocabulary, so the perplexities compare).
  const same = new MixtureModel([trigramA, unigramA]);
  const sameCorpus = corpusFromText(dev, { vocab: same.vocab });
  const best = tuneWeights(same, sameCorpus.tokens);
  const final = best.iterations[best.iterations.length - 1]!.perplexity;
  for (const m of [trigramA, unigramA]) {
    const alone = scoreTokens(m, sameCorpus.tokens).perplexity;
    assert.ok(final < alone, `${final} vs ${alone} (${m.description})`);
  }
  // Given initial weights with a zero: EM keeps it at zero.
  const z = tuneWeights(mix, corpus.tokens, { initial: [0.5, 0.5, 0], maxIterations: 5 });
  assert.equal(z.weights[2], 0);
  assert.throws(() => new MixtureModel([trigramA, bigramB], [0.5, 0.6]), KotobaError);
});

test('static ARPA export: every distribution sums to 1, and it equals the mixture wherever the full n-gram is listed', async () => {
  for (const [models, weights] of [
    [[trigramA, bigramB], [0.6, 0.4]],
    [[trigramA, unigramA], [0.8, 0.2]],
  ] as [BackoffModel[], number[]][]) {
    const mix = new MixtureModel(models, weights);
    // Through ARPA text and back, as a user would read the file.
    const merged = BackoffModel.fromTables(parseArpa(await arpaText(mixNgramTables(models, weights))));
    assert.equal(merged.vocab.size, mix.vocab.size);
    const V = merged.vocab.size;
    const dist = new Float64Array(V);
    const ms = tokenScores(merged, test_);
    const ds = tokenScores(mix, test_);
    let exact = 0;
    let state = merged.begin();
    for (let t = 0; t < ms.words.length; t++) {
      const full = Math.min(ms.position[t]! + 1, merged.order);
      if (ms.ngram[t] === full) {
        exact++;
        assert.ok(Math.abs(ms.log10[t]! - ds.log10[t]!) < 1e-4, `token ${t} '${ms.words[t]}': ${ms.log10[t]} vs ${ds.log10[t]}`);
      }
      if (t < 300) {
        merged.distribution(state, dist);
        let sum = 0;
        for (let w = 0; w < V; w++) sum += dist[w]!;
        assert.ok(Math.abs(sum - 1) < 1e-4, `sum ${sum} at token ${t}`);
      }
      state = ms.words[t] === '</s>' ? merged.begin() : merged.score(state, merged.vocab.id(ms.words[t]!)).next;
    }
    assert.ok(exact > ms.words.length * 0.2, `${exact} of ${ms.words.length} tokens at full n-grams`);
    // Elsewhere it is SRILM's approximation: close, not equal.
    const pm = 10 ** (-ms.log10.reduce((a, b) => a + b, 0) / ms.words.length);
    const pd = 10 ** (-ds.log10.reduce((a, b) => a + b, 0) / ds.words.length);
    assert.ok(Math.abs(pm / pd - 1) < 0.03, `static ${pm} vs dynamic ${pd}`);
  }
  // Unigram models: the export is exact at every token.
  const mix1 = new MixtureModel([unigramA, unigramB], [0.3, 0.7]);
  const merged1 = BackoffModel.fromTables(mixNgramTables([unigramA, unigramB], [0.3, 0.7]));
  const a = tokenScores(merged1, test_);
  const b = tokenScores(mix1, test_);
  for (let t = 0; t < a.words.length; t++) assert.ok(Math.abs(a.log10[t]! - b.log10[t]!) < 1e-4);
});

test('mixture files: relative paths, opened by loadModel, errors that name the component', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const models = join(dir, 'models');
    mkdirSync(models);
    await saveNgramModel(join(models, 'a.kblm'), trigramA);
    await saveNgramModel(join(models, 'b.arpa'), bigramB);
    const mixPath = join(models, 'ab.mix.json');
    await saveMixture(mixPath, [join(models, 'a.kblm'), join(models, 'b.arpa')], [0.25, 0.75]);
    // Move the folder: the component paths are relative to the mixture file.
    renameSync(models, join(dir, 'moved'));
    const loaded = await loadModel(join(dir, 'moved', 'ab.mix.json'));
    assert.ok(loaded instanceof MixtureModel);
    assert.deepEqual([...(loaded as MixtureModel).weights], [0.25, 0.75]);
    const inMemory = new MixtureModel([trigramA, bigramB], [0.25, 0.75]);
    const x = tokenScores(loaded, test_.slice(0, 50)).log10;
    const y = tokenScores(inMemory, test_.slice(0, 50)).log10;
    for (let t = 0; t < x.length; t++) assert.ok(Math.abs(x[t]! - y[t]!) < 1e-9);
    const broken = join(dir, 'broken.mix.json');
    writeFileSync(broken, JSON.stringify({ format: 'kotoba-mixture', version: 1, components: [{ path: 'moved/a.kblm', weight: 0.5 }, { path: 'nowhere.kblm', weight: 0.5 }] }));
    await assert.rejects(loadModel(broken), (e: unknown) => e instanceof KotobaError && /component nowhere\.kblm/.test(e.message));
    writeFileSync(broken, JSON.stringify({ format: 'kotoba-mixture', version: 9, components: [] }));
    await assert.rejects(loadModel(broken), /version 9/);
    const self = join(dir, 'self.mix.json');
    writeFileSync(self, JSON.stringify({ format: 'kotoba-mixture', version: 1, components: [{ path: 'self.mix.json', weight: 1 }] }));
    await assert.rejects(loadModel(self), /names itself/);
  } finally {
    cleanup();
  }
});

test('kotoba interpolate: EM per iteration, a mixture file that ppl, score and generate open, an ARPA file', async () => {
  const { dir, cleanup } = tempDir();
  try {
    await saveNgramModel(join(dir, 'a.kblm'), trigramA);
    await saveNgramModel(join(dir, 'b.arpa'), bigramB);
    const devFile = join(dir, 'dev.txt');
    writeFileSync(devFile, dev.join('\n') + '\n');
    const testFile = join(dir, 'test.txt');
    writeFileSync(testFile, test_.join('\n') + '\n');
    const r = await runCli(['interpolate', '--json', join(dir, 'a.kblm'), join(dir, 'b.arpa'), '--tune', devFile, '-o', join(dir, 'ab.mix.json'), '--arpa', join(dir, 'ab.arpa')]);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { weights: number[]; dev_perplexity: number; tuning: { iterations: { perplexity: number }[] }; arpa: { dev_perplexity: number } };
    const lib = tuneWeights(new MixtureModel([trigramA, bigramB]), corpusFromText(dev, { vocab: new MixtureModel([trigramA, bigramB]).vocab }).tokens);
    out.weights.forEach((w, i) => assert.ok(Math.abs(w - lib.weights[i]!) < 1e-9));
    assert.equal(out.tuning.iterations.length, lib.iterations.length);
    assert.ok(Math.abs(out.arpa.dev_perplexity / out.dev_perplexity - 1) < 0.03);
    const ppl = await runCli(['ppl', '--json', join(dir, 'ab.mix.json'), testFile]);
    assert.equal(ppl.code, 0, ppl.stderr);
    const mix = new MixtureModel([trigramA, bigramB], out.weights);
    const expected = scoreTokens(mix, corpusFromText(test_, { vocab: mix.vocab }).tokens).perplexity;
    assert.ok(Math.abs((JSON.parse(ppl.stdout) as { perplexity: number }).perplexity - expected) < 1e-6 * expected);
    for (const args of [['score', join(dir, 'ab.mix.json'), testFile], ['generate', '--seed', '1', join(dir, 'ab.mix.json')], ['ppl', join(dir, 'ab.arpa'), testFile]]) {
      const c = await runCli(args);
      assert.equal(c.code, 0, `${args[0]}: ${c.stderr}`);
      assert.ok(c.stdout.length > 0);
    }
    const text = await runCli(['interpolate', join(dir, 'a.kblm'), join(dir, 'b.arpa'), '--tune', devFile]);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /^iteration 0: weights 0\.5 0\.5 {2}dev perplexity \d/);
    assert.match(text.stdout, /dev perplexity of the mixture: \d/);
    const given = await runCli(['interpolate', '--json', join(dir, 'a.kblm'), join(dir, 'b.arpa'), '--weights', '0.9', '0.1', '-o', join(dir, 'g.mix.json')]);
    assert.equal(given.code, 0, given.stderr);
    assert.deepEqual((JSON.parse(given.stdout) as { weights: number[] }).weights, [0.9, 0.1]);
    const bad = await runCli(['interpolate', join(dir, 'a.kblm'), join(dir, 'b.arpa'), '--weights', '0.9', '0.3', '-o', join(dir, 'x.mix.json')]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /sum to 1\.2/);
    const notNgram = await runCli(['interpolate', join(dir, 'a.kblm'), join(dir, 'ab.mix.json'), '--arpa', join(dir, 'y.arpa')]);
    assert.equal(notNgram.code, 1);
    assert.match(notNgram.stderr, /--arpa needs n-gram models/);
  } finally {
    cleanup();
  }
});
