// The neural models as language models: distributions that sum to 1 (the class-factorised
// softmax included), the fast sentence path equal to word-by-word scoring, batched validation
// equal to per-sentence perplexity, learning on a small corpus, model files (round trip, corrupt
// files, Python), exact resume, and the NaN guard.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { corpusFromText } from '../src/text/corpus.js';
import { BOS, EOS, Vocabulary } from '../src/text/vocabulary.js';
import { scoreSentence, scoreTokens, type LanguageModel } from '../src/lm.js';
import { KotobaError } from '../src/errors.js';
import { buildModelJs, countIds, orderFor, resolveConfig, type ArchitectureOptions } from '../src/neural/build.js';
import type { NeuralKind, NeuralModel } from '../src/neural/model.js';
import { outputOrder } from '../src/neural/output.js';
import { Random } from '../src/util/random.js';
import { Trainer, type Checkpoint } from '../src/neural/trainer.js';
import type { OptimizerName } from '../src/neural/optim.js';
import { neuralModelFile, readNeuralFile, loadWeights, NEURAL_FORMAT_VERSION } from '../src/neural/model-file.js';
import { decodeSafetensors, safetensorsBytes } from '../src/neural/safetensors.js';
import { loadNeuralModel, saveNeuralModel } from '../src/node/neural-files.js';
import { loadModel } from '../src/node/models.js';

/** Sentences from a small grammar: enough structure to learn, varied lengths. */
function grammarLines(n: number, seed: number): string[] {
  const rng = new Random(seed);
  const subj = ['the cat', 'a dog', 'the old man', 'my sister', 'the children'];
  const verb = ['saw', 'likes', 'found', 'followed', 'heard'];
  const obj = ['the ball', 'a bird', 'the red car', 'her friend', 'the music'];
  const tail = ['', 'today', 'in the park', 'again and again', 'at night'];
  const lines: string[] = [];
  for (let i = 0; i < n; i++) {
    const parts = [subj[rng.int(5)], verb[rng.int(5)], obj[rng.int(5)], tail[rng.int(5)]].filter(Boolean);
    lines.push(parts.join(' '));
  }
  return lines;
}

const TRAIN = corpusFromText(grammarLines(300, 1));
const VALID = corpusFromText(grammarLines(60, 2), { vocab: TRAIN.vocab });

const SMALL: [NeuralKind, ArchitectureOptions][] = [
  ['loglinear', { order: 3 }],
  ['loglinear', { order: 2, hashSize: 200 }],
  ['ffnn', { order: 3, embed: 8, hidden: 12, classes: 0 }],
  ['ffnn', { order: 3, embed: 8, hidden: 12, classes: 5, direct: true }],
  ['rnn', { hidden: 12, classes: 0 }],
  ['rnn', { hidden: 12, classes: 6 }],
  ['lstm', { hidden: 10, embed: 8, layers: 2, classes: 0, dropout: 0.2 }],
  ['lstm', { hidden: 10, embed: 10, layers: 1, classes: 4, tied: true }],
  ['rnn', { hidden: 10, layers: 2, classes: 4, tied: true, dropout: 0.2, activation: 'relu' }],
  ['gru', { hidden: 10, embed: 8, layers: 2, classes: 0, dropout: 0.2 }],
  ['transformer', { embed: 8, hidden: 12, layers: 2, heads: 2, window: 6, classes: 0 }],
  ['transformer', { embed: 8, hidden: 8, layers: 1, heads: 4, window: 5, classes: 4, tied: true, norm: 'pre', activation: 'gelu', positions: 'learned' }],
];

function makeModel(kind: NeuralKind, arch: ArchitectureOptions, shape = { batch: 4, bptt: 6 }, seed = 1, optimizer: OptimizerName = 'sgd'): NeuralModel<unknown> {
  if (kind === 'transformer') shape = { ...shape, bptt: arch.window ?? shape.bptt }; // its training window is its context window
  const config = resolveConfig(kind, { ...arch, ...(kind === 'transformer' && arch.window === undefined ? { window: shape.bptt } : {}) }, TRAIN.vocab.size);
  const order = orderFor(config, countIds(TRAIN.tokens, TRAIN.vocab.size));
  const model = buildModelJs(config, TRAIN.vocab, order, shape, optimizer);
  model.initialize(new Random(seed));
  if (kind === 'loglinear') new Random(seed + 1).fillUniform(model.params.values, -0.3, 0.3); // zero init is uniform
  return model;
}

const ids = (s: string) => s.split(' ').map((w) => TRAIN.vocab.id(w));

test('frequency-binned classes: contiguous, frequent words in small classes, <s> has no output row', () => {
  const counts = countIds(TRAIN.tokens, TRAIN.vocab.size);
  const order = outputOrder(counts, 5);
  const cs = order.classStart!;
  assert.equal(cs[0], 0);
  assert.equal(cs[cs.length - 1], TRAIN.vocab.size - 1);
  assert.equal(order.row[BOS], TRAIN.vocab.size - 1);
  for (let c = 0; c + 1 < cs.length; c++) assert.ok(cs[c + 1]! > cs[c]!, `class ${c} is empty`);
  // The first class holds the most frequent words, so it is the smallest.
  assert.ok(cs[1]! - cs[0]! < cs[cs.length - 1]! - cs[cs.length - 2]!);
  // Within the order, counts never increase.
  for (let j = 1; j < order.word.length; j++) assert.ok(counts[order.word[j]!]! <= counts[order.word[j - 1]!]!);
});

test('initialize with counts: output biases at the add-½ unigram distribution (full and class softmax)', () => {
  const counts = countIds(TRAIN.tokens, TRAIN.vocab.size);
  let total = 0;
  for (let id = 0; id < counts.length; id++) if (id !== BOS) total += counts[id]! + 0.5;
  for (const [kind, arch] of [['loglinear', { order: 2 }], ['ffnn', { order: 2, embed: 4, hidden: 4, classes: 0 }], ['ffnn', { order: 2, embed: 4, hidden: 4, classes: 5 }]] as [NeuralKind, ArchitectureOptions][]) {
    const config = resolveConfig(kind, arch, TRAIN.vocab.size);
    const model = buildModelJs(config, TRAIN.vocab, orderFor(config, counts), { batch: 4, bptt: 1 });
    model.initialize(new Random(1), counts);
    // Zero every weight matrix (keep the biases): the output then depends on the biases only.
    for (const t of model.params.tensors()) if (!t.name.endsWith('bias')) t.value.fill(0);
    const out = new Float64Array(model.vocab.size);
    model.distribution!(model.begin(), out);
    for (let id = 0; id < counts.length; id++) {
      const want = id === BOS ? 0 : (counts[id]! + 0.5) / total;
      assert.ok(Math.abs(out[id]! - want) < 1e-6 * Math.max(1, want * 1e3), `${kind} ${JSON.stringify(arch)} word ${id}: ${out[id]} vs ${want}`);
    }
  }
});

for (const [kind, arch] of SMALL) {
  const name = `${kind} ${JSON.stringify(arch)}`;

  test(`${name}: distribution sums to 1, excludes <s>, and agrees with score()`, () => {
    const model = makeModel(kind, arch);
    const out = new Float64Array(model.vocab.size);
    let state = model.begin();
    for (const w of [...ids('the old man heard the music'), EOS]) {
      model.distribution!(state, out);
      let sum = 0;
      for (const p of out) sum += p;
      assert.ok(Math.abs(sum - 1) < 1e-5, `sums to ${sum}`);
      assert.equal(out[BOS], 0);
      const r = model.score(state, w);
      assert.ok(Math.abs(Math.log10(out[w]!) - r.log10) < 1e-5, `${Math.log10(out[w]!)} vs ${r.log10}`);
      state = r.next;
    }
  });

  test(`${name}: the sentence fast path equals word-by-word scoring`, () => {
    const model = makeModel(kind, arch);
    for (const s of ['the cat saw a bird today', 'my sister', 'the children followed the red car in the park again and again']) {
      const words = Uint32Array.from([...ids(s), EOS]);
      const fast = new Float64Array(words.length);
      model.scoreSentence(words, fast);
      let state = model.begin();
      for (let i = 0; i < words.length; i++) {
        const r = model.score(state, words[i]!);
        assert.ok(Math.abs(r.log10 - fast[i]!) < 1e-5, `word ${i}: ${r.log10} vs ${fast[i]}`);
        state = r.next;
      }
    }
  });

  test(`${name}: batched validation equals per-sentence perplexity`, () => {
    const model = makeModel(kind, arch);
    const { nats, targets } = model.evaluate(VALID.tokens);
    const acc = scoreTokens(model, VALID.tokens);
    assert.equal(targets, acc.tokens);
    const batched = Math.exp(nats / targets);
    assert.ok(Math.abs(batched / acc.perplexity - 1) < 1e-5, `${batched} vs ${acc.perplexity}`);
  });
}

// ---- stream context ----------------------------------------------------------------------------

for (const [kind, arch] of [
  ['rnn', { hidden: 10, classes: 4, context: 'stream' }],
  ['gru', { hidden: 8, layers: 2, classes: 0, context: 'stream' }],
  ['lstm', { hidden: 8, layers: 2, classes: 0, dropout: 0.2, context: 'stream' }],
  ['transformer', { embed: 8, hidden: 8, layers: 2, heads: 2, window: 7, context: 'stream' }],
] as [NeuralKind, ArchitectureOptions][]) {
  const name = `${kind} ${JSON.stringify(arch)}`;

  test(`${name}: a stream is one sequence: scoring equals word-by-word score() across lines, from a </s> start`, () => {
    const model = makeModel(kind, arch);
    new Random(3).fillUniform(model.params.values, -0.5, 0.5); // weights large enough for the state to matter
    assert.equal(model.context, 'stream');
    const text = VALID.tokens.subarray(0, 200);
    const end = text.lastIndexOf(EOS) + 1;
    const tokens = text.subarray(0, end);
    const acc = scoreTokens(model, tokens); // the model's own context: stream
    // By hand: every word and </s> of the text, one state carried through, <s> left out.
    let state = model.begin();
    let total = 0;
    let n = 0;
    for (const w of tokens) {
      if (w === BOS) continue;
      const r = model.score(state, w);
      total += r.log10;
      n++;
      state = r.next;
    }
    assert.equal(acc.tokens, n);
    assert.ok(Math.abs(acc.log10Sum - total) < 1e-4, `${acc.log10Sum} vs ${total}`);
    // begin() is the state after a line break from zero; the first line is the same in both contexts.
    const first = tokens.subarray(0, tokens.indexOf(EOS) + 1);
    assert.ok(Math.abs(scoreTokens(model, first, 'sentence').log10Sum - scoreTokens(model, first, 'stream').log10Sum) < 1e-5);
    // Later lines see the lines before them: the stream differs from scoring each line alone.
    assert.ok(Math.abs(scoreTokens(model, tokens, 'sentence').log10Sum - acc.log10Sum) > 1e-3);
  });

  test(`${name}: batched validation over one stream equals stream perplexity; training keeps the text's order`, () => {
    const model = makeModel(kind, arch, { batch: 1, bptt: 7 });
    if (kind === 'transformer') new Random(3).fillUniform(model.params.values, -0.5, 0.5);
    const { nats, targets } = model.evaluate(VALID.tokens);
    const acc = scoreTokens(model, VALID.tokens);
    assert.equal(targets, acc.tokens);
    assert.ok(Math.abs(Math.exp(nats / targets) / acc.perplexity - 1) < 1e-5, `${Math.exp(nats / targets)} vs ${acc.perplexity}`);
    // The training layout: no <s> anywhere, a </s> first, then the corpus in order (no shuffle).
    const trainer = makeModel(kind, arch, { batch: 2, bptt: 5 });
    trainer.beginEpoch(TRAIN.tokens, new Random(5));
    trainer.trainStep(0, new Random(1));
    const ws = (trainer as unknown as { trainWs: { inputs: Int32Array; reset: Uint8Array } }).trainWs;
    const order = (trainer as unknown as { order: { row: Int32Array } }).order;
    assert.equal(ws.inputs[0], order.row[EOS]);
    assert.deepEqual(Array.from(ws.inputs.subarray(0, 10)).filter((_, i) => i % 2 === 0).slice(1), [1, 2, 3, 4].map((i) => order.row[TRAIN.tokens[i]!]!));
    assert.ok(ws.reset.subarray(0, 10).every((r) => r === 0), 'no resets in a stream (it starts from the zero state)');
  });
}

// ---- the Transformer's window -------------------------------------------------------------------

test('transformer past its window: a stream slides by half a window, each word scored as in a fresh window from the last slide', () => {
  // W = 8 slides by 4 inputs. With lines of 3 words and </s> (4 tokens) the input at every
  // window start is a line break, so the window line m is scored in starts at line m − 1: the
  // same scores as a fresh stream of lines m − 1 and m.
  const W = 8;
  const model = makeModel('transformer', { embed: 8, hidden: 8, layers: 2, heads: 2, window: W, context: 'stream', dropout: 0 });
  new Random(4).fillUniform(model.params.values, -1.5, 1.5); // sharp attention, so that distant words matter
  const lines = ['the cat saw', 'a dog heard', 'my sister found', 'the music today', 'her friend likes', 'the ball again', 'the children saw'];
  const text = corpusFromText(lines, { vocab: TRAIN.vocab });
  const perWord = (tokens: Uint32Array): number[][] => {
    const out: number[][] = [];
    let state: unknown = null;
    for (let i = 0; i < tokens.length; ) {
      let end = i + 1;
      while (tokens[end] !== EOS) end++;
      const words = tokens.slice(i + 1, end + 1);
      const log10 = new Float64Array(words.length);
      state = (model as unknown as Required<LanguageModel<unknown>>).scoreStream(state, words, log10);
      out.push(Array.from(log10));
      i = end + 1;
    }
    return out;
  };
  const whole = perWord(text.tokens);
  for (let m = 1; m < lines.length; m++) {
    const pair = perWord(corpusFromText(lines.slice(m - 1, m + 1), { vocab: TRAIN.vocab }).tokens)[1]!;
    whole[m]!.forEach((v, j) => assert.ok(Math.abs(v - pair[j]!) < 1e-5, `line ${m} word ${j}: ${v} vs ${pair[j]}`));
  }
  // Without the slide (a window as long as the text) the later lines would see more: they differ.
  const wide = makeModel('transformer', { embed: 8, hidden: 8, layers: 2, heads: 2, window: 40, context: 'stream', dropout: 0 });
  wide.params.values.set(model.params.values); // sinusoidal positions: the same weights for any window
  assert.ok(Math.abs(scoreTokens(wide, text.tokens).log10Sum - scoreTokens(model, text.tokens).log10Sum) > 1e-3);
  assert.ok(Math.abs(scoreTokens(wide, text.tokens.subarray(0, 5)).log10Sum - scoreTokens(model, text.tokens.subarray(0, 5)).log10Sum) < 1e-5, 'the same within the window');
});

test("transformer: PyTorch's protocol (non-overlapping windows over B streams) equals the sliding window on a text within one window", () => {
  const model = makeModel('transformer', { embed: 8, hidden: 8, layers: 1, heads: 2, window: 24, context: 'stream', dropout: 0.3 }, { batch: 1, bptt: 24 });
  new Random(6).fillUniform(model.params.values, -1, 1);
  const text = corpusFromText(['the cat saw a bird', 'my sister heard the music today'], { vocab: TRAIN.vocab });
  assert.ok(text.tokens.length - 1 <= 24);
  const windows = (model as unknown as { evaluateWindows(t: Uint32Array): { nats: number; targets: number } }).evaluateWindows(text.tokens);
  const acc = scoreTokens(model, text.tokens);
  assert.equal(windows.targets, acc.tokens);
  assert.ok(Math.abs(windows.nats / Math.LN10 + acc.log10Sum) < 1e-4, 'no dropout at evaluation, the same numbers');
});

test('transformer: score() word by word over a sentence three windows long equals the batched path, at O(length) steps', () => {
  const model = makeModel('transformer', { embed: 8, hidden: 12, layers: 2, heads: 2, window: 6, dropout: 0 });
  new Random(5).fillUniform(model.params.values, -0.5, 0.5);
  const words = Uint32Array.from([...ids('the children followed the red car in the park again and again'), EOS]);
  // Count the steps the model runs: every forward() over steps [from, to) of the window.
  const m = model as unknown as { forward: (ws: unknown, from: number, to: number, T: number, rng: unknown) => void };
  const forward = m.forward.bind(model);
  let steps = 0;
  m.forward = (ws, from, to, T, rng) => {
    steps += to - from;
    forward(ws, from, to, T, rng);
  };
  const fast = new Float64Array(words.length);
  model.scoreSentence(words, fast);
  // n inputs, plus keep = 3 again at each of the ⌊(n − 3)/3⌋ slides: about 2n, not n²/2.
  assert.ok(steps <= 2 * words.length, `${steps} steps for ${words.length} words`);
  let state = model.begin();
  for (let i = 0; i < words.length; i++) {
    const r = model.score(state, words[i]!);
    assert.ok(Math.abs(r.log10 - fast[i]!) < 1e-5, `word ${i}: ${r.log10} vs ${fast[i]}`);
    state = r.next;
  }
  const s = state as { inputs: Int32Array; kv: Float32Array };
  assert.ok(s.inputs.length <= 6 && s.kv.length === 2 * 2 * s.inputs.length * 8, 'the state is the key/value cache of the window');
});

test('context: sentence models score streams only when asked; n-gram-like models refuse a stream', async () => {
  const model = makeModel('lstm', { hidden: 8, layers: 1, classes: 0 });
  assert.equal(model.context, 'sentence');
  assert.ok(scoreTokens(model, VALID.tokens).perplexity > 0);
  assert.ok(Number.isFinite(scoreTokens(model, VALID.tokens, 'stream').perplexity));
  const ffnn = makeModel('ffnn', { order: 3, embed: 4, hidden: 4, classes: 0 });
  assert.throws(() => scoreTokens(ffnn, VALID.tokens, 'stream'), /--context stream needs a model whose state spans lines/);
  assert.throws(() => resolveConfig('ffnn', { context: 'stream' }, 20), /--context stream does not apply to the ffnn model/);
  assert.throws(() => resolveConfig('lstm', { context: 'document' }, 20), /unknown --context 'document'/);
});

for (const [kind, arch, lr] of [
  ['loglinear', { order: 3 }, 1],
  ['ffnn', { order: 3, embed: 16, hidden: 32, classes: 4 }, 0.5],
  ['rnn', { hidden: 24, classes: 0 }, 2],
  ['lstm', { hidden: 24, layers: 1, classes: 0 }, 5],
  ['gru', { hidden: 24, layers: 1, classes: 0 }, 2],
  ['transformer', { embed: 16, hidden: 32, layers: 1, heads: 2, window: 10, dropout: 0, classes: 0 }, 1],
] as [NeuralKind, ArchitectureOptions, number][]) {
  test(`${kind} learns the grammar: validation perplexity falls well below the untrained model's`, async () => {
    const model = makeModel(kind, arch, { batch: 8, bptt: 10 });
    if (kind === 'loglinear') model.params.values.fill(0);
    const before = scoreTokens(model, VALID.tokens).perplexity;
    const t = new Trainer(model, TRAIN.tokens, VALID.tokens, { epochs: 6, lr, clip: 1, seed: 3 });
    const r = await t.run();
    const after = scoreTokens(model, VALID.tokens).perplexity;
    assert.ok(after < before * 0.5, `${before} → ${after}`);
    assert.ok(Math.abs(after / r.validPerplexity! - 1) < 1e-5, 'the kept weights are the best validated ones');
    assert.ok(t.state.history.length >= 2 && t.state.history.every((h) => h.validPerplexity !== null));
  });
}

/** Straight run of K steps vs. K/2, checkpoint, resume: the final weights must be bit-identical. */
for (const [kind, arch, optimizer] of [
  ['lstm', { hidden: 10, embed: 8, layers: 2, classes: 0, dropout: 0.3 }, 'sgd'],
  ['ffnn', { order: 3, embed: 8, hidden: 12, classes: 5 }, 'sgd'],
  ['loglinear', { order: 3 }, 'sgd'],
  ['lstm', { hidden: 8, embed: 8, layers: 1, classes: 0, tied: true }, 'adamw'],
  ['rnn', { hidden: 8, classes: 4 }, 'adagrad'],
  ['transformer', { embed: 8, hidden: 8, layers: 1, heads: 2, window: 7, dropout: 0.2 }, 'adamw'],
] as [NeuralKind, ArchitectureOptions, OptimizerName][]) {
  test(`${kind} (${optimizer}): resuming from a checkpoint reproduces the uninterrupted run bit for bit`, async () => {
    const shape = { batch: 5, bptt: 7 };
    const options = { epochs: 3, lr: optimizer === 'sgd' ? 0.5 : 0.01, clip: 1, seed: 42, l2: optimizer === 'sgd' ? 0 : 0.01, warmup: 3 };
    const straight = makeModel(kind, arch, shape, 7, optimizer);
    const steps = straight.beginEpoch(TRAIN.tokens, null);
    assert.ok(steps > 4);
    const K = Math.floor(steps * 1.5); // stop inside the second epoch
    const a = new Trainer(straight, TRAIN.tokens, VALID.tokens, { ...options, maxSteps: 2 * K });
    await a.run();
    // Interrupted run: stop at K, keep a copy of the checkpoint, resume in a fresh model.
    const first = makeModel(kind, arch, shape, 7, optimizer);
    const saved: { c: Checkpoint | null } = { c: null };
    await new Trainer(first, TRAIN.tokens, VALID.tokens, { ...options, maxSteps: K }, {
      checkpoint: async (c) => {
        saved.c = { state: structuredClone(c.state), params: c.params.slice(), best: c.best?.slice() ?? null, carried: c.carried?.slice() ?? null, optimizer: c.optimizer?.slice() ?? null };
        return 'memory';
      },
    }).run();
    const s = saved.c;
    assert.ok(s);
    assert.equal(s.state.globalStep, K);
    assert.equal(s.optimizer === null, optimizer === 'sgd', 'AdamW and Adagrad checkpoints carry their moments');
    const second = makeModel(kind, arch, shape, 99, optimizer); // different init: everything must come from the checkpoint
    second.params.values.set(s.params);
    const b = new Trainer(second, TRAIN.tokens, VALID.tokens, { ...options, maxSteps: 2 * K }, {}, s);
    await b.run();
    assert.deepEqual(b.state.history.map((h) => h.validPerplexity), a.state.history.map((h) => h.validPerplexity));
    assert.ok(Buffer.from(second.params.values.buffer, second.params.values.byteOffset, second.params.values.byteLength)
      .equals(Buffer.from(straight.params.values.buffer, straight.params.values.byteOffset, straight.params.values.byteLength)), 'weights differ');
  });
}

test('dropout masks drawn in bulk are the draws of uniform() one by one, and the generator continues from the same state', () => {
  for (const [seed, p, n] of [[1, 0.2, 1000], [7, 0.5, 4097], [9, 0.02, 1000], [3, 0.98, 1000]] as const) {
    const bulk = new Random(seed, 2);
    const single = new Random(seed, 2);
    const mask = new Float32Array(n + 1).fill(-1);
    bulk.fillMask(mask, n, p, 5);
    const expected = Array.from({ length: n }, () => (single.uniform() < p ? 0 : 5));
    assert.deepEqual(Array.from(mask.subarray(0, n)), expected);
    assert.equal(mask[n], -1, 'nothing written past n');
    assert.ok(expected.includes(0) && expected.includes(5), 'both outcomes occur');
    assert.deepEqual(bulk.state(), single.state());
  }
});

test('NaN in the loss stops training with an error naming the step and the checkpoint', async () => {
  const model = makeModel('rnn', { hidden: 8, classes: 0 });
  let steps = 0;
  const t = new Trainer(model, TRAIN.tokens, null, { epochs: 1, lr: 1, seed: 1, checkpointEvery: 0 }, {
    checkpoint: async () => 'ckpt.safetensors',
    progress: () => {},
  });
  // Poison the weights after 3 steps through the (only) hook called between steps.
  const origStep = model.trainStep.bind(model);
  model.trainStep = (s, rng) => {
    if (++steps === 4) model.params.values.fill(NaN);
    return origStep(s, rng);
  };
  await assert.rejects(t.run(), (e: unknown) => {
    assert.ok(e instanceof KotobaError);
    assert.match(e.message, /training diverged at epoch 1, step 4 \(global step 4\): the loss is NaN; no model written; the last good checkpoint is ckpt\.safetensors/);
    return true;
  });
});

test('model files: round trip through safetensors scores identically; checkpoints carry the state', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kotoba-neural-'));
  try {
    for (const [kind, arch] of SMALL) {
      const model = makeModel(kind, arch);
      const path = join(dir, `${kind}.safetensors`);
      await saveNeuralModel(path, model, { history: [], training: { note: 'test' } });
      const loaded = (await loadModel(path)) as NeuralModel<unknown>; // through the registered loader
      assert.equal(loaded.description, model.description);
      for (const t of model.params.tensors()) assert.deepEqual(loaded.params.get(t.name)!.value, t.value, `${kind}: ${t.name} differs`);
      // The loaded model runs on the fastest kernels, the test model on the TypeScript ones.
      const sentence = ids('a dog heard the music at night');
      const x = scoreSentence(model, sentence).total, y = scoreSentence(loaded, sentence).total;
      assert.ok(Math.abs(x - y) < 1e-5 * Math.abs(x), `${kind}: ${x} vs ${y}`);
    }
    const model = makeModel('lstm', { hidden: 6, layers: 1, classes: 0 });
    const state = { ...new Trainer(model, TRAIN.tokens, null, { epochs: 1, lr: 1, seed: 1 }).state, epoch: 3, step: 17 };
    const file = neuralModelFile(model, { checkpoint: { state, best: model.params.values.slice(), carried: new Float32Array([1, 2, 3]) } });
    const back = readNeuralFile(decodeSafetensors(safetensorsBytes(file.tensors, file.metadata), 'ckpt'), 'ckpt');
    assert.equal(back.checkpoint!.state.step, 17);
    assert.deepEqual(Array.from(back.checkpoint!.carried!), [1, 2, 3]);
    const again = buildModelJs(back.config, back.vocab, back.order);
    loadWeights(again, back.weights, 'ckpt');
    assert.deepEqual(Array.from(again.params.values), Array.from(model.params.values));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('an RNN file from before layers (tensors rnn.input, rnn.recurrent, rnn.bias) still loads', () => {
  const model = makeModel('rnn', { hidden: 6, classes: 0 });
  const { tensors, metadata } = neuralModelFile(model);
  const old = new Map([...tensors].map(([name, t]) => [name.replace(/^rnn\.0\./, 'rnn.'), t]));
  assert.ok(old.has('rnn.recurrent') && !old.has('rnn.0.recurrent'));
  const { layers, ...config } = JSON.parse(metadata.config!) as { layers?: number }; // old configs had no layers
  assert.equal(layers, 1);
  const back = readNeuralFile(decodeSafetensors(safetensorsBytes(old, { ...metadata, config: JSON.stringify(config) }), 'old'), 'old');
  const again = buildModelJs(back.config, back.vocab, back.order);
  loadWeights(again, back.weights, 'old');
  assert.deepEqual(Array.from(again.params.values), Array.from(model.params.values));
});

test('corrupt, truncated, foreign and future model files are clear errors', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kotoba-neural-'));
  try {
    const model = makeModel('rnn', { hidden: 5, classes: 0 });
    const good = join(dir, 'good.safetensors');
    await saveNeuralModel(good, model);
    const bytes = readFileSync(good);
    const cases: [string, Uint8Array, RegExp][] = [
      ['truncated.safetensors', bytes.subarray(0, bytes.length - 10), /not a valid safetensors file: tensor .* has data_offsets \[\d+, \d+\] outside the \d+ bytes of data/],
      ['short.safetensors', bytes.subarray(0, 5), /not a valid safetensors file: only 5 bytes/],
      ['header.safetensors', bytes.subarray(0, 40), /the header says \d+ bytes/],
    ];
    const bad = Buffer.from(bytes);
    bad[12] = 0x00; // inside the JSON header
    cases.push(['json.safetensors', bad, /the header is not valid UTF-8 JSON/]);
    const { tensors, metadata } = neuralModelFile(model);
    cases.push(['future.safetensors', safetensorsBytes(tensors, { ...metadata, format_version: String(NEURAL_FORMAT_VERSION + 1) }), /model format version 2 is newer than this kotoba reads \(1\).*upgrade kotoba/]);
    cases.push(['foreign.safetensors', safetensorsBytes(tensors, { format: 'pt' }), /not a kotoba neural model/]);
    const tf = neuralModelFile(makeModel('transformer', { embed: 8, hidden: 8, layers: 1, heads: 2, window: 6 }));
    const badHeads = { ...tf.metadata, config: tf.metadata.config!.replace('"heads":2', '"heads":3') };
    cases.push(['heads.safetensors', safetensorsBytes(tf.tensors, badHeads), /invalid config: embed 8 is not divisible by heads 3/]);
    const badWindow = { ...tf.metadata, config: tf.metadata.config!.replace('"window":6', '"window":1e9') };
    cases.push(['window.safetensors', safetensorsBytes(tf.tensors, badWindow), /invalid config: bptt must be a whole number from 1 to 4096/]);
    const noWeight = new Map(tensors);
    noWeight.delete('rnn.0.recurrent');
    cases.push(['missing.safetensors', safetensorsBytes(noWeight, metadata), /has no tensor rnn\.0\.recurrent/]);
    for (const [name, data, message] of cases) {
      const path = join(dir, name);
      writeFileSync(path, data);
      await assert.rejects(loadNeuralModel(path), (e: unknown) => {
        assert.ok(e instanceof KotobaError, `${name}: ${String(e)}`);
        assert.match(e.message, message, name);
        assert.ok(e.message.includes(path), `${name}: the message names the file`);
        return true;
      });
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

const PYTHON = '/usr/bin/python3';
const hasNumpy = spawnSync(PYTHON, ['-c', 'import numpy'], { encoding: 'utf8' }).status === 0;

test('model files open in Python (a hand-written safetensors reader: struct, json, numpy)', { skip: !hasNumpy && `${PYTHON} with numpy is not available` }, async () => {
  // python3-safetensors is not packaged in Debian bookworm, so read the format by hand, as any
  // Python program can: 8-byte little-endian length, JSON header, little-endian float32 data.
  const dir = mkdtempSync(join(tmpdir(), 'kotoba-neural-'));
  try {
    const model = makeModel('lstm', { hidden: 6, embed: 4, layers: 2, classes: 3 });
    const path = join(dir, 'lstm.safetensors');
    await saveNeuralModel(path, model);
    const script = String.raw`
import json, struct, sys
import numpy as np
data = open(sys.argv[1], 'rb').read()
(n,) = struct.unpack('<Q', data[:8])
header = json.loads(data[8:8 + n])
meta = header.pop('__metadata__')
out = {'format': meta['format'], 'vocabulary': len(json.loads(meta['vocabulary'])), 'tensors': {}}
for name, t in header.items():
    b, e = t['data_offsets']
    dtype = {'F32': '<f4', 'I32': '<i4'}[t['dtype']]
    a = np.frombuffer(data[8 + n + b: 8 + n + e], dtype=dtype).reshape(t['shape'])
    out['tensors'][name] = {'shape': list(a.shape), 'sum': float(a.astype(np.float64).sum()), 'first': float(a.flat[0]) if a.size else None}
print(json.dumps(out))
`;
    const r = spawnSync(PYTHON, ['-c', script, path], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const py = JSON.parse(r.stdout) as { format: string; vocabulary: number; tensors: Record<string, { shape: number[]; sum: number; first: number | null }> };
    assert.equal(py.format, 'kotoba-neural');
    assert.equal(py.vocabulary, model.vocab.size);
    for (const t of model.params.tensors()) {
      const p = py.tensors[t.name]!;
      assert.deepEqual(p.shape, t.shape, t.name);
      let sum = 0;
      for (const v of t.value) sum += v;
      assert.ok(Math.abs(p.sum - sum) < 1e-6 * Math.max(1, Math.abs(sum)), `${t.name}: ${p.sum} vs ${sum}`);
      assert.equal(p.first, t.value[0]);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('training schedule: keep the best weights, go back on a worse epoch, anneal below 0.3 %, stop on the second stall', async () => {
  const { createJsKernels } = await import('../src/neural/kernels/index.js');
  const { ParamSet } = await import('../src/neural/params.js');
  const k = createJsKernels(64);
  const params = new ParamSet();
  params.declare('w', [1]);
  params.allocate(k);
  // Validation perplexities per epoch, scripted; each epoch's training adds 1 to the weight.
  const script = [200, 150, 160, 149.9, 140, 139.8, 130];
  let epoch = 0;
  const lrs: number[] = [];
  const fake = {
    params,
    kernels: k,
    vocab: new Vocabulary(),
    beginEpoch: () => 2,
    trainStep: () => ({ nats: 1, targets: 1 }),
    update: (lr: number) => {
      lrs.push(lr);
      params.values[0]! += 0.5; // two steps per epoch: +1 per epoch
      return 0;
    },
    evaluate: () => ({ nats: Math.log(script[epoch++]!), targets: 1 }),
    carried: () => null,
  };
  const t = new Trainer(fake, new Uint32Array(0), new Uint32Array(0), { epochs: 20, lr: 8, seed: 1 });
  const r = await t.run();
  const h = t.state.history;
  // 200, 150 (improved), 160 (worse: back to epoch 2's weights, anneal), 149.9 (< 0.3 % better
  // than 150 while annealing: stop).
  assert.deepEqual(h.map((e) => Number(e.validPerplexity!.toFixed(1))), [200, 150, 160, 149.9]);
  assert.deepEqual(h.map((e) => e.lr), [8, 8, 8, 4]);
  assert.equal(r.reason, 'converged');
  assert.equal(t.state.bestEpoch, 4);
  assert.ok(Math.abs(r.validPerplexity! - 149.9) < 1e-9);
  // Weights: +1 per epoch; epoch 3 was undone, so the best (epoch 4) weights are 2 + 1 = 3.
  assert.equal(params.values[0], 3);
  assert.deepEqual(lrs, [8, 8, 8, 8, 8, 8, 4, 4]);
});

test('a token stream cut inside a sentence (a validation slice) is scored to its end, never looped past it', () => {
  const corpus = corpusFromText(['the cat sat on the mat', 'a dog ran', 'the dog sat']);
  for (const kind of ['transformer', 'lstm'] as const) {
    const config = resolveConfig(kind, { embed: 8, hidden: 8, layers: 1, ...(kind === 'transformer' ? { heads: 2, window: 6 } : {}) }, corpus.vocab.size);
    const model = buildModelJs(config, corpus.vocab, orderFor(config, countIds(corpus.tokens, corpus.vocab.size)));
    model.initialize(new Random(1));
    const cut = corpus.tokens.subarray(0, 11); // <s> the cat sat on the mat </s> <s> a dog: no </s> at the end
    assert.notEqual(cut[cut.length - 1], EOS);
    const acc = scoreTokens(model, cut, 'sentence');
    assert.equal(acc.sentences, 2);
    assert.equal(acc.tokens, 7 + 2, 'the whole first sentence, then the two words of the cut one');
    const whole = scoreTokens(model, corpus.tokens.subarray(0, 8), 'sentence');
    const second = scoreSentence(model, [corpus.vocab.id('a'), corpus.vocab.id('dog')], false);
    assert.ok(Math.abs(acc.log10Sum - whole.log10Sum - second.total) < 1e-4, 'the cut sentence scores as its words without </s>');
  }
});
