/**
 * Scoring text at scale: bytes straight to word ids (the same ids and errors as the string
 * path), batches on worker threads with output identical to one thread, JSON-lines documents
 * (fields added, filters, bad lines), and the same over async iterables in the library.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  BackoffModel,
  corpusFromText,
  CorpusBuilder,
  estimate,
  lineTokenizer,
  perplexityOfBatch,
  perplexityOfLines,
  scoreDocuments,
  scoreLines,
  splitWords,
} from '../src/index.js';
import { BATCH_BYTES, readLines } from '../src/node/index.js';
import { repoRoot, runCli, tempDir } from './helpers.js';

const quiet = { warn() {}, info() {} };
const model = BackoffModel.fromTables(estimate(corpusFromText(readFileSync(join(repoRoot, 'corpus', 'wiki.valid.txt'), 'utf8')), { order: 3, log: quiet }));

/** The ids CorpusBuilder gives a line (without <s>, with </s>), or its error message. */
function viaStrings(line: string, lowercase = false): number[] | string {
  const b = new CorpusBuilder({ vocab: model.vocab, source: 't.txt', ...(lowercase ? { lowercase } : {}) });
  try {
    b.addLine(line.endsWith('\r') ? line.slice(0, -1) : line);
  } catch (e) {
    return (e as Error).message.replace(/t\.txt(:\d+)?: /, '');
  }
  return Array.from(b.takeTokens().subarray(1));
}

function viaBytes(line: string | Uint8Array, lowercase = false): number[] | string {
  const t = lineTokenizer(model.vocab, lowercase ? { lowercase } : {}, 't.txt');
  const bytes = typeof line === 'string' ? new TextEncoder().encode(line) : line;
  try {
    return Array.from(t.ids.subarray(0, t.line(bytes, 0, bytes.length, 7)));
  } catch (e) {
    return (e as Error).message.replace(/t\.txt:7: /, '');
  }
}

test('bytes to ids: the ids and errors of decoding, splitting on spaces and tabs, and CorpusBuilder', () => {
  const lines = [
    'The game was released in Japan',
    '  spaces\tand\ttabs   around  ',
    'a CRLF line end\r',
    '',
    '<s> markers at both ends </s>',
    '<s>',
    '</s>',
    'unknown wordzzz and 日本語',
    'a <s> inside',
    'a </s> inside </s>',
    'U+3000\u3000is not a separator',
    '\ufeffThe byte-order mark of a line inside a file is a character',
  ];
  for (const line of lines) {
    assert.deepEqual(viaBytes(line), viaStrings(line), JSON.stringify(line));
    assert.deepEqual(viaBytes(line, true), viaStrings(line, true), `lowercase ${JSON.stringify(line)}`);
  }
  assert.match(String(viaBytes('a <s> inside')), /<s> inside a sentence/);
  assert.equal(viaBytes(Uint8Array.of(0x61, 0x20, 0xff, 0x62)), 'invalid UTF-8 (convert the file to UTF-8, e.g. with iconv)');
});

test('ppl in the WebAssembly kernel: the records and errors of tokenizing and scoring in TypeScript', () => {
  const tokenizer = lineTokenizer(model.vocab, {}, 't.txt');
  const viaTypeScript = (bytes: Uint8Array) => {
    const lm = { vocab: model.vocab, description: '', begin: () => model.begin(), score: (s: number, w: number) => model.score(s, w) };
    return perplexityOfBatch(lm, tokenizer, { bytes, firstLine: 5 });
  };
  const tricky = [
    'The game was released in Japan\n',
    'a CRLF\r\n\r\n  \r\nspace before CR \r\ntab\t\r\nCR\rinside\n',
    '<s> markers at both ends </s>\n<s>\n</s>\n\n',
    'unknown wordzzz and 日本語 and ü\n',
    '\t  leading and trailing  \t\n',
    'no final newline\r',
  ];
  assert.equal((model.search as unknown as { wasm: boolean }).wasm, true);
  for (const text of [...tricky, tricky.join('')]) {
    const bytes = new TextEncoder().encode(text);
    const fast = model.perplexityOfBytes(bytes, 5, 't.txt');
    assert.ok(fast, 'the kernel takes it');
    assert.deepEqual(fast, viaTypeScript(bytes), JSON.stringify(text));
  }
  for (const [text, message] of [
    ['fine\na <s> b\n', /t\.txt:6: <s> inside a sentence/],
    ['fine\nfine\na </s> b </s>\n', /t\.txt:7: <\/s> inside a sentence/],
    ['ok\nbad \xff byte\na <s> b\n', /t\.txt:6: invalid UTF-8/],
  ] as const) {
    const bytes = Uint8Array.from(text, (c) => c.charCodeAt(0));
    assert.throws(() => model.perplexityOfBytes(bytes, 5, 't.txt'), message);
    assert.throws(() => viaTypeScript(bytes), message);
  }
  // A line longer than the kernel takes: it declines, and the caller tokenizes.
  const long = new TextEncoder().encode(Array.from({ length: 40000 }, () => 'the').join(' ') + '\n');
  assert.equal(model.perplexityOfBytes(long, 1), null);
  assert.ok(perplexityOfBatch(model, tokenizer, { bytes: long, firstLine: 1 }).tokens === 40001);
});

test('ppl, score, score --words, rerank and score --jsonl: the same output on 1 and 3 threads', { timeout: 120_000 }, async () => {
  const { dir, cleanup } = tempDir();
  try {
    const kblm = join(dir, 'm.kblm');
    assert.equal((await runCli(['train', '--order', '3', '-o', kblm, join(repoRoot, 'corpus', 'wiki.valid.txt')])).code, 0);
    // A text of several batches, with a BOM, CRLF lines and no final newline.
    const lines = readFileSync(join(repoRoot, 'corpus', 'wiki.train.txt'), 'utf8').split('\n').slice(0, 6000);
    const text = '\ufeff' + lines.join('\n').replace(/\n(?=.)/g, (m, i: number) => (i % 7 === 0 ? '\r\n' : m));
    assert.ok(Buffer.byteLength(text) > 2 * BATCH_BYTES, 'several batches');
    const file = join(dir, 'text.txt');
    writeFileSync(file, text);
    const candidates = join(dir, 'cands.txt');
    writeFileSync(candidates, lines.map((l, i) => (i % 4 === 3 ? `${l}\n` : l)).join('\n') + '\n');
    const docs = join(dir, 'docs.jsonl');
    const jsonl: string[] = [];
    for (let i = 0; i < lines.length; i += 3) jsonl.push(JSON.stringify({ id: i, text: lines.slice(i, i + 3).join('\n') }));
    writeFileSync(docs, jsonl.join('\n') + '\n');
    for (const args of [
      ['ppl', '--json', kblm, file],
      ['score', kblm, file],
      ['score', '--words', kblm, file],
      ['rerank', kblm, candidates],
      ['score', '--jsonl', '--max-perplexity', '2000', kblm, docs],
    ]) {
      const one = await runCli([...args, '--threads', '1']);
      const three = await runCli([...args, '--threads', '3']);
      assert.equal(one.code, 0, one.stderr);
      assert.equal(three.code, 0, three.stderr);
      assert.ok(one.stdout.length > 0);
      assert.ok(one.stdout === three.stdout, `${args[0]} ${args[1]}: outputs differ`);
    }
    // And equal to the library over lines, on one thread.
    const ppl = JSON.parse((await runCli(['ppl', '--json', '--threads', '2', kblm, file])).stdout) as { perplexity: number; tokens: number };
    const acc = await perplexityOfLines(model, ['unused']);
    assert.ok(acc.tokens > 0);
    const lib = await perplexityOfLines(BackoffModel.fromTables(estimate(corpusFromText(readFileSync(join(repoRoot, 'corpus', 'wiki.valid.txt'), 'utf8')), { order: 3, log: quiet })), readLines(file));
    assert.equal(lib.tokens, ppl.tokens);
    assert.equal(lib.perplexity, ppl.perplexity);
    // A bad line in a later batch: the lines before it are written, then one error line.
    const bad = join(dir, 'bad.txt');
    writeFileSync(bad, text + '\nok then\na <s> b\nnever scored\n');
    const n = text.split('\n').length + 2;
    for (const threads of ['1', '3']) {
      const r = await runCli(['score', '--threads', threads, kblm, bad]);
      assert.equal(r.code, 1);
      assert.equal(r.stderr.trim(), `kotoba: ${bad}:${n}: <s> inside a sentence (<s> may only open a line and </s> only close it; remove or rename it)`);
      assert.equal(r.stdout.split('\n').length - 1, n - 1);
    }
  } finally {
    cleanup();
  }
});

test('score --jsonl: each document written back with its scores added, filtered by perplexity, bad lines named or skipped', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const kblm = join(dir, 'm.kblm');
    assert.equal((await runCli(['train', '--order', '3', '-o', kblm, join(repoRoot, 'corpus', 'wiki.valid.txt')])).code, 0);
    const docs = [
      '{"id":1,"text":"The game was released in Japan .\\nIt sold well ."}',
      '{"id":2, "body":"x", "text":"released Japan game The in was"}',
      '',
      '  { "id" : 3 , "text" : "" }  ',
      '{"id":4,"text":"The game","tokens":"mine"}',
    ];
    const file = join(dir, 'docs.jsonl');
    writeFileSync(file, docs.join('\n') + '\n');
    const r = await runCli(['score', '--jsonl', kblm, file]);
    assert.equal(r.code, 0, r.stderr);
    const out = r.stdout.trim().split('\n');
    assert.equal(out.length, 4, 'blank lines skipped, order kept');
    // The input as it was, with the four fields added before the closing brace.
    assert.match(out[0]!, /^\{"id":1,"text":"The game was released in Japan \.\\nIt sold well \.","perplexity":[\d.]+,"log10_total":-[\d.]+,"tokens":13,"oov":\d+\}$/);
    assert.match(out[1]!, /^\{"id":2, "body":"x", "text":"released Japan game The in was","perplexity":/);
    assert.match(out[2]!, /^\{ "id" : 3 , "text" : "","perplexity":[\d.]+,"log10_total":-[\d.]+,"tokens":1,"oov":0\}$/);
    // A document that has a field of the same name gets it replaced.
    const four = JSON.parse(out[3]!) as Record<string, unknown>;
    assert.equal(four.tokens, 3);
    const scored = out.map((l) => JSON.parse(l) as { id: number; perplexity: number; log10_total: number; tokens: number });
    // The scores are ppl's on the same text.
    const first = JSON.parse((await runCli(['ppl', '--json', kblm, '-'], { input: 'The game was released in Japan .\nIt sold well .\n' })).stdout) as { perplexity: number; log10_total: number };
    assert.equal(scored[0]!.perplexity, first.perplexity);
    assert.equal(scored[0]!.log10_total, first.log10_total);
    // Filters.
    const fluent = scored[0]!.perplexity;
    const jumbled = scored[1]!.perplexity;
    assert.ok(jumbled > fluent);
    const kept = await runCli(['score', '--jsonl', '--max-perplexity', String((fluent + jumbled) / 2), kblm, file]);
    assert.ok(kept.stdout.includes('"id":1') && !kept.stdout.includes('"id":2'));
    const high = await runCli(['score', '--jsonl', '--min-perplexity', String((fluent + jumbled) / 2), kblm, file]);
    assert.ok(!high.stdout.includes('"id":1') && high.stdout.includes('"id":2'));
    // --field.
    const body = await runCli(['score', '--jsonl', '--field', 'body', kblm, '-'], { input: '{"body":"The game"}\n' });
    assert.match(body.stdout, /"tokens":3/);
    // Bad lines: an error naming the line (after the lines before it), or skipped and counted.
    const badFile = join(dir, 'bad.jsonl');
    writeFileSync(badFile, [docs[0], 'not json', '[1,2]', '{"id":9}', '{"text":7}', docs[1]].join('\n') + '\n');
    const stop = await runCli(['score', '--jsonl', kblm, badFile]);
    assert.equal(stop.code, 1);
    assert.equal(stop.stderr.trim(), `kotoba: ${badFile}:2: not valid JSON (give one JSON object per line, or --skip-bad to skip such lines)`);
    assert.equal(stop.stdout.trim().split('\n').length, 1);
    const skip = await runCli(['score', '--jsonl', '--skip-bad', kblm, badFile]);
    assert.equal(skip.code, 0);
    assert.equal(skip.stdout.trim().split('\n').length, 2);
    assert.equal(skip.stderr.trim(), `kotoba: warning: skipped 4 bad lines (the first: ${badFile}:2: not valid JSON (give one JSON object per line, or --skip-bad to skip such lines))`);
    for (const [input, message] of [
      ['[1,2]\n', /:1: not a JSON object/],
      ['{"id":9}\n', /:1: no "text" field/],
      ['{"text":7}\n', /:1: the "text" field is not a string/],
    ] as const) {
      const e = await runCli(['score', '--jsonl', kblm, '-'], { input });
      assert.equal(e.code, 1);
      assert.match(e.stderr, message);
    }
    // Options that need --jsonl, and bad bounds.
    assert.match((await runCli(['score', '--max-perplexity', '10', kblm, file])).stderr, /--max-perplexity is for JSON lines \(add --jsonl\)/);
    assert.match((await runCli(['score', '--jsonl', '--max-perplexity', '0', kblm, file])).stderr, /--max-perplexity must be P ≥ 1, not 0/);
    assert.match((await runCli(['score', '--jsonl', '--words', kblm, file])).stderr, /--words does not go with --jsonl/);
  } finally {
    cleanup();
  }
});

test('the library over iterables: scoreDocuments, scoreLines and perplexityOfLines agree with scoring sentence by sentence', async () => {
  const docs = [
    { id: 'a', text: 'The game was released\nin Japan' },
    { id: 'b', text: 'zzz qqq' },
  ];
  async function* stream() {
    yield* docs;
  }
  const out = [];
  for await (const d of scoreDocuments(model, stream())) out.push(d);
  assert.deepEqual(out.map((d) => d.id), ['a', 'b']);
  assert.equal(out[0]!.tokens, 8);
  assert.equal(out[1]!.oov, 2);
  const lower = out[0]!.perplexity < out[1]!.perplexity ? 'a' : 'b';
  const kept = [];
  for await (const d of scoreDocuments(model, docs, { maxPerplexity: Math.min(out[0]!.perplexity, out[1]!.perplexity) })) kept.push(d.id);
  assert.deepEqual(kept, [lower]);
  const lines = ['The game was released', 'in Japan'];
  const perLine = [];
  for await (const s of scoreLines(model, lines)) perLine.push(s);
  const acc = await perplexityOfLines(model, lines);
  assert.equal(acc.tokens, perLine[0]!.tokens + perLine[1]!.tokens);
  assert.equal(acc.log10Sum, perLine[0]!.log10_total + perLine[1]!.log10_total);
  assert.equal(acc.log10Sum, out[0]!.log10_total);
  // The same as scoring the ids by hand.
  const ids = Uint32Array.from([...splitWords(lines[0]!).map((w) => model.vocab.id(w)), 2]);
  const log10 = new Float64Array(ids.length);
  assert.equal(model.scoreSentence(ids, log10), perLine[0]!.log10_total);
  await assert.rejects(async () => {
    for await (const d of scoreDocuments(model, [{ body: 'x' }])) void d;
  }, /1: no "text" field/);
});
