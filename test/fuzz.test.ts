/**
 * Every file format kotoba reads, fuzzed (issue 10): ARPA plain and gzipped, binary .kblm (probing,
 * trie, quantized trie; mutants resealed), neural safetensors models, mixture files, corpora and
 * vocabulary files, a few hundred seeded mutants each, through
 * the real loaders and a sample through the CLI (see fuzz.ts). A loaded n-gram model must score
 * finite or −∞ log10 values with finite, non-negative next-word probabilities that agree with its
 * scores; neural models and mixtures must also have every distribution sum to 1. (A mutated ARPA
 * file whose numbers changed is still a valid ARPA model, whose distributions need not sum to 1:
 * neither KenLM nor SRILM checks that, and neither does kotoba.)
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import {
  arpaText,
  BackoffModel,
  BOS,
  buildModelJs,
  corpusFromText,
  countIds,
  EOS,
  estimate,
  neuralModelFile,
  orderFor,
  Random,
  resolveConfig,
  safetensorsBytes,
  sealBinaryModel,
  serializeModel,
  type ArchitectureOptions,
  type Corpus,
  type NeuralKind,
} from '../src/index.js';
import { loadModel, readCorpus, readWordList } from '../src/node/index.js';
import { concatBytes } from '../src/util/bytes.js';
import { checkModel, fuzzSuite, hugeIntegerAt, mutateJson, type Mutant, type Mutation } from './fuzz.js';
import { fixtures, LECTURE } from './helpers.js';

const quiet = { warn() {}, info() {} };
const SENTENCES = [...LECTURE, 'the cat sat on the mat', 'a dog sat on the cat', 'the dog ran'];
const TEXT = SENTENCES.join('\n') + '\n';
const utf8 = (s: string) => new TextEncoder().encode(s);
const json = (x: unknown) => utf8(JSON.stringify(x));

/** Loads any model file as the CLI does, warnings ignored. */
const loadQuietly = (path: string) => loadModel(path, () => {});

function arpaLines(counts: number[], sections: string[][]): Uint8Array {
  const head = ['\\data\\', ...counts.map((n, i) => `ngram ${i + 1}=${n}`), ''];
  const body = sections.flatMap((lines, i) => [`\\${i + 1}-grams:`, ...lines, '']);
  return utf8([...head, ...body, '\\end\\', ''].join('\n'));
}

/** A small ARPA file with one value (or line) put in: the cases. */
function arpaWith(unk: string, bigram = '-0.2\t<s> </s>'): Uint8Array {
  return arpaLines([3, 1], [[unk, '0\t<s>\t-0.5', '-0.3\t</s>'], [bigram]]);
}

const ARPA_CRAFTED = (dir: string): (Mutant & { path?: string })[] => {
  const cases: (Mutant & { path?: string })[] = [
    { how: 'header promises 99999999999 bigrams', bytes: arpaLines([3, 99999999999], [['-1\t<unk>', '0\t<s>', '-0.3\t</s>'], ['-0.2\t<s> </s>']]) },
    { how: 'order 256', bytes: utf8(`\\data\\\n${Array.from({ length: 256 }, (_, i) => `ngram ${i + 1}=0`).join('\n')}\n\n\\end\\\n`) },
    { how: 'a 1 MB line and no \\data\\', bytes: new Uint8Array(1 << 20).fill(0x61) },
    { how: 'only \\data\\', bytes: utf8('\\data\\\n') },
    { how: 'no unigrams, then \\end\\', bytes: utf8('\\data\\\nngram 1=0\n\n\\1-grams:\n\n\\end\\\n') },
    { how: 'a unigram listed twice', bytes: arpaLines([4, 1], [['-1\t<unk>', '0\t<s>', '-0.3\t</s>', '-0.4\t</s>'], ['-0.2\t<s> </s>']]) },
    { how: 'a bigram listed twice', bytes: arpaLines([3, 2], [['-1\t<unk>', '0\t<s>', '-0.3\t</s>'], ['-0.2\t<s> </s>', '-0.1\t<s> </s>']]) },
    { how: 'a trigram whose context is missing', bytes: arpaLines([3, 1, 1], [['-1\t<unk>\t-0.1', '-99\t<s>\t-0.5', '-0.3\t</s>\t-0.2'], ['-0.2\t<s> </s>\t-0.1'], ['-0.1\t</s> <s> </s>']]) },
    { how: 'invalid UTF-8 in a word', bytes: Uint8Array.from([...utf8('\\data\\\nngram 1=3\n\n\\1-grams:\n-1\t<unk>\n0\t<s>\n-0.3\t'), 0xff, 0x0a, ...utf8('\n\\end\\\n')]) },
    { how: 'control characters in the header', bytes: utf8('\\data\\\nngram 1=3\n\u001b[31m\n\n\\end\\\n') },
    { how: 'the lmplz <s> (log10 p = 0) and the SRILM one (-99)', bytes: arpaLines([3], [['-1\t<unk>', '-99\t<s>\t-0.5', '0\t</s>']]) },
  ];
  for (const v of ['inf', 'Infinity', '1e309', '0x10', '0.5', '+1e-3', 'nan', '-inf', '-1e309', '1e-400', '-0', '- 1', '1e', '.', '١']) cases.push({ how: `log10 p = ${v}`, bytes: arpaWith(`${v}\t<unk>`) });
  for (const v of ['inf', '-inf', 'nan', '1e39', '100', '99', '-1e39', '0x1']) cases.push({ how: `backoff = ${v}`, bytes: arpaWith(`-1\t<unk>\t${v}`) });
  const fifo = join(dir, 'pipe.arpa');
  if (spawnSync('mkfifo', [fifo]).status === 0) cases.push({ how: 'a named pipe', bytes: new Uint8Array(0), path: fifo });
  cases.push({ how: '/dev/zero', bytes: new Uint8Array(0), path: '/dev/zero' }, { how: 'a directory', bytes: new Uint8Array(0), path: dir });
  return cases;
};

async function arpaSeeds(): Promise<Uint8Array[]> {
  const corpus = corpusFromText(SENTENCES);
  return [
    utf8(await arpaText(estimate(corpus, { order: 3, log: quiet }))),
    utf8(await arpaText(estimate(corpus, { order: 2, smoothing: 'wb', log: quiet }))),
    readFileSync(join(fixtures, 'kenlm', 'tiny-ja', 'tiny_ja_o2.arpa')),
    readFileSync(join(fixtures, 'peers', 'srilm-hand.arpa')),
  ];
}

/** Mutates the text inside a gzipped file, then gzips it again: reaches the parser, not just gunzip. */
const insideGzip: Mutation = (b, m) => {
  const inner = m.mutate(gunzipSync(b));
  return { bytes: gzipSync(inner.bytes), how: `gzipped after: ${inner.how}` };
};

// ---- neural models --------------------------------------------------------------------------

const ARCHITECTURES: [NeuralKind, ArchitectureOptions][] = [
  ['loglinear', { order: 2 }],
  ['ffnn', { order: 3, embed: 4, hidden: 6, classes: 3, direct: true }],
  ['rnn', { hidden: 5, embed: 4, classes: 0 }],
  ['lstm', { hidden: 4, embed: 4, layers: 2, tied: true }],
  ['gru', { hidden: 4, embed: 4, layers: 2, dropout: 0.1 }],
  ['transformer', { embed: 4, hidden: 6, layers: 1, heads: 2, window: 6, positions: 'learned' }],
];

function neuralSeed(train: Corpus, kind: NeuralKind, arch: ArchitectureOptions): Uint8Array {
  const config = resolveConfig(kind, arch, train.vocab.size);
  const model = buildModelJs(config, train.vocab, orderFor(config, countIds(train.tokens, train.vocab.size)));
  model.initialize(new Random(7));
  new Random(8).fillUniform(model.params.values, -0.5, 0.5);
  const { tensors, metadata } = neuralModelFile(model);
  return safetensorsBytes(tensors, metadata);
}

/** The safetensors header as an object, and the bytes after it. */
function splitSafetensors(b: Uint8Array): { header: Record<string, unknown>; data: Uint8Array } {
  const n = Number(new DataView(b.buffer, b.byteOffset).getBigUint64(0, true));
  return { header: JSON.parse(new TextDecoder().decode(b.subarray(8, 8 + n))) as Record<string, unknown>, data: b.subarray(8 + n) };
}

function joinSafetensors(header: unknown, data: Uint8Array): Uint8Array {
  const text = utf8(JSON.stringify(header));
  const out = new Uint8Array(8 + text.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(text.length), true);
  out.set(text, 8);
  out.set(data, 8 + text.length);
  return out;
}

/** A valid safetensors model with its header (or a metadata JSON string in it) changed. */
function editHeader(seed: Uint8Array, edit: (header: Record<string, unknown>, metadata: Record<string, string>) => void): Uint8Array {
  const { header, data } = splitSafetensors(seed);
  edit(header, header.__metadata__ as Record<string, string>);
  return joinSafetensors(header, data);
}

function editConfig(seed: Uint8Array, edit: (config: Record<string, unknown>) => unknown): Uint8Array {
  return editHeader(seed, (_h, metadata) => {
    const config = JSON.parse(metadata.config!) as Record<string, unknown>;
    metadata.config = JSON.stringify(edit(config) ?? config);
  });
}

const headerJson: Mutation = (b, m) => {
  const { header, data } = splitSafetensors(b);
  const changed = mutateJson(header, m);
  return { bytes: joinSafetensors(changed.value, data), how: `header${changed.how}` };
};

/** One weight set to a non-finite, huge or tiny value (the data is all float32 but the I32 order). */
const tensorValue: Mutation = (b, m) => {
  const out = b.slice();
  const n = Number(new DataView(out.buffer).getBigUint64(0, true));
  const at = 8 + n + 4 * m.int((out.length - 8 - n) >> 2);
  const value = m.pick([NaN, Infinity, -Infinity, 3e38, -1e7, 1e-45, -0, 1e6]);
  new DataView(out.buffer).setFloat32(at, value, true);
  return { bytes: out, how: `float32 at ${at} = ${value}` };
};

function headerLength(b: Uint8Array, n: bigint): Uint8Array {
  const out = b.slice();
  new DataView(out.buffer).setBigUint64(0, n, true);
  return out;
}

function neuralCrafted(seeds: Uint8Array[]): Mutant[] {
  const [loglinear, ffnn, rnn, lstm] = seeds as [Uint8Array, Uint8Array, Uint8Array, Uint8Array];
  const cases: Mutant[] = [
    { how: 'config null', bytes: editConfig(rnn, () => null) },
    { how: 'config []', bytes: editConfig(rnn, () => []) },
    { how: 'rnn weights, lstm kind', bytes: editConfig(rnn, (c) => ({ ...c, kind: 'lstm' })) },
    { how: 'lstm weights, rnn kind', bytes: editConfig(lstm, (c) => ({ ...c, kind: 'rnn', layers: undefined, dropout: undefined, tied: undefined })) },
    { how: 'rnn weights, gru kind', bytes: editConfig(rnn, (c) => ({ ...c, kind: 'gru' })) },
    { how: 'heads 3 (width 4)', bytes: editConfig(seeds[5]!, (c) => ({ ...c, heads: 3 })) },
    { how: 'window 1e9', bytes: editConfig(seeds[5]!, (c) => ({ ...c, window: 1e9 })) },
    { how: 'hidden -1', bytes: editConfig(rnn, (c) => ({ ...c, hidden: -1 })) },
    { how: 'hidden 2.5', bytes: editConfig(rnn, (c) => ({ ...c, hidden: 2.5 })) },
    { how: 'hidden "5"', bytes: editConfig(rnn, (c) => ({ ...c, hidden: '5' })) },
    { how: 'hidden 6 (the tensors hold 5)', bytes: editConfig(rnn, (c) => ({ ...c, hidden: 6 })) },
    { how: 'layers 1e9', bytes: editConfig(lstm, (c) => ({ ...c, layers: 1e9 })) },
    { how: 'layers 3 (the tensors hold 2)', bytes: editConfig(lstm, (c) => ({ ...c, layers: 3 })) },
    { how: 'order 1e9', bytes: editConfig(ffnn, (c) => ({ ...c, order: 1e9 })) },
    { how: 'hashSize 1e15', bytes: editConfig(loglinear, (c) => ({ ...c, hashSize: 1e15 })) },
    { how: 'classes 1e9', bytes: editConfig(ffnn, (c) => ({ ...c, classes: 1e9 })) },
    { how: 'vocabSize -1', bytes: editConfig(rnn, (c) => ({ ...c, vocabSize: -1 })) },
    { how: 'vocabulary of another size', bytes: editHeader(rnn, (_h, md) => void (md.vocabulary = JSON.stringify(['<unk>', '<s>', '</s>']))) },
    { how: 'vocabulary with <s> first', bytes: editHeader(rnn, (_h, md) => { const w = JSON.parse(md.vocabulary!) as string[]; [w[0], w[1]] = [w[1]!, w[0]!]; md.vocabulary = JSON.stringify(w); }) },
    { how: 'vocabulary "null"', bytes: editHeader(rnn, (_h, md) => void (md.vocabulary = 'null')) },
    { how: 'metadata value not a string', bytes: editHeader(rnn, (h) => void ((h.__metadata__ as Record<string, unknown>).config = { kind: 'rnn' })) },
    { how: 'metadata an array', bytes: editHeader(rnn, (h) => void (h.__metadata__ = ['x'])) },
    { how: 'dtype F64', bytes: editHeader(rnn, (h) => void ((h.embedding as { dtype: string }).dtype = 'F64')) },
    { how: 'a shape of 1e9 × 1e9', bytes: editHeader(rnn, (h) => void ((h.embedding as { shape: number[] }).shape = [1e9, 1e9])) },
    { how: 'every tensor at the same offsets', bytes: editHeader(rnn, (h) => { const e = h.embedding as { data_offsets: number[]; shape: number[] }; for (const [k, v] of Object.entries(h)) if (k !== '__metadata__') Object.assign(v as object, { data_offsets: e.data_offsets, shape: e.shape, dtype: 'F32' }); }) },
    { how: 'header length 2^64 - 1', bytes: headerLength(rnn, 0xffffffffffffffffn) },
    { how: 'header length 0', bytes: headerLength(rnn, 0n) },
    { how: 'header length 2^32 + its own', bytes: headerLength(rnn, (1n << 32n) + BigInt(rnn.length - splitSafetensors(rnn).data.length - 8)) },
    { how: 'header not JSON, with newlines', bytes: (() => { const b = rnn.slice(); b.set(utf8('{\n\n"x'), 8); return b; })() },
  ];
  for (const [name, value] of [['NaN', NaN], ['inf', Infinity], ['3e38', 3e38]] as const) {
    const b = rnn.slice();
    const n = Number(new DataView(b.buffer).getBigUint64(0, true));
    new DataView(b.buffer).setFloat32(8 + n + 8, value, true); // the embedding is the first tensor
    cases.push({ how: `weight ${name}`, bytes: b });
  }
  return cases;
}

// ---- the formats ----------------------------------------------------------------------------

fuzzSuite(import.meta.url, {
  async arpa(dir) {
    writeFileSync(join(dir, 'test.txt'), TEXT);
    return {
      fileName: 'm.arpa',
      seeds: await arpaSeeds(),
      crafted: ARPA_CRAFTED(dir),
      load: loadQuietly,
      check: (lm) => checkModel(lm, false, SENTENCES),
      cli: (path) => ['ppl', path, join(dir, 'test.txt')],
    };
  },

  async 'arpa.gz'(dir) {
    writeFileSync(join(dir, 'test.txt'), TEXT);
    const plain = await arpaSeeds();
    const truncated = gzipSync(plain[0]!);
    return {
      fileName: 'm.arpa.gz',
      seeds: plain.map((b) => gzipSync(b)),
      mutations: [insideGzip],
      crafted: [
        { how: 'truncated gzip', bytes: truncated.subarray(0, truncated.length >> 1) },
        { how: 'gzip magic, then garbage', bytes: Uint8Array.from([0x1f, 0x8b, 8, 0, 1, 2, 3, 4, 5, 6, 7]) },
        { how: '16 MB of zeros, gzipped', bytes: gzipSync(new Uint8Array(1 << 24)) },
        { how: 'two gzip members', bytes: Uint8Array.from([...gzipSync(plain[0]!.subarray(0, 40)), ...gzipSync(plain[0]!.subarray(40))]) },
      ],
      load: loadQuietly,
      check: (lm) => checkModel(lm, false, SENTENCES),
      cli: (path) => ['ppl', path, join(dir, 'test.txt')],
    };
  },

  async kblm(dir) {
    writeFileSync(join(dir, 'test.txt'), TEXT);
    const tables = estimate(corpusFromText(SENTENCES), { order: 3, log: quiet });
    const probing = BackoffModel.fromTables(tables);
    const bytesOf = (m: BackoffModel) => concatBytes(serializeModel(m));
    // Resealed (checksum recomputed), so that the structural checks, not the checksum, meet the mutants.
    const resealed: Mutation = (b, m) => {
      const inner = m.mutate(b);
      if (inner.bytes.length >= 24) sealBinaryModel(inner.bytes);
      return { bytes: inner.bytes, how: `resealed after: ${inner.how}` };
    };
    return {
      fileName: 'm.kblm',
      seeds: [bytesOf(probing), bytesOf(probing.withFormat('trie')), bytesOf(probing.withFormat('trie', { probBits: 8, backoffBits: 8 }))],
      mutations: [resealed, resealed, resealed, hugeIntegerAt(12)],
      crafted: [],
      load: loadQuietly,
      check: (lm) => checkModel(lm, false, SENTENCES),
      cli: (path) => ['ppl', path, join(dir, 'test.txt')],
    };
  },

  async safetensors(dir) {
    writeFileSync(join(dir, 'test.txt'), TEXT);
    const train = corpusFromText(SENTENCES);
    const seeds = ARCHITECTURES.map(([kind, arch]) => neuralSeed(train, kind, arch));
    return {
      fileName: 'm.safetensors',
      seeds,
      mutations: [headerJson, headerJson, tensorValue, hugeIntegerAt(0)],
      crafted: neuralCrafted(seeds),
      load: loadQuietly,
      check: (lm) => checkModel(lm, true, SENTENCES),
      cli: (path) => ['ppl', path, join(dir, 'test.txt')],
    };
  },

  async mixture(dir) {
    // Components: two n-gram models with different vocabularies, a neural model, a mixture.
    writeFileSync(join(dir, 'test.txt'), TEXT);
    writeFileSync(join(dir, 'a.arpa'), await arpaText(estimate(corpusFromText(SENTENCES), { order: 3, log: quiet })));
    writeFileSync(join(dir, 'b.arpa'), await arpaText(estimate(corpusFromText(['the bird sang', 'a cat sang']), { order: 2, smoothing: 'wb', log: quiet })));
    writeFileSync(join(dir, 'n.safetensors'), neuralSeed(corpusFromText(SENTENCES), 'rnn', { hidden: 5, classes: 0 }));
    const mixture = (components: [string, number][]) => json({ format: 'kotoba-mixture', version: 1, components: components.map(([path, weight]) => ({ path, weight })) });
    writeFileSync(join(dir, 'sub.mix.json'), mixture([['b.arpa', 0.5], ['n.safetensors', 0.5]]));
    writeFileSync(join(dir, 'c1.mix.json'), mixture([['c2.mix.json', 1]]));
    writeFileSync(join(dir, 'c2.mix.json'), mixture([['a.arpa', 0.5], ['c1.mix.json', 0.5]]));
    // 20 levels, each naming the next twice: 2^20 loads if nothing is shared; deeper than allowed.
    for (let i = 0; i < 20; i++) writeFileSync(join(dir, `deep${i}.mix.json`), mixture([[i < 19 ? `deep${i + 1}.mix.json` : 'a.arpa', 0.5], [i < 19 ? `deep${i + 1}.mix.json` : 'b.arpa', 0.5]]));
    mkdirSync(join(dir, 'folder'));
    const crafted: Mutant[] = [
      { how: 'a cycle of two mixtures', bytes: mixture([['c1.mix.json', 1]]) },
      { how: 'names itself', bytes: mixture([['m.mix.json', 0.5], ['a.arpa', 0.5]]) },
      { how: '20 nested levels, each naming the next twice', bytes: mixture([['deep0.mix.json', 1]]) },
      { how: '8 nested levels (the limit)', bytes: mixture([['deep13.mix.json', 1]]) },
      { how: 'one model listed 20,000 times', bytes: mixture(Array.from({ length: 20_000 }, () => ['a.arpa', 1 / 20_000] as [string, number])) },
      { how: '/dev/zero', bytes: mixture([['/dev/zero', 1]]) },
      { how: 'a directory', bytes: mixture([['folder', 1]]) },
      { how: 'a corpus as a component', bytes: mixture([['test.txt', 1]]) },
      { how: 'an empty path', bytes: mixture([['', 1]]) },
      { how: 'a path with a newline', bytes: mixture([['a.arpa\n', 1]]) },
      { how: 'weights -1 and 2', bytes: mixture([['a.arpa', -1], ['b.arpa', 2]]) },
      { how: 'weight 1e999', bytes: utf8('{"format":"kotoba-mixture","version":1,"components":[{"path":"a.arpa","weight":1e999}]}') },
      { how: 'weights summing to 2', bytes: mixture([['a.arpa', 1], ['b.arpa', 1]]) },
      { how: 'version "1\\n2"', bytes: json({ format: 'kotoba-mixture', version: '1\n2', components: [] }) },
      { how: 'JSON broken over lines', bytes: utf8('{"format": "kotoba-mixture",\n\n"version": 1,\n x') },
      { how: '2 MB of spaces', bytes: utf8(`{"format": "kotoba-mixture"${' '.repeat(2 << 20)}}`) },
    ];
    if (spawnSync('mkfifo', [join(dir, 'pipe.arpa')]).status === 0) crafted.push({ how: 'a named pipe', bytes: mixture([['pipe.arpa', 1]]) });
    return {
      fileName: 'm.mix.json',
      seeds: [mixture([['a.arpa', 0.5], ['n.safetensors', 0.3], ['sub.mix.json', 0.2]]), mixture([['a.arpa', 0.4], ['b.arpa', 0.6]]), mixture([['sub.mix.json', 1]])],
      mutations: [
        (b, m) => {
          const changed = mutateJson(JSON.parse(new TextDecoder().decode(b)), m);
          return { bytes: utf8(JSON.stringify(changed.value, null, m.int(2) ? 2 : undefined) ?? ''), how: `json${changed.how}` };
        },
        // A new mixture of the files at hand, some named twice, with weights that (mostly) sum to 1.
        (_b, m) => {
          const names = ['a.arpa', 'b.arpa', 'n.safetensors', 'sub.mix.json', 'c1.mix.json', 'deep15.mix.json', 'deep0.mix.json', 'test.txt', 'folder', 'absent.arpa', 'm.mix.json'];
          const picked = Array.from({ length: 1 + m.int(4) }, () => m.pick(m.int(3) ? names.slice(0, 4) : names));
          const weights = picked.map(() => 1 + m.int(4));
          const sum = m.int(8) ? weights.reduce((a, w) => a + w, 0) : 1;
          return { bytes: mixture(picked.map((p, i) => [p, weights[i]! / sum])), how: `mixture of ${picked.join(', ')}` };
        },
      ],
      crafted,
      load: loadQuietly,
      check: (lm) => checkModel(lm, true, SENTENCES),
      cli: (path) => ['ppl', path, join(dir, 'test.txt')],
    };
  },

  async corpus(dir) {
    writeFileSync(join(dir, 'a.arpa'), await arpaText(estimate(corpusFromText(SENTENCES), { order: 3, log: quiet })));
    const check = (c: Corpus) => {
      const t = c.tokens;
      assert.equal(t[0] ?? BOS, BOS);
      let sentences = 0;
      for (let i = 0; i < t.length; i++) {
        assert.ok(t[i]! < c.vocab.size, 'ids inside the vocabulary');
        if (t[i] === BOS) sentences++;
        if (t[i] === EOS) assert.ok(i + 1 === t.length || t[i + 1] === BOS, '</s> then <s>');
      }
      assert.equal(sentences, c.sentences);
    };
    return {
      fileName: 'c.txt',
      seeds: [utf8(TEXT), utf8('\ufeffThe game\r\nwas released\r\n'), utf8('私は本を読むのが好きだ。\n1900年代は20世紀だ\n'), gzipSync(utf8(TEXT))],
      crafted: [
        { how: 'invalid UTF-8', bytes: Uint8Array.from([0x61, 0x0a, 0x62, 0xff, 0x0a]) },
        { how: 'a character cut at the end', bytes: Uint8Array.from([0x61, 0x20, 0xe7, 0xa7]) },
        { how: '<s> inside a sentence', bytes: utf8('a <s> b\n') },
        { how: 'NUL bytes', bytes: new Uint8Array(1000) },
        { how: 'a 1 MB line', bytes: new Uint8Array(1 << 20).fill(0x61) },
        { how: 'empty', bytes: new Uint8Array(0) },
        { how: 'truncated gzip', bytes: gzipSync(utf8(TEXT)).subarray(0, 20) },
      ],
      load: async (path) => {
        const plain = await readCorpus(path);
        check(plain);
        check(await readCorpus(path, { segment: 'auto', lowercase: true }));
        return plain;
      },
      cli: (path) => ['ppl', join(dir, 'a.arpa'), path],
    };
  },

  async vocabulary(dir) {
    writeFileSync(join(dir, 'train.txt'), TEXT);
    return {
      fileName: 'vocab.txt',
      seeds: [utf8('the\ncat\nsat\n'), utf8('the 12\ncat 3\n\ndog 1\n私 2\n'), utf8('<unk>\n<s>\n</s>\nthe\n')],
      crafted: [
        { how: 'invalid UTF-8', bytes: Uint8Array.from([0x61, 0x0a, 0xc3, 0x0a]) },
        { how: 'one word 20,000 times', bytes: utf8('the\n'.repeat(20_000)) },
        { how: 'empty', bytes: new Uint8Array(0) },
      ],
      load: async (path) => {
        const words = await readWordList(path);
        const corpus = await readCorpus(join(dir, 'train.txt'), { fixed: words });
        for (const w of words) assert.ok(corpus.vocab.has(w), `'${w}' is in the vocabulary`);
        assert.ok(corpus.vocab.size <= new Set(words).size + 3);
        return corpus;
      },
      cli: (path) => ['train', '--order', '2', '--vocab', path, '-o', join(dir, 'out.arpa'), join(dir, 'train.txt')],
    };
  },
});
