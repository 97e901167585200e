/**
 * Hostile input files (issue 10, items 4, 7 and 9): what used to hang, allocate without bound,
 * accept nonsense or fail with "internal error", each now a one-line error naming the file and
 * the place (or, for harmless repetition, loaded once). The seeded fuzz test (fuzz.test.ts)
 * keeps it so for mutants of every format.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  BackoffModel,
  buildModelJs,
  decodeSafetensors,
  initialState,
  corpusFromText,
  countIds,
  estimate,
  KotobaError,
  MAX_WEIGHT,
  neuralModelFile,
  orderFor,
  parseArpa,
  Random,
  readNeuralFile,
  resolveConfig,
  safetensorsBytes,
  scoreSentence,
  type ArchitectureOptions,
  type LanguageModel,
  type NeuralKind,
  type TrainingState,
} from '../src/index.js';
import { loadModel, MAX_MIXTURE_DEPTH, registerModelLoader, saveNgramModel } from '../src/node/index.js';
import { cli, LECTURE, repoRoot, tempDir } from './helpers.js';

const quiet = { warn() {}, info() {} };

/** Runs the CLI, killed after `timeout` ms (code null then): what used to hang must not. */
function runCli(args: string[], timeout = 20_000): Promise<{ code: number | null; stderr: string; ms: number }> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, [cli, ...args], { cwd: repoRoot, env: { ...process.env, KOTOBA_DEBUG: '' }, stdio: ['ignore', 'ignore', 'pipe'], timeout });
    const err: Buffer[] = [];
    child.stderr.on('data', (d: Buffer) => err.push(d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stderr: Buffer.concat(err).toString('utf8'), ms: performance.now() - t0 }));
  });
}

/** A refusal as the issue asks: exit 1, one line `kotoba: …` matching `pattern`, no "internal error". */
function assertRefused(r: { code: number | null; stderr: string }, pattern: RegExp): void {
  assert.equal(r.code, 1, `exit 1 (null: killed after the time limit); stderr: ${r.stderr}`);
  assert.match(r.stderr, /^kotoba: [^\n]*\n$/, 'one line');
  assert.match(r.stderr, pattern);
  assert.doesNotMatch(r.stderr, /internal error/);
}

/** The library's side of the same: a KotobaError of one line matching `pattern`. */
function refusedWith(pattern: RegExp): (e: unknown) => boolean {
  return (e) => {
    assert.ok(e instanceof KotobaError, `a KotobaError, not ${(e as Error)?.stack ?? String(e)}`);
    assert.doesNotMatch(e.message, /\n/);
    assert.match(e.message, pattern);
    return true;
  };
}

const hasMkfifo = spawnSync('mkfifo', ['--version']).status === 0;

// ---- item 4: unbounded reads ------------------------------------------------------------------

test('a device, a named pipe or a directory given as a model is one line, at once', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const cases: [string, RegExp][] = [
      ['/dev/zero', /cannot read \/dev\/zero: it is a device, not a regular file/],
      [dir, /it is a directory, not a regular file/],
    ];
    if (hasMkfifo) {
      spawnSync('mkfifo', [join(dir, 'pipe.arpa')]);
      cases.push([join(dir, 'pipe.arpa'), /pipe\.arpa: it is a named pipe \(FIFO\), not a regular file/]);
    }
    for (const [path, pattern] of cases) {
      for (const command of ['info', 'ppl']) {
        const r = await runCli(command === 'ppl' ? ['ppl', path, join(repoRoot, 'corpus', 'wiki.test.txt')] : ['info', path]);
        assertRefused(r, pattern);
      }
    }
  } finally {
    cleanup();
  }
});

/** A loader for `.count-lm` files that counts its loads (each a tiny unigram model). */
const loads = new Map<string, number>();
const unigram = BackoffModel.fromTables(estimate(corpusFromText(LECTURE), { order: 1, log: quiet }));
registerModelLoader({
  accepts: (_head, path) => path.endsWith('.count-lm'),
  load: async (path) => {
    loads.set(path, (loads.get(path) ?? 0) + 1);
    return unigram as LanguageModel<unknown>;
  },
});

const mixture = (components: [string, number][]) =>
  JSON.stringify({ format: 'kotoba-mixture', version: 1, components: components.map(([path, weight]) => ({ path, weight })) });

test('mixtures: each model file loaded once however often it is named; the weights of repeats add up', async () => {
  const { dir, cleanup } = tempDir();
  try {
    writeFileSync(join(dir, 'm.count-lm'), 'x');
    writeFileSync(join(dir, 'other.count-lm'), 'y');
    // One model listed 20,000 times (3.2 GB before: a copy per entry).
    writeFileSync(join(dir, 'many.mix.json'), mixture([...Array.from({ length: 20_000 }, () => ['m.count-lm', 0.5 / 20_000] as [string, number]), ['other.count-lm', 0.5]]));
    loads.clear();
    const many = (await loadModel(join(dir, 'many.mix.json'))) as unknown as { components: unknown[]; weights: Float64Array };
    assert.deepEqual([...loads.values()], [1, 1], 'each file once');
    assert.equal(many.components.length, 2);
    assert.ok(Math.abs(many.weights[0]! - 0.5) < 1e-9 && Math.abs(many.weights[1]! - 0.5) < 1e-9, `weights ${[...many.weights]}`);
    // Eight levels, each naming the next twice (2^8 loads before), and the same file through another path.
    mkdirSync(join(dir, 'sub'));
    for (let i = 0; i < MAX_MIXTURE_DEPTH; i++) {
      const next = i < MAX_MIXTURE_DEPTH - 1 ? `level${i + 1}.mix.json` : '../m.count-lm';
      writeFileSync(join(dir, 'sub', `level${i}.mix.json`), mixture([[next, 0.5], [i === 0 ? '../sub/../m.count-lm' : next, 0.5]]));
    }
    loads.clear();
    const nested = (await loadModel(join(dir, 'sub', 'level0.mix.json'))) as unknown as { components: unknown[] };
    assert.equal([...loads.values()].reduce((a, b) => a + b, 0), 1, 'one load for the one file at the leaves');
    assert.equal(nested.components.length, 1);
    // The scores are the model's: a mixture of one file with itself is that file.
    const ids = '私 は 本 が 好き だ'.split(' ').map((w) => unigram.vocab.id(w));
    assert.ok(Math.abs(scoreSentence(nested as unknown as LanguageModel<unknown>, ids).total - scoreSentence(unigram, ids).total) < 1e-9);
  } finally {
    cleanup();
  }
});

test('mixtures: nesting deeper than the limit, cycles, devices, pipes and oversized files are refused', async () => {
  const { dir, cleanup } = tempDir();
  try {
    writeFileSync(join(dir, 'm.count-lm'), 'x');
    // 20 levels, each naming the next twice: 2^20 loads before.
    for (let i = 0; i < 20; i++) {
      const next = i < 19 ? `deep${i + 1}.mix.json` : 'm.count-lm';
      writeFileSync(join(dir, `deep${i}.mix.json`), mixture([[next, 0.5], [next, 0.5]]));
    }
    loads.clear();
    const t0 = performance.now();
    await assert.rejects(loadModel(join(dir, 'deep0.mix.json')), refusedWith(new RegExp(`deep${MAX_MIXTURE_DEPTH}\\.mix\\.json: mixtures nested more than ${MAX_MIXTURE_DEPTH} deep`)));
    assert.equal(loads.size, 0, 'nothing loaded');
    assert.ok(performance.now() - t0 < 5000);
    writeFileSync(join(dir, 'a.mix.json'), mixture([['m.count-lm', 0.5], ['b.mix.json', 0.5]]));
    writeFileSync(join(dir, 'b.mix.json'), mixture([['a.mix.json', 1]]));
    await assert.rejects(loadModel(join(dir, 'a.mix.json')), refusedWith(/a\.mix\.json: the mixture names itself \(directly or through another mixture\)/));
    writeFileSync(join(dir, 'zero.mix.json'), mixture([['/dev/zero', 1]]));
    await assert.rejects(loadModel(join(dir, 'zero.mix.json')), refusedWith(/zero\.mix\.json: component \/dev\/zero: cannot read \/dev\/zero: it is a device/));
    if (hasMkfifo) {
      spawnSync('mkfifo', [join(dir, 'pipe.arpa')]);
      writeFileSync(join(dir, 'pipe.mix.json'), mixture([['pipe.arpa', 1]]));
      // Through the CLI: a hang there is a killed process, not a hung test.
      assertRefused(await runCli(['info', join(dir, 'pipe.mix.json')]), /component pipe\.arpa: cannot read .*pipe\.arpa: it is a named pipe/);
    }
    writeFileSync(join(dir, 'big.mix.json'), `{"format": "kotoba-mixture"${' '.repeat(2 << 20)}}`);
    await assert.rejects(loadModel(join(dir, 'big.mix.json')), refusedWith(/big\.mix\.json: a mixture file may hold at most 1048576 bytes, and this one holds 2097\d+/));
    writeFileSync(join(dir, 'weights.mix.json'), mixture([['m.count-lm', -1], ['m.count-lm', 2]]));
    await assert.rejects(loadModel(join(dir, 'weights.mix.json')), refusedWith(/weights\.mix\.json: mixture weight -1 is not a number ≥ 0/));
    writeFileSync(join(dir, 'newline.mix.json'), mixture([['m.count\n-lm', 1]]));
    await assert.rejects(loadModel(join(dir, 'newline.mix.json')), refusedWith(/component m\.count\\n-lm: not a path any system opens/));
  } finally {
    cleanup();
  }
});

// ---- items 7 and 9: ARPA -----------------------------------------------------------------------

/** A small ARPA file with the `<unk>` line replaced. */
const arpa = (unk: string, bigrams = 'ngram 2=1') =>
  ['\\data\\', 'ngram 1=3', bigrams, '', '\\1-grams:', unk, '0\t<s>\t-0.5', '-0.3\t</s>', '', '\\2-grams:', '-0.2\t<s> </s>', '', '\\end\\', ''].join('\n');

test('ARPA: non-finite, positive and non-decimal log10 probabilities and backoffs are refused, naming the line', () => {
  const refused: [string, RegExp][] = [
    ['inf\t<unk>', /m\.arpa:6: log10 probability 'inf' is above 0, a probability above 1/],
    ['1e309\t<unk>', /m\.arpa:6: log10 probability '1e309' is above 0/],
    ['0.5\t<unk>', /m\.arpa:6: log10 probability '0\.5' is above 0/],
    ['0x10\t<unk>', /m\.arpa:6: expected a log10 probability, found '0x10'/],
    ['nan\t<unk>', /m\.arpa:6: expected a log10 probability, found 'nan'/],
    ['Infinity\t<unk>', /m\.arpa:6: log10 probability 'Infinity' is above 0/],
    ['1_0\t<unk>', /expected a log10 probability, found '1_0'/],
    ['-1\t<unk>\tinf', /m\.arpa:6: log10 backoff 'inf' is not finite/],
    ['-1\t<unk>\t-inf', /m\.arpa:6: log10 backoff '-inf' is not finite/],
    ['-1\t<unk>\tnan', /m\.arpa:6: expected a log10 backoff, found 'nan'/],
    ['-1\t<unk>\t1e39', /m\.arpa:6: log10 backoff '1e39' is above 99/],
    ['-1\t<unk>\t0x1', /expected a log10 backoff, found '0x1'/],
    ['-1\t<unk\u001b[2J>\t0x1', /found '0x1'/],
  ];
  for (const [line, pattern] of refused) assert.throws(() => parseArpa(arpa(line), { source: 'm.arpa' }), refusedWith(pattern), line);
  // What KenLM, SRILM and kotoba write stays readable: 0 (p = 1, lmplz's <s>), -99 and -inf (p = 0),
  // -1e309 (below -99), 1e-400 (0), exponents and signs.
  for (const [line, log10] of [['0\t<unk>', 0], ['-99\t<unk>', -Infinity], ['-inf\t<unk>', -Infinity], ['-1e309\t<unk>', -Infinity], ['1e-400\t<unk>', 0], ['-1.5E-1\t<unk>\t+0.25', -0.15], ['-.5\t<unk>\t99', -0.5]] as const) {
    const tables = parseArpa(arpa(line), { source: 'm.arpa' });
    assert.equal(tables.orders[0]!.log10Prob[0], Math.fround(log10), line);
  }
});

test('ARPA: header counts are checked against the size of the file before anything is allocated', () => {
  for (const count of ['99999999999', '1000', '9'.repeat(400)]) {
    assert.throws(
      () => parseArpa(arpa('-1\t<unk>', `ngram 2=${count}`), { source: 'm.arpa' }),
      refusedWith(/m\.arpa:3: the header promises \S+ 2-grams, more than the \d+ bytes left in the file can hold/),
    );
  }
  const orders = Array.from({ length: 256 }, (_, i) => `ngram ${i + 1}=0`).join('\n');
  assert.throws(() => parseArpa(`\\data\\\n${orders}\n\n\\end\\\n`, { source: 'm.arpa' }), refusedWith(/m\.arpa:257: order 256 is above 255/));
  // A 16 MB first line is compared, not decoded (it used to become one 16 MB string, or several).
  const long = new TextEncoder().encode('\\' + 'x'.repeat(1 << 24));
  assert.throws(() => parseArpa(new TextDecoder().decode(long), { source: 'm.arpa' }), refusedWith(/m\.arpa: not an ARPA file: no \\data\\ line/));
});

test('ARPA through the CLI: the issue\'s header count is one line, not "internal error"', async () => {
  const { dir, cleanup } = tempDir();
  try {
    writeFileSync(join(dir, 'm.arpa'), arpa('-1\t<unk>', 'ngram 2=99999999999'));
    assertRefused(await runCli(['info', join(dir, 'm.arpa')]), /m\.arpa:3: the header promises 99999999999 2-grams/);
    writeFileSync(join(dir, 'p.arpa'), arpa('0x10\t<unk>'));
    assertRefused(await runCli(['ppl', join(dir, 'p.arpa'), join(repoRoot, 'corpus', 'wiki.test.txt')]), /p\.arpa:6: expected a log10 probability, found '0x10'/);
  } finally {
    cleanup();
  }
});

// ---- items 4, 7 and 9: neural model files -----------------------------------------------------

const TRAIN = corpusFromText(['the cat sat', 'the dog sat', 'a cat ran']);

function modelBytes(kind: NeuralKind, arch: ArchitectureOptions, edit: (config: Record<string, unknown>, tensors: Map<string, { data: Float32Array | Int32Array }>) => unknown = () => {}): Uint8Array {
  const config = resolveConfig(kind, arch, TRAIN.vocab.size);
  const model = buildModelJs(config, TRAIN.vocab, orderFor(config, countIds(TRAIN.tokens, TRAIN.vocab.size)));
  model.initialize(new Random(1));
  const { tensors, metadata } = neuralModelFile(model);
  const stored = JSON.parse(metadata.config!) as Record<string, unknown>;
  const copies = new Map([...tensors].map(([name, t]) => [name, { ...t, data: t.data.slice() }] as const));
  const replaced = edit(stored, copies as never);
  return safetensorsBytes(copies as never, { ...metadata, config: JSON.stringify(replaced === undefined ? stored : replaced) });
}

test('neural model files: configs of null, another kind, sizes -1, 2.5 or 1e9 are one line each, at once', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const cases: [string, Uint8Array, RegExp][] = [
      ['null', modelBytes('rnn', { hidden: 4 }, () => null), /the config is not a JSON object/],
      ['array', modelBytes('rnn', { hidden: 4 }, () => []), /the config is not a JSON object/],
      ['rnn weights, lstm config', modelBytes('rnn', { hidden: 4, embed: 4 }, (c) => ({ ...c, kind: 'lstm', layers: 1 })), /the lstm model has no tensor lstm\.0\.input/],
      ['lstm weights, rnn config', modelBytes('lstm', { hidden: 4, layers: 1 }, (c) => ({ ...c, kind: 'rnn', layers: undefined, dropout: undefined, tied: undefined })), /the rnn model has no tensor rnn\.0\.input/],
      ['hidden -1', modelBytes('rnn', { hidden: 4 }, (c) => ({ ...c, hidden: -1 })), /invalid config: hidden must be a whole number from 1 to \d+, got -1/],
      ['hidden 2.5', modelBytes('ffnn', { hidden: 4, embed: 3, order: 3 }, (c) => ({ ...c, hidden: 2.5 })), /invalid config: hidden must be a whole number from 1 to \d+, got 2\.5/],
      ['embed "3"', modelBytes('ffnn', { hidden: 4, embed: 3, order: 3 }, (c) => ({ ...c, embed: '3' })), /invalid config: embed must be a whole number/],
      ['layers 1e9', modelBytes('lstm', { hidden: 4, layers: 1 }, (c) => ({ ...c, layers: 1e9 })), /invalid config: layers must be a whole number from 1 to 8, got 1000000000/],
      ['layers 2 of 1', modelBytes('lstm', { hidden: 4, layers: 1 }, (c) => ({ ...c, layers: 2 })), /the lstm model has no tensor lstm\.1\.input/],
      ['hidden 5 of 4', modelBytes('rnn', { hidden: 4, embed: 4 }, (c) => ({ ...c, hidden: 5 })), /tensor embedding has shape \[\d+,4\] \(F32\), the config says \[\d+,5\] \(F32\)|tensor rnn\.(\d+\.)?\w+ has shape/],
      ['order 1e9', modelBytes('loglinear', { order: 2 }, (c) => ({ ...c, order: 1e9 })), /invalid config: order must be a whole number from 1 to 16/],
      ['hashSize beyond V²', modelBytes('loglinear', { order: 2 }, (c) => ({ ...c, hashSize: 1e15 })), /invalid config: hashSize is 1000000000000000, not \d+/],
    ];
    for (const [name, bytes, pattern] of cases) {
      const path = join(dir, `${name.replace(/\W+/g, '-')}.safetensors`);
      writeFileSync(path, bytes);
      const t0 = performance.now();
      await assert.rejects(loadModel(path), refusedWith(pattern), name);
      assert.ok(performance.now() - t0 < 5000, `${name}: at once`);
    }
    assertRefused(await runCli(['info', join(dir, 'layers-1e9.safetensors')]), /invalid config: layers must be a whole number/);
  } finally {
    cleanup();
  }
});

test('neural model files: NaN, infinite and absurdly large weights are refused, naming the tensor', async () => {
  const { dir, cleanup } = tempDir();
  try {
    for (const [value, shown] of [[NaN, 'NaN'], [Infinity, 'Infinity'], [-Infinity, '-Infinity'], [MAX_WEIGHT * 2, `${MAX_WEIGHT * 2}, above ${MAX_WEIGHT} in magnitude,`]] as const) {
      const path = join(dir, 'w.safetensors');
      writeFileSync(path, modelBytes('lstm', { hidden: 4, layers: 2 }, (_c, tensors) => void (tensors.get('lstm.1.recurrent')!.data[5] = value)));
      await assert.rejects(loadModel(path), refusedWith(new RegExp(`w\\.safetensors: tensor lstm\\.1\\.recurrent holds ${shown.replace(/[.+]/g, '\\$&')} at index 5`)));
    }
    // The largest allowed weight still scores finitely, and the distribution sums to 1.
    const path = join(dir, 'big.safetensors');
    writeFileSync(path, modelBytes('ffnn', { hidden: 4, embed: 3, order: 3, direct: true }, (_c, tensors) => { for (const t of tensors.values()) if (t.data instanceof Float32Array) t.data.fill(MAX_WEIGHT); }));
    const lm = await loadModel(path);
    const { total } = scoreSentence(lm, [TRAIN.vocab.id('the'), TRAIN.vocab.id('cat')]);
    assert.ok(Number.isFinite(total), `total ${total}`);
    const p = new Float64Array(lm.vocab.size);
    lm.distribution!(lm.begin(), p);
    assert.ok(Math.abs(p.reduce((a, b) => a + b, 0) - 1) < 1e-6);
  } finally {
    cleanup();
  }
});

test('checkpoints: the training state and the best weights are checked before a resume trusts them', () => {
  const config = resolveConfig('rnn', { hidden: 4 }, TRAIN.vocab.size);
  const model = buildModelJs(config, TRAIN.vocab, orderFor(config, countIds(TRAIN.tokens, TRAIN.vocab.size)));
  model.initialize(new Random(1));
  const read = (state: unknown, best = model.params.values.slice()) => {
    const { tensors, metadata } = neuralModelFile(model, { checkpoint: { state: state as TrainingState, best, carried: null } });
    return readNeuralFile(decodeSafetensors(safetensorsBytes(tensors, metadata), 'm.ckpt.safetensors'), 'm.ckpt.safetensors');
  };
  const good = initialState(1, 7);
  assert.deepEqual(read(good).checkpoint!.state, good);
  const cases: [unknown, RegExp][] = [
    [null, /invalid training state in the checkpoint: not a JSON object/],
    [{ ...good, rng: [1, 2] }, /rng is \[1,2\]/],
    [{ ...good, step: 1e300 }, /step is 1e\+300/],
    [{ ...good, epoch: '3' }, /epoch is "3"/],
    [{ ...good, lr: -1 }, /lr is -1/],
    [{ ...good, history: {} }, /history is \{\}/],
  ];
  for (const [state, pattern] of cases) assert.throws(() => read(state), refusedWith(pattern));
  assert.throws(() => read(good, new Float32Array(3)), refusedWith(/checkpoint\.best holds 3 values, the model \d+/));
  const nan = model.params.values.slice();
  nan[2] = NaN;
  assert.throws(() => read(good, nan), refusedWith(/tensor checkpoint\.best holds NaN at index 2/));
});

test('safetensors: overlapping tensors, a header longer than the file and unknown dtypes are refused', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const good = modelBytes('rnn', { hidden: 4 });
    const n = Number(new DataView(good.buffer).getBigUint64(0, true));
    const header = JSON.parse(new TextDecoder().decode(good.subarray(8, 8 + n))) as Record<string, { data_offsets: number[]; dtype: string }>;
    const rebuild = (h: unknown) => {
      const text = new TextEncoder().encode(JSON.stringify(h));
      const out = new Uint8Array(8 + text.length + good.length - 8 - n);
      new DataView(out.buffer).setBigUint64(0, BigInt(text.length), true);
      out.set(text, 8);
      out.set(good.subarray(8 + n), 8 + text.length);
      return out;
    };
    // Every tensor pointing at the same bytes: copied once each before, a way to multiply memory.
    const overlapping = structuredClone(header);
    overlapping['rnn.0.bias']!.data_offsets = header['rnn.0.recurrent']!.data_offsets.slice();
    const f64 = structuredClone(header);
    f64['rnn.0.bias']!.dtype = 'F64';
    const long = good.slice();
    new DataView(long.buffer).setBigUint64(0, BigInt(good.length), true);
    const cases: [Uint8Array, RegExp][] = [
      [rebuild(overlapping), /not a valid safetensors file: (tensor \S+: \d+ bytes for shape|tensor \S+ starts at byte \d+ of the data, not \d+: tensors overlap or leave a gap)/],
      [rebuild(f64), /tensor rnn\.0\.bias has dtype F64; kotoba reads F32 and I32/],
      [long, /the header says \d+ bytes, the file has \d+ after the length/],
      [Uint8Array.from([...good, 0, 0, 0, 0]), /4 bytes after the last tensor/],
    ];
    for (const [bytes, pattern] of cases) {
      writeFileSync(join(dir, 'x.safetensors'), bytes);
      await assert.rejects(loadModel(join(dir, 'x.safetensors')), refusedWith(pattern));
    }
  } finally {
    cleanup();
  }
});

test('a saved n-gram model and a mixture of it still load (nothing valid is refused)', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const model = BackoffModel.fromTables(estimate(corpusFromText(LECTURE), { order: 3, log: quiet }));
    await saveNgramModel(join(dir, 'm.arpa.gz'), model);
    writeFileSync(join(dir, 'mix.json'), JSON.stringify({ components: [{ weight: 1, path: 'm.arpa.gz' }], version: 1, format: 'kotoba-mixture' }));
    const ids = LECTURE[0]!.split(' ').map((w) => model.vocab.id(w));
    const mix = await loadModel(join(dir, 'mix.json'));
    assert.ok(Math.abs(scoreSentence(mix, ids).total - scoreSentence(model, ids).total) < 1e-9);
  } finally {
    cleanup();
  }
});
