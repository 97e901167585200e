/**
 * The N trade-off, measured: for each order (and smoother), train on one text, then measure on
 * another the perplexity (with and without OOVs), the model's size (n-grams, bytes of the binary
 * and of the ARPA file), the time to estimate and to build the query structure, and the query
 * speed. The lecture says a higher N is more accurate and much more costly; this says by how
 * much, on the user's own data. Browser-safe: the caller reads the files.
 */
import { KotobaError } from '../errors.js';
import { scoreTokens } from '../lm.js';
import { writeArpa } from './arpa.js';
import { serializeModel } from './binary.js';
import { estimate, silentLogger, type Logger } from './estimate.js';
import { BackoffModel } from './model.js';
import type { SmoothingName } from './smoothing.js';
import type { Corpus } from '../text/corpus.js';
import { EOS } from '../text/vocabulary.js';
import { escapeXml, formatNumber, htmlPage, htmlTable, lineChart, PALETTE, type Series } from '../util/report.js';

export interface SweepOptions {
  orders: readonly number[];
  /** Smoothers to compare (default `['mkn']`). */
  smoothings?: readonly SmoothingName[];
  /**
   * Timing budget per measurement (default 0.5 s): the query pass repeats until this much time
   * has passed; an estimation or build quicker than this repeats (at most 5 runs), the fastest kept.
   */
  minSeconds?: number;
  /** Progress and the estimator's warnings. */
  log?: Logger;
}

/** The measurements for one (order, smoother). Field names are the JSON report's. */
export interface SweepEntry {
  order: number;
  smoothing: string;
  /** Test perplexity, OOVs included (each OOV scored as `<unk>`). */
  perplexity: number;
  /** Test perplexity with the OOV tokens left out of the sum and the count (SRILM's figure). */
  perplexity_excluding_oov: number;
  /** Test tokens: words + one `</s>` per sentence. */
  tokens: number;
  oov: number;
  /** N-grams per order, unigrams first. */
  ngrams: number[];
  ngrams_total: number;
  /** Size of the kotoba binary file (`.kblm`): also about the memory the model takes. */
  binary_bytes: number;
  /** Size of the ARPA file. */
  arpa_bytes: number;
  /** Estimation: counting, discounts, probabilities, tables. */
  estimate_seconds: number;
  /** Building the query structure (hash table of n-grams) from the tables. */
  build_seconds: number;
  /** Test tokens scored per second (whole sentences through the model's fast path, one thread). */
  query_tokens_per_second: number;
}

export interface SweepReport {
  train: { name: string; sentences: number; words: number; vocabulary: number };
  test: { name: string; sentences: number; words: number; tokens: number; oov: number };
  entries: SweepEntry[];
}

/**
 * Parses an order list: `1-6`, `1,2,3`, `2-4,6`.
 *
 * @example
 * ```ts
 * // runs
 * import { parseOrders } from 'kotoba';
 * if (parseOrders('1-3,5').join() !== '1,2,3,5') throw new Error('ranges and lists');
 * ```
 */
export function parseOrders(text: string): number[] {
  const out = new Set<number>();
  for (const part of text.split(',')) {
    const m = /^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$/.exec(part);
    if (!m) throw new KotobaError(`'${part}' is not an order or a range of orders`, 'write e.g. --orders 1-6 or --orders 1,2,3,5');
    const a = Number(m[1]);
    const b = m[2] === undefined ? a : Number(m[2]);
    if (a < 1 || b < a || b > 255) throw new KotobaError(`'${part}' is not a range of orders between 1 and 255`, 'write e.g. --orders 1-6');
    for (let n = a; n <= b; n++) out.add(n);
  }
  return [...out].sort((x, y) => x - y);
}

const seconds = (t0: number) => (performance.now() - t0) / 1000;

/**
 * Runs `f` and times it; quick runs (under `budget` seconds in all) are repeated, up to 5 times,
 * and the fastest kept, so that a garbage-collection pause does not decide a small model's number.
 */
function fastest<T>(f: () => T, budget: number): [T, number] {
  let best = Infinity;
  let total = 0;
  let result: T;
  let runs = 0;
  do {
    const t0 = performance.now();
    result = f();
    const s = seconds(t0);
    best = Math.min(best, s);
    total += s;
    runs++;
  } while (total < budget && runs < 5);
  return [result, best];
}

/**
 * Trains and measures one model per (order, smoother). `test` must use `train`'s vocabulary
 * (build it with `{ vocab: train.vocab }`), so that unknown test words are `<unk>`.
 *
 * @example
 * ```ts
 * // runs
 * import { corpusFromText, sweepOrders } from 'kotoba';
 * const train = corpusFromText(['the cat sat', 'the dog sat', 'a cat ran']);
 * const test = corpusFromText(['the cat ran'], { vocab: train.vocab });
 * const entries = await sweepOrders(train, test, { orders: [1, 2, 3], minSeconds: 0.01 });
 * console.log(entries.map((e) => [e.order, e.perplexity, e.arpa_bytes]));
 * ```
 */
export async function sweepOrders(train: Corpus, test: Corpus, options: SweepOptions): Promise<SweepEntry[]> {
  const log = options.log ?? silentLogger;
  const smoothings = options.smoothings ?? ['mkn'];
  const budget = options.minSeconds ?? 0.5;
  const entries: SweepEntry[] = [];
  // Warm-up, untimed: the first estimation would otherwise also pay for compiling the code.
  {
    let end = 0;
    for (let s = 0; s < 500 && end < train.tokens.length; end++) if (train.tokens[end] === EOS) s++;
    const sample = { ...train, tokens: train.tokens.subarray(0, end) };
    for (const smoothing of smoothings) BackoffModel.fromTables(estimate(sample, { order: Math.max(...options.orders), smoothing, log: silentLogger }));
  }
  for (const smoothing of smoothings) {
    for (const order of options.orders) {
      log.info(`${order}-gram ${smoothing}: estimating`);
      // Estimation may run more than once (see fastest): say each warning once.
      const said = new Set<string>();
      const warnOnce = { warn: (m: string) => void (said.has(m) || (said.add(m), log.warn(`${order}-gram ${smoothing}: ${m}`))), info: () => {} };
      const [tables, estimateSeconds] = fastest(() => estimate(train, { order, smoothing, log: warnOnce }), budget);
      const [model, buildSeconds] = fastest(() => BackoffModel.fromTables(tables), budget);
      log.info(`${order}-gram ${smoothing}: measuring size and query speed`);
      let binaryBytes = 0;
      for (const chunk of serializeModel(model)) binaryBytes += chunk.length;
      let arpaBytes = 0;
      await writeArpa(tables, (chunk) => void (arpaBytes += chunk.length));
      // Query speed: whole passes over the test text until the budget has passed.
      let acc = scoreTokens(model, test.tokens); // also warms the code up
      let passes = 0;
      const t0 = performance.now();
      do {
        acc = scoreTokens(model, test.tokens);
        passes++;
      } while (seconds(t0) < budget);
      const querySeconds = seconds(t0);
      const ngrams = model.counts;
      entries.push({
        order,
        smoothing,
        perplexity: acc.perplexity,
        perplexity_excluding_oov: acc.perplexityExcludingOov,
        tokens: acc.tokens,
        oov: acc.oov,
        ngrams,
        ngrams_total: ngrams.reduce((a, b) => a + b, 0),
        binary_bytes: binaryBytes,
        arpa_bytes: arpaBytes,
        estimate_seconds: estimateSeconds,
        build_seconds: buildSeconds,
        query_tokens_per_second: (acc.tokens * passes) / querySeconds,
      });
      log.info(`${order}-gram ${smoothing}: perplexity ${acc.perplexity.toFixed(2)}, ${formatNumber(arpaBytes)} bytes of ARPA`);
    }
  }
  return entries;
}

/** Series of one field per smoother, one colour per smoother (a variant of a field dashed). */
function bySmoother(entries: readonly SweepEntry[], pick: (e: SweepEntry) => number, label = (s: string) => s, dashed = false): Series[] {
  const names = [...new Set(entries.map((e) => e.smoothing))];
  return names.map((s, i) => ({
    name: label(s),
    points: entries.filter((e) => e.smoothing === s).map((e) => [e.order, pick(e)] as const),
    dashed,
    color: PALETTE[i % PALETTE.length]!,
  }));
}

/** Drops series whose points equal an earlier one's (sizes do not depend on the smoother). */
function distinct(series: Series[], rename: (s: Series) => string): Series[] {
  const out: Series[] = [];
  for (const s of series) {
    const same = out.find((o) => JSON.stringify(o.points) === JSON.stringify(s.points));
    if (!same) out.push(s);
  }
  return out.length === series.length ? series : out.map((s) => ({ ...s, name: rename(s) }));
}

/**
 * The report as one self-contained HTML page: a table of every number, and charts of
 * perplexity, size, time and query speed against the order.
 *
 * @example
 * ```ts
 * import { sweepHtml, type SweepEntry } from 'kotoba';
 * declare const entries: SweepEntry[];
 * const html = sweepHtml({
 *   train: { name: 'train.txt', sentences: 1000, words: 20000, vocabulary: 3000 },
 *   test: { name: 'test.txt', sentences: 100, words: 2000, tokens: 2100, oov: 40 },
 *   entries,
 * }); // write it to report.html
 * ```
 */
export function sweepHtml(report: SweepReport): string {
  const { train, test, entries } = report;
  const multi = new Set(entries.map((e) => e.smoothing)).size > 1;
  const ppl = [
    ...bySmoother(entries, (e) => e.perplexity, (s) => `${s}, OOVs included`),
    ...bySmoother(entries, (e) => e.perplexity_excluding_oov, (s) => `${s}, OOVs excluded`, true),
  ];
  const size = [
    ...distinct(bySmoother(entries, (e) => e.arpa_bytes / 1e6, (s) => `ARPA (${s})`), () => 'ARPA'),
    ...distinct(bySmoother(entries, (e) => e.binary_bytes / 1e6, (s) => `binary .kblm (${s})`, true), () => 'binary .kblm'),
  ];
  const time = [
    ...bySmoother(entries, (e) => e.estimate_seconds, (s) => `estimate (${s})`),
    ...bySmoother(entries, (e) => e.build_seconds, (s) => `build query structure (${s})`, true),
  ];
  const speed = bySmoother(entries, (e) => e.query_tokens_per_second / 1e3, (s) => (multi ? s : 'query'));
  const size2 = { width: 540, height: 380 };
  const charts = [
    lineChart({ title: 'Test perplexity vs order', xLabel: 'order N', yLabel: 'perplexity', series: ppl, ...size2 }),
    lineChart({ title: 'Model size vs order', xLabel: 'order N', yLabel: 'megabytes', series: size, logY: true, ...size2 }),
    lineChart({ title: 'Training time vs order', xLabel: 'order N', yLabel: 'seconds', series: time, logY: true, ...size2 }),
    lineChart({ title: 'Query speed vs order', xLabel: 'order N', yLabel: 'thousand tokens per second', series: speed, logY: true, ...size2 }),
  ];
  const rows = entries.map((e) => [
    String(e.order),
    e.smoothing,
    e.perplexity.toFixed(2),
    e.perplexity_excluding_oov.toFixed(2),
    e.ngrams_total.toLocaleString('en-US'),
    e.ngrams.map((n) => n.toLocaleString('en-US')).join(' '),
    (e.binary_bytes / 1e6).toFixed(2),
    (e.arpa_bytes / 1e6).toFixed(2),
    e.estimate_seconds.toFixed(3),
    e.build_seconds.toFixed(3),
    Math.round(e.query_tokens_per_second).toLocaleString('en-US'),
  ]);
  const table = htmlTable(
    ['N', 'smoothing', 'perplexity', 'ppl w/o OOV', 'n-grams', 'per order', 'binary MB', 'ARPA MB', 'estimate s', 'build s', 'tokens/s'],
    rows,
    [true, false, true, true, true, false, true, true, true, true, true],
  );
  const body =
    `<h1>The N trade-off: ${escapeXml(train.name)} → ${escapeXml(test.name)}</h1>\n` +
    `<p>Trained on <code>${escapeXml(train.name)}</code> (${train.sentences.toLocaleString('en-US')} sentences, ` +
    `${train.words.toLocaleString('en-US')} words, vocabulary ${train.vocabulary.toLocaleString('en-US')} with &lt;s&gt;, &lt;/s&gt;, &lt;unk&gt;); ` +
    `measured on <code>${escapeXml(test.name)}</code> (${test.sentences.toLocaleString('en-US')} sentences, ${test.words.toLocaleString('en-US')} words, ` +
    `${test.tokens.toLocaleString('en-US')} tokens with &lt;/s&gt;, ${test.oov.toLocaleString('en-US')} OOV).</p>\n` +
    `<div class="charts">${charts.join('\n')}</div>\n<h2>Numbers</h2>\n${table}\n` +
    `<p class="note">Perplexity = 10^(−Σ log10 p / N) over words and one &lt;/s&gt; per sentence (&lt;s&gt; is context only). ` +
    `"OOVs included" scores each unknown word as &lt;unk&gt; (KenLM's first figure); "w/o OOV" leaves them out of the sum and the count (SRILM's ppl). ` +
    `Times are wall-clock seconds on one thread; query speed counts test tokens scored per second, the model already in memory. ` +
    `The same numbers are in the JSON file next to this report.</p>\n`;
  return htmlPage(`N trade-off: ${train.name} → ${test.name}`, body);
}
