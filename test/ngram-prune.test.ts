/** Count pruning at training (lmplz --prune) and relative-entropy pruning (Stolcke 1998). */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  BackoffModel,
  BOS,
  countNgrams,
  estimate,
  pruneRelativeEntropy,
  recomputeBackoffs,
  scoreTokens,
  type NgramTables,
} from '../src/index.js';
import { readCorpus } from '../src/node/index.js';
import { repoRoot } from './helpers.js';

const quiet = { warn() {}, info() {} };
const corpusPromise = readCorpus(join(repoRoot, 'corpus', 'wiki.valid.txt'), { lowercase: true });

function assertSumsToOne(m: BackoffModel, what: string, sample = 400): void {
  const out = new Float64Array(m.vocab.size);
  const contexts = [-1, ...m.ordered.flatMap((o) => [...o.subarray(0, sample)])];
  for (let w = 0; w < Math.min(m.vocab.size, sample); w++) if (w !== BOS) contexts.push(w);
  for (const h of contexts) {
    m.distribution(h, out);
    let sum = 0;
    for (const p of out) sum += p;
    assert.ok(Math.abs(sum - 1) < 1e-5, `${what}: context ${h} sums to ${sum}`);
  }
}

test('count pruning drops exactly the n-grams seen at most T times, and distributions still sum to 1', async () => {
  const corpus = await corpusPromise;
  for (const smoothing of ['mkn', 'wb'] as const) {
    const full = estimate(corpus, { order: 3, smoothing, log: quiet });
    const pruned = estimate(corpus, { order: 3, smoothing, prune: [0, 1, 2], log: quiet });
    const counts = countNgrams(corpus.tokens, corpus.vocab.size, 3);
    const expectKept = (k: number, t: number) => [...counts.orders[k - 1]!.raw].filter((c) => c > t).length;
    assert.equal(pruned.orders[0]!.size, full.orders[0]!.size);
    assert.equal(pruned.orders[1]!.size, expectKept(2, 1));
    assert.equal(pruned.orders[2]!.size, expectKept(3, 2));
    assert.ok(pruned.orders[2]!.size < full.orders[2]!.size / 2);
    assertSumsToOne(BackoffModel.fromTables(pruned), `${smoothing} pruned`);
  }
  assert.throws(() => estimate(corpus, { order: 3, prune: [1, 1], log: quiet }), /first --prune threshold must be 0/);
  assert.throws(() => estimate(corpus, { order: 3, prune: [0, 2, 1], log: quiet }), /must not decrease/);
});

test('relative-entropy pruning: smaller models as θ grows, distributions sum to 1, perplexity rises gently', async () => {
  const corpus = await corpusPromise;
  const model = BackoffModel.fromTables(estimate(corpus, { order: 3, log: quiet }));
  const size = (m: BackoffModel) => m.counts.slice(1).reduce((a, b) => a + b, 0);
  const base = scoreTokens(model, corpus.tokens).perplexity;
  let previous = size(model);
  let previousPpl = base;
  for (const theta of [1e-8, 1e-6, 1e-4]) {
    const pruned = pruneRelativeEntropy(model, theta);
    const n = size(pruned);
    assert.ok(n < previous, `θ=${theta}: ${n} n-grams, not fewer than ${previous}`);
    assertSumsToOne(pruned, `θ=${theta}`);
    const ppl = scoreTokens(pruned, corpus.tokens).perplexity;
    assert.ok(ppl >= previousPpl - 1e-9, `θ=${theta}: training perplexity ${ppl} fell below ${previousPpl}`);
    previous = n;
    previousPpl = ppl;
  }
  // θ = 0 keeps every n-gram whose removal would cost anything.
  assert.ok(size(pruneRelativeEntropy(model, 0)) >= size(model) * 0.99);
});

test('relative-entropy pruning decides by Stolcke\'s cost: P(h)·KL(p(·|h) ‖ p′(·|h))', async () => {
  const corpus = await corpusPromise;
  const model = BackoffModel.fromTables(estimate(corpus, { order: 2, log: quiet }));
  const tables = model.toTables();
  // A bigram h·w from the middle of the table, and the model without it (backoffs recomputed).
  const bigrams = tables.orders[1]!;
  const pick = Math.floor(bigrams.size / 2);
  const h = bigrams.words[2 * pick]!;
  const without: NgramTables = {
    ...tables,
    orders: [
      tables.orders[0]!,
      {
        order: 2,
        size: bigrams.size - 1,
        words: new Uint32Array([...bigrams.words.subarray(0, 2 * pick), ...bigrams.words.subarray(2 * pick + 2)]),
        log10Prob: new Float32Array([...bigrams.log10Prob.subarray(0, pick), ...bigrams.log10Prob.subarray(pick + 1)]),
        log10Backoff: new Float32Array(bigrams.size - 1),
      },
    ],
  };
  // Fresh copies of the unigram table so that recomputing backoffs does not touch `tables`.
  without.orders[0] = { ...tables.orders[0]!, log10Backoff: tables.orders[0]!.log10Backoff.slice() };
  const reduced = BackoffModel.fromTables(recomputeBackoffs(without));
  const p = new Float64Array(model.vocab.size);
  const q = new Float64Array(model.vocab.size);
  model.distribution(h, p);
  reduced.distribution(h, q);
  let kl = 0;
  for (let w = 0; w < p.length; w++) if (p[w]! > 0) kl += p[w]! * Math.log(p[w]! / q[w]!);
  const ph = h === BOS ? 1 : Math.pow(10, model.score(-1, h).log10);
  const cost = Math.exp(ph * kl) - 1;
  const kept = (m: BackoffModel) => m.lookup(bigrams.words.subarray(2 * pick, 2 * pick + 2)) >= 0 && m.counts[1]! > 0;
  assert.ok(cost > 0);
  assert.ok(kept(pruneRelativeEntropy(model, cost * 0.999)), 'kept just below its cost');
  assert.ok(!kept(pruneRelativeEntropy(model, cost * 1.001)), 'pruned just above its cost');
});
