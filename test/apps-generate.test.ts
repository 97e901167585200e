/**
 * Sampling: reproducible for a seed, and the sampled frequencies match the model's
 * probabilities (Pearson's chi-square at significance 0.001, with a fixed seed, so the test is
 * deterministic; a deliberately wrong distribution is rejected by the same test, showing it has
 * the power to fail).
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { BackoffModel, BOS, corpusFromText, EOS, estimate, fullDistribution, generate, Sampler, scoreSentence, UNK } from '../src/index.js';
import { Random } from '../src/util/random.js';
import { saveNgramModel } from '../src/node/index.js';
import { chiSquare, chiSquareCritical001, TABLE, TableModel } from './apps-helpers.js';
import { runCli, tempDir } from './helpers.js';

/** A synthetic corpus: 30 words with Zipf-like frequencies, so the unigram model has 33 types. */
function zipfCorpus(): string[] {
  const rng = new Random(2024);
  const words = Array.from({ length: 30 }, (_, i) => `w${i}`);
  const weights = words.map((_, i) => 1 / (i + 1));
  const total = weights.reduce((a, b) => a + b, 0);
  const lines: string[] = [];
  for (let s = 0; s < 400; s++) {
    const n = 1 + rng.int(12);
    const line: string[] = [];
    for (let j = 0; j < n; j++) {
      let u = rng.uniform() * total;
      let k = 0;
      while ((u -= weights[k]!) > 0) k++;
      line.push(words[k]!);
    }
    lines.push(line.join(' '));
  }
  return lines;
}

const unigram = BackoffModel.fromTables(estimate(corpusFromText(zipfCorpus()), { order: 1 }));

test('unigram model: sampled word frequencies match its probabilities (chi-square, α = 0.001)', () => {
  const V = unigram.vocab.size;
  const p = fullDistribution(unigram, unigram.begin()).slice();
  const counts = new Float64Array(V);
  const sampler = new Sampler(unigram, { seed: 7, maxWords: 100000 });
  let draws = 0;
  while (draws < 200000) {
    const s = sampler.sample();
    assert.ok(s.ended);
    for (const w of s.words) counts[unigram.vocab.id(w)]!++;
    counts[EOS]!++;
    draws += s.words.length + 1;
  }
  assert.equal(counts[BOS], 0);
  assert.ok(counts[UNK]! > 0, 'the model gives <unk> mass, so it is drawn');
  const { stat, df } = chiSquare(counts, p);
  const critical = chiSquareCritical001(df);
  assert.ok(df >= 25, `df ${df}`);
  assert.ok(stat < critical, `chi-square ${stat.toFixed(1)} ≥ ${critical.toFixed(1)} (df ${df})`);
  // Power: the same counts against a distribution with two probabilities swapped are rejected.
  const wrong = p.slice();
  const [a, b] = [unigram.vocab.id('w0'), unigram.vocab.id('w3')];
  [wrong[a], wrong[b]] = [wrong[b]!, wrong[a]!];
  assert.ok(chiSquare(counts, wrong).stat > 10 * critical);
});

test('a model without distribution (scored word by word): conditional frequencies match its table', () => {
  const m = new TableModel();
  const sampler = new Sampler(m, { seed: 11, maxWords: 1000 });
  // transitions[prev][next]
  const transitions = Array.from({ length: 6 }, () => new Float64Array(6));
  for (let i = 0; i < 30000; i++) {
    const s = sampler.sample();
    let prev = BOS;
    for (const w of [...s.words.map((x) => m.vocab.id(x)), EOS]) {
      transitions[prev]![w]!++;
      prev = w;
    }
  }
  for (const prev of [BOS, 3, 4, 5, UNK]) {
    const { stat, df } = chiSquare(transitions[prev]!, TABLE[prev]!);
    assert.ok(stat < chiSquareCritical001(df), `row ${prev}: chi-square ${stat.toFixed(2)}, df ${df}`);
  }
});

test('temperature, top-k and greedy change the distribution as documented', () => {
  const m = new TableModel();
  const row = TABLE[BOS]!;
  const firstWords = (options: ConstructorParameters<typeof Sampler>[1], n: number): Float64Array => {
    const sampler = new Sampler(m, { ...options, maxWords: 1 });
    const counts = new Float64Array(6);
    for (let i = 0; i < n; i++) {
      const s = sampler.sample();
      counts[s.words.length ? m.vocab.id(s.words[0]!) : EOS]!++;
    }
    return counts;
  };
  // T = 0.5: p².
  const squared = row.map((p) => p * p);
  const z = squared.reduce((a, b) => a + b, 0);
  const t05 = firstWords({ seed: 3, temperature: 0.5 }, 20000);
  const c1 = chiSquare(t05, squared.map((p) => p / z));
  assert.ok(c1.stat < chiSquareCritical001(c1.df), `T=0.5: ${c1.stat}`);
  // And it is not the untempered distribution.
  assert.ok(chiSquare(t05, row).stat > 100);
  // top-k 2: only a and b, renormalised (0.5 and 0.3 → 0.625 and 0.375).
  const k2 = firstWords({ seed: 4, topK: 2 }, 20000);
  const expected = [0, 0, 0, 0.625, 0.375, 0];
  const c2 = chiSquare(k2, expected);
  assert.ok(c2.stat < chiSquareCritical001(Math.max(c2.df, 1)), `top-2: ${c2.stat}`);
  assert.equal(k2[UNK]! + k2[EOS]! + k2[5]!, 0);
  // Greedy: always the most probable word: a, then b (0.6), then </s> (0.48).
  const greedy = generate(m, 5, { temperature: 0, seed: 1 });
  for (const s of greedy) assert.deepEqual(s.words, ['a', 'b']);
  assert.ok(greedy.every((s) => s.ended));
  // unk: false never draws <unk>.
  const noUnk = generate(m, 2000, { seed: 9, unk: false });
  assert.ok(noUnk.every((s) => !s.words.includes('<unk>')));
  assert.ok(generate(m, 2000, { seed: 9 }).some((s) => s.words.includes('<unk>')));
});

test('same seed, same sentences; prefix, max-words and the reported log10', () => {
  const a = generate(unigram, 20, { seed: 42 });
  const b = generate(unigram, 20, { seed: 42 });
  const c = generate(unigram, 20, { seed: 43 });
  assert.deepEqual(a, b);
  assert.notDeepEqual(a, c);
  const m = new TableModel();
  for (const s of generate(m, 50, { seed: 5, prefix: '<s> c a', maxWords: 3 })) {
    assert.deepEqual(s.words.slice(0, 2), ['c', 'a']);
    assert.equal(s.prefixLength, 2);
    assert.ok(s.words.length <= 5);
    if (!s.ended) assert.equal(s.words.length, 5);
    // log10 = log p(generated words [+ </s>] | prefix): the whole sentence minus the prefix part.
    const ids = s.words.map((w) => m.vocab.id(w));
    const whole = s.ended ? scoreSentence(m, ids, true) : scoreSentence(m, ids, false);
    const prefix = scoreSentence(m, ids.slice(0, 2), false);
    const exact = whole.words.reduce((t, w) => t + w.log10, 0) - prefix.words.reduce((t, w) => t + w.log10, 0);
    assert.ok(Math.abs(s.log10 - exact) < 1e-9, `${s.log10} vs ${exact}`);
  }
  assert.throws(() => new Sampler(m, { temperature: -1 }), /temperature/);
  assert.throws(() => new Sampler(m, { topK: 1.5 }), /top-k/);
});

test('kotoba generate: the same seed gives the same sentences as the library', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const model = join(dir, 'u.arpa');
    await saveNgramModel(model, unigram);
    const loaded = BackoffModel.fromTables(unigram.toTables());
    const args = ['generate', '--seed', '5', '--count', '4', '--top-k', '10', '--temperature', '0.8', '--max-words', '30', model];
    const first = await runCli(args);
    const again = await runCli(args);
    assert.equal(first.code, 0, first.stderr);
    assert.equal(first.stdout, again.stdout);
    const lib = generate(loaded, 4, { seed: 5, topK: 10, temperature: 0.8, maxWords: 30 });
    assert.equal(first.stdout, lib.map((s) => s.words.join(' ') + '\n').join(''));
    const json = await runCli(['generate', '--json', '--seed', '6', '--count', '2', '--prefix', 'w1 w2', model]);
    assert.equal(json.code, 0, json.stderr);
    const rows = json.stdout.trim().split('\n').map((l) => JSON.parse(l) as { words: string[]; seed: number; ended: boolean });
    assert.equal(rows.length, 2);
    for (const r of rows) {
      assert.deepEqual(r.words.slice(0, 2), ['w1', 'w2']);
      assert.equal(r.seed, 6);
    }
    const other = await runCli(['generate', '--seed', '6', '--count', '4', model]);
    assert.notEqual(other.stdout, first.stdout);
  } finally {
    cleanup();
  }
});
