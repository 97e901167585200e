/**
 * The N trade-off report: the numbers (one entry per order, perplexity falling from 1 to 3 on
 * the embedded corpus), the HTML (self-contained, well-formed SVG), the JSON, `kotoba sweep`.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { BackoffModel, corpusFromText, escapeXml, estimate, lineChart, parseOrders, scoreTokens, sweepHtml, sweepOrders, type SweepEntry } from '../src/index.js';
import { corpusLines } from './apps-helpers.js';
import { runCli, tempDir } from './helpers.js';

/**
 * Checks that `xml` is one well-formed element: every tag closed in order, attributes quoted,
 * no stray `<` or `&`. Returns the element names seen. (No XML parser ships with Node.)
 */
function checkWellFormed(xml: string): string[] {
  const names: string[] = [];
  const stack: string[] = [];
  const token = /<(\/?)([A-Za-z][\w:-]*)((?:\s+[\w:-]+="[^"<&]*(?:&(?:amp|lt|gt|quot|#\d+);[^"<&]*)*")*)\s*(\/?)>|([^<]+)/gy;
  let at = 0;
  while (at < xml.length) {
    token.lastIndex = at;
    const m = token.exec(xml);
    if (!m) throw new Error(`not well-formed at ${at}: ${JSON.stringify(xml.slice(at, at + 60))}`);
    if (m[5] !== undefined) {
      if (/&(?!(amp|lt|gt|quot|#\d+);)/.test(m[5])) throw new Error(`bare & in text: ${m[5].slice(0, 40)}`);
      if (stack.length === 0 && m[5].trim() !== '') throw new Error('text outside the root element');
    } else if (m[1] === '/') {
      const open = stack.pop();
      if (open !== m[2]) throw new Error(`</${m[2]}> closes <${open}>`);
    } else {
      names.push(m[2]!);
      if (stack.length === 0 && names.length > 1) throw new Error('more than one root element');
      if (m[4] !== '/') stack.push(m[2]!);
    }
    at = token.lastIndex;
  }
  if (stack.length > 0) throw new Error(`unclosed <${stack.join('> <')}>`);
  return names;
}

test('the well-formedness check itself rejects broken markup', () => {
  assert.deepEqual(checkWellFormed('<svg a="1"><g><text>x &amp; y</text></g><line x="2"/></svg>'), ['svg', 'g', 'text', 'line']);
  for (const bad of ['<svg><g></svg>', '<svg a=1></svg>', '<svg>a & b</svg>', '<svg></svg><svg></svg>', '<svg><text>1 < 2</text></svg>']) {
    assert.throws(() => checkWellFormed(bad), Error, bad);
  }
});

test('lineChart: a well-formed SVG with a line and a marker per point, text escaped, log scale', () => {
  const svg = lineChart({
    title: 'Loss <per epoch> & "validation"',
    xLabel: 'epoch',
    yLabel: 'loss',
    series: [
      { name: 'train', points: [[1, 5.2], [2, 4.1], [3, 3.9]] },
      { name: 'valid', points: [[1, 5.5], [2, 4.6], [3, NaN]], dashed: true },
    ],
  });
  const names = checkWellFormed(svg);
  assert.equal(names[0], 'svg');
  assert.equal(names.filter((n) => n === 'polyline').length, 2);
  assert.equal(names.filter((n) => n === 'circle').length, 5); // the NaN point is skipped
  assert.ok(svg.includes(escapeXml('Loss <per epoch> & "validation"')));
  assert.match(svg, /stroke-dasharray/);
  const log = lineChart({ title: 't', xLabel: 'x', yLabel: 'bytes', logY: true, series: [{ name: 's', points: [[1, 1e3], [2, 1e5], [3, 0]] }] });
  checkWellFormed(log);
  assert.match(log, /log scale/);
  assert.equal((log.match(/<circle/g) ?? []).length, 2); // 0 cannot be drawn on a log axis
  checkWellFormed(lineChart({ title: 'empty', xLabel: 'x', yLabel: 'y', series: [] }));
});

test('parseOrders: ranges and lists', () => {
  assert.deepEqual(parseOrders('1-6'), [1, 2, 3, 4, 5, 6]);
  assert.deepEqual(parseOrders('5,1-3,2'), [1, 2, 3, 5]);
  for (const bad of ['0-2', '3-1', 'a', '1-', '']) assert.throws(() => parseOrders(bad), /order/);
});

test('sweep on the embedded corpus: one entry per order, perplexity falling from 1 to 3, sizes growing', async () => {
  const train = corpusFromText(corpusLines('train'));
  const valid = corpusFromText(corpusLines('valid'), { vocab: train.vocab });
  const entries = await sweepOrders(train, valid, { orders: [1, 2, 3], minSeconds: 0.02 });
  assert.deepEqual(
    entries.map((e) => e.order),
    [1, 2, 3],
  );
  for (let i = 1; i < 3; i++) {
    assert.ok(entries[i]!.perplexity < entries[i - 1]!.perplexity, `order ${i + 1}: ${entries[i]!.perplexity} vs ${entries[i - 1]!.perplexity}`);
    assert.ok(entries[i]!.ngrams_total > entries[i - 1]!.ngrams_total);
    assert.ok(entries[i]!.arpa_bytes > entries[i - 1]!.arpa_bytes);
    assert.ok(entries[i]!.binary_bytes > entries[i - 1]!.binary_bytes);
  }
  for (const e of entries) {
    assert.equal(e.ngrams.length, e.order);
    assert.equal(e.ngrams_total, e.ngrams.reduce((a, b) => a + b, 0));
    assert.equal(e.tokens, valid.words + valid.sentences);
    assert.ok(e.oov > 0 && Number.isFinite(e.perplexity_excluding_oov) && e.perplexity_excluding_oov !== e.perplexity);
    assert.ok(e.estimate_seconds > 0 && e.build_seconds > 0 && e.query_tokens_per_second > 0);
  }
  // The perplexity is the one `ppl` would report for the same model.
  const bigram = BackoffModel.fromTables(estimate(train, { order: 2 }));
  assert.equal(entries[1]!.perplexity, scoreTokens(bigram, valid.tokens).perplexity);

  const html = sweepHtml({
    train: { name: 'wiki.train.txt', sentences: train.sentences, words: train.words, vocabulary: train.vocab.size },
    test: { name: 'wiki.valid.txt', sentences: valid.sentences, words: valid.words, tokens: entries[0]!.tokens, oov: entries[0]!.oov },
    entries,
  });
  checkReport(html, entries);
});

/** A report is self-contained, its SVGs well-formed, and its table has every number. */
function checkReport(html: string, entries: SweepEntry[]): void {
  assert.match(html, /^<!DOCTYPE html>/);
  assert.ok(!/<script|<link|<img|@import|url\(|https?:\/\/(?!www\.w3\.org\/2000\/svg)/i.test(html), 'no scripts or external resources');
  const svgs = html.match(/<svg[\s\S]*?<\/svg>/g) ?? [];
  assert.equal(svgs.length, 4);
  for (const svg of svgs) {
    const names = checkWellFormed(svg);
    assert.ok(names.includes('polyline') || names.filter((n) => n === 'circle').length === 1);
  }
  assert.match(svgs[0]!, /Test perplexity vs order/);
  assert.match(svgs[1]!, /Model size vs order/);
  assert.match(svgs[2]!, /Training time vs order/);
  // The table has a row per entry, with the perplexity to 2 decimals.
  const rows = html.match(/<tbody>[\s\S]*<\/tbody>/)![0].match(/<tr>/g) ?? [];
  assert.equal(rows.length, entries.length);
  for (const e of entries) assert.ok(html.includes(`>${e.perplexity.toFixed(2)}<`), `perplexity ${e.perplexity}`);
}

test('kotoba sweep: HTML report and JSON beside it, one entry per (order, smoother)', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const train = join(dir, 'train.txt');
    const testFile = join(dir, 'test.txt');
    writeFileSync(train, corpusLines('train', 0, 3000).join('\n') + '\n');
    writeFileSync(testFile, corpusLines('test', 0, 400).join('\n') + '\n');
    const report = join(dir, 'report.html');
    const r = await runCli(['sweep', '--orders', '1-3', '--smoothing', 'mkn,wb', '--min-seconds', '0.02', train, testFile, '-o', report]);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(existsSync(report));
    const json = JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8')) as { entries: SweepEntry[]; train: { words: number }; test: { oov: number } };
    assert.deepEqual(
      json.entries.map((e) => `${e.smoothing}${e.order}`),
      ['mkn1', 'mkn2', 'mkn3', 'wb1', 'wb2', 'wb3'],
    );
    assert.equal(json.train.words, corpusFromText(corpusLines('train', 0, 3000)).words);
    for (const s of ['mkn', 'wb']) {
      const p = json.entries.filter((e) => e.smoothing === s).map((e) => e.perplexity);
      assert.ok(p[1]! < p[0]! && p[2]! < p[0]!, `${s}: ${p.join(' ')}`);
    }
    checkReport(readFileSync(report, 'utf8'), json.entries);
    // The text summary has a line per entry.
    assert.equal(r.stdout.trim().split('\n').length, 1 + 6);
    assert.match(r.stderr, /^wrote .*report\.html: report of 6 models, with charts, \d+\.\d kB\nwrote .*report\.json: /);
    const bad = await runCli(['sweep', '--orders', '1-3', '--smoothing', 'mkn,zz', train, testFile, '-o', report]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /unknown smoothing 'zz'/);
  } finally {
    cleanup();
  }
});
