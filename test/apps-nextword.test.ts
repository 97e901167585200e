/** Next-word prediction: full distributions, top-k lists, contexts, and `kotoba next`. */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  BackoffModel,
  BOS,
  contextState,
  corpusFromText,
  EOS,
  estimate,
  fullDistribution,
  KotobaError,
  nextWords,
  nextWordsAfter,
  stripSentenceStart,
  topIds,
  UNK,
} from '../src/index.js';
import { saveNgramModel } from '../src/node/index.js';
import { corpusLines, TABLE, TableModel } from './apps-helpers.js';
import { runCli, tempDir } from './helpers.js';

const corpus = corpusFromText(corpusLines('train', 0, 3000));
const trigram = BackoffModel.fromTables(estimate(corpus, { order: 3 }));

test('the full distribution sums to 1 and equals score, for every state along a text', () => {
  const V = trigram.vocab.size;
  const dist = new Float64Array(V);
  const text = corpusLines('valid', 0, 5).join(' ').split(' ').filter(Boolean).slice(0, 40);
  let state = trigram.begin();
  for (const word of text) {
    fullDistribution(trigram, state, dist);
    let sum = 0;
    for (let w = 0; w < V; w++) sum += dist[w]!;
    assert.ok(Math.abs(sum - 1) < 1e-4, `sum ${sum} after …${word}`);
    assert.equal(dist[BOS], 0);
    // Spot-check against score: the word itself, </s>, <unk> and a few ids.
    for (const w of [trigram.vocab.id(word), EOS, UNK, 3, 10, V - 1]) {
      assert.ok(Math.abs(dist[w]! - 10 ** trigram.score(state, w).log10) < 1e-6 * Math.max(1, dist[w]!), `p(${trigram.vocab.word(w)})`);
    }
    state = trigram.score(state, trigram.vocab.id(word)).next;
  }
});

test('a model without distribution: every word is scored, and the table comes back exactly', () => {
  const m = new TableModel();
  for (const prev of [BOS, 3, 4, 5, UNK]) {
    const dist = fullDistribution(m, prev);
    const row = TABLE[prev]!;
    for (let w = 0; w < row.length; w++) assert.ok(Math.abs(dist[w]! - row[w]!) < 1e-12, `p(${w} | ${prev})`);
  }
  assert.equal(m.calls, 5 * 5); // every word but <s>, for each of the 5 states
});

test('topIds: the k largest, best first, ties to the lower id, zeros and skipped ids left out', () => {
  const values = new Float64Array([0.1, 0.5, 0.2, 0.2, 0, 0.05, 0.2]);
  const out = new Int32Array(4);
  assert.equal(topIds(values, values.length, 4, out), 4);
  assert.deepEqual([...out], [1, 2, 3, 6]);
  assert.equal(topIds(values, values.length, 3, out, (id) => id === 2), 3);
  assert.deepEqual([...out.subarray(0, 3)], [1, 3, 6]);
  const big = new Int32Array(10);
  assert.equal(topIds(values, values.length, 10, big), 6); // the 0 is not a candidate
  assert.deepEqual([...big.subarray(0, 6)], [1, 2, 3, 6, 0, 5]);
});

test('nextWords: sorted by probability, equal to a full sort of the distribution', () => {
  const state = contextState(trigram, 'the game').state;
  const dist = fullDistribution(trigram, state);
  const order = [...dist.keys()].filter((w) => dist[w]! > 0).sort((a, b) => dist[b]! - dist[a]! || a - b);
  const top = nextWords(trigram, state, 20);
  assert.deepEqual(
    top.map((t) => t.id),
    order.slice(0, 20),
  );
  for (const t of top) {
    assert.equal(t.word, trigram.vocab.word(t.id));
    assert.ok(Math.abs(t.log10 - trigram.score(state, t.id).log10) < 1e-6);
  }
  const noUnk = nextWords(trigram, state, 20, { unk: false });
  assert.ok(!noUnk.some((t) => t.id === UNK));
  assert.deepEqual(
    noUnk.map((t) => t.id),
    order.filter((w) => w !== UNK).slice(0, 20),
  );
});

test('contexts start a sentence: with or without <s>, the same state; </s> inside is an error', () => {
  const a = nextWordsAfter(trigram, 'the game was', 5);
  const b = nextWordsAfter(trigram, '<s> the game was', 5);
  const c = nextWordsAfter(trigram, ['<s>', 'the', 'game', 'was'], 5);
  assert.deepEqual(a, b);
  assert.deepEqual(a, c);
  // An empty context is the state right after <s>.
  const atStart = nextWords(trigram, trigram.begin(), 1)[0]!;
  assert.deepEqual(nextWordsAfter(trigram, '', 1)[0], atStart);
  assert.throws(() => contextState(trigram, 'the </s> game'), KotobaError);
  assert.equal(contextState(trigram, 'the zzqxj game').oov, 1);
  assert.equal(stripSentenceStart('<s> the'), 'the');
  assert.equal(stripSentenceStart('<s>x'), '<s>x');
});

test('kotoba next: the CLI lists the library top-k, as text and JSON', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const model = join(dir, 'm.kblm');
    await saveNgramModel(model, trigram);
    const json = await runCli(['next', '--json', '-k', '4', model, 'the', 'game', 'was']);
    assert.equal(json.code, 0, json.stderr);
    const parsed = JSON.parse(json.stdout) as { context: string[]; next: { word: string; probability: number }[] };
    assert.deepEqual(parsed.context, ['the', 'game', 'was']);
    const lib = nextWordsAfter(trigram, 'the game was', 4);
    assert.deepEqual(
      parsed.next.map((w) => w.word),
      lib.map((w) => w.word),
    );
    parsed.next.forEach((w, i) => assert.ok(Math.abs(w.probability - lib[i]!.probability) < 1e-9));
    const text = await runCli(['next', '-k', '3', '--no-unk', model, '<s> the']);
    assert.equal(text.code, 0, text.stderr);
    const lines = text.stdout.trim().split('\n');
    assert.equal(lines[0], '# p(w | <s> the)');
    assert.equal(lines.length, 4);
    assert.ok(!text.stdout.includes('<unk>'));
    const bad = await runCli(['next', model, 'a </s> b']);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /<\/s>/);
  } finally {
    cleanup();
  }
});
