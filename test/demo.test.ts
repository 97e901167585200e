/**
 * `npm start` (kotoba demo): the lecture's story in one table — n-grams, a neural model, their
 * mixture, ranking candidates — where every row says how long its model trained, the neural
 * models train a fixed number of epochs (the same numbers on every machine and load), and the
 * note under the neural rows says what they are. On a slice of the embedded corpus, so that it
 * runs in about a second; `npm start` itself is timed in the README.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { runDemo, type DemoResult } from '../src/cli/demo.js';
import { DEMO_MODELS, demoFamilies } from '../src/cli/demo-models.js';
import { KotobaError } from '../src/errors.js';
import { corpusFromText } from '../src/text/corpus.js';
import { assertCleanFailure, repoRoot, runCli } from './helpers.js';

const lines = (name: string, n: number) => readFileSync(join(repoRoot, 'corpus', name), 'utf8').split('\n').filter((l) => l.trim() !== '').slice(0, n);
const train = corpusFromText(lines('wiki.train.txt', 300), { lowercase: true });
const valid = corpusFromText(lines('wiki.valid.txt', 80), { lowercase: true, vocab: train.vocab });
const testText = corpusFromText(lines('wiki.test.txt', 80), { lowercase: true, vocab: train.vocab });

async function runOn(seed: number): Promise<{ result: DemoResult; out: string[] }> {
  const out: string[] = [];
  const result = await runDemo({ train, valid, test: testText }, { maxOrder: 3, families: ['rnn'], seed, threads: 1 }, (l) => out.push(l), () => {}, () => {});
  return { result, out };
}
const seedOne = runOn(1);
const demoOn = (seed: number) => (seed === 1 ? seedOne : runOn(seed));

test('every row says how long its model trained; the neural rows their epochs; a note says what they are', async () => {
  const { result, out } = await demoOn(1);
  assert.deepEqual(result.rows.map((r) => r.family), ['ngram', 'ngram', 'ngram', 'neural', 'mixture']);
  const epochs = DEMO_MODELS.rnn.epochs;
  for (const r of result.rows) {
    assert.ok(Number.isFinite(r.perplexity) && r.perplexity > 1, `${r.model}: perplexity ${r.perplexity}`);
    const printed = out.find((l) => l.trimStart().startsWith(r.model));
    assert.ok(printed, `no line for ${r.model}:\n${out.join('\n')}`);
    if (r.family === 'ngram') assert.match(printed, / \d+\.\d s$/);
    if (r.family === 'neural') {
      assert.equal(r.epochs, epochs);
      assert.match(printed, new RegExp(` ${epochs} epochs, \\d+\\.\\d s$`));
    }
    if (r.family === 'mixture') assert.match(printed, /λ = 0\.\d\d, 0\.\d\d$/);
  }
  const text = out.join('\n');
  // What the neural row is, said under it: trained briefly, and what mixing it with the n-gram does.
  assert.match(text, /trained briefly \(a fixed number of epochs, seed 1\)/);
  assert.match(text, /Mixed with the 3-gram|beats the 3-gram/);
  // The candidates are ranked by the mixture, the best model, best first.
  assert.match(result.rankedBy, /^mixture of 2 models/);
  assert.equal(result.ranking.length, 4);
  assert.ok(result.ranking[0]!.log10 >= result.ranking[3]!.log10);
  assert.equal(result.ranking[0]!.sentence, 'the game was released in japan in 2011 .');
});

test('the neural models train epochs, not seconds: the same seed gives the same numbers', async () => {
  const a = await demoOn(1);
  const b = await runOn(1);
  assert.deepEqual(a.result.rows.map((r) => r.perplexity), b.result.rows.map((r) => r.perplexity));
  assert.deepEqual(a.result.ranking, b.result.ranking);
  const c = await demoOn(2);
  assert.notEqual(c.result.rows[3]!.perplexity, a.result.rows[3]!.perplexity, '--seed changes the neural model');
});

test('--neural picks the families', async () => {
  assert.deepEqual(demoFamilies('none'), []);
  assert.deepEqual(demoFamilies('all'), ['loglinear', 'ffnn', 'rnn', 'gru', 'lstm', 'transformer']);
  assert.deepEqual(demoFamilies('lstm,rnn,lstm'), ['lstm', 'rnn']);
  assert.throws(() => demoFamilies('gpt'), KotobaError);
  assertCleanFailure(await runCli(['demo', '--neural', 'rnn,gpt']), /--neural: unknown model family 'gpt'/);
});
