import { basename } from 'node:path';
import { parseOrders, sweepHtml, sweepOrders, type SweepReport } from '../ngram/sweep.js';
import { KotobaError } from '../errors.js';
import { SMOOTHING_NAMES, type SmoothingName } from '../ngram/smoothing.js';
import { readCorpus } from '../node/corpus-files.js';
import { writeFileAtomic } from '../node/io.js';
import { commonOptions, lineOptions, lineOptionsOf, textOptions, textOptionsOf, toJson, vocabularyOptions, vocabularyOptionsOf, type Command } from './common.js';

/** The JSON file beside the HTML report: report.html → report.json. */
function jsonPathFor(html: string): string {
  return html.endsWith('.html') ? `${html.slice(0, -5)}.json` : html.endsWith('.htm') ? `${html.slice(0, -4)}.json` : `${html}.json`;
}

export const sweep: Command = {
  name: 'sweep',
  summary: 'the N trade-off: perplexity, size, training time and query speed per order, as an HTML report with charts',
  usage: 'kotoba sweep [--orders 1-6] [--smoothing mkn,wb,…] TRAIN TEST -o report.html',
  positionals: { names: ['TRAIN', 'TEST'], required: 2 },
  examples: [
    'kotoba sweep --orders 1-5 corpus/wiki.train.txt corpus/wiki.test.txt -o sweep.html',
    'kotoba sweep --orders 1-6 --smoothing mkn,wb train.txt test.txt -o report.html',
  ],
  options: {
    output: { type: 'string', short: 'o', value: 'FILE', description: 'the HTML report; the numbers go to the .json file beside it' },
    orders: { type: 'string', value: 'LIST', description: 'orders to train: a range and/or list, e.g. 1-6 or 1,2,3,5 (default 1-5)' },
    smoothing: { type: 'string', short: 's', value: 'NAMES', description: `comma-separated smoothers among ${SMOOTHING_NAMES.join(', ')} (default mkn)` },
    'min-seconds': { type: 'number', value: 'S', min: 0, description: 'timing budget per measurement: repeat quick estimations (keeping the fastest) and query passes for S seconds (default 0.5)' },
    ...vocabularyOptions,
    ...textOptions,
    ...lineOptions,
    ...commonOptions,
  },
  files: ({ positionals: [train, test], options: o }) => ({
    inputs: [{ path: train, as: 'the training text' }, { path: test, as: 'the test text' }, { path: o.vocab, as: '--vocab' }],
    outputs: [{ path: o.output, as: '-o' }, { path: typeof o.output === 'string' ? jsonPathFor(o.output) : undefined, as: 'the JSON report' }],
  }),
  async run(parsed, io) {
    const o = parsed.options;
    const [trainPath, testPath] = parsed.positionals as [string, string];
    const output = typeof o.output === 'string' ? o.output : undefined;
    if (!output) throw new KotobaError('no report file given', 'pass -o report.html');
    const orders = parseOrders(typeof o.orders === 'string' ? o.orders : '1-5');
    const smoothings = (typeof o.smoothing === 'string' ? o.smoothing : 'mkn').split(',').map((s) => s.trim()).filter((s) => s !== '');
    for (const s of smoothings) {
      if (!(SMOOTHING_NAMES as readonly string[]).includes(s)) throw new KotobaError(`unknown smoothing '${s}'`, `use some of ${SMOOTHING_NAMES.join(', ')}, separated by commas`);
    }
    io.progress(`reading ${trainPath}`);
    const train = await readCorpus(trainPath, { ...textOptionsOf(o), ...lineOptionsOf(o), ...(await vocabularyOptionsOf(o)) });
    io.progress(`reading ${testPath}`);
    const test = await readCorpus(testPath, { ...textOptionsOf(o), ...lineOptionsOf(o), vocab: train.vocab });
    const entries = await sweepOrders(train, test, {
      orders,
      smoothings: smoothings as SmoothingName[],
      ...(typeof o['min-seconds'] === 'number' ? { minSeconds: o['min-seconds'] } : {}),
      log: { warn: io.log.warn, info: io.progress },
    });
    let oov = 0;
    for (let i = 0; i < test.tokens.length; i++) if (test.tokens[i] === 0) oov++;
    const report: SweepReport = {
      train: { name: basename(trainPath), sentences: train.sentences, words: train.words, vocabulary: train.vocab.size },
      test: { name: basename(testPath), sentences: test.sentences, words: test.words, tokens: test.words + test.sentences, oov },
      entries,
    };
    const jsonPath = jsonPathFor(output);
    await writeFileAtomic(output, sweepHtml(report));
    await writeFileAtomic(jsonPath, JSON.stringify(JSON.parse(toJson(report)), null, 2) + '\n');
    await io.wrote(output, `report of ${entries.length} models, with charts`);
    await io.wrote(jsonPath, `the report's numbers`);
    if (o.json) {
      await io.stdout(toJson({ report: output, json: jsonPath, ...report }) + '\n');
      return;
    }
    let out = 'order\tsmoothing\tperplexity\tppl_no_oov\tngrams\tbinary_MB\tarpa_MB\testimate_s\tbuild_s\ttokens_per_s\n';
    for (const e of entries) {
      out += `${e.order}\t${e.smoothing}\t${e.perplexity.toFixed(2)}\t${e.perplexity_excluding_oov.toFixed(2)}\t${e.ngrams_total}\t${(e.binary_bytes / 1e6).toFixed(2)}\t${(e.arpa_bytes / 1e6).toFixed(2)}\t${e.estimate_seconds.toFixed(2)}\t${e.build_seconds.toFixed(2)}\t${Math.round(e.query_tokens_per_second)}\n`;
    }
    await io.stdout(out);
  },
};
