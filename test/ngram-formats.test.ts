/**
 * The query structures (probing, trie, quantized trie) and the binary format: exact round trips,
 * KenLM's quantized scores, KenLM's sizes, the state API, and hostile files (crafted and
 * mutated: each either a model whose scores are finite or −∞, or a one-line KotobaError, never a
 * hang or another exception).
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { gunzipSync, gzipSync } from 'node:zlib';
import {
  arpaText,
  BackoffModel,
  BINARY_VERSION,
  corpusFromText,
  deserializeModel,
  EOS,
  estimate,
  KotobaError,
  parseArpa,
  serializeModel,
  splitWords,
  type NgramTables,
} from '../src/index.js';
import { sealBinaryModel } from '../src/ngram/binary.js';
import { probingBases, probingCapacity } from '../src/ngram/probing.js';
import { modelBuffer } from '../src/ngram/wasm-memory.js';
import { loadNgramModel, readCorpus } from '../src/node/index.js';
import { fixtures, needShared, repoRoot, runCli, sharedPath, tempDir } from './helpers.js';
import { concatBytes } from '../src/util/bytes.js';

const quiet = { warn() {}, info() {} };


const bytesOf = (m: BackoffModel) => concatBytes(serializeModel(m));

/** Order-4 modified Kneser-Ney on the embedded corpus's validation text, and test sentences. */
let shared: { tables: NgramTables; model: BackoffModel; sentences: Uint32Array[] } | null = null;
async function wiki(): Promise<NonNullable<typeof shared>> {
  if (shared) return shared;
  const corpus = await readCorpus(join(repoRoot, 'corpus', 'wiki.valid.txt'));
  const tables = estimate(corpus, { order: 4, log: quiet });
  const model = BackoffModel.fromTables(tables);
  const lines = readFileSync(join(repoRoot, 'corpus', 'wiki.test.txt'), 'utf8').split('\n').slice(0, 400);
  const sentences = lines.map((l) => Uint32Array.from([...splitWords(l).map((w) => model.vocab.id(w)), EOS]));
  shared = { tables, model, sentences };
  return shared;
}

function scores(m: BackoffModel, sentences: Uint32Array[]): { log10: number[]; ngram: number[] } {
  const log10: number[] = [];
  const ngram: number[] = [];
  for (const s of sentences) {
    const l = new Float64Array(s.length);
    const g = new Uint8Array(s.length);
    m.scoreSentence(s, l, g);
    log10.push(...l);
    ngram.push(...g);
  }
  return { log10, ngram };
}

test('probing and trie: the same scores and n-gram lengths, and ARPA → structure → ARPA is the identity', async () => {
  const { tables, model, sentences } = await wiki();
  const trie = model.withFormat('trie');
  const reread = deserializeModel(bytesOf(trie), 'w.kblm');
  // Built here, the tables sit in WebAssembly memory and the kernel scores sentences; read from
  // plain bytes, the TypeScript loop does: the reference, and the same numbers.
  const plain = deserializeModel(bytesOf(model), 'p.kblm');
  assert.equal((model.search as unknown as { wasm: boolean }).wasm, true);
  assert.equal((plain.search as unknown as { wasm: boolean }).wasm, false);
  const expected = scores(model, sentences);
  assert.deepEqual(scores(trie, sentences), expected);
  assert.deepEqual(scores(reread, sentences), expected);
  assert.deepEqual(scores(plain, sentences), expected);
  // Written back in lmplz's order: the file the estimate wrote, byte for byte.
  const arpa = await arpaText(tables);
  assert.equal(await arpaText(model.toTables()), arpa);
  assert.equal(await arpaText(reread.toTables()), arpa);
  assert.deepEqual(model.counts, trie.counts);
  assert.equal(trie.format, 'trie');
});

test('the state API from any state agrees with the sentence fast path, in every structure', async () => {
  const { model, sentences } = await wiki();
  for (const m of [model, model.withFormat('trie'), model.withFormat('trie', { probBits: 8, backoffBits: 8 })]) {
    for (const s of sentences.slice(0, 100)) {
      const fast = new Float64Array(s.length);
      const ngram = new Uint8Array(s.length);
      m.scoreSentence(s, fast, ngram);
      let state = m.begin();
      for (let i = 0; i < s.length; i++) {
        const r = m.score(state, s[i]!);
        assert.equal(r.log10, fast[i], `${m.format} word ${i}`);
        assert.equal(r.ngram, ngram[i]);
        state = r.next;
      }
    }
  }
});

test('probing tables are KenLM-sized: 1.5 slots per n-gram, 16 bytes each below the highest order, 12 at it', async () => {
  const { model } = await wiki();
  const a = (model.search as unknown as { arrays: { records: Int32Array; unigramSlots: number; capacities: number[] } }).arrays;
  const counts = model.counts;
  let expected = 16 * a.unigramSlots;
  for (let k = 2; k <= model.order; k++) {
    assert.equal(a.capacities[k], probingCapacity(counts[k - 1]!));
    assert.equal(a.capacities[k], Math.ceil(1.5 * counts[k - 1]!) + 1);
    expected += (k === model.order ? 12 : 16) * a.capacities[k]!;
  }
  assert.equal(a.records.byteLength, expected);
  assert.equal(probingBases({ order: model.order, unigramSlots: a.unigramSlots, capacities: a.capacities }).at(-1)! * 4, expected);
  // The trie is smaller, and quantized smaller still.
  const p = bytesOf(model).length;
  const t = bytesOf(model.withFormat('trie')).length;
  const q = bytesOf(model.withFormat('trie', { probBits: 8, backoffBits: 8 })).length;
  assert.ok(t < 0.6 * p && q < 0.65 * t, `probing ${p}, trie ${t}, q8 ${q}`);
});

test('quantized trie: perplexity close to exact; more bits, closer', async () => {
  const { model, sentences } = await wiki();
  const perplexity = (m: BackoffModel) => {
    const { log10 } = scores(m, sentences);
    return Math.pow(10, -log10.reduce((a, b) => a + b, 0) / log10.length);
  };
  const exact = perplexity(model);
  const q8 = perplexity(model.withFormat('trie', { probBits: 8, backoffBits: 8 }));
  const q12 = perplexity(model.withFormat('trie', { probBits: 12, backoffBits: 12 }));
  // Equal-count bins of a small model (70k words); on Penn Treebank order 5 it is 0.06%, as
  // KenLM's (bench/results/ngram.md), and the test below pins KenLM's own numbers.
  assert.ok(Math.abs(q8 / exact - 1) < 5e-3, `q8 ${q8} vs ${exact}`);
  assert.ok(Math.abs(q12 / exact - 1) < Math.abs(q8 / exact - 1), `q12 ${q12} closer than q8 ${q8}`);
  assert.throws(() => model.withFormat('trie', { probBits: 1, backoffBits: 8 }), /cannot quantize to 1 bits/);
});

const wikiQ8Skip = needShared('fixtures', 'kenlm', 'wiki-en') || needShared('data', 'nlptutorial', 'data', 'wiki-en-test.word');

test('quantized trie (-q 8 -b 8): kotoba score --words equals KenLM query on its quantized trie', { skip: wikiQ8Skip }, async () => {
  const { dir, cleanup } = tempDir();
  try {
    const arpa = sharedPath('fixtures', 'kenlm', 'wiki-en', 'wiki-en.o5.arpa.gz');
    const kblm = join(dir, 'q8.kblm');
    const c = await runCli(['convert', '--format', 'trie', '--quantize', '8', '--quantize-backoff', '8', arpa, kblm]);
    assert.equal(c.code, 0, c.stderr);
    const testText = sharedPath('data', 'nlptutorial', 'data', 'wiki-en-test.word');
    const s = await runCli(['score', '--words', '--threads', '1', kblm, testText]);
    assert.equal(s.code, 0, s.stderr);
    // KenLM's trie numbers words its own way (word=id differs); everything else is equal.
    const expected = gunzipSync(readFileSync(join(fixtures, 'kenlm', 'wiki-en-q8', 'query.o5.q8b8.wiki-en-test.txt.gz'))).toString('utf8');
    const lines = expected.split('\n');
    const summaryAt = lines.findIndex((l) => l.startsWith('Perplexity including'));
    const noIds = (text: string) => text.replace(/=\d+ /g, '= ');
    assert.equal(noIds(s.stdout), noIds(lines.slice(0, summaryAt).join('\n') + '\n'));
    const j = JSON.parse((await runCli(['ppl', '--json', kblm, testText])).stdout) as { perplexity: number };
    const theirs = Number(/including OOVs:\s+(\S+)/.exec(lines.slice(summaryAt).join('\n'))![1]);
    assert.ok(Math.abs(j.perplexity / theirs - 1) < 1e-12, `${j.perplexity} vs ${theirs}`);
  } finally {
    cleanup();
  }
});

test('convert --format trie, info names the format and bytes per n-gram; bad format options are one line', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const arpa = join(dir, 'm.arpa');
    writeFileSync(arpa, await arpaText((await wiki()).tables));
    const trie = join(dir, 'm.kblm');
    assert.equal((await runCli(['convert', '--format', 'trie', '--quantize', '8', arpa, trie])).code, 0);
    const info = JSON.parse((await runCli(['info', '--json', trie])).stdout) as Record<string, unknown>;
    assert.equal(info.format, 'trie');
    assert.equal(info.quantization, '8-bit probabilities, 8-bit backoffs');
    assert.ok((info.bytes_per_ngram as number) > 1 && (info.bytes_per_ngram as number) < 8);
    const back = join(dir, 'back.arpa');
    assert.equal((await runCli(['convert', trie, back])).code, 0);
    assert.match(readFileSync(back, 'utf8'), /^\\data\\\nngram 1=/);
    for (const [args, pattern] of [
      [['convert', '--quantize', '8', arpa, join(dir, 'x.kblm')], /quantization is only for the trie format/],
      [['convert', '--format', 'hash', arpa, join(dir, 'x.kblm')], /unknown --format 'hash'/],
      [['convert', '--format', 'trie', '--quantize', '30', arpa, join(dir, 'x.kblm')], /--quantize must be an integer 2 ≤ Q ≤ 25, not 30/],
      [['convert', '--format', 'trie', arpa, join(dir, 'x.arpa')], /--format is for binary models/],
    ] as const) {
      const r = await runCli([...args]);
      assert.equal(r.code, 1);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.match(r.stderr, pattern);
    }
  } finally {
    cleanup();
  }
});

// ------------------------------------------------------------------------------------------
// Hostile files

/** A small model in each structure. */
function smallModels(): [string, BackoffModel][] {
  const tables = estimate(corpusFromText(['a b c d', 'a b d', 'b c a', 'c a b c', 'd d a']), { order: 3, smoothing: 'wb', log: quiet });
  const m = BackoffModel.fromTables(tables);
  return [
    ['probing', m],
    ['trie', m.withFormat('trie')],
    ['trie-q', m.withFormat('trie', { probBits: 4, backoffBits: 4 })],
  ];
}

/** The header of a binary model, and a copy of the file with an edited header (same length, sealed). */
function header(bytes: Uint8Array): Record<string, unknown> {
  const n = new DataView(bytes.buffer, bytes.byteOffset).getUint32(12, true);
  return JSON.parse(new TextDecoder().decode(bytes.subarray(24, 24 + n))) as Record<string, unknown>;
}
function withHeader(bytes: Uint8Array, edit: (h: Record<string, unknown>) => void): Uint8Array {
  const out = bytes.slice();
  const n = new DataView(out.buffer).getUint32(12, true);
  const h = header(out);
  // Room for edits that lengthen a number: the description goes.
  h.description = '';
  edit(h);
  const text = JSON.stringify(h);
  assert.ok(text.length <= n, 'the edited header fits');
  out.set(new TextEncoder().encode(text.padEnd(n, ' ')), 24);
  sealBinaryModel(out);
  return out;
}
/** The records of a probing file (a view into `bytes`). */
function records(bytes: Uint8Array): Int32Array {
  const s = (header(bytes).sections as { name: string; offset: number; bytes: number }[]).find((x) => x.name === 'records')!;
  return new Int32Array(bytes.buffer, bytes.byteOffset + s.offset, s.bytes / 4);
}

function assertOneLine(f: () => unknown, pattern: RegExp): void {
  assert.throws(f, (e: unknown) => {
    assert.ok(e instanceof KotobaError, `a KotobaError, not ${String(e)}`);
    assert.equal(e.message.split('\n').length, 1);
    assert.match(e.message, pattern);
    return true;
  });
}

test('crafted .kblm files (issue 10 item 3) are one-line errors: checksum over the header, no empty slot, self-links, capacity 0, order 0, wrong counts, ids out of range, NaN', () => {
  const [[, model]] = smallModels();
  const good = bytesOf(model);
  assert.doesNotThrow(() => deserializeModel(good, 'm.kblm'));
  const load = (b: Uint8Array) => () => deserializeModel(b, 'm.kblm');
  // The header is covered by the checksum: an edit that does not reseal is caught.
  const edited = good.slice();
  const at = new TextDecoder().decode(edited).indexOf('"order":3');
  edited[at + 8] = '2'.charCodeAt(0);
  assertOneLine(load(edited), /m\.kblm: the binary model is truncated or corrupt: the checksum does not match/);
  const base = probingBases({ ...(header(good) as never as { order: number; unigramSlots: number }), capacities: [0, 0, ...((header(good).capacities as number[]))] });
  const h = header(good) as { vocabSize: number; unigramSlots: number; capacities: number[] };
  const order2 = { from: 4 * h.unigramSlots, slots: h.capacities[0]! };
  // A table with no empty slot (main probed forever): every empty slot given a valid key.
  const full = good.slice();
  const r = records(full);
  let some = -1;
  for (let s = 0; s < order2.slots; s++) if (r[order2.from + 4 * s] !== 0) some = order2.from + 4 * s;
  for (let s = 0; s < order2.slots; s++) {
    const o = order2.from + 4 * s;
    if (r[o] === 0) {
      r[o] = r[some]!;
      r[o + 1] = 1; // <s> as a first word: no clash with the real key
    }
  }
  sealBinaryModel(full);
  assertOneLine(load(full), /the order-2 table has no empty slot/);
  // An n-gram whose suffix is itself (a cycle), or of its own order (3 is the highest: 3 fields).
  let slot3 = base[3]!;
  while (records(good)[slot3] === 0) slot3 += 3;
  let slot2 = base[2]!;
  while (records(good)[slot2] === 0) slot2 += 4;
  for (const [slot, target, k] of [
    [slot3, slot3, 3],
    [slot2, slot2, 2],
    [slot3, slot3 + 3, 3],
  ] as const) {
    const self = good.slice();
    records(self)[slot] = ~target;
    sealBinaryModel(self);
    assertOneLine(load(self), new RegExp(`an n-gram of order ${k} links to no n-gram`));
  }
  // Capacity 0, order 0 and −1, counts that disagree with the tables.
  assertOneLine(load(withHeader(good, (x) => ((x.capacities as number[])[0] = 0))), /capacity of order 2|size of the records/);
  assertOneLine(load(withHeader(good, (x) => (x.order = 0))), /its order is not from 1 to 255/);
  assertOneLine(load(withHeader(good, (x) => (x.order = -1))), /its order is not from 1 to 255/);
  assertOneLine(load(withHeader(good, (x) => ((x.counts as number[])[1] = (x.counts as number[])[1]! + 1))), /the order-2 count/);
  assertOneLine(load(withHeader(good, (x) => (x.counts = null))), /its n-gram counts/);
  assertOneLine(load(withHeader(good, (x) => ((x.sections as { bytes: number }[])[1]!.bytes = 99999999))), /runs past the end of the file/);
  // A word id outside the vocabulary; a NaN probability.
  const word = good.slice();
  records(word)[slot2 + 1] = h.vocabSize + 5;
  sealBinaryModel(word);
  assertOneLine(load(word), /links to no n-gram/);
  const nan = good.slice();
  new Float32Array(records(nan).buffer, records(nan).byteOffset)[slot3 + 2] = NaN;
  sealBinaryModel(nan);
  assertOneLine(load(nan), /a probability of order 3/);
  // Truncation, versions, magic.
  assertOneLine(load(good.subarray(0, good.length - 40)), /truncated or corrupt/);
  assertOneLine(load(good.subarray(0, 20)), /shorter than its header/);
  const newer = good.slice();
  new DataView(newer.buffer).setUint32(8, BINARY_VERSION + 1, true);
  assertOneLine(load(newer), new RegExp(`version ${BINARY_VERSION + 1} is newer than this kotoba reads`));
  const wrongMagic = good.slice();
  wrongMagic[0] = 0x41;
  assertOneLine(load(wrongMagic), /not a kotoba binary model \(wrong magic number\)/);
});

test('crafted trie files are one-line errors: child ranges that go back, unsorted words, wrong sizes', () => {
  const [, [, trie]] = smallModels();
  const good = bytesOf(trie);
  const load = (b: Uint8Array) => () => deserializeModel(b, 't.kblm');
  assert.doesNotThrow(load(good));
  const section = (b: Uint8Array, name: string) => {
    const s = (header(b).sections as { name: string; offset: number; bytes: number }[]).find((x) => x.name === name)!;
    return new Uint32Array(b.buffer, b.byteOffset + s.offset, s.bytes / 4);
  };
  const back = good.slice();
  const next = section(back, 'unigram.next');
  next[3] = next[next.length - 1]! + 1;
  sealBinaryModel(back);
  assertOneLine(load(back), /the unigrams’ children/);
  const swapped = good.slice();
  const bits = section(swapped, 'order.3');
  bits.fill(0xffffffff);
  sealBinaryModel(swapped);
  assertOneLine(load(swapped), /order 3|children/);
  assertOneLine(load(withHeader(good, (x) => ((x.entries as number[])[2] = 0))), /wrong size|counts/);
  const [, , [, quantized]] = smallModels();
  assertOneLine(load(withHeader(bytesOf(quantized), (x) => (x.quantization = { probBits: 1, backoffBits: 4 }))), /its quantization/);
});

test('the crafted version-1 file that made main probe forever is refused at once', { timeout: 20_000 }, async () => {
  const r = await runCli(['ppl', join(fixtures, 'binary', 'no-empty-slot.v1.kblm'), '-'], { input: 'a b\nb b a\n' });
  assert.equal(r.code, 1);
  assert.equal(r.stderr.trim().split('\n').length, 1);
  assert.match(r.stderr, /format version 1 is older than this kotoba reads \(version 2\) \(convert the model again from its ARPA file\)/);
});

/** xorshift32: the mutation test's own seeded generator. */
function random(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 4294967296;
  };
}

test('seeded mutants of every binary structure: a model whose scores are finite or −∞, or one KotobaError line', { timeout: 60_000 }, () => {
  const rand = random(20251203);
  const pick = (n: number) => Math.floor(rand() * n);
  const extremes = [0, -1, 0x7fffffff, -0x80000000, 1, 2, 3, 0x7fc00000 /* NaN */, 0xff800000 /* −∞ */, 0x7f800000 /* +∞ */];
  const text = [['a', 'b', 'c'], ['d', 'a'], [], ['b', 'b', 'b', 'c', 'd']];
  let valid = 0;
  let refused = 0;
  const started = Date.now();
  for (const [name, model] of smallModels()) {
    const good = bytesOf(model);
    for (let i = 0; i < 150; i++) {
      const b = good.slice();
      const words = new Int32Array(b.buffer, 0, b.length >>> 2);
      let mutant: Uint8Array = b;
      switch (pick(5)) {
        case 0: // bit flips
          for (let j = 1 + pick(3); j > 0; j--) b[pick(b.length)]! ^= 1 << pick(8);
          break;
        case 1: // a word set to an extreme value
          words[pick(words.length)] = extremes[pick(extremes.length)]!;
          break;
        case 2: // truncation
          mutant = b.subarray(0, pick(b.length));
          break;
        case 3: {
          // a span deleted or duplicated
          const from = pick(b.length);
          const to = Math.min(b.length, from + 1 + pick(64));
          mutant = rand() < 0.5 ? concatBytes([b.subarray(0, from), b.subarray(to)]) : concatBytes([b.subarray(0, to), b.subarray(from)]);
          break;
        }
        default: {
          // a number of the header replaced
          const n = new DataView(b.buffer).getUint32(12, true);
          const json = new TextDecoder().decode(b.subarray(24, 24 + n));
          const numbers = [...json.matchAll(/\d+/g)];
          const m = numbers[pick(numbers.length)]!;
          const replacement = String([0, 1, 2, 255, 256, 99999999, Number(m[0]) + 1][pick(7)]).slice(0, m[0].length).padStart(m[0].length, '0');
          const edited = json.slice(0, m.index) + replacement + json.slice(m.index! + m[0].length);
          b.set(new TextEncoder().encode(edited), 24);
        }
      }
      // Most mutants are resealed, so that the structural checks, not the checksum, meet them.
      if (mutant.length >= 24 && rand() < 0.8) sealBinaryModel(mutant);
      let loaded: BackoffModel;
      try {
        loaded = deserializeModel(mutant, `${name}-${i}.kblm`);
      } catch (e) {
        assert.ok(e instanceof KotobaError, `${name} mutant ${i}: ${String(e)}`);
        assert.equal(e.message.split('\n').length, 1);
        refused++;
        continue;
      }
      valid++;
      // The same file in WebAssembly memory: scored by the kernel, to the same numbers.
      const inWasm = modelBuffer(mutant.length, false);
      inWasm.set(mutant);
      const kernel = deserializeModel(inWasm, `${name}-${i}.kblm`);
      for (const words of text) {
        const ids = Uint32Array.from([...words.map((w) => loaded.vocab.id(w)), EOS]);
        const out = new Float64Array(ids.length);
        loaded.scoreSentence(ids, out);
        const fast = new Float64Array(ids.length);
        kernel.scoreSentence(ids, fast);
        assert.deepEqual(fast, out);
        let state = loaded.begin();
        for (let j = 0; j < ids.length; j++) {
          assert.ok(Number.isFinite(out[j]) || out[j] === -Infinity, `${name} mutant ${i}: ${out[j]}`);
          const r = loaded.score(state, ids[j]!);
          assert.equal(r.log10, out[j]);
          state = r.next;
        }
      }
    }
  }
  assert.ok(valid > 10 && refused > 100, `valid ${valid}, refused ${refused}`);
  assert.ok(Date.now() - started < 30_000);
});

// ------------------------------------------------------------------------------------------
// ARPA streaming

test('an ARPA file streams into the probing tables: the model of the parsed tables, gzipped too; blanks that overflow a table are retried', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const { tables, model, sentences } = await wiki();
    const arpa = join(dir, 'm.arpa');
    const text = await arpaText(tables);
    writeFileSync(arpa, text);
    const streamed = await loadNgramModel(arpa);
    assert.deepEqual(scores(streamed, sentences), scores(model, sentences));
    assert.equal(await arpaText(streamed.toTables()), text);
    writeFileSync(`${arpa}.gz`, gzipSync(text));
    assert.deepEqual(scores(await loadNgramModel(`${arpa}.gz`), sentences), scores(model, sentences));
    // Only trigrams listed: every bigram is a blank, and the bigram table is built again bigger.
    const only3 = ['\\data\\', 'ngram 1=4', 'ngram 2=0', 'ngram 3=3', '', '\\1-grams:', '-1\t<unk>', '-1\t<s>\t-0.5', '-1\t</s>', '-0.5\ta\t-0.2', '', '\\2-grams:', '', '\\3-grams:', '-0.1\t<s> a a', '-0.2\ta a a', '-0.3\ta a </s>', '', '\\end\\', ''].join('\n');
    const path3 = join(dir, 'only3.arpa');
    writeFileSync(path3, only3);
    const m3 = await loadNgramModel(path3);
    const fromTables = BackoffModel.fromTables(parseArpa(only3));
    const a = m3.vocab.id('a');
    const ids = [Uint32Array.of(a, a, a, EOS)];
    assert.deepEqual(scores(m3, ids), scores(fromTables, ids));
    // <s> a is a blank: it reports the unigram that really matched.
    assert.deepEqual(scores(m3, ids).ngram, [1, 3, 3, 3]);
  } finally {
    cleanup();
  }
});
